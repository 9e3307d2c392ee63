# The lab cluster: a real control plane on the host's loopback and kube-proxy in the QEMU
# kernel lab guest (framework/cluster/lab, hack/lab/nodeagent). No Docker, no IPVS on the host.
#
#   make lab-e2e KUBE_PROXY=v1.37.2          seedlab against upstream kube-proxy v1.37.2
#   make lab-e2e KUBE_PROXY=reference        seedlab against the reference proxier
#   make lab-e2e LAB_SUITES='seedlab services' LAB_SWITCH=configmap
#   make lab-e2e-ci                          for `make test`: seedlab, upstream and reference, the swap
#   make lab-e2e-swap                        kube-proxy swapped for the reference proxier and back
#   make lab-e2e LAB_SUITES=services LAB_NODES=2
#   make lab-e2e LAB_FOCUS='NodePort' LAB_SKIP='scale'   Ginkgo focus / skip
#   make lab-up [KUBE_PROXY=reference] [LAB_NODES=2]   a lab cluster left running: prints the
#                                            KUBECONFIG to export; NodePort 30089 on 127.0.0.1:30089
#   make lab-down                            stops it (QEMU and the control plane by their PIDs)
#
# lab-up runs `ipvs-e2e lab up` (a detached process holds the cluster; its state file is
# $CACHE_DIR/lab-up.json, its log and kubeconfig in its run directory under $TMPDIR); one
# runs at a time. A lab-up process killed with kill -9 leaves its run directories:
# `ipvs-e2e lab clean` removes them.
#
# LAB_NODES is the lab cluster's node count (nodes beyond the first are network namespaces
# of the one guest; default $IPVS_E2E_LAB_NODES); empty: 2 for the services suite (its
# traffic-policy specs need a node without the endpoint), 1 for the others. It is passed on
# as given: the suite checks it with its other settings (framework/e2e/settings.go) and
# stops before anything starts when it is not a count from 1 to 4.
#
# The upstream release is fetched into $CACHE_DIR/upstream/<version> when missing (downloaded, or built:
# minutes; UPSTREAM_SOURCE, hack/make/upstream.mk).
KUBE_PROXY  ?= v1.37.2
LAB_SUITES  ?= seedlab
LAB_SWITCH  ?= $(or $(IPVS_E2E_SWITCH),creation)
LAB_NODES   ?= $(IPVS_E2E_LAB_NODES)
LAB_LABELS  ?=
LAB_FOCUS   ?=
LAB_SKIP    ?=
LAB_TIMEOUT ?= 60m
LAB_ARTIFACTS ?= $(CURDIR)/artifacts/lab-$(KUBE_PROXY)

LAB_CI_VERSION ?= v1.37.2

.PHONY: lab-cluster-binaries lab-e2e lab-e2e-ci test-labcluster lab-up lab-down

