// Package imagecmd is `ipvs-e2e image`: container images built offline, without Docker
// (hack/image), each as an OCI layout and a docker-loadable tarball. Its inspector command
// builds the node inspector's image (`ipvsdump serve`, manifests/inspector; make
// inspector-image), its proxier command the reference proxier's with iptables and conntrack
// from Debian packages (make proxier-image).
//
//	ipvs-e2e image inspector --arch amd64 --out $CACHE_DIR/images
//	ipvs-e2e image proxier --out $CACHE_DIR/images
package imagecmd

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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
		cli.Command(&cobra.Command{
			Use:   "proxier",
			Short: "Build the reference proxier's image (ipvs-proxier with iptables and conntrack) as an OCI layout and a docker-loadable tarball",
			Long: `Build the reference proxier's image, ` + image.ProxierName + `, for linux/amd64. Bottom layer: iptables
(xtables-legacy-multi and xtables-nft-multi with their iptables, iptables-save,
iptables-restore and ip6tables-* names, the extensions), conntrack, /etc/protocols and
/etc/services, the shared libraries and the dynamic loader, all from Debian's packages
(apt-get download, nothing installed; cached in $CACHE_DIR/images/debian), with Debian's
alternatives making iptables the nf_tables back end and ` + image.LegacyPath + ` the legacy
one (put it first in PATH on a node whose kubelet uses legacy iptables). Top layer: the
static proxier at ` + image.ProxierBinary + `, linked from ` + image.KubeProxyPath + `. Entrypoint
the proxier, user 0, the source commit and the Debian packages as labels. The same binary
and packages give the same digest.

Environment: CACHE_DIR (the default --out is $CACHE_DIR/images), GO (the go command that
builds ipvs-proxier, default go).`,
		}, &proxierFlags{}),
	)
}

// imageFlags are the flags every image command has.
type imageFlags struct {
	arch, out, binary string
}

func (f *imageFlags) bind(fs *pflag.FlagSet, program, arches string) {
	fs.StringVar(&f.arch, "arch", "amd64", "the image's architecture: "+arches)
	fs.StringVar(&f.out, "out", cachedir.Join("images"), "directory the layout and the tarball are written to")
	fs.StringVar(&f.binary, "binary", "", "a Linux "+program+" of --arch to put in the image (default: build one with CGO_ENABLED=0 GOOS=linux)")
}

