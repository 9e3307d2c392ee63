package imagecmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
)

func execute(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := cli.Execute(context.Background(), NewCommand(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// The test binary stands for ipvsdump: a Linux executable of this machine's architecture.
func TestInspector(t *testing.T) {
	if runtime.GOOS != "linux" || elfMachine[runtime.GOARCH] == 0 {
		t.Skipf("the test binary is not a Linux amd64 or arm64 executable (%s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, stdout, stderr := execute("inspector", "--arch", runtime.GOARCH, "--binary", exe, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	base := filepath.Join(out, "ipvs-e2e-inspector-"+runtime.GOARCH)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^layout:  ` + regexp.QuoteMeta(base+".oci") + `$`),
		regexp.MustCompile(`(?m)^tarball: ` + regexp.QuoteMeta(base+".tar") + `$`),
		regexp.MustCompile(`(?m)^digest:  sha256:[0-9a-f]{64}$`),
		regexp.MustCompile(`(?m)^push: crane push .*ipvs-e2e-inspector:\S+ +\(or skopeo copy oci:`),
		regexp.MustCompile(`(?m)^name: IPVS_E2E_INSPECTOR_IMAGE=REGISTRY/ipvs-e2e-inspector:\S+@sha256:[0-9a-f]{64}$`),
		regexp.MustCompile(`(?m)^kind: .*loads .* into its nodes through kind.s API`),
	} {
		if !want.MatchString(stdout) {
			t.Errorf("output has no line matching %s:\n%s", want, stdout)
		}
	}
	for _, p := range []string{base + ".oci/index.json", base + ".tar"} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}

func TestInspectorRefuses(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "ipvsdump")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	exe, _ := os.Executable()
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"inspector", "--arch", "mips"}, cli.ExitUsage, `--arch "mips": expected amd64 or arm64`},
		{[]string{"inspector", "--binary", notELF, "--out", t.TempDir()}, cli.ExitFailed, "is not a Linux (ELF) binary"},
		{[]string{"inspector", "--arch", other, "--binary", exe, "--out", t.TempDir()}, cli.ExitFailed, "expected"},
	} {
		code, _, stderr := execute(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.err) {
			t.Errorf("%q: exit %d, %q; want exit %d with %q", tc.args, code, stderr, tc.code, tc.err)
		}
	}
}

// The proxier's refusals come before anything is downloaded.
func TestProxierRefuses(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "ipvs-proxier")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"proxier", "--arch", "arm64"}, cli.ExitUsage, `--arch "arm64": expected amd64 (iptables and conntrack come from the host's amd64 Debian packages)`},
		{[]string{"proxier", "--binary", notELF, "--out", t.TempDir()}, cli.ExitFailed, "is not a Linux (ELF) binary"},
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
