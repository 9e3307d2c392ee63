package ipvs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// Reading the whole table with one destination dump per virtual server costs a netlink
// round trip per service (10,000 of them take 13-23 s in the lab). The kernel's
// /proc/net/ip_vs lists every service with its real servers in one read, but lacks the
// scheduler flags and, for IPv6 services, the ops flag. So the table is read as one
// service dump (every service attribute) plus one read of the file (every real server's
// address, port, forwarding method, weight and counters), joined by service key.

// tableReadAttempts is how many times a whole-table read is tried before falling back to
// the per-service dumps: the two reads disagree only when the table changed between them.
const tableReadAttempts = 3

// procIPVSFile is the network namespace's /proc/net/ip_vs, kept open: a /proc/net file is
// bound to a namespace when it is opened, and seq_file regenerates it on each read from
// offset 0.
type procIPVSFile struct {
	f *os.File
	// last is the length of the last read: the next one starts with room for it instead
	// of growing step by step. Nothing is kept between reads: at 10,000 services the
	// text is megabytes, read once per full resync.
	last int
}

// openProcIPVS opens the calling thread's namespace's /proc/net/ip_vs. /proc/self/net
// follows the thread-group leader's namespace, not the thread's, so the thread's own view
// is opened: /proc/thread-self (Linux 3.17), else /proc/self/task/<tid>. The caller must
// be on the namespace's thread, as when the netlink sockets are opened.
func openProcIPVS() (*procIPVSFile, error) {
	f, err := os.Open("/proc/thread-self/net/ip_vs")
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.Open(fmt.Sprintf("/proc/self/task/%d/net/ip_vs", unix.Gettid()))
	}
	if err != nil {
		return nil, err
	}
	return &procIPVSFile{f: f}, nil
}

func (p *procIPVSFile) close() {
	if p != nil {
		p.f.Close()
	}
}

// read returns the file's whole current text. It is read in chunks into a builder sized
// by the last read, so the text is held once, not also in a read buffer.
func (p *procIPVSFile) read() (string, error) {
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	var text strings.Builder
	text.Grow(p.last + p.last/8 + 4096)
	chunk := make([]byte, 64<<10)
	for {
		n, err := p.f.Read(chunk)
		text.Write(chunk[:n])
		if err == io.EOF || (err == nil && n == 0) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	p.last = text.Len()
	return text.String(), nil
}

// table reads every virtual server with its real servers from one service dump and one
// read of /proc/net/ip_vs, falling back to a destination dump per service when the two
// keep disagreeing or the file cannot be read. The caller holds l.readMu.
func (l *Linux) table() ([]dataplane.VirtualServer, error) {
	if l.proc == nil {
		return l.tableByDumps()
	}
	var why error
	for range tableReadAttempts {
		var vss []dataplane.VirtualServer
		vss, why = l.dumpServices()
		if errors.Is(why, nlbatch.ErrDumpInterrupted) {
			continue // the table changed under the dump: read it again, like a disagreement
		}
		if why != nil {
			return nil, fmt.Errorf("list IPVS virtual servers: %w", why)
		}
		var text string
		if text, why = l.proc.read(); why != nil {
			why = fmt.Errorf("read %s: %w", procIPVS, why)
			break // reading again will not help
		}
		if why = joinProcIPVS(vss, text); why == nil {
			return vss, nil
		}
	}
	slog.Debug("Reading IPVS real servers with one netlink dump per virtual server", "reason", why)
	return l.tableByDumps()
}

// tableByDumps reads every virtual server with one service dump and its real servers with
// one destination dump each. The caller holds l.readMu; the handle's requests take l.mu.
func (l *Linux) tableByDumps() ([]dataplane.VirtualServer, error) {
	l.mu.Lock()
	svcs, err := l.h.GetServices()
	l.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("list IPVS virtual servers: %w", err)
	}
	out := make([]dataplane.VirtualServer, 0, len(svcs))
	seen := make(map[dataplane.ServiceKey]bool, len(svcs))
	for _, s := range svcs {
		vs, err := fromService(s)
		if err != nil {
			return nil, fmt.Errorf("list IPVS virtual servers: %w", err)
		}
		if seen[vs.Key()] {
			// A dump spans many reads and the kernel resumes it by position: a virtual
			// server added meanwhile shifts the rest, and one comes again. (A table
			// that keeps changing is why the one-pass read fell back to this.)
			continue
		}
		seen[vs.Key()] = true
		l.mu.Lock()
		dests, err := l.h.GetDestinations(s)
		l.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("list real servers of %s: %w", vs.Key(), err)
		}
		for _, d := range dests {
			rs, err := fromDestination(d)
			if err != nil {
				return nil, fmt.Errorf("list real servers of %s: %w", vs.Key(), err)
			}
			vs.RealServers = append(vs.RealServers, rs)
		}
		out = append(out, vs)
	}
	return out, nil
}

