package cpio

import (
	"fmt"
	"io"
	"strconv"
)

// Entry is one record of a newc archive.
type Entry struct {
	Name string
	// Mode holds the file type and permission bits as stat(2) gives them.
	Mode                 uint32
	Nlink                uint32
	RdevMajor, RdevMinor uint32
	Data                 []byte
}

// IsDir, IsRegular and IsSymlink test the entry's file type.
func (e Entry) IsDir() bool     { return e.Mode&typeMask == typeDir }
func (e Entry) IsRegular() bool { return e.Mode&typeMask == typeRegular }
func (e Entry) IsSymlink() bool { return e.Mode&typeMask == typeSymlink }

// ReadAll parses one uncompressed newc archive up to its trailer, checking what the kernel's
// unpacker relies on (magic, 4-byte alignment, NUL-terminated names). It reads what Writer
// writes; the lab uses it to check archives, never to unpack them.
func ReadAll(r io.Reader) ([]Entry, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var out []Entry
	off := 0
	for {
		if off+110 > len(b) {
			return nil, fmt.Errorf("cpio: archive ends at byte %d inside a header; expected a %s record", len(b), trailerName)
		}
		h := b[off : off+110]
		if string(h[:6]) != newcMagic {
			return nil, fmt.Errorf("cpio: bad magic %q at byte %d; expected %s (newc)", h[:6], off, newcMagic)
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return nil, fmt.Errorf("cpio: header field %d at byte %d: %w", i, off, err)
			}
			f[i] = uint32(v)
		}
		mode, nlink, size, rmaj, rmin, namesize := f[1], f[4], int(f[6]), f[9], f[10], int(f[11])
		nameEnd := off + 110 + namesize
		if namesize < 1 || nameEnd > len(b) || b[nameEnd-1] != 0 {
			return nil, fmt.Errorf("cpio: name at byte %d is not NUL-terminated inside the archive", off+110)
		}
		name := string(b[off+110 : nameEnd-1])
		data := align4(nameEnd)
		if name == trailerName {
			return out, nil
		}
		if size < 0 || data+size > len(b) {
			return nil, fmt.Errorf("cpio: %s: %d data bytes run past the end of the archive", name, size)
		}
		out = append(out, Entry{Name: name, Mode: mode, Nlink: nlink, RdevMajor: rmaj, RdevMinor: rmin,
			Data: b[data : data+size]})
		off = align4(data + size)
	}
}

func align4(n int) int { return (n + 3) &^ 3 }
