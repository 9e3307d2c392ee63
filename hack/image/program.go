package image

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
)

// Options say which program an image carries, for which architecture, and where the image
// is written.
type Options struct {
	// Arch is the image's architecture, a key of ELFMachine.
	Arch string
	// Out is the directory the layout and the tarball are written to.
	Out string
	// Binary is a Linux build of the program for Arch; empty builds one with
	// CGO_ENABLED=0 GOOS=linux and $GO (default go).
	Binary string
}

// ELFMachine is the ELF machine of each architecture an image is built for.
var ELFMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// program gives the image's program: o.Binary, or a fresh static build of pkg, its output
// to stderr.
func program(ctx context.Context, pkg string, o Options, stderr io.Writer) ([]byte, error) {
	bin := o.Binary
	if bin == "" {
		dir, err := os.MkdirTemp("", "ipvs-e2e-image-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, path.Base(pkg))
		if err := buildProgram(ctx, pkg, o.Arch, bin, stderr); err != nil {
			return nil, err
		}
	}
	return linuxBinary(bin, o.Arch)
}

// linuxBinary reads a Linux executable for arch: a host build or another architecture's
// would fail in the node with "exec format error".
func linuxBinary(path, arch string) ([]byte, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: expected a Linux (ELF) executable: %w", path, err)
	}
	machine := f.Machine
	f.Close()
	if machine != ELFMachine[arch] {
		return nil, fmt.Errorf("%s is built for %v, expected %v for --arch %s: build it with GOARCH=%s", path, machine, ELFMachine[arch], arch, arch)
	}
	return os.ReadFile(path)
}
