package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// CurlFromNode fetches a URL from a node (kind nodes have curl) and returns the body.
func CurlFromNode(ctx context.Context, n node.Node, rawURL string) (string, error) {
	out, err := node.Output(ctx, n, "curl", "-sS", "--fail", "--max-time", "5", rawURL)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// HostnameVia asks a netexec backend for its name through an address, from a node: the
// real server a connection reached.
func HostnameVia(ctx context.Context, n node.Node, ap netip.AddrPort) (string, error) {
	body, err := CurlFromNode(ctx, n, "http://"+ap.String()+"/hostname")
	return strings.TrimSpace(body), err
}

// HTTPFromHost fetches a URL from the machine running the tests.
func HTTPFromHost(ctx context.Context, ap netip.AddrPort, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ap.String()+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// dialResponse is netexec's answer to /dial.
type dialResponse struct {
	Responses []string `json:"responses"`
	Errors    []string `json:"errors"`
}

// parseDialResponse reads netexec's /dial JSON.
func parseDialResponse(body []byte) (dialResponse, error) {
	var r dialResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return dialResponse{}, fmt.Errorf("netexec /dial: expected JSON {\"responses\":[...]}; found %q: %w", clip(string(body)), err)
	}
	if len(r.Responses) == 0 && len(r.Errors) == 0 {
		return dialResponse{}, fmt.Errorf("netexec /dial: no responses and no errors in %q", clip(string(body)))
	}
	return r, nil
}

// UDPHostname sends "hostname" over UDP to target from the netexec pod at client (its
// /dial endpoint, called from node n) and returns the answering backend's name. UDP needs
// a client that sends datagrams: the nodes have none, netexec has.
func UDPHostname(ctx context.Context, n node.Node, client string, target netip.AddrPort) (string, error) {
	q := url.Values{}
	q.Set("request", "hostname")
	q.Set("protocol", "udp")
	q.Set("host", target.Addr().String())
	q.Set("port", strconv.Itoa(int(target.Port())))
	q.Set("tries", "1")
	dial := "http://" + net.JoinHostPort(client, strconv.Itoa(fixtures.BackendHTTPPort)) + "/dial?" + q.Encode()
	body, err := CurlFromNode(ctx, n, dial)
	if err != nil {
		return "", err
	}
	r, err := parseDialResponse([]byte(body))
	if err != nil {
		return "", err
	}
	if len(r.Responses) == 0 {
		return "", fmt.Errorf("UDP %s from %s: no answer: %v", target, client, r.Errors)
	}
	return r.Responses[0], nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
