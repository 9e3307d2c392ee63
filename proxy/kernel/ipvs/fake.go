package ipvs

import (
	"fmt"
	"slices"
	"sync"
	"syscall"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/fakecalls"
)

// Fake is an in-memory IPVS table that answers like the kernel: services keyed by
// protocol, address and port (or family and mark), real servers keyed by address and port
// within their service, the kernel's errno for each refusal (EEXIST, ESRCH, ENOENT,
// EINVAL, ERANGE, wrapped with the object), schedulers limited to a known set and the
// default timeouts 900/120/300. Its Recorder logs every changing call ("AddService TCP
// 10.96.0.1:443", "AddRealServer TCP 10.96.0.1:443 10.244.3.214:80", "SetTimeouts 900
// 120 300") and fails the next call of any method on request. It is safe for concurrent
// use.
type Fake struct {
	mu         sync.Mutex
	services   map[dataplane.ServiceKey]*dataplane.VirtualServer
	timeouts   dataplane.Timeouts
	schedulers []string
	*fakecalls.Recorder
}

var _ Interface = (*Fake)(nil)

// NewFake returns an empty IPVS table that knows every scheduler in KernelSchedulers.
func NewFake() *Fake {
	return &Fake{
		services:   map[dataplane.ServiceKey]*dataplane.VirtualServer{},
		timeouts:   DefaultTimeouts,
		schedulers: slices.Clone(KernelSchedulers),
		Recorder: fakecalls.New("ipvs.Fake",
			"Services", "RealServers", "AddService", "UpdateService", "DeleteService",
			"AddRealServer", "UpdateRealServer", "DeleteRealServer", "AddServices", "Timeouts", "SetTimeouts", "Close"),
	}
}

// SetSchedulers limits the schedulers the fake knows, like a kernel with only some
// ip_vs_* modules; services using others fail with ENOENT.
func (f *Fake) SetSchedulers(names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.schedulers = slices.Clone(names)
}

// SetConnections sets the connection counters of a real server, as traffic would.
func (f *Fake) SetConnections(key dataplane.ServiceKey, rs dataplane.RealServerKey, active, inactive int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := normalizeKey(key)
	if err != nil {
		return err
	}
	vs, ok := f.services[k]
	if !ok {
		return opError("SetConnections", k, rs, syscall.ESRCH, dataplane.VirtualServer{})
	}
	i := slices.IndexFunc(vs.RealServers, func(r dataplane.RealServer) bool { return r.Key() == normalizeRealServerKey(rs) })
	if i < 0 {
		return fmt.Errorf("set connections of real server %s of %s: %w", rs, k, syscall.ENOENT)
	}
	vs.RealServers[i].ActiveConns, vs.RealServers[i].InactiveConns = active, inactive
	return nil
}

// Services returns copies of every virtual server with its real servers, sorted.
func (f *Fake) Services() ([]dataplane.VirtualServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fault("Services"); err != nil {
		return nil, err
	}
	t := dataplane.IPVS{Services: make([]dataplane.VirtualServer, 0, len(f.services))}
	for _, vs := range f.services {
		c := *vs
		c.RealServers = slices.Clone(vs.RealServers)
		t.Services = append(t.Services, c)
	}
	t.Sort()
	return t.Services, nil
}

// RealServers lists one virtual server's real servers, ordered by address and port. A
// missing service lists nothing without an error, as the kernel's destination dump does.
func (f *Fake) RealServers(key dataplane.ServiceKey) ([]dataplane.RealServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fault("RealServers"); err != nil {
		return nil, err
	}
	k, err := normalizeKey(key)
	if err != nil {
		return nil, opError("list real servers of", key, noRealServer, err, dataplane.VirtualServer{})
	}
	vs, ok := f.services[k]
	if !ok {
		return nil, nil
	}
	t := dataplane.IPVS{Services: []dataplane.VirtualServer{{RealServers: slices.Clone(vs.RealServers)}}}
	t.Sort()
	return t.Services[0].RealServers, nil
}

