//go:build e2e

package lab

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/controlplane"
)

// syncPeriod is kube-proxy's default ipvs.syncPeriod, which the lab's configuration keeps:
// the bound on repairing what was changed by hand on the node.
const syncPeriod = 30 * time.Second

// TestFaults injects faults into a lab cluster while requests run from the host through the
// seed's NodePort, and reports each fault's failed requests and time to recover: the API
// server stopped for 60 s, etcd restarted, kube-proxy's pod deleted in the middle of a sync,
// iptables flushed and virtual servers deleted by hand, and the guest's conntrack table full.
// The proxy is IPVS_E2E_K8S_VERSION's kube-proxy, or the reference proxier (the default).
// Like TestLabCluster it needs the upstream release built and `make lab-cluster-binaries`.
func TestFaults(t *testing.T) {
	version := os.Getenv("IPVS_E2E_K8S_VERSION")
	if version == "" {
		version = Reference
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	p, rc := upForTest(ctx, t, cluster.Options{KubernetesVersion: version, HostNodePorts: []int32{fixtures.SeedNodePort}})
	f := newFaultLab(ctx, t, p, rc)
	f.reference = version == Reference

	url := "http://" + f.hostEndpoint + "/"
	tr := startTraffic(ctx, url, 100*time.Millisecond)
	defer tr.stop()
	if _, err := waitUntil(ctx, time.Minute, func() (bool, error) { return tr.okSince(time.Now().Add(-time.Second)) > 0, nil }); err != nil {
		t.Fatalf("no request through %s succeeded before any fault: %v (last error: %s)", url, err, tr.lastError())
	}

	var rows []faultRow
	for _, fault := range []struct {
		name string
		run  func(*faultLab, context.Context) (string, error)
	}{
		{"API server stopped 60 s", (*faultLab).apiServerDown},
		{"etcd restarted", (*faultLab).etcdRestart},
		{"kube-proxy pod deleted mid-sync", (*faultLab).podDeleted},
		{"iptables flushed, virtual servers deleted", (*faultLab).handDamage},
		{"conntrack table full", (*faultLab).conntrackFull},
	} {
		restarts := f.restarts(ctx)
		start := time.Now()
		note, err := fault.run(f, ctx)
		end := time.Now()
		rec, ok := tr.recoveredAfter(ctx, start, time.Minute)
		total, failed, firstErr := tr.between(start, time.Now())
		row := faultRow{name: fault.name, requests: total, failed: failed, took: end.Sub(start), recovered: rec, note: note}
		switch {
		case err != nil:
			t.Errorf("%s: %v", fault.name, err)
		case !ok:
			t.Errorf("%s: traffic did not recover within a minute (last error: %s)", fault.name, tr.lastError())
		}
		if fault.name != "kube-proxy pod deleted mid-sync" && f.restarts(ctx) != restarts {
			t.Errorf("%s: kube-proxy restarted (restart count %d, was %d)", fault.name, f.restarts(ctx), restarts)
		}
		if failed > 0 {
			row.note = strings.TrimPrefix(row.note+"; first failure: "+firstErr, "; ")
		}
		rows = append(rows, row)
	}
	report := faultTable(version, rows)
	t.Log("\n" + report)
	fmt.Print(report)
}

type faultRow struct {
	name             string
	requests, failed int
	took, recovered  time.Duration
	note             string
}

func faultTable(version string, rows []faultRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "faults with kube-proxy %s (requests every 100 ms from the host through NodePort %d):\n", version, fixtures.SeedNodePort)
	fmt.Fprintf(&b, "%-42s %8s %7s %9s %10s  %s\n", "fault", "requests", "failed", "took", "recovered", "notes")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-42s %8d %7d %9s %10s  %s\n", r.name, r.requests, r.failed,
			r.took.Round(100*time.Millisecond), r.recovered.Round(100*time.Millisecond), r.note)
	}
	return b.String()
}

// faultLab is the cluster a fault acts on.
type faultLab struct {
	t            *testing.T
	p            *Provider
	cs           kubernetes.Interface
	node         node.Node
	kp           kubeproxy.Cluster
	seed         *fixtures.Seed
	hostEndpoint string
	reference    bool
}

