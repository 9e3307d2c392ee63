//go:build e2e

package swap

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/e2e"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
	referenceproxier "github.com/ipvs-e2e/ipvs-e2e/manifests/reference-proxier"
	"github.com/ipvs-e2e/ipvs-e2e/suites/seedlab"
)

// The processes each proxy runs as, by the executable's name (/proc/PID/comm).
const (
	upstreamProcess  = "kube-proxy"
	referenceProcess = "ipvs-proxier"
)

// referenceMetric is a series only the reference proxier's /metrics has (proxy/metrics.go),
// so the proxy answering on the metrics address (/proxyMode, /metrics) is known.
const referenceMetric = "kubeproxy_ipvs_programmed_objects"

// metricsURL is kube-proxy's default metricsBindAddress, which serves /proxyMode too.
const metricsURL = "http://127.0.0.1:10249/metrics"

// settleFor is how long a node's dataplane must stay unchanged to count as programmed.
const settleFor = 5 * time.Second

var _ = Describe("kube-proxy swapped for the reference proxier and back", Ordered, Label(e2e.LabelSwap, e2e.LabelDisruptive), func() {
	env := func() *e2e.Env { return suite.Env }
	var (
		// original is the DaemonSet before the swap; switching back restores its template.
		original *appsv1.DaemonSet
		// upstream is each node's dataplane as upstream kube-proxy programmed it, without the seed.
		upstream map[string]dataplane.State
	)

	BeforeAll(func(ctx SpecContext) {
		release, err := kubeproxy.DaemonSetRelease(ctx, env().KubeProxy)
		Expect(err).NotTo(HaveOccurred())
		Expect(release.Upstream()).To(BeTrue(), "the swap starts from upstream kube-proxy; the DaemonSet runs %s", release)
	})

	seedlab.Checks("upstream kube-proxy: the seed's section 4", env)

	It("swaps the DaemonSet's image and command for the reference proxier's (manifests/reference-proxier/swap), which takes each node over as it is", func(ctx SpecContext) {
		e := env()
		upstream = settledStates(ctx, e)
		pods, err := kubeproxy.RollOut(ctx, e.KubeProxy, func(ds *appsv1.DaemonSet) (*appsv1.DaemonSet, error) {
			original = ds.DeepCopy()
			return referenceproxier.Swap(ds)
		})
		Expect(err).NotTo(HaveOccurred())
		for _, p := range pods {
			Expect(manifests.IsProxierImage(p.Spec.Containers[0].Image)).To(BeTrue(), "pod %s runs image %s", p.Name, p.Spec.Containers[0].Image)
		}
		expectProxy(ctx, e, referenceProcess, upstreamProcess, true)
		expectTakenOver(ctx, e, upstream)
		recordProxy(ctx, e)
	})

	seedlab.Checks("the reference proxier: the seed's section 4", env)

	It("switches back to upstream kube-proxy (the previous template), which takes each node over with nothing of the reference proxier left", func(ctx SpecContext) {
		e := env()
		Expect(original).NotTo(BeNil(), "the swap did not run")
		_, err := kubeproxy.RollOut(ctx, e.KubeProxy, func(ds *appsv1.DaemonSet) (*appsv1.DaemonSet, error) {
			// `kubectl rollout undo daemonset/kube-proxy`: the previous template.
			ds.Spec.Template = *original.Spec.Template.DeepCopy()
			return ds, nil
		})
		Expect(err).NotTo(HaveOccurred())
		expectProxy(ctx, e, upstreamProcess, referenceProcess, false)
		expectTakenOver(ctx, e, upstream)
		recordProxy(ctx, e)
	})

	seedlab.Checks("upstream kube-proxy again: the seed's section 4", env)
})

