package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// DefaultIPVSDumpPath is where InstallIPVSDump puts the inspector on a node. Neither the
// kind node image nor the kube-proxy image ships ipvsadm, so the framework brings its own
// static reader of the IPVS table.
const DefaultIPVSDumpPath = "/usr/local/bin/ipvsdump"

// InstallIPVSDump copies the ipvsdump binary built on the host into the node.
func InstallIPVSDump(ctx context.Context, n Node, hostPath string) error {
	if err := n.CopyFile(ctx, hostPath, DefaultIPVSDumpPath); err != nil {
		return fmt.Errorf("install ipvsdump on node %s: %w (build it with `make build`, it must be a static linux binary)", n.Name(), err)
	}
	return nil
}

// IPVSSource reads a node's IPVS table.
type IPVSSource interface {
	ReadIPVS(ctx context.Context, n Node) (dataplane.IPVS, error)
}

// IPSetSource gives the text of `ipset save` for a node. It is a source of its own because
// the kind node image has no ipset binary: the kube-proxy pod on the node (host network,
// privileged, ipset installed) can run it instead; see the kubeproxy package.
type IPSetSource interface {
	IPSetSave(ctx context.Context, n Node) ([]byte, error)
}

// ipvsDump reads IPVS with the ipvsdump binary installed on the node: its JSON state,
// restricted to the IPVS table (the links, ipsets and rules come from their own tools).
type ipvsDump struct {
	// Path on the node; empty means DefaultIPVSDumpPath.
	Path string
}

// ReadIPVS implements IPVSSource.
func (d ipvsDump) ReadIPVS(ctx context.Context, n Node) (dataplane.IPVS, error) {
	out, err := Output(ctx, n, d.path(), ipvsOnlyState...)
	if err != nil {
		return dataplane.IPVS{}, err
	}
	var st dataplane.State
	if err := json.Unmarshal(out, &st); err != nil {
		return dataplane.IPVS{}, fmt.Errorf("node %s: `%s -o state` printed something other than a JSON dataplane state: %w", n.Name(), d.path(), err)
	}
	return st.IPVS, nil
}

var ipvsOnlyState = []string{"-o", "state", "--links=false", "--ipsets=false", "--iptables=false"}

func (d ipvsDump) path() string {
	if d.Path == "" {
		return DefaultIPVSDumpPath
	}
	return d.Path
}

// IPVSText runs the inspector in ipvsadm's format, for artifacts a person reads.
func (d ipvsDump) IPVSText(ctx context.Context, n Node) ([]byte, error) {
	return Output(ctx, n, d.path(), "-Ln")
}

// ipvsAdm reads IPVS with `ipvsadm -Ln`, for nodes that have it (the kernel lab, hosts).
type ipvsAdm struct{}

// ReadIPVS implements IPVSSource.
func (ipvsAdm) ReadIPVS(ctx context.Context, n Node) (dataplane.IPVS, error) {
	out, err := Output(ctx, n, "ipvsadm", "-Ln")
	if err != nil {
		return dataplane.IPVS{}, err
	}
	v, err := parseIPVSAdm(out)
	if err != nil {
		return dataplane.IPVS{}, fmt.Errorf("node %s: %w", n.Name(), err)
	}
	return v, nil
}

// IPVSText implements the artifact side: the same command's text.
func (ipvsAdm) IPVSText(ctx context.Context, n Node) ([]byte, error) {
	return Output(ctx, n, "ipvsadm", "-Ln")
}

// procIPVS reads the kernel's /proc/net/ip_vs, which every node with IPVS has, no binary
// needed. It is the last resort: the file has no scheduler flags or one-packet flag, and
// prints persistence timeouts in jiffies, converted here with HZ (0: Debian's 250).
type procIPVS struct{ HZ int }

// ReadIPVS implements IPVSSource.
func (p procIPVS) ReadIPVS(ctx context.Context, n Node) (dataplane.IPVS, error) {
	out, err := Output(ctx, n, "cat", "/proc/net/ip_vs")
	if err != nil {
		return dataplane.IPVS{}, err
	}
	hz := p.HZ
	if hz == 0 {
		hz = dataplane.DebianKernelHZ
	}
	v, err := dataplane.ParseProcIPVSWithHZ(string(out), hz)
	if err != nil {
		return dataplane.IPVS{}, fmt.Errorf("node %s: %w", n.Name(), err)
	}
	return v, nil
}

// firstIPVS tries each source in order and returns the first that reads.
type firstIPVS []IPVSSource

// ReadIPVS implements IPVSSource.
func (f firstIPVS) ReadIPVS(ctx context.Context, n Node) (dataplane.IPVS, error) {
	v, err := firstAnswer(f, func(s IPVSSource) (dataplane.IPVS, error) { return s.ReadIPVS(ctx, n) })
	if err != nil {
		return dataplane.IPVS{}, fmt.Errorf("no IPVS source worked on node %s (install ipvsdump with InstallIPVSDump, or install ipvsadm; /proc/net/ip_vs missing means no IPVS in the kernel): %w", n.Name(), err)
	}
	return v, nil
}

