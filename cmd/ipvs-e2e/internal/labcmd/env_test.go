package labcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckEnv(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{in: "IPVS_E2E_SEQUENCE_SEED=42"},
		{in: "A="},
		{in: "_x1=a b=c"},
		{in: "NOVALUE", wantErr: true},
		{in: "=1", wantErr: true},
		{in: "1A=1", wantErr: true},
		{in: "A-B=1", wantErr: true},
		{in: "A B=1", wantErr: true},
	}
	for _, tc := range tests {
		if err := checkEnv(tc.in); (err != nil) != tc.wantErr {
			t.Errorf("checkEnv(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
		}
	}
}

func TestGuestFiles(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img=1.tar") // the last = splits
	if err := os.WriteFile(img, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := guestFiles([]string{img + "=/lab/images/img.tar"})
	if err != nil || len(got) != 1 || got[0].Source != img || got[0].Path != "/lab/images/img.tar" {
		t.Fatalf("guestFiles = %+v, %v; want %s at /lab/images/img.tar", got, err, img)
	}
	for _, tc := range []struct{ in, err string }{
		{"/lab/images/img.tar", "expected HOST=GUEST"},
		{img + "=", "expected HOST=GUEST"},
		{img + "=lab/img.tar", "expected a clean absolute path"},
		{img + "=/lab/../img.tar", "expected a clean absolute path"},
		{img + "=/lab/tests/x.test", "outside /lab/tests and /src"},
		{filepath.Join(dir, "none") + "=/lab/x", "no such file"},
		{dir + "=/lab/x", "expected a regular file"},
	} {
		if _, err := guestFiles([]string{tc.in}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("guestFiles(%q) = %v, want an error with %q", tc.in, err, tc.err)
		}
	}
}
