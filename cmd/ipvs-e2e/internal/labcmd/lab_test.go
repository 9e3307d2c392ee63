package labcmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
)

// Usage mistakes are refused before the lab is prepared or anything is built.
func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, `"lab" needs a command: prepare, run, test`},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"--help"}, 0, "Available Commands:"},
		{[]string{"run"}, 2, "expected a static binary"},
		{[]string{"prepare", "extra"}, 2, `takes no arguments, found ["extra"]`},
		{[]string{"test", "--nosuchflag"}, 2, "unknown flag: --nosuchflag"},
		{[]string{"test", "--env", "1A=1"}, 2, `"1A" is not a variable name`},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), NewCommand(), tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stdout.String()+stderr.String(), tt.out) {
			t.Errorf("lab %v = %d, %q; expected %d and %q", tt.args, code, stdout.String()+stderr.String(), tt.code, tt.out)
		}
	}
}

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
