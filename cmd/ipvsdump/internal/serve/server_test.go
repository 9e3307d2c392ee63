package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// node is a kind worker in ipvs mode as the inspector reads it: with sysctls and the
// conntrack table's size.
func node() dataplane.State {
	return dataplane.State{
		Node: "kind-worker",
		IPVS: dataplane.IPVS{
			Services: []dataplane.VirtualServer{{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.0.1"), Port: 443, Scheduler: "rr",
				RealServers: []dataplane.RealServer{{Address: netip.MustParseAddr("172.18.0.3"), Port: 6443, Forward: dataplane.Masq, Weight: 1}}}},
			Timeouts: dataplane.Timeouts{TCP: 900, TCPFin: 120, UDP: 300},
		},
		Links: []dataplane.Link{{Name: "kube-ipvs0", Index: 3, Kind: "dummy", Addrs: []netip.Prefix{netip.MustParsePrefix("10.96.0.1/32")}}},
		IPSets: []dataplane.IPSet{{Name: "KUBE-NODE-PORT-TCP", Type: "bitmap:port", PortRange: "0-65535",
			Members: []dataplane.Member{{Port: 30089}}}},
		IPTables: dataplane.Ruleset{Tables: []dataplane.Table{{Name: "nat", Chains: []dataplane.Chain{
			{Name: "KUBE-MARK-MASQ", Policy: "-", Rules: []dataplane.Rule{{Spec: "-j MARK --set-xmark 0x4000/0x4000"}}}}}}},
		Sysctls: map[string]string{
			"net.ipv4.vs.conntrack": "1", "net.ipv4.vs.conn_reuse_mode": "0", "net.ipv4.ip_forward": "1",
			"net.netfilter.nf_conntrack_max": "131072",
		},
		Conntrack: &dataplane.Conntrack{Count: 17, Max: 131072},
	}
}

// fakeKernel holds s in the kernel fakes, its sysctls in the sysctl fake (and no others:
// the kernel defaults are removed, so the state's sysctls are all the node has).
func fakeKernel(t *testing.T, s dataplane.State) func() (*kernel.Kernel, error) {
	t.Helper()
	return func() (*kernel.Kernel, error) {
		k, err := kernel.FakeWith(s)
		if err != nil {
			t.Fatal(err)
		}
		sc := k.Sysctl.(*sysctl.Fake)
		for name := range sc.Values() {
			sc.Remove(name)
		}
		for name, v := range s.Sysctls {
			sc.Define(strings.ReplaceAll(name, ".", "/"), v)
		}
		if s.Conntrack != nil {
			sc.Define(conntrackCount, fmt.Sprint(s.Conntrack.Count))
		}
		return k, nil
	}
}

// stubIpvsdump stands for the CLI's run, which this package cannot import (it is main's).
func stubIpvsdump(args []string, stdout, _ io.Writer, _ func() (*kernel.Kernel, error)) int {
	fmt.Fprintf(stdout, "ipvsdump %s\n", strings.Join(args, " "))
	return 0
}

func newServer(t *testing.T, open func() (*kernel.Kernel, error), host Host) *httptest.Server {
	t.Helper()
	s := &Server{Node: "kind-worker", Open: open, Ipvsdump: stubIpvsdump, Host: host,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// post sends a RunRequest; the response is decoded when the status is 200.
func post(t *testing.T, srv *httptest.Server, args ...string) (int, string, inspector.RunResponse) {
	t.Helper()
	req, _ := json.Marshal(inspector.RunRequest{Args: args})
	resp, err := http.Post(srv.URL+inspector.PathRun, "application/json", strings.NewReader(string(req)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var rr inspector.RunResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &rr); err != nil {
			t.Fatalf("%q: %v in %s", args, err, body)
		}
	}
	return resp.StatusCode, string(body), rr
}

func TestHealthz(t *testing.T) {
	noIPVS := func() (*kernel.Kernel, error) {
		return nil, fmt.Errorf("%w (no IPVS genetlink family): load the modules", ipvs.ErrNoIPVS)
	}
	failingRead := func() (*kernel.Kernel, error) {
		k := kernel.Fake()
		k.IPVS.(*ipvs.Fake).FailNext("Services", errors.New("netlink: operation not permitted"))
		return k, nil
	}
	for _, tc := range []struct {
		name   string
		open   func() (*kernel.Kernel, error)
		status int
		body   string
	}{
		{"the kernel reads", fakeKernel(t, node()), http.StatusOK, "ok\n"},
		{"no IPVS in the kernel", noIPVS, http.StatusServiceUnavailable, "the kernel has no IPVS"},
		{"IPVS does not read", failingRead, http.StatusServiceUnavailable, "operation not permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, newServer(t, tc.open, Host{}).URL+inspector.PathHealthz)
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("GET /healthz: %d %q; want %d with %q", status, body, tc.status, tc.body)
			}
		})
	}
}

