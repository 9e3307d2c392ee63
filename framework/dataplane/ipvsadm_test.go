package dataplane

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// masq is a real server as kube-proxy programs it.
func masq(a string, port uint16, weight, active, inactive int) RealServer {
	return RealServer{Address: addr(a), Port: port, Forward: Masq, Weight: weight, ActiveConns: active, InactiveConns: inactive}
}

func tcpService(a string, port uint16, sched string, rs ...RealServer) VirtualServer {
	return VirtualServer{Protocol: TCP, Family: 4, Address: addr(a), Port: port, Scheduler: sched, RealServers: rs}
}

// The seed's tables, as the tutorial printed them (spacing collapsed, notes appended).
func TestParseIPVSAdmSeed(t *testing.T) {
	tests := []struct {
		file string
		want IPVS
	}{
		{
			// Section 3.3.2: node1 after the switch to ipvs mode, with the title lines.
			file: "seed/ipvsadm-Ln-3.3.2.txt",
			want: IPVS{Services: []VirtualServer{
				tcpService("172.17.0.1", 30001, "rr", masq("10.244.4.29", 8000, 1, 0, 0)),
				tcpService("172.17.0.1", 30443, "rr", masq("10.244.4.8", 8443, 1, 0, 0)),
			}},
		},
		{
			// Section 4.1.3: the NodePort Service's ClusterIP and its pod, no title, notes.
			file: "seed/ipvsadm-Ln-4.1.3.txt",
			want: IPVS{Services: []VirtualServer{
				tcpService("10.106.71.137", 80, "rr", masq("10.244.3.214", 80, 1, 0, 0)),
			}},
		},
		{
			// What upstream kube-proxy programmed in the lab (notes/lab-cluster.md).
			file: "seed/ipvsadm-Ln-lab-cluster.txt",
			want: IPVS{Services: []VirtualServer{
				tcpService("10.0.2.15", 30089, "rr", masq("10.244.3.214", 80, 1, 0, 0)),
				tcpService("10.96.0.1", 443, "rr", masq("10.0.2.2", 6443, 1, 0, 1)),
				tcpService("10.96.100.10", 80, "rr", masq("10.244.3.214", 80, 1, 0, 0)),
				tcpService("10.96.100.11", 8080, "rr", masq("10.244.3.214", 80, 1, 0, 0)),
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got := mustParse(t, ParseIPVSAdm, fixture.Read(t, tc.file))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseIPVSAdm =\n%s\nwant\n%s", FormatIPVSAdm(got, false), FormatIPVSAdm(tc.want, false))
			}
		})
	}
}

// The canonical files are what ipvsadm 1.31 prints, byte for byte: parsing and formatting
// them again must give the same bytes, and they are in ipvsadm's own order.
func TestIPVSAdmGoldenRoundTrip(t *testing.T) {
	for _, name := range fixture.Glob(t, "ipvsadm/Ln-*.txt") {
		if strings.HasSuffix(name, "timeout.txt") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			text := fixture.Read(t, name)
			v := mustParse(t, ParseIPVSAdm, text)
			if got := FormatIPVSAdm(v, true); got != text {
				t.Errorf("FormatIPVSAdm(ParseIPVSAdm(x)) differs from x:\n got:\n%s\nwant:\n%s", got, text)
			}
			sorted := cloneIPVS(v)
			SortIPVSAdm(&sorted)
			if got := FormatIPVSAdm(sorted, true); got != text {
				t.Errorf("SortIPVSAdm changed ipvsadm's order:\n got:\n%s\nwant:\n%s", got, text)
			}
		})
	}
}

func cloneIPVS(v IPVS) IPVS {
	out := IPVS{Timeouts: v.Timeouts}
	for _, vs := range v.Services {
		vs.RealServers = append([]RealServer(nil), vs.RealServers...)
		out.Services = append(out.Services, vs)
	}
	return out
}

