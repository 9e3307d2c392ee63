package ipset

import (
	"errors"
	"slices"
	"syscall"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

func TestFakeContract(t *testing.T) {
	testContract(t, func(*testing.T) Interface { return NewFake() })
}

func TestFakeCallsFaultsAndHas(t *testing.T) {
	f := NewFake()
	set := dataplane.IPSet{Name: "KUBE-CLUSTER-IP", Type: dataplane.SetHashIPPort}
	boom := errors.New("injected")
	f.FailNext("Create", boom)
	if err := f.Create(set); !errors.Is(err, boom) {
		t.Fatalf("Create with a fault: %v", err)
	}
	if f.Has(set.Name) {
		t.Fatal("a failed Create made the set")
	}
	if err := f.Create(set); err != nil {
		t.Fatal(err)
	}
	if err := f.Add(set.Name, dataplane.MustParseMembers(set.Type, "10.96.0.1,tcp:443", "10.96.0.10,udp:53")...); err != nil {
		t.Fatal(err)
	}
	if err := f.Del(set.Name, dataplane.MustParseMembers(set.Type, "10.96.0.10,udp:53")...); err != nil {
		t.Fatal(err)
	}
	if err := f.Destroy(set.Name); err != nil {
		t.Fatal(err)
	}
	f.CheckCalls(t,
		"Create KUBE-CLUSTER-IP hash:ip,port",
		"Create KUBE-CLUSTER-IP hash:ip,port",
		"Add KUBE-CLUSTER-IP 10.96.0.1,tcp:443 10.96.0.10,udp:53",
		"Del KUBE-CLUSTER-IP 10.96.0.10,udp:53",
		"Destroy KUBE-CLUSTER-IP",
	)
}

func TestFakeHeaderDefaults(t *testing.T) {
	f := NewFake()
	for _, c := range []struct {
		in   dataplane.IPSet
		want dataplane.IPSet
	}{
		{dataplane.IPSet{Name: "A", Type: "hash:ip"}, dataplane.IPSet{Name: "A", Type: "hash:ip", Family: "inet", HashSize: 1024, MaxElem: 65536}},
		{dataplane.IPSet{Name: "B", Type: "hash:net", Family: "inet6", HashSize: 1000, MaxElem: 10}, dataplane.IPSet{Name: "B", Type: "hash:net", Family: "inet6", HashSize: 1024, MaxElem: 10}},
		{dataplane.IPSet{Name: "C", Type: "hash:ip", HashSize: 3}, dataplane.IPSet{Name: "C", Type: "hash:ip", Family: "inet", HashSize: 64, MaxElem: 65536}},
		{dataplane.IPSet{Name: "D", Type: "bitmap:port", Family: "inet", PortRange: "0-65535", HashSize: 5}, dataplane.IPSet{Name: "D", Type: "bitmap:port", PortRange: "0-65535"}},
	} {
		if err := f.Create(c.in); err != nil {
			t.Fatalf("Create(%+v): %v", c.in, err)
		}
		sets, _ := f.List()
		got, _ := dataplane.State{IPSets: sets}.IPSet(c.in.Name)
		got.Members = nil
		if !headersEqual(got, c.want) {
			t.Errorf("Create(%+v) lists as %+v, expected %+v", c.in, got, c.want)
		}
	}
	for _, bad := range []dataplane.IPSet{
		{Name: "", Type: "hash:ip"},
		{Name: "THIS-NAME-IS-LONGER-THAN-31-CHARS", Type: "hash:ip"},
		{Name: "E", Type: "hash:mac"},
		{Name: "E", Type: "hash:ip", Family: "inet7"},
		{Name: "E", Type: "hash:ip", PortRange: "1-2"},
		{Name: "E", Type: "bitmap:port", PortRange: "2-1"},
	} {
		if err := f.Create(bad); err == nil {
			t.Errorf("Create(%+v) succeeded", bad)
		}
	}
}

func headersEqual(a, b dataplane.IPSet) bool {
	return a.Name == b.Name && a.Type == b.Type && a.Family == b.Family && a.HashSize == b.HashSize &&
		a.MaxElem == b.MaxElem && a.PortRange == b.PortRange && a.Comment == b.Comment
}

func TestFakeFullSet(t *testing.T) {
	f := NewFake()
	if err := f.Create(dataplane.IPSet{Name: "SMALL", Type: "hash:ip", MaxElem: 2}); err != nil {
		t.Fatal(err)
	}
	err := f.Add("SMALL", dataplane.MustParseMembers("hash:ip", "10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3")...)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Add past maxelem: %v, expected ENOSPC", err)
	}
	sets, _ := f.List()
	if got := sets[0].Members; !slices.Equal(got, dataplane.MustParseMembers("hash:ip", "10.0.0.1", "10.0.0.2")) {
		t.Errorf("members %q, expected the two added before the set filled up", got)
	}
}

func TestFakeListIsSorted(t *testing.T) {
	f := NewFake()
	if err := f.Create(dataplane.IPSet{Name: "P", Type: "bitmap:port", PortRange: "0-65535"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Create(dataplane.IPSet{Name: "I", Type: "hash:ip,port"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Add("P", dataplane.MustParseMembers("bitmap:port", "30089", "8080", "443")...); err != nil {
		t.Fatal(err)
	}
	if err := f.Add("I", dataplane.MustParseMembers("hash:ip,port", "10.96.0.10,udp:53", "10.96.0.2,tcp:80", "10.96.0.10,tcp:53")...); err != nil {
		t.Fatal(err)
	}
	sets, _ := f.List()
	if sets[0].Name != "I" || !slices.Equal(sets[0].Members, dataplane.MustParseMembers("hash:ip,port", "10.96.0.2,tcp:80", "10.96.0.10,tcp:53", "10.96.0.10,udp:53")) {
		t.Errorf("first set %+v", sets[0])
	}
	if !slices.Equal(sets[1].Members, dataplane.MustParseMembers("bitmap:port", "443", "8080", "30089")) {
		t.Errorf("bitmap members %q, expected numeric order", sets[1].Members)
	}
}
