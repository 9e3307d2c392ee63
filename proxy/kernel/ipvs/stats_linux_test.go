package ipvs

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// statsNest is a statistics nest as the kernel writes it: IPVS_STATS_ATTR_CONNS to _OUTBPS
// in order, each 8 bytes in the 64-bit nest; in the 32-bit one only the byte counters are.
func statsNest(wide bool, vals [10]uint64) []byte {
	var b []byte
	for i, v := range vals {
		typ := uint16(i + 1)
		if wide || typ == statsAttrInBytes || typ == statsAttrOutBytes {
			b = nlbatch.AppendAttr(b, typ, binary.NativeEndian.AppendUint64(nil, v))
		} else {
			b = nlbatch.AppendU32Attr(b, typ, uint32(v))
		}
	}
	return nlbatch.AppendAttr(b, 11, make([]byte, 8)) // IPVS_STATS_ATTR_PAD
}

// destMsg is an answer of a destination dump: the generic netlink header, then the nest.
func destMsg(attrs ...[]byte) []byte {
	nest := nlbatch.AppendAttr(nil, cmdAttrDest, bytes.Join(attrs, nil))
	return append([]byte{cmdGetDest, genlVersion, 0, 0}, nest...)
}

func TestDecodeStats(t *testing.T) {
	vals := [10]uint64{1 << 33, 2, 3, 1 << 40, 5, 6, 7, 8, 9, 10}
	s, r, err := decodeStats(statsNest(false, vals), statsNest(true, vals))
	if err != nil {
		t.Fatal(err)
	}
	want := dataplane.Stats{Conns: 1 << 33, InPkts: 2, OutPkts: 3, InBytes: 1 << 40, OutBytes: 5}
	if *s != want || *r != (dataplane.Rates{CPS: 6, InPPS: 7, OutPPS: 8, InBPS: 9, OutBPS: 10}) {
		t.Errorf("64-bit nest read as %+v %+v, want %+v and the rates 6-10", *s, *r, want)
	}
	// Without the 64-bit nest (kernels before 4.1), the 32-bit one: its counts are cut.
	s, _, err = decodeStats(statsNest(false, vals), nil)
	if err != nil || s.Conns != 0 || s.InBytes != 1<<40 {
		t.Errorf("32-bit nest read as %+v, %v; want Conns cut to 0, InBytes whole", s, err)
	}
	if _, _, err := decodeStats(nil, nil); err == nil || !strings.Contains(err.Error(), "no statistics") {
		t.Errorf("no nest: error %v, want one saying the statistics are missing", err)
	}
	short := nlbatch.AppendU32Attr(nil, statsAttrConns, 1)
	if _, _, err := decodeStats(nil, short); err == nil || !strings.Contains(err.Error(), "expected 8") {
		t.Errorf("a 4-byte value in the 64-bit nest: error %v, want one naming the size", err)
	}
}

func TestDecodeDestStats(t *testing.T) {
	var addr [16]byte
	copy(addr[:], []byte{10, 244, 9, 2})
	stats := nlbatch.AppendAttr(nil, destAttrStats64, statsNest(true, [10]uint64{5, 33, 27, 2121, 2519}))
	k, s, _, err := decodeDestStats(destMsg(nlbatch.AppendAttr(nil, destAttrAddr, addr[:]),
		nlbatch.AppendAttr(nil, destAttrPort, portBytes(8080)), stats), 4)
	if err != nil || k != netip.MustParseAddrPort("10.244.9.2:8080") || s.Conns != 5 || s.OutBytes != 2519 {
		t.Errorf("decodeDestStats = %v, %+v, %v; want 10.244.9.2:8080 with 5 connections", k, s, err)
	}
	v6 := netip.MustParseAddr("fd00::5").As16()
	k, _, _, err = decodeDestStats(destMsg(nlbatch.AppendAttr(nil, destAttrAddr, v6[:]), stats), 6)
	if err != nil || k != netip.MustParseAddrPort("[fd00::5]:0") {
		t.Errorf("IPv6: %v, %v", k, err)
	}
	for _, c := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"no nest", []byte{cmdGetDest, genlVersion, 0, 0}, "no IPVS_CMD_ATTR_DEST"},
		{"short address", destMsg(nlbatch.AppendAttr(nil, destAttrAddr, []byte{10, 244}), stats), "address attribute of 2 bytes"},
		{"no statistics", destMsg(nlbatch.AppendAttr(nil, destAttrAddr, addr[:])), "no statistics"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := decodeDestStats(c.msg, 4)
			wanterr.Check(t, err, c.want)
		})
	}
}
