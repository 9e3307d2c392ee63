package kernellab

import (
	"log/slog"
	"os"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/cachedir"
)

// AccelEnv overrides the QEMU accelerator ("kvm", "tcg,thread=multi"). The default is TCG
// because /dev/kvm on the project's machines is kvm-pvm, on which Debian's kernel hangs.
const AccelEnv = "IPVS_E2E_LAB_ACCEL"

// KeepEnv, set to 1, keeps each run's folder (initrd, console.log, results.log) for debugging.
const KeepEnv = "IPVS_E2E_LAB_KEEP"

// DefaultKernelMeta is the Debian metapackage whose versioned dependency is the lab's kernel.
const DefaultKernelMeta = "linux-image-cloud-amd64"

// DefaultModules must all be in the kernel (as modules or built in); with their dependencies
// they are what kube-proxy's IPVS mode touches: IPVS and every scheduler, conntrack and NAT,
// the ipset types kube-proxy creates, the iptables matches and targets of its rules (legacy
// and nft back ends, IPv4 and IPv6), dummy (kube-ipvs0), veth and bridge for pod-like
// namespaces, and virtio networking for jobs that ask for a NIC.
var DefaultModules = []string{
	"crc32c_generic",
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sed", "ip_vs_nq", "ip_vs_mh", "ip_vs_fo", "ip_vs_ovf",
	"nf_conntrack", "nf_conntrack_netlink", "nf_nat", "dummy", "veth", "bridge",
	"ip_set", "ip_set_hash_ip", "ip_set_hash_ipport", "ip_set_hash_ipportip", "ip_set_hash_ipportnet",
	"ip_set_hash_net", "ip_set_hash_netport", "ip_set_bitmap_port", "xt_set",
	"x_tables", "ip_tables", "iptable_filter", "iptable_nat", "iptable_mangle",
	"ip6_tables", "ip6table_filter", "ip6table_nat", "ip6table_mangle",
	"xt_MASQUERADE", "xt_mark", "xt_comment", "xt_conntrack", "xt_addrtype", "xt_ipvs", "xt_nat",
	"xt_tcpudp", "xt_multiport",
	"nf_tables", "nft_compat", "nft_chain_nat", "nft_ct", "nft_masq",
	"virtio_pci", "virtio_net",
}

// DefaultModuleTrees are module folders packed whole, so that whatever a tool asks the kernel
// to load on demand (an nft expression, an ipset type, a match) is there. They add about
// 8 MB (3 MB compressed) to the base initramfs, built once per kernel.
var DefaultModuleTrees = []string{
	"kernel/net/netfilter/", "kernel/net/ipv4/netfilter/", "kernel/net/ipv6/netfilter/", "kernel/net/bridge/",
}

// DefaultPreload are loaded by /init before anything runs; the rest load on demand through
// modules.alias. ip_vs must be among them: /init checks /proc/net/ip_vs right after.
var DefaultPreload = []string{"ip_vs", "ip_vs_rr", "nf_conntrack", "ip_set", "dummy"}

// Tool names files to take from a Debian package into the guest, at the same paths.
type Tool struct {
	Package string
	// Paths inside the package; one ending in "/" takes that folder's files.
	Paths []string
}

// DefaultTools are the userspace tools a kube-proxy IPVS node has. Their shared libraries are
// found from the ELF files themselves (DT_NEEDED), in the downloaded library packages first,
// then on the host (glibc).
var DefaultTools = []Tool{
	{Package: "ipvsadm", Paths: []string{"sbin/ipvsadm"}},
	{Package: "ipset", Paths: []string{"usr/sbin/ipset"}},
	{Package: "iptables", Paths: []string{
		"usr/sbin/xtables-nft-multi", "usr/sbin/xtables-legacy-multi",
		"usr/sbin/iptables-nft", "usr/sbin/iptables-nft-save", "usr/sbin/iptables-nft-restore",
		"usr/sbin/ip6tables-nft", "usr/sbin/ip6tables-nft-save", "usr/sbin/ip6tables-nft-restore",
		"usr/sbin/iptables-legacy", "usr/sbin/iptables-legacy-save", "usr/sbin/iptables-legacy-restore",
		"usr/sbin/ip6tables-legacy", "usr/sbin/ip6tables-legacy-save", "usr/sbin/ip6tables-legacy-restore",
		"usr/lib/x86_64-linux-gnu/xtables/",
	}},
	{Package: "conntrack", Paths: []string{"usr/sbin/conntrack"}},
	{Package: "iproute2", Paths: []string{"bin/ip", "sbin/ip", "bin/ss"}},
	// dash is /bin/sh, as on Debian nodes: busybox's own shell runs its applets before PATH, so
	// `ip` in a script would be busybox's and not iproute2's.
	{Package: "dash", Paths: []string{"bin/dash"}},
	{Package: "netbase", Paths: []string{"etc/protocols", "etc/services"}},
}

// hostProvided are packages whose files the guest takes from the host instead (glibc: the
// host is the same Debian release as the packages).
var hostProvided = map[string]bool{"libc6": true, "libgcc-s1": true}

// Options configure Prepare. The zero value prepares the default lab.
type Options struct {
	// CacheDir holds downloads, unpacked kernels and initramfs parts. Default: $CACHE_DIR/lab,
	// else $HOME/.cache/ipvs-e2e/lab.
	CacheDir string
	// KernelMeta is the metapackage resolving to the kernel (DefaultKernelMeta).
	KernelMeta string
	// Modules, ModuleTrees, Preload and Tools default to the Default* values above.
	Modules     []string
	ModuleTrees []string
	Preload     []string
	Tools       []Tool
	// Accel is QEMU's -accel value; default $IPVS_E2E_LAB_ACCEL, else "tcg,thread=multi".
	Accel string
	// Refresh rebuilds the base initramfs even when a cached one matches.
	Refresh bool
	// Logger receives progress lines; default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.CacheDir == "" {
		o.CacheDir = cachedir.Join("lab")
	}
	if o.KernelMeta == "" {
		o.KernelMeta = DefaultKernelMeta
	}
	if o.Modules == nil {
		o.Modules = DefaultModules
	}
	if o.ModuleTrees == nil {
		o.ModuleTrees = DefaultModuleTrees
	}
	if o.Preload == nil {
		o.Preload = DefaultPreload
	}
	if o.Tools == nil {
		o.Tools = DefaultTools
	}
	if o.Accel == "" {
		o.Accel = os.Getenv(AccelEnv)
	}
	if o.Accel == "" {
		o.Accel = "tcg,thread=multi"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
