package klog

import (
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

const schedulerDefaulted = "IPVS scheduler not specified, use rr by default"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line   string
		want   Entry
		fields map[string]string
	}{
		{
			// The seed's line (section 3.3.2), as `kubectl logs` printed it.
			line: `I0323 03:24:40.713799 1 proxier.go:462] "IPVS scheduler not specified, use rr by default"`,
			want: Entry{Severity: 'I', Month: 3, Day: 23, Time: "03:24:40.713799", Thread: 1, Source: "proxier.go:462", Message: schedulerDefaulted},
		},
		{
			line:   `I0929 08:12:51.211467       1 proxier.go:332] "IPVS scheduler not specified, use rr by default" ipFamily="IPv4"`,
			want:   Entry{Severity: 'I', Month: 9, Day: 29, Time: "08:12:51.211467", Thread: 1, Source: "proxier.go:332", Message: schedulerDefaulted},
			fields: map[string]string{"ipFamily": "IPv4"},
		},
		{
			line:   `E0929 09:01:07.449871       1 run.go:72] "command failed" err="failed validate: KubeProxyConfiguration.ProxyMode: Invalid value: \"ipvs\": must be iptables, nftables or blank"`,
			want:   Entry{Severity: 'E', Month: 9, Day: 29, Time: "09:01:07.449871", Thread: 1, Source: "run.go:72", Message: "command failed"},
			fields: map[string]string{"err": `failed validate: KubeProxyConfiguration.ProxyMode: Invalid value: "ipvs": must be iptables, nftables or blank`},
		},
		{
			line:   `I0929 08:12:51.115217       1 server.go:228] "Successfully retrieved NodeIPs" NodeIPs=["172.18.0.3","fc00:f853:ccd:e793::3"] n=2`,
			want:   Entry{Severity: 'I', Month: 9, Day: 29, Time: "08:12:51.115217", Thread: 1, Source: "server.go:228", Message: "Successfully retrieved NodeIPs"},
			fields: map[string]string{"NodeIPs": `["172.18.0.3","fc00:f853:ccd:e793::3"]`, "n": "2"},
		},
		{
			// Unstructured klog lines keep their text whole.
			line: `I0929 09:01:07.448290       1 flags.go:64] FLAG: --config="/var/lib/kube-proxy/config.conf"`,
			want: Entry{Severity: 'I', Month: 9, Day: 29, Time: "09:01:07.448290", Thread: 1, Source: "flags.go:64", Message: `FLAG: --config="/var/lib/kube-proxy/config.conf"`},
		},
		{
			line:   `{"ts":1727597571211.467,"caller":"ipvs/proxier.go:332","msg":"IPVS scheduler not specified, use rr by default","v":0,"ipFamily":"IPv4"}`,
			want:   Entry{Severity: 'I', Time: "1727597571211.467", Source: "ipvs/proxier.go:332", Message: schedulerDefaulted},
			fields: map[string]string{"ipFamily": "IPv4"},
		},
		{
			line: `{"ts":1727597571203.39,"caller":"app/server_linux.go:193","msg":"The ipvs proxier has been deprecated"}`,
			want: Entry{Severity: 'E', Time: "1727597571203.39", Source: "app/server_linux.go:193", Message: "The ipvs proxier has been deprecated"},
		},
	} {
		got, err := Parse(tc.line)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.line, err)
			continue
		}
		fields := got.Fields
		got.Fields = nil
		if got.Severity != tc.want.Severity || got.Month != tc.want.Month || got.Day != tc.want.Day || got.Time != tc.want.Time ||
			got.Thread != tc.want.Thread || got.Source != tc.want.Source || got.Message != tc.want.Message {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
		if len(fields) != len(tc.fields) {
			t.Errorf("Parse(%q) fields = %+v, want %v", tc.line, fields, tc.fields)
		}
		for k, v := range tc.fields {
			got.Fields = fields
			if g, ok := got.Field(k); !ok || g != v {
				t.Errorf("Parse(%q) field %s = %q, want %q", tc.line, k, g, v)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
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
		if e, err := Parse(line); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", line, e)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range []string{"kube-proxy-1.37-ipvs.log", "kube-proxy-1.37-gate-off.log", "kube-proxy-1.34-iptables.log", "kube-proxy-no-ipvs.log", "kube-proxy-1.37-ipvs.json.log"} {
		// The kube-proxy logs the kubeproxy package's tests scan.
		for _, line := range strings.Split(fixture.ReadRepo(f, "framework/kubeproxy/testdata/"+file), "\n") {
			f.Add(line)
		}
	}
	f.Add(`I0323 03:24:40.713799 1 proxier.go:462] "IPVS scheduler not specified, use rr by default"`)
	f.Fuzz(func(t *testing.T, line string) {
		e, err := Parse(line)
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
	})
}
