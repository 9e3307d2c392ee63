package kubeproxy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestParseProxyMode(t *testing.T) {
	for _, tc := range []struct {
		body, want, err string
	}{
		{body: "ipvs", want: "ipvs"},
		{body: "iptables", want: "iptables"},
		{body: "nftables\n", want: "nftables"},
		{body: "", err: "empty body"},
		{body: "404 page not found\n", err: `found "404 page not found"`},
		{body: "IPVS", err: "expected one of"},
	} {
		got, err := ParseProxyMode([]byte(tc.body))
		checkErrorSays(t, fmt.Sprintf("ParseProxyMode(%q)", tc.body), err, tc.err)
		if got != tc.want {
			t.Errorf("ParseProxyMode(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestReadProxyMode(t *testing.T) {
	const curl = "curl -sS --max-time 5 http://127.0.0.1:10249/proxyMode"
	const wget = "wget -q -T 5 -O - http://127.0.0.1:10249/proxyMode"
	ctx := context.Background()

	kind := node.NewFake("ipvs-e2e-worker").Stdout(curl, "ipvs")
	if m, err := ReadProxyMode(ctx, kind); err != nil || m != "ipvs" {
		t.Errorf("kind node: %q %v", m, err)
	}

	lab := node.NewFake("lab-node").Stdout(wget, "ipvs")
	if m, err := ReadProxyMode(ctx, lab); err != nil || m != "ipvs" {
		t.Errorf("lab node (no curl): %q %v", m, err)
	}

	down := node.NewFake("ipvs-e2e-worker").
		Script(curl, node.Response{Stderr: "curl: (7) Failed to connect to 127.0.0.1 port 10249 after 0 ms: Couldn't connect to server\n", ExitCode: 7})
	_, err := ReadProxyMode(ctx, down)
	checkErrorSays(t, "ReadProxyMode with kube-proxy down", err, "does not answer", "Couldn't connect")

	wrong := node.NewFake("n").Stdout(curl, "<html>")
	_, err = ReadProxyMode(ctx, wrong)
	wanterr.Check(t, err, "node n") // a garbage body
}

func FuzzParseProxyMode(f *testing.F) {
	for _, s := range []string{"ipvs", "iptables", "nftables\n", "", "404 page not found\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseProxyMode(body)
		if err == nil && strings.TrimSpace(string(body)) != m {
			t.Fatalf("ParseProxyMode(%q) = %q", body, m)
		}
	})
}