// program gives the image's program: --binary, or a fresh static build of pkg.
func (f *imageFlags) program(ctx context.Context, pkg string, stderr io.Writer) ([]byte, error) {
	bin := f.binary
	if bin == "" {
		dir, err := os.MkdirTemp("", "ipvs-e2e-image-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, path.Base(pkg))
		if err := buildProgram(ctx, pkg, f.arch, bin, stderr); err != nil {
			return nil, err
		}
	}
	return linuxBinary(bin, f.arch)
}

// write writes img under --out as base.oci and base.tar, named repo:TAG where TAG is the
// commit's first 12 digits (dev outside git), and prints where.
func (f *imageFlags) write(img v1.Image, repo, archive, commit string, stdout io.Writer) (image.Written, string, error) {
	tag := "dev"
	if commit != "" {
		tag = commit[:min(12, len(commit))]
		if strings.HasSuffix(commit, "-dirty") {
			tag += "-dirty"
		}
	}
	w, err := image.Write(img, f.out, strings.TrimSuffix(filepath.Base(archive), ".tar"), repo+":"+tag)
	if err != nil {
		return image.Written{}, "", err
	}
	fmt.Fprintf(stdout, "layout:  %s\ntarball: %s\ndigest:  %s\nimage:   %s\n\n", w.Layout, w.Tarball, w.Digest, w.Ref)
	return w, tag, nil
}

type inspectorFlags struct{ imageFlags }

func (f *inspectorFlags) Bind(fs *pflag.FlagSet) { f.bind(fs, "ipvsdump", "amd64 or arm64") }

// elfMachine is the ELF machine of each architecture the image is built for.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func (f *inspectorFlags) Run(cmd *cobra.Command, _ []string) error {
	if _, ok := elfMachine[f.arch]; !ok {
		return cli.Usagef("--arch %q: expected amd64 or arm64", f.arch)
	}
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	data, err := f.program(ctx, "github.com/ipvs-e2e/ipvs-e2e/cmd/ipvsdump", cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	commit := sourceCommit(ctx)
	img, err := image.Build(image.Inspector(data, f.arch, commit))
	if err != nil {
		return err
	}
	w, tag, err := f.write(img, image.InspectorName, image.InspectorArchive(f.out, f.arch), commit, stdout)
	if err != nil {
		return err
	}
	printUse(stdout, w, tag)
	return nil
}

// printUse prints the three lines README.md shows: how to push the inspector's image, how
// to name it to the suites, and kind.
func printUse(w io.Writer, img image.Written, tag string) {
	repo := "REGISTRY/" + image.InspectorName + ":" + tag
	fmt.Fprintf(w, "push: crane push %s %s   (or skopeo copy oci:%s:%s docker://%s)\n", img.Tarball, repo, img.Layout, tag, repo)
	fmt.Fprintf(w, "name: %s=%s@%s\n", inspector.ImageEnv, repo, img.Digest)
	fmt.Fprintf(w, "kind: a kind cluster needs no registry: with %s empty, provider existing loads %s into its nodes through kind's API\n", inspector.ImageEnv, img.Tarball)
}

type proxierFlags struct{ imageFlags }

func (f *proxierFlags) Bind(fs *pflag.FlagSet) { f.bind(fs, "ipvs-proxier", "amd64") }

func (f *proxierFlags) Run(cmd *cobra.Command, _ []string) error {
	// The userspace is Debian's amd64 packages, which apt on this (amd64) host downloads.
	if f.arch != "amd64" {
		return cli.Usagef("--arch %q: expected amd64 (iptables and conntrack come from the host's amd64 Debian packages)", f.arch)
	}
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	data, err := f.program(ctx, "github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-proxier", cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	userspace, err := image.ProxierUserspace(ctx, cachedir.Join("images", "debian"))
	if err != nil {
		return err
	}
	commit := sourceCommit(ctx)
	spec := image.Proxier(data, userspace, f.arch, commit)
	img, err := image.Build(spec)
	if err != nil {
		return err
	}
	entries := 0
	for _, l := range spec.Layers {
		entries += len(l.Files)
	}
	w, tag, err := f.write(img, image.ProxierName, image.ProxierArchive(f.out, f.arch), commit, stdout)
	if err != nil {
		return err
	}
	size, err := compressedSize(img)
	if err != nil {
		return err
	}
	repo := "REGISTRY/" + path.Base(image.ProxierName) + ":" + tag
	fmt.Fprintf(stdout, "size:    %.1f MB compressed in %d layers, %d files and links (the proxier: %.1f MB)\n",
		float64(size)/1e6, len(spec.Layers), entries, float64(len(data))/1e6)
	fmt.Fprintf(stdout, "push: crane push %s %s   (or skopeo copy oci:%s:%s docker://%s)\n", w.Tarball, repo, w.Layout, tag, repo)
	fmt.Fprintf(stdout, "kind: kind load image-archive %s\n", w.Tarball)
	return nil
}

// compressedSize is the sum of the image's layers as pushed.
func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// buildProgram builds the static program pkg for linux/arch, as make ipvsdump does.
func buildProgram(ctx context.Context, pkg, arch, out string, stderr io.Writer) error {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	args := []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg}
	c := exec.CommandContext(ctx, goCmd, args...)
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	c.Stdout, c.Stderr = stderr, stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("building %s (CGO_ENABLED=0 GOOS=linux GOARCH=%s %s %s): %w; run it from the repository, or give a built one with --binary", path.Base(pkg), arch, goCmd, strings.Join(args, " "), err)
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