const faultNamespace = "faults"

func newFaultLab(ctx context.Context, t *testing.T, p *Provider, rc *rest.Config) *faultLab {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(rc)
	r, err := resources.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := p.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: faultNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	seed, err := fixtures.ApplySeed(ctx, r, faultNamespace, "", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := p.HostEndpoint(ctx, fixtures.SeedNodePort)
	if err != nil {
		t.Fatal(err)
	}
	return &faultLab{t: t, p: p, cs: cs, node: nodes[0], seed: seed, hostEndpoint: ep.String(),
		kp: kubeproxy.Cluster{Client: cs, Nodes: nodes, Timeout: 2 * time.Minute, Poll: time.Second}}
}

// seedAddrs are the seed's virtual servers on the node: its ClusterIP and its NodePort.
func (f *faultLab) seedAddrs() []string {
	return []string{f.seed.Service.Spec.ClusterIP + ":80", fmt.Sprintf("10.0.2.15:%d", fixtures.SeedNodePort)}
}

// virtualServers lists the node's TCP virtual servers (ipvsadm -Ln) as address:port.
func (f *faultLab) virtualServers(ctx context.Context) (map[string]bool, error) {
	out, err := node.Output(ctx, f.node, "ipvsadm", "-Ln")
	if err != nil {
		return nil, err
	}
	vs := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if fl := strings.Fields(line); len(fl) >= 2 && fl[0] == "TCP" {
			vs[fl[1]] = true
		}
	}
	return vs, nil
}

func (f *faultLab) haveAll(ctx context.Context, addrs []string) (bool, error) {
	vs, err := f.virtualServers(ctx)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if !vs[a] {
			return false, nil
		}
	}
	return true, nil
}

// restarts is kube-proxy's restart count on the node (-1 when it cannot be read).
func (f *faultLab) restarts(ctx context.Context) int {
	pod, err := kubeproxy.PodOnNode(ctx, f.kp, NodeName)
	if err != nil || len(pod.Status.ContainerStatuses) == 0 {
		return -1
	}
	return int(pod.Status.ContainerStatuses[0].RestartCount)
}

// newService creates a ClusterIP Service in front of the seed's Pod and returns how long the
// node took to program its virtual server.
func (f *faultLab) newService(ctx context.Context, name string, within time.Duration) (time.Duration, error) {
	svc := fixtures.Service(name, faultNamespace, fixtures.SeedAppLabel, corev1.ServiceTypeClusterIP, []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}})
	created, err := f.cs.CoreV1().Services(faultNamespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("create Service %s: %w", name, err)
	}
	d, err := waitUntil(ctx, within, func() (bool, error) { return f.haveAll(ctx, []string{created.Spec.ClusterIP + ":80"}) })
	if err != nil {
		return d, fmt.Errorf("Service %s (%s) not programmed: %w", name, created.Spec.ClusterIP, err)
	}
	return d, nil
}

// apiServerDown stops the API server for 60 s: the rules stay and keep serving, and once it
// is back a new Service is programmed within one sync.
func (f *faultLab) apiServerDown(ctx context.Context) (string, error) {
	outage := make(chan error, 1)
	go func() { outage <- f.p.cp.Restart(ctx, controlplane.KubeAPIServer, 60*time.Second) }()
	time.Sleep(30 * time.Second)
	kept, err := f.haveAll(ctx, f.seedAddrs())
	if err != nil {
		return "", err
	}
	if !kept {
		return "", fmt.Errorf("30 s into the outage the seed's virtual servers %v are gone: the rules were flushed", f.seedAddrs())
	}
	if err := <-outage; err != nil {
		return "", err
	}
	// The reference proxier must catch up within one sync period. Upstream kube-proxy is
	// measured, not judged: its informers wait out client-go's reflector backoff (up to a
	// minute after an outage this long).
	within := syncPeriod
	if !f.reference {
		within = 3 * time.Minute
	}
	d, err := f.newService(ctx, "after-apiserver", within)
	if err != nil {
		return "", err
	}
	note := fmt.Sprintf("rules kept; a new Service programmed %s after the API server returned", d.Round(100*time.Millisecond))
	if f.reference {
		log, err := f.proxyLog(ctx)
		if err != nil {
			return note, err
		}
		if !strings.Contains(log, "Cannot reach the API server") || !strings.Contains(log, "The API server answers again") {
			return note, fmt.Errorf("the proxier's log does not say the API server was unreachable and then back:\n%s", lastLines(log, 30))
		}
		note += "; the proxier logged the outage and the return"
	}
	return note, nil
}

