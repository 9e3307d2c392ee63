package kubeproxy

import (
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy/internal/klog"
)

// Messages kube-proxy logs that the suites look for (cmd/kube-proxy/app, pkg/proxy/ipvs).
const (
	MsgUsingIPVS          = "Using ipvs Proxier"
	MsgSchedulerDefaulted = "IPVS scheduler not specified, use rr by default"
	msgUsingIPTables      = "Using iptables Proxier"
	msgUsingNFTables      = "Using nftables Proxier"
	// validationModeText is in the error kube-proxy 1.37+ exits with when mode is ipvs and
	// the KubeProxyIPVS feature gate is off.
	validationModeText = "must be iptables, nftables or blank"
	cannotUseIPVSText  = "can't use the IPVS proxier"
	// msgCommandFailed is what component-base's cli.Run logs before kube-proxy exits 1.
	msgCommandFailed = "command failed"
)

// exitPrefixes start the bare lines a proxy prints as it exits: cobra's, before logging is
// set up, and the reference proxier's (cmd/ipvs-proxier).
var exitPrefixes = []string{"Error: ", "ipvs-proxier: "}

// Findings are what a kube-proxy log says about its mode.
type Findings struct {
	// Mode is the proxier kube-proxy said it uses ("ipvs", "iptables", "nftables"), or "".
	Mode string
	// SchedulerDefaulted: "IPVS scheduler not specified, use rr by default" was logged.
	SchedulerDefaulted bool
	// Deprecation is the ipvs deprecation message (1.35+), if logged.
	Deprecation string
	// ValidationFailure is the 1.37+ error for mode ipvs with the KubeProxyIPVS gate off.
	ValidationFailure string
	// CannotUseIPVS is the error when the kernel lacks IPVS (or the scheduler's module).
	CannotUseIPVS string
	// Errors are the messages of the E and F lines, in order, each with its err field
	// when it has one ("command failed: failed validate: ...").
	Errors []string
	// Fatal is why kube-proxy exited, as its log says last: an F line, the "command failed"
	// line component-base's cli.Run logs before exiting, or a bare line the program printed
	// on its way out ("Error: ..." from cobra, "ipvs-proxier: ..." from the reference).
	Fatal string
	// Unparsed counts lines that are neither klog nor JSON (continuation lines, noise).
	Unparsed int
}

// ScanLogs reads a kube-proxy log.
func ScanLogs(log string) Findings {
	var f Findings
	for _, line := range strings.Split(log, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := klog.Parse(line)
		if err != nil {
			f.Unparsed++
			// cobra prints "Error: failed validate: ..." when logging is not set up yet.
			if strings.Contains(line, validationModeText) && f.ValidationFailure == "" {
				f.ValidationFailure = strings.TrimSpace(line)
			}
			for _, prefix := range exitPrefixes {
				if strings.HasPrefix(line, prefix) {
					f.Fatal = strings.TrimSpace(line)
				}
			}
			continue
		}
		f.add(e)
	}
	return f
}

func (f *Findings) add(e klog.Entry) {
	switch e.Message {
	case MsgUsingIPVS:
		f.Mode = "ipvs"
	case msgUsingIPTables:
		f.Mode = "iptables"
	case msgUsingNFTables:
		f.Mode = "nftables"
	case MsgSchedulerDefaulted:
		f.SchedulerDefaulted = true
	}
	lower := strings.ToLower(e.Message)
	if strings.Contains(lower, "ipvs proxier") && strings.Contains(lower, "deprecated") && f.Deprecation == "" {
		f.Deprecation = e.Message
	}
	text := e.Message
	for _, fl := range e.Fields {
		text += " " + fl.Value
	}
	if strings.Contains(text, validationModeText) && f.ValidationFailure == "" {
		f.ValidationFailure = text
	}
	if strings.Contains(text, cannotUseIPVSText) && f.CannotUseIPVS == "" {
		f.CannotUseIPVS = text
	}
	if e.Severity == 'E' || e.Severity == 'F' {
		msg := e.Message
		if v, ok := e.Field("err"); ok {
			msg += ": " + v
		}
		f.Errors = append(f.Errors, msg)
		if e.Severity == 'F' || e.Message == msgCommandFailed {
			f.Fatal = msg
		}
	}
}
