//go:build lab && linux

package ipvs

import (
	"reflect"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

func TestLinuxContract(t *testing.T) {
	labtest.Require(t)
	testContract(t, func(t *testing.T) Interface { return labtest.Open(t, NewLinux) })
}

// TestServiceDumpAgreesWithMoby programs services of every kind in a new network namespace
// and checks that our service dump reads exactly what moby/ipvs's GetServices with
// fromService reads, in the same order.
func TestServiceDumpAgreesWithMoby(t *testing.T) {
	labtest.Require(t)
	l := newLinuxInNetns(t)
	var vss []dataplane.VirtualServer
	for i, sched := range labSchedulers {
		fam := 4 + 2*(i%2)
		proto := []dataplane.Protocol{dataplane.TCP, dataplane.UDP, dataplane.SCTP}[i%3]
		vs := dataplane.VirtualServer{Protocol: proto, Address: vip(fam, 1+i), Port: uint16(80 + i), Scheduler: sched,
			RealServers: []dataplane.RealServer{{Address: rip(fam, 1+i), Port: 8080, Forward: dataplane.Masq, Weight: 1}}}
		switch i % 4 {
		case 1:
			vs.Persistent, vs.Timeout = true, uint32(60*(i+1))
			vs.PrefixLen = map[int]int{4: 24, 6: 64}[fam]
		case 2:
			vs.Persistent, vs.Timeout = true, 10800
		case 3:
			vs.OnePacket = proto == dataplane.UDP
		}
		if sched == "sh" || sched == "mh" {
			vs.SchedFlags = dataplane.SchedFlag1 | dataplane.SchedFlag2
		}
		vss = append(vss, vs)
	}
	vss = append(vss,
		dataplane.VirtualServer{FWMark: 7, Family: 4, Scheduler: "rr"},
		dataplane.VirtualServer{FWMark: 7, Family: 6, Scheduler: "wrr", Persistent: true, Timeout: 300, PrefixLen: 48},
		dataplane.VirtualServer{FWMark: 0x4000, Family: 4, Scheduler: "mh", SchedFlags: dataplane.SchedFlag2, Persistent: true, Timeout: 30, PrefixLen: 16},
		dataplane.VirtualServer{Protocol: dataplane.UDP, Address: vip(4, 200), Port: 53, Scheduler: "rr", OnePacket: true, SchedFlags: dataplane.SchedFlag3},
		dataplane.VirtualServer{Protocol: dataplane.UDP, Address: vip(6, 200), Port: 53, Scheduler: "rr", OnePacket: true},
	)
	if err := l.AddServices(vss); err != nil {
		t.Fatalf("AddServices: %v", err)
	}
	l.readMu.Lock()
	defer l.readMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	got, err := l.dumpServices()
	if err != nil {
		t.Fatalf("dumpServices: %v", err)
	}
	svcs, err := l.h.GetServices()
	if err != nil {
		t.Fatalf("moby/ipvs GetServices: %v", err)
	}
	var want []dataplane.VirtualServer
	for _, s := range svcs {
		vs, err := fromService(s)
		if err != nil {
			t.Fatalf("fromService(%+v): %v", *s, err)
		}
		want = append(want, vs)
	}
	if len(got) != len(vss) {
		t.Errorf("dumped %d services, expected the %d added", len(got), len(vss))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("our dump read\n  %+v\nmoby/ipvs with fromService\n  %+v", got, want)
	}
	// And both read what was programmed.
	for _, vs := range vss {
		n, _ := normalizeService(vs)
		if d, ok := (dataplane.IPVS{Services: got}).Service(vs.Key()); !ok || !d.SameConfig(n) || d.Family != n.Family || d.Timeout != n.Timeout {
			t.Errorf("%s programmed as %+v, dumped as %+v (listed: %v)", vs.Key(), n, d, ok)
		}
	}
}
