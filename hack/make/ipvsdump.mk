# cmd/ipvsdump: the static node inspector copied into kind nodes (see cmd/ipvsdump/README.md),
# and the packages it stands on: the state diff, the Gomega matchers, the state reader.
.PHONY: ipvsdump test-ipvsdump

# It runs in the nodes, which are Linux whatever the host is (Docker Desktop on macOS runs
# them in a Linux VM of the host's architecture).
NODE_GOARCH ?= $(shell $(GO) env GOARCH)
ipvsdump:
	@mkdir -p $(BIN_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(NODE_GOARCH) $(GO) build -trimpath -ldflags '-s -w' -o $(BIN_DIR)/ipvsdump ./cmd/ipvsdump

test-ipvsdump:
	$(GO) test -run 'Diff|LCS' ./framework/dataplane
	$(GO) test ./framework/dataplane/match ./proxy/kernel ./cmd/ipvsdump
