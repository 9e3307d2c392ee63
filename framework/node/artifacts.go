package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Artifact is one file collected from a node when a spec fails.
type Artifact struct {
	// File is the name written under the node's artifact directory.
	File string
	// Read produces the content.
	Read func(ctx context.Context, n Node) ([]byte, error)
}

// commandArtifact collects a command's stdout.
func commandArtifact(file, name string, args ...string) Artifact {
	return Artifact{File: file, Read: func(ctx context.Context, n Node) ([]byte, error) {
		return Output(ctx, n, name, args...)
	}}
}

// DefaultArtifacts are the node files a person needs to see why an IPVS assertion failed:
// the IPVS table as ipvsadm prints it and as JSON, iptables, ipsets, addresses and the
// sysctls kube-proxy sets.
func DefaultArtifacts(ipvsdumpPath string, ipsets IPSetSource) []Artifact {
	if ipvsdumpPath == "" {
		ipvsdumpPath = DefaultIPVSDumpPath
	}
	if ipsets == nil {
		ipsets = FirstIPSet{NodeIPSet{}, IPVSDumpIPSets{Path: ipvsdumpPath}}
	}
	return []Artifact{
		{File: "ipvsadm-Ln.txt", Read: func(ctx context.Context, n Node) ([]byte, error) {
			out, err := ipvsDump{Path: ipvsdumpPath}.IPVSText(ctx, n)
			if err == nil {
				return out, nil
			}
			// A node with ipvsadm but no ipvsdump still gives the table.
			if out, err2 := (ipvsAdm{}).IPVSText(ctx, n); err2 == nil {
				return out, nil
			}
			return nil, err
		}},
		commandArtifact("ipvsdump-state.json", ipvsdumpPath, "-o", "state"),
		commandArtifact("iptables-save.txt", "iptables-save"),
		commandArtifact("ip6tables-save.txt", "ip6tables-save"),
		{File: "ipset-save.txt", Read: ipsets.IPSetSave},
		commandArtifact("ip-addr.txt", "ip", "addr", "show"),
		commandArtifact("sysctl.txt", "sysctl", "net.ipv4.vs", "net.ipv4.conf.all.arp_ignore",
			"net.ipv4.conf.all.arp_announce", "net.ipv4.ip_forward"),
	}
}

// CollectArtifacts writes each artifact of node n into dir/<node name>/. It keeps going
// when one fails, records the failures in errors.txt beside the others and returns them
// joined: a partial picture of a broken node is still worth having.
func CollectArtifacts(ctx context.Context, n Node, dir string, artifacts []Artifact) error {
	nodeDir := filepath.Join(dir, n.Name())
	if err := os.MkdirAll(nodeDir, 0o755); err != nil {
		return fmt.Errorf("artifacts for node %s: %w", n.Name(), err)
	}
	var errs []error
	for _, a := range artifacts {
		out, err := a.Read(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.File, err))
			if len(out) == 0 {
				continue
			}
		}
		if werr := os.WriteFile(filepath.Join(nodeDir, a.File), out, 0o644); werr != nil {
			errs = append(errs, werr)
		}
	}
	if len(errs) > 0 {
		var b strings.Builder
		for _, e := range errs {
			fmt.Fprintln(&b, e)
		}
		if werr := os.WriteFile(filepath.Join(nodeDir, "errors.txt"), []byte(b.String()), 0o644); werr != nil {
			errs = append(errs, werr)
		}
		return fmt.Errorf("artifacts for node %s: %w", n.Name(), errors.Join(errs...))
	}
	return nil
}
