# kernel/*: the narrow kernel interfaces (IPVS, links, ip sets, iptables, sysctls), their
# fakes and Linux implementations. On a host the fakes and unit tests run; as root the
# Linux implementations of links, ip sets and iptables also run in throwaway network
# namespaces (this host's kernel has no IPVS); `make lab-test` runs every contract
# against the lab kernel.
KERNEL_PKGS := ./proxy/kernel/ipvs ./proxy/kernel/netif ./proxy/kernel/ipset ./proxy/kernel/iptables ./proxy/kernel/sysctl

.PHONY: test-kernel test-kernel-netns fuzz-kernel

test-kernel:
	$(GO) test $(KERNEL_PKGS)

# Needs root, iproute2, iptables and ipset (Debian: apt-get install iproute2 iptables ipset).
test-kernel-netns:
	$(GO) test -count=1 -v -run 'InNetns|AgreesWith|OnVeth' $(KERNEL_PKGS)

fuzz-kernel:
	$(call fuzz_each,$(call fuzz_in,proxy/kernel/%))

