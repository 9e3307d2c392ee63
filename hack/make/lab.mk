# The kernel lab: Debian's cloud kernel (IPVS as modules) under QEMU/TCG. Everything it fetches
# is cached in $(CACHE_DIR)/lab; see hack/lab/kernellab and `ipvs-e2e lab`.
.PHONY: lab-prepare lab-test lab-harness lab-capture lab-exits

# Install QEMU/busybox-static when missing, fetch the kernel and tools, build the base initramfs.
lab-prepare:
	$(IPVS_E2E) lab prepare

# Every lab test (test files built with the lab tag), all packages in one guest, reported like `go test -v`;
# then the harness's own host-side tests, which boot guests to check its failure handling. The
# proxier's image goes into the guest, where hack/image's lab test runs what it carries.
lab-test: proxier-image
	$(IPVS_E2E) lab test --file $(PROXIER_IMAGE)=/lab/images/ipvs-proxier-amd64.tar
	$(MAKE) --no-print-directory lab-harness

lab-harness:
	IPVS_E2E_LAB_HARNESS=1 $(GO) test -count=1 -run '^TestHarness' ./hack/lab/kernellab

# Ends lab runs every way they can end (normal, Ctrl-C once and three times, SIGTERM, kill -9
# of the driver, a test binary's -timeout) and prints what each left; fails if anything but a
# failed run's kept directory outlives the next start (~7 min warm).
lab-exits: lab-cluster-binaries
	BIN_DIR=$(BIN_DIR) hack/lab/exit-paths.sh

# Regenerate the real tool outputs the dataplane parsers are tested against.
lab-capture:
	$(IPVS_E2E) capture --out framework/dataplane/testdata/lab

# The seed tutorial's sections 2 to 4.1 on the lab cluster (README: make lab): a real control
# plane on 127.0.0.1 and upstream kube-proxy $(KUBE_PROXY) (KUBE_PROXY=reference: the reference
# proxier) in the kernel lab, each step printed as typed with its real output and time, then a
# PASS/FAIL verdict per assertion; exits non-zero when one fails. Upstream kube-proxy goes to
# ipvs by the seed's method 2 (ConfigMap edit, pod delete), the reference proxier (ipvs only)
# by method 1; LAB_METHOD=creation picks method 1 for upstream too. LAB_SAVE=DIR keeps every
# output (testdata). The first run downloads the upstream binaries (or builds them: 7-15 min; UPSTREAM_SOURCE, hack/make/upstream.mk).
LAB_METHOD ?=
LAB_SAVE   ?=
lab: lab-lang lab-cluster-binaries
	$(IPVS_E2E) walk --kube-proxy $(KUBE_PROXY) $(if $(LAB_METHOD),--method $(LAB_METHOD)) $(if $(LAB_SAVE),--save $(LAB_SAVE)) $(lab_lang_flag)

# The walk's language (make lab, walk, lab-worksheet): LAB_LANG=zh prints the headings (the
# seed's section numbers and headings), explanations and verdicts in Chinese, LAB_LANG=en in
# English; empty: Chinese when LC_ALL or LANG starts with zh. Commands and outputs stay as printed.
LAB_LANG ?=
lab_lang_flag = $(if $(LAB_LANG),--lang $(LAB_LANG))
# lab-lang checks LAB_LANG before the binaries are built: it comes first among the prerequisites.
.PHONY: lab-lang
lab-lang:
	@case "$(LAB_LANG)" in ""|en|zh) ;; \
	  *) echo "LAB_LANG=$(LAB_LANG): expected en or zh (empty: zh when LC_ALL or LANG starts with zh, else en)" >&2; exit 2;; esac

# A worksheet a teacher can hand out: the walk as Markdown, each step's command, this run's
# real output and a question answered from it, in both languages (LAB_LANG: that one), in
# LAB_WORKSHEET. A fresh lab walk (KUBE_PROXY, LAB_METHOD, LAB_SAVE as for make lab), or
# LAB_RECORD=DIR: a walk recorded with LAB_SAVE=DIR, no lab needed.
LAB_WORKSHEET ?= $(CURDIR)/_out/worksheet
LAB_RECORD    ?=
.PHONY: lab-worksheet
lab-worksheet: lab-lang $(if $(LAB_RECORD),,lab-cluster-binaries)
	$(IPVS_E2E) walk $(if $(LAB_RECORD),--replay $(LAB_RECORD),--kube-proxy $(KUBE_PROXY) $(if $(LAB_METHOD),--method $(LAB_METHOD)) $(if $(LAB_SAVE),--save $(LAB_SAVE))) \
	  $(lab_lang_flag) --worksheet $(LAB_WORKSHEET)

# The tutorial on your own cluster (never created or deleted), read through the node
# inspector: make walk KUBECONFIG=~/.kube/config E2E_INSPECTOR_IMAGE=registry/inspector:tag
# [E2E_CONTEXT=ctx] [E2E_NODEPORT_ADDRESS=ip] [WALK_KUBECTL=path]; the ConfigMap switch
# only with E2E_ALLOW_DISRUPTIVE=1 WALK_METHOD=configmap (restored at the end).
WALK_METHOD ?= creation
.PHONY: walk
walk: lab-lang
	$(call check_bool,E2E_ALLOW_DISRUPTIVE)
	$(IPVS_E2E) walk --cluster existing --method $(WALK_METHOD) \
	  $(if $(E2E_CONTEXT),--context $(E2E_CONTEXT)) $(if $(E2E_INSPECTOR_IMAGE),--inspector-image $(E2E_INSPECTOR_IMAGE)) \
	  $(if $(E2E_NODEPORT_ADDRESS),--nodeport-address $(E2E_NODEPORT_ADDRESS)) $(if $(WALK_KUBECTL),--kubectl $(WALK_KUBECTL)) \
	  $(if $(call bool_true,$(E2E_ALLOW_DISRUPTIVE)),--allow-disruptive) $(if $(LAB_SAVE),--save $(LAB_SAVE)) $(lab_lang_flag)

# The reference proxier's full sync of 100 and 1,000 Services x 2 endpoints (BENCH_LARGE=1:
# also 10,000) and a one-endpoint change in the lab guest; table and CPU profile in _out/bench.
.PHONY: bench-lab
bench-lab:
	$(IPVS_E2E) bench lab --out $(CURDIR)/_out/bench

# make bench: the proxier alone on the lab kernel (profile at 10,000 with BENCH_LARGE=1),
# then side by side with upstream kube-proxy in the lab cluster (hack/make/bench.mk).
bench: bench-lab bench-cluster
