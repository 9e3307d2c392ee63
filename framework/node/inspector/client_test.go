package inspector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// apiServer answers the pods/proxy paths of one inspector pod as the API server relays
// them: /state with st, /run with run's answer.
func apiServer(t *testing.T, st dataplane.State, run func(RunRequest) (int, any)) *Node {
	t.Helper()
	const base = "/api/v1/namespaces/ipvs-e2e-inspector-x/pods/inspector-a:10290/proxy"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == base+PathState:
			_ = json.NewEncoder(w).Encode(st)
		case r.Method == http.MethodPost && r.URL.Path == base+PathRun:
			var req RunRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			code, body := run(req)
			w.WriteHeader(code)
			if s, ok := body.(string); ok {
				_, _ = w.Write([]byte(s))
				return
			}
			_ = json.NewEncoder(w).Encode(body)
		default:
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return NewNode(cs.CoreV1().RESTClient(), "node1", "ipvs-e2e-inspector-x", "inspector-a")
}

func TestReadStateRoundTrip(t *testing.T) {
	// The seed's section 4.1.3 and 4.1.4 outputs.
	ipvs, err := dataplane.ParseIPVSAdm("IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  10.106.71.137:80 rr\n  -> 10.244.3.214:80              Masq    1      0          0\n")
	if err != nil {
		t.Fatal(err)
	}
	links, err := dataplane.ParseIPAddr("5: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN group default\n    link/ether 6e:b4:45:d7:7a:9e brd ff:ff:ff:ff:ff:ff\n    inet 10.106.71.137/32 scope global kube-ipvs0\n       valid_lft forever preferred_lft forever\n")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := dataplane.ParseIPTablesSave("*nat\n:KUBE-NODE-PORT - [0:0]\n-A KUBE-NODE-PORT -p tcp -m comment --comment \"Kubernetes nodeport TCP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ\nCOMMIT\n")
	if err != nil {
		t.Fatal(err)
	}
	want := dataplane.State{IPVS: ipvs, Links: links, IPTables: rules, IP6Tables: rules}
	n := apiServer(t, want, nil)
	var _ node.Node = n
	for _, ipv6 := range []bool{false, true} {
		got, err := node.ReadState(context.Background(), n, node.ReadOptions{IPv6: ipv6})
		if err != nil {
			t.Fatal(err)
		}
		w := want
		w.Node = "node1"
		if !ipv6 {
			w.IP6Tables = dataplane.Ruleset{}
		}
		if !dataplane.Equal(got, w) {
			t.Errorf("ipv6=%v: ReadState through the inspector differs:\n%s", ipv6, dataplane.Diff(w, got))
		}
	}
}

func TestCommand(t *testing.T) {
	n := apiServer(t, dataplane.State{}, func(r RunRequest) (int, any) {
		switch strings.Join(r.Args, " ") {
		case "iptables-save -t nat":
			return http.StatusOK, RunResponse{Stdout: "*nat\nCOMMIT\n"}
		case "curl -sS --fail --max-time 5 http://10.0.2.15:30089/":
			return http.StatusOK, RunResponse{Stderr: "curl: (22) The requested URL returned error: 503\n", ExitCode: 22}
		}
		return http.StatusForbidden, "not on the inspector's read-only list: " + r.Args[0]
	})
	ctx := context.Background()
	out, err := node.Output(ctx, n, "iptables-save", "-t", "nat")
	if err != nil || string(out) != "*nat\nCOMMIT\n" {
		t.Errorf("iptables-save: %q, %v", out, err)
	}
	_, err = node.Output(ctx, n, "curl", "-sS", "--fail", "--max-time", "5", "http://10.0.2.15:30089/")
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 22 || !strings.Contains(err.Error(), "returned error: 503") {
		t.Errorf("curl exiting 22: %v", err)
	}
	if err := node.Run(ctx, n, "iptables", "-F"); err == nil || !strings.Contains(err.Error(), "not on the inspector's read-only list: iptables") {
		t.Errorf("a refused command: %v", err)
	}
	if err := n.Command(ctx, "ipvsdump").SetStdin(bytes.NewReader(nil)).Run(); err == nil || !strings.Contains(err.Error(), "the node inspector takes neither") {
		t.Errorf("stdin: %v", err)
	}
	if err := n.CopyFile(ctx, "/bin/sh", "/usr/local/bin/sh"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("CopyFile = %v, want ErrReadOnly", err)
	}
}
