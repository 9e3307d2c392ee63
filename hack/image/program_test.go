package image

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// The test binary stands for ipvsdump: a Linux executable of this machine's architecture.
func TestWriteInspector(t *testing.T) {
	if runtime.GOOS != "linux" || ELFMachine[runtime.GOARCH] == 0 {
		t.Skipf("the test binary is not a Linux amd64 or arm64 executable (%s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := WriteInspector(context.Background(), Options{Arch: runtime.GOARCH, Binary: exe, Out: out}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
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
		if !want.MatchString(stdout.String()) {
			t.Errorf("output has no line matching %s:\n%s", want, stdout.String())
		}
	}
	for _, p := range []string{base + ".oci/index.json", base + ".tar"} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}

// A program that is not a Linux executable of the image's architecture is refused before
// anything is built or downloaded.
func TestWriteRefuses(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "program")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	exe, _ := os.Executable()
	for _, tc := range []struct {
		name  string
		write func(context.Context, Options, io.Writer, io.Writer) error
		o     Options
		err   string
	}{
		{"inspector, not ELF", WriteInspector, Options{Arch: "amd64", Binary: notELF}, "expected a Linux (ELF) executable"},
		{"inspector, other arch", WriteInspector, Options{Arch: other, Binary: exe}, "is built for"},
		{"proxier, not ELF", WriteProxier, Options{Arch: "amd64", Binary: notELF}, "expected a Linux (ELF) executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Out = t.TempDir()
			var stdout, stderr bytes.Buffer
			wanterr.Check(t, tc.write(context.Background(), tc.o, &stdout, &stderr), tc.err)
		})
	}
}
