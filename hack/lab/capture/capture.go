// Package capture regenerates framework/dataplane/testdata/lab: it boots the kernel lab, sets
// up a kube-proxy-like dataplane with state.sh (IPVS, kube-ipvs0, ipsets, iptables) and saves
// what the node tools print about it, one file per command, for the dataplane parsers' tests;
// then it sends requests through a virtual server of traffic.sh's and saves the counter
// listings (ipvsadm -Ln --stats, --rate). `ipvs-e2e capture` (make lab-capture) runs it.
package capture

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
)

// stateScript is the one copy of the script: the captures do not keep their own, their
// README names its sha256 (stateScriptSum) so that a changed script shows the captures
// are stale.
//
//go:embed state.sh
var stateScript []byte

// trafficScript sends requests through a virtual server of its own after the captures of
// state.sh's table, for the counter captures. It is part of what the README's sha256 names.
//
//go:embed traffic.sh
var trafficScript []byte

// stateScriptSum is the hex sha256 of stateScript and trafficScript concatenated.
func stateScriptSum() string {
	return fmt.Sprintf("%x", sha256.Sum256(append(append([]byte(nil), stateScript...), trafficScript...)))
}

// captures are the files written and the guest commands whose output they hold.
var captures = []struct{ file, cmd string }{
	{"ipvsadm-Ln.txt", "ipvsadm -Ln"},
	{"ipvsadm-Ln-timeout.txt", "ipvsadm -Ln --timeout"},
	{"ipvsadm-Sn.txt", "ipvsadm -Sn"},
	{"proc-net-ip_vs.txt", "cat /proc/net/ip_vs"},
	{"ip-addr-show-kube-ipvs0.txt", "ip addr show dev kube-ipvs0"},
	{"ip-j-addr-show-kube-ipvs0.json", "ip -j addr show dev kube-ipvs0"},
	{"ip-d-addr-show-kube-ipvs0.txt", "ip -d addr show dev kube-ipvs0"},
	{"ip-j-d-addr-show-kube-ipvs0.json", "ip -j -d addr show dev kube-ipvs0"},
	{"ipset-save.txt", "ipset save"},
	{"ipset-list.txt", "ipset list"},
	{"iptables-save.txt", "iptables-save"},
	{"iptables-t-nat-S.txt", "iptables -t nat -S"},
	{"iptables-t-filter-S.txt", "iptables -t filter -S"},
	{"ip6tables-save.txt", "ip6tables-save"},
}

// counterCaptures are taken after traffic.sh, which adds TCP 10.96.0.60:80 and sends it
// five requests; the captures above hold the table before.
var counterCaptures = []struct{ file, cmd string }{
	{"ipvsadm-Ln-stats.txt", "ipvsadm -Ln --stats"},
	{"ipvsadm-Ln-stats-exact.txt", "ipvsadm -Ln --stats --exact"},
	{"ipvsadm-Ln-rate.txt", "ipvsadm -Ln --rate"},
	{"ipvsadm-Ln-rate-exact.txt", "ipvsadm -Ln --rate --exact"},
	{"ipvsadm-Ln-stats-t-traffic.txt", "ipvsadm -Ln --stats -t 10.96.0.60:80"},
	{"ipvsadm-Ln-t-traffic.txt", "ipvsadm -Ln -t 10.96.0.60:80"},
}

// stateScriptSumPrefix starts the README line that names the script's sha256.
const stateScriptSumPrefix = "    state.sh sha256 "

func readme(versions string) string {
	var b strings.Builder
	b.WriteString("# Captured in the kernel lab\n\n")
	b.WriteString("Real outputs of the node tools, written by `make lab-capture` (hack/lab/capture): a lab guest\n")
	b.WriteString("ran `hack/lab/capture/state.sh` to set up a kube-proxy-like dataplane, then each command\n")
	b.WriteString("below; each file holds one command's stdout+stderr byte for byte. Regenerating changes the\n")
	b.WriteString("dates in iptables-save, ipset's initval and the order of hash set members (the hash seed),\n")
	b.WriteString("kube-ipvs0's MAC, and the order of /proc/net/ip_vs (the kernel salts its service hash with\n")
	b.WriteString("the address of the namespace's IPVS state), from which ipvsadm's order can follow.\n\n")
	b.WriteString("| file | command |\n|---|---|\n")
	for _, c := range captures {
		fmt.Fprintf(&b, "| %s | `%s` |\n", c.file, c.cmd)
	}
	b.WriteString("\nThen the guest ran `hack/lab/capture/traffic.sh`: a backend in a network namespace behind\n")
	b.WriteString("TCP 10.96.0.60:80 and five HTTP requests to it, so that the counters are not zero; then:\n\n")
	b.WriteString("| file | command |\n|---|---|\n")
	for _, c := range counterCaptures {
		fmt.Fprintf(&b, "| %s | `%s` |\n", c.file, c.cmd)
	}
	b.WriteString("\nGuest kernel and tools:\n\n```\n" + strings.TrimRight(versions, "\n") + "\n```\n")
	b.WriteString("\nThe captures were made with the state.sh and traffic.sh of this sha256 (of the two\n")
	b.WriteString("concatenated; a test in hack/lab/capture fails once a script differs, until they are\n")
	b.WriteString("captured again):\n\n")
	fmt.Fprintf(&b, "%s%s\n", stateScriptSumPrefix, stateScriptSum())
	return b.String()
}

// Run captures into dir.
func Run(ctx context.Context, dir string) error {
	cmds := []kernellab.Command{
		{Name: "state.sh", Args: []string{"/bin/sh", "/lab/state.sh"}},
		{Name: "versions", Shell: "uname -r; ipvsadm --version; ipset --version; iptables --version; ip -V"},
	}
	for _, c := range captures {
		cmds = append(cmds, kernellab.Command{Name: c.file, Shell: c.cmd})
	}
	cmds = append(cmds, kernellab.Command{Name: "traffic.sh", Args: []string{"/bin/sh", "/lab/traffic.sh"}})
	for _, c := range counterCaptures {
		cmds = append(cmds, kernellab.Command{Name: c.file, Shell: c.cmd})
	}
	res, err := kernellab.Run(ctx, kernellab.Job{
		Name: "capture",
		Files: []kernellab.File{
			{Path: "/lab/state.sh", Data: stateScript, Mode: 0o755},
			{Path: "/lab/traffic.sh", Data: trafficScript, Mode: 0o755},
		},
		Commands:      cmds,
		StopOnFailure: true,
		Timeout:       3 * time.Minute,
	})
	if err != nil {
		return err
	}
	if c := res.Failed(); c != nil {
		return fmt.Errorf("guest command %q exited %d:\n%s", c.Name, c.ExitCode, c.Output)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range res.Commands[2:] {
		if c.Name == "traffic.sh" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, c.Name), []byte(c.Output), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme(res.Commands[1].Output)), 0o644); err != nil {
		return err
	}
	slog.Info("capture: written", "dir", dir, "files", len(res.Commands))
	return nil
}
