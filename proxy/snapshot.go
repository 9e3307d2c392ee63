package proxy

import (
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// kernelSnapshot is one read of the kernel's links, ip sets and IPVS table that the
// families' full syncs share: at 10,000 Services each read is megabytes and tens of
// milliseconds, and every family's reconciler used to make its own. Sharing is sound
// because a reconciler keeps only its own family's objects from the read, and the
// syncs of the families before it change none of those. Each part is read on first use.
type kernelSnapshot struct {
	k *kernel.Kernel

	links    []dataplane.Link
	linksErr error
	sets     []dataplane.IPSet
	setsErr  error
	services []dataplane.VirtualServer
	svcErr   error
	read     struct{ links, sets, services bool }
}

func newKernelSnapshot(k *kernel.Kernel) *kernelSnapshot { return &kernelSnapshot{k: k} }

func (s *kernelSnapshot) Links() ([]dataplane.Link, error) {
	if !s.read.links {
		s.links, s.linksErr = s.k.Links.Links()
		s.read.links = true
	}
	return s.links, s.linksErr
}

func (s *kernelSnapshot) IPSets() ([]dataplane.IPSet, error) {
	if !s.read.sets {
		s.sets, s.setsErr = s.k.IPSets.List()
		s.read.sets = true
	}
	return s.sets, s.setsErr
}

func (s *kernelSnapshot) Services() ([]dataplane.VirtualServer, error) {
	if !s.read.services {
		s.services, s.svcErr = s.k.IPVS.Services()
		s.read.services = true
	}
	return s.services, s.svcErr
}
