package ipvs

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoIPVS is wrapped by CheckKernel's error when the kernel has no IPVS.
var ErrNoIPVS = errors.New("the kernel has no IPVS")

// Modules are the modules kube-proxy's ipvs mode needs, as the seed tutorial loads them.
var Modules = []string{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"}

// noIPVSError explains how to get IPVS; found says what was checked.
func noIPVSError(found string) error {
	return fmt.Errorf("%w (%s): load the modules with `modprobe -a %s` and keep them loaded across reboots "+
		"by listing them one per line in /etc/modules-load.d/k8s.conf; a kernel built without CONFIG_IP_VS "+
		"(Docker Desktop, WSL, some hardened kernels) cannot run ipvs mode at all: `make lab` runs it in a QEMU kernel lab",
		ErrNoIPVS, found, strings.Join(Modules, " "))
}
