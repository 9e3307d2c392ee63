package ipset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// Linux is the kernel's ip sets through nfnetlink, the way `ipset restore` talks to the
// kernel: many entries per message, never a process per entry. The socket is opened on
// first use.
type Linux struct {
	ns netns.NsHandle

	mu   sync.Mutex
	sock *nl.SocketHandle
	// dumps reads list dumps message by message (nlbatch's streaming Dump); sock
	// carries the other commands.
	dumps *nlbatch.Socket
	// revisions caches the newest revision of each set type and family the kernel has.
	revisions map[string]uint8
}

var _ Interface = (*Linux)(nil)

// NewLinux returns the ip sets of the caller's network namespace.
func NewLinux() *Linux { return NewLinuxAt(netns.None()) }

// NewLinuxAt returns the ip sets of the network namespace ns (netns.None() for the
// caller's); the caller keeps ns open while the Linux is used.
func NewLinuxAt(ns netns.NsHandle) *Linux { return &Linux{ns: ns, revisions: map[string]uint8{}} }

// Close releases the netlink socket.
func (l *Linux) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sock != nil {
		l.sock.Socket.Close()
		l.sock = nil
	}
	if l.dumps != nil {
		l.dumps.Close()
		l.dumps = nil
	}
	return nil
}

// request sends one ipset command other than a list and returns the payloads of the
// replies. Errors are errnos; ipset's own codes (4096 and up) carry their ipset meaning.
func (l *Linux) request(cmd int, payload []byte) ([][]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sock == nil {
		s, err := nl.GetNetlinkSocketAt(l.ns, netns.None(), unix.NETLINK_NETFILTER)
		if err != nil {
			return nil, fmt.Errorf("open nfnetlink socket: %w", err)
		}
		if err := s.SetReceiveTimeout(&nl.SocketTimeoutTv); err != nil {
			s.Close()
			return nil, fmt.Errorf("open nfnetlink socket: %w", err)
		}
		l.sock = &nl.SocketHandle{Socket: s}
	}
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   unix.SizeofNlMsghdr,
			Type:  uint16(cmd | unix.NFNL_SUBSYS_IPSET<<8),
			Flags: uint16(nl.GetIpsetFlags(cmd)),
		},
		Sockets: map[int]*nl.SocketHandle{unix.NETLINK_NETFILTER: l.sock},
	}
	req.AddRawData(payload)
	msgs, err := req.Execute(unix.NETLINK_NETFILTER, 0)
	return msgs, withIPSetMeaning(err)
}

// withIPSetMeaning turns ipset's own error codes into ipsetErrors.
func withIPSetMeaning(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) && errno >= ipsetErrPrivate {
		return ipsetError(errno)
	}
	return err
}

// dumpRetries bounds the reads of a list dump the kernel interrupted because the sets
// changed while it was read.
const dumpRetries = 5

// dump sends the list command with payload and calls each with the payload (after the
// netlink header) of every reply as it arrives; msg is valid only during the call.
func (l *Linux) dump(payload []byte, each func(msg []byte) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dumps == nil {
		s, err := nlbatch.Open(l.ns, unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("open nfnetlink socket: %w", err)
		}
		l.dumps = s
	}
	req := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(payload))
	binary.NativeEndian.PutUint16(req[4:], uint16(cmdList|unix.NFNL_SUBSYS_IPSET<<8))
	req = append(req, payload...)
	err := l.dumps.Dump(req, func(_ uint16, msg []byte) error { return each(msg) })
	return withIPSetMeaning(err)
}

