package dataplane

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestParseMember(t *testing.T) {
	tests := []struct {
		setType, text string
		want          Member
		str           string // String() when it differs from text
	}{
		{setType: SetHashIP, text: "10.96.0.1", want: Member{IP: addr("10.96.0.1")}},
		{setType: SetHashIP, text: "fd00:10:96::1", want: Member{IP: addr("fd00:10:96::1")}},
		{setType: SetHashIPPort, text: "10.96.0.1,tcp:443", want: Member{IP: addr("10.96.0.1"), Proto: "tcp", Port: 443}},
		{setType: SetHashIPPort, text: "10.96.0.10,udp:53", want: Member{IP: addr("10.96.0.10"), Proto: "udp", Port: 53}},
		{setType: SetHashIPPort, text: "172.18.0.2,sctp:30100", want: Member{IP: addr("172.18.0.2"), Proto: "sctp", Port: 30100}},
		{setType: SetHashIPPort, text: "fd00:10:96::1,tcp:443", want: Member{IP: addr("fd00:10:96::1"), Proto: "tcp", Port: 443}},
		{setType: SetHashIPPortIP, text: "10.244.3.214,tcp:80,10.244.3.214",
			want: Member{IP: addr("10.244.3.214"), Proto: "tcp", Port: 80, IP2: addr("10.244.3.214")}},
		{setType: SetHashIPPortIP, text: "fd00:10:244:1::5,udp:53,fd00:10:244:1::5",
			want: Member{IP: addr("fd00:10:244:1::5"), Proto: "udp", Port: 53, IP2: addr("fd00:10:244:1::5")}},
		{setType: SetHashIPPortNet, text: "10.96.0.1,tcp:443,10.0.0.0/8",
			want: Member{IP: addr("10.96.0.1"), Proto: "tcp", Port: 443, Net: prefix("10.0.0.0/8")}},
		{setType: SetHashIPPortNet, text: "192.168.1.10,tcp:80,203.0.113.7",
			want: Member{IP: addr("192.168.1.10"), Proto: "tcp", Port: 80, Net: prefix("203.0.113.7/32")}},
		{setType: SetHashIPPortNet, text: "fd00::1,tcp:443,2001:db8::/32",
			want: Member{IP: addr("fd00::1"), Proto: "tcp", Port: 443, Net: prefix("2001:db8::/32")}},
		{setType: SetHashIPPortNet, text: "10.96.0.1,tcp:443,10.1.2.3/8", str: "10.96.0.1,tcp:443,10.0.0.0/8",
			want: Member{IP: addr("10.96.0.1"), Proto: "tcp", Port: 443, Net: prefix("10.0.0.0/8")}},
		{setType: SetHashNet, text: "10.244.0.0/16", want: Member{Net: prefix("10.244.0.0/16")}},
		{setType: SetHashNet, text: "10.0.0.1", want: Member{Net: prefix("10.0.0.1/32")}},
		{setType: SetBitmapPort, text: "30089", want: Member{Port: 30089}},
		{setType: SetBitmapPort, text: "0", want: Member{}},
		{setType: "hash:net,iface", text: "10.0.0.0/8,eth0", want: Member{Raw: "10.0.0.0/8,eth0"}},
	}
	for _, tc := range tests {
		t.Run(tc.setType+" "+tc.text, func(t *testing.T) {
			got, err := ParseMember(tc.setType, tc.text)
			if err != nil {
				t.Fatalf("ParseMember: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseMember = %+v, want %+v", got, tc.want)
			}
			str := tc.text
			if tc.str != "" {
				str = tc.str
			}
			if s := got.String(); s != str {
				t.Errorf("String() = %q, want %q", s, str)
			}
		})
	}
}

func TestParseMemberBadInput(t *testing.T) {
	tests := []struct{ setType, text, want string }{
		{SetHashIPPort, "10.96.0.1,443", `expected "proto:port"`},
		{SetHashIPPort, "10.96.0.1,icmp:8", "protocol tcp, udp or sctp"},
		{SetHashIPPort, "10.96.0.1", "expected 2 comma-separated parts"},
		{SetHashIPPort, "10.96.0.1,tcp:70000", "port number 0-65535"},
		{SetHashIPPort, "[fd00::1],tcp:443", "expected an IP address"},
		{SetHashIP, "fe80::1%eth0", "expected an IP address"},
		{SetHashIPPortIP, "10.0.0.1,tcp:80,fd00::1", "one family"},
		{SetHashIPPortNet, "10.0.0.1,tcp:80,fd00::/8", "one family"},
		{SetHashIPPortNet, "10.0.0.1,tcp:80,0.0.0.0/0", "at least 1"},
		{SetHashNet, "10.0.0.0/33", "a network"},
		{SetBitmapPort, "tcp:80", "a port number"},
		{"hash:net,iface", "10.0.0.0/8 eth0", "expected a member"},
	}
	for _, tc := range tests {
		t.Run(tc.setType+" "+tc.text, func(t *testing.T) {
			_, err := ParseMember(tc.setType, tc.text)
			checkParseError(t, err, "ipset member of "+tc.setType, badInput{text: tc.text, want: tc.want})
			if pe := err.(*ParseError); pe.Text != tc.text {
				t.Errorf("Text = %q, want %q", pe.Text, tc.text)
			}
		})
	}
}

