package ipset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// readDump reads a list dump saved as length-prefixed netlink payloads (see
// TestLinuxListDumpTestdata, which writes it from a real kernel with -update).
func readDump(b []byte) ([][]byte, error) {
	var msgs [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errors.New("truncated length")
		}
		n := int(binary.LittleEndian.Uint32(b))
		if n > len(b)-4 {
			return nil, errors.New("truncated message")
		}
		msgs = append(msgs, b[4:4+n])
		b = b[4+n:]
	}
	return msgs, nil
}

func writeDump(msgs [][]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m)))
		b = append(b, m...)
	}
	return b
}

// TestDecodeKernelDump decodes a dump a 6.18 kernel sent for the contract sets.
func TestDecodeKernelDump(t *testing.T) {
	msgs, err := readDump([]byte(fixture.Read(t, "list-dump.bin")))
	if err != nil {
		t.Fatal(err)
	}
	sets, err := decodeList(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != len(contractSets) {
		t.Fatalf("decoded %d sets, expected %d", len(sets), len(contractSets))
	}
	for _, want := range contractSets {
		got, ok := dataplane.State{IPSets: sets}.IPSet(want.Name)
		if !ok {
			t.Errorf("%s missing", want.Name)
			continue
		}
		w, _ := normalizeHeader(want)
		if !headersEqual(header(got), w) {
			t.Errorf("%s header %+v, expected %+v", want.Name, header(got), w)
		}
		expectMembers(t, got, want.Members)
	}
}

func TestEncodeEntry(t *testing.T) {
	m, err := dataplane.ParseMember(dataplane.SetHashIPPort, "10.96.0.1,tcp:443")
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	attr := func(typ uint16, val ...byte) []byte {
		b := ne.AppendUint16(nil, uint16(4+len(val)))
		b = ne.AppendUint16(b, typ)
		b = append(b, val...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	var want []byte
	want = append(want, attr(attrIP|nlaFNested, attr(attrIPv4|nlaFNetByteorder, 10, 96, 0, 1)...)...)
	want = append(want, attr(attrPort|nlaFNetByteorder, 0x01, 0xbb)...)
	want = append(want, attr(attrProto, 6)...)
	if got := encodeEntry(dataplane.SetHashIPPort, m); !bytes.Equal(got, want) {
		t.Errorf("encodeEntry = % x\nexpected      % x", got, want)
	}
}

// TestEntryRoundTrip encodes members as an add request and decodes the entry list back,
// which has the same shape as the entries of a list reply.
func TestEntryRoundTrip(t *testing.T) {
	for _, set := range contractSets {
		h, err := normalizeHeader(set)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkMembers(h, set.Members); err != nil {
			t.Fatal(err)
		}
		p, err := decodeMessage(encodeADT(set.Name, set.Type, set.Members))
		if err != nil {
			t.Fatal(err)
		}
		var got []dataplane.Member
		err = p.eachEntry(func(fields []byte) error {
			m, err := decodeEntry(set.Type, fields)
			got = append(got, m)
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", set.Name, err)
		}
		if p.count != len(set.Members) {
			t.Errorf("%s: counted %d entries, expected %d", set.Name, p.count, len(set.Members))
		}
		if p.name != set.Name || !slices.Equal(got, set.Members) {
			t.Errorf("%s: decoded %s %q, expected %q", set.Name, p.name, got, set.Members)
		}

		c, err := decodeMessage(encodeCreate(h, 3))
		if err != nil {
			t.Fatal(err)
		}
		if !headersEqual(c.set, h) || c.revision != 3 {
			t.Errorf("create message decodes as %+v rev %d, expected %+v", c.set, c.revision, h)
		}
	}
}

func TestDecodeRefusesBrokenInput(t *testing.T) {
	for _, msg := range [][]byte{
		{2, 0},                    // no nfgenmsg
		{2, 0, 0, 0, 8, 0},        // truncated attribute header
		{2, 0, 0, 0, 3, 0, 2, 0},  // attribute length below 4
		{2, 0, 0, 0, 40, 0, 2, 0}, // attribute longer than the message
	} {
		if _, err := decodeMessage(msg); err == nil {
			t.Errorf("decodeMessage(% x) succeeded", msg)
		}
	}
	if _, err := decodeList([][]byte{encodeADT("X", dataplane.SetHashIP, nil)}); err == nil {
		t.Error("decodeList accepted entries of a set before its header")
	}
	// An entry of a hash:ip,port set without a protocol.
	entry := appendAddr(nil, attrIP, netip.MustParseAddr("10.0.0.1"))
	if _, err := decodeEntry(dataplane.SetHashIPPort, entry); err == nil {
		t.Error("decodeEntry accepted a hash:ip,port entry without protocol")
	}
	// The same entry cut inside its address.
	if _, err := decodeEntry(dataplane.SetHashIPPort, entry[:len(entry)-2]); err == nil {
		t.Error("decodeEntry accepted an entry cut short")
	}
}

// FuzzDecodeList feeds arbitrary dumps to the decoder: it must not panic, and whatever it
// accepts must be members ParseMember accepts back.
func FuzzDecodeList(f *testing.F) {
	if raw, err := os.ReadFile("testdata/list-dump.bin"); err == nil {
		if msgs, err := readDump(raw); err == nil {
			for _, m := range msgs {
				f.Add(m)
			}
		}
	}
	for _, set := range contractSets {
		h, _ := normalizeHeader(set)
		f.Add(encodeCreate(h, 1))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		sets, err := decodeList([][]byte{msg})
		if err != nil {
			return
		}
		for _, s := range sets {
			for _, m := range s.Members {
				parsed, err := dataplane.ParseMember(s.Type, m.String())
				if err != nil {
					t.Errorf("decoded member %q of %s does not parse: %v", m, s.Type, err)
				} else if parsed != m {
					t.Errorf("decoded member %#v of %s reads back as %#v", m, s.Type, parsed)
				}
			}
		}
	})
}

// TestAppendMemberMatchesString formats members of every form as Member.String does.
func TestAppendMemberMatchesString(t *testing.T) {
	var ms []dataplane.Member
	for _, set := range contractSets {
		ms = append(ms, set.Members...)
	}
	v6 := netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff1")
	ms = append(ms,
		dataplane.Member{Port: 65535},
		dataplane.Member{IP: netip.MustParseAddr("::ffff:10.0.0.1")},
		dataplane.Member{Net: netip.MustParsePrefix("fd00::/8")},
		dataplane.Member{Net: netip.MustParsePrefix("10.0.0.1/32")},
		dataplane.Member{IP: v6, Proto: "sctp", Port: 65535, Net: netip.PrefixFrom(v6, 127)},
		dataplane.Member{IP: v6, Proto: "udp", Port: 0, IP2: v6},
	)
	for _, m := range ms {
		if got, want := string(appendMember([]byte("x"), m)), "x"+m.String(); got != want {
			t.Errorf("appendMember(%+v) = %q, expected %q", m, got, want)
		}
	}
}

// TestEncodeADTMatchesNestedAttrs checks the in-place encoding of an add against the same
// request composed attribute by attribute from value slices, for every set type.
func TestEncodeADTMatchesNestedAttrs(t *testing.T) {
	be16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	addr := func(typ uint16, a netip.Addr) []byte {
		inner := uint16(attrIPv6)
		if a.Is4() {
			inner = attrIPv4
		}
		return nlbatch.AppendAttr(nil, typ|nlaFNested, nlbatch.AppendAttr(nil, inner|nlaFNetByteorder, a.AsSlice()))
	}
	entry := func(setType string, m dataplane.Member) []byte {
		switch setType {
		case dataplane.SetBitmapPort:
			return nlbatch.AppendAttr(nil, attrPort|nlaFNetByteorder, be16(m.Port))
		case dataplane.SetHashNet:
			return nlbatch.AppendAttr(addr(attrIP, m.Net.Addr()), attrCIDR, []byte{uint8(m.Net.Bits())})
		}
		b := addr(attrIP, m.IP)
		if setType == dataplane.SetHashIP {
			return b
		}
		b = nlbatch.AppendAttr(b, attrPort|nlaFNetByteorder, be16(m.Port))
		b = nlbatch.AppendAttr(b, attrProto, []byte{protocolNumber(m.Proto)})
		switch setType {
		case dataplane.SetHashIPPortIP:
			b = append(b, addr(attrIP2, m.IP2)...)
		case dataplane.SetHashIPPortNet:
			b = append(b, addr(attrIP2, m.Net.Addr())...)
			b = nlbatch.AppendAttr(b, attrCIDR2, []byte{uint8(m.Net.Bits())})
		}
		return b
	}
	for _, set := range contractSets {
		ms := set.Members
		want := appendString(message(), attrSetName, set.Name)
		want = nlbatch.AppendAttr(want, attrLineNo, binary.NativeEndian.AppendUint32(nil, 0))
		var list []byte
		for _, m := range ms {
			list = nlbatch.AppendAttr(list, attrData|nlaFNested, entry(set.Type, m))
		}
		want = nlbatch.AppendAttr(want, attrADT|nlaFNested, list)
		if got := encodeADT(set.Name, set.Type, ms); !bytes.Equal(got, want) {
			t.Errorf("%s (%s): encodeADT =\n% x\nexpected\n% x", set.Name, set.Type, got, want)
		}
	}
}

// BenchmarkEncodeADT is one batch of hash:ip,port members, as a full sync adds them.
func BenchmarkEncodeADT(b *testing.B) {
	texts := make([]string, batchSize)
	for i := range texts {
		texts[i] = fmt.Sprintf("10.96.%d.%d,tcp:%d", i>>8, i&0xff, 80+i%100)
	}
	set := dataplane.IPSet{Name: "KUBE-CLUSTER-IP", Type: dataplane.SetHashIPPort, Family: "inet"}
	ms, err := dataplane.ParseMembers(set.Type, texts...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		encodeADT(set.Name, set.Type, ms)
	}
}

// decodeList merges the messages of a whole list dump into sets, as List does message by message
// (for tests and benchmarks that hold a captured dump).
func decodeList(msgs [][]byte) ([]dataplane.IPSet, error) {
	var d listDecoder
	for _, msg := range msgs {
		if err := d.add(msg); err != nil {
			return nil, err
		}
	}
	return d.sets, nil
}
