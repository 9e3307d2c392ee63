package nlbatch

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestAlign(t *testing.T) {
	for _, tt := range []struct{ n, want int }{{0, 0}, {1, 4}, {3, 4}, {4, 4}, {5, 8}, {16, 16}, {17, 20}} {
		if got := Align(tt.n); got != tt.want {
			t.Errorf("Align(%d) = %d, expected %d", tt.n, got, tt.want)
		}
	}
}

// hdr is a struct nlattr: length and type in host order.
func hdr(length, typ uint16) []byte {
	b := binary.NativeEndian.AppendUint16(nil, length)
	return binary.NativeEndian.AppendUint16(b, typ)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestAppenders(t *testing.T) {
	u16 := binary.NativeEndian.AppendUint16(nil, 0xbeef)
	u32 := binary.NativeEndian.AppendUint32(nil, 0xdeadbeef)
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"empty value (nest header)", AppendAttr(nil, 7, nil), hdr(4, 7)},
		{"one byte padded to 4", AppendAttr(nil, 3, []byte{24}), cat(hdr(5, 3), []byte{24, 0, 0, 0})},
		{"string with NUL, padded", AppendAttr(nil, 6, []byte("rr\x00")), cat(hdr(7, 6), []byte{'r', 'r', 0, 0})},
		{"four bytes need no padding", AppendAttr(nil, 1, []byte{10, 0, 0, 1}), cat(hdr(8, 1), []byte{10, 0, 0, 1})},
		{"sixteen bytes", AppendAttr(nil, 1, make([]byte, 16)), cat(hdr(20, 1), make([]byte, 16))},
		{"type flags kept", AppendAttr(nil, 2|0x8000, nil), hdr(4, 0x8002)},
		{"appends after existing bytes", AppendAttr([]byte{9, 9}, 1, []byte{1}), cat([]byte{9, 9}, hdr(5, 1), []byte{1, 0, 0, 0})},
		{"u16 padded", AppendU16Attr(nil, 1, 0xbeef), cat(hdr(6, 1), u16, []byte{0, 0})},
		{"u32", AppendU32Attr(nil, 4, 0xdeadbeef), cat(hdr(8, 4), u32)},
		{"u16 same as AppendAttr", AppendU16Attr(nil, 5, 0xbeef), AppendAttr(nil, 5, u16)},
		{"u32 same as AppendAttr", AppendU32Attr(nil, 5, 0xdeadbeef), AppendAttr(nil, 5, u32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Errorf("got\n% x\nexpected\n% x", tt.got, tt.want)
			}
			if len(tt.got)%4 != 0 && tt.name != "appends after existing bytes" {
				t.Errorf("length %d is not aligned to 4", len(tt.got))
			}
		})
	}
}
