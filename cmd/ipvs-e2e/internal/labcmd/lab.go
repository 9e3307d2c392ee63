// Package labcmd is `ipvs-e2e lab`: it runs code against a real IPVS kernel on machines whose
// own kernel has none, booting Debian's cloud kernel under QEMU (hack/lab/kernellab) and
// running static binaries or Go test binaries inside.
//
//	ipvs-e2e lab prepare                 fetch and cache the kernel, tools and base initramfs
//	ipvs-e2e lab run [--] BIN [ARGS...]  run one static binary in a guest; exit with its status
//	ipvs-e2e lab test [flags] [PKG...]   build the packages' tests, run them all in one guest
//	ipvs-e2e lab clean [--kept]          remove what runs that were killed left behind
//	ipvs-e2e lab up [flags]              bring a lab cluster up and leave it running
//	ipvs-e2e lab down                    stop the lab cluster lab up left running
//
// Exit status: 0 when everything passed, the binary's status for `run`, 1 for failed tests or
// a guest that did not finish, 97 when the guest could not be set up (above all: its kernel
// has no /proc/net/ip_vs), 2 for usage errors.
package labcmd

import (
	"github.com/spf13/cobra"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
)

// NewCommand returns the lab command.
func NewCommand() *cobra.Command {
	return cli.Group(&cobra.Command{
		Use:   "lab",
		Short: "Run binaries and Go tests against a real IPVS kernel in a QEMU guest",
		Long: `Run binaries and Go tests against a real IPVS kernel: Debian's cloud kernel under QEMU.

Environment: CACHE_DIR (cache root, default $HOME/.cache/ipvs-e2e), IPVS_E2E_LAB_ACCEL
(QEMU -accel, default tcg,thread=multi), IPVS_E2E_LAB_KEEP=1 (keep each run's folder).`,
	},
		cli.Command(&cobra.Command{Use: "prepare", Short: "Fetch and cache the kernel, tools and base initramfs"}, &prepareFlags{}),
		newRunCommand(),
		newTestCommand(),
		cli.Command(&cobra.Command{Use: "clean", Short: "Remove the run directories and stop the processes of lab runs whose process is gone (each run does this when it starts)"}, &cleanFlags{}),
		newUpCommand(),
		cli.Command(&cobra.Command{Use: "down", Short: "Stop the lab cluster `lab up` left running and wait until it is torn down"}, &downFlags{}),
	)
}
