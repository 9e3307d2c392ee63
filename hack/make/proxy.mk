# proxy: the reference IPVS proxier (proxy/, cmd/ipvs-proxier).
#
#   make bench-proxy    full sync of 1,000 and 10,000 Services x 2 endpoints into the fake
#                       kernel, and one Service's change among 10,000 (ns/op, allocs/op)
#   make fuzz-proxy     the fuzz targets of proxy/ outside proxy/kernel, FUZZTIME each
#   make test-proxy     the proxier's unit tests
PROXY_BENCHTIME ?= 5x

.PHONY: bench-proxy fuzz-proxy test-proxy

test-proxy:
	$(GO) test ./proxy/... ./cmd/ipvs-proxier

bench-proxy:
	$(GO) test ./proxy/ -run '^$$' -bench 'FullSync|OneServiceChange' -benchmem -benchtime $(PROXY_BENCHTIME)

fuzz-proxy:
	$(call fuzz_each,$(call fuzz_in,proxy:% proxy/config:% proxy/desired:% proxy/labe2e:%))

bench: bench-proxy

# The reference proxier's image (ipvs-e2e-proxier), built offline without Docker
# (hack/image): the static proxier on iptables (legacy and nft) and conntrack taken from
# Debian's packages (apt-get download; cached in $(CACHE_DIR)/images/debian), as an OCI
# layout and a docker-loadable tarball under $(CACHE_DIR)/images. make lab-test runs its
# programs in the lab guest (hack/image TestProxierImageRuns).
.PHONY: proxier-image
PROXIER_IMAGE := $(CACHE_DIR)/images/ipvs-proxier-amd64.tar
proxier-image:
	@GO=$(GO) $(IPVS_E2E) image proxier --out $(CACHE_DIR)/images
