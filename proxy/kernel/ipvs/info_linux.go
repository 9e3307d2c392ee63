package ipvs

import (
	"encoding/binary"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

var _ InfoReader = (*Linux)(nil)

// Info asks the kernel for its IPVS version and connection table size, with the
// generic netlink command ipvsadm sends for the title of its listing.
func (l *Linux) Info() (Info, error) {
	h, err := netlink.NewHandle(unix.NETLINK_GENERIC)
	if err != nil {
		return Info{}, fmt.Errorf("read IPVS info: %w", err)
	}
	defer h.Close()
	fam, err := h.GenlFamilyGet("IPVS")
	if err != nil {
		return Info{}, fmt.Errorf("read IPVS info: look up the generic netlink family \"IPVS\": %w", err)
	}
	req := nl.NewNetlinkRequest(int(fam.ID), unix.NLM_F_ACK)
	req.AddData(&nl.Genlmsg{Command: cmdGetInfo, Version: genlVersion})
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return Info{}, fmt.Errorf("read IPVS info: %w", err)
	}
	if len(msgs) != 1 || len(msgs[0]) < nl.SizeofGenlmsg {
		return Info{}, fmt.Errorf("read IPVS info: expected one reply to IPVS_CMD_GET_INFO, got %d", len(msgs))
	}
	attrs, err := nl.ParseRouteAttr(msgs[0][nl.SizeofGenlmsg:])
	if err != nil {
		return Info{}, fmt.Errorf("read IPVS info: %w", err)
	}
	var info Info
	found := 0
	for _, a := range attrs {
		if len(a.Value) != 4 {
			continue
		}
		switch a.Attr.Type {
		case infoAttrVersion:
			info.Version = binary.NativeEndian.Uint32(a.Value)
			found++
		case infoAttrConnTableSize:
			info.ConnTableSize = binary.NativeEndian.Uint32(a.Value)
			found++
		}
	}
	if found != 2 {
		return Info{}, fmt.Errorf("read IPVS info: expected the version and connection table size attributes in the reply, found %d of them", found)
	}
	return info, nil
}
