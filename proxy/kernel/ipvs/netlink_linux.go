package ipvs

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	mobyipvs "github.com/moby/ipvs"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// Linux is the kernel's IPVS table through generic netlink: github.com/moby/ipvs, and a
// socket of its own for batches and the whole table's service dump.
type Linux struct {
	// mu serializes requests: a moby/ipvs handle is one socket, and concurrent requests
	// would read each other's replies.
	mu sync.Mutex
	h  *mobyipvs.Handle
	// readMu serializes whole-table reads (lastServices, proc). It is not mu: reading
	// /proc/net/ip_vs at 10,000 Services takes seconds, and a proxier's full resync
	// reads while its partial syncs keep changing the table.
	readMu sync.Mutex
	// genl carries AddServices' batches (batch_linux.go) and the whole table's service
	// dump (servicedump_linux.go); the socket serializes its own exchanges.
	genl       *nlbatch.Socket
	ipvsFamily uint16 // the IPVS generic netlink family, the type of genl's messages
	// lastServices is the number of virtual servers the last service dump read: the next
	// one starts with room for them.
	lastServices int
	// proc is the namespace's /proc/net/ip_vs, nil when it could not be opened: Services
	// then reads real servers with a netlink dump per virtual server (table_linux.go).
	proc *procIPVSFile
}

var _ Interface = (*Linux)(nil)

// NewLinux checks that the kernel has IPVS (CheckKernel) and opens a netlink handle, a
// generic netlink socket of its own and /proc/net/ip_vs in the calling thread's network
// namespace (to use another namespace, call it locked to a thread in that namespace).
func NewLinux() (*Linux, error) {
	if err := CheckKernel(); err != nil {
		return nil, err
	}
	h, err := mobyipvs.New("")
	if err != nil {
		return nil, fmt.Errorf("open IPVS netlink handle: %w", err)
	}
	g, fam, err := openGenlSocket()
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("open IPVS netlink socket for batches and dumps: %w", err)
	}
	p, err := openProcIPVS()
	if err != nil {
		slog.Debug("Reading IPVS real servers without /proc/net/ip_vs: one netlink dump per virtual server", "err", err)
	}
	return &Linux{h: h, genl: g, ipvsFamily: fam, proc: p}, nil
}

// Close releases the netlink socket.
func (l *Linux) Close() error {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.h.Close()
	l.genl.Close()
	l.proc.close()
	return nil
}

// Services lists every virtual server with its real servers in the order the kernel
// lists them (its hash tables' order; real servers newest first). It does not sort: the
// order `ipvsadm -Ln` prints comes from sorting exactly this order with a comparator that
// is not a total order (dataplane.SortIPVSAdm), so a sorted list would print differently.
// It costs one netlink dump and one read of /proc/net/ip_vs whatever the table's size
// (table_linux.go). Changes made meanwhile go on: the read does not hold them up.
func (l *Linux) Services() ([]dataplane.VirtualServer, error) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	return l.table()
}

