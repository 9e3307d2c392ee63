# The Ginkgo suites (suites/seedlab, suites/services) on kind clusters, and the packages they
# stand on (framework/cluster, node, kubeproxy, fixtures, manifests). `make e2e` needs a Linux
# host with a Docker engine and ip_vs in its kernel; without them it stops at once and says
# why (`make lab` runs the IPVS checks in a QEMU kernel lab instead).
#
#   make e2e                                  seedlab (both switch methods) + services
#   make e2e E2E_K8S_VERSION=1.35             another kind node image (1.34 .. 1.37)
#   make e2e E2E_LABELS='!slow'               a Ginkgo label filter (see framework/e2e/labels.go)
#   make e2e E2E_FOCUS='NodePort' E2E_SKIP='scale'   Ginkgo focus / skip regular expressions
#   make e2e E2E_TIMEOUT=2h                   the whole run's bound (Ginkgo's suite timeout)
#   make e2e-seedlab E2E_SWITCH=configmap     one suite, one method
#   make suites-dry-run                       compile the suites and list their specs
#
# Your own cluster (provider existing: kubeadm, staging, classroom), never created or deleted:
#   make e2e-seedlab E2E_PROVIDER=existing KUBECONFIG=~/.kube/config [E2E_CONTEXT=ctx] \
#        E2E_INSPECTOR_IMAGE=registry.example/ipvs-e2e-inspector:dev
#   E2E_ALLOW_DISRUPTIVE=1 lets it edit the kube-proxy ConfigMap (restored at the end);
#   E2E_NODEPORT_ADDRESS is where this machine reaches NodePorts (default: a node's InternalIP).
#
# Settings reach the suites as IPVS_E2E_* variables (framework/e2e/settings.go lists them all
# with the values each accepts). The suite checks every one before anything starts, so the
# make variables pass values through unchecked; one the make variable would override is its
# default when set in the environment, never dropped.
E2E_PROVIDER    ?= $(or $(IPVS_E2E_PROVIDER),kind)
E2E_CONTEXT     ?= $(IPVS_E2E_CONTEXT)
E2E_ALLOW_DISRUPTIVE ?= $(or $(IPVS_E2E_ALLOW_DISRUPTIVE),false)
E2E_INSPECTOR_IMAGE  ?= $(IPVS_E2E_INSPECTOR_IMAGE)
E2E_NODEPORT_ADDRESS ?= $(IPVS_E2E_NODEPORT_ADDRESS)
E2E_ARTIFACTS   ?= $(CURDIR)/artifacts
E2E_K8S_VERSION ?= $(IPVS_E2E_K8S_VERSION)
E2E_NODE_IMAGE  ?= $(IPVS_E2E_NODE_IMAGE)
E2E_LABELS      ?=
E2E_SWITCH      ?= $(or $(IPVS_E2E_SWITCH),creation)
E2E_FOCUS       ?=
E2E_SKIP        ?=
E2E_TIMEOUT     ?= 90m
E2E_KEEP        ?= $(or $(IPVS_E2E_KEEP_ON_FAILURE),false)
E2E_PKGS        := ./framework/cluster/... ./framework/node ./framework/kubeproxy/... ./framework/fixtures ./manifests ./framework/e2e

.PHONY: e2e e2e-preflight e2e-seedlab e2e-services suites-dry-run test-e2e-framework fuzz-e2e

# Ginkgo's flags from the make variables. E2E_TIMEOUT is Ginkgo's suite timeout, which
# interrupts the run and still writes the summary and JUnit and decides the cluster's fate;
# go test's own timeout is off so that it cannot kill the run first. An empty focus or skip
# is left out: an empty skip expression would skip every spec.
ginkgo_args = -ginkgo.timeout=$(1) -ginkgo.label-filter='$(2)' $(if $(3),-ginkgo.focus='$(3)') $(if $(4),-ginkgo.skip='$(4)') -ginkgo.v

# A make variable holding a duration is checked before anything runs: Go's flag errors would
# name the flag, not the variable.
define check_duration
	@[[ "$($(1))" =~ ^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$$ ]] || { echo "$(1)=$($(1)): expected a duration such as 90m or 1h30m" >&2; exit 2; }
endef

# A make variable holding a boolean is checked the same way, with the values Go's
# strconv.ParseBool takes (the suites read IPVS_E2E_* so); bool_true tells a true one.
bool_true = $(filter 1 t T TRUE true True,$(1))
define check_bool
	@case "$($(1))" in 1|t|T|TRUE|true|True|0|f|F|FALSE|false|False) ;; \
	  *) echo "$(1)=$($(1)): expected a boolean: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False" >&2; exit 2;; esac
