package labcmd

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
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