// firstAnswer asks each source in order and returns the first answer given without an
// error, or else all the errors.
func firstAnswer[S, T any](sources []S, ask func(S) (T, error)) (T, error) {
	var errs []error
	for _, s := range sources {
		v, err := ask(s)
		if err == nil {
			return v, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no source given"))
	}
	var zero T
	return zero, errors.Join(errs...)
}

// IPVSDumpIPSets reads the ipsets with ipvsdump, which asks the kernel over netlink and so
// needs no ipset binary (the kind node image has none), and renders them as `ipset save`
// would.
type IPVSDumpIPSets struct {
	// Path on the node; empty means DefaultIPVSDumpPath.
	Path string
}

// IPSetSave implements IPSetSource.
func (d IPVSDumpIPSets) IPSetSave(ctx context.Context, n Node) ([]byte, error) {
	dump := ipvsDump{Path: d.Path}
	out, err := Output(ctx, n, dump.path(), "-o", "state", "--links=false", "--iptables=false")
	if err != nil {
		return nil, err
	}
	var st dataplane.State
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("node %s: `%s -o state` printed something other than a JSON dataplane state: %w", n.Name(), dump.path(), err)
	}
	return []byte(dataplane.FormatIPSetSave(st.IPSets)), nil
}

// NodeIPSet runs `ipset save` on the node itself.
type NodeIPSet struct{}

// IPSetSave implements IPSetSource.
func (NodeIPSet) IPSetSave(ctx context.Context, n Node) ([]byte, error) {
	return Output(ctx, n, "ipset", "save")
}

// FirstIPSet tries each source in order and returns the first that answers.
type FirstIPSet []IPSetSource

// IPSetSave implements IPSetSource.
func (f FirstIPSet) IPSetSave(ctx context.Context, n Node) ([]byte, error) {
	out, err := firstAnswer(f, func(s IPSetSource) ([]byte, error) { return s.IPSetSave(ctx, n) })
	if err != nil {
		return nil, fmt.Errorf("no ipset source worked on node %s: %w", n.Name(), err)
	}
	return out, nil
}

// ReadOptions choose how ReadState reaches each part of the dataplane.
type ReadOptions struct {
	// IPVS reads the IPVS table; nil means ipvsdump at DefaultIPVSDumpPath, then ipvsadm,
	// then /proc/net/ip_vs.
	IPVS IPVSSource
	// IPSets gives `ipset save`; nil means ipset on the node, then ipvsdump.
	IPSets IPSetSource
	// IPv6 also reads ip6tables-save into State.IP6Tables.
	IPv6 bool
}

func (o ReadOptions) ipvs() IPVSSource {
	if o.IPVS != nil {
		return o.IPVS
	}
	return firstIPVS{ipvsDump{}, ipvsAdm{}, procIPVS{}}
}

func (o ReadOptions) ipsets() IPSetSource {
	if o.IPSets != nil {
		return o.IPSets
	}
	return FirstIPSet{NodeIPSet{}, IPVSDumpIPSets{}}
}

// StateReader is a node that answers its whole dataplane at once (the node inspector of a
// cluster the project did not create); ReadState asks it instead of running the tools.
type StateReader interface {
	ReadState(ctx context.Context, opts ReadOptions) (dataplane.State, error)
}

// ReadState reads a node's whole dataplane through the text its tools print: the IPVS table,
// the links and their addresses (`ip -j addr`, or `ip addr` where -j is unknown), the ipsets
// and the iptables rules. Every part must read: a suite asserting on a half-read state
// would report the wrong failure.
func ReadState(ctx context.Context, n Node, opts ReadOptions) (dataplane.State, error) {
	if r, ok := n.(StateReader); ok {
		return r.ReadState(ctx, opts)
	}
	st := dataplane.State{Node: n.Name()}
	var errs []error
	part := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}

	v, err := opts.ipvs().ReadIPVS(ctx, n)
	part("IPVS", err)
	v.Sort()
	st.IPVS = v

	st.Links, err = readLinks(ctx, n)
	part("links", err)

	out, err := opts.ipsets().IPSetSave(ctx, n)
	if err == nil {
		st.IPSets, err = parseIPSetSave(out)
	}
	part("ipsets", err)

	out, err = Output(ctx, n, "iptables-save")
	if err == nil {
		st.IPTables, err = parseIPTablesSave(out)
	}
	part("iptables", err)

	if opts.IPv6 {
		out, err = Output(ctx, n, "ip6tables-save")
		if err == nil {
			st.IP6Tables, err = parseIPTablesSave(out)
		}
		part("ip6tables", err)
	}

	if len(errs) > 0 {
		return st, fmt.Errorf("read dataplane of node %s: %w", n.Name(), errors.Join(errs...))
	}
	return st, nil
}

// readLinks prefers iproute2's JSON; busybox's ip (the kernel lab) only has text.
func readLinks(ctx context.Context, n Node) ([]dataplane.Link, error) {
	out, jsonErr := Output(ctx, n, "ip", "-j", "addr", "show")
	if jsonErr == nil {
		return parseIPAddrJSON(out)
	}
	out, err := Output(ctx, n, "ip", "addr", "show")
	if err != nil {
		return nil, errors.Join(jsonErr, err)
	}
	return parseIPAddr(out)
}
