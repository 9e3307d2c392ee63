package kubeproxy

import (
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

func TestScanLogs(t *testing.T) {
	for _, tc := range []struct {
		file       string
		mode       string
		defaulted  bool
		deprecated bool
		validation string
		cannotUse  string
		errors     int
		fatal      string
	}{
		{file: "kube-proxy-1.37-ipvs.log", mode: "ipvs", defaulted: true, deprecated: true, errors: 1},
		{file: "kube-proxy-1.37-ipvs.json.log", mode: "ipvs", defaulted: true, deprecated: true, errors: 1},
		{file: "kube-proxy-1.34-iptables.log", mode: "iptables"},
		{file: "kube-proxy-1.37-gate-off.log", validation: "must be iptables, nftables or blank", errors: 1,
			fatal: "command failed: failed validate: KubeProxyConfiguration.ProxyMode"},
		{file: "kube-proxy-no-ipvs.log", cannotUse: "ipvs not supported by the kernel", errors: 2,
			fatal: "command failed: unable to create proxier: can't use the IPVS proxier"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := ScanLogs(fixture.Read(t, tc.file))
			if f.Mode != tc.mode || f.SchedulerDefaulted != tc.defaulted || (f.Deprecation != "") != tc.deprecated || len(f.Errors) != tc.errors {
				t.Errorf("findings = %+v", f)
			}
			if !strings.Contains(f.ValidationFailure, tc.validation) || (tc.validation == "") != (f.ValidationFailure == "") {
				t.Errorf("validation failure = %q, want %q", f.ValidationFailure, tc.validation)
			}
			if !strings.Contains(f.CannotUseIPVS, tc.cannotUse) || (tc.cannotUse == "") != (f.CannotUseIPVS == "") {
				t.Errorf("cannot use IPVS = %q, want %q", f.CannotUseIPVS, tc.cannotUse)
			}
			if !strings.HasPrefix(f.Fatal, tc.fatal) || (tc.fatal == "") != (f.Fatal == "") {
				t.Errorf("fatal = %q, want %q...", f.Fatal, tc.fatal)
			}
			if f.Unparsed != 0 {
				t.Errorf("%d lines unparsed", f.Unparsed)
			}
		})
	}

	// Before logging is set up, cobra prints the error bare.
	f := ScanLogs("Error: failed validate: KubeProxyConfiguration.ProxyMode: Invalid value: \"ipvs\": must be iptables, nftables or blank (blank means the best-available proxy [currently iptables])\n")
	if f.Unparsed != 1 || !strings.HasPrefix(f.ValidationFailure, "Error: failed validate") || f.Fatal != f.ValidationFailure {
		t.Errorf("bare cobra error: %+v", f)
	}
}

// An empty ipvs.scheduler is the scheduler kube-proxy logs it falls back to.
func TestScheduler(t *testing.T) {
	if !strings.Contains(MsgSchedulerDefaulted, "use "+DefaultScheduler+" by default") {
		t.Errorf("DefaultScheduler %q is not the one %q names", DefaultScheduler, MsgSchedulerDefaulted)
	}
	if got := Scheduler(""); got != DefaultScheduler {
		t.Errorf(`Scheduler("") = %q, want %q`, got, DefaultScheduler)
	}
	if got := Scheduler("wrr"); got != "wrr" {
		t.Errorf(`Scheduler("wrr") = %q, want "wrr"`, got)
	}
}