endef

# One suite run: $(1) suite, $(2) switch method. Each run has its own cluster and artifacts
# directory, so a kept cluster (E2E_KEEP=true) never blocks the next run.
define e2e_run
	IPVS_E2E_PROVIDER=$(E2E_PROVIDER) \
	IPVS_E2E_SWITCH=$(2) \
	IPVS_E2E_CLUSTER=ipvs-e2e-$(1)-$(2) \
	IPVS_E2E_ARTIFACTS=$(E2E_ARTIFACTS)/$(1)-$(2) \
	IPVS_E2E_IPVSDUMP=$(BIN_DIR)/ipvsdump \
	IPVS_E2E_K8S_VERSION=$(E2E_K8S_VERSION) \
	IPVS_E2E_NODE_IMAGE=$(E2E_NODE_IMAGE) \
	IPVS_E2E_KEEP_ON_FAILURE=$(E2E_KEEP) \
	$(if $(filter existing,$(E2E_PROVIDER)),IPVS_E2E_CONTEXT=$(E2E_CONTEXT) IPVS_E2E_ALLOW_DISRUPTIVE=$(E2E_ALLOW_DISRUPTIVE) \
	  IPVS_E2E_INSPECTOR_IMAGE=$(E2E_INSPECTOR_IMAGE) IPVS_E2E_NODEPORT_ADDRESS=$(E2E_NODEPORT_ADDRESS)) \
	$(GO) test -tags e2e ./suites/$(1) -count=1 -timeout 0 -v -args \
		$(call ginkgo_args,$(E2E_TIMEOUT),$(E2E_LABELS),$(E2E_FOCUS),$(E2E_SKIP))
endef

# Preflight first: a second, no suite built, nothing created. The Docker and host-IPVS
# preflight is kind's; a cluster the project did not create is checked by its provider.
e2e-preflight:
	$(call check_duration,E2E_TIMEOUT)
	$(call check_bool,E2E_ALLOW_DISRUPTIVE)
	@mkdir -p $(BIN_DIR)
	@$(GO) build -o $(BIN_DIR)/ipvs-e2e ./cmd/ipvs-e2e
	@if [ "$(E2E_PROVIDER)" = kind ]; then $(BIN_DIR)/ipvs-e2e preflight --schedulers rr,wrr,sh,mh; fi

# Every run goes ahead even when one fails, so CI sees all results; the target fails if any did.
e2e: e2e-preflight
	@$(MAKE) --no-print-directory ipvsdump
	@rc=0; \
	$(call e2e_run,seedlab,creation) || rc=1; \
	if [ "$(E2E_PROVIDER)" = existing ] && [ -z "$(call bool_true,$(E2E_ALLOW_DISRUPTIVE))" ]; then \
	  echo "e2e: seedlab by ConfigMap switch NOT RUN: it edits kube-proxy on a cluster the project did not create (E2E_ALLOW_DISRUPTIVE=1 allows it; restored at the end)"; \
	else $(call e2e_run,seedlab,configmap) || rc=1; fi; \
	$(call e2e_run,services,creation) || rc=1; \
	echo "e2e: JUnit XML and per-node artifacts under $(E2E_ARTIFACTS)"; \
	exit $$rc

e2e-seedlab: e2e-preflight
	@$(MAKE) --no-print-directory ipvsdump
	$(call e2e_run,seedlab,$(E2E_SWITCH))

e2e-services: e2e-preflight
	@$(MAKE) --no-print-directory ipvsdump
	$(call e2e_run,services,$(E2E_SWITCH))

# The suites carry the e2e build tag so a plain `go test ./...` never tries to create a
# cluster. Compiles both suites and lists every spec with its labels; no cluster, no Docker.
suites-dry-run:
	$(GO) test -tags e2e ./suites/seedlab ./suites/services ./suites/example ./suites/swap -count=1 -run 'TestSeedLab|TestServices|TestExample|TestSwap' -v -args -ginkgo.dry-run -ginkgo.v -ginkgo.no-color

# The unit tests under the suites: config generation, ConfigMap edits, log and /proxyMode
# parsing, preflight messages, fakes, artifacts, summary, label filters.
test-e2e-framework:
	$(GO) test $(E2E_PKGS)

fuzz-e2e:
	$(call fuzz_each,$(call fuzz_in,framework/kubeproxy/% framework/kubeproxy:% framework/e2e:% framework/cluster/%))

