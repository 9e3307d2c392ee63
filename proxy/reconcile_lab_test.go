//go:build lab

package proxy

import (
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
)

// reconcileLabServicesEnv sets the Service count of TestReconcilerFullResyncLab (default
// 2,000), e.g. `go run ./cmd/ipvs-e2e lab test --run TestReconcilerFullResyncLab --env
// IPVS_E2E_RECONCILE_SERVICES=10000 ./proxy`.
const reconcileLabServicesEnv = "IPVS_E2E_RECONCILE_SERVICES"

// reconcileLabState is n ClusterIP virtual servers with two real servers each and their
// addresses on kube-ipvs0, the shape the lab measures the proxier with.
func reconcileLabState(n int) *dataplane.State {
	s := &dataplane.State{}
	link := dataplane.Link{Name: dataplane.KubeIPVSInterface}
	for i := range n {
		vip := netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})
		s.IPVS.Services = append(s.IPVS.Services, dataplane.VirtualServer{
			Protocol: dataplane.TCP, Family: 4, Address: vip, Port: 80, Scheduler: "rr",
			RealServers: []dataplane.RealServer{
				{Address: netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)}), Port: 8080, Forward: dataplane.Masq, Weight: 1},
				{Address: netip.AddrFrom4([4]byte{10, 245, byte(i >> 8), byte(i)}), Port: 8080, Forward: dataplane.Masq, Weight: 1},
			},
		})
		link.Addrs = append(link.Addrs, netip.PrefixFrom(vip, 32))
	}
	s.Links = []dataplane.Link{link}
	return s
}

// perServiceReads reads the table as the reconciler did before ipvs.Linux read it in one
// pass: the virtual servers, then one destination dump per virtual server.
type perServiceReads struct{ ipvs.Interface }

func (p perServiceReads) Services() ([]dataplane.VirtualServer, error) {
	vss, err := p.Interface.Services()
	if err != nil {
		return nil, err
	}
	for i := range vss {
		if vss[i].RealServers, err = p.RealServers(vss[i].Key()); err != nil {
			return nil, err
		}
	}
	return vss, nil
}

// TestReconcilerFullResyncLab programs N Services on the lab kernel and then times the
// periodic full resync when nothing changed, with the one-pass table read and with a
// destination dump per virtual server. It checks that such a resync changes nothing and
// that a full resync still repairs changes made behind the reconciler's back. The times
// are logged, not asserted (the TCG guest's speed varies with the host's load).
func TestReconcilerFullResyncLab(t *testing.T) {
	labtest.Require(t)
	n := labServiceCount(t, reconcileLabServicesEnv)
	k, r := newLabReconciler(t)
	desired := reconcileLabState(n)
	const anyChanges = -1
	sync := func(r *Reconciler, what string, wantChanges int) {
		t.Helper()
		start := time.Now()
		st, err := r.Sync(desired, true)
		d := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if wantChanges != anyChanges && st.Changes != wantChanges || st.Programmed.VirtualServers != n || st.Programmed.RealServers != 2*n {
			t.Fatalf("%s: %d changes, programmed %+v; expected %d changes, %d virtual and %d real servers", what, st.Changes, st.Programmed, wantChanges, n, 2*n)
		}
		t.Logf("N=%d %s: %.3fs, %d changes", n, what, d.Seconds(), st.Changes)
	}
	sync(r, "first full sync from an empty kernel", anyChanges)
	read := func(v ipvs.Interface, what string) {
		start := time.Now()
		vss, err := v.Services()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("N=%d %s: %.3fs, %d virtual servers", n, what, time.Since(start).Seconds(), len(vss))
	}
	read(k.IPVS, "ipvs.Linux.Services (one dump, one /proc/net/ip_vs read)")
	read(perServiceReads{k.IPVS}, "one destination dump per virtual server")
	sync(r, "full resync, nothing changed, one-pass read", 0)
	sync(r, "full resync again, nothing changed, one-pass read", 0)

	before := *k
	before.IPVS = perServiceReads{k.IPVS}
	rb, err := NewReconciler(&before, ReconcilerOptions{Family: 4})
	if err != nil {
		t.Fatal(err)
	}
	sync(rb, "full resync, nothing changed, per-service dumps (adopting)", 0)
	sync(rb, "full resync again, nothing changed, per-service dumps", 0)

	// Drift: a weight, a real server and a virtual server changed behind its back.
	vs0, vs1, vs2 := desired.IPVS.Services[0], desired.IPVS.Services[1], desired.IPVS.Services[2]
	drifted := vs0.RealServers[0]
	drifted.Weight = 9
	if err := k.IPVS.UpdateRealServer(vs0.Key(), drifted); err != nil {
		t.Fatal(err)
	}
	if err := k.IPVS.DeleteRealServer(vs1.Key(), vs1.RealServers[1].Key()); err != nil {
		t.Fatal(err)
	}
	if err := k.IPVS.DeleteService(vs2.Key()); err != nil {
		t.Fatal(err)
	}
	sync(r, "full resync repairing drift", anyChanges)
	got, err := k.IPVS.Services()
	if err != nil {
		t.Fatal(err)
	}
	if diff := dataplane.DiffIPVS(desired.IPVS, dataplane.IPVS{Services: got}); len(diff) > 0 {
		t.Errorf("after the repairing resync the kernel's IPVS table differs from the desired one:\n%s", diff)
	}
}

// newLabReconciler returns the lab kernel and an IPv4 reconciler over it; the test's
// cleanup removes what it programmed.
func newLabReconciler(t *testing.T) (*kernel.Kernel, *Reconciler) {
	t.Helper()
	k := labtest.Open(t, kernel.Linux)
	r, err := NewReconciler(k, ReconcilerOptions{Family: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := r.Sync(&dataplane.State{}, true); err != nil {
			t.Errorf("cleanup: sync to an empty state: %v", err)
		}
		// An empty state keeps kube-ipvs0; the next lab test of the guest expects no trace.
		if err := Cleanup(k, CleanupOptions{}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return k, r
}

// labServiceCount is the Service count a lab test measures with: the environment
// variable's, 2,000 when it is unset.
func labServiceCount(t *testing.T, env string) int {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		return 2000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65536 {
		t.Fatalf("%s=%q: expected a Service count 1-65536", env, v)
	}
	return n
}