// The dual-stack table's captures in the other formats hold what ipvsadm -Ln shows, less
// what each format leaves out, and print back byte for byte.
func TestDualStackCaptures(t *testing.T) {
	tests := []struct {
		file   string
		parse  func(string) (IPVS, error)
		format func(IPVS) string
		// leftOut takes from the -Ln table what the format does not hold.
		leftOut func(vs *VirtualServer)
	}{
		{
			// ipvsadm -Sn has no counters, and writes Local forwarding as -g (read back as Route).
			file: "ipvsadm/Sn-dual-stack.txt", parse: ParseIPVSAdmSave, format: FormatIPVSAdmSave,
			leftOut: func(vs *VirtualServer) {
				for j := range vs.RealServers {
					rs := &vs.RealServers[j]
					rs.ActiveConns, rs.InactiveConns = 0, 0
					if rs.Forward == Local {
						rs.Forward = Route
					}
				}
			},
		},
		{
			// The kernel prints no scheduler flags in /proc/net/ip_vs, nor ops of IPv6
			// address services.
			file: "procipvs/ip_vs-dual-stack.txt", parse: ParseProcIPVS,
			format: func(v IPVS) string { return FormatProcIPVS(v, DebianKernelHZ) },
			leftOut: func(vs *VirtualServer) {
				vs.SchedFlags = 0
				if vs.FWMark == 0 && vs.IsIPv6() {
					vs.OnePacket = false
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			text := fixture.Read(t, tc.file)
			got := mustParse(t, tc.parse, text)
			want := dualStackList(t)
			for i := range want.Services {
				tc.leftOut(&want.Services[i])
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s reads as\n%s\nipvsadm -Ln, less what it leaves out, reads as\n%s", tc.file, FormatIPVSAdm(got, false), FormatIPVSAdm(want, false))
			}
			if out := tc.format(got); out != text {
				t.Errorf("%s does not print back byte for byte:\n%s\nwant\n%s", tc.file, out, text)
			}
		})
	}
}

// Spot checks on the dual-stack golden: every option ipvsadm prints reaches the model.
func TestParseIPVSAdmOptions(t *testing.T) {
	v := dualStackList(t)
	if len(v.Services) != 17 {
		t.Fatalf("got %d services, want 17", len(v.Services))
	}
	want := map[string]VirtualServer{
		"TCP 10.96.100.10:80": {Protocol: TCP, Family: 4, Address: addr("10.96.100.10"), Port: 80, Scheduler: "rr",
			Persistent: true, Timeout: 10800,
			RealServers: []RealServer{masq("10.244.1.5", 80, 1, 0, 0), masq("10.244.2.7", 80, 0, 2, 13)}},
		"TCP 10.96.100.20:80": {Protocol: TCP, Family: 4, Address: addr("10.96.100.20"), Port: 80, Scheduler: "sh",
			SchedFlags: SchedFlag1 | SchedFlag2, RealServers: []RealServer{masq("10.244.1.5", 80, 1, 0, 0)}},
		"TCP 10.96.100.30:8080": {Protocol: TCP, Family: 4, Address: addr("10.96.100.30"), Port: 8080, Scheduler: "mh",
			SchedFlags: SchedFlag2, Persistent: true, Timeout: 10800, RealServers: []RealServer{masq("10.244.1.5", 8080, 1, 0, 0)}},
		"TCP 10.96.100.40:80": {Protocol: TCP, Family: 4, Address: addr("10.96.100.40"), Port: 80, Scheduler: "wlc",
			Persistent: true, Timeout: 300, PrefixLen: 24, RealServers: []RealServer{masq("10.244.2.7", 80, 5, 1234567, 89)}},
		"UDP 10.96.100.50:514": {Protocol: UDP, Family: 4, Address: addr("10.96.100.50"), Port: 514, Scheduler: "rr",
			OnePacket: true, RealServers: []RealServer{masq("10.244.1.6", 514, 1, 0, 0)}},
		"SCTP 10.96.100.60:3868": {Protocol: SCTP, Family: 4, Address: addr("10.96.100.60"), Port: 3868, Scheduler: "rr",
			RealServers: []RealServer{masq("10.244.1.7", 3868, 1, 0, 0)}},
		"TCP [fd00:10:96::2000]:80": {Protocol: TCP, Family: 6, Address: addr("fd00:10:96::2000"), Port: 80, Scheduler: "rr",
			Persistent: true, Timeout: 10800, PrefixLen: 64, RealServers: []RealServer{masq("fd00:10:244:1::5", 80, 1, 0, 0)}},
		"FWM 1": {FWMark: 1, Family: 4, Scheduler: "wlc", RealServers: []RealServer{
			{Address: addr("10.244.1.5"), Port: 80, Forward: Route, Weight: 1},
			{Address: addr("10.244.1.6"), Port: 80, Forward: Tunnel, Weight: 2},
			{Address: addr("127.0.0.1"), Port: 80, Forward: Local, Weight: 1},
		}},
		"FWM 2 IPv6": {FWMark: 2, Family: 6, Scheduler: "rr", RealServers: []RealServer{
			{Address: addr("fd00:10:244:1::5"), Port: 80, Forward: Route, Weight: 1},
		}},
	}
	for key, w := range want {
		got, ok := v.Service(w.Key())
		if !ok {
			t.Errorf("service %s missing", key)
			continue
		}
		if got.Key().String() != key {
			t.Errorf("key %s prints as %q", key, got.Key().String())
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", key, got, w)
		}
	}
}

// FormatIPVSAdm on model values, checked against text written out by hand from
// ipvsadm's printf formats.
func TestFormatIPVSAdm(t *testing.T) {
	v := IPVS{Services: []VirtualServer{
		tcpService("10.96.0.1", 443, "rr", masq("10.0.2.2", 6443, 1, 0, 1)),
		{Protocol: UDP, Family: 6, Address: addr("fd00::a"), Port: 53, Scheduler: "sh", SchedFlags: SchedFlag3 | SchedFlag1,
			Persistent: true, Timeout: 60, PrefixLen: 128, OnePacket: true,
			RealServers: []RealServer{masq("fd00:10:244::1234:5678:9abc", 5353, 100, 7, 65000)}},
		{FWMark: 4294967295, Family: 4, Scheduler: "lblcr", SchedFlags: SchedFlag3},
		{Protocol: TCP, Address: addr("::1.2.3.4"), Port: 1, Scheduler: "rr"},
	}}
	want := IPVSAdmHeader +
		"TCP  10.96.0.1:443 rr\n" +
		"  -> 10.0.2.2:6443                Masq    1      0          1         \n" +
		"UDP  [fd00::a]:53 sh (sh-fallback) persistent 60 ops\n" +
		"  -> [fd00:10:244::1234:5678:9abc]:5353 Masq    100    7          65000     \n" +
		"FWM  -1 lblcr (flag-3)\n" + // ipvsadm's "%d" of the unsigned mark, seen in the kernel lab
		"TCP  [::1.2.3.4]:1 rr\n"
	if got := FormatIPVSAdm(v, true); got != want {
		t.Errorf("FormatIPVSAdm =\n%q\nwant\n%q", got, want)
	}
	if got := FormatIPVSAdm(IPVS{}, false); got != "" {
		t.Errorf("FormatIPVSAdm(empty) = %q, want \"\"", got)
	}
}

// Model values survive printing and reading back.
func TestIPVSAdmModelRoundTrip(t *testing.T) {
	models := []IPVS{
		{},
		{Services: []VirtualServer{tcpService("10.96.0.1", 443, "rr")}},
		{Services: []VirtualServer{
			{Protocol: SCTP, Family: 4, Address: addr("192.168.1.1"), Port: 65535, Scheduler: "wrr", Persistent: true, Timeout: 1, PrefixLen: 1,
				RealServers: []RealServer{masq("1.1.1.1", 0, 0, 0, 0), {Address: addr("2001:db8::1"), Port: 8, Forward: Tunnel, Weight: 65535}}},
			{Protocol: UDP, Family: 6, Address: addr("::ffff:10.0.0.1"), Port: 53, Scheduler: "mh", SchedFlags: SchedFlag1 | SchedFlag2, OnePacket: true},
			{FWMark: 7, Family: 6, Scheduler: "rr", Persistent: true, Timeout: 10800, PrefixLen: 64},
			{FWMark: 8, Family: 4, Scheduler: "dh", Persistent: true, Timeout: 0, PrefixLen: 31},
		}},
	}
	for i, m := range models {
		checkReadsAs(t, fmt.Sprintf("FormatIPVSAdm(model %d)", i), ParseIPVSAdm, FormatIPVSAdm(m, i%2 == 0), m)
	}
}

func TestParseIPVSAdmBadInput(t *testing.T) {
	checkBadInput(t, "ipvsadm -Ln", ParseIPVSAdm, []badInput{
		{name: "real server first", text: "  -> 10.0.0.1:80 Masq 1 0 0\n", line: 1, want: "expected a service line"},
		{name: "unknown protocol", text: "IP Virtual Server version 1.2.1 (size=4096)\nICMP 10.0.0.1:80 rr\n", line: 2, want: `found "ICMP"`},
		{name: "no port", text: "TCP 10.0.0.1 rr\n", line: 1, want: `expected "address:port"`},
		{name: "bad address", text: "TCP 10.0.0.300:80 rr\n", line: 1, want: "expected an IPv4 address"},
		{name: "ipv6 without brackets", text: "TCP fd00::1:80 rr\n", line: 1, want: "IPv6 goes inside [ ]"},
		{name: "port too big", text: "TCP 10.0.0.1:65536 rr\n", line: 1, want: "expected a port number 0-65535"},
		{name: "no scheduler", text: "TCP 10.0.0.1:80\n", line: 1, want: "expected protocol, address:port and scheduler"},
		{name: "unknown option", text: "TCP 10.0.0.1:80 rr sticky\n", line: 1, want: `expected (flags), persistent, mask or ops; found "sticky"`},
		{name: "flag of another scheduler", text: "TCP 10.0.0.1:80 rr (sh-port)\n", line: 1, want: "flag-1, flag-2 or flag-3"},
		{name: "persistent without timeout", text: "TCP 10.0.0.1:80 rr persistent\n", line: 1, want: "expected a timeout"},
		{name: "mask without persistence", text: "TCP 10.0.0.1:80 rr mask 255.0.0.0\n", line: 1, want: "mask only after persistent"},
		{name: "holey mask", text: "TCP 10.0.0.1:80 rr persistent 5 mask 255.0.255.0\n", line: 1, want: "contiguous"},
		{name: "persistence engine", text: "UDP 10.0.0.1:5060 rr persistent 5 pe sip\n", line: 1, want: "persistence engine"},
		{name: "fwmark zero", text: "FWM 0 rr\n", line: 1, want: "firewall mark"},
		{name: "unknown forwarding", text: "TCP 10.0.0.1:80 rr\n  -> 10.0.0.2:80 NAT 1 0 0\n", line: 2, want: `found "NAT"`},
		{name: "negative weight", text: "TCP 10.0.0.1:80 rr\n  -> 10.0.0.2:80 Masq -1 0 0\n", line: 2, want: "expected a weight"},
		{name: "missing counters", text: "TCP 10.0.0.1:80 rr\n  -> 10.0.0.2:80 Masq 1\n", line: 2, want: "found 3 fields"},
		{name: "duplicate service", text: "TCP 10.0.0.1:80 rr\nTCP  10.0.0.1:80 wrr\n", line: 2, want: "expected each service once"},
		{name: "CRLF keeps line numbers", text: "TCP 10.0.0.1:80 rr\r\n\r\nTCP 10.0.0.1:x rr\r\n", line: 3, want: "port number"},
	})
}

func TestSortIPVSAdm(t *testing.T) {
	// Shuffled on purpose; the expected order is ipvsadm's (see SortIPVSAdm).
	v := IPVS{Services: []VirtualServer{
		{FWMark: 2, Family: 4, Scheduler: "rr"},
		{Protocol: UDP, Family: 4, Address: addr("10.96.0.10"), Port: 53, Scheduler: "rr"},
		{Protocol: TCP, Family: 6, Address: addr("fd00::1"), Port: 443, Scheduler: "rr"},
		{Protocol: TCP, Family: 4, Address: addr("10.96.0.10"), Port: 9153, Scheduler: "rr"},
		{Protocol: TCP, Family: 4, Address: addr("10.96.0.10"), Port: 53, Scheduler: "rr"},
		{Protocol: TCP, Family: 4, Address: addr("172.18.0.2"), Port: 30089, Scheduler: "rr",
			RealServers: []RealServer{masq("192.168.0.9", 80, 1, 0, 0), masq("10.244.2.1", 80, 1, 0, 0), masq("10.244.1.1", 81, 1, 0, 0), masq("10.244.1.1", 80, 1, 0, 0)}},
		{FWMark: 1, Family: 6, Scheduler: "rr"},
		{Protocol: SCTP, Family: 4, Address: addr("10.96.0.20"), Port: 1, Scheduler: "rr"},
	}}
	SortIPVSAdm(&v)
	want := []string{
		// 172.18.0.2 - 10.96.0.10 overflows an int: "smaller". 10.x - 192.168.x overflows
		// too, so 192.168.0.9 is the first real server.
		"TCP 172.18.0.2:30089 > 192.168.0.9:80 > 10.244.1.1:80 > 10.244.1.1:81 > 10.244.2.1:80",
		"TCP 10.96.0.10:53",
		"TCP 10.96.0.10:9153",
		"UDP 10.96.0.10:53",
		"SCTP 10.96.0.20:1",
		"TCP [fd00::1]:443",
		"FWM 1 IPv6",
		"FWM 2",
	}
	if got := keyOrder(v); !slices.Equal(got, want) {
		t.Errorf("services and real servers in order\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestParseIPVSAdmTimeouts(t *testing.T) {
	got := mustParse(t, ParseIPVSAdmTimeouts, fixture.Read(t, "ipvsadm/Ln-timeout.txt"))
	if want := (Timeouts{TCP: 900, TCPFin: 120, UDP: 300}); got != want {
		t.Errorf("ParseIPVSAdmTimeouts = %+v, want %+v", got, want)
	}
	if text := FormatIPVSAdmTimeouts(got); text != fixture.Read(t, "ipvsadm/Ln-timeout.txt") {
		t.Errorf("FormatIPVSAdmTimeouts = %q", text)
	}
	for _, tc := range []badInput{
		{name: "empty", text: "", line: 0, want: "found none"},
		{name: "two values", text: "Timeout (tcp tcpfin udp): 900 120\n", line: 1, want: "expected \"Timeout (tcp tcpfin udp): N N N\""},
		{name: "not a number", text: "\nTimeout (tcp tcpfin udp): 900 x 300\n", line: 2, want: `found "x"`},
		{name: "twice", text: "Timeout (tcp tcpfin udp): 1 2 3\nTimeout (tcp tcpfin udp): 1 2 3\n", line: 2, want: "one Timeout line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIPVSAdmTimeouts(tc.text)
			checkParseError(t, err, "ipvsadm -Ln --timeout", tc)
		})
	}
}