// list reads the sets a list command with payload names (all of them, or one), decoding
// each message of the dump as it arrives.
func (l *Linux) list(payload []byte) ([]dataplane.IPSet, error) {
	var d listDecoder
	var err error
	for range dumpRetries {
		d = listDecoder{}
		err = l.dump(payload, d.add)
		if !errors.Is(err, nlbatch.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return d.sets, nil
}

// ipsetError is one of ipset's own error codes.
type ipsetError syscall.Errno

func (e ipsetError) Error() string { return nl.IPSetError(uintptr(e)).Error() }

const ipsetErrExist = ipsetErrPrivate + 7 // IPSET_ERR_EXIST

// header reads a set's name, type and family (and, for a bitmap, its range); found is
// false when there is no such set.
func (l *Linux) header(name string) (set dataplane.IPSet, found bool, err error) {
	msgs, err := l.request(cmdHeader, encodeName(name))
	if errors.Is(err, unix.ENOENT) {
		return set, false, nil
	}
	if err != nil {
		return set, false, fmt.Errorf("read header of set %s: %w", name, err)
	}
	if len(msgs) != 1 {
		return set, false, fmt.Errorf("read header of set %s: %d replies, expected 1", name, len(msgs))
	}
	p, err := decodeMessage(msgs[0])
	if err != nil {
		return set, false, fmt.Errorf("read header of set %s: %w", name, err)
	}
	set = p.set
	if set.Type == dataplane.SetBitmapPort {
		// The header command does not carry the range; the list of a bitmap set does,
		// and a bitmap:port set holds at most a few thousand node ports.
		sets, err := l.list(encodeName(name))
		if err != nil {
			return set, false, fmt.Errorf("read set %s: %w", name, err)
		}
		if len(sets) != 1 {
			return set, false, fmt.Errorf("read set %s: the kernel listed %d sets, expected 1", name, len(sets))
		}
		set.PortRange = sets[0].PortRange
	}
	return set, true, nil
}

// List returns every set, sorted by name, with its members sorted. Sets of types this
// package does not handle are listed without members.
func (l *Linux) List() ([]dataplane.IPSet, error) {
	sets, err := l.list(message())
	if err != nil {
		return nil, fmt.Errorf("list ip sets: %w", err)
	}
	for i := range sets {
		slices.SortFunc(sets[i].Members, dataplane.Member.Compare)
	}
	slices.SortFunc(sets, func(a, b dataplane.IPSet) int { return strings.Compare(a.Name, b.Name) })
	return sets, nil
}

// revision returns the newest revision of a set type the kernel has for a family.
func (l *Linux) revision(setType string, family uint8) (uint8, error) {
	key := fmt.Sprintf("%s/%d", setType, family)
	l.mu.Lock()
	r, ok := l.revisions[key]
	l.mu.Unlock()
	if ok {
		return r, nil
	}
	msgs, err := l.request(cmdType, encodeType(setType, family))
	if err != nil {
		return 0, fmt.Errorf("the kernel has no set type %s (load module ip_set_%s): %w",
			setType, strings.ReplaceAll(setType, ":", "_"), err)
	}
	if len(msgs) != 1 {
		return 0, fmt.Errorf("set type %s: %d replies, expected 1", setType, len(msgs))
	}
	p, err := decodeMessage(msgs[0])
	if err != nil {
		return 0, fmt.Errorf("set type %s: %w", setType, err)
	}
	l.mu.Lock()
	l.revisions[key] = p.revision
	l.mu.Unlock()
	return p.revision, nil
}

// Create makes a set from the header of set, with the newest revision of its type the
// kernel has; a set of that name with the same type and family is kept as it is.
func (l *Linux) Create(set dataplane.IPSet) error {
	h, err := normalizeHeader(set)
	if err != nil {
		return fmt.Errorf("create set: %w", err)
	}
	cur, found, err := l.header(h.Name)
	if err != nil {
		return fmt.Errorf("create set %s: %w", h.Name, err)
	}
	if found {
		return sameSet(cur, h)
	}
	rev, err := l.revision(h.Type, familyCode(h.Family))
	if err != nil {
		return fmt.Errorf("create set %s: %w", h.Name, err)
	}
	_, err = l.request(cmdCreate, encodeCreate(h, rev))
	if errors.Is(err, ipsetError(ipsetErrExist)) {
		// Created by someone else since the header was read.
		if cur, found, herr := l.header(h.Name); herr == nil && found {
			return sameSet(cur, h)
		}
	}
	if err != nil {
		return fmt.Errorf("create set %s %s: %w", h.Name, h.Type, err)
	}
	return nil
}

// Destroy removes a set; a missing set is not an error. A set that iptables rules still
// use cannot be destroyed.
func (l *Linux) Destroy(name string) error {
	_, err := l.request(cmdDestroy, encodeName(name))
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("destroy set %s: %w", name, err)
	}
	return nil
}

// Add adds members in batches; present members are not an error. Every member is
// checked against the set's type and family before any is sent.
func (l *Linux) Add(name string, members ...dataplane.Member) error {
	return l.adt(cmdAdd, "add to", name, members)
}

// Del removes members in batches; absent members are not an error.
func (l *Linux) Del(name string, members ...dataplane.Member) error {
	return l.adt(cmdDel, "delete from", name, members)
}

func (l *Linux) adt(cmd int, op, name string, members []dataplane.Member) error {
	if len(members) == 0 {
		return nil
	}
	h, found, err := l.header(name)
	if err != nil {
		return fmt.Errorf("%s set %s: %w", op, name, err)
	}
	if !found {
		return fmt.Errorf("%s set %s: no such set: create it first: %w", op, name, syscall.ENOENT)
	}
	if err := checkMembers(h, members); err != nil {
		return fmt.Errorf("%s %w", op, err)
	}
	for batch := range slices.Chunk(members, batchSize) {
		// Without NLM_F_EXCL the kernel treats present (add) and absent (del) members
		// as done, like `ipset -exist`.
		if _, err := l.request(cmd, encodeADT(name, h.Type, batch)); err != nil {
			return fmt.Errorf("%s set %s (a batch of %d members from %s): %w", op, name, len(batch), batch[0], err)
		}
	}
	return nil
}