// The state comes back through JSON as the same dataplane, sysctls and conntrack included.
func TestStateRoundTrip(t *testing.T) {
	want := node()
	// The iptables fake lists the standard tables' built-in chains, as iptables-save does.
	k, _ := fakeKernel(t, want)()
	read, err := kernel.Read(k, kernel.ReadOptions{IPTables: true, IP6Tables: true})
	if err != nil {
		t.Fatal(err)
	}
	want.IPTables, want.IP6Tables = read.IPTables, read.IP6Tables
	status, body := get(t, newServer(t, fakeKernel(t, want), Host{}).URL+inspector.PathState)
	if status != http.StatusOK {
		t.Fatalf("GET /state: %d %s", status, body)
	}
	var got dataplane.State
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if !dataplane.Equal(want, got) {
		t.Errorf("GET /state differs from the kernel's state:\n%s", dataplane.Diff(want, got))
	}
	if got.Node != want.Node || !maps.Equal(got.Sysctls, want.Sysctls) || *got.Conntrack != *want.Conntrack {
		t.Errorf("node %q, sysctls %v, conntrack %+v; want %q, %v, %+v", got.Node, got.Sysctls, got.Conntrack, want.Node, want.Sysctls, want.Conntrack)
	}
	fixture.Contains(t, "GET /state", body, `"ipvs"`, `"links"`, `"ipsets"`, `"iptables"`, `"sysctls"`, `"conntrack"`, `"timeouts"`)
}

// A node without nf_conntrack has no conntrack size; a sysctl it lacks is left out.
func TestStateWithoutConntrack(t *testing.T) {
	s := node()
	s.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
	_, body := get(t, newServer(t, fakeKernel(t, s), Host{}).URL+inspector.PathState)
	var got dataplane.State
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Conntrack != nil || !maps.Equal(got.Sysctls, s.Sysctls) {
		t.Errorf("conntrack %+v, sysctls %v; want none and %v", got.Conntrack, got.Sysctls, s.Sysctls)
	}
}

func TestStateFails(t *testing.T) {
	open := func() (*kernel.Kernel, error) {
		k := kernel.Fake()
		k.Links.(interface{ FailNext(string, error) }).FailNext("Links", errors.New("netlink: no buffer space"))
		return k, nil
	}
	status, body := get(t, newServer(t, open, Host{}).URL+inspector.PathState)
	if status != http.StatusInternalServerError || !strings.Contains(body, "reading links: netlink: no buffer space") {
		t.Errorf("GET /state: %d %q", status, body)
	}
}

