# What the fuzz targets share. `go test -fuzz` takes one target per run, hence a loop.
FUZZTIME ?= 10s
# Go minimizes each new interesting input for up to 60s by default, which starves a short
# run; a count bound keeps the fuzzers fuzzing.
FUZZMINIMIZE ?= 100x

# Every fuzz target of the module as package:FuzzName, found by `go test -list` when a fuzz
# recipe runs, so a target added anywhere is fuzzed without being listed in a make file.
FUZZ_TARGETS = $(shell $(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/ {f[n++] = $$1} /^ok/ {for (i = 0; i < n; i++) print $$2 ":" f[i]; n = 0}')
# The fuzz targets whose package:FuzzName matches a pattern of $(1), relative to the module:
# framework/dataplane:% for one package, proxy/kernel/% for every package below proxy/kernel.
fuzz_in = $(filter $(addprefix github.com/ipvs-e2e/ipvs-e2e/,$(1)),$(FUZZ_TARGETS))

# A recipe running each fuzz target of $(1), a list of package:FuzzName, for FUZZTIME.
define fuzz_each
@set -e; test -n "$(strip $(1))" || { echo "no fuzz targets found" >&2; exit 1; }; \
for pf in $(1); do \
	pkg=$${pf%%:*}; f=$${pf##*:}; echo "== $$pkg $$f ($(FUZZTIME))"; \
	$(GO) test $$pkg -run '^$$' -fuzz "^$$f\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE); \
done
endef

.PHONY: fuzz
fuzz:
	$(call fuzz_each,$(FUZZ_TARGETS))
