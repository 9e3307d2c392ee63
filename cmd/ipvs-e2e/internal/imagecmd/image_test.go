package imagecmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
)

func execute(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := cli.Execute(context.Background(), NewCommand(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// Both commands refuse an --arch they cannot build before anything is built or downloaded,
// and a --binary that is not a Linux program (hack/image's tests check its architecture).
func TestRefuses(t *testing.T) {
	notProgram := t.TempDir()
	script := filepath.Join(t.TempDir(), "program")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"inspector", "--arch", "mips"}, cli.ExitUsage, `--arch "mips": expected amd64 or arm64`},
		{[]string{"inspector", "--binary", notProgram, "--out", t.TempDir()}, cli.ExitFailed, notProgram + " is not a regular file"},
		{[]string{"proxier", "--arch", "arm64"}, cli.ExitUsage, `--arch "arm64": expected amd64 (iptables and conntrack come from the host's amd64 Debian packages)`},
		{[]string{"proxier", "--binary", notProgram, "--out", t.TempDir()}, cli.ExitFailed, notProgram + " is not a regular file"},
		{[]string{"inspector", "--binary", script, "--out", t.TempDir()}, cli.ExitFailed, script + ` is not a Linux (ELF) binary (it starts with "#!/b"`},
		{[]string{"proxier", "--binary", script, "--out", t.TempDir()}, cli.ExitFailed, script + ` is not a Linux (ELF) binary (it starts with "#!/b"`},
	} {
		code, _, stderr := execute(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.err) {
			t.Errorf("%q: exit %d, %q; want exit %d with %q", tc.args, code, stderr, tc.code, tc.err)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, sub := range []string{"inspector", "proxier"} {
		code, stdout, stderr := execute(sub, "--help")
		if code != 0 || !strings.Contains(stdout, "--arch") || !strings.Contains(stdout, "--binary") || !strings.Contains(stdout, "--out") {
			t.Errorf("%s --help: exit %d, %s%s; want exit 0 listing --arch, --binary and --out", sub, code, stdout, stderr)
		}
	}
}
