package kernellab

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// A run's own folder is removed after a pass and kept, without the initrd, after a failure;
// a caller's folder is left to the caller.
func TestJobDir(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv("TMPDIR", t.TempDir())
	t.Setenv(KeepEnv, "")
	for _, failed := range []bool{false, true} {
		dir, done, err := jobDir("")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"initrd.img", "console.log"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		done(failed, quiet)
		_, errInitrd := os.Stat(filepath.Join(dir, "initrd.img"))
		_, errConsole := os.Stat(filepath.Join(dir, "console.log"))
		_, errKept := os.Stat(filepath.Join(dir, "KEPT"))
		switch {
		case !failed && !os.IsNotExist(errConsole):
			t.Errorf("after a pass %s is still there", dir)
		case failed && (errConsole != nil || errKept != nil || !os.IsNotExist(errInitrd)):
			t.Errorf("after a failure: console %v, kept mark %v, initrd %v; expected the console and the mark kept, the initrd gone", errConsole, errKept, errInitrd)
		}
	}
	mine := t.TempDir()
	dir, done, err := jobDir(filepath.Join(mine, "guest"))
	if err != nil || dir != filepath.Join(mine, "guest") {
		t.Fatalf("jobDir(caller's) = %q, %v", dir, err)
	}
	done(false, quiet)
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the caller's folder was removed: %v", err)
	}
}