func (f *Fake) checkScheduler(name string) error {
	if !slices.Contains(f.schedulers, name) {
		return syscall.ENOENT
	}
	return nil
}

// AddService creates a virtual server without real servers.
func (f *Fake) AddService(vs dataplane.VirtualServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addService(vs)
}

// AddServices creates each virtual server and then its real servers as AddService and
// AddRealServer do, logging and failing (FailNext) each object as those calls would; a
// fault queued for "AddServices" fails the whole call before anything is created.
func (f *Fake) AddServices(vss []dataplane.VirtualServer) error {
	if len(vss) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fault("AddServices"); err != nil {
		return err
	}
	var failed []*ObjectError
	for _, vs := range vss {
		if err := f.addService(vs); err != nil {
			failed = append(failed, &ObjectError{Service: vs.Key(), Err: err})
			continue
		}
		for _, rs := range vs.RealServers {
			if err := f.addRealServer(vs.Key(), rs); err != nil {
				failed = append(failed, &ObjectError{Service: vs.Key(), RealServer: rs.Key(), Err: err})
			}
		}
	}
	return batchResult(len(vss), failed)
}

// serviceCall logs a call of op (AddService or UpdateService) and returns vs as the
// kernel would keep it, or the failure that leaves the table as it was: a queued one or a
// virtual server the kernel refuses. f.mu must be held.
func (f *Fake) serviceCall(op string, vs dataplane.VirtualServer) (dataplane.VirtualServer, error) {
	if err := f.Call(op, vs.Key()); err != nil {
		return dataplane.VirtualServer{}, err
	}
	n, err := normalizeService(vs)
	if err != nil {
		return dataplane.VirtualServer{}, opError(op, vs.Key(), noRealServer, err, vs)
	}
	return n, nil
}

func (f *Fake) addService(vs dataplane.VirtualServer) error {
	n, err := f.serviceCall("AddService", vs)
	if err != nil {
		return err
	}
	k := n.Key()
	if _, ok := f.services[k]; ok {
		return opError("AddService", k, noRealServer, syscall.EEXIST, vs)
	}
	if err := f.checkScheduler(n.Scheduler); err != nil {
		return opError("AddService", k, noRealServer, err, vs)
	}
	f.services[k] = &n
	return nil
}

// UpdateService changes scheduler, persistence and flags of an existing virtual server.
func (f *Fake) UpdateService(vs dataplane.VirtualServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.serviceCall("UpdateService", vs)
	if err != nil {
		return err
	}
	k := n.Key()
	cur, ok := f.services[k]
	if !ok {
		return opError("UpdateService", k, noRealServer, syscall.ESRCH, vs)
	}
	if err := f.checkScheduler(n.Scheduler); err != nil {
		return opError("UpdateService", k, noRealServer, err, vs)
	}
	n.RealServers = cur.RealServers
	*cur = n
	return nil
}

// DeleteService removes a virtual server and its real servers.
func (f *Fake) DeleteService(key dataplane.ServiceKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Call("DeleteService", key); err != nil {
		return err
	}
	k, err := normalizeKey(key)
	if err != nil {
		return opError("DeleteService", key, noRealServer, err, dataplane.VirtualServer{})
	}
	if _, ok := f.services[k]; !ok {
		return opError("DeleteService", k, noRealServer, syscall.ESRCH, dataplane.VirtualServer{})
	}
	delete(f.services, k)
	return nil
}

// service finds the virtual server of a real-server operation.
func (f *Fake) service(op string, key dataplane.ServiceKey, rs dataplane.RealServerKey) (*dataplane.VirtualServer, error) {
	k, err := normalizeKey(key)
	if err != nil {
		return nil, opError(op, key, rs, err, dataplane.VirtualServer{})
	}
	vs, ok := f.services[k]
	if !ok {
		return nil, opError(op, k, rs, syscall.ESRCH, dataplane.VirtualServer{})
	}
	return vs, nil
}

