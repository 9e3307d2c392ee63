package dataplane

import (
	"reflect"
	"testing"
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

func FuzzParseIPVSAdm(f *testing.F) {
	seedFuzz(f, "ipvsadm/Ln-*.txt", "seed/ipvsadm-*.txt", "lab/ipvsadm-Ln.txt")
	f.Fuzz(func(t *testing.T, text string) {
		v, err := ParseIPVSAdm(text)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := FormatIPVSAdm(v, true)
		again, err := ParseIPVSAdm(out)
		if err != nil {
			t.Fatalf("ParseIPVSAdm(FormatIPVSAdm(v)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, v) {
			t.Fatalf("round trip changed the table:\n got %+v\nwant %+v", again, v)
		}
	})
}

func FuzzParseIPVSAdmSave(f *testing.F) {
	seedFuzz(f, "ipvsadm/Sn-*.txt", "lab/ipvsadm-Sn.txt")
	f.Add("--add-service --udp-service 10.96.0.10:53 --persistent --netmask 255.255.0.0 --ops\n--add-server --udp-service 10.96.0.10:53 --real-server 10.244.0.3\n")
	f.Fuzz(func(t *testing.T, text string) {
		v, err := ParseIPVSAdmSave(text)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := FormatIPVSAdmSave(v)
		again, err := ParseIPVSAdmSave(out)
		if err != nil {
			t.Fatalf("ParseIPVSAdmSave(FormatIPVSAdmSave(v)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, v) {
			t.Fatalf("round trip changed the table:\n got %+v\nwant %+v", again, v)
		}
	})
}

func FuzzParseProcIPVS(f *testing.F) {
	seedFuzz(f, "procipvs/*.txt", "lab/proc-net-ip_vs.txt")
	f.Fuzz(func(t *testing.T, text string) {
		v, err := ParseProcIPVS(text)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := FormatProcIPVS(v, DebianKernelHZ)
		again, err := ParseProcIPVS(out)
		if err != nil {
			t.Fatalf("ParseProcIPVS(FormatProcIPVS(v)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, v) {
			t.Fatalf("round trip changed the table:\n got %+v\nwant %+v", again, v)
		}
	})
}

func FuzzParseIPVSAdmTimeouts(f *testing.F) {
	seedFuzz(f, "ipvsadm/Ln-timeout.txt", "lab/ipvsadm-Ln-timeout.txt")
	f.Fuzz(func(t *testing.T, text string) {
		to, err := ParseIPVSAdmTimeouts(text)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		if again, err := ParseIPVSAdmTimeouts(FormatIPVSAdmTimeouts(to)); err != nil || again != to {
			t.Fatalf("round trip = %+v, %v; want %+v", again, err, to)
		}
	})
}

func FuzzParseIPAddr(f *testing.F) {
	seedFuzz(f, "ipaddr/*.txt", "lab/ip-*.txt")
	f.Fuzz(func(t *testing.T, text string) {
		links, err := ParseIPAddr(text)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := FormatLinks(links)
		again, err := ParseIPAddr(out)
		if err != nil {
			t.Fatalf("ParseIPAddr(FormatLinks(links)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, links) {
			t.Fatalf("round trip changed the links:\n got %+v\nwant %+v", again, links)
		}
	})
}

func FuzzParseIPAddrJSON(f *testing.F) {
	for _, name := range append(testdataFiles(f, "ipaddr/*.json"), testdataFiles(f, "lab/*.json")...) {
		f.Add([]byte(readTestdata(f, name)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		links, err := ParseIPAddrJSON(data)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := FormatLinks(links)
		again, err := ParseIPAddr(out)
		if err != nil {
			t.Fatalf("ParseIPAddr(FormatLinks(links)): %v\n%s", err, out)
		}
		if len(links) == 0 {
			links = nil
		}
		if !reflect.DeepEqual(again, links) {
			t.Fatalf("links from JSON print as text that reads differently:\n got %+v\nwant %+v", again, links)
		}
	})
}

func FuzzParseIPTablesSave(f *testing.F) {
	seedFuzz(f, "iptables/save*.txt", "lab/ip*tables-save.txt")
	f.Fuzz(func(t *testing.T, text string) {
		r, err := ParseIPTablesSave(text)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := FormatIPTablesSave(r)
		again, err := ParseIPTablesSave(out)
		if err != nil {
			t.Fatalf("ParseIPTablesSave(FormatIPTablesSave(r)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip changed the ruleset:\n got %+v\nwant %+v", again, r)
		}
	})
}

func FuzzParseIPTablesS(f *testing.F) {
	seedFuzz(f, "iptables/S-*.txt", "seed/iptables-*.txt", "lab/iptables-t-*-S.txt")
	f.Fuzz(func(t *testing.T, text string) {
		r, err := ParseIPTablesS(text, "nat")
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := FormatIPTablesS(r, "nat", "")
		again, err := ParseIPTablesS(out, "nat")
		if err != nil {
			t.Fatalf("ParseIPTablesS(FormatIPTablesS(r)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip changed the table:\n got %+v\nwant %+v", again, r)
		}
	})
}

func FuzzParseIPSetSave(f *testing.F) {
	seedFuzz(f, "ipset/save-*.txt", "lab/ipset-save.txt")
	f.Fuzz(func(t *testing.T, text string) {
		sets, err := ParseIPSetSave(text)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := FormatIPSetSave(sets)
		again, err := ParseIPSetSave(out)
		if err != nil {
			t.Fatalf("ParseIPSetSave(FormatIPSetSave(sets)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, sets) {
			t.Fatalf("round trip changed the sets:\n got %+v\nwant %+v", again, sets)
		}
	})
}

func FuzzParseIPSetList(f *testing.F) {
	seedFuzz(f, "ipset/list-*.txt", "lab/ipset-list.txt")
	f.Fuzz(func(t *testing.T, text string) {
		sets, err := ParseIPSetList(text)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		out := FormatIPSetSave(sets)
		again, err := ParseIPSetSave(out)
		if err != nil {
			t.Fatalf("ParseIPSetSave(FormatIPSetSave(sets)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, sets) {
			t.Fatalf("sets from ipset list print as ipset save that reads differently:\n got %+v\nwant %+v", again, sets)
		}
	})
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
