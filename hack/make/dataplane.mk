# framework/dataplane: the text formats of the dataplane model (ipvsadm, /proc/net/ip_vs,
# ip addr, iptables, ipset): their tests, and fuzz-dataplane, the package's fuzz targets.

.PHONY: test-dataplane fuzz-dataplane

test-dataplane:
	$(GO) test ./framework/dataplane

fuzz-dataplane:
	$(call fuzz_each,$(call fuzz_in,framework/dataplane:%))
