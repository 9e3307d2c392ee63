# framework/dataplane: the text formats of the dataplane model (ipvsadm, /proc/net/ip_vs,
# ip addr, iptables, ipset). `go test -fuzz` takes one target per run, hence the loop.
DATAPLANE_FUZZ := FuzzParseIPVSAdm FuzzParseIPVSAdmSave FuzzParseIPVSAdmTimeouts FuzzParseProcIPVS \
	FuzzParseIPAddr FuzzParseIPAddrJSON FuzzParseIPTablesSave FuzzParseIPTablesS \
	FuzzParseIPSetSave FuzzParseIPSetList FuzzParseMember FuzzRuleArgs
FUZZTIME ?= 10s
# Go minimizes each new interesting input for up to 60s by default, which starves a short
# run; a count bound keeps the fuzzers fuzzing.
FUZZMINIMIZE ?= 100x

.PHONY: test-dataplane fuzz-dataplane

test-dataplane:
	$(GO) test ./framework/dataplane

fuzz-dataplane:
	@set -e; for f in $(DATAPLANE_FUZZ); do \
		echo "== $$f ($(FUZZTIME))"; \
		$(GO) test ./framework/dataplane -run '^$$' -fuzz "^$$f\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE); \
	done

fuzz: fuzz-dataplane
