// Package imagecmd is `ipvs-e2e image`: container images built offline, without Docker
// (hack/image). Its inspector command builds the node inspector's image (`ipvsdump serve`,
// manifests/inspector) as an OCI layout and a docker-loadable tarball (make inspector-image).
//
//	ipvs-e2e image inspector --arch amd64 --out $CACHE_DIR/images
package imagecmd

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	clusterlab "github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
	"github.com/ipvs-e2e/ipvs-e2e/hack/image"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/cachedir"
)

// NewCommand returns the image command.
func NewCommand() *cobra.Command {
	return cli.Group(&cobra.Command{
		Use:   "image",
		Short: "Build container images offline, without Docker",
	},
		cli.Command(&cobra.Command{
			Use:   "inspector",
			Short: "Build the node inspector's image (ipvsdump serve) as an OCI layout and a docker-loadable tarball",
			Long: `Build the node inspector's image: the static ipvsdump at /ipvsdump on one layer, entrypoint
["/ipvsdump","serve"], user 0, linux/ARCH, the source commit as a label. It prints the OCI
layout, the tarball, the digest, and how to push and name the image. The same binary gives
the same digest.

Environment: CACHE_DIR (the default --out is $CACHE_DIR/images), GO (the go command that
builds ipvsdump, default go).`,
		}, &inspectorFlags{}),
	)
}

type inspectorFlags struct {
	arch, out, binary string
}

func (f *inspectorFlags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.arch, "arch", "amd64", "the image's architecture: amd64 or arm64")
	fs.StringVar(&f.out, "out", cachedir.Join("images"), "directory the layout and the tarball are written to")
	fs.StringVar(&f.binary, "binary", "", "a Linux ipvsdump of --arch to put in the image (default: build one with CGO_ENABLED=0 GOOS=linux)")
}

// elfMachine is the ELF machine of each architecture the image is built for.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func (f *inspectorFlags) Run(cmd *cobra.Command, _ []string) error {
	if _, ok := elfMachine[f.arch]; !ok {
		return cli.Usagef("--arch %q: expected amd64 or arm64", f.arch)
	}
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	bin := f.binary
	if bin == "" {
		dir, err := os.MkdirTemp("", "ipvs-e2e-image-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "ipvsdump")
		if err := buildIpvsdump(ctx, f.arch, bin, cmd.ErrOrStderr()); err != nil {
			return err
		}
	}
	data, err := linuxBinary(bin, f.arch)
	if err != nil {
		return err
	}
	commit := sourceCommit(ctx)
	img, err := image.Build(image.Inspector(data, f.arch, commit))
	if err != nil {
		return err
	}
	tag := "dev"
	if commit != "" {
		tag = commit[:min(12, len(commit))]
		if strings.HasSuffix(commit, "-dirty") {
			tag += "-dirty"
		}
	}
	ref := image.InspectorName + ":" + tag
	w, err := image.Write(img, f.out, strings.TrimSuffix(filepath.Base(image.InspectorArchive(f.out, f.arch)), ".tar"), ref)
	if err != nil {
		return err
	}
	printWritten(stdout, w, tag)
	return nil
}

// printWritten prints where the image is and the three lines README.md shows: how to push
// it, how to name it to the suites, and kind.
func printWritten(w io.Writer, img image.Written, tag string) {
	repo := "REGISTRY/" + image.InspectorName + ":" + tag
	fmt.Fprintf(w, "layout:  %s\ntarball: %s\ndigest:  %s\nimage:   %s\n\n", img.Layout, img.Tarball, img.Digest, img.Ref)
	fmt.Fprintf(w, "push: crane push %s %s   (or skopeo copy oci:%s:%s docker://%s)\n", img.Tarball, repo, img.Layout, tag, repo)
	fmt.Fprintf(w, "name: %s=%s@%s\n", inspector.ImageEnv, repo, img.Digest)
	fmt.Fprintf(w, "kind: a kind cluster needs no registry: with %s empty, provider existing loads %s into its nodes through kind's API\n", inspector.ImageEnv, img.Tarball)
}

// buildIpvsdump builds the static ipvsdump for linux/arch, as make ipvsdump does.
func buildIpvsdump(ctx context.Context, arch, out string, stderr io.Writer) error {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	args := []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out, "github.com/ipvs-e2e/ipvs-e2e/cmd/ipvsdump"}
	c := exec.CommandContext(ctx, goCmd, args...)
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	c.Stdout, c.Stderr = stderr, stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("building ipvsdump (CGO_ENABLED=0 GOOS=linux GOARCH=%s %s %s): %w; run it from the repository, or give a built one with --binary", arch, goCmd, strings.Join(args, " "), err)
	}
	return nil
}

// linuxBinary reads a Linux executable for arch: a host build or another architecture's
// would fail in the node with "exec format error".
func linuxBinary(path, arch string) ([]byte, error) {
	if err := clusterlab.CheckLinuxBinary(path); err != nil {
		return nil, err
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	machine := f.Machine
	f.Close()
	if machine != elfMachine[arch] {
		return nil, fmt.Errorf("%s is built for %v, expected %v for --arch %s: build it with GOARCH=%s", path, machine, elfMachine[arch], arch, arch)
	}
	return os.ReadFile(path)
}

// sourceCommit is the commit the working tree is at, with "-dirty" when it has changes;
// empty outside a git checkout.
func sourceCommit(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		commit += "-dirty"
	}
	return commit
}