// RealServers lists one virtual server's real servers with their connection counters.
func (l *Linux) RealServers(key dataplane.ServiceKey) ([]dataplane.RealServer, error) {
	s, err := serviceKey(key)
	if err != nil {
		return nil, fmt.Errorf("list real servers of %s: %w", key, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	dests, err := l.h.GetDestinations(s)
	if err != nil {
		return nil, fmt.Errorf("list real servers of %s: %w", key, err)
	}
	out := make([]dataplane.RealServer, 0, len(dests))
	for _, d := range dests {
		rs, err := fromDestination(d)
		if err != nil {
			return nil, fmt.Errorf("list real servers of %s: %w", key, err)
		}
		out = append(out, rs)
	}
	return out, nil
}

// AddService creates a virtual server; its real servers are ignored.
func (l *Linux) AddService(vs dataplane.VirtualServer) error {
	return l.serviceOp("AddService", vs, func(s *mobyipvs.Service) error { return l.h.NewService(s) })
}

// UpdateService changes scheduler, persistence and flags of a virtual server.
func (l *Linux) UpdateService(vs dataplane.VirtualServer) error {
	return l.serviceOp("UpdateService", vs, func(s *mobyipvs.Service) error { return l.h.UpdateService(s) })
}

func (l *Linux) serviceOp(op string, vs dataplane.VirtualServer, do func(*mobyipvs.Service) error) error {
	s, err := toService(vs)
	if err == nil {
		l.mu.Lock()
		err = do(s)
		l.mu.Unlock()
	}
	if err != nil {
		return opError(op, vs.Key(), noRealServer, err, vs)
	}
	return nil
}

// DeleteService removes a virtual server and its real servers.
func (l *Linux) DeleteService(key dataplane.ServiceKey) error {
	s, err := serviceKey(key)
	if err == nil {
		l.mu.Lock()
		err = l.h.DelService(s)
		l.mu.Unlock()
	}
	if err != nil {
		return opError("DeleteService", key, noRealServer, err, dataplane.VirtualServer{})
	}
	return nil
}

// AddRealServer adds a real server to a virtual server.
func (l *Linux) AddRealServer(key dataplane.ServiceKey, rs dataplane.RealServer) error {
	return l.realServerOp("AddRealServer", key, rs, func(s *mobyipvs.Service, d *mobyipvs.Destination) error {
		return l.h.NewDestination(s, d)
	})
}

// UpdateRealServer changes forwarding and weight of a real server.
func (l *Linux) UpdateRealServer(key dataplane.ServiceKey, rs dataplane.RealServer) error {
	return l.realServerOp("UpdateRealServer", key, rs, func(s *mobyipvs.Service, d *mobyipvs.Destination) error {
		return l.h.UpdateDestination(s, d)
	})
}

func (l *Linux) realServerOp(op string, key dataplane.ServiceKey, rs dataplane.RealServer, do func(*mobyipvs.Service, *mobyipvs.Destination) error) error {
	s, err := serviceKey(key)
	if err == nil {
		var d *mobyipvs.Destination
		d, err = toDestination(family(key), rs)
		if err == nil {
			l.mu.Lock()
			err = do(s, d)
			l.mu.Unlock()
		}
	}
	if err != nil {
		return opError(op, key, rs.Key(), err, dataplane.VirtualServer{})
	}
	return nil
}

// DeleteRealServer removes a real server from a virtual server.
func (l *Linux) DeleteRealServer(key dataplane.ServiceKey, rs dataplane.RealServerKey) error {
	s, err := serviceKey(key)
	if err == nil {
		l.mu.Lock()
		err = l.h.DelDestination(s, destinationKey(family(key), rs))
		l.mu.Unlock()
	}
	if err != nil {
		return opError("DeleteRealServer", key, rs, err, dataplane.VirtualServer{})
	}
	return nil
}

// Timeouts reads the tcp, tcpfin and udp timeouts.
func (l *Linux) Timeouts() (dataplane.Timeouts, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.h.GetConfig()
	if err != nil {
		return dataplane.Timeouts{}, fmt.Errorf("read IPVS timeouts: %w", err)
	}
	return dataplane.Timeouts{
		TCP:    uint32(c.TimeoutTCP / time.Second),
		TCPFin: uint32(c.TimeoutTCPFin / time.Second),
		UDP:    uint32(c.TimeoutUDP / time.Second),
	}, nil
}

// SetTimeouts sets the non-zero timeouts; the kernel keeps the others.
func (l *Linux) SetTimeouts(t dataplane.Timeouts) error {
	if err := checkTimeouts(t); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.h.SetConfig(&mobyipvs.Config{
		TimeoutTCP:    time.Duration(t.TCP) * time.Second,
		TimeoutTCPFin: time.Duration(t.TCPFin) * time.Second,
		TimeoutUDP:    time.Duration(t.UDP) * time.Second,
	})
	if err != nil {
		return fmt.Errorf("set IPVS timeouts tcp %d tcpfin %d udp %d: %w", t.TCP, t.TCPFin, t.UDP, err)
	}
	return nil
}
