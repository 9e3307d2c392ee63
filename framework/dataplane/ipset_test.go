package dataplane

import (
	"reflect"
	"regexp"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// Options the kernel picks for itself; the model does not keep them.
var kernelSetOptions = regexp.MustCompile(` bucketsize \d+ initval 0x[0-9a-f]+`)

func TestIPSetSaveGoldenRoundTrip(t *testing.T) {
	for _, name := range []string{"ipset/save-kube-proxy.txt", "ipset/save-old-kernel.txt"} {
		t.Run(name, func(t *testing.T) {
			text := fixture.Read(t, name)
			sets := mustParse(t, ParseIPSetSave, text)
			if got, want := FormatIPSetSave(sets), kernelSetOptions.ReplaceAllString(text, ""); got != want {
				t.Errorf("FormatIPSetSave(ParseIPSetSave(x)) =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestParseIPSetSaveValues(t *testing.T) {
	sets := mustParse(t, ParseIPSetSave, fixture.Read(t, "ipset/save-kube-proxy.txt"))
	if len(sets) != 21 {
		t.Fatalf("got %d sets, want 21", len(sets))
	}
	st := State{IPSets: sets}
	want := []IPSet{
		{Name: "KUBE-CLUSTER-IP", Type: SetHashIPPort, Family: "inet", HashSize: 1024, MaxElem: 65536,
			Members: MustParseMembers(SetHashIPPort, "10.96.0.1,tcp:443", "10.96.100.10,tcp:80", "10.96.100.11,tcp:8080")},
		{Name: "KUBE-NODE-PORT-TCP", Type: SetBitmapPort, PortRange: "0-65535", Members: MustParseMembers(SetBitmapPort, "30089")},
		{Name: "KUBE-LOOP-BACK", Type: SetHashIPPortIP, Family: "inet", HashSize: 1024, MaxElem: 65536,
			Members: MustParseMembers(SetHashIPPortIP, "10.244.3.214,tcp:80,10.244.3.214")},
		{Name: "KUBE-LOAD-BALANCER-SOURCE-CIDR", Type: SetHashIPPortNet, Family: "inet", HashSize: 1024, MaxElem: 65536,
			Members: MustParseMembers(SetHashIPPortNet, "203.0.113.10,tcp:80,198.51.100.0/24", "203.0.113.10,tcp:80,192.0.2.7")},
		{Name: "KUBE-EXTERNAL-IP", Type: SetHashIPPort, Family: "inet", HashSize: 1024, MaxElem: 65536},
		{Name: "KUBE-6-IPVS-IPS", Type: SetHashIP, Family: "inet6", HashSize: 1024, MaxElem: 65536,
			Members: MustParseMembers(SetHashIP, "fd00:10:96::1", "fd00:10:96::a")},
	}
	for _, w := range want {
		got, ok := st.IPSet(w.Name)
		if !ok {
			t.Errorf("set %s missing", w.Name)
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s =\n %+v\nwant\n %+v", w.Name, got, w)
		}
	}
}

// ipset list and ipset save of the same sets give the same model.
func TestParseIPSetList(t *testing.T) {
	list := mustParse(t, ParseIPSetList, fixture.Read(t, "ipset/list-kube-proxy.txt"))
	save := mustParse(t, ParseIPSetSave, fixture.Read(t, "ipset/save-kube-proxy.txt"))
	if !reflect.DeepEqual(list, save) {
		t.Errorf("ipset list gives\n%s\nipset save gives\n%s", FormatIPSetSave(list), FormatIPSetSave(save))
	}
}

func TestParseIPSetSaveOptions(t *testing.T) {
	sets := mustParse(t, ParseIPSetSave, fixture.Read(t, "ipset/save-options.txt"))
	want := []IPSet{
		{Name: "KUBE-CLUSTER-IP", Type: SetHashIPPort, Family: "inet", HashSize: 1024, MaxElem: 65536, Comment: true,
			Members: MustParseMembers(SetHashIPPort, "10.96.0.1,tcp:443", "10.96.0.10,udp:53")},
		{Name: "KUBE-NODE-PORT-TCP", Type: SetBitmapPort, PortRange: "30000-32767", Members: MustParseMembers(SetBitmapPort, "30089")},
		{Name: "blocklist", Type: SetHashNet, Family: "inet6", HashSize: 64, MaxElem: 1024, Members: MustParseMembers(SetHashNet, "2001:db8::/32")},
	}
	if !reflect.DeepEqual(sets, want) {
		t.Errorf("ParseIPSetSave =\n%+v\nwant\n%+v", sets, want)
	}
}

func TestIPSetModelRoundTrip(t *testing.T) {
	m := []IPSet{
		{Name: "KUBE-6-LOAD-BALANCER-SOURCE-CID", Type: SetHashIPPortNet, Family: "inet6", HashSize: 4096, MaxElem: 131072, Comment: true,
			Members: MustParseMembers(SetHashIPPortNet, "fd00::1,tcp:443,2001:db8::/32")},
		{Name: "KUBE-HEALTH-CHECK-NODE-PORT", Type: SetBitmapPort, PortRange: "0-65535"},
		{Name: "other", Type: "hash:net,iface", Family: "inet", Members: MustParseMembers("hash:net,iface", "10.0.0.0/8,eth0")},
	}
	checkReadsAs(t, "FormatIPSetSave(m)", ParseIPSetSave, FormatIPSetSave(m), m)
}

func TestParseIPSetSaveBadInput(t *testing.T) {
	checkBadInput(t, "ipset save", ParseIPSetSave, []badInput{
		{name: "add before create", text: "add KUBE-X 10.0.0.1\n", line: 1, want: "a create line for the set before its members"},
		{name: "bad member", text: "create KUBE-X hash:ip,port family inet\nadd KUBE-X 10.0.0.1,tcp\n", line: 2, want: `expected "proto:port"`},
		{name: "member of wrong family", text: "create S hash:ip,port,ip family inet\nadd S 10.0.0.1,tcp:1,fd00::1\n", line: 2, want: "one family"},
		{name: "unknown option", text: "create S hash:ip frobnicate 1\n", line: 1, want: `found "frobnicate"`},
		{name: "option without value", text: "create S hash:ip family\n", line: 1, want: "a value after family"},
		{name: "bad family", text: "create S hash:ip family ipv4\n", line: 1, want: "family inet or inet6"},
		{name: "zero hashsize", text: "\ncreate S hash:ip hashsize 0\n", line: 2, want: "hashsize as a number"},
		{name: "duplicate set", text: "create S hash:ip\ncreate S hash:ip\n", line: 2, want: "each set created once"},
		{name: "not a command", text: "flush S\n", line: 1, want: `a "create" or "add" line`},
		{name: "long name", text: "create KUBE-THIS-NAME-IS-FAR-TOO-LONG-FOR-IPSET hash:ip\n", line: 1, want: "1-31 characters"},
		{name: "unknown member option", text: "create S hash:ip\nadd S 10.0.0.1 forever\n", line: 2, want: "a member option"},
		{name: "unterminated comment", text: "create S hash:ip comment\nadd S 10.0.0.1 comment \"x\n", line: 2, want: "unterminated"},
	})
}

func TestParseIPSetListBadInput(t *testing.T) {
	checkBadInput(t, "ipset list", ParseIPSetList, []badInput{
		{name: "no name", text: "Type: hash:ip\n", line: 1, want: `"Name:" first`},
		{name: "no type", text: "Name: S\nMembers:\n", line: 2, want: "a Type: line before Members:"},
		{name: "no type at all", text: "Name: S\nHeader: family inet\n", line: 1, want: "a Type: line"},
		{name: "count mismatch", text: "Name: S\nType: hash:ip\nNumber of entries: 2\nMembers:\n10.0.0.1\n", line: 1, want: "2 members"},
		{name: "bad member", text: "Name: S\nType: hash:ip\nMembers:\n10.0.0.300\n", line: 4, want: "an IP address"},
		{name: "unknown field", text: "Name: S\nType: hash:ip\nColour: blue\n", line: 3, want: `found "Colour"`},
		{name: "not a field", text: "Name: S\nhello\n", line: 2, want: `"Field: value"`},
		{name: "bad number", text: "Name: S\nType: hash:ip\nReferences: many\n", line: 3, want: "a number after References:"},
		{name: "listed twice", text: "Name: S\nType: hash:ip\n\nName: S\nType: hash:ip\n", line: 4, want: "each set listed once"},
	})
}