// Members sort as `ipset save` lists them: ports numerically, addresses as addresses.
func TestMemberCompare(t *testing.T) {
	for _, tc := range []struct {
		setType     string
		texts, want []string
	}{
		{SetBitmapPort, []string{"30089", "443", "8080"}, []string{"443", "8080", "30089"}},
		{SetHashIPPort, []string{"10.96.0.10,udp:53", "10.96.0.2,tcp:80", "10.96.0.10,tcp:53"},
			[]string{"10.96.0.2,tcp:80", "10.96.0.10,tcp:53", "10.96.0.10,udp:53"}},
		{"hash:net,iface", []string{"10.0.0.0/8,eth1", "10.0.0.0/8,eth0"}, []string{"10.0.0.0/8,eth0", "10.0.0.0/8,eth1"}},
	} {
		ms := MustParseMembers(tc.setType, tc.texts...)
		slices.SortFunc(ms, Member.Compare)
		var got []string
		for _, m := range ms {
			got = append(got, m.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("sorted %s members %q = %q, want %q", tc.setType, tc.texts, got, tc.want)
		}
	}
}

// Typed members survive every form a set is written in: ipset save, ipset list and JSON,
// members of set types kube-proxy does not use included.
func TestIPSetMembersRoundTrip(t *testing.T) {
	sets := []IPSet{
		{Name: "KUBE-LOOP-BACK", Type: SetHashIPPortIP, Family: "inet", Members: MustParseMembers(SetHashIPPortIP, "10.244.3.214,tcp:80,10.244.3.214")},
		{Name: "KUBE-6-LB-SOURCE-CIDR", Type: SetHashIPPortNet, Family: "inet6", Members: MustParseMembers(SetHashIPPortNet, "fd00::1,tcp:443,2001:db8::/32", "fd00::1,tcp:443,2001:db8::7")},
		{Name: "KUBE-NODE-PORT-TCP", Type: SetBitmapPort, PortRange: "0-65535", Members: MustParseMembers(SetBitmapPort, "30089")},
		{Name: "NETS", Type: SetHashNet, Family: "inet", Members: MustParseMembers(SetHashNet, "10.0.0.1", "10.0.0.0/8")},
		{Name: "other", Type: "hash:net,iface", Family: "inet", Members: MustParseMembers("hash:net,iface", "10.0.0.0/8,eth0")},
	}
	if sets[3].Members[0] != (Member{Net: netip.MustParsePrefix("10.0.0.1/32")}) || sets[4].Members[0] != (Member{Raw: "10.0.0.0/8,eth0"}) {
		t.Fatalf("members read as %+v and %+v", sets[3].Members[0], sets[4].Members[0])
	}
	save, err := ParseIPSetSave(FormatIPSetSave(sets))
	if err != nil || !reflect.DeepEqual(save, sets) {
		t.Errorf("ipset save round trip: %v\n%+v\nwant\n%+v", err, save, sets)
	}
	var list strings.Builder
	for _, s := range sets {
		fmt.Fprintf(&list, "Name: %s\nType: %s\nHeader:%s\nMembers:\n", s.Name, s.Type, ipsetHeader(s))
		for _, m := range s.Members {
			list.WriteString(m.String() + "\n")
		}
		list.WriteString("\n")
	}
	if got, err := ParseIPSetList(list.String()); err != nil || !reflect.DeepEqual(got, sets) {
		t.Errorf("ipset list: %v\n%+v\nwant\n%+v", err, got, sets)
	}
	data, err := json.Marshal(sets)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"members":["10.0.0.1","10.0.0.0/8"]`) {
		t.Errorf("JSON does not write members as ipset does: %s", data)
	}
	var back []IPSet
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, sets) {
		t.Errorf("JSON round trip: %v\n%+v\nwant\n%+v", err, back, sets)
	}
	err = json.Unmarshal([]byte(`{"name":"S","type":"hash:ip","members":["10.0.0.300"]}`), new(IPSet))
	wanterr.Check(t, err, "ipset S") // a bad member: the error names the set
}

func TestHasMember(t *testing.T) {
	set := IPSet{Name: "KUBE-CLUSTER-IP", Type: SetHashIPPort, Members: MustParseMembers(SetHashIPPort, "fd00::1,tcp:443")}
	for text, want := range map[string]bool{"fd00::1,tcp:443": true, "fd00:0::1,tcp:443": true, "fd00::1,udp:443": false, "nonsense": false} {
		if got := set.HasMember(text); got != want {
			t.Errorf("HasMember(%q) = %t, want %t", text, got, want)
		}
	}
}
