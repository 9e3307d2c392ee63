package ipset

import (
	"fmt"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// dumpMessageSize is about what the kernel packs into one message of a list dump: it sizes
// a dump's messages to the reader's receive buffer, capped at 32 KiB.
const dumpMessageSize = 32 << 10

// syntheticDump is a list dump as the kernel sends it for the sets of a proxier at 10,000
// Services: header then entries, each set's entries spread over messages of about
// dumpMessageSize. It returns the messages and the number of entries.
func syntheticDump(tb testing.TB) ([][]byte, int) {
	tb.Helper()
	type spec struct {
		set dataplane.IPSet
		n   int
		gen func(i int) string
	}
	specs := []spec{
		{dataplane.IPSet{Name: "KUBE-CLUSTER-IP", Type: dataplane.SetHashIPPort, Family: "inet", HashSize: 16384, MaxElem: 131072}, 30000,
			func(i int) string { return fmt.Sprintf("10.96.%d.%d,tcp:%d", i>>8&0xff, i&0xff, 80+i%1000) }},
		{dataplane.IPSet{Name: "KUBE-LOOP-BACK", Type: dataplane.SetHashIPPortIP, Family: "inet", HashSize: 16384, MaxElem: 131072}, 10000,
			func(i int) string {
				return fmt.Sprintf("10.244.%d.%d,tcp:%d,10.244.%d.%d", i>>8&0xff, i&0xff, 8000+i%100, i>>8&0xff, i&0xff)
			}},
	}
	var msgs [][]byte
	total := 0
	for _, s := range specs {
		texts := make([]string, s.n)
		for i := range texts {
			texts[i] = s.gen(i)
		}
		h, err := normalizeHeader(s.set)
		if err != nil {
			tb.Fatal(err)
		}
		ms, err := dataplane.ParseMembers(h.Type, texts...)
		if err == nil {
			err = checkMembers(h, ms)
		}
		if err != nil {
			tb.Fatal(err)
		}
		msg := encodeCreate(h, 3)
		for len(ms) > 0 || msg != nil {
			if msg == nil {
				msg = appendString(message(), attrSetName, h.Name)
			}
			b, list := beginNest(msg, attrADT)
			for len(ms) > 0 && len(b) < dumpMessageSize-128 {
				var entry int
				b, entry = beginNest(b, attrData)
				b = appendEntry(b, h.Type, ms[0])
				b = endNest(b, entry)
				ms = ms[1:]
				total++
			}
			msgs = append(msgs, endNest(b, list))
			msg = nil
		}
	}
	return msgs, total
}

// BenchmarkDecodeList decodes a list dump of 40,000 entries (hash:ip,port and
// hash:ip,port,ip) as List does, without a kernel: what reading the sets holds and costs.
func BenchmarkDecodeList(b *testing.B) {
	msgs, n := syntheticDump(b)
	size := 0
	for _, m := range msgs {
		size += len(m)
	}
	b.Logf("%d entries in %d messages of %d bytes in all", n, len(msgs), size)
	b.ReportAllocs()
	b.ReportMetric(float64(n), "entries/op")
	for b.Loop() {
		sets, err := decodeList(msgs)
		if err != nil {
			b.Fatal(err)
		}
		if got := len(sets[0].Members) + len(sets[1].Members); got != n {
			b.Fatalf("decoded %d members, expected %d", got, n)
		}
	}
}