func (f *faultLab) etcdRestart(ctx context.Context) (string, error) {
	if err := f.p.cp.Restart(ctx, controlplane.Etcd, 5*time.Second); err != nil {
		return "", err
	}
	d, err := f.newService(ctx, "after-etcd", syncPeriod)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("down 5 s; a new Service programmed %s after", d.Round(100*time.Millisecond)), nil
}

// podDeleted creates a Service and deletes kube-proxy's pod at once, so the proxy dies
// while it syncs it; its replacement must program the Service and keep the seed's.
func (f *faultLab) podDeleted(ctx context.Context) (string, error) {
	pod, err := kubeproxy.PodOnNode(ctx, f.kp, NodeName)
	if err != nil {
		return "", err
	}
	svc := fixtures.Service("mid-sync", faultNamespace, fixtures.SeedAppLabel, corev1.ServiceTypeClusterIP, []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}})
	created, err := f.cs.CoreV1().Services(faultNamespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	if err := f.cs.CoreV1().Pods(kubeproxy.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		return "", err
	}
	start := time.Now()
	if _, err := kubeproxy.WaitForPods(ctx, f.kp, map[types.UID]bool{pod.UID: true}); err != nil {
		return "", err
	}
	ready := time.Since(start)
	want := append(f.seedAddrs(), created.Spec.ClusterIP+":80")
	d, err := waitUntil(ctx, syncPeriod, func() (bool, error) { return f.haveAll(ctx, want) })
	if err != nil {
		return "", fmt.Errorf("after the new kube-proxy pod was ready: virtual servers %v: %w", want, err)
	}
	return fmt.Sprintf("new pod ready in %s; every virtual server there %s later", ready.Round(100*time.Millisecond), d.Round(100*time.Millisecond)), nil
}

// handDamage flushes the nat table and deletes the seed's virtual servers on the node: the
// next periodic sync must repair both.
func (f *faultLab) handDamage(ctx context.Context) (string, error) {
	cmds := [][]string{{"iptables", "-t", "nat", "-F"}}
	for _, a := range f.seedAddrs() {
		cmds = append(cmds, []string{"ipvsadm", "-D", "-t", a})
	}
	for _, c := range cmds {
		if err := node.Run(ctx, f.node, c[0], c[1:]...); err != nil {
			return "", err
		}
	}
	d, err := waitUntil(ctx, syncPeriod+5*time.Second, func() (bool, error) {
		ok, err := f.haveAll(ctx, f.seedAddrs())
		if !ok || err != nil {
			return ok, err
		}
		out, err := node.Output(ctx, f.node, "iptables", "-t", "nat", "-S", "KUBE-SERVICES")
		return err == nil && strings.Contains(string(out), "KUBE-CLUSTER-IP"), nil
	})
	if err != nil {
		return "", fmt.Errorf("not repaired within one sync period (%s) and 5 s: %w", syncPeriod, err)
	}
	return fmt.Sprintf("virtual servers and nat rules repaired %s later (sync period %s)", d.Round(100*time.Millisecond), syncPeriod), nil
}

