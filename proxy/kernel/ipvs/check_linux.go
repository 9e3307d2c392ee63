package ipvs

import (
	"errors"
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// procIPVS exists while the ip_vs module is loaded.
const procIPVS = "/proc/net/ip_vs"

// CheckKernel tells whether the kernel has IPVS: the generic netlink family "IPVS" that
// moby/ipvs talks to, or /proc/net/ip_vs. It is needed because moby/ipvs does not fail on
// a kernel without IPVS: its calls return nil errors and do nothing.
func CheckKernel() error {
	famErr := genlFamily("IPVS")
	if famErr == nil {
		return nil
	}
	if _, err := os.Stat(procIPVS); err == nil {
		return nil
	}
	if errors.Is(famErr, unix.ENOENT) {
		return noIPVSError(`no generic netlink family "IPVS" and no ` + procIPVS)
	}
	return noIPVSError(fmt.Sprintf("looking up the generic netlink family \"IPVS\" failed: %v; no %s", famErr, procIPVS))
}

func genlFamily(name string) error {
	h, err := netlink.NewHandle(unix.NETLINK_GENERIC)
	if err != nil {
		return err
	}
	defer h.Close()
	_, err = h.GenlFamilyGet(name)
	return err
}
