// Package lab is the kernel lab: Debian's cloud kernel, which has IPVS as modules, booted under
// QEMU (TCG: no KVM needed) with a small initramfs, so that IPVS code runs against a real
// kernel on a machine whose own kernel has none, and in CI.
//
// Prepare fetches everything once into a cache keyed by kernel version: the kernel package
// (resolved through the linux-image-cloud-amd64 metapackage, downloaded with `apt-get
// download` and unpacked, never installed), the userspace tools kube-proxy nodes have (ipvsadm,
// ipset, iptables, conntrack, iproute2) with their shared libraries, and a base initramfs with
// busybox, the IPVS/netfilter modules and /init. Run boots one guest per Job: the job's files
// go into a second archive appended to the base one, /init loads the modules, fails loudly
// when /proc/net/ip_vs is missing, runs the job's commands in order and reports each one's
// output and exit code on the second serial port, then powers off.
//
//	l, err := lab.Prepare(ctx, lab.Options{})
//	res, err := l.Run(ctx, lab.Job{
//		Files:    []lab.File{{Path: "/lab/bin/x.test", Source: "x.test", Mode: 0o755}},
//		Commands: []lab.Command{{Args: []string{"/lab/bin/x.test", "-test.v"}}, {Shell: "ipvsadm -Ln"}},
//	})
package kernellab
