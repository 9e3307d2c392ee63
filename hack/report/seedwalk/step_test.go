package seedwalk

import (
	"bytes"
	"testing"
	"time"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		step Step
		res  *Result
		want string
	}{{
		name: "host command with heading, note and output",
		step: Step{Heading: "4.1.2 apply it", Typed: "kubectl apply -f manifests/service-ipvs.yml", Note: "a note"},
		res:  &Result{Output: "pod/nginx-test created\nservice/service-test1 created\n", Elapsed: 1234 * time.Millisecond},
		want: "\n== 4.1.2 apply it\n$ kubectl apply -f manifests/service-ipvs.yml\n  (a note)\npod/nginx-test created\nservice/service-test1 created\n  [1.2 s]\n",
	}, {
		name: "node command whose output lacks a final newline",
		step: Step{Where: Node, Typed: "curl -sS http://127.0.0.1:10249/proxyMode"},
		res:  &Result{Output: "ipvs", Elapsed: 300 * time.Millisecond},
		want: "lab-node# curl -sS http://127.0.0.1:10249/proxyMode\nipvs\n  [0.3 s]\n",
	}, {
		name: "here-document continues after >",
		step: Step{Where: Node, Typed: "cat >> k8s.conf << 'EOF'\nip_vs\nEOF"},
		res:  &Result{Elapsed: 0},
		want: "lab-node# cat >> k8s.conf << 'EOF'\n> ip_vs\n> EOF\n  [0.0 s]\n",
	}, {
		name: "non-zero exit",
		step: Step{Where: Node, Typed: "iptables -t nat -S | grep -E '^-N KUBE-SVC-'"},
		res:  &Result{ExitCode: 1, Elapsed: 2 * time.Second},
		want: "lab-node# iptables -t nat -S | grep -E '^-N KUBE-SVC-'\n  [exit status 1; 2.0 s]\n",
	}, {
		name: "a wait that failed",
		step: Step{Note: "lab: waiting"},
		res:  &Result{ExitCode: -1, Err: "timed out", Elapsed: 3 * time.Minute},
		want: "  (lab: waiting)\n  [lab: timed out; 3m00s]\n",
	}, {
		name: "a note alone",
		step: Step{Heading: "3.3.1", Note: "method 1"},
		want: "\n== 3.3.1\n  (method 1)\n",
	}, {
		name: "hidden",
		step: Step{Typed: "iptables-save -t nat", Hidden: true},
		res:  &Result{Output: "*nat\n"},
		want: "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			Render(&b, tt.step, tt.res)
			if got := b.String(); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestFormatElapsed(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0.0 s",
		49 * time.Millisecond:                 "0.0 s",
		59*time.Second + 940*time.Millisecond: "59.9 s",
		time.Minute:                           "1m00s",
		2*time.Minute + 5400*time.Millisecond: "2m05s",
		15 * time.Minute:                      "15m00s",
	} {
		if got := FormatElapsed(d); got != want {
			t.Errorf("FormatElapsed(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestOutputFile(t *testing.T) {
	for in, want := range map[string]string{
		"ipvsadm":                     "ipvsadm.txt",
		"iptables-save nat":           "iptables-save-nat.txt",
		"curl NodePort from the host": "curl-NodePort-from-the-host.txt",
		"KUBE-NODE-PORT-TCP":          "KUBE-NODE-PORT-TCP.txt",
		"k8s.conf":                    "k8s.conf.txt",
		" --odd//name-- ":             "odd-name.txt",
	} {
		if got := OutputFile(in); got != want {
			t.Errorf("OutputFile(%q) = %q, want %q", in, got, want)
		}
	}
}
