package controlplane_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/controlplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
)

// Environment of the end-to-end test.
const (
	// versionEnv picks the release; default defaultVersion.
	versionEnv     = "IPVS_E2E_UPSTREAM_VERSION"
	defaultVersion = "v1.37.2"
	// buildEnv=1 builds missing binaries (minutes when cold) instead of skipping.
	buildEnv = "IPVS_E2E_UPSTREAM_BUILD"
)

// upstreamBinaries finds the release's binaries in the cache. Missing binaries skip the
// test, saying so and how to run it, unless buildEnv asks to build them.
func upstreamBinaries(t *testing.T) upstream.Paths {
	t.Helper()
	version := os.Getenv(versionEnv)
	if version == "" {
		version = defaultVersion
	}
	opts := upstream.Options{
		Version:    version,
		Components: []string{upstream.Etcd, upstream.KubeAPIServer, upstream.KubeControllerManager, upstream.Kubectl},
	}
	if os.Getenv(buildEnv) == "1" {
		start := time.Now()
		p, err := upstream.Build(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("binaries ready in %s", time.Since(start).Round(time.Second))
		return p
	}
	p, err := upstream.Lookup(context.Background(), opts)
	var nb *upstream.NotBuiltError
	if errors.As(err, &nb) {
		t.Skipf("NOT RUN: this test needs a real control plane: %v, or set %s=1 to build them here (cold: ~7 min on 2 idle cores)", err, buildEnv)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestControlPlane runs the release's etcd, kube-apiserver and kube-controller-manager on
// 127.0.0.1, creates a Node, a Service and a Pod with kubectl, marks the Pod ready as a
// kubelet would, waits for the endpointslice controller to publish it, and stops
// everything by cancelling the context, as Ctrl-C does.
func TestControlPlane(t *testing.T) {
	bins := upstreamBinaries(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	start := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Binaries: controlplane.UpstreamBinaries(bins),
		// Logs, PKI and kubeconfigs stay after `go test -artifacts`.
		RunDir: t.ArtifactDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Stop() })
	t.Logf("control plane %s up in %s", bins.Release, time.Since(start).Round(10*time.Millisecond))
	procs := cp.Processes()

	t.Run("listens on 127.0.0.1 only", func(t *testing.T) {
		want := map[string][]int{controlplane.Etcd: {2379, 2380}, controlplane.KubeAPIServer: {6443}, controlplane.KubeControllerManager: {10257}}
		for _, p := range procs {
			addrs, err := controlplane.Listeners(p.PID)
			if err != nil {
				t.Fatal(err)
			}
			var ports []int
			for _, a := range addrs {
				if !a.Addr().IsLoopback() {
					t.Errorf("%s (pid %d) listens on %s", p.Name, p.PID, a)
				}
				ports = append(ports, int(a.Port()))
			}
			for _, port := range want[p.Name] {
				if !slices.Contains(ports, port) {
					t.Errorf("%s (pid %d) listens on %v, not on 127.0.0.1:%d", p.Name, p.PID, addrs, port)
				}
			}
			t.Logf("%s pid %d listens on %v", p.Name, p.PID, addrs)
		}
		if out, err := exec.Command("ss", "-ltnp").Output(); err == nil {
			t.Logf("ss -ltnp:\n%s", ssLinesOf(string(out), procs))
		}
	})

	kubectl := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bins.Binary(upstream.Kubectl), append([]string{"--kubeconfig", cp.AdminKubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	cs, err := cp.Clientset()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("versions are stamped", func(t *testing.T) {
		var v struct {
			ClientVersion, ServerVersion struct{ GitVersion, Major, Minor string }
		}
		if err := json.Unmarshal([]byte(kubectl(t, "", "version", "-o", "json")), &v); err != nil {
			t.Fatal(err)
		}
		want := bins.Release.String()
		if v.ClientVersion.GitVersion != want || v.ServerVersion.GitVersion != want || v.ServerVersion.Minor != strconv.Itoa(bins.Release.Minor) {
			t.Errorf("kubectl version: client %+v, server %+v; want %s", v.ClientVersion, v.ServerVersion, want)
		}
	})

	t.Run("kubernetes Service points at the advertised address", func(t *testing.T) {
		eps := waitSlices(t, cs, "kubernetes", func(s []discoveryv1.EndpointSlice) error {
			if len(s) != 1 || len(s[0].Endpoints) != 1 || !slices.Equal(s[0].Endpoints[0].Addresses, []string{"10.0.2.2"}) ||
				len(s[0].Ports) != 1 || *s[0].Ports[0].Port != 6443 {
				return fmt.Errorf("want one endpoint 10.0.2.2:6443")
			}
			return nil
		})
		t.Logf("kubernetes: %s", describeSlices(eps))
	})

	var podCIDR netip.Prefix
	t.Run("node gets a podCIDR", func(t *testing.T) {
		kubectl(t, nodeYAML, "apply", "-f", "-")
		deadline := time.Now().Add(30 * time.Second)
		for {
			n, err := cs.CoreV1().Nodes().Get(ctx, "lab-node", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n.Spec.PodCIDR != "" {
				podCIDR, err = netip.ParsePrefix(n.Spec.PodCIDR)
				if err != nil || !controlplane.DefaultClusterCIDR.Contains(podCIDR.Addr()) {
					t.Fatalf("node podCIDR %q (%v), want a /24 of %s", n.Spec.PodCIDR, err, controlplane.DefaultClusterCIDR)
				}
				t.Logf("lab-node podCIDR %s after %s", podCIDR, time.Since(deadline.Add(-30*time.Second)).Round(10*time.Millisecond))
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the node-ipam controller gave lab-node no podCIDR in 30s")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	if !podCIDR.IsValid() {
		t.FailNow()
	}

	t.Run("endpointslice controller publishes the ready Pod", func(t *testing.T) {
		kubectl(t, serviceAndPodYAML, "apply", "-f", "-")
		// No kubelet: the Pod has no IP yet, so the Service's slice has no endpoint.
		waitSlices(t, cs, "web", func(s []discoveryv1.EndpointSlice) error {
			if len(s) != 1 || len(s[0].Endpoints) != 0 {
				return fmt.Errorf("want one slice without endpoints")
			}
			return nil
		})

		podIP := podCIDR.Addr().Next().Next().Next().Next().Next() // .5 of the node's range
		patched := time.Now()
		kubectl(t, "", "patch", "pod", "web-0", "--subresource=status", "--type=merge", "-p", podStatus(podIP, true))
		eps := waitSlices(t, cs, "web", func(s []discoveryv1.EndpointSlice) error {
			if len(s) != 1 || len(s[0].Endpoints) != 1 {
				return fmt.Errorf("want one slice with one endpoint")
			}
			e := s[0].Endpoints[0]
			switch {
			case !slices.Equal(e.Addresses, []string{podIP.String()}):
				return fmt.Errorf("want address %s", podIP)
			case e.Conditions.Ready == nil || !*e.Conditions.Ready:
				return fmt.Errorf("want the endpoint ready")
			case e.NodeName == nil || *e.NodeName != "lab-node":
				return fmt.Errorf("want nodeName lab-node")
			case len(s[0].Ports) != 1 || *s[0].Ports[0].Port != 8080:
				return fmt.Errorf("want port 8080")
			case s[0].Annotations["endpoints.kubernetes.io/last-change-trigger-time"] == "":
				return fmt.Errorf("want the last-change-trigger-time annotation kube-proxy's latency metric needs")
			}
			return nil
		})
		t.Logf("web after the ready patch (%s): %s", time.Since(patched).Round(10*time.Millisecond), describeSlices(eps))

		kubectl(t, "", "patch", "pod", "web-0", "--subresource=status", "--type=merge", "-p", podStatus(podIP, false))
		waitSlices(t, cs, "web", func(s []discoveryv1.EndpointSlice) error {
			if len(s) != 1 || len(s[0].Endpoints) != 1 || s[0].Endpoints[0].Conditions.Ready == nil || *s[0].Endpoints[0].Conditions.Ready {
				return fmt.Errorf("want the endpoint not ready")
			}
			return nil
		})
	})

	t.Run("a restarted component comes back with its data", func(t *testing.T) {
		for _, name := range []string{controlplane.KubeAPIServer, controlplane.Etcd} {
			if err := cp.Restart(ctx, name, time.Second); err != nil {
				t.Fatal(err)
			}
			select {
			case <-cp.Done():
				t.Fatalf("the control plane ended after restarting %s: %v", name, cp.Err())
			default:
			}
			// The API server may need a moment to reconnect to a restarted etcd.
			deadline := time.Now().Add(30 * time.Second)
			for {
				_, err := cs.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Service web after restarting %s: %v", name, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		if err := cp.Restart(ctx, "kubelet", 0); err == nil || !strings.Contains(err.Error(), "expected one of") {
			t.Errorf("Restart(kubelet) = %v; expected an error naming the components", err)
		}
		procs = cp.Processes()
	})

	t.Run("context cancel stops everything", func(t *testing.T) {
		stopStart := time.Now()
		cancel()
		select {
		case <-cp.Done():
		case <-time.After(time.Minute):
			t.Fatal("control plane still running 1m after its context was cancelled")
		}
		if err := cp.Err(); err != nil {
			t.Errorf("Err after a cancel = %v, want nil", err)
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("Stop after the cancel: %v", err)
		}
		t.Logf("stopped in %s", time.Since(stopStart).Round(10*time.Millisecond))
		for _, p := range procs {
			if err := syscall.Kill(p.PID, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("%s (pid %d) still exists: kill -0 = %v", p.Name, p.PID, err)
			}
		}
		for _, port := range []int{2379, 2380, 6443, 10257} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Errorf("port %d not free after stop: %v", port, err)
				continue
			}
			l.Close()
		}
	})
}

func waitSlices(t *testing.T, cs kubernetes.Interface, service string, ok func([]discoveryv1.EndpointSlice) error) []discoveryv1.EndpointSlice {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := cs.DiscoveryV1().EndpointSlices("default").List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
		if err != nil {
			t.Fatal(err)
		}
		last := ok(list.Items)
		if last == nil {
			return list.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("EndpointSlices of %s after 30s: %s; %v", service, describeSlices(list.Items), last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func describeSlices(s []discoveryv1.EndpointSlice) string {
	var parts []string
	for _, sl := range s {
		var eps []string
		for _, e := range sl.Endpoints {
			ready := e.Conditions.Ready != nil && *e.Conditions.Ready
			eps = append(eps, fmt.Sprintf("%v ready=%v", e.Addresses, ready))
		}
		var ports []string
		for _, p := range sl.Ports {
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		}
		parts = append(parts, fmt.Sprintf("%s ports %v endpoints %v", sl.Name, ports, eps))
	}
	return fmt.Sprintf("%d slice(s) %s", len(s), strings.Join(parts, "; "))
}

// podStatus is the status patch a kubelet would make once the Pod's container runs. The
// Ready condition's lastTransitionTime is what the endpointslice controller copies into the
// last-change-trigger-time annotation; without it kube-proxy has no latency to measure.
func podStatus(ip netip.Addr, ready bool) string {
	cond := "False"
	if ready {
		cond = "True"
	}
	now := time.Now().UTC().Format(time.RFC3339)
	return fmt.Sprintf(`{"status":{"phase":"Running","podIP":%q,"podIPs":[{"ip":%q}],"conditions":[`+
		`{"type":"Ready","status":%q,"lastTransitionTime":%q},{"type":"ContainersReady","status":%q,"lastTransitionTime":%q}]}}`,
		ip, ip, cond, now, cond, now)
}

// ssLinesOf keeps the ss lines of the control plane's processes.
func ssLinesOf(out string, procs []controlplane.Process) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		for _, p := range procs {
			if strings.Contains(line, fmt.Sprintf("pid=%d,", p.PID)) {
				keep = append(keep, line)
				break
			}
		}
	}
	return strings.Join(keep, "\n")
}

const nodeYAML = `apiVersion: v1
kind: Node
metadata:
  name: lab-node
  labels: {kubernetes.io/hostname: lab-node, kubernetes.io/os: linux}
`

const serviceAndPodYAML = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.100.10
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: default, labels: {app: web}}
spec:
  nodeName: lab-node
  containers:
  - name: web
    image: registry.k8s.io/pause:3.10
    ports: [{containerPort: 8080, name: http}]
`
