package gotest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestLineWriter(t *testing.T) {
	var b bytes.Buffer
	w := &lineWriter{w: &b}
	w.endLine() // nothing written yet: no newline
	w.Write([]byte("--- PASS: TestX (0.00s)\nPASS"))
	w.endLine()
	w.Write([]byte("ok\n"))
	w.endLine()
	if got := b.String(); got != "--- PASS: TestX (0.00s)\nPASS\nok\n" {
		t.Fatalf("got %q", got)
	}
}

func TestTestdataFiles(t *testing.T) {
	pkg := t.TempDir()
	for _, f := range []string{"testdata/lab/ipvsadm-Ln.txt", "testdata/a.json", "other/skip.txt"} {
		p := filepath.Join(pkg, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := testdataFiles(pkg, "/src/framework/dataplane")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Path)
	}
	want := []string{"/src/framework/dataplane/testdata/a.json", "/src/framework/dataplane/testdata/lab/ipvsadm-Ln.txt"}
	if !slices.Equal(got, want) {
		t.Fatalf("testdataFiles = %v; expected %v", got, want)
	}
	none, err := testdataFiles(t.TempDir(), "/src/x")
	if err != nil || len(none) != 0 {
		t.Fatalf("package without testdata: %v, %v", none, err)
	}
}

// TestBuildSuite builds this repository's hack/lab/kernellab tests for the guest: the binary
// under /lab/tests, one command running its lab tests in the package's folder under /src with
// its testdata, a test timeout that leaves the binary time to report; hack/lab/internal/cpio,
// named but without lab tests, is skipped. Finish after a failure keeps the run directory
// without the binary.
func TestBuildSuite(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // the run directory, and the sweep of stale ones
	root := filepath.Join("..", "..", "..")
	const kernellabPkg = "github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	s, err := BuildSuite(t.Context(), root, BuildOptions{
		Patterns: []string{"./hack/lab/kernellab", "./hack/lab/internal/cpio"}, Timeout: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"github.com/ipvs-e2e/ipvs-e2e/hack/lab/internal/cpio"}; !slices.Equal(s.Skipped, want) {
		t.Errorf("Skipped = %v; expected %v", s.Skipped, want)
	}
	if len(s.cmds) != 1 {
		t.Fatalf("commands = %+v; expected one, for hack/lab/kernellab", s.cmds)
	}
	bin := "/lab/tests/" + BinaryName(kernellabPkg)
	c := s.cmds[0]
	pkgs, err := Find(t.Context(), root, []string{"./hack/lab/kernellab"})
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := []string{bin, "-test.v", "-test.count=1", "-test.run", pkgs[0].RunPattern(), "-test.timeout", "9m30s"}
	if c.Name != kernellabPkg || c.Dir != "/src/hack/lab/kernellab" || !slices.Equal(c.Args, wantArgs) {
		t.Errorf("command = %+v; expected %s in /src/hack/lab/kernellab running %v", c, kernellabPkg, wantArgs)
	}
	var host string
	var guest []string
	for _, f := range s.files {
		guest = append(guest, f.Path)
		if f.Path == bin {
			host = f.Source
			if f.Mode != 0o755 {
				t.Errorf("test binary mode = %v; expected 0755", f.Mode)
			}
		}
	}
	if want := []string{bin, "/src/hack/lab/kernellab/testdata/results-sample.log"}; !slices.Equal(guest, want) {
		t.Errorf("guest files = %v; expected %v", guest, want)
	}
	if _, err := os.Stat(host); err != nil {
		t.Fatalf("test binary: %v", err)
	}

	// Nothing to run: an error, before any guest.
	empty, err := BuildSuite(t.Context(), root, BuildOptions{Patterns: []string{"./hack/lab/internal/cpio"}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := empty.Run(t.Context(), nil, RunOptions{}, &bytes.Buffer{}, &bytes.Buffer{})
	wanterr.Check(t, err, "no package among ./hack/lab/internal/cpio has lab tests")
	if rep != nil {
		t.Errorf("Run of an empty suite = %+v; expected no report", rep)
	}
	empty.Finish(false)
	if _, err := os.Stat(empty.run.Path); !os.IsNotExist(err) {
		t.Errorf("run directory after a passing Finish: %v; expected it removed", err)
	}

	s.Finish(true)
	if _, err := os.Stat(host); !os.IsNotExist(err) {
		t.Errorf("test binary after a failing Finish: %v; expected it removed", err)
	}
	if _, err := os.Stat(s.run.Path); err != nil {
		t.Errorf("run directory after a failing Finish: %v; expected it kept", err)
	}
}

// TestReportJudge follows a guest run's packages: each verdict starts a line of its own,
// tests add up across packages, and a package cut short or never started fails.
func TestReportJudge(t *testing.T) {
	var b, stderr bytes.Buffer
	out := &lineWriter{w: &b}
	rep := &Report{}
	pass := kernellab.CommandResult{Name: "example.com/a", Output: fixture.Read(t, "pass.txt"), Finished: true, Duration: 1234 * time.Millisecond}
	fail := kernellab.CommandResult{Name: "example.com/b", Output: fixture.Read(t, "fail.txt"), ExitCode: 1, Finished: true, Duration: 2 * time.Second}
	out.Write([]byte("output without a newline"))
	rep.judge(t.Context(), pass, out, &stderr)
	rep.judge(t.Context(), fail, out, &stderr)
	rep.Guest = &kernellab.Result{Commands: []kernellab.CommandResult{pass, fail, {Name: "example.com/c", ExitCode: -1}}}
	rep.unfinished(out)
	want := "output without a newline\nok  \texample.com/a\t1.234s\nFAIL\texample.com/b\t2.000s\nFAIL\texample.com/c\t0.000s\n"
	if got := b.String(); got != want {
		t.Errorf("output = %q; expected %q", got, want)
	}
	if (*rep != Report{Passed: 4, Failed: 3, Skipped: 1, FailedPackages: 2, Guest: rep.Guest}) {
		t.Errorf("report = %+v; expected 4 passed, 3 failed, 1 skipped, 2 packages failed", *rep)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q; expected nothing", stderr.String())
	}
}
