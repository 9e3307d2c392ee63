// Command ipvsdump prints a node's IPVS table exactly as `ipvsadm -Ln` does, and on request
// the rest of its kube-proxy dataplane, on nodes that carry no ipvsadm (kind node images,
// the kube-proxy image). It reads the kernel over netlink and is built static
// (CGO_ENABLED=0) so that it can be copied into any node. `ipvsdump serve` is the node
// inspector: the same reading over HTTP, from a DaemonSet pod (internal/serve).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
)

// Exit codes, also listed in README.md.
const (
	exitOK       = 0
	exitRead     = 1 // a part of the dataplane could not be read
	exitUsage    = 2
	exitNoKernel = 3 // the kernel could not be opened: no IPVS, or no netlink access
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serveMain(os.Args[2:], os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, kernel.Linux))
}

const usageText = `Usage: ipvsdump [-o ipvsadm|save|json|state] [--timeout | --stats | --rate [--exact]] [--links] [--ipsets] [--iptables]
       ipvsdump serve [--listen ADDR] [--host-root DIR] [--node NAME]   (the node inspector; serve --help)

Prints the IPVS table as ` + "`ipvsadm -Ln`" + ` prints it, byte for byte.

Output formats (-o):
  ipvsadm  the table as ipvsadm -Ln (default); --timeout prints the timeouts instead,
           as ipvsadm -L --timeout; --stats and --rate the traffic counters, as
           ipvsadm -Ln --stats and --rate (--exact: whole numbers, not 123K); --links,
           --ipsets and --iptables append those parts as ip addr, ipset save and
           iptables-save would
  save     the table as ipvsadm -Sn
  json     the table and its timeouts as JSON; with --stats or --rate, each virtual
           and real server's counters too
  state    the node's whole dataplane as JSON: IPVS, links (kube-ipvs0), ipsets,
           iptables and ip6tables; turn a part off with --links=false, --ipsets=false or
           --iptables=false; without --iptables a ruleset whose *-save binary is not
           installed (kind nodes) is left out with a note on stderr

Flags:
`

