package kernellab

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/internal/cpio"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// fakeTrees lays out a miniature kernel tree, tools tree and busybox, as Prepare leaves them.
func fakeTrees(t *testing.T) baseInputs {
	t.Helper()
	root := t.TempDir()
	kver := "6.1.0-99-cloud-amd64"
	kroot, troot := filepath.Join(root, "kernel"), filepath.Join(root, "tools")
	moddir := filepath.Join(kroot, "lib/modules", kver)
	write := func(p, content string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(moddir, "modules.dep"),
		"kernel/net/netfilter/ipvs/ip_vs.ko: kernel/lib/libcrc32c.ko\n"+
			"kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko kernel/lib/libcrc32c.ko\n"+
			"kernel/lib/libcrc32c.ko:\n"+
			"kernel/drivers/net/dummy.ko:\n"+
			"kernel/sound/snd.ko:\n", 0o644)
	write(filepath.Join(moddir, "modules.builtin"), "kernel/crypto/crc32c_generic.ko\n", 0o644)
	write(filepath.Join(moddir, "modules.alias"), "alias net-pf-16-proto-16-family-IPVS ip_vs\nalias rtnl-link-dummy dummy\nalias snd-card-0 snd\n", 0o644)
	write(filepath.Join(moddir, "modules.symbols"), "alias symbol:ip_vs_conn_new ip_vs\nalias symbol:snd_card_new snd\n", 0o644)
	write(filepath.Join(moddir, "modules.order"), "kernel/sound/snd.ko\nkernel/net/netfilter/ipvs/ip_vs.ko\n", 0o644)
	for _, m := range []string{"net/netfilter/ipvs/ip_vs.ko", "net/netfilter/ipvs/ip_vs_rr.ko", "lib/libcrc32c.ko", "drivers/net/dummy.ko", "sound/snd.ko"} {
		write(filepath.Join(moddir, "kernel", m), "module "+m, 0o644)
	}

	// One real ELF program stands in for the tools: the test binary itself.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	elf, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(troot, "usr/sbin/xtables-nft-multi"), string(elf), 0o755)
	write(filepath.Join(troot, "bin/dash"), string(elf), 0o755)
	write(filepath.Join(troot, "bin/ip"), string(elf), 0o755)
	if err := os.MkdirAll(filepath.Join(troot, "sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/bin/ip", filepath.Join(troot, "sbin/ip")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(troot, "usr/lib/x86_64-linux-gnu/xtables/libxt_set.so"), "not elf: copied as is", 0o644)
	write(filepath.Join(troot, "etc/protocols"), "tcp 6 TCP\n", 0o644)

	busybox := filepath.Join(root, "busybox")
	write(busybox, "#!/bin/sh\nprintf 'bin/busybox\\nbin/sh\\nbin/ls\\nsbin/ip\\nsbin/modprobe\\nlinuxrc\\n'\n", 0o755)
	return baseInputs{
		kver: kver, kroot: kroot, troot: troot, busybox: busybox,
		modules: []string{"ip_vs", "crc32c_generic"}, trees: []string{"kernel/drivers/net/"},
		tools: []Tool{
			{Package: "iptables", Paths: []string{"usr/sbin/xtables-nft-multi", "usr/lib/x86_64-linux-gnu/xtables/"}},
			{Package: "dash", Paths: []string{"bin/dash"}},
			{Package: "iproute2", Paths: []string{"bin/ip", "sbin/ip"}},
			{Package: "netbase", Paths: []string{"etc/protocols"}},
		},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestBaseInitramfs(t *testing.T) {
	in := fakeTrees(t)
	plan, err := planBase(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.modules) != 3 || plan.binaries != 4 { // ip_vs, libcrc32c, dummy; 3 tools + busybox
		t.Fatalf("plan: %d modules, %d binaries; expected 3 and 4: %v", len(plan.modules), plan.binaries, plan.modules)
	}
	var buf bytes.Buffer
	if err := writeBase(&buf, in, plan); err != nil {
		t.Fatal(err)
	}
	entries, err := cpio.ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cpio.Entry{}
	for _, e := range entries {
		if _, dup := got[e.Name]; dup {
			t.Fatalf("%s written twice", e.Name)
		}
		got[e.Name] = e
	}
	moddir := "lib/modules/" + in.kver + "/"
	files := map[string]string{
		"init":          guestInit,
		"etc/protocols": "tcp 6 TCP\n",
		moddir + "kernel/net/netfilter/ipvs/ip_vs.ko": "module net/netfilter/ipvs/ip_vs.ko",
		moddir + "modules.dep": "kernel/net/netfilter/ipvs/ip_vs.ko: kernel/lib/libcrc32c.ko\n" +
			"kernel/lib/libcrc32c.ko:\nkernel/drivers/net/dummy.ko:\n",
		moddir + "modules.alias":                        "alias net-pf-16-proto-16-family-IPVS ip_vs\nalias rtnl-link-dummy dummy\n",
		moddir + "modules.symbols":                      "alias symbol:ip_vs_conn_new ip_vs\n",
		moddir + "modules.order":                        "kernel/net/netfilter/ipvs/ip_vs.ko\n",
		moddir + "modules.builtin":                      "kernel/crypto/crc32c_generic.ko\n",
		"usr/lib/x86_64-linux-gnu/xtables/libxt_set.so": "not elf: copied as is",
	}
	for name, want := range files {
		if e, ok := got[name]; !ok || string(e.Data) != want {
			t.Errorf("%s = %q (present %v); expected %q", name, e.Data, ok, want)
		}
	}
	links := map[string]string{
		"bin/sh":                     "dash", // not busybox: its shell runs applets before PATH
		"sbin/ip":                    "/bin/ip",
		"bin/ls":                     "/bin/busybox",
		"sbin/modprobe":              "/bin/busybox",
		"usr/sbin/iptables":          "xtables-nft-multi",
		"usr/sbin/ip6tables-restore": "xtables-nft-multi",
		"var/run":                    "/run",
	}
	for name, want := range links {
		if e, ok := got[name]; !ok || !e.IsSymlink() || string(e.Data) != want {
			t.Errorf("%s -> %q (present %v); expected a link to %q", name, e.Data, ok, want)
		}
	}
	if e := got["init"]; e.Mode&0o777 != 0o755 {
		t.Errorf("init mode %o; expected 0755", e.Mode&0o777)
	}
	if e := got["dev/console"]; e.RdevMajor != 5 || e.RdevMinor != 1 {
		t.Errorf("dev/console = %+v; expected char 5:1", e)
	}
	for _, absent := range []string{"linuxrc", moddir + "kernel/sound/snd.ko", moddir + "kernel/net/netfilter/ipvs/ip_vs_rr.ko"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s is in the archive; expected it left out", absent)
		}
	}
	bb, err := os.ReadFile(in.busybox)
	if err != nil {
		t.Fatal(err)
	}
	if e := got["bin/busybox"]; string(e.Data) != string(bb) || e.Mode&0o777 != 0o755 {
		t.Errorf("bin/busybox is not the host's busybox with mode 0755 (mode %o)", e.Mode&0o777)
	}
}

func TestPlanBaseMissingTool(t *testing.T) {
	in := fakeTrees(t)
	in.tools = append(in.tools, Tool{Package: "conntrack", Paths: []string{"usr/sbin/conntrack"}})
	_, err := planBase(context.Background(), in)
	wanterr.Check(t, err, "tool package conntrack")
	in = fakeTrees(t)
	in.modules = append(in.modules, "nf_tables")
	_, err = planBase(context.Background(), in)
	wanterr.Check(t, err, "nf_tables")
}

func TestWriteInitrdAppendsJobArchive(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.cpio")
	if err := os.WriteFile(base, []byte("GZIPPED-BASE-7"), 0o644); err != nil { // 14 bytes: needs 2 bytes of padding
		t.Fatal(err)
	}
	host := filepath.Join(dir, "x.test")
	if err := os.WriteFile(host, []byte("binary"), 0o700); err != nil {
		t.Fatal(err)
	}
	job := Job{Name: "j", Commands: []Command{{Shell: "true"}}, Files: []File{{Path: "/lab/tests/x.test", Source: host}, {Path: "/etc/extra", Data: []byte("x")}}}
	dst := filepath.Join(dir, "initrd.img")
	n, err := writeInitrd(dst, base, job, jobScripts(job, testMark, []string{"ip_vs"}, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:16]) != "GZIPPED-BASE-7\x00\x00" || int64(len(b)-16) != n {
		t.Fatalf("initrd starts %q and has %d bytes after the padded base; expected the base, 2 zero bytes, then %d", b[:16], len(b)-16, n)
	}
	entries, err := cpio.ReadAll(bytes.NewReader(b[16:]))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
		if e.Name == "lab/tests/x.test" && (e.Mode&0o777 != 0o700 || string(e.Data) != "binary") {
			t.Errorf("x.test = mode %o %q; expected the host file's mode and content", e.Mode&0o777, e.Data)
		}
		if e.Name == "lab/run" && !strings.Contains(string(e.Data), "exec /bin/sh -c true") {
			t.Errorf("lab/run lacks the command:\n%s", e.Data)
		}
	}
	want := "lab lab/job.env lab/run lab/tests lab/tests/x.test etc etc/extra"
	if strings.Join(names, " ") != want {
		t.Fatalf("job archive holds %v; expected %s", names, want)
	}
}