// settledStates reads every node's dataplane until no virtual server is left of a Service
// that is gone and two reads settleFor apart agree: a proxy still applying a change (the
// seed's namespace just deleted; upstream's syncs take seconds under load) is no baseline.
func settledStates(ctx context.Context, e *e2e.Env) map[string]dataplane.State {
	GinkgoHelper()
	out := map[string]dataplane.State{}
	for _, n := range e.Nodes {
		var prev dataplane.State
		Eventually(ctx, func(g Gomega) {
			st, err := node.ReadState(ctx, n, e.Read)
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { prev = st }()
			svcs, err := e.Client.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(kubeproxy.OrphanVirtualServers(st, svcs.Items)).To(BeEmpty(), "node %s: virtual servers of no Service", n.Name())
			g.Expect(dataplane.Diff(prev, st)).To(BeEmpty(), "node %s still changing", n.Name())
		}).WithTimeout(e.Wait()).WithPolling(settleFor).Should(Succeed(), "node %s: the dataplane did not settle", n.Name())
		out[n.Name()] = prev
	}
	return out
}

// expectTakenOver waits until every node's dataplane is what the previous proxy left: the
// two proxies program the same state for the same Services, so any difference is what the
// new one failed to adopt or the old one left behind.
func expectTakenOver(ctx context.Context, e *e2e.Env, want map[string]dataplane.State) {
	GinkgoHelper()
	for _, n := range e.Nodes {
		Eventually(ctx, func(g Gomega) {
			st, err := node.ReadState(ctx, n, e.Read)
			g.Expect(err).NotTo(HaveOccurred())
			d := dataplane.Diff(want[n.Name()], st)
			g.Expect(d).To(BeEmpty(), "node %s differs from the state the previous proxy left (- before, + now):\n%s", n.Name(), d)
		}).WithTimeout(e.Wait()).WithPolling(e2e.Poll).Should(Succeed())
		AddReportEntry("takeover "+n.Name(), "the dataplane is the one the previous proxy left")
	}
}

// expectProxy checks on every node that the proxy is the one expected: a process named
// running and none named gone (processes end between the listing and the read, hence
// the ignored errors), and the metrics address
// answering with (reference) or without the reference proxier's own series.
func expectProxy(ctx context.Context, e *e2e.Env, running, gone string, reference bool) {
	GinkgoHelper()
	for _, n := range e.Nodes {
		Eventually(ctx, func(g Gomega) {
			out, err := node.Output(ctx, n, "sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null; true")
			g.Expect(err).NotTo(HaveOccurred())
			names := strings.Fields(string(out))
			g.Expect(names).To(ContainElement(running), "node %s runs no %s process", n.Name(), running)
			g.Expect(names).NotTo(ContainElement(gone), "node %s still runs %s", n.Name(), gone)
			metrics, err := node.Output(ctx, n, "curl", "-sS", "--fail", "--max-time", "3", metricsURL)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(bytes.Contains(metrics, []byte(referenceMetric))).To(Equal(reference),
				"node %s: %s on %s is %v, want %v (is the answering proxy the %s?)", n.Name(), referenceMetric, metricsURL, !reference, reference, running)
			mode, err := kubeproxy.ReadProxyMode(ctx, n)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(mode).To(Equal("ipvs"))
		}).WithTimeout(e.Wait()).WithPolling(e2e.Poll).Should(Succeed())
		AddReportEntry("proxy "+n.Name(), fmt.Sprintf("process %s, %s %s", running, referenceMetric, map[bool]string{true: "served", false: "absent"}[reference]))
	}
}

// recordProxy tells the Env what the DaemonSet runs now, for the deprecation note of the
// checks that follow: the release by its image, the modes from the new pods' logs.
func recordProxy(ctx context.Context, e *e2e.Env) {
	GinkgoHelper()
	release, err := kubeproxy.DaemonSetRelease(ctx, e.KubeProxy)
	Expect(err).NotTo(HaveOccurred())
	modes, err := kubeproxy.VerifyMode(ctx, e.KubeProxy, "ipvs")
	Expect(err).NotTo(HaveOccurred())
	e.KubeProxyRelease, e.Modes = release, modes
	AddReportEntry("kube-proxy DaemonSet", release.String())
}