// run is main without the process: it parses args, opens the kernel with open, and
// writes to stdout and stderr; it returns the exit code.
func run(args []string, stdout, stderr io.Writer, open func() (*kernel.Kernel, error)) int {
	fs := flag.NewFlagSet("ipvsdump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	output := fs.String("o", "ipvsadm", "output format: ipvsadm, save, json or state")
	timeout := fs.Bool("timeout", false, "print the IPVS timeouts (tcp tcpfin udp) instead of the table")
	links := fs.Bool("links", false, "also print links and their addresses")
	ipsets := fs.Bool("ipsets", false, "also print ip sets")
	iptables := fs.Bool("iptables", false, "also print the iptables and ip6tables rulesets")
	node := fs.String("node", "", "node name recorded by -o state (default: the host name)")
	stats := fs.Bool("stats", false, "print the traffic counters (Conns, InPkts, OutPkts, InBytes, OutBytes) as ipvsadm -Ln --stats")
	rate := fs.Bool("rate", false, "print the rates (CPS, InPPS, OutPPS, InBPS, OutBPS) as ipvsadm -Ln --rate")
	exact := fs.Bool("exact", false, "with --stats or --rate, print whole numbers instead of ipvsadm's 123K, 45M")
	// ipvsadm's listing flags, accepted so that `ipvsdump -Ln` works as the habit types it.
	for _, name := range []string{"L", "n", "Ln"} {
		fs.Bool(name, false, "accepted for ipvsadm compatibility; no effect")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ipvsdump: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	counters := *stats || *rate
	if counters && (*stats == *rate || *timeout) {
		fmt.Fprintln(stderr, "ipvsdump: --stats, --rate and --timeout each choose what is listed: give one of them")
		return exitUsage
	}
	if counters && *output != "ipvsadm" && *output != "json" {
		fmt.Fprintf(stderr, "ipvsdump: -o %s does not print counters: --stats and --rate go with -o ipvsadm or -o json\n", *output)
		return exitUsage
	}
	opts := kernel.ReadOptions{Node: *node, IPVS: !*timeout, Timeouts: *timeout, Stats: counters,
		Links: *links, IPSets: *ipsets, IPTables: *iptables, IP6Tables: *iptables}
	switch *output {
	case "ipvsadm":
	case "save":
		if *timeout || *links || *ipsets || *iptables {
			fmt.Fprintln(stderr, "ipvsdump: -o save prints the IPVS table only; --timeout, --links, --ipsets and --iptables do not apply")
			return exitUsage
		}
	case "json":
		opts.IPVS, opts.Timeouts = true, true
	case "state":
		opts = kernel.Everything(*node)
		opts.Links = *links || !set["links"]
		opts.IPSets = *ipsets || !set["ipsets"]
		// Without --iptables the rulesets are read if the binaries are there (see below).
		opts.IPTables, opts.IP6Tables = *iptables, *iptables
		if opts.Node == "" {
			opts.Node, _ = os.Hostname()
		}
	default:
		fmt.Fprintf(stderr, "ipvsdump: -o %q: expected ipvsadm, save, json or state\n", *output)
		return exitUsage
	}

	k, err := open()
	if err != nil {
		fmt.Fprintf(stderr, "ipvsdump: %v\n", err)
		return exitNoKernel
	}
	defer k.Close()
	s, err := kernel.Read(k, opts)
	if err != nil {
		fmt.Fprintf(stderr, "ipvsdump: %v\n", err)
		return exitRead
	}
	if *output == "state" && !set["iptables"] {
		skipped := func(err error) { fmt.Fprintf(stderr, "ipvsdump: leaving a ruleset out of the state: %v\n", err) }
		if err := kernel.ReadRulesetsIfInstalled(k, &s, skipped); err != nil {
			fmt.Fprintf(stderr, "ipvsdump: %v\n", err)
			return exitRead
		}
	}
	dataplane.SortIPVSAdm(&s.IPVS)

	var out string
	switch *output {
	case "ipvsadm":
		listing := ipvsadmList
		switch {
		case *timeout:
			listing = ipvsadmTimeouts
		case *stats:
			listing = ipvsadmStats
		case *rate:
			listing = ipvsadmRate
		}
		title := listing.header()
		if r, ok := k.IPVS.(ipvs.InfoReader); ok && !*timeout {
			info, err := r.Info()
			if err != nil {
				fmt.Fprintf(stderr, "ipvsdump: %v\n", err)
				return exitRead
			}
			title = ipvsadmTitle(title, info)
		}
		out = ipvsadmText(s, listing, *exact, title)
	case "save":
		out = dataplane.FormatIPVSAdmSave(s.IPVS)
	case "json":
		out, err = jsonText(s.IPVS)
	case "state":
		out, err = jsonText(s)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ipvsdump: %v\n", err)
		return exitRead
	}
	if _, err := io.WriteString(stdout, out); err != nil {
		fmt.Fprintf(stderr, "ipvsdump: writing output: %v\n", err)
		return exitRead
	}
	return exitOK
}

// ipvsadmListing is what -o ipvsadm lists, as ipvsadm's listing options choose it.
type ipvsadmListing int

const (
	ipvsadmList     ipvsadmListing = iota // -Ln
	ipvsadmTimeouts                       // -Ln --timeout
	ipvsadmStats                          // -Ln --stats
	ipvsadmRate                           // -Ln --rate
)

// header is the listing's title with ipvsadm's usual version line.
func (l ipvsadmListing) header() string {
	switch l {
	case ipvsadmStats:
		return dataplane.IPVSAdmStatsHeader
	case ipvsadmRate:
		return dataplane.IPVSAdmRateHeader
	}
	return dataplane.IPVSAdmHeader
}

// ipvsadmTitle is a listing's header with the kernel's IPVS version and connection table
// size in its first line, as ipvsadm prints them (from the same netlink command).
func ipvsadmTitle(header string, info ipvs.Info) string {
	_, columns, _ := strings.Cut(header, "\n")
	return fmt.Sprintf("IP Virtual Server version %s (size=%d)\n", info, info.ConnTableSize) + columns
}

// ipvsadmText is the default output: the listing under title (or the timeouts), then each
// extra part read, after a blank line and a "# command" title naming the tool whose output
// it mimics.
func ipvsadmText(s dataplane.State, listing ipvsadmListing, exact bool, title string) string {
	var b strings.Builder
	switch listing {
	case ipvsadmTimeouts:
		b.WriteString(dataplane.FormatIPVSAdmTimeouts(s.IPVS.Timeouts))
	case ipvsadmStats:
		b.WriteString(title + dataplane.FormatIPVSAdmStats(s.IPVS, exact))
	case ipvsadmRate:
		b.WriteString(title + dataplane.FormatIPVSAdmRate(s.IPVS, exact))
	default:
		b.WriteString(title + dataplane.FormatIPVSAdm(s.IPVS, false))
	}
	extra := func(title, text string) {
		if text != "" {
			fmt.Fprintf(&b, "\n# %s\n%s", title, text)
		}
	}
	extra("ip addr", dataplane.FormatLinks(s.Links))
	extra("ipset save", dataplane.FormatIPSetSave(s.IPSets))
	extra("iptables-save", dataplane.FormatIPTablesSave(s.IPTables))
	extra("ip6tables-save", dataplane.FormatIPTablesSave(s.IP6Tables))
	return b.String()
}

func jsonText(v any) (string, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding JSON: %w", err)
	}
	return string(data) + "\n", nil
}
