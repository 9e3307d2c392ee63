package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestCollectArtifactsWritesWhatItCanAndListsTheRest(t *testing.T) {
	n := NewFake("ipvs-e2e-worker").
		Stdout(DefaultIPVSDumpPath+" -Ln", fixture.Read(t, "ipvsadm-Ln.txt")).
		Stdout(DefaultIPVSDumpPath+" -o state", fixture.Read(t, "ipvsdump-state.json")).
		Stdout("iptables-save", fixture.Read(t, "iptables-save.txt")).
		Stdout("ip addr show", fixture.Read(t, "ip-addr.txt")).
		Stdout("sysctl net.ipv4.vs net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce net.ipv4.ip_forward",
			"net.ipv4.vs.conntrack = 1\nnet.ipv4.conf.all.arp_ignore = 0\n")
	pod := &podIPSet{out: fixture.Read(t, "ipset-save.txt")}
	dir := t.TempDir()

	err := CollectArtifacts(context.Background(), n, dir, DefaultArtifacts("", FirstIPSet{NodeIPSet{}, pod}))
	// ip6tables-save is not scripted: the collection reports it and still writes the rest.
	wanterr.Check(t, err, "ip6tables-save.txt")
	nodeDir := filepath.Join(dir, "ipvs-e2e-worker")
	for file, want := range map[string]string{
		"ipvsadm-Ln.txt":      "TCP  10.96.71.137:80 rr",
		"ipvsdump-state.json": `"scheduler": "rr"`,
		"iptables-save.txt":   "-A KUBE-NODE-PORT -p tcp",
		"ipset-save.txt":      "add KUBE-NODE-PORT-TCP 30089",
		"ip-addr.txt":         "kube-ipvs0",
		"sysctl.txt":          "arp_ignore = 0",
		"errors.txt":          "ip6tables-save.txt",
	} {
		b, err := os.ReadFile(filepath.Join(nodeDir, file))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not contain %q:\n%s", file, want, b)
		}
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "ip6tables-save.txt")); !os.IsNotExist(err) {
		t.Errorf("ip6tables-save.txt written for a failed command (stat: %v)", err)
	}
}

func TestDefaultArtifactsFallBackToIPVSAdm(t *testing.T) {
	n := NewFake("lab-node").Stdout("ipvsadm -Ln", "IP Virtual Server version 1.2.1 (size=4096)\n")
	a := DefaultArtifacts("", nil)[0]
	out, err := a.Read(context.Background(), n)
	if err != nil || !strings.HasPrefix(string(out), "IP Virtual Server") {
		t.Errorf("ipvs artifact = %q, %v", out, err)
	}
}
