# What the fuzz-* targets share. `go test -fuzz` takes one target per run, hence a loop.
FUZZTIME ?= 10s
# Go minimizes each new interesting input for up to 60s by default, which starves a short
# run; a count bound keeps the fuzzers fuzzing.
FUZZMINIMIZE ?= 100x

# A recipe running each fuzz target of $(1), a list of package:FuzzName, for FUZZTIME.
define fuzz_each
@set -e; for pf in $(1); do \
	pkg=$${pf%%:*}; f=$${pf##*:}; echo "== $$pkg $$f ($(FUZZTIME))"; \
	$(GO) test $$pkg -run '^$$' -fuzz "^$$f\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE); \
done
endef
