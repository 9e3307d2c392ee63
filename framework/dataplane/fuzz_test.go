package dataplane

import (
	"reflect"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// Each parser reads text we do not control. The corpora are seeded with testdata, the
// kernel lab's captures (testdata/lab) among it. The fuzz targets check that no input makes a
// parser panic, that a failure is a *ParseError, and that whatever parses prints back
// to text that parses to the same value.

func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	if _, ok := err.(*ParseError); !ok {
		t.Fatalf("error %v is a %T, want *ParseError", err, err)
	}
}

// fuzzRoundTrip fuzzes parse: an input it refuses must be refused with a *ParseError, and
// a value it reads must print (with print) as text that reread reads as the same value.
// reread is parse for most formats; it differs where a format is read but not written.
func fuzzRoundTrip[In string | []byte, T any](f *testing.F, parse func(In) (T, error), print func(T) string, reread func(string) (T, error)) {
	f.Fuzz(func(t *testing.T, in In) {
		v, err := parse(in)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := print(v)
		again, err := reread(out)
		if err != nil {
			t.Fatalf("the printed form does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, v) {
			t.Fatalf("the printed form reads as another value:\n got %+v\nwant %+v\nprinted:\n%s", again, v, out)
		}
	})
}

func FuzzParseIPVSAdm(f *testing.F) {
	seedFuzz(f, "ipvsadm/Ln-*.txt", "seed/ipvsadm-*.txt", "lab/ipvsadm-Ln.txt")
	fuzzRoundTrip(f, ParseIPVSAdm, func(v IPVS) string { return FormatIPVSAdm(v, true) }, ParseIPVSAdm)
}

func FuzzParseIPVSAdmSave(f *testing.F) {
	seedFuzz(f, "ipvsadm/Sn-*.txt", "lab/ipvsadm-Sn.txt")
	f.Add("--add-service --udp-service 10.96.0.10:53 --persistent --netmask 255.255.0.0 --ops\n--add-server --udp-service 10.96.0.10:53 --real-server 10.244.0.3\n")
	fuzzRoundTrip(f, ParseIPVSAdmSave, FormatIPVSAdmSave, ParseIPVSAdmSave)
}

func FuzzParseProcIPVS(f *testing.F) {
	seedFuzz(f, "procipvs/*.txt", "lab/proc-net-ip_vs.txt")
	fuzzRoundTrip(f, ParseProcIPVS, func(v IPVS) string { return FormatProcIPVS(v, DebianKernelHZ) }, ParseProcIPVS)
}

func FuzzParseIPVSAdmTimeouts(f *testing.F) {
	seedFuzz(f, "ipvsadm/Ln-timeout.txt", "lab/ipvsadm-Ln-timeout.txt")
	fuzzRoundTrip(f, ParseIPVSAdmTimeouts, FormatIPVSAdmTimeouts, ParseIPVSAdmTimeouts)
}

func FuzzParseIPAddr(f *testing.F) {
	seedFuzz(f, "ipaddr/*.txt", "lab/ip-*.txt")
	fuzzRoundTrip(f, ParseIPAddr, FormatLinks, ParseIPAddr)
}

// FuzzParseIPAddrJSON checks that links read from `ip -j addr` print as `ip addr` text
// that reads as the same links.
func FuzzParseIPAddrJSON(f *testing.F) {
	for _, name := range append(fixture.Glob(f, "ipaddr/*.json"), fixture.Glob(f, "lab/*.json")...) {
		f.Add([]byte(fixture.Read(f, name)))
	}
	parse := func(data []byte) ([]Link, error) {
		links, err := ParseIPAddrJSON(data)
		if len(links) == 0 {
			links = nil // an empty JSON list reads as no links, as empty text does
		}
		return links, err
	}
	fuzzRoundTrip(f, parse, FormatLinks, ParseIPAddr)
}

func FuzzParseIPTablesSave(f *testing.F) {
	seedFuzz(f, "iptables/save*.txt", "lab/ip*tables-save.txt")
	fuzzRoundTrip(f, ParseIPTablesSave, FormatIPTablesSave, ParseIPTablesSave)
}

func FuzzParseIPTablesS(f *testing.F) {
	seedFuzz(f, "iptables/S-*.txt", "seed/iptables-*.txt", "lab/iptables-t-*-S.txt")
	parseNAT := func(text string) (Ruleset, error) { return ParseIPTablesS(text, "nat") }
	fuzzRoundTrip(f, parseNAT, func(r Ruleset) string { return FormatIPTablesS(r, "nat", "") }, parseNAT)
}

func FuzzParseIPSetSave(f *testing.F) {
	seedFuzz(f, "ipset/save-*.txt", "lab/ipset-save.txt")
	fuzzRoundTrip(f, ParseIPSetSave, FormatIPSetSave, ParseIPSetSave)
}

// FuzzParseIPSetList checks that sets read from `ipset list` print as `ipset save` text
// that reads as the same sets.
func FuzzParseIPSetList(f *testing.F) {
	seedFuzz(f, "ipset/list-*.txt", "lab/ipset-list.txt")
	fuzzRoundTrip(f, ParseIPSetList, FormatIPSetSave, ParseIPSetSave)
}

func FuzzParseMember(f *testing.F) {
	for _, s := range []struct{ typ, text string }{
		{SetHashIP, "10.96.0.1"}, {SetHashIPPort, "10.96.0.1,tcp:443"}, {SetHashIPPort, "fd00::1,udp:53"},
		{SetHashIPPortIP, "10.244.3.214,tcp:80,10.244.3.214"}, {SetHashIPPortNet, "10.96.0.1,tcp:443,10.0.0.0/8"},
		{SetHashNet, "10.0.0.1"}, {SetBitmapPort, "30089"},
	} {
		f.Add(s.typ, s.text)
	}
	f.Fuzz(func(t *testing.T, setType, text string) {
		m, err := ParseMember(setType, text)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		again, err := ParseMember(setType, m.String())
		if err != nil {
			t.Fatalf("ParseMember(%q, %q): %v", setType, m.String(), err)
		}
		if again != m {
			t.Fatalf("round trip = %+v, want %+v", again, m)
		}
	})
}

// FuzzDiffRuleOrder: for two chains drawn from rules that are and are not order-free, Equal
// agrees with Diff both ways round, and no rule is reported both missing and unexpected.
func FuzzDiffRuleOrder(f *testing.F) {
	f.Add([]byte{0, 1}, []byte{1, 0})
	f.Add([]byte{0, 2, 1, 3}, []byte{1, 0, 3, 2, 4})
	f.Add([]byte{3, 3, 0}, []byte{0, 3, 3})
	alphabet := []string{drop80, drop443, accept, limited, "-j KUBE-MARK-MASQ", "-s 10.0.0.0/8 -j DROP"}
	chain := func(b []byte) State {
		var specs []string
		for _, x := range b[:min(len(b), 12)] {
			specs = append(specs, alphabet[int(x)%len(alphabet)])
		}
		return outFilter(specs...)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		want, got := chain(a), chain(b)
		d := Diff(want, got)
		if Equal(want, got) != (len(d) == 0) || Equal(got, want) != (len(d) == 0) {
			t.Fatalf("Equal disagrees with Diff:\n%s", d)
		}
		missing := map[string]bool{}
		for _, l := range d {
			if l.Kind == Missing {
				missing[l.Want] = true
			}
		}
		for _, l := range d {
			if l.Kind == Extra && missing[l.Got] {
				t.Fatalf("%q reported missing and unexpected:\n%s", l.Got, d)
			}
		}
	})
}

