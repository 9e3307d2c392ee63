package seedwalk

import (
	"bytes"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		lang lang.Lang
		step Step
		res  *Result
		want string
	}{{
		name: "host command with heading, note and output",
		step: Step{Heading: lang.T(lang.HeadApply), Typed: "kubectl apply -f manifests/service-ipvs.yml", Note: lang.T(lang.NoteCurlClusterIP)},
		res:  &Result{Output: "pod/nginx-test created\nservice/service-test1 created\n", Elapsed: 1234 * time.Millisecond},
		want: "\n== 4.1.2 apply it\n$ kubectl apply -f manifests/service-ipvs.yml\n  (the Pod answers with its name)\npod/nginx-test created\nservice/service-test1 created\n  [1.2 s]\n",
	}, {
		name: "in Chinese: the seed's heading, the command and its output untouched",
		lang: lang.Chinese,
		step: Step{Heading: lang.T(lang.HeadApply), Typed: "kubectl apply -f manifests/service-ipvs.yml", Note: lang.T(lang.NoteCurlClusterIP)},
		res:  &Result{Output: "pod/nginx-test created\n", ExitCode: 1, Elapsed: 1234 * time.Millisecond},
		want: "\n== 4.1.2 应用资清配置清单\n$ kubectl apply -f manifests/service-ipvs.yml\n  (Pod 以自己的名字作答)\npod/nginx-test created\n  [退出码 1; 1.2 s]\n",
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
		step: Step{Note: lang.T(lang.NoteWaitKubeProxy)},
		res:  &Result{ExitCode: -1, Err: "timed out", Elapsed: 3 * time.Minute},
		want: "  (lab: waiting until the kube-proxy pod is Ready)\n  [lab: timed out; 3m00s]\n",
	}, {
		name: "a note alone",
		step: Step{Heading: lang.T(lang.HeadMethod2), Note: lang.T(lang.NoteIPVSBefore)},
		want: "\n== 3.3.2 method 2: edit the ConfigMap, then delete the kube-proxy pods\n  (only the API server's own Service, `kubernetes`, so far)\n",
	}, {
		name: "hidden",
		step: Step{Typed: "iptables-save -t nat", Hidden: true},
		res:  &Result{Output: "*nat\n"},
		want: "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			l := tt.lang
			if l == "" {
				l = lang.English
			}
			Render(&b, l, tt.step, tt.res)
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
