# ipvs-e2e. Heavy caches (Debian kernel, initramfs parts, upstream binaries) live in CACHE_DIR,
# outside git, so reruns are fast and fresh clones still work.
SHELL := /bin/bash
CACHE_DIR ?= $(HOME)/.cache/ipvs-e2e
BIN_DIR   ?= $(CURDIR)/bin
GO        ?= go
# The project's tool binary (cmd/ipvs-e2e): lab, walk, diff, bench, upstream, capture, preflight.
IPVS_E2E  ?= $(GO) run ./cmd/ipvs-e2e
export CACHE_DIR
# Static binaries everywhere: the lab runs test binaries in a bare guest, and unit and lab
# builds then share one build cache.
export CGO_ENABLED := 0

.PHONY: all build test unit lint bench fuzz lab e2e clean

all: build

build:
	@mkdir -p $(BIN_DIR)
	$(GO) build -trimpath -o $(BIN_DIR)/ ./cmd/...

# The host part: every package's tests but the lab's (files built with the lab tag).
unit:
	$(GO) test ./...

# Unit tests on the host, every lab-only test in the kernel lab (QEMU, real IPVS), then the
# seedlab suite against upstream kube-proxy v1.37.2 and the reference proxier in the lab
# cluster, the differential report of the two on four scenarios, and the reference proxier
# through an API server outage (the first run downloads the upstream binaries into CACHE_DIR,
# or builds them without a release host: 7-15 minutes). The lab cluster's fault table (make lab-faults, ~4 min) stays out: make test
# keeps within 15 minutes warm.
test: lint unit suites-dry-run lab-test lab-e2e-ci lab-diff-ci proxy-outage

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./suites/...
	$(GO) vet -tags lab ./...
	@# The GitHub workflows, with shellcheck over their scripts when it is installed.
	$(GO) tool actionlint

-include hack/make/*.mk

clean:
	rm -rf $(BIN_DIR)
