package kubeproxy

import (
	"strings"
	"testing"
)

func TestParseLogLine(t *testing.T) {
	for _, tc := range []struct {
		line   string
		want   LogEntry
		fields map[string]string
	}{
		{
			// The seed's line (section 3.3.2), as `kubectl logs` printed it.
			line: `I0323 03:24:40.713799 1 proxier.go:462] "IPVS scheduler not specified, use rr by default"`,
			want: LogEntry{Severity: 'I', Month: 3, Day: 23, Time: "03:24:40.713799", Thread: 1, Source: "proxier.go:462", Message: MsgSchedulerDefaulted},
		},
		{
			line:   `I0929 08:12:51.211467       1 proxier.go:332] "IPVS scheduler not specified, use rr by default" ipFamily="IPv4"`,
			want:   LogEntry{Severity: 'I', Month: 9, Day: 29, Time: "08:12:51.211467", Thread: 1, Source: "proxier.go:332", Message: MsgSchedulerDefaulted},
			fields: map[string]string{"ipFamily": "IPv4"},
		},
		{
			line:   `E0929 09:01:07.449871       1 run.go:72] "command failed" err="failed validate: KubeProxyConfiguration.ProxyMode: Invalid value: \"ipvs\": must be iptables, nftables or blank"`,
			want:   LogEntry{Severity: 'E', Month: 9, Day: 29, Time: "09:01:07.449871", Thread: 1, Source: "run.go:72", Message: "command failed"},
			fields: map[string]string{"err": `failed validate: KubeProxyConfiguration.ProxyMode: Invalid value: "ipvs": must be iptables, nftables or blank`},
		},
		{
			line:   `I0929 08:12:51.115217       1 server.go:228] "Successfully retrieved NodeIPs" NodeIPs=["172.18.0.3","fc00:f853:ccd:e793::3"] n=2`,
			want:   LogEntry{Severity: 'I', Month: 9, Day: 29, Time: "08:12:51.115217", Thread: 1, Source: "server.go:228", Message: "Successfully retrieved NodeIPs"},
			fields: map[string]string{"NodeIPs": `["172.18.0.3","fc00:f853:ccd:e793::3"]`, "n": "2"},
		},
		{
			// Unstructured klog lines keep their text whole.
			line: `I0929 09:01:07.448290       1 flags.go:64] FLAG: --config="/var/lib/kube-proxy/config.conf"`,
			want: LogEntry{Severity: 'I', Month: 9, Day: 29, Time: "09:01:07.448290", Thread: 1, Source: "flags.go:64", Message: `FLAG: --config="/var/lib/kube-proxy/config.conf"`},
		},
		{
			line:   `{"ts":1727597571211.467,"caller":"ipvs/proxier.go:332","msg":"IPVS scheduler not specified, use rr by default","v":0,"ipFamily":"IPv4"}`,
			want:   LogEntry{Severity: 'I', Time: "1727597571211.467", Source: "ipvs/proxier.go:332", Message: MsgSchedulerDefaulted},
			fields: map[string]string{"ipFamily": "IPv4"},
		},
		{
			line: `{"ts":1727597571203.39,"caller":"app/server_linux.go:193","msg":"The ipvs proxier has been deprecated"}`,
			want: LogEntry{Severity: 'E', Time: "1727597571203.39", Source: "app/server_linux.go:193", Message: "The ipvs proxier has been deprecated"},
		},
	} {
		got, err := ParseLogLine(tc.line)
		if err != nil {
			t.Errorf("ParseLogLine(%q): %v", tc.line, err)
			continue
		}
		fields := got.Fields
		got.Fields = nil
		if got.Severity != tc.want.Severity || got.Month != tc.want.Month || got.Day != tc.want.Day || got.Time != tc.want.Time ||
			got.Thread != tc.want.Thread || got.Source != tc.want.Source || got.Message != tc.want.Message {
			t.Errorf("ParseLogLine(%q)\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
		if len(fields) != len(tc.fields) {
			t.Errorf("ParseLogLine(%q) fields = %+v, want %v", tc.line, fields, tc.fields)
		}
		for k, v := range tc.fields {
			got.Fields = fields
			if g, ok := got.Field(k); !ok || g != v {
				t.Errorf("ParseLogLine(%q) field %s = %q, want %q", tc.line, k, g, v)
			}
		}
	}
}

func TestParseLogLineRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"Error: failed validate: something",
		"X0929 08:12:51.211467       1 proxier.go:332] \"x\"",
		"I1329 08:12:51.211467       1 proxier.go:332] \"x\"",
		"I0929 08:12:51.211467       one proxier.go:332] \"x\"",
		"I0929 08:12:51.211467       1 proxier.go \"x\"",
		`{"ts":1,"v":0}`,
		`{"msg":`,
	} {
		if e, err := ParseLogLine(line); err == nil {
			t.Errorf("ParseLogLine(%q) = %+v, want an error", line, e)
		}
	}
}