# Static linux binaries the guest runs (and ipvsdump, copied into it by the suites).
lab-cluster-binaries:
	@mkdir -p $(BIN_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -o $(BIN_DIR)/ipvs-nodeagent ./hack/lab/nodeagent
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -o $(BIN_DIR)/ipvs-proxier ./cmd/ipvs-proxier
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -o $(BIN_DIR)/ipvsdump ./cmd/ipvsdump

# Prints the wall time from `make` to the first spec verdict (the first "•" or "[FAIL]").
lab-e2e: lab-cluster-binaries
	$(call check_duration,LAB_TIMEOUT)
	@start=$$(date +%s.%N); rc=0; \
	for s in $(LAB_SUITES); do \
	  nodes="$(LAB_NODES)"; [ -n "$$nodes" ] || { [ "$$s" = services ] && nodes=2 || nodes=1; }; \
	  echo "lab-e2e: suite $$s on $$nodes lab node(s)"; \
	  IPVS_E2E_LAB_NODES=$$nodes IPVS_E2E_PROVIDER=lab IPVS_E2E_K8S_VERSION=$(KUBE_PROXY) IPVS_E2E_SWITCH=$(LAB_SWITCH) \
	  IPVS_E2E_CLUSTER=ipvs-e2e-lab-$$s IPVS_E2E_ARTIFACTS=$(LAB_ARTIFACTS)/$$s \
	  IPVS_E2E_IPVSDUMP=$(BIN_DIR)/ipvsdump IPVS_E2E_LAB_NODEAGENT=$(BIN_DIR)/ipvs-nodeagent \
	  IPVS_E2E_LAB_PROXIER=$(BIN_DIR)/ipvs-proxier \
	  $(GO) test -tags e2e ./suites/$$s -count=1 -timeout 0 -v -args \
	    $(call ginkgo_args,$(LAB_TIMEOUT),$(LAB_LABELS),$(LAB_FOCUS),$(LAB_SKIP)) 2>&1 | \
	  awk -v start=$$start 'BEGIN{seen=0} {print; fflush()} \
	    !seen && (/•/ || /\[FAIL/ || /\[PASSED\]/ || /\[SKIPPED\]/) { seen=1; \
	      cmd="date +%s.%N"; cmd | getline now; close(cmd); \
	      printf "lab-e2e: first verdict %.1f s after start\n", now-start; fflush() }'; \
	  st=$${PIPESTATUS[0]}; [ $$st -eq 0 ] || rc=$$st; \
	done; \
	echo "lab-e2e: $(LAB_SUITES) with kube-proxy $(KUBE_PROXY) took $$(echo "$$(date +%s.%N) - $$start" | bc) s (exit $$rc)"; exit $$rc

lab-up: lab-cluster-binaries
	IPVS_E2E_IPVSDUMP=$(BIN_DIR)/ipvsdump IPVS_E2E_LAB_NODEAGENT=$(BIN_DIR)/ipvs-nodeagent \
	IPVS_E2E_LAB_PROXIER=$(BIN_DIR)/ipvs-proxier \
	  $(IPVS_E2E) lab up --kube-proxy '$(KUBE_PROXY)' $(if $(LAB_NODES),--nodes '$(LAB_NODES)')

lab-down:
	$(IPVS_E2E) lab down

test-labcluster:
	$(GO) test ./framework/cluster/lab/... ./hack/lab/nodeagent/...

# CI: seedlab against the reference proxier on a lab cluster the suite creates (provider lab),
# the cluster.Provider and node.Node contract on a lab cluster (framework/internal/contract),
# and upstream kube-proxy $(LAB_CI_VERSION) on a lab cluster started on its own and treated as
# your own cluster (lab-e2e-existing: provider existing, the node inspector, seedlab and the
# walk), and the swap (lab-e2e-swap). Builds the release first when it is not cached (cold: 7-15 min on 2 cores, with
# progress lines); every run always happens, and any failure fails the target.
lab-e2e-ci:
	@start=$$(date +%s); \
	echo "lab-e2e-ci: upstream $(LAB_CI_VERSION) binaries (built when missing)"; \
	$(IPVS_E2E) upstream build --version $(LAB_CI_VERSION) \
	  --components kube-apiserver,kube-controller-manager,kube-proxy,etcd,kubectl || exit 1; \
	rc=0; res=""; \
	if $(MAKE) --no-print-directory lab-e2e KUBE_PROXY=reference LAB_SUITES=seedlab LAB_SWITCH=creation LAB_LABELS=; \
	then res="$$res seedlab/reference=ok"; else rc=1; res="$$res seedlab/reference=FAILED"; fi; \
	if IPVS_E2E_K8S_VERSION=$(LAB_CI_VERSION) $(GO) test -tags e2e -count=1 -run '^TestProviderContract$$' ./framework/cluster/lab/; \
	then res="$$res contract=ok"; else rc=1; res="$$res contract=FAILED"; fi; \
	if $(MAKE) --no-print-directory lab-e2e-existing KUBE_PROXY=$(LAB_CI_VERSION); \
	then res="$$res existing/$(LAB_CI_VERSION)=ok"; else rc=1; res="$$res existing/$(LAB_CI_VERSION)=FAILED"; fi; \
	if $(MAKE) --no-print-directory lab-e2e-swap; \
	then res="$$res swap=ok"; else rc=1; res="$$res swap=FAILED"; fi; \
	echo "lab-e2e-ci:$$res in $$(( $$(date +%s) - start )) s (exit $$rc)"; exit $$rc

# A lab cluster started on its own (lab up) as your own cluster: the seedlab suite and the
# tutorial's walk run against it through provider existing and the node inspector (the lab
# agent runs the inspector's pod with the guest's ipvsdump, whatever the image's name), as
# a user runs them against a kubeadm cluster; then lab down, whatever happened. KUBE_PROXY:
# an upstream release or reference. The walk types kubectl from the release's build.
EXISTING_IMAGE ?= ipvs-e2e-inspector:lab
.PHONY: lab-e2e-existing
lab-e2e-existing: lab-cluster-binaries
	@start=$$(date +%s); up=$$(mktemp); \
	$(IPVS_E2E) upstream build --version $(LAB_CI_VERSION) --components kubectl >/dev/null || exit 1; \
	trap '$(IPVS_E2E) lab down; rm -f $$up' EXIT; \
	$(MAKE) --no-print-directory lab-up KUBE_PROXY=$(KUBE_PROXY) LAB_NODES= | tee $$up; \
	kc=$$(sed -n 's/^ *export KUBECONFIG=//p' $$up); \
	[ -n "$$kc" ] || { echo "lab-e2e-existing: lab up printed no KUBECONFIG" >&2; exit 1; }; \
	rc=0; res=""; \
	if $(MAKE) --no-print-directory e2e-seedlab E2E_PROVIDER=existing KUBECONFIG=$$kc E2E_INSPECTOR_IMAGE=$(EXISTING_IMAGE) \
	     E2E_NODEPORT_ADDRESS=127.0.0.1 E2E_ARTIFACTS=$(CURDIR)/artifacts/existing-$(KUBE_PROXY); \
	then res="$$res seedlab=ok"; else rc=1; res="$$res seedlab=FAILED"; fi; \
	if $(MAKE) --no-print-directory walk KUBECONFIG=$$kc E2E_INSPECTOR_IMAGE=$(EXISTING_IMAGE) E2E_NODEPORT_ADDRESS=127.0.0.1 \
	     WALK_KUBECTL=$(CACHE_DIR)/upstream/$(LAB_CI_VERSION)/bin/kubectl; \
	then res="$$res walk=ok"; else rc=1; res="$$res walk=FAILED"; fi; \
	echo "lab-e2e-existing: kube-proxy $(KUBE_PROXY):$$res in $$(( $$(date +%s) - start )) s (exit $$rc)"; exit $$rc

# Faults while requests run from the host through the seed's NodePort (TestFaults): the API
# server stopped for 60 s, etcd restarted, kube-proxy's pod deleted mid-sync, iptables flushed
# and virtual servers deleted by hand, the conntrack table full; a table of failed requests
# and recovery times. Then the reference proxier on a fake kernel against a real control
# plane through a 45 s API server outage (it must catch up within seconds). FAULTS_PROXY is
# the proxy under test: reference (default) or an upstream release. ~5 min warm.
FAULTS_PROXY ?= reference
.PHONY: lab-faults proxy-outage
lab-faults: lab-cluster-binaries proxy-outage
	IPVS_E2E_K8S_VERSION=$(FAULTS_PROXY) $(GO) test -tags e2e -count=1 -timeout 20m -run '^TestFaults$$' -v ./framework/cluster/lab/

# The reference proxier (fake kernel) against a real control plane on 127.0.0.1 through a
# 45 s API server outage: a Service created after it must be programmed within 10 s (70 s).
proxy-outage:
	$(GO) test -tags e2e -count=1 -timeout 5m -run '^TestCatchesUpAfterAnAPIServerOutage$$' -v ./cmd/ipvs-proxier/

# Soak: the tutorial walk SOAK_WALKS times back to back (each a fresh lab cluster), then the
# reference proxier under random Service/EndpointSlice churn (TestSoak: SOAK_SERVICES
# Services, SOAK_RATE changes/s for SOAK_DURATION) with its memory, goroutines, syncs and
# failed syncs over time. Fails on any failed walk, failed sync, restart or growth. Each
# failed walk's output is kept in _out/soak. ~1 h with the defaults.
SOAK_WALKS    ?= 20
SOAK_DURATION ?= 30m
SOAK_SERVICES ?= 1000
SOAK_RATE     ?= 10
.PHONY: lab-soak
lab-soak: lab-cluster-binaries
	@case "$(SOAK_WALKS)" in ''|*[!0-9]*|0) echo "lab-soak: SOAK_WALKS=$(SOAK_WALKS): expected a whole number of walks, 1 or more" >&2; exit 2;; esac; \
	mkdir -p $(CURDIR)/_out/soak; start=$$(date +%s); passed=0; \
	for i in $$(seq 1 $(SOAK_WALKS)); do \
	  t=$$(date +%s); \
	  if $(IPVS_E2E) walk --kube-proxy $(KUBE_PROXY) > $(CURDIR)/_out/soak/walk-$$i.log 2>&1; \
	  then passed=$$((passed + 1)); rm -f $(CURDIR)/_out/soak/walk-$$i.log; echo "lab-soak: walk $$i passed in $$(( $$(date +%s) - t )) s"; \
	  else echo "lab-soak: walk $$i FAILED in $$(( $$(date +%s) - t )) s (_out/soak/walk-$$i.log)"; fi; \
	done; \
	echo "lab-soak: the walk passed $$passed of $(SOAK_WALKS) ($$(( $(SOAK_WALKS) - passed )) flaky) in $$(( $$(date +%s) - start )) s"; \
	rc=0; [ $$passed -eq $(SOAK_WALKS) ] || rc=1; \
	IPVS_E2E_SOAK_DURATION=$(SOAK_DURATION) IPVS_E2E_SOAK_SERVICES=$(SOAK_SERVICES) IPVS_E2E_SOAK_RATE=$(SOAK_RATE) \
	  $(GO) test -tags e2e -count=1 -timeout 3h -run '^TestSoak$$' -v ./hack/report/clusterbench/ || rc=1; \
	exit $$rc

