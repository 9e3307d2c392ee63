package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

func TestHelpListsEveryKubeProxyFlag(t *testing.T) {
	var stderr syncBuffer
	if code := run(context.Background(), []string{"--help"}, &stderr, testEnv(fakeKernel(), nil)); code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	help := stderr.String()
	// proxy/config's TestFlagsCoverKubeProxy checks these are kube-proxy v1.37.2's.
	names := append(config.FlagNames(), "help")
	if len(names) < 50 {
		t.Fatalf("config.FlagNames() = %q: expected kube-proxy's 50 and more", names)
	}
	for _, name := range names {
		if !regexp.MustCompile(`(?m)^\s+(-\w, )?--` + regexp.QuoteMeta(name) + `\b`).MatchString(help) {
			t.Errorf("--help does not list --%s", name)
		}
	}
	// klog's own flags are not kube-proxy's and are not offered.
	for _, name := range []string{"logtostderr", "log_dir", "add_dir_header"} {
		if strings.Contains(help, "--"+name) {
			t.Errorf("--help lists klog's --%s, which kube-proxy does not have", name)
		}
	}
}

func TestRunRefusesFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--write-config-to=/tmp/x"}, "--write-config-to is not supported: this proxier does not write configuration files"},
		{[]string{"--version"}, "--version is not supported"},
		{[]string{"--healthz-port=10256"}, "--healthz-port is not supported: deprecated in kube-proxy; set --healthz-bind-address"},
		{[]string{"--proxy-mode=ipvs", "--log-text-split-stream"}, "logging.options.text.splitStream (--log-text-split-stream): true is not supported"},
		{[]string{"--proxy-mode=ipvs", "--conntrack-min=-5"}, "conntrack.min (--conntrack-min): -5 must be >= 0"},
	} {
		var stderr syncBuffer
		code := run(context.Background(), tt.args, &stderr, testEnv(fakeKernel(), fake.NewClientset()))
		if code != 1 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant exit 1 and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}

// --init-only prepares the kernel and exits; JSON logging writes one object per line, at
// the configured verbosity, the configuration's notices included.
func TestRunInitOnlyWithJSONLogs(t *testing.T) {
	for _, v := range []int{0, 1} {
		k := fakeKernel()
		e := testEnv(k, fake.NewClientset())
		args := []string{"--init-only", "--config", writeConfig(t, "mode: ipvs\nlogging: {format: json}\noomScoreAdj: -100\n"), "-v=" + string(rune('0'+v))}
		var stderr syncBuffer
		if code := run(context.Background(), args, &stderr, e); code != 0 {
			t.Fatalf("-v=%d: exit %d, stderr:\n%s", v, code, stderr.String())
		}
		var msgs []string
		for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			var rec struct{ Level, Msg string }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("-v=%d: a log line is not JSON: %q", v, line)
			}
			msgs = append(msgs, rec.Level+" "+rec.Msg)
		}
		all := strings.Join(msgs, "\n")
		fixture.Contains(t, fmt.Sprintf("-v=%d: logs", v), all, "INFO IPVS scheduler not specified, use rr by default", "INFO Set sysctl", "INFO Setting conntrack hashsize")
		// ensureSysctl logs at V(1).
		if got := strings.Contains(all, "Changed sysctl"); got != (v >= 1) {
			t.Errorf("-v=%d: V(1) lines written: %t\n%s", v, got, all)
		}
		if got, _ := k.Sysctl.Get("net/netfilter/nf_conntrack_tcp_timeout_established"); got != "86400" {
			t.Errorf("-v=%d: nf_conntrack_tcp_timeout_established = %s, want 86400 (--init-only sets the conntrack sysctls)", v, got)
		}
		if got, _ := e.self.Get(oomScoreAdjFile); got != "0" {
			t.Errorf("-v=%d: oom_score_adj = %s after --init-only; kube-proxy applies it only when running", v, got)
		}
	}
}

// Without bindAddressHardFail a taken port does not stop the proxier; with it, it does.
func TestRunBindAddressHardFail(t *testing.T) {
	taken := listenLocal(t)
	base := []string{"--config", writeConfig(t, "mode: ipvs\n"), "--healthz-bind-address", taken.Addr().String(), "--metrics-bind-address", freeAddr(t)}

	var stderr syncBuffer
	if code := run(context.Background(), append(base, "--bind-address-hard-fail"), &stderr, testEnv(fakeKernel(), fake.NewClientset())); code != 1 || !strings.Contains(stderr.String(), "healthz server on "+taken.Addr().String()) {
		t.Errorf("hard fail: exit %d, stderr:\n%s\nwant exit 1 naming the healthz server", code, stderr.String())
	}

	k := fakeKernel()
	e := testEnv(k, fake.NewClientset())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, base, &stderr, e) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, _ := e.self.Get(oomScoreAdjFile); v == "-999" {
			break // past the servers' start: it runs
		}
		select {
		case code := <-done:
			t.Fatalf("soft fail: exited %d, stderr:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("soft fail: the proxier did not get going")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("soft fail: exit %d after a stop, stderr:\n%s", code, stderr.String())
	}
}

func TestServerRetry(t *testing.T) {
	taken := listenLocal(t)
	addr := taken.Addr().String()
	s := &server{name: "healthz", addr: addr, handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { s.retry(ctx, klog.Background(), 20*time.Millisecond); close(stopped) }()
	time.Sleep(100 * time.Millisecond) // a few failed attempts
	taken.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not come up once the port was free: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("retry did not return after its context ended")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the server still listens after its context ended")
	}
}

func TestRestConfig(t *testing.T) {
	kubeconfig := writeTemp(t, "kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: lab, cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: proxy, user: {token: abc}}]
contexts: [{name: lab, context: {cluster: lab, user: proxy}}]
current-context: lab
`, 0o600)
	cc := config.ClientConnection{Kubeconfig: kubeconfig, AcceptContentTypes: "application/json", ContentType: "application/json", QPS: 50, Burst: 100}
	rc, err := restConfig(cc)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != "https://10.0.0.1:6443" || rc.AcceptContentTypes != "application/json" || rc.ContentType != "application/json" || rc.QPS != 50 || rc.Burst != 100 || rc.BearerToken != "abc" {
		t.Errorf("rest config host %q accept %q content %q qps %v burst %d token %q", rc.Host, rc.AcceptContentTypes, rc.ContentType, rc.QPS, rc.Burst, rc.BearerToken)
	}
	cc.Master = "https://10.0.0.2:6443"
	if rc, err := restConfig(cc); err != nil || rc.Host != cc.Master || rc.BearerToken != "abc" {
		t.Errorf("--master: host %q, token %q, err %v; want the master with the kubeconfig's credentials", rc.Host, rc.BearerToken, err)
	}
}

func TestApplyOOMScoreAdj(t *testing.T) {
	self := sysctl.NewFakeWith(map[string]string{oomScoreAdjFile: "0"})
	applyOOMScoreAdj(self, -999, klog.Background())
	if v, _ := self.Get(oomScoreAdjFile); v != "-999" {
		t.Errorf("oom_score_adj = %s, want -999", v)
	}
	// Without the file (or the permission) the start goes on, as kube-proxy's does.
	applyOOMScoreAdj(sysctl.NewFakeWith(nil), -999, klog.Background())
}