func TestScanLogs(t *testing.T) {
	for _, tc := range []struct {
		file       string
		mode       string
		defaulted  bool
		deprecated bool
		validation string
		cannotUse  string
		errors     int
	}{
		{file: "kube-proxy-1.37-ipvs.log", mode: "ipvs", defaulted: true, deprecated: true, errors: 1},
		{file: "kube-proxy-1.37-ipvs.json.log", mode: "ipvs", defaulted: true, deprecated: true, errors: 1},
		{file: "kube-proxy-1.34-iptables.log", mode: "iptables"},
		{file: "kube-proxy-1.37-gate-off.log", validation: "must be iptables, nftables or blank", errors: 1},
		{file: "kube-proxy-no-ipvs.log", cannotUse: "ipvs not supported by the kernel", errors: 2},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := ScanLogs(readTestdata(t, tc.file))
			if f.Mode != tc.mode || f.SchedulerDefaulted != tc.defaulted || (f.Deprecation != "") != tc.deprecated || len(f.Errors) != tc.errors {
				t.Errorf("findings = %+v", f)
			}
			if !strings.Contains(f.ValidationFailure, tc.validation) || (tc.validation == "") != (f.ValidationFailure == "") {
				t.Errorf("validation failure = %q, want %q", f.ValidationFailure, tc.validation)
			}
			if !strings.Contains(f.CannotUseIPVS, tc.cannotUse) || (tc.cannotUse == "") != (f.CannotUseIPVS == "") {
				t.Errorf("cannot use IPVS = %q, want %q", f.CannotUseIPVS, tc.cannotUse)
			}
			if f.Unparsed != 0 {
				t.Errorf("%d lines unparsed", f.Unparsed)
			}
		})
	}

	// Before logging is set up, cobra prints the error bare.
	f := ScanLogs("Error: failed validate: KubeProxyConfiguration.ProxyMode: Invalid value: \"ipvs\": must be iptables, nftables or blank (blank means the best-available proxy [currently iptables])\n")
	if f.Unparsed != 1 || !strings.HasPrefix(f.ValidationFailure, "Error: failed validate") {
		t.Errorf("bare cobra error: %+v", f)
	}
}

func FuzzParseLogLine(f *testing.F) {
	for _, file := range []string{"kube-proxy-1.37-ipvs.log", "kube-proxy-1.37-gate-off.log", "kube-proxy-1.34-iptables.log", "kube-proxy-no-ipvs.log", "kube-proxy-1.37-ipvs.json.log"} {
		for _, line := range strings.Split(readTestdata(f, file), "\n") {
			f.Add(line)
		}
	}
	f.Add(`I0323 03:24:40.713799 1 proxier.go:462] "IPVS scheduler not specified, use rr by default"`)
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseLogLine(line)
		if err != nil {
			return
		}
		if !strings.ContainsRune("IWEF", rune(e.Severity)) {
			t.Fatalf("severity %q from %q", e.Severity, line)
		}
		// A line that parses as klog keeps its source; a structured message is a prefix of
		// what the fields and message were read from.
		if !strings.HasPrefix(line, "{") && e.Source == "" {
			t.Fatalf("klog entry without source from %q", line)
		}
		_ = ScanLogs(line)
	})
}
