package serve

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Allowed lists the commands /run runs, in the shapes it accepts them; a refusal prints it.
var Allowed = []string{
	"ipvsdump [its own flags: -o ipvsadm|save|json|state, --timeout, --stats, --rate, --exact, --links, --ipsets, --iptables, --node NAME, -Ln]",
	"iptables-save [-t TABLE]",
	"ip6tables-save [-t TABLE]",
	"iptables [-t TABLE] -S [CHAIN]",
	"ip6tables [-t TABLE] -S [CHAIN]",
	"ip addr show [DEVICE]",
	"ip -j addr show",
	"ipset save",
	"ipset list [NAME]",
	"sysctl NAME...   (names only: no -w, no NAME=VALUE)",
	"cat PATH   (PATH under /proc/sys/net/, /proc/net/ip_vs* or /proc/modules)",
	"curl [-sS] [--fail] [--max-time SECONDS] http://...",
	"wget [-q] [-T SECONDS] -O - http://...",
}

// How a command of the list is run.
type runKind int

const (
	runIpvsdump runKind = iota // in-process, through the CLI's own run
	runHost                    // a binary of the node's filesystem
	runIPSet                   // the node's ipset, or ipvsdump's netlink reading without it
	runCat                     // a /proc file read in-process
	runFetch                   // an HTTP GET from the node's network namespace
)

// command is a request that passed the allowlist.
type command struct {
	kind runKind
	// name and args are the host binary and its arguments (runHost, runIPSet), ipvsdump's
	// flags (runIpvsdump) or the file (runCat, in args[0]).
	name string
	args []string
	// fetch is the GET of curl or wget (runFetch).
	fetch fetch
}

// fetch is an HTTP GET as curl or wget would make it.
type fetch struct {
	url  string
	wget bool // wget: follows redirects, exits 8 on an error status
	// fail is curl's --fail: exit 22 on a status of 400 or more.
	fail    bool
	maxTime time.Duration
}

// Fetches wait this long unless told otherwise, and never longer than maxFetchTime so
// that a request cannot hold the server.
const (
	defaultFetchTime = 10 * time.Second
	maxFetchTime     = 60 * time.Second
)

