package ipset

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// contractSets are sets of every type kube-proxy creates, IPv4 and IPv6, with members
// written as `ipset save` prints them. Names start with H3- so that the lab run (one kernel
// shared by every test) can tell them apart and remove them.
var contractSets = []dataplane.IPSet{
	{Name: "H3-IPS", Type: dataplane.SetHashIP, Family: "inet", Members: dataplane.MustParseMembers(dataplane.SetHashIP, "10.96.0.1", "10.96.0.10")},
	{Name: "H3-6-IPS", Type: dataplane.SetHashIP, Family: "inet6", Members: dataplane.MustParseMembers(dataplane.SetHashIP, "fd00:10:96::1", "2001:db8::a")},
	{Name: "H3-CLUSTER-IP", Type: dataplane.SetHashIPPort, Family: "inet", Comment: true,
		Members: dataplane.MustParseMembers(dataplane.SetHashIPPort, "10.96.0.1,tcp:443", "10.96.0.10,udp:53", "10.96.0.10,tcp:53", "10.96.0.11,sctp:9000")},
	{Name: "H3-6-CLUSTER-IP", Type: dataplane.SetHashIPPort, Family: "inet6",
		Members: dataplane.MustParseMembers(dataplane.SetHashIPPort, "fd00:10:96::1,tcp:443", "fd00:10:96::a,udp:53")},
	{Name: "H3-LOOP-BACK", Type: dataplane.SetHashIPPortIP, Family: "inet",
		Members: dataplane.MustParseMembers(dataplane.SetHashIPPortIP, "10.244.3.214,tcp:80,10.244.3.214", "10.244.1.5,udp:53,10.244.1.5")},
	{Name: "H3-6-LOOP-BACK", Type: dataplane.SetHashIPPortIP, Family: "inet6",
		Members: dataplane.MustParseMembers(dataplane.SetHashIPPortIP, "fd00:10:244::5,tcp:80,fd00:10:244::5")},
	{Name: "H3-LB-SOURCE-CIDR", Type: dataplane.SetHashIPPortNet, Family: "inet",
		Members: dataplane.MustParseMembers(dataplane.SetHashIPPortNet, "192.0.2.10,tcp:80,10.0.0.0/8", "192.0.2.10,tcp:80,203.0.113.7")},
	{Name: "H3-6-LB-SOURCE-CIDR", Type: dataplane.SetHashIPPortNet, Family: "inet6",
		Members: dataplane.MustParseMembers(dataplane.SetHashIPPortNet, "2001:db8::10,tcp:80,fd00::/8")},
	{Name: "H3-NETS", Type: dataplane.SetHashNet, Family: "inet", Members: dataplane.MustParseMembers(dataplane.SetHashNet, "10.0.0.0/8", "192.0.2.1")},
	{Name: "H3-6-NETS", Type: dataplane.SetHashNet, Family: "inet6", Members: dataplane.MustParseMembers(dataplane.SetHashNet, "fd00::/8")},
	{Name: "H3-NODE-PORT-TCP", Type: dataplane.SetBitmapPort, PortRange: "0-65535", Members: dataplane.MustParseMembers(dataplane.SetBitmapPort, "30089", "30000", "32767")},
	{Name: "H3-NODE-PORT-UDP", Type: dataplane.SetBitmapPort, PortRange: "30000-32767", Comment: true, Members: dataplane.MustParseMembers(dataplane.SetBitmapPort, "30053")},
}

