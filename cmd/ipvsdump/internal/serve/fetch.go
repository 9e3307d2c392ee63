package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
)

// maxBody caps what a fetch returns, so that a large response cannot exhaust the pod.
const maxBody = 16 << 20

// Exit codes of curl and wget that a script checks.
const (
	curlResolve   = 6
	curlConnect   = 7
	curlHTTPError = 22 // --fail and a status of 400 or more
	curlTimeout   = 28
	curlRecv      = 56
	wgetNetwork   = 4
	wgetServer    = 8 // an error status
)

// get makes the GET of curl or wget from the inspector's network namespace, which is the
// node's (hostNetwork), and answers as the tool would: the body on stdout, the tool's exit
// code, its message on stderr.
func (f fetch) get(ctx context.Context) inspector.RunResponse {
	ctx, cancel := context.WithTimeout(ctx, f.maxTime)
	defer cancel()
	client := &http.Client{
		// No proxy from the environment: the point is the node's own path to the address.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	if !f.wget {
		// curl without -L shows the redirect itself.
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return f.failed(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return f.failed(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return f.failed(err)
	}
	switch {
	case resp.StatusCode >= 400 && f.wget:
		return inspector.RunResponse{Stderr: fmt.Sprintf("wget: server returned error: HTTP/1.1 %s\n", resp.Status), ExitCode: wgetServer}
	case resp.StatusCode >= 400 && f.fail:
		return inspector.RunResponse{Stderr: fmt.Sprintf("curl: (22) The requested URL returned error: %d\n", resp.StatusCode), ExitCode: curlHTTPError}
	}
	return inspector.RunResponse{Stdout: string(body)}
}

// failed is a request that got no response, with the tool's exit code for the cause.
func (f fetch) failed(err error) inspector.RunResponse {
	if f.wget {
		return inspector.RunResponse{Stderr: fmt.Sprintf("wget: %v\n", err), ExitCode: wgetNetwork}
	}
	code := curlRecv
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		code = curlTimeout
	case errors.As(err, &dnsErr):
		code = curlResolve
	case errors.As(err, &opErr) && opErr.Op == "dial":
		code = curlConnect
	}
	return inspector.RunResponse{Stderr: fmt.Sprintf("curl: (%d) %v\n", code, err), ExitCode: code}
}