func FuzzRuleArgs(f *testing.F) {
	f.Add(`-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`)
	f.Add(`--comment "say \"hi\"" a\ b ""`)
	f.Fuzz(func(t *testing.T, spec string) {
		args, err := Rule{Spec: spec}.Args()
		if err != nil {
			return
		}
		again, err := RuleFromArgs(args...).Args()
		if err != nil {
			t.Fatalf("Args(RuleFromArgs(%q)): %v", args, err)
		}
		if !reflect.DeepEqual(again, args) {
			t.Fatalf("RuleFromArgs then Args = %q, want %q", again, args)
		}
	})
}

func FuzzParseIPVSAdmStats(f *testing.F) {
	seedFuzz(f, "lab/ipvsadm-Ln-stats*.txt")
	f.Add("TCP  10.96.0.1:443 99999999 123456K 99999M 12345G 18446T\n  -> 10.244.0.1:6443 1 2 3 4 5\n")
	fuzzCounters(f, ParseIPVSAdmStats, FormatIPVSAdmStats, IPVSAdmStatsHeader)
}

func FuzzParseIPVSAdmRate(f *testing.F) {
	seedFuzz(f, "lab/ipvsadm-Ln-rate*.txt")
	f.Add("FWM  200 IPv6 1 2 3 4K 5\n  -> [fd00::5]:0 7 8 9 10 11M\n")
	fuzzCounters(f, ParseIPVSAdmRate, FormatIPVSAdmRate, IPVSAdmRateHeader)
}

// fuzzCounters is fuzzRoundTrip for a counter listing, printed with --exact: the values
// read back the same, only no longer Rounded.
func fuzzCounters(f *testing.F, parse func(string) (IPVS, error), format func(IPVS, bool) string, header string) {
	f.Fuzz(func(t *testing.T, in string) {
		v, err := parse(in)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := header + format(v, true)
		again, err := parse(out)
		if err != nil {
			t.Fatalf("the printed form does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, notRounded(v)) {
			t.Fatalf("the printed form reads as another value:\n got %s\nwant %s\nprinted:\n%s", format(again, true), format(v, true), out)
		}
	})
}

// notRounded is v with the Rounded marks cleared, in place.
func notRounded(v IPVS) IPVS {
	clear := func(s *Stats, r *Rates) {
		if s != nil {
			s.Rounded = false
		}
		if r != nil {
			r.Rounded = false
		}
	}
	for _, vs := range v.Services {
		clear(vs.Stats, vs.Rates)
		for _, rs := range vs.RealServers {
			clear(rs.Stats, rs.Rates)
		}
	}
	return v
}
