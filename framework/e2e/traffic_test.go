package e2e

import (
	"context"
	"net/netip"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestUDPHostname(t *testing.T) {
	const dial = "curl -sS --fail --max-time 5 http://10.244.1.7:8080/dial?host=10.96.44.5&port=5353&protocol=udp&request=hostname&tries=1"
	n := node.NewFake("ipvs-e2e-worker").Stdout(dial, `{"responses":["udp-backend-7d9f8-x2kq4"]}`)
	got, err := UDPHostname(context.Background(), n, "10.244.1.7", netip.MustParseAddrPort("10.96.44.5:5353"))
	if err != nil || got != "udp-backend-7d9f8-x2kq4" {
		t.Errorf("UDPHostname = %q, %v (calls %v)", got, err, n.CallLines())
	}
	n = node.NewFake("ipvs-e2e-worker").Stdout(dial, `{"errors":["reading from udp connection failed. err:'read udp 10.244.1.7:41234->10.96.44.5:5353: i/o timeout'"]}`)
	_, err = UDPHostname(context.Background(), n, "10.244.1.7", netip.MustParseAddrPort("10.96.44.5:5353"))
	wanterr.Check(t, err, "i/o timeout") // no answer
}

func TestParseDialResponse(t *testing.T) {
	for _, tc := range []struct{ body, err string }{
		{`{"responses":["a"]}`, ""},
		{`{"errors":["e"]}`, ""},
		{`{}`, "no responses and no errors"},
		{`404 page not found`, "expected JSON"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			_, err := parseDialResponse([]byte(tc.body))
			wanterr.Check(t, err, tc.err)
		})
	}
}

func FuzzParseDialResponse(f *testing.F) {
	for _, s := range []string{`{"responses":["a"]}`, `{"errors":["e"]}`, `{}`, `null`, `404 page not found`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseDialResponse(body)
		if err == nil && len(r.Responses) == 0 && len(r.Errors) == 0 {
			t.Fatalf("accepted an empty answer %q", body)
		}
	})
}

func TestCurlFromNode(t *testing.T) {
	n := node.NewFake("n").Script("curl -sS --fail --max-time 5 http://10.96.71.137:80/",
		node.Response{Stderr: "curl: (28) Connection timed out after 5001 milliseconds\n", ExitCode: 28})
	_, err := CurlFromNode(context.Background(), n, "http://10.96.71.137:80/")
	wanterr.Check(t, err, "timed out")
}