// conntrackFull caps the guest's conntrack table just above what it holds for 15 s, then
// restores it.
func (f *faultLab) conntrackFull(ctx context.Context) (string, error) {
	const maxFile = "/proc/sys/net/netfilter/nf_conntrack_max"
	read := func(file string) (int, error) {
		out, err := node.Output(ctx, f.node, "cat", file)
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(string(out)))
	}
	orig, err := read(maxFile)
	if err != nil {
		return "", err
	}
	count, err := read("/proc/sys/net/netfilter/nf_conntrack_count")
	if err != nil {
		return "", err
	}
	capped := count + 5
	if err := node.Run(ctx, f.node, "sh", "-c", fmt.Sprintf("echo %d > %s", capped, maxFile)); err != nil {
		return "", err
	}
	time.Sleep(15 * time.Second)
	if err := node.Run(ctx, f.node, "sh", "-c", fmt.Sprintf("echo %d > %s", orig, maxFile)); err != nil {
		return "", err
	}
	ok, err := f.haveAll(ctx, f.seedAddrs())
	if err != nil || !ok {
		return "", fmt.Errorf("the seed's virtual servers after the full table: present %v, %v", ok, err)
	}
	return fmt.Sprintf("nf_conntrack_max %d (held %d) for 15 s, then %d again", capped, count, orig), nil
}

func (f *faultLab) proxyLog(ctx context.Context) (string, error) {
	pod, err := kubeproxy.PodOnNode(ctx, f.kp, NodeName)
	if err != nil {
		return "", err
	}
	return kubeproxy.ClientLogs{Client: f.cs}.PodLogs(ctx, kubeproxy.Namespace, pod.Name, kubeproxy.ContainerName, false)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitUntil polls cond every 500 ms until it holds, and returns how long that took.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() (bool, error)) (time.Duration, error) {
	start := time.Now()
	var last error
	for {
		ok, err := cond()
		if ok && err == nil {
			return time.Since(start), nil
		}
		if err != nil {
			last = err
		}
		if time.Since(start) > timeout {
			return time.Since(start), fmt.Errorf("not within %s (last error: %v)", timeout, last)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// traffic sends a GET every interval, each on a new connection, and records the outcomes.
type traffic struct {
	mu      sync.Mutex
	samples []sample
	cancel  context.CancelFunc
	done    chan struct{}
}

type sample struct {
	at  time.Time
	err string // "" for a 200
}

func startTraffic(ctx context.Context, url string, interval time.Duration) *traffic {
	ctx, cancel := context.WithCancel(ctx)
	tr := &traffic{cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(tr.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			s := sample{at: time.Now()}
			resp, err := client.Get(url)
			switch {
			case err != nil:
				s.err = err.Error()
			case resp.StatusCode != http.StatusOK:
				s.err = resp.Status
			}
			if resp != nil {
				resp.Body.Close()
			}
			if ctx.Err() != nil {
				return
			}
			tr.mu.Lock()
			tr.samples = append(tr.samples, s)
			tr.mu.Unlock()
		}
	}()
	return tr
}

func (tr *traffic) stop() { tr.cancel(); <-tr.done }

func (tr *traffic) between(a, b time.Time) (total, failed int, firstErr string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, s := range tr.samples {
		if s.at.Before(a) || s.at.After(b) {
			continue
		}
		total++
		if s.err != "" {
			if failed == 0 {
				firstErr = s.err
			}
			failed++
		}
	}
	return total, failed, firstErr
}

func (tr *traffic) okSince(a time.Time) int {
	total, failed, _ := tr.between(a, time.Now())
	return total - failed
}

func (tr *traffic) lastError() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i := len(tr.samples) - 1; i >= 0; i-- {
		if tr.samples[i].err != "" {
			return tr.samples[i].err
		}
	}
	return "none"
}

// recoveredAfter waits until ten requests in a row succeeded after from, and returns how
// long after from the last failure was: 0 when none failed.
func (tr *traffic) recoveredAfter(ctx context.Context, from time.Time, timeout time.Duration) (time.Duration, bool) {
	deadline := time.Now().Add(timeout)
	for {
		var lastFail time.Time
		streak := 0
		tr.mu.Lock()
		for _, s := range tr.samples {
			switch {
			case !s.at.After(from):
			case s.err != "":
				lastFail, streak = s.at, 0
			default:
				streak++
			}
		}
		tr.mu.Unlock()
		if streak >= 10 {
			if lastFail.IsZero() {
				return 0, true
			}
			return lastFail.Sub(from), true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
