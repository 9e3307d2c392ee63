package kernellab

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The guest reports on its second serial port (/dev/ttyS1) in lines that start with a marker
// holding a random token chosen per run, so no output of a job can forge them:
//
//	@@LAB-<token> BOOT uptime=0.91
//	@@LAB-<token> SETUP-FAILED <reason>
//	@@LAB-<token> READY uptime=1.80
//	@@LAB-<token> BEGIN 0 uptime=1.81
//	...output of command 0 (a newline is added after it)...
//	@@LAB-<token> END 0 rc=0 uptime=2.50
//	@@LAB-<token> DONE uptime=2.51
//
// QEMU exits 0 after `poweroff -f` whatever happened in the guest, so the host trusts only DONE.
const markerPrefix = "@@LAB-"

// ExitNoIPVS is the exit code for a guest that could not be set up (a *SetupError), above all
// one whose kernel has no /proc/net/ip_vs:
// `ipvs-e2e lab` exits with it so that scripts can tell a broken lab from failing tests.
const ExitNoIPVS = 97

// guestInit is /init, PID 1 of the guest. It is fixed (part of the cached base initramfs);
// each run adds /lab/job.env and /lab/run in a second archive.
const guestInit = `#!/bin/sh
# PID 1 of the ipvs-e2e kernel lab guest, written by hack/lab/kernellab.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb IPVS_E2E_LAB=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
OUT=/dev/ttyS1
[ -e $OUT ] || OUT=/dev/console
# Raw mode: no CR added to LF, no echo, so command output reaches the host byte for byte.
stty -F $OUT raw -echo 2>/dev/null
. /lab/job.env
up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "$LAB_MARK $*" >$OUT; echo "lab: $*" >/dev/console; }
finish() { sync; poweroff -f; sleep 10; }
say BOOT uptime=$(up)
# The guest's own deadline: it ends even when nothing on the host is left to stop QEMU.
[ "${LAB_DEADLINE:-0}" -gt 0 ] && { sleep "$LAB_DEADLINE"; say "DEADLINE passed ($LAB_DEADLINE s): powering off"; finish; } </dev/null >/dev/null 2>&1 &
hostname "$LAB_HOSTNAME"
modprobe -a $LAB_PRELOAD || say WARN modprobe -a $LAB_PRELOAD failed
if [ ! -e /proc/net/ip_vs ]; then
	say SETUP-FAILED "kernel $(uname -r) has no /proc/net/ip_vs after loading ip_vs: the lab's module set is broken"
	finish
fi
ip link set lo up
if [ "$LAB_NET" = 1 ]; then
	modprobe -a virtio_pci virtio_net
	ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 ||
		{ say SETUP-FAILED "guest network (eth0 10.0.2.15/24 via 10.0.2.2) did not come up"; finish; }
fi
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
	ln -sf "xtables-$LAB_IPTABLES-multi" "/usr/sbin/$t"
done
say READY uptime=$(up)
/bin/sh /lab/run
say DONE uptime=$(up)
finish
`

// jobEnv renders /lab/job.env for one run. deadline is when the guest powers itself off.
func jobEnv(mark, hostname string, preload []string, network bool, iptables string, deadline time.Duration) string {
	net := "0"
	if network {
		net = "1"
	}
	return fmt.Sprintf("LAB_MARK=%s\nLAB_HOSTNAME=%s\nLAB_PRELOAD=%s\nLAB_NET=%s\nLAB_IPTABLES=%s\nLAB_DEADLINE=%d\n",
		shellQuote(mark), shellQuote(hostname), shellQuote(strings.Join(preload, " ")), net, shellQuote(iptables),
		int(deadline.Round(time.Second)/time.Second))
}

// guestDeadline is when a guest powers itself off: a while after the host would have
// stopped QEMU, so that it is a backstop for a host that could not, never a race with it.
func guestDeadline(timeout time.Duration) time.Duration { return timeout + time.Minute }

// runScript renders /lab/run: each command in a subshell with stdin from /dev/null and its
// output through a pipe (so programs see no terminal), framed by BEGIN/END lines. A newline
// goes before END so END always starts a line; the parser removes it again.
func runScript(mark string, cmds []Command, stopOnFailure bool) string {
	var b strings.Builder
	// LAB_OUT and TMPDIR let the host's unit tests run this script without a guest.
	b.WriteString("# Commands of one lab job, written by hack/lab/kernellab.\nOUT=${LAB_OUT:-/dev/ttyS1}\n[ -e \"$OUT\" ] || OUT=/dev/console\n")
	b.WriteString("RC=${TMPDIR:-/tmp}/.lab-rc\n")
	fmt.Fprintf(&b, "LAB_MARK=%s\n", shellQuote(mark))
	b.WriteString("up() { cut -d' ' -f1 /proc/uptime; }\n")
	for i, c := range cmds {
		fmt.Fprintf(&b, "\necho \"$LAB_MARK BEGIN %d uptime=$(up)\" >>\"$OUT\"\n", i)
		b.WriteString("{ (")
		if c.Dir != "" {
			fmt.Fprintf(&b, "mkdir -p %[1]s && cd %[1]s && ", shellQuote(c.Dir))
		}
		for _, e := range c.Env {
			fmt.Fprintf(&b, "export %s && ", shellQuote(e))
		}
		b.WriteString("exec ")
		if c.Shell != "" {
			fmt.Fprintf(&b, "/bin/sh -c %s", shellQuote(c.Shell))
		} else {
			b.WriteString(shellJoin(c.Args))
		}
		b.WriteString(") </dev/null 2>&1; echo $? >\"$RC\"; } | cat >>\"$OUT\"\n")
		fmt.Fprintf(&b, "rc=$(cat \"$RC\")\nprintf '\\n%%s END %d rc=%%s uptime=%%s\\n' \"$LAB_MARK\" \"$rc\" \"$(up)\" >>\"$OUT\"\n", i)
		if stopOnFailure {
			b.WriteString("[ \"$rc\" = 0 ] || exit 0\n")
		}
	}
	return b.String()
}

// shellQuote quotes s for POSIX sh: inside single quotes, each quote in s closes the quoting,
// adds an escaped quote and opens it again.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes each argument and joins them with spaces.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// uptimeSeconds parses the "uptime=12.34" field the guest prints.
func uptimeSeconds(field string) (float64, bool) {
	v, ok := strings.CutPrefix(field, "uptime=")
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}