// AddRealServer adds a real server to an existing virtual server.
func (f *Fake) AddRealServer(key dataplane.ServiceKey, rs dataplane.RealServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addRealServer(key, rs)
}

func (f *Fake) addRealServer(key dataplane.ServiceKey, rs dataplane.RealServer) error {
	vs, n, err := f.realServerCall("AddRealServer", key, rs)
	if err != nil {
		return err
	}
	if _, ok := vs.RealServer(n.Key()); ok {
		return opError("AddRealServer", vs.Key(), n.Key(), syscall.EEXIST, *vs)
	}
	vs.RealServers = append(vs.RealServers, n)
	return nil
}

// realServerCall logs a call of op (AddRealServer or UpdateRealServer) and returns the
// virtual server it changes and rs as the kernel would keep it, or the failure that leaves
// the table as it was: a queued one, a missing virtual server or a real server the kernel
// refuses. f.mu must be held.
func (f *Fake) realServerCall(op string, key dataplane.ServiceKey, rs dataplane.RealServer) (*dataplane.VirtualServer, dataplane.RealServer, error) {
	if err := f.Call(op, key, rs.Key()); err != nil {
		return nil, dataplane.RealServer{}, err
	}
	vs, err := f.service(op, key, rs.Key())
	if err != nil {
		return nil, dataplane.RealServer{}, err
	}
	n, err := checkRealServer(vs.Family, rs)
	if err != nil {
		return nil, dataplane.RealServer{}, opError(op, vs.Key(), rs.Key(), err, *vs)
	}
	return vs, n, nil
}

// UpdateRealServer changes forwarding and weight of an existing real server; its
// connection counters stay.
func (f *Fake) UpdateRealServer(key dataplane.ServiceKey, rs dataplane.RealServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	vs, n, err := f.realServerCall("UpdateRealServer", key, rs)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(vs.RealServers, func(r dataplane.RealServer) bool { return r.Key() == n.Key() })
	if i < 0 {
		return opError("UpdateRealServer", vs.Key(), n.Key(), syscall.ENOENT, *vs)
	}
	vs.RealServers[i].Forward, vs.RealServers[i].Weight = n.Forward, n.Weight
	return nil
}

// DeleteRealServer removes a real server from its virtual server.
func (f *Fake) DeleteRealServer(key dataplane.ServiceKey, rs dataplane.RealServerKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Call("DeleteRealServer", key, rs); err != nil {
		return err
	}
	vs, err := f.service("DeleteRealServer", key, rs)
	if err != nil {
		return err
	}
	k := normalizeRealServerKey(rs)
	i := slices.IndexFunc(vs.RealServers, func(r dataplane.RealServer) bool { return r.Key() == k })
	if i < 0 {
		return opError("DeleteRealServer", vs.Key(), k, syscall.ENOENT, *vs)
	}
	vs.RealServers = slices.Delete(vs.RealServers, i, i+1)
	return nil
}

// Timeouts returns the tcp, tcpfin and udp timeouts.
func (f *Fake) Timeouts() (dataplane.Timeouts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fault("Timeouts"); err != nil {
		return dataplane.Timeouts{}, err
	}
	return f.timeouts, nil
}

// SetTimeouts sets the non-zero timeouts and keeps the others, as ipvsadm --set does.
func (f *Fake) SetTimeouts(t dataplane.Timeouts) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Call("SetTimeouts", t.TCP, t.TCPFin, t.UDP); err != nil {
		return err
	}
	if err := checkTimeouts(t); err != nil {
		return err
	}
	if t.TCP != 0 {
		f.timeouts.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		f.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		f.timeouts.UDP = t.UDP
	}
	return nil
}

// Close does nothing but can be made to fail.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Fault("Close")
}
