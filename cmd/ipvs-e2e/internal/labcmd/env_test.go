package labcmd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
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
	for _, tc := range []struct{ name, in, err string }{
		{"no guest path", "/lab/images/img.tar", "expected HOST=GUEST"},
		{"empty guest path", img + "=", "expected HOST=GUEST"},
		{"relative guest path", img + "=lab/img.tar", "expected a clean absolute path"},
		{"guest path with ..", img + "=/lab/../img.tar", "expected a clean absolute path"},
		{"guest path in /lab/tests", img + "=/lab/tests/x.test", "outside /lab/tests and /src"},
		{"missing host file", filepath.Join(dir, "none") + "=/lab/x", "no such file"},
		{"host directory", dir + "=/lab/x", "expected a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := guestFiles([]string{tc.in})
			wanterr.Check(t, err, tc.err)
		})
	}
}