var (
	tableName  = regexp.MustCompile(`^(raw|mangle|nat|filter|security)$`)
	ipsetName  = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,31}$`)
	sysctlName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]*$`)
	// deviceName is what the kernel accepts as an interface name (IFNAMSIZ 16).
	deviceName = regexp.MustCompile(`^[A-Za-z0-9_.-][A-Za-z0-9_.@-]{0,14}$`)
	chainName  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,28}$`)
)

// parse checks args against Allowed. The error says why a command is refused; every shape
// is matched exactly, so a flag the list does not name (a write, a flush) never gets
// through.
func parse(args []string) (command, error) {
	if len(args) == 0 {
		return command{}, fmt.Errorf("no command: args is empty")
	}
	name, rest := args[0], args[1:]
	// The suites name ipvsdump by the path they install it at on nodes they own; here it
	// is this program, run in-process whatever the path says.
	if path.IsAbs(name) && path.Clean(name) == name && path.Base(name) == "ipvsdump" {
		name = "ipvsdump"
	}
	switch name {
	case "ipvsdump":
		if err := checkIpvsdumpFlags(rest); err != nil {
			return command{}, err
		}
		return command{kind: runIpvsdump, name: name, args: rest}, nil
	case "iptables-save", "ip6tables-save":
		if len(rest) == 0 || len(rest) == 2 && rest[0] == "-t" && tableName.MatchString(rest[1]) {
			return command{kind: runHost, name: name, args: rest}, nil
		}
		return command{}, fmt.Errorf("%s takes only -t TABLE (raw, mangle, nat, filter or security), found %q", name, rest)
	case "iptables", "ip6tables":
		if listRules(rest) {
			return command{kind: runHost, name: name, args: rest}, nil
		}
		return command{}, fmt.Errorf("%s runs only as `%s [-t TABLE] -S [CHAIN]`, which lists rules, found %q", name, name, rest)
	case "ip":
		if slices.Equal(rest, []string{"addr", "show"}) || slices.Equal(rest, []string{"-j", "addr", "show"}) ||
			len(rest) == 3 && rest[0] == "addr" && rest[1] == "show" && deviceName.MatchString(rest[2]) {
			return command{kind: runHost, name: name, args: rest}, nil
		}
		return command{}, fmt.Errorf("ip runs only as `ip addr show [DEVICE]` or `ip -j addr show`, found %q", rest)
	case "ipset":
		if slices.Equal(rest, []string{"save"}) || slices.Equal(rest, []string{"list"}) || len(rest) == 2 && rest[0] == "list" && ipsetName.MatchString(rest[1]) {
			return command{kind: runIPSet, name: name, args: rest}, nil
		}
		return command{}, fmt.Errorf("ipset runs only as `ipset save` or `ipset list [NAME]`, found %q", rest)
	case "sysctl":
		if len(rest) == 0 {
			return command{}, fmt.Errorf("sysctl needs at least one name to read")
		}
		for _, n := range rest {
			if !sysctlName.MatchString(n) || strings.Contains(n, "..") {
				return command{}, fmt.Errorf("sysctl reads names only (net.ipv4.ip_forward), found %q: no flags, no NAME=VALUE", n)
			}
		}
		return command{kind: runHost, name: name, args: rest}, nil
	case "cat":
		if len(rest) == 1 && readableProcFile(rest[0]) {
			return command{kind: runCat, name: name, args: rest}, nil
		}
		return command{}, fmt.Errorf("cat reads one file under /proc/sys/net/ or /proc/net/ip_vs*, found %q", rest)
	case "curl":
		f, err := parseCurl(rest)
		return command{kind: runFetch, name: name, fetch: f}, err
	case "wget":
		f, err := parseWget(rest)
		return command{kind: runFetch, name: name, fetch: f}, err
	}
	return command{}, fmt.Errorf("%q is not on the inspector's read-only list", name)
}

// ipvsdumpFlags are the CLI's flags (cmd/ipvsdump), true for those that take a value. None
// of them writes; the CLI parses them again, this check only refuses the rest with 403.
var ipvsdumpFlags = map[string]bool{"o": true, "node": true, "timeout": false, "links": false, "ipsets": false,
	"iptables": false, "L": false, "n": false, "Ln": false, "h": false, "help": false,
	"stats": false, "rate": false, "exact": false}

// checkIpvsdumpFlags accepts the forms Go's flag package reads (-f, --f, -f=v, -f v) for
// ipvsdump's own flags, and no positional argument (such as serve).
func checkIpvsdumpFlags(args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		takesValue, known := ipvsdumpFlags[name]
		switch {
		case !strings.HasPrefix(a, "-"):
			return fmt.Errorf("ipvsdump takes its flags only, found the argument %q", a)
		case !known:
			return fmt.Errorf("ipvsdump has no flag %q", a)
		case takesValue && !hasValue:
			if i+1 == len(args) {
				return fmt.Errorf("ipvsdump %s needs a value", a)
			}
			i++
		}
	}
	return nil
}

// readableProcFile keeps cat to the network's kernel parameters and IPVS's /proc files.
func readableProcFile(p string) bool {
	if path.Clean(p) != p || strings.Contains(p, "..") {
		return false
	}
	return strings.HasPrefix(p, "/proc/sys/net/") || strings.HasPrefix(p, "/proc/net/ip_vs") || p == "/proc/modules"
}

// listRules accepts iptables' listing form, [-t TABLE] -S [CHAIN], and nothing else: -S
// only prints.
func listRules(args []string) bool {
	if len(args) >= 2 && args[0] == "-t" {
		if !tableName.MatchString(args[1]) {
			return false
		}
		args = args[2:]
	}
	return len(args) == 1 && args[0] == "-S" || len(args) == 2 && args[0] == "-S" && chainName.MatchString(args[1])
}

func parseCurl(args []string) (fetch, error) {
	f := fetch{maxTime: defaultFetchTime}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-s" || a == "-S" || a == "-sS" || a == "-Ss" || a == "--silent" || a == "--show-error":
			// curl's progress meter never reaches the response; nothing to do.
		case a == "--fail" || a == "-f":
			f.fail = true
		case a == "--max-time" || a == "-m":
			if err := f.maxTimeArg("curl", args, &i); err != nil {
				return f, err
			}
		case strings.HasPrefix(a, "-"):
			return f, fmt.Errorf("curl flag %q is not allowed: only -sS, --fail and --max-time N (a GET, nothing sent)", a)
		default:
			if err := f.urlArg("curl", a); err != nil {
				return f, err
			}
		}
	}
	return f, checkURL("curl", f.url)
}

func parseWget(args []string) (fetch, error) {
	f := fetch{wget: true, maxTime: defaultFetchTime}
	toStdout := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-q":
		case a == "-T":
			if err := f.maxTimeArg("wget", args, &i); err != nil {
				return f, err
			}
		case a == "-O" || a == "-qO":
			if i+1 == len(args) || args[i+1] != "-" {
				return f, fmt.Errorf("wget writes to standard output only: -O -")
			}
			i++
			toStdout = true
		case strings.HasPrefix(a, "-"):
			return f, fmt.Errorf("wget flag %q is not allowed: only -q, -T N and -O - (a GET to standard output)", a)
		default:
			if err := f.urlArg("wget", a); err != nil {
				return f, err
			}
		}
	}
	if !toStdout {
		return f, fmt.Errorf("wget needs -O - (the inspector writes no file)")
	}
	return f, checkURL("wget", f.url)
}

// maxTimeArg takes the seconds after the flag at args[*i], moving *i past them.
func (f *fetch) maxTimeArg(tool string, args []string, i *int) error {
	flag := args[*i]
	if *i+1 == len(args) {
		return fmt.Errorf("%s %s needs a number of seconds", tool, flag)
	}
	*i++
	d, err := seconds(args[*i])
	if err != nil {
		return fmt.Errorf("%s %s: %w", tool, flag, err)
	}
	f.maxTime = d
	return nil
}

// urlArg takes a as the one URL a fetch has.
func (f *fetch) urlArg(tool, a string) error {
	if f.url != "" {
		return fmt.Errorf("%s takes one URL, found %q and %q", tool, f.url, a)
	}
	f.url = a
	return nil
}

func seconds(s string) (time.Duration, error) {
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 || n > maxFetchTime.Seconds() {
		return 0, fmt.Errorf("expected seconds between 0 and %g, found %q", maxFetchTime.Seconds(), s)
	}
	return time.Duration(n * float64(time.Second)), nil
}

func checkURL(tool, raw string) error {
	if raw == "" {
		return fmt.Errorf("%s needs a URL", tool)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%s fetches http:// URLs only, found %q", tool, raw)
	}
	return nil
}
