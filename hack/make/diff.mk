# The differential report: upstream kube-proxy $(KUBE_PROXY) and the reference proxier, each in
# its own lab cluster, the same scenarios applied (manifests/diff, the suites' fixtures) in
# steps (create, change, delete), the node dataplanes compared after each step; after delete
# the node must be its baseline again. A difference fails unless
# hack/report/differential/known-differences.yaml lists it with a reason; a listed one not seen
# fails too.
#
#   make lab-diff                          v1.37.2 against the reference proxier (~15 min)
#   make lab-diff DIFF_ARGS='--scenarios seed,nodeport'
#   make lab-diff-report                   the report again from the captures (no lab)
#
# Output: artifacts/diff-$(KUBE_PROXY)/ (report.txt, report.json, diff/<scenario>/<step>.txt,
# <proxy>/<scenario>/<step>.{json,txt}).
KUBE_PROXY ?= v1.37.2
DIFF_OUT   ?= $(CURDIR)/artifacts/diff-$(KUBE_PROXY)
DIFF_KNOWN ?= $(CURDIR)/hack/report/differential/known-differences.yaml
DIFF_ARGS  ?=

.PHONY: lab-diff lab-diff-report test-diff

lab-diff: lab-cluster-binaries
	@start=$$(date +%s); \
	$(IPVS_E2E) diff run --kube-proxy $(KUBE_PROXY) --out $(DIFF_OUT) --known $(DIFF_KNOWN) \
	  --ipvsdump $(BIN_DIR)/ipvsdump $(DIFF_ARGS); rc=$$?; \
	echo "lab-diff: $(KUBE_PROXY) against the reference proxier took $$(( $$(date +%s) - start )) s (exit $$rc)"; exit $$rc

lab-diff-report:
	$(IPVS_E2E) diff report --kube-proxy $(KUBE_PROXY) --out $(DIFF_OUT) --known $(DIFF_KNOWN) $(DIFF_ARGS)

test-diff:
	$(GO) test ./hack/report/differential/... ./cmd/ipvs-e2e/internal/diffcmd ./manifests/diff/...

# For `make test`: the differential report on the scenarios that cover the tutorial's path
# and each kind of Service the reference proxier programs differently (NodePort, UDP,
# LoadBalancer with source ranges), upstream $(LAB_CI_VERSION) against the reference proxier.
DIFF_CI_SCENARIOS ?= seed,nodeport,udp,loadbalancer
.PHONY: lab-diff-ci
lab-diff-ci:
	$(MAKE) --no-print-directory lab-diff KUBE_PROXY=$(LAB_CI_VERSION) DIFF_ARGS='--scenarios $(DIFF_CI_SCENARIOS)'
