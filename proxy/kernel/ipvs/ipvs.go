// Package ipvs is the narrow interface to the kernel's IPVS table, a Linux implementation
// over github.com/moby/ipvs and an in-memory fake that behaves like the kernel.
package ipvs

import "github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"

// Interface is what the proxier and the state reader need from IPVS. Virtual and real
// servers are dataplane values; connection counters are filled in on read and ignored on
// write. Errors from the kernel are returned wrapped with the object they were for.
type Interface interface {
	// Services lists every virtual server with its real servers.
	Services() ([]dataplane.VirtualServer, error)
	// RealServers lists one virtual server's real servers with their connection counters;
	// it lets graceful termination watch a few services without reading the whole table.
	RealServers(key dataplane.ServiceKey) ([]dataplane.RealServer, error)
	// AddService creates a virtual server; its RealServers are ignored.
	AddService(vs dataplane.VirtualServer) error
	// UpdateService changes scheduler, persistence and flags of an existing virtual server.
	UpdateService(vs dataplane.VirtualServer) error
	// DeleteService removes a virtual server and its real servers.
	DeleteService(key dataplane.ServiceKey) error
	// AddServices creates virtual servers with their real servers in few kernel round
	// trips, as AddService and AddRealServer would one by one. Each object succeeds or
	// fails on its own; the real servers of a virtual server that failed are not tried.
	// When some fail the error is a *BatchError naming each; any other error (the socket
	// failed) leaves it unknown which were created.
	AddServices(vss []dataplane.VirtualServer) error
	AddRealServer(key dataplane.ServiceKey, rs dataplane.RealServer) error
	UpdateRealServer(key dataplane.ServiceKey, rs dataplane.RealServer) error
	DeleteRealServer(key dataplane.ServiceKey, rs dataplane.RealServerKey) error
	// Timeouts reads and SetTimeouts writes the tcp/tcpfin/udp timeouts (0: keep).
	Timeouts() (dataplane.Timeouts, error)
	SetTimeouts(t dataplane.Timeouts) error
	Close() error
}
