# The proxies side by side in the lab cluster (hack/report/clusterbench, `ipvs-e2e bench cluster`): for
# each N a fresh lab cluster per proxy (the reference proxier, then upstream kube-proxy
# $(BENCH_KUBE_PROXY) on the same lab kernel), N Services x 2 endpoints created in one
# burst, then full-sync time, one-endpoint-change latency, RSS and rule counts, with the
# upstream/reference ratio per N. Table, results JSON, raw outputs and the reference
# proxier's CPU profile at the largest N go to $(BENCH_OUT).
#
#   make bench-cluster                              N = 100, 1,000 (~15 min; upstream 1,000 ~4 min)
#   make bench-cluster BENCH_LARGE=1                also the reference proxier at 10,000
#   make bench-cluster BENCH_LARGE=1 BENCH_UPSTREAM_LARGE=1   upstream at 10,000 too (~40 min more)
#   make bench-cluster BENCH_KUBE_PROXY=v1.35.4     another upstream release (fetched when missing)
#
# Churn (network programming latency as sig-scalability measures it): at 1,000 and 10,000, after
# the measurements above on the same cluster, 20 endpoint changes per second for $(BENCH_CHURN)
# (open loop, EndpointSlice updates stamped with last-change-trigger-time); p50/p99 of
# kubeproxy_network_programming_duration_seconds and of the time until the change is in the
# kernel, in a second table beside upstream's. So 1,000 runs it for both proxies, BENCH_LARGE=1
# adds the reference at 10,000 and BENCH_UPSTREAM_LARGE=1 upstream at 10,000.
#   make bench-cluster BENCH_CHURN=30s              a shorter window (0: no churn phase)
BENCH_KUBE_PROXY     ?= v1.37.2
BENCH_LARGE          ?=
BENCH_UPSTREAM_LARGE ?=
BENCH_OUT            ?= $(CURDIR)/_out/bench
BENCH_PROFILE_SECONDS ?= 30
BENCH_CHURN          ?= 2m

bench_comma      := ,
BENCH_N          := 100,1000$(if $(BENCH_LARGE),$(bench_comma)10000)
BENCH_UPSTREAM_N := 100,1000$(if $(BENCH_UPSTREAM_LARGE),$(bench_comma)10000)

.PHONY: bench-cluster test-clusterbench

bench-cluster: lab-cluster-binaries
	$(IPVS_E2E) bench cluster -n '$(BENCH_N)' --upstream-n '$(BENCH_UPSTREAM_N)' \
	  --upstream '$(BENCH_KUBE_PROXY)' --profile-seconds $(BENCH_PROFILE_SECONDS) --out '$(BENCH_OUT)' \
	  --ipvsdump '$(BIN_DIR)/ipvsdump' --churn '$(BENCH_CHURN)' --churn-n 1000,10000

test-clusterbench:
	$(GO) test ./hack/report/clusterbench ./cmd/ipvs-e2e/internal/benchcmd
	$(GO) test -run 'Profiling' ./proxy ./cmd/ipvs-proxier


.PHONY: fuzz-clusterbench
fuzz-clusterbench:
	$(call fuzz_each,$(call fuzz_in,hack/report/clusterbench:%))