// testContract is what the fake and the kernel's ip sets (through netlink, in the lab or
// in a throwaway netns) must both do. Every set it creates is destroyed again.
func testContract(t *testing.T, newImpl func(t *testing.T) Interface) {
	t.Run("create, add, list, delete, destroy", func(t *testing.T) {
		s := newImpl(t)
		for _, set := range contractSets {
			create(t, s, set)
			// Duplicates in a batch and members already present are not errors.
			batch := append(slices.Clone(set.Members), set.Members[0])
			if err := s.Add(set.Name, batch...); err != nil {
				t.Fatalf("Add(%s, %q): %v", set.Name, batch, err)
			}
			if err := s.Add(set.Name, set.Members[0]); err != nil {
				t.Fatalf("Add(%s) of a present member: %v", set.Name, err)
			}
			got := listed(t, s, set.Name)
			if got.Type != set.Type || got.Family != set.Family || got.Comment != set.Comment || got.PortRange != set.PortRange {
				t.Errorf("%s listed with header %+v, expected type %s family %q comment %v range %q",
					set.Name, header(got), set.Type, set.Family, set.Comment, set.PortRange)
			}
			if set.Type != dataplane.SetBitmapPort && (got.MaxElem != defaultMaxElem || got.HashSize == 0) {
				t.Errorf("%s listed with maxelem %d hashsize %d, expected the kernel's defaults", set.Name, got.MaxElem, got.HashSize)
			}
			expectMembers(t, got, set.Members)

			// Delete one member and one that is absent, in one batch.
			if err := s.Del(set.Name, set.Members[0], set.Members[0]); err != nil {
				t.Fatalf("Del(%s): %v", set.Name, err)
			}
			if err := s.Del(set.Name, set.Members[0]); err != nil {
				t.Fatalf("Del(%s) of an absent member: %v", set.Name, err)
			}
			expectMembers(t, listed(t, s, set.Name), set.Members[1:])
		}
		for _, set := range contractSets {
			if err := s.Destroy(set.Name); err != nil {
				t.Fatalf("Destroy(%s): %v", set.Name, err)
			}
		}
		all, err := s.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range all {
			if len(set.Name) > 3 && set.Name[:3] == "H3-" {
				t.Errorf("set %s still listed after Destroy", set.Name)
			}
		}
	})

	t.Run("create again", func(t *testing.T) {
		s := newImpl(t)
		set := contractSets[2]
		create(t, s, set)
		if err := s.Add(set.Name, set.Members...); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(set); err != nil {
			t.Errorf("Create of an existing set with the same type: %v", err)
		}
		expectMembers(t, listed(t, s, set.Name), set.Members)
		other := set
		other.Type = dataplane.SetHashIP
		if err := s.Create(other); err == nil {
			t.Error("Create of an existing set with another type succeeded")
		}
		other = set
		other.Family = "inet6"
		if err := s.Create(other); err == nil {
			t.Error("Create of an existing set with another family succeeded")
		}
	})

	t.Run("refusals change nothing", func(t *testing.T) {
		s := newImpl(t)
		v4 := contractSets[2]
		bitmap := contractSets[11]
		create(t, s, v4)
		create(t, s, bitmap)
		for _, c := range []struct {
			name    string
			set     string
			members []dataplane.Member
		}{
			{"IPv6 member in an IPv4 set", v4.Name, []dataplane.Member{
				{IP: netip.MustParseAddr("10.96.0.2"), Proto: "tcp", Port: 80}, {IP: netip.MustParseAddr("fd00::1"), Proto: "tcp", Port: 80}}},
			{"member without a port", v4.Name, []dataplane.Member{
				{IP: netip.MustParseAddr("10.96.0.2"), Proto: "tcp", Port: 81}, {IP: netip.MustParseAddr("10.96.0.3")}}},
			{"port outside a bitmap's range", bitmap.Name, []dataplane.Member{{Port: 30001}, {Port: 29999}}},
			{"not a port", bitmap.Name, []dataplane.Member{{IP: netip.MustParseAddr("10.96.0.2"), Proto: "tcp", Port: 80}}},
			{"not in the form ParseMember reads", v4.Name, []dataplane.Member{{IP: netip.MustParseAddr("10.96.0.2"), Proto: "TCP", Port: 80}}},
		} {
			if err := s.Add(c.set, c.members...); err == nil {
				t.Errorf("%s: Add(%s, %q) succeeded", c.name, c.set, c.members)
			}
		}
		expectMembers(t, listed(t, s, v4.Name), nil)
		expectMembers(t, listed(t, s, bitmap.Name), nil)
		if err := s.Add("H3-MISSING", dataplane.Member{IP: netip.MustParseAddr("10.0.0.1")}); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("Add to a missing set: %v, expected ENOENT", err)
		}
		if err := s.Destroy("H3-MISSING"); err != nil {
			t.Errorf("Destroy of a missing set: %v", err)
		}
		if err := s.Create(dataplane.IPSet{Name: "H3-NO-RANGE", Type: dataplane.SetBitmapPort}); err == nil {
			t.Error("Create of a bitmap:port set without a range succeeded")
			_ = s.Destroy("H3-NO-RANGE")
		}
	})

	t.Run("canonical members", func(t *testing.T) {
		s := newImpl(t)
		nets := contractSets[8]
		create(t, s, nets)
		// ipset stores networks masked and host networks without their prefix length.
		if err := s.Add(nets.Name, dataplane.MustParseMembers(nets.Type, "10.1.2.3/16", "192.0.2.1/32")...); err != nil {
			t.Fatal(err)
		}
		listedNets := listed(t, s, nets.Name)
		expectMembers(t, listedNets, dataplane.MustParseMembers(nets.Type, "10.1.0.0/16", "192.0.2.1"))
		if got := dataplane.FormatIPSetSave([]dataplane.IPSet{listedNets}); !strings.Contains(got, "add H3-NETS 10.1.0.0/16\n") || !strings.Contains(got, "add H3-NETS 192.0.2.1\n") {
			t.Errorf("listed as:\n%s", got)
		}
		if err := s.Del(nets.Name, dataplane.MustParseMembers(nets.Type, "10.1.0.0/16")...); err != nil {
			t.Fatal(err)
		}
		expectMembers(t, listed(t, s, nets.Name), dataplane.MustParseMembers(nets.Type, "192.0.2.1"))
	})
}

func create(t *testing.T, s Interface, set dataplane.IPSet) {
	t.Helper()
	if err := s.Create(set); err != nil {
		t.Fatalf("Create(%s %s): %v", set.Name, set.Type, err)
	}
	t.Cleanup(func() {
		if err := s.Destroy(set.Name); err != nil {
			t.Errorf("cleanup: Destroy(%s): %v", set.Name, err)
		}
	})
}

func listed(t *testing.T, s Interface, name string) dataplane.IPSet {
	t.Helper()
	sets, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	set, ok := dataplane.State{IPSets: sets}.IPSet(name)
	if !ok {
		t.Fatalf("set %s not listed", name)
	}
	return set
}

func header(set dataplane.IPSet) dataplane.IPSet {
	set.Members = nil
	return set
}

func expectMembers(t *testing.T, set dataplane.IPSet, want []dataplane.Member) {
	t.Helper()
	got := slices.Clone(set.Members)
	want = slices.Clone(want)
	slices.SortFunc(got, dataplane.Member.Compare)
	slices.SortFunc(want, dataplane.Member.Compare)
	if !slices.Equal(got, want) {
		t.Errorf("set %s holds %q, expected %q", set.Name, got, want)
	}
}
