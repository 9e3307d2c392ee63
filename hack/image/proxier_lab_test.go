//go:build lab

package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
)

// guestImage is where `make lab-test` puts the image `make proxier-image` wrote:
// --file $CACHE_DIR/images/ipvs-proxier-amd64.tar=/lab/images/ipvs-proxier-amd64.tar.
const guestImage = "/lab/images/ipvs-proxier-amd64.tar"

// TestProxierImageRuns unpacks the proxier image's root in the guest and runs what it
// carries there, chrooted, in a network namespace of its own, on the lab's kernel: both
// iptables back ends through the names the proxier runs (iptables-restore and
// iptables-save, by the proxier's own iptables code), conntrack, and the proxier.
func TestProxierImageRuns(t *testing.T) {
	labtest.Require(t)
	img, err := tarball.ImageFromPath(guestImage, nil)
	if err != nil {
		t.Fatalf("the proxier image is not in the guest (%v): build it with `make proxier-image` and pass "+
			"--file $CACHE_DIR/images/ipvs-proxier-amd64.tar=%s to `ipvs-e2e lab test` (make lab-test does both)", err, guestImage)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	root := unpack(t, img)
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// iptables-legacy-save lists /proc/net/ip_tables_names, as in a container.
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(root, "proc"), unix.MNT_DETACH) })
	var ns netns.NsHandle
	if err := pods.InNetns(netns.None(), func() (err error) { ns, err = netns.New(); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })

	imagePath := ""
	for _, e := range cfg.Config.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			imagePath = v
		}
	}
	if imagePath != ProxierPath {
		t.Fatalf("the image's PATH is %q, want %q", imagePath, ProxierPath)
	}
	c := &chroot{root: root, ns: ns}
	legacy := &chroot{root: root, ns: ns, path: LegacyPath + ":" + ProxierPath}
	c.path = ProxierPath

	for _, tc := range []struct {
		name string
		run  *chroot
		argv []string
		want string
	}{
		{"iptables is nf_tables", c, []string{"iptables", "-V"}, "iptables v1.8.9 (nf_tables)"},
		{"ip6tables is nf_tables", c, []string{"ip6tables", "-V"}, "ip6tables v1.8.9 (nf_tables)"},
		{"legacy first in PATH", legacy, []string{"iptables", "-V"}, "iptables v1.8.9 (legacy)"},
		{"iptables-legacy", c, []string{"iptables-legacy", "-V"}, "iptables v1.8.9 (legacy)"},
		{"iptables-nft", c, []string{"iptables-nft", "-V"}, "iptables v1.8.9 (nf_tables)"},
		{"conntrack", c, []string{"conntrack", "--version"}, "conntrack v1.4.7 (conntrack-tools)"},
		{"conntrack reads the table", c, []string{"conntrack", "-L"}, "0 flow entries have been shown."},
		{"the proxier", c, append(cfg.Config.Entrypoint, "--help"), "The reference IPVS proxier; flags are kube-proxy's."},
		{"kube-proxy is the proxier", c, []string{KubeProxyPath, "--help"}, "--proxy-mode"},
	} {
		stdout, stderr, err := tc.run.command(tc.argv[0], tc.argv[1:], nil)
		if out := string(stdout) + string(stderr); err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %q: %v; want exit 0 with %q in:\n%s", tc.name, tc.argv, err, tc.want, out)
		}
	}

	// The image has no modprobe, as kube-proxy's has none: the legacy back end needs the
	// node's kernel to have x_tables' socket options (ip_tables, ip6_tables) loaded, which a
	// kube-proxy node has. The guest's own modprobe loads them, as a node's boot does.
	if out, err := exec.Command("modprobe", "-a", "ip_tables", "ip6_tables", "iptable_nat", "ip6table_nat").CombinedOutput(); err != nil {
		t.Fatalf("the guest's modprobe: %v: %s", err, out)
	}
	// The proxier's own iptables code, running the image's iptables-restore and
	// iptables-save by name: a rule with an extension match and target goes in and reads
	// back on each back end, for both families.
	rule := `-A KUBE-IMAGE-TEST -m comment --comment "ipvs-e2e image" -j MASQUERADE`
	input := "*nat\n:KUBE-IMAGE-TEST - [0:0]\n" + rule + "\nCOMMIT\n"
	for name, run := range map[string]*chroot{"nf_tables": c, "legacy": legacy} {
		ipt := iptables.NewLinuxWithRunner(run.command)
		for _, fam := range []iptables.Family{iptables.IPv4, iptables.IPv6} {
			if err := ipt.Restore(fam, []byte(input)); err != nil {
				t.Errorf("%s IPv%d: iptables-restore: %v", name, fam, err)
				continue
			}
			stdout, _, err := run.command(map[iptables.Family]string{iptables.IPv4: "iptables-save", iptables.IPv6: "ip6tables-save"}[fam], []string{"-t", "nat"}, nil)
			if err != nil || !strings.Contains(string(stdout), rule) {
				t.Errorf("%s IPv%d: iptables-save -t nat: %v; want %q in:\n%s", name, fam, err, rule, stdout)
			}
			rs, err := ipt.Save(fam, "nat")
			if err != nil {
				t.Errorf("%s IPv%d: Save: %v", name, fam, err)
				continue
			}
			nat, _ := rs.Table("nat")
			i := slices.IndexFunc(nat.Chains, func(ch dataplane.Chain) bool { return ch.Name == "KUBE-IMAGE-TEST" })
			if want := strings.TrimPrefix(rule, "-A KUBE-IMAGE-TEST "); i < 0 || len(nat.Chains[i].Rules) != 1 || nat.Chains[i].Rules[0].Spec != want {
				t.Errorf("%s IPv%d: the saved nat table %+v; want chain KUBE-IMAGE-TEST with the rule %s", name, fam, nat, want)
			}
		}
	}
}

// chroot runs the image's programs as its runtime would: chrooted into root, in network
// namespace ns, with PATH looked up inside the root.
type chroot struct {
	root, path string
	ns         netns.NsHandle
}

// command is an iptables.Runner.
func (c *chroot) command(name string, args []string, stdin []byte) ([]byte, []byte, error) {
	prog := name
	if !strings.Contains(name, "/") {
		prog = ""
		for _, dir := range filepath.SplitList(c.path) {
			if _, err := os.Lstat(filepath.Join(c.root, dir, name)); err == nil {
				prog = path.Join(dir, name)
				break
			}
		}
		if prog == "" {
			return nil, nil, fmt.Errorf("%s: %w in the image's PATH %s", name, exec.ErrNotFound, c.path)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := &exec.Cmd{Path: prog, Args: append([]string{name}, args...), Env: []string{"PATH=" + c.path},
		Dir: "/", Stdout: &stdout, Stderr: &stderr, SysProcAttr: &syscall.SysProcAttr{Chroot: c.root}}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := pods.InNetns(c.ns, cmd.Run)
	return stdout.Bytes(), stderr.Bytes(), err
}

// unpack writes the image's flattened root into a folder.
func unpack(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(path.Clean("/"+hdr.Name)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(hdr.Mode).Perm())
		case tar.TypeSymlink:
			err = os.Symlink(hdr.Linkname, p)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, os.FileMode(hdr.Mode).Perm()); err == nil {
				_, err = io.Copy(f, tr)
				err = errors.Join(err, f.Close())
			}
		default:
			err = fmt.Errorf("%s: tar type %c; the image holds files, folders and symlinks only", hdr.Name, hdr.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}