# The seedlab suite against every minor release the lab serves: 1.34 (ipvs not deprecated),
# 1.35 and 1.36 (deprecation logged; the IPVSDeprecation event is recorded before kube-proxy's
# event sink starts, so none reaches the API server - the suite reports which it saw) and
# 1.37 (KubeProxyIPVS gate on). Each release is fetched when missing (a download, or a 5-15 min build on 2 cores).
LAB_VERSIONS ?= v1.34.4 v1.35.4 v1.36.3 v1.37.2
.PHONY: lab-e2e-versions
lab-e2e-versions:
	@start=$$(date +%s); rc=0; res=""; \
	for v in $(LAB_VERSIONS); do \
	  $(IPVS_E2E) upstream build --version $$v \
	    --components kube-apiserver,kube-controller-manager,kube-proxy,etcd,kubectl || { rc=1; res="$$res $$v=BUILD-FAILED"; continue; }; \
	  if $(MAKE) --no-print-directory lab-e2e KUBE_PROXY=$$v LAB_SUITES=seedlab LAB_LABELS=; \
	  then res="$$res $$v=ok"; else rc=1; res="$$res $$v=FAILED"; fi; \
	done; \
	echo "lab-e2e-versions:$$res in $$(( $$(date +%s) - start )) s (exit $$rc)"; exit $$rc

# The reference proxier as a drop-in kube-proxy (suites/swap, manifests/reference-proxier):
# on one lab cluster with upstream kube-proxy $(LAB_CI_VERSION), the seedlab checks; the
# DaemonSet's image and command swapped by the swap kustomization (the agent runs the guest's
# ipvs-proxier for the reference image) and the checks again; the previous template
# restored and the checks once more. After each swap every node's dataplane must be the
# one the previous proxy left: nothing stale, nothing missing. ~4 min warm.
.PHONY: lab-e2e-swap
lab-e2e-swap:
	$(MAKE) --no-print-directory lab-e2e KUBE_PROXY=$(LAB_CI_VERSION) LAB_SUITES=swap LAB_LABELS= LAB_SWITCH=creation LAB_NODES=
