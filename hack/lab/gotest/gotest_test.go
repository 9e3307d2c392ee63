package gotest

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

func TestRunPattern(t *testing.T) {
	p := Package{Tests: []string{"TestA", "TestB_x"}}
	pat := p.RunPattern()
	if pat != "^(TestA|TestB_x)$" {
		t.Fatalf("RunPattern = %q; expected ^(TestA|TestB_x)$", pat)
	}
	re := regexp.MustCompile(pat)
	for name, want := range map[string]bool{"TestA": true, "TestB_x": true, "TestAB": false, "XTestA": false} {
		if re.MatchString(name) != want {
			t.Errorf("pattern %s matches %s = %v; expected %v", pat, name, !want, want)
		}
	}
}

// testdata/*.txt are real -test.v outputs of a small test binary (pass, fail with subtests,
// panic, no tests, timeout); Summarize reads them through `go tool test2json`.
func TestSummarize(t *testing.T) {
	tests := []struct {
		file     string
		exitCode int
		want     Summary
		ok       bool
	}{
		{"pass.txt", 0, Summary{Passed: 1, Result: "pass"}, true},
		{"fail.txt", 1, Summary{Passed: 3, Failed: 3, Skipped: 1, Result: "fail"}, false},
		// TestPanics panicked before its result line: started, never reported, failed.
		{"panic.txt", 2, Summary{Passed: 1, Failed: 1}, false},
		{"notests.txt", 0, Summary{Result: "pass", NoTests: true}, true},
		{"timeout.txt", 2, Summary{Failed: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Summarize(t.Context(), "example.com/p", fixture.Read(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Summarize = %+v; expected %+v", got, tt.want)
			}
			if ok := got.OK(tt.exitCode); ok != tt.ok {
				t.Fatalf("OK(%d) = %v; expected %v", tt.exitCode, ok, tt.ok)
			}
		})
	}
	// Exit status decides even when the binary said PASS (a crash after the report, a kill).
	if (Summary{Passed: 1, Result: "pass"}).OK(1) {
		t.Error("OK(1) with a passing verdict; expected false")
	}
	if (Summary{}).OK(0) {
		t.Error("OK(0) with no output at all; expected false")
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		ok   bool
		s    Summary
		d    time.Duration
		want string
	}{
		{true, Summary{Passed: 1}, 1234 * time.Millisecond, "ok  \texample.com/p\t1.234s"},
		{true, Summary{NoTests: true}, 10 * time.Millisecond, "ok  \texample.com/p\t0.010s [no tests to run]"},
		{false, Summary{Failed: 1}, 2 * time.Second, "FAIL\texample.com/p\t2.000s"},
	}
	for _, tt := range tests {
		if got := Verdict("example.com/p", tt.ok, tt.s, tt.d); got != tt.want {
			t.Errorf("Verdict = %q; expected %q", got, tt.want)
		}
	}
}

func TestBinaryName(t *testing.T) {
	a, b := BinaryName("github.com/x/y/kernel/ipvs"), BinaryName("github.com/x/y/proxy/ipvs")
	if a == b || !strings.HasSuffix(a, ".test") || strings.Contains(a, "/") {
		t.Fatalf("BinaryName gave %q and %q; expected distinct flat .test names", a, b)
	}
}

// TestFind reads this repository: hack/lab/kernellab's lab tests are the guest tests of its
// lab-tagged file (not its harness or unit tests), and hack/lab/internal/cpio has none.
func TestFind(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	pkgs, err := Find(t.Context(), root, []string{"./hack/lab/kernellab", "./hack/lab/internal/cpio"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 {
		t.Fatalf("Find gave %d packages; expected 2: %+v", len(pkgs), pkgs)
	}
	lab, cpio := pkgs[0], pkgs[1]
	if lab.ImportPath != "github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab" || lab.ModuleDir == "" || lab.Dir == "" {
		t.Fatalf("first package = %+v; expected hack/lab/kernellab with its folders", lab)
	}
	want := []string{"TestDummyLinkAddresses", "TestGuestHasIPVS", "TestIpsetMembers", "TestIptablesRulesRoundTrip",
		"TestSchedulerLoadsOnDemand", "TestVirtualServerVisibleToIpvsadm"}
	if !slices.Equal(lab.Tests, want) {
		t.Errorf("hack/lab/kernellab lab tests = %v; expected %v", lab.Tests, want)
	}
	if len(cpio.Tests) != 0 {
		t.Errorf("hack/lab/internal/cpio lab tests = %v; expected none", cpio.Tests)
	}
	if _, err := Find(t.Context(), root, []string{"./no/such/dir"}); err == nil {
		t.Error("Find of a missing package succeeded; expected an error")
	}
}