// joinProcIPVS gives each dumped virtual server the real servers /proc/net/ip_vs lists for
// it, in place. It fails when the two do not hold the same services: the table changed
// between the reads.
func joinProcIPVS(vss []dataplane.VirtualServer, text string) error {
	// Only the keys and the real servers of the file are used, so the persistence timeout
	// is read in jiffies (HZ 1): it then parses whatever the kernel's HZ.
	proc, err := dataplane.ParseProcIPVSWithHZ(text, 1)
	if err != nil {
		return err
	}
	if len(proc.Services) != len(vss) {
		return fmt.Errorf("%s lists %d virtual servers, the netlink dump %d: expected the same ones", procIPVS, len(proc.Services), len(vss))
	}
	// The file and the dump walk the same hash tables, so the i-th service of one is
	// mostly the i-th of the other: only when not is an index of the file's keys built.
	var idx *procIndex
	for i := range vss {
		vs := &vss[i]
		j := i
		if idx != nil && idx.used[i] || proc.Services[i].Key() != vs.Key() {
			if idx == nil {
				idx = newProcIndex(proc.Services, i)
			}
			var ok bool
			if j, ok = idx.lookup(vs); !ok {
				return fmt.Errorf("virtual server %s is in the netlink dump but not in %s: expected the same ones", vs.Key(), procIPVS)
			}
		}
		if idx != nil {
			idx.used[j] = true
		}
		// The parsed real servers are taken over, not copied: at 10,000 services the
		// copies would double what a full resync holds.
		vs.RealServers = proc.Services[j].RealServers
		for k := range vs.RealServers {
			vs.RealServers[k].Address = vs.RealServers[k].Address.Unmap() // as fromDestination does
		}
	}
	return nil
}

// procIndex finds the file's services by key, for a join whose two lists are not in the
// same order.
type procIndex struct {
	byKey map[dataplane.ServiceKey]int
	// The file has no family for a firewall-mark service (it is guessed from the real
	// servers), so marks are also found by the mark alone when only one service has it.
	byMark map[uint32][]int
	// used marks the file's services already given to a dumped one.
	used []bool
}

// newProcIndex indexes svcs, whose first joined services are already given to the
// dumped ones at the same positions.
func newProcIndex(svcs []dataplane.VirtualServer, joined int) *procIndex {
	idx := &procIndex{byKey: make(map[dataplane.ServiceKey]int, len(svcs)), byMark: map[uint32][]int{}, used: make([]bool, len(svcs))}
	for i, vs := range svcs {
		idx.byKey[vs.Key()] = i
		if vs.FWMark != 0 {
			idx.byMark[vs.FWMark] = append(idx.byMark[vs.FWMark], i)
		}
		idx.used[i] = i < joined
	}
	return idx
}

// lookup finds the file's service for the dumped vs, unless it is given already.
func (idx *procIndex) lookup(vs *dataplane.VirtualServer) (int, bool) {
	i, ok := idx.byKey[vs.Key()]
	if !ok && vs.FWMark != 0 && len(idx.byMark[vs.FWMark]) == 1 {
		i, ok = idx.byMark[vs.FWMark][0], true
	}
	return i, ok && !idx.used[i]
}
