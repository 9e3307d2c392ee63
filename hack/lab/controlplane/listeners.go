package controlplane

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// tcpListen is the socket state the kernel prints as 0A in /proc/net/tcp (TCP_LISTEN).
const tcpListen = 0x0A

// procSocket is one row of /proc/net/tcp or /proc/net/tcp6.
type procSocket struct {
	Local netip.AddrPort
	State uint8
	Inode uint64
}

// parseProcNetTCP reads /proc/<pid>/net/tcp or tcp6. The kernel prints each address as
// 32-bit words in host byte order ("0100007F:0CEA" is 127.0.0.1:3306 on x86) and the port
// as a plain hex number.
func parseProcNetTCP(data []byte) ([]procSocket, error) {
	var out []procSocket
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if line == 1 {
			if len(f) < 3 || f[0] != "sl" || f[1] != "local_address" {
				return nil, fmt.Errorf("/proc/net/tcp header: expected \"sl local_address ...\", found %q", sc.Text())
			}
			continue
		}
		if len(f) == 0 {
			continue
		}
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
		if len(f) < 10 {
			return nil, fmt.Errorf("/proc/net/tcp line %d: expected at least 10 fields, found %d in %q", line, len(f), sc.Text())
		}
		local, err := parseProcAddrPort(f[1])
		if err != nil {
			return nil, fmt.Errorf("/proc/net/tcp line %d: %w", line, err)
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("/proc/net/tcp line %d: state %q: %w", line, f[3], err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/net/tcp line %d: inode %q: %w", line, f[9], err)
		}
		out = append(out, procSocket{Local: local, State: uint8(st), Inode: inode})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if line == 0 {
		return nil, fmt.Errorf("/proc/net/tcp is empty: expected at least its header")
	}
	return out, nil
}

func parseProcAddrPort(s string) (netip.AddrPort, error) {
	addrHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q: expected ADDR:PORT in hex", s)
	}
	raw, err := hex.DecodeString(addrHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q: expected 8 or 32 hex digits", s)
	}
	// Each 32-bit word was printed as a host-order integer: undo that per word.
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: port: %w", s, err)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// Listeners returns the TCP addresses process pid listens on, sorted.
func Listeners(pid int) ([]netip.AddrPort, error) {
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(proc, "fd"))
	if err != nil {
		return nil, fmt.Errorf("listing the sockets of pid %d: %w", pid, err)
	}
	inodes := map[uint64]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(proc, "fd", fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if rest, ok := strings.CutPrefix(target, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64); err == nil {
				inodes[n] = true
			}
		}
	}
	var out []netip.AddrPort
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(filepath.Join(proc, "net", table))
		if os.IsNotExist(err) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return nil, err
		}
		socks, err := parseProcNetTCP(data)
		if err != nil {
			return nil, fmt.Errorf("pid %d: %w", pid, err)
		}
		for _, s := range socks {
			if s.State == tcpListen && inodes[s.Inode] {
				out = append(out, s.Local)
			}
		}
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return slices.Compact(out), nil
}
