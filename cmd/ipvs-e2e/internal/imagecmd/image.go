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
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	clusterlab "github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
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
type imageFlags struct{ o image.Options }

func (f *imageFlags) bind(fs *pflag.FlagSet, program, arches string) {
	fs.StringVar(&f.o.Arch, "arch", "amd64", "the image's architecture: "+arches)
	fs.StringVar(&f.o.Out, "out", cachedir.Join("images"), "directory the layout and the tarball are written to")
	fs.StringVar(&f.o.Binary, "binary", "", "a Linux "+program+" of --arch to put in the image (default: build one with CGO_ENABLED=0 GOOS=linux)")
}

// check refuses a --binary that is not a Linux executable before anything is built or
// downloaded, with the lab's own check of the binaries it runs.
func (f *imageFlags) check() error {
	if f.o.Binary == "" {
		return nil
	}
	return clusterlab.CheckLinuxBinary(f.o.Binary)
}

type inspectorFlags struct{ imageFlags }

func (f *inspectorFlags) Bind(fs *pflag.FlagSet) { f.bind(fs, "ipvsdump", "amd64 or arm64") }

func (f *inspectorFlags) Run(cmd *cobra.Command, _ []string) error {
	if _, ok := image.ELFMachine[f.o.Arch]; !ok {
		return cli.Usagef("--arch %q: expected amd64 or arm64", f.o.Arch)
	}
	if err := f.check(); err != nil {
		return err
	}
	return image.WriteInspector(cmd.Context(), f.o, cmd.OutOrStdout(), cmd.ErrOrStderr())
}

type proxierFlags struct{ imageFlags }

func (f *proxierFlags) Bind(fs *pflag.FlagSet) { f.bind(fs, "ipvs-proxier", "amd64") }

func (f *proxierFlags) Run(cmd *cobra.Command, _ []string) error {
	// The userspace is Debian's amd64 packages, which apt on this (amd64) host downloads.
	if f.o.Arch != "amd64" {
		return cli.Usagef("--arch %q: expected amd64 (iptables and conntrack come from the host's amd64 Debian packages)", f.o.Arch)
	}
	if err := f.check(); err != nil {
		return err
	}
	return image.WriteProxier(cmd.Context(), f.o, cmd.OutOrStdout(), cmd.ErrOrStderr())
}
