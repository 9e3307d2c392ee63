# cmd/ipvsdump: the static node inspector copied into kind nodes (see cmd/ipvsdump/README.md),
# and the packages it stands on: the state diff, the Gomega matchers, the state reader.
.PHONY: ipvsdump test-ipvsdump inspector-image

# It runs in the nodes, which are Linux whatever the host is (Docker Desktop on macOS runs
# them in a Linux VM of the host's architecture).
NODE_GOARCH ?= $(shell $(GO) env GOARCH)
ipvsdump:
	@mkdir -p $(BIN_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(NODE_GOARCH) $(GO) build -trimpath -ldflags '-s -w' -o $(BIN_DIR)/ipvsdump ./cmd/ipvsdump

test-ipvsdump:
	$(GO) test -run 'Diff|LCS' ./framework/dataplane
	$(GO) test ./framework/dataplane/match ./proxy/kernel ./cmd/ipvsdump/... ./hack/image ./cmd/ipvs-e2e/internal/imagecmd

# The node inspector's image (`ipvsdump serve`, manifests/inspector/daemonset.yaml), built
# offline without Docker (hack/image): an OCI layout and a docker-loadable tarball under
# $(CACHE_DIR)/images. It prints both paths, the digest, and how to push and name it.
INSPECTOR_ARCH ?= amd64
inspector-image:
	@GO=$(GO) $(IPVS_E2E) image inspector --arch $(INSPECTOR_ARCH) --out $(CACHE_DIR)/images

# The inspector's allowlist and its /proc count parser (cmd/ipvsdump/internal/serve).
.PHONY: fuzz-inspector
fuzz-inspector:
	$(call fuzz_each,$(call fuzz_in,cmd/ipvsdump/%))

