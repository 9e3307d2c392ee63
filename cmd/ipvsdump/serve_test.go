package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvsdump/internal/serve"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
)

func TestParseServe(t *testing.T) {
	t.Setenv("NODE_NAME", "kind-worker")
	for _, tc := range []struct {
		args   []string
		ok     bool
		want   serveOptions
		stderr string
	}{
		{nil, true, serveOptions{listen: ":10290", node: "kind-worker"}, ""},
		{[]string{"--listen=127.0.0.1:0", "--node=n1", "--host-root", t.TempDir()}, true, serveOptions{listen: "127.0.0.1:0", node: "n1"}, ""},
		{[]string{"--host-root=/no/such/dir"}, false, serveOptions{}, "expected the node's / mounted as a directory"},
		{[]string{"extra"}, false, serveOptions{}, `unexpected argument "extra"`},
		{[]string{"--output=json"}, false, serveOptions{}, "flag provided but not defined"},
	} {
		var stderr bytes.Buffer
		opts, _, ok := parseServe(tc.args, &stderr)
		opts.hostRoot = "" // a temporary directory
		if ok != tc.ok || ok && opts != tc.want || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("serve %q: %+v ok %t, stderr %q; want %+v ok %t, stderr with %q", tc.args, opts, ok, stderr.String(), tc.want, tc.ok, tc.stderr)
		}
	}
}

// /run's ipvsdump is this binary's own run, in-process, on the server's kernel.
func TestServeRunsIpvsdumpInProcess(t *testing.T) {
	s := &serve.Server{Open: fakeKernel(t, kindNode()), Ipvsdump: run, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		args   []string
		stdout string
		code   int
	}{
		{[]string{"ipvsdump", "--timeout"}, "Timeout (tcp tcpfin udp): 900 120 300\n", exitOK},
		{[]string{"ipvsdump", "-o", "yaml"}, "", exitUsage},
	} {
		req, _ := json.Marshal(inspector.RunRequest{Args: tc.args})
		resp, err := http.Post(srv.URL+inspector.PathRun, "application/json", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		var rr inspector.RunResponse
		err = json.NewDecoder(resp.Body).Decode(&rr)
		resp.Body.Close()
		if err != nil || rr.Stdout != tc.stdout || rr.ExitCode != tc.code {
			t.Errorf("%q: %+v, %v; want stdout %q, exit %d", tc.args, rr, err, tc.stdout, tc.code)
		}
	}
}

// On SIGTERM (the context ending) the server stops taking connections and lets a request
// in flight finish.
func TestServeStopsGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		time.Sleep(200 * time.Millisecond)
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- serveOn(ctx, ln, h, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			body <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body <- string(b)
	}()
	<-started
	cancel()
	if got := <-body; got != "done" {
		t.Errorf("the request in flight got %q, want done", got)
	}
	if c := <-code; c != exitOK {
		t.Errorf("serveOn returned %d, want %d", c, exitOK)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Error("the server still answers after stopping")
	}
}
