package ipvs

import (
	"fmt"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Info is what the kernel tells about its IPVS, and `ipvsadm -Ln` prints first:
// "IP Virtual Server version 1.2.1 (size=4096)".
type Info struct {
	// Version is the IPVS version code, (major<<16)|(minor<<8)|patch.
	Version uint32
	// ConnTableSize is the number of buckets of the connection hash table, which the
	// ip_vs module's conn_tab_bits parameter sets when it loads.
	ConnTableSize uint32
}

// String is the version as ipvsadm prints it: "1.2.1".
func (i Info) String() string {
	return fmt.Sprintf("%d.%d.%d", i.Version>>16&0xff, i.Version>>8&0xff, i.Version&0xff)
}

// InfoReader is implemented by the IPVS handles that can ask the kernel for Info (Linux).
// It is separate from Interface because only printing ipvsadm's title needs it.
type InfoReader interface {
	Info() (Info, error)
}

// StatsReader is implemented by the IPVS handles that read the kernel's traffic counters
// (Linux). It is separate from Interface because only the listings of counters need it
// (ipvsdump --stats and --rate), and reading them costs a netlink dump per virtual server.
type StatsReader interface {
	// ServicesWithStats lists every virtual server as Services does, with the Stats and
	// Rates of each virtual and real server.
	ServicesWithStats() ([]dataplane.VirtualServer, error)
}
