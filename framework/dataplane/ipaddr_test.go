package dataplane

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// The links of testdata/ipaddr/show.txt and addr.json (a kind-like node with kube-ipvs0).
var wantNodeLinks = []Link{
	{Name: "lo", Index: 1, Kind: "loopback", Up: true, Addrs: []netip.Prefix{prefix("127.0.0.1/8"), prefix("::1/128")}},
	{Name: "eth0", Index: 2, Kind: "ether", Up: true, Addrs: []netip.Prefix{prefix("172.18.0.2/16"), prefix("fc00:f853:ccd:e793::2/64"), prefix("fe80::42:acff:fe12:2/64")}},
	{Name: KubeIPVSInterface, Index: 3, Kind: "ether", Up: false, Addrs: []netip.Prefix{
		prefix("10.96.0.1/32"), prefix("10.96.0.10/32"), prefix("fd00:10:96::1/128"), prefix("fd00:10:96::a/128")}},
	{Name: "veth5d1c2a3b", Index: 4, Kind: "ether", Up: true, Addrs: []netip.Prefix{prefix("10.244.3.1/32")}},
	{Name: "eth1", Index: 5, Kind: "ether", Up: true, Addrs: []netip.Prefix{prefix("10.0.2.15/32")}},
}

// `ip addr` and `ip -j addr` of the same links read as the same links.
func TestParseIPAddr(t *testing.T) {
	kubeIPVS0Detail := []Link{{Name: KubeIPVSInterface, Index: 3, Kind: "dummy", Addrs: []netip.Prefix{prefix("10.96.0.1/32")}}}
	tests := []struct {
		file  string
		parse func(string) ([]Link, error)
		want  []Link
	}{
		{file: "ipaddr/show.txt", parse: ParseIPAddr, want: wantNodeLinks},
		{file: "ipaddr/show-dev-kube-ipvs0.txt", parse: ParseIPAddr, want: wantNodeLinks[2:3]},
		{file: "ipaddr/show-detail-kube-ipvs0.txt", parse: ParseIPAddr, want: kubeIPVS0Detail},
		{file: "ipaddr/addr.json", parse: parseIPAddrJSONText, want: wantNodeLinks},
		{file: "ipaddr/addr-detail-kube-ipvs0.json", parse: parseIPAddrJSONText, want: kubeIPVS0Detail},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got := mustParse(t, tc.parse, fixture.Read(t, tc.file))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s reads as\n%s\nwant\n%s", tc.file, FormatLinks(got), FormatLinks(tc.want))
			}
		})
	}
	st := State{Links: wantNodeLinks}
	if l, ok := st.Link(KubeIPVSInterface); !ok || !l.HasAddr(addr("10.96.0.10")) {
		t.Errorf("kube-ipvs0 does not hold 10.96.0.10: %+v", l)
	}
}

func TestFormatLinks(t *testing.T) {
	links := []Link{
		{Name: KubeIPVSInterface, Index: 5, Kind: "dummy", Addrs: []netip.Prefix{prefix("10.96.0.1/32"), prefix("fd00:10:96::1/128")}},
		{Name: "eth0", Index: 2, Up: true},
	}
	want := "5: kube-ipvs0: <DOWN>\n" +
		"    link/dummy\n" +
		"    inet 10.96.0.1/32\n" +
		"    inet6 fd00:10:96::1/128\n" +
		"2: eth0: <UP>\n"
	if got := FormatLinks(links); got != want {
		t.Errorf("FormatLinks =\n%s\nwant\n%s", got, want)
	}
	for _, m := range [][]Link{nil, links, wantNodeLinks} {
		checkReadsAs(t, "FormatLinks(m)", ParseIPAddr, FormatLinks(m), m)
	}
}

func TestParseIPAddrBadInput(t *testing.T) {
	checkBadInput(t, "ip addr", ParseIPAddr, []badInput{
		{name: "address first", text: "    inet 10.0.0.1/8 scope host lo\n", line: 1, want: "a link line before its details"},
		{name: "not a link line", text: "lo: <UP>\n", line: 1, want: `a link line "N: name: <FLAGS> ..."`},
		{name: "bad address", text: "1: lo: <UP>\n    inet 10.0.0.300/8 scope host\n", line: 2, want: "an IPv4 address"},
		{name: "v6 as inet", text: "1: lo: <UP>\n    inet ::1/128\n", line: 2, want: "an IPv4 address"},
		{name: "bad prefix", text: "1: lo: <UP>\n    inet6 ::1/129\n", line: 2, want: "an IPv6 address"},
		{name: "inet alone", text: "1: lo: <UP>\n    inet\n", line: 2, want: "an address after inet"},
		{name: "duplicate link", text: "1: lo: <UP>\n2: lo: <UP>\n", line: 2, want: "each link once"},
		{name: "long name", text: "1: abcdefghijklmnop: <UP>\n", line: 1, want: "1-15 characters"},
	})
}

func TestParseIPAddrJSONBadInput(t *testing.T) {
	checkBadInput(t, "ip -j addr", parseIPAddrJSONText, []badInput{
		{name: "syntax", text: "[{\"ifname\":\"lo\",\n\"flags\":[}]\n", line: 2, want: "expected ip's JSON array"},
		{name: "not an array", text: `{"ifname":"lo"}`, line: 1, want: "expected ip's JSON array"},
		{name: "wrong type", text: "[\n{\"ifindex\":\"one\"}]", line: 2, want: "expected ip's JSON array"},
		{name: "no name", text: `[{"ifindex":1}]`, want: "link 1: expected an interface name"},
		{name: "bad address", text: `[{"ifname":"lo","addr_info":[{"family":"inet","local":"::1","prefixlen":128}]}]`, want: "link 1: expected an IPv4 address"},
		{name: "no prefixlen", text: `[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1"}]}]`, want: "a prefixlen"},
		{name: "huge index", text: `[{"ifindex":4294967296,"ifname":"lo"}]`, want: "a link index 0-2147483647"},
		{name: "odd kind", text: "[{\"ifname\":\"lo\",\"link_type\":\"a\u00a0b\"}]", want: "a link type"},
		{name: "duplicate", text: `[{"ifname":"lo"},{"ifname":"lo"}]`, want: "link 2: expected each link once"},
	})
	if links, err := ParseIPAddrJSON([]byte(" \n")); err != nil || links != nil {
		t.Errorf("ParseIPAddrJSON(blank) = %v, %v; want no links and no error", links, err)
	}
}
