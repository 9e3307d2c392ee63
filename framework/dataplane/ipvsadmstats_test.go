package dataplane

import (
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// The counter listings captured in the lab (testdata/lab/README.md) print back byte for
// byte: the format is canonical, as -Ln's is.
func TestIPVSAdmCountersLabCapturesPrintBack(t *testing.T) {
	for _, c := range []struct {
		file   string
		parse  func(string) (IPVS, error)
		format func(IPVS, bool) string
		header string
		exact  bool
	}{
		{"ipvsadm-Ln-stats.txt", ParseIPVSAdmStats, FormatIPVSAdmStats, IPVSAdmStatsHeader, false},
		{"ipvsadm-Ln-stats-exact.txt", ParseIPVSAdmStats, FormatIPVSAdmStats, IPVSAdmStatsHeader, true},
		{"ipvsadm-Ln-rate.txt", ParseIPVSAdmRate, FormatIPVSAdmRate, IPVSAdmRateHeader, false},
		{"ipvsadm-Ln-rate-exact.txt", ParseIPVSAdmRate, FormatIPVSAdmRate, IPVSAdmRateHeader, true},
		// -t names one service: ipvsadm prints no version line.
		{"ipvsadm-Ln-stats-t-traffic.txt", ParseIPVSAdmStats, FormatIPVSAdmStats, IPVSAdmStatsHeader[strings.Index(IPVSAdmStatsHeader, "\n")+1:], false},
	} {
		t.Run(c.file, func(t *testing.T) {
			text := fixture.Read(t, "lab/"+c.file)
			v := mustParse(t, c.parse, text)
			if got := c.header + c.format(v, c.exact); got != text {
				t.Errorf("printed back otherwise:\n%s\nwant (captured)\n%s", got, text)
			}
		})
	}
}

// The captures hold the table state.sh programs, then traffic.sh's service with the five
// requests it sent: five connections, each some packets each way.
func TestIPVSAdmStatsLabCapture(t *testing.T) {
	v := mustParse(t, ParseIPVSAdmStats, fixture.Read(t, "lab/ipvsadm-Ln-stats-exact.txt"))
	want := labIPVS()
	if len(v.Services) != len(want.Services)+1 {
		t.Fatalf("%d services, want state.sh's %d and traffic.sh's", len(v.Services), len(want.Services))
	}
	for _, w := range want.Services {
		vs, ok := v.Service(w.Key())
		if !ok {
			t.Errorf("%s missing", w.Key())
			continue
		}
		if *vs.Stats != (Stats{}) || len(vs.RealServers) != len(w.RealServers) {
			t.Errorf("%s: stats %+v with %d real servers, want zeros with %d", w.Key(), *vs.Stats, len(vs.RealServers), len(w.RealServers))
		}
	}
	vs, ok := v.Service(ServiceKey{Protocol: TCP, Address: addr("10.96.0.60"), Port: 80})
	if !ok {
		t.Fatal("traffic.sh's TCP 10.96.0.60:80 missing")
	}
	s := vs.Stats
	if s.Conns != 5 || s.InPkts < 5*3 || s.OutPkts < 5*2 || s.InBytes == 0 || s.OutBytes == 0 || s.Rounded {
		t.Errorf("TCP 10.96.0.60:80 stats %+v: want 5 connections, at least 3 packets in and 2 out each, bytes both ways", *s)
	}
	if len(vs.RealServers) != 1 || *vs.RealServers[0].Stats != *s || vs.RealServers[0].Key().String() != "10.244.9.2:8080" {
		t.Errorf("real servers %+v: want 10.244.9.2:8080 alone, with the service's stats", vs.RealServers)
	}
}

// After the requests, -Ln shows the five connections closed and waiting (InActConn).
func TestIPVSAdmListAfterTrafficLabCapture(t *testing.T) {
	text := fixture.Read(t, "lab/ipvsadm-Ln-t-traffic.txt")
	v := mustParse(t, ParseIPVSAdm, text)
	if len(v.Services) != 1 || len(v.Services[0].RealServers) != 1 {
		t.Fatalf("%+v: want TCP 10.96.0.60:80 with one real server", v.Services)
	}
	if rs := v.Services[0].RealServers[0]; rs.ActiveConns != 0 || rs.InactiveConns != 5 {
		t.Errorf("ActiveConn %d, InActConn %d: want 0 and 5", rs.ActiveConns, rs.InactiveConns)
	}
	// -t names one service: ipvsadm prints no version line.
	if got := IPVSAdmHeader[strings.Index(IPVSAdmHeader, "\n")+1:] + FormatIPVSAdm(v, false); got != text {
		t.Errorf("printed back otherwise:\n%s\nwant (captured)\n%s", got, text)
	}
}

func TestParseIPVSAdmCounters(t *testing.T) {
	big := "TCP  10.96.0.1:443                  99999999 123456K   99999M   12345G   18446T\n" +
		"  -> 10.244.0.1:6443                     1        2        3        4        5\n"
	checkReadsAs(t, "short forms", ParseIPVSAdmStats, big, IPVS{Services: []VirtualServer{{
		Protocol: TCP, Family: 4, Address: addr("10.96.0.1"), Port: 443,
		Stats: &Stats{Conns: 99999999, InPkts: 123456000, OutPkts: 99999000000, InBytes: 12345000000000, OutBytes: 18446000000000000, Rounded: true},
		RealServers: []RealServer{{Address: addr("10.244.0.1"), Port: 6443,
			Stats: &Stats{Conns: 1, InPkts: 2, OutPkts: 3, InBytes: 4, OutBytes: 5}}},
	}}})
	rate := "Prot LocalAddress:Port CPS InPPS OutPPS InBPS OutBPS\n  -> RemoteAddress:Port\n" +
		"FWM  200 IPv6 1 2 3 4K 5\n  -> [fd00::5]:0 7 8 9 10 11M\n"
	checkReadsAs(t, "a rate listing", ParseIPVSAdmRate, rate, IPVS{Services: []VirtualServer{{
		FWMark: 200, Family: 6, Rates: &Rates{CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 4000, OutBPS: 5, Rounded: true},
		RealServers: []RealServer{{Address: addr("fd00::5"), Rates: &Rates{CPS: 7, InPPS: 8, OutPPS: 9, InBPS: 10, OutBPS: 11000000, Rounded: true}}},
	}}})
}

// ipvsadm's print_largenum: nine columns below 100 million, else a unit; with --exact the
// whole number, at least one blank before it.
func TestFormatIPVSAdmStatsLargeNumbers(t *testing.T) {
	v := IPVS{Services: []VirtualServer{{Protocol: TCP, Address: addr("10.96.0.1"), Port: 443,
		Stats: &Stats{Conns: 99999999, InPkts: 100000000, OutPkts: 99999999999, InBytes: 99999999999999, OutBytes: 18446744073709551615}}}}
	for _, c := range []struct {
		exact bool
		want  string
	}{
		{false, "TCP  10.96.0.1:443                99999999  100000K   99999M   99999G18446744T\n"},
		{true, "TCP  10.96.0.1:443                99999999 100000000 99999999999 99999999999999 18446744073709551615\n"},
	} {
		if got := FormatIPVSAdmStats(v, c.exact); got != c.want {
			t.Errorf("exact=%v:\n got %q\nwant %q", c.exact, got, c.want)
		}
	}
}

func TestParseIPVSAdmCountersRefuses(t *testing.T) {
	checkBadInput(t, "ipvsadm -Ln --stats", ParseIPVSAdmStats, []badInput{
		{name: "rate title", text: "Prot LocalAddress:Port CPS InPPS OutPPS InBPS OutBPS\n", line: 1, want: "read it with ParseIPVSAdmRate"},
		{name: "-Ln title", text: "Prot LocalAddress:Port Scheduler Flags\n", line: 1, want: "read by ParseIPVSAdm"},
		{name: "-Ln second title line", text: "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n", line: 1, want: "alone on the second title line"},
		{name: "-Ln service", text: "TCP  10.96.0.1:443 rr\n", line: 1, want: "five counters"},
		{name: "-Ln real server", text: "TCP  10.96.0.1:443 1 2 3 4 5\n  -> 10.0.0.1:80 Masq 1 0 0\n", line: 2, want: "found 4 fields"},
		{name: "real server first", text: "  -> 10.0.0.1:80 1 2 3 4 5\n", line: 1, want: "a service line before"},
		{name: "four values", text: "TCP  10.96.0.1:443 1 2 3 4\n", line: 1, want: "found 4 fields"},
		{name: "unknown unit", text: "TCP  10.96.0.1:443 1 2 3 4 5P\n", line: 1, want: `found "5P"`},
		{name: "unit alone", text: "TCP  10.96.0.1:443 1 2 K 4 5\n", line: 1, want: `found "K"`},
		{name: "negative", text: "TCP  10.96.0.1:443 -1 2 3 4 5\n", line: 1, want: `found "-1"`},
		{name: "beyond 2^64", text: "TCP  10.96.0.1:443 1 2 3 4 18446745T\n", line: 1, want: "below 2^64"},
		{name: "twice", text: "TCP  10.96.0.1:443 1 2 3 4 5\nTCP  10.96.0.1:443 1 2 3 4 5\n", line: 2, want: "each service once"},
	})
	checkBadInput(t, "ipvsadm -Ln --rate", ParseIPVSAdmRate, []badInput{
		{name: "stats title", text: "Prot LocalAddress:Port Conns InPkts OutPkts InBytes OutBytes\n", line: 1, want: "read it with ParseIPVSAdmStats"},
		// ipvsadm prints a real server's CPS, InPPS and OutPPS whole ("%8llu").
		{name: "real server rate with a unit", text: "TCP  10.96.0.1:443 1 2 3 4 5\n  -> 10.0.0.1:80 1K 2 3 4 5\n", line: 2, want: `whole number for CPS; found "1K"`},
	})
}

// A counter listing is never read as -Ln: its numbers would be a scheduler named "0".
func TestParseIPVSAdmRefusesCounterListings(t *testing.T) {
	checkBadInput(t, "ipvsadm -Ln", ParseIPVSAdm, []badInput{
		{name: "stats title", text: fixture.Read(t, "lab/ipvsadm-Ln-stats.txt"), line: 2, want: "read it with ParseIPVSAdmStats"},
		{name: "rate title", text: fixture.Read(t, "lab/ipvsadm-Ln-rate.txt"), line: 2, want: "read it with ParseIPVSAdmRate"},
		{name: "stats line without title", text: "TCP  10.96.0.60:80                       5       33       27     2121     2519\n", line: 1, want: `"5", a number: ipvsadm -Ln --stats or --rate output`},
	})
}
