package dataplane

import (
	"fmt"
	"net/netip"
	"strings"
)

const ipvsadmSaveFormat = "ipvsadm -Sn"

// FormatIPVSAdmSave prints the IPVS table as `ipvsadm -Sn` (ipvsadm --save -n) does:
// print_service_entry with FMT_RULE, which writes "-A <service> -s <scheduler>" and the
// persistence (-p, -M), -o and -b options, then "-a <service> -r <server> <-m|-g|-i> -w N"
// per real server (a tunnel also gets "--tun-type ipip"). Local forwarding is written -g,
// as ipvsadm does, so it reads back as Route.
func FormatIPVSAdmSave(v IPVS) string {
	var b strings.Builder
	for _, vs := range v.Services {
		svc := saveServiceName(vs)
		fmt.Fprintf(&b, "-A %s -s %s", svc, vs.Scheduler)
		writePersistence(&b, vs, "-p", "-M", "-o")
		if vs.SchedFlags&(SchedFlag1|SchedFlag2|SchedFlag3) != 0 {
			b.WriteString(" -b " + strings.Join(schedFlagNames(vs.Scheduler, vs.SchedFlags), ","))
		}
		b.WriteString("\n")
		for _, rs := range vs.RealServers {
			fmt.Fprintf(&b, "-a %s -r %s %s -w %d", svc, formatAddrPort(rs.Address, rs.Port), forwardSwitch(rs.Forward), rs.Weight)
			if rs.Forward == Tunnel {
				b.WriteString(" --tun-type ipip")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func saveServiceName(vs VirtualServer) string {
	if vs.FWMark != 0 {
		return fwmarkName(vs, "-f ", " -6")
	}
	opt := "--xxx-service" // what ipvsadm prints for a protocol it does not know
	switch vs.Protocol {
	case TCP:
		opt = "-t"
	case UDP:
		opt = "-u"
	case SCTP:
		opt = "--sctp-service"
	}
	return opt + " " + formatAddrPort(vs.Address, vs.Port)
}

func forwardSwitch(f Forwarding) string {
	switch f {
	case Masq:
		return "-m"
	case Tunnel:
		return "-i"
	}
	return "-g"
}

// defaultPersistence is the timeout ipvsadm gives "-p" without a value.
const defaultPersistence = 300

// ParseIPVSAdmSave reads `ipvsadm -Sn` output (and the same commands written by hand for
// `ipvsadm -R`): "-A" service lines and "-a" real server lines, short or long options.
// A real server line must follow the "-A" line of its service.
func ParseIPVSAdmSave(text string) (IPVS, error) {
	var v IPVS
	index := map[ServiceKey]int{}
	for l, f := range fieldLines(text) {
		fail := func(err error) (IPVS, error) {
			return IPVS{}, &ParseError{Format: ipvsadmSaveFormat, Line: l.n, Text: l.text, Err: err}
		}
		cmd, err := parseSaveLine(f)
		if err != nil {
			return fail(err)
		}
		key := cmd.svc.Key()
		if !cmd.dest {
			if _, dup := index[key]; dup {
				return fail(expected("each service added once", "a second "+key.String()))
			}
			index[key] = len(v.Services)
			v.Services = append(v.Services, cmd.svc)
			continue
		}
		i, ok := index[key]
		if !ok {
			return fail(expected("the -A line of "+key.String()+" before its real servers", "a real server first"))
		}
		vs := &v.Services[i]
		if _, dup := vs.RealServer(cmd.rs.Key()); dup {
			return fail(expected("each real server added once", "a second "+cmd.rs.Key().String()))
		}
		vs.RealServers = append(vs.RealServers, cmd.rs)
	}
	return v, nil
}

// saveLine is one parsed -A or -a line.
type saveLine struct {
	dest bool
	svc  VirtualServer
	rs   RealServer
}

func parseSaveLine(f []string) (saveLine, error) {
	var c saveLine
	switch f[0] {
	case "-A", "--add-service":
	case "-a", "--add-server":
		c.dest = true
	default:
		return c, expected(`"-A" (add service) or "-a" (add server)`, quoteFound(f[0]))
	}
	var (
		haveSvc, haveServer, haveFwd, haveSched, haveTun, haveWeight bool
		mask, flags, server                                          string
		err                                                          error
	)
	c.rs.Weight = 1
	c.rs.Forward = Route // ipvsadm's default, -g
	next := func(i *int, opt string) (string, error) {
		if *i+1 >= len(f) {
			return "", expected("a value after "+opt, "end of line")
		}
		*i++
		return f[*i], nil
	}
	for i := 1; i < len(f); i++ {
		opt := f[i]
		var val string
		switch opt {
		case "-t", "--tcp-service", "-u", "--udp-service", "--sctp-service":
			if haveSvc {
				return c, expected("one service per line", quoteFound(opt))
			}
			if val, err = next(&i, opt); err != nil {
				return c, err
			}
			a, p, err := parseAddrPort(val)
			if err != nil {
				return c, err
			}
			c.svc.Address, c.svc.Port, c.svc.Family = a, p, addrFamily(a)
			switch opt {
			case "-t", "--tcp-service":
				c.svc.Protocol = TCP
			case "-u", "--udp-service":
				c.svc.Protocol = UDP
			default:
				c.svc.Protocol = SCTP
			}
			haveSvc = true
		case "-f", "--fwmark-service":
			if haveSvc {
				return c, expected("one service per line", quoteFound(opt))
			}
			if val, err = next(&i, opt); err != nil {
				return c, err
			}
			m, err := parseFWMark(val)
			if err != nil {
				return c, err
			}
			c.svc.FWMark, c.svc.Family = m, 4
			haveSvc = true
		case "-6", "--ipv6":
			if c.svc.FWMark == 0 {
				return c, expected("-6 only after -f", quoteFound(opt))
			}
			c.svc.Family = 6
		case "-s", "--scheduler":
			if c.dest {
				return c, expected("no scheduler on a real server line", quoteFound(opt))
			}
			if val, err = next(&i, opt); err != nil {
				return c, err
			}
			if !validScheduler(val) {
				return c, expected("a scheduler name", quoteFound(val))
			}
			c.svc.Scheduler, haveSched = val, true
		case "-p", "--persistent":
			c.svc.Persistent, c.svc.Timeout = true, defaultPersistence
			if i+1 < len(f) && f[i+1] != "" && f[i+1][0] >= '0' && f[i+1][0] <= '9' {
				i++
				t, err := parseDecimal("a persistence timeout in seconds", f[i], 32)
				if err != nil {
					return c, err
				}
				c.svc.Timeout = uint32(t)
			}
		case "-M", "--netmask":
			if mask, err = next(&i, opt); err != nil {
				return c, err
			}
		case "-o", "--ops":
			c.svc.OnePacket = true
		case "-b", "--sched-flags":
			if flags, err = next(&i, opt); err != nil {
				return c, err
			}
		case "-r", "--real-server":
			if val, err = next(&i, opt); err != nil {
				return c, err
			}
			server, haveServer = val, true
		case "-m", "--masquerading", "-g", "--gatewaying", "-i", "--ipip":
			if haveFwd {
				return c, expected("one forwarding method", quoteFound(opt))
			}
			haveFwd = true
			switch opt {
			case "-m", "--masquerading":
				c.rs.Forward = Masq
			case "-i", "--ipip":
				c.rs.Forward = Tunnel
			}
		case "-w", "--weight":
			if val, err = next(&i, opt); err != nil {
				return c, err
			}
			if c.rs.Weight, err = parseWeight(val); err != nil {
				return c, err
			}
			haveWeight = true
		case "--tun-type":
			if val, err = next(&i, opt); err != nil {
				return c, err
			}
			if val != "ipip" {
				return c, expected("tunnel type ipip (the model holds no other)", quoteFound(val))
			}
			haveTun = true
		default:
			return c, expected("an ipvsadm option the model holds (-t -u --sctp-service -f -6 -s -p -M -o -b -r -m -g -i -w --tun-type)", quoteFound(opt))
		}
	}
	if !haveSvc {
		return c, expected("a service (-t, -u, --sctp-service or -f)", "none")
	}
	if c.dest {
		if !haveServer {
			return c, expected("a real server (-r) on an -a line", "none")
		}
		if c.rs.Address, c.rs.Port, err = parseServerAddr(server, c.svc.Port); err != nil {
			return c, err
		}
		if haveTun && c.rs.Forward != Tunnel {
			return c, expected("--tun-type only with -i", quoteFound("--tun-type"))
		}
		if mask != "" || flags != "" || c.svc.Persistent || c.svc.OnePacket || haveSched {
			return c, expected("only server options on an -a line", "service options")
		}
		return c, nil
	}
	if haveServer || haveFwd || haveTun || haveWeight {
		return c, expected("no real server options on an -A line", "-r, -m, -g, -i, -w or --tun-type")
	}
	if !haveSched {
		c.svc.Scheduler = "wlc" // ipvsadm's DEF_SCHED
	}
	if mask != "" {
		if !c.svc.Persistent {
			return c, expected("-M only with -p", quoteFound("-M "+mask))
		}
		if c.svc.PrefixLen, err = parseMask(mask, kernelIPv6(c.svc)); err != nil {
			return c, err
		}
	}
	if flags != "" {
		if c.svc.SchedFlags, err = parseSchedFlags(c.svc.Scheduler, flags); err != nil {
			return c, err
		}
	}
	return c, nil
}

// parseServerAddr reads a real server: "addr:port", "[v6]:port", or an address alone,
// which takes the service's port (as ipvsadm does).
func parseServerAddr(s string, svcPort uint16) (netip.Addr, uint16, error) {
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil && a.Zone() == "" &&
		(a.Is4() && !strings.HasPrefix(s, "[") || a.Is6() && (strings.HasPrefix(s, "[") == strings.HasSuffix(s, "]"))) {
		return a, svcPort, nil
	}
	return parseAddrPort(s)
}
