# Upstream Kubernetes binaries (hack/lab/upstream) and the real control plane they run on
# 127.0.0.1 (hack/lab/controlplane); see `ipvs-e2e upstream`. Binaries are cached in
# $(CACHE_DIR)/upstream/<version>/bin, each with a stamp of its source and sha256 (checked on
# every use: a corrupt entry is fetched again).
#
#   make upstream-build [VERSION=v1.37.2]      kube-apiserver, kube-controller-manager, kubectl,
#                                               kube-proxy and etcd (download: seconds; build
#                                               from source: ~7 min of 2 idle cores)
#   make upstream-versions                      served releases (v1.34 on) and which are cached
#   make upstream-test [VERSION=v1.37.2]        fetch if needed, then the control-plane test
#
# UPSTREAM_SOURCE, for every target that needs the binaries (make lab, make test, ...):
#   auto      (default) download the release binaries from dl.k8s.io and etcd's GitHub release,
#             checksums verified; build from the Go module proxy when the release host does not
#             answer within 4 s. A wrong or missing checksum is an error, never a fallback.
#   download  download only; build from source never
#   build     build from the Go module proxy only; the release hosts are never contacted
# UPSTREAM_RELEASE_URL / UPSTREAM_ETCD_URL replace https://dl.k8s.io/release and
# https://github.com/etcd-io/etcd/releases/download (mirrors).
UPSTREAM_SOURCE := $(or $(UPSTREAM_SOURCE),auto)
ifneq ($(filter-out auto download build,$(UPSTREAM_SOURCE))$(word 2,$(UPSTREAM_SOURCE)),)
$(error UPSTREAM_SOURCE=$(UPSTREAM_SOURCE): expected one of auto, download or build)
endif
export UPSTREAM_SOURCE
UPSTREAM_VERSION ?= $(or $(VERSION),v1.37.2)
UPSTREAM_COMPONENTS ?= kube-apiserver,kube-controller-manager,kubectl,kube-proxy,etcd

.PHONY: upstream-build upstream-versions upstream-test upstream-status test-upstream fuzz-upstream

upstream-build:
	$(IPVS_E2E) upstream build --version $(UPSTREAM_VERSION) --components $(UPSTREAM_COMPONENTS)

upstream-versions:
	$(IPVS_E2E) upstream versions

# Fetches what is missing (IPVS_E2E_UPSTREAM_BUILD=1), then runs TestControlPlane (~15 s).
upstream-test:
	IPVS_E2E_UPSTREAM_BUILD=1 IPVS_E2E_UPSTREAM_VERSION=$(UPSTREAM_VERSION) \
		$(GO) test -count=1 -timeout 60m -v -run '^TestControlPlane$$' ./hack/lab/controlplane

test-upstream:
	$(GO) test ./hack/lab/upstream ./hack/lab/controlplane ./cmd/ipvs-e2e/internal/root

# `go test ./...` prints nothing for a skipped test in a passing package, so say here whether
# TestControlPlane will run a real control plane or skip for want of binaries.
upstream-status:
	@if [ -f "$(CACHE_DIR)/upstream/$(UPSTREAM_VERSION)/bin/kube-apiserver.stamp" ] && \
	    [ -f "$(CACHE_DIR)/upstream/$(UPSTREAM_VERSION)/bin/kube-controller-manager.stamp" ] && \
	    [ -f "$(CACHE_DIR)/upstream/$(UPSTREAM_VERSION)/bin/kubectl.stamp" ] && \
	    [ -f "$(CACHE_DIR)/upstream/$(UPSTREAM_VERSION)/bin/etcd.stamp" ]; then \
		echo "upstream: $(UPSTREAM_VERSION) binaries cached: TestControlPlane runs a real control plane"; \
	else \
		echo "upstream: $(UPSTREAM_VERSION) binaries NOT cached: TestControlPlane (hack/lab/controlplane) SKIPS;"; \
		echo "          run 'make upstream-build' first (a download, or ~7 min of building on 2 idle cores) or 'make upstream-test'"; \
	fi

unit: upstream-status

fuzz-upstream:
	$(call fuzz_each,$(call fuzz_in,hack/lab/upstream:% hack/lab/controlplane:%))