func TestMethods(t *testing.T) {
	srv := newServer(t, fakeKernel(t, node()), Host{})
	resp, err := http.Post(srv.URL+inspector.PathState, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /state: %d, want 405", resp.StatusCode)
	}
	if status, _ := get(t, srv.URL+inspector.PathRun); status != http.StatusMethodNotAllowed {
		t.Errorf("GET /run: %d, want 405", status)
	}
	resp, err = http.Post(srv.URL+inspector.PathRun, "application/json", strings.NewReader(`{"argv":["ip"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /run with an unknown field: %d, want 400", resp.StatusCode)
	}
}

// Host commands run from the node's root; ipvsdump runs in-process.
func TestRun(t *testing.T) {
	host := fakeHostRoot(t, map[string]string{
		"usr/sbin/iptables-legacy-save": "echo '*nat'; echo COMMIT",
		"usr/sbin/iptables-nft-save":    `echo '*nat'; echo ':KUBE-MARK-MASQ - [0:0]'; echo "args $*"; echo COMMIT`,
		"usr/sbin/iptables-nft":         `echo "nft $*"`,
		"usr/sbin/iptables-legacy":      `echo "legacy $*"`,
		"usr/sbin/ip6tables-save":       `echo "ip6 $*"`,
		"sbin/ip":                       `echo "ip $*"`,
		"usr/sbin/sysctl":               `for n in "$@"; do echo "$n = 1"; done`,
	})
	srv := newServer(t, fakeKernel(t, node()), host)
	for _, tc := range []struct {
		args           []string
		stdout, stderr string
	}{
		// The variant holding kube-proxy's chains answers, as the node's own would: which
		// one is the inspector's log's business, not the output's.
		{[]string{"iptables-save", "-t", "nat"}, "*nat\n:KUBE-MARK-MASQ - [0:0]\nargs -t nat\nCOMMIT\n", ""},
		{[]string{"iptables", "-t", "nat", "-S", "KUBE-NODE-PORT"}, "nft -t nat -S KUBE-NODE-PORT\n", ""},
		{[]string{"ip6tables-save"}, "ip6 \n", ""},
		{[]string{"ip", "-j", "addr", "show"}, "ip -j addr show\n", ""},
		{[]string{"sysctl", "net.ipv4.ip_forward", "net.ipv4.vs.conntrack"}, "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 1\n", ""},
		{[]string{"ipvsdump", "--timeout"}, "ipvsdump --timeout\n", ""},
		// The node has no ipset: the sets are read over netlink.
		{[]string{"ipset", "save"}, "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\nadd KUBE-NODE-PORT-TCP 30089\n", "no ipset binary"},
		{[]string{"ipset", "list", "KUBE-NODE-PORT-TCP"}, "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\nadd KUBE-NODE-PORT-TCP 30089\n", "no ipset binary"},
	} {
		status, body, rr := post(t, srv, tc.args...)
		if status != http.StatusOK || rr.ExitCode != 0 || rr.Stdout != tc.stdout || !strings.Contains(rr.Stderr, tc.stderr) {
			t.Errorf("%q: %d %s\nwant stdout %q, stderr with %q", tc.args, status, body, tc.stdout, tc.stderr)
		}
	}
}

// A command that is allowed but not installed is a 404 naming it.
func TestRunMissingBinary(t *testing.T) {
	srv := newServer(t, fakeKernel(t, node()), fakeHostRoot(t, nil))
	status, body, _ := post(t, srv, "ip", "addr", "show")
	if status != http.StatusNotFound || !strings.Contains(body, "ip is not installed on the node") {
		t.Errorf("ip addr show without ip: %d %q", status, body)
	}
}

func TestRunRefused(t *testing.T) {
	srv := newServer(t, fakeKernel(t, node()), fakeHostRoot(t, nil))
	for _, args := range [][]string{{"iptables", "-F"}, {"sysctl", "-w", "x=1"}, {"sh", "-c", "id"}, {"cat", "/etc/shadow"}} {
		status, body, _ := post(t, srv, args...)
		if status != http.StatusForbidden || !strings.Contains(body, "refused") || !strings.Contains(body, "iptables-save [-t TABLE]") {
			t.Errorf("%q: %d %q; want 403 listing what is allowed", args, status, body)
		}
	}
}

func TestRunCat(t *testing.T) {
	const file = "/proc/sys/net/ipv4/ip_forward"
	want, err := os.ReadFile(file)
	if err != nil {
		t.Skipf("this host has no %s: %v", file, err)
	}
	_, body, rr := post(t, newServer(t, fakeKernel(t, node()), Host{}), "cat", file)
	if rr.Stdout != string(want) || rr.ExitCode != 0 {
		t.Errorf("cat %s: %s; want %q", file, body, want)
	}
	_, body, rr = post(t, newServer(t, fakeKernel(t, node()), Host{}), "cat", "/proc/sys/net/no_such_sysctl")
	if rr.ExitCode != 1 || !strings.Contains(rr.Stderr, "no such file") {
		t.Errorf("cat of a missing file: %s", body)
	}
}

func TestRunFetch(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "no endpoints", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "NOW: 2026-12-06\n")
	}))
	defer web.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	srv := newServer(t, fakeKernel(t, node()), Host{})
	for _, tc := range []struct {
		args   []string
		stdout string
		code   int
		stderr string
	}{
		{[]string{"curl", "-sS", "--max-time", "5", web.URL}, "NOW: 2026-12-06\n", 0, ""},
		{[]string{"curl", "-sS", web.URL + "/down"}, "no endpoints\n", 0, ""},
		{[]string{"curl", "-sS", "--fail", web.URL + "/down"}, "", 22, "curl: (22) The requested URL returned error: 503"},
		{[]string{"curl", "-sS", closed.URL}, "", 7, "curl: (7)"},
		{[]string{"wget", "-q", "-T", "5", "-O", "-", web.URL}, "NOW: 2026-12-06\n", 0, ""},
		{[]string{"wget", "-q", "-O", "-", web.URL + "/down"}, "", 8, "503"},
		{[]string{"wget", "-q", "-O", "-", closed.URL}, "", 4, "wget:"},
	} {
		status, body, rr := post(t, srv, tc.args...)
		if status != http.StatusOK || rr.Stdout != tc.stdout || rr.ExitCode != tc.code || !strings.Contains(rr.Stderr, tc.stderr) {
			t.Errorf("%q: %d %s\nwant stdout %q, exit %d, stderr with %q", tc.args, status, body, tc.stdout, tc.code, tc.stderr)
		}
	}
}

// The iptables runner /state reads through runs the *-save binaries only.
func TestRunnerRefusesRestore(t *testing.T) {
	run := fakeHostRoot(t, map[string]string{"usr/sbin/iptables-save": "echo '*nat'; echo COMMIT"}).Runner(func(string) {})
	ipt := iptables.NewLinuxWithRunner(run)
	if err := ipt.Restore(iptables.IPv4, []byte("*nat\nCOMMIT\n")); err == nil || !strings.Contains(err.Error(), "runs iptables-save and ip6tables-save only") {
		t.Errorf("Restore through the inspector's runner: %v", err)
	}
	if _, err := ipt.Save(iptables.IPv4, "nat"); err != nil {
		t.Errorf("Save through the inspector's runner: %v", err)
	}
}

// fakeHostRoot is a node's / holding shell scripts at the given paths, and busybox as its
// /bin/sh when this machine has a static one. The scripts run chrooted into it when the
// test may chroot (root, busybox at hand); otherwise Exec runs them from this filesystem.
func fakeHostRoot(t *testing.T, scripts map[string]string) Host {
	t.Helper()
	root := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for rel, body := range scripts {
		write(rel, "#!/bin/sh\n"+body+"\n")
	}
	host := Host{Root: root}
	if busybox, err := os.ReadFile("/bin/busybox"); err == nil && os.Geteuid() == 0 {
		write("bin/busybox", string(busybox))
		if err := os.Symlink("busybox", filepath.Join(root, "bin/sh")); err != nil {
			t.Fatal(err)
		}
		write("probe", "#!/bin/sh\nexit 0\n")
		if _, _, code, err := chrootExec(context.Background(), root, "/probe", nil); err == nil && code == 0 {
			t.Log("the scripts run chrooted into the fake root, as on a node")
			return host
		}
	}
	t.Log("chroot is not available here: the scripts run from this filesystem")
	host.Exec = func(ctx context.Context, root, path string, args []string) ([]byte, []byte, int, error) {
		return chrootExec(ctx, "", filepath.Join(root, path), args)
	}
	return host
}

// /state reads the rulesets through the node's own *-save binaries: the one of
// legacy/nft holding kube-proxy's chains, and none for a family the node lacks.
func TestStateReadsIPTablesFromTheHost(t *testing.T) {
	host := fakeHostRoot(t, map[string]string{
		"usr/sbin/iptables-legacy-save": "echo '*filter'; echo ':INPUT ACCEPT [0:0]'; echo COMMIT",
		"usr/sbin/iptables-nft-save":    "echo '*nat'; echo ':KUBE-SERVICES - [0:0]'; echo COMMIT",
	})
	var notes []string
	s := &Server{Node: "n", Open: host.Kernel(fakeKernel(t, node()), func(n string) { notes = append(notes, n) }),
		Host: host, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	status, body := get(t, srv.URL+inspector.PathState)
	var got dataplane.State
	if err := json.Unmarshal([]byte(body), &got); status != http.StatusOK || err != nil {
		t.Fatalf("GET /state: %d %v %s", status, err, body)
	}
	if len(got.IPTables.ChainsWithPrefix("nat", "KUBE-SERVICES")) != 1 || len(got.IP6Tables.Tables) != 0 {
		t.Errorf("iptables %+v, ip6tables %+v; want nft's nat table and no IPv6 ruleset", got.IPTables, got.IP6Tables)
	}
	if len(notes) == 0 || !strings.Contains(notes[0], "iptables-save is iptables-nft-save") {
		t.Errorf("notes %q, want one naming iptables-nft-save", notes)
	}
}

// Every net/ipv4/vs sysctl the node has is read, not only those kube-proxy sets.
func TestStateListsIPVSSysctls(t *testing.T) {
	procSys := t.TempDir()
	dir := filepath.Join(procSys, "net/ipv4/vs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"conntrack", "sloppy_tcp", "run_estimation"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st := node()
	st.Sysctls["net.ipv4.vs.sloppy_tcp"] = "0"
	st.Sysctls["net.ipv4.vs.run_estimation"] = "1"
	k, _ := fakeKernel(t, st)()
	got, err := readSysctls(k.Sysctl, procSys)
	if err != nil || !maps.Equal(got, st.Sysctls) {
		t.Errorf("readSysctls: %v, %v; want %v", got, err, st.Sysctls)
	}
}

// iptables-save is picked as kube-proxy's iptables-wrapper picks its mode.
func TestIPTablesSavePick(t *testing.T) {
	kube := "echo ':KUBE-SERVICES - [0:0]'"
	for _, tc := range []struct {
		name          string
		scripts       map[string]string
		want, noteHas string
	}{
		{"only the plain binary", map[string]string{"usr/sbin/iptables-save": "true"}, "iptables-save", ""},
		{"only one variant", map[string]string{"usr/sbin/iptables-legacy-save": kube}, "iptables-save", ""},
		{"legacy holds kube-proxy's chains", map[string]string{"usr/sbin/iptables-legacy-save": kube, "usr/sbin/iptables-nft-save": "true"},
			"iptables-legacy-save", "(1 KUBE- mentions; iptables-nft-save has 0)"},
		{"nft holds them", map[string]string{"usr/sbin/iptables-legacy-save": "true", "usr/sbin/iptables-nft-save": kube},
			"iptables-nft-save", "(1 KUBE- mentions; iptables-legacy-save has 0)"},
		{"neither", map[string]string{"usr/sbin/iptables-legacy-save": "true", "usr/sbin/iptables-nft-save": "true"},
			"iptables-nft-save", "nft is iptables-wrapper's default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, note, err := fakeHostRoot(t, tc.scripts).iptablesSave(context.Background(), "iptables")
			if err != nil || name != tc.want || !strings.Contains(note, tc.noteHas) {
				t.Errorf("iptablesSave: %q, note %q, %v; want %q with a note with %q", name, note, err, tc.want, tc.noteHas)
			}
		})
	}
}

// A host command that outlives its time is an error, not an exit code.
func TestHostCommandTimeout(t *testing.T) {
	host := fakeHostRoot(t, map[string]string{"usr/sbin/sysctl": "while :; do :; done"})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, code, err := host.run(ctx, "sysctl", "net.ipv4.ip_forward")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a command past its time: exit %d, %v; want context.DeadlineExceeded", code, err)
	}
}
