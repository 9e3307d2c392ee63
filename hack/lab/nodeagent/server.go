package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http/httputil"
	"net/url"
	"slices"

	"encoding/json"
	"errors"
	"fmt"
	"io"
	corev1 "k8s.io/api/core/v1"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/agentapi"
)

// serve runs the agent's TLS endpoints until ctx ends.
func (a *agent) serve(ctx context.Context) error {
	token, err := os.ReadFile(a.cfg.tokenFile)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(token))
	if tok == "" {
		return fmt.Errorf("token file %s is empty: the exec endpoint needs a token", a.cfg.tokenFile)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	// Read-only, the kubelet's path: the apiserver (no client certificate configured for
	// kubelets in the lab) proxies `kubectl logs` here.
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", a.handleLogs)
	mux.Handle("POST "+agentapi.ExecPath, authorized(tok, http.HandlerFunc(handleExec)))
	mux.Handle("PUT "+agentapi.FilesPath, authorized(tok, http.HandlerFunc(handleFile)))
	if len(a.workers) > 0 {
		proxy, err := a.workerProxy()
		if err != nil {
			return err
		}
		mux.Handle(agentapi.NodesPath+"{node}/", authorized(tok, proxy))
	}
	srv := &http.Server{Addr: a.cfg.listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	slog.Info("serving logs, exec and files", "listen", a.cfg.listen)
	err = srv.ListenAndServeTLS(a.cfg.tlsCert, a.cfg.tlsKey)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func authorized(token string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			http.Error(w, "a valid bearer token is required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *agent) handleLogs(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("ns") + "/" + r.PathValue("pod")
	container := r.PathValue("container")
	a.mu.Lock()
	rt := a.byName[key]
	a.mu.Unlock()
	if rt == nil {
		// The apiserver reaches every node's logs here (one forward): pass a further
		// node's pod on to its agent.
		if wk := a.workerOf(key); wk != nil {
			a.forwardTo(wk, w, r)
			return
		}
		http.Error(w, fmt.Sprintf("pod %s does not run on this node", key), http.StatusNotFound)
		return
	}
	if rt.proc == nil || rt.proc.name != container {
		// Namespace pods run HTTP servers in the agent itself: they log nothing.
		return
	}
	rt.proc.mu.Lock()
	n := rt.proc.restarts
	rt.proc.mu.Unlock()
	if prev, _ := strconv.ParseBool(r.URL.Query().Get("previous")); prev {
		if n == 0 {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", container, key), http.StatusBadRequest)
			return
		}
		n--
	}
	http.ServeFile(w, r, rt.proc.logPath(n))
}

// workerProxy passes <NodesPath><node>/<rest> on to that node's agent as /<rest>.
func (a *agent) workerProxy() (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wk := a.workers[r.PathValue("node")]
		if wk == nil {
			http.Error(w, fmt.Sprintf("node %q is not a node of this guest (its nodes: %s and %v)", r.PathValue("node"), a.cfg.nodeName, workerNames(a.workers)), http.StatusNotFound)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, agentapi.NodesPath+wk.name)
		r2.URL.RawPath = ""
		a.forwardTo(wk, w, r2)
	}), nil
}

// forwardTo sends a request to a further node's agent, which serves the same certificate.
func (a *agent) forwardTo(wk *worker, w http.ResponseWriter, r *http.Request) {
	a.proxyOnce.Do(func() {
		pem, err := os.ReadFile(a.cfg.tlsCert)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			a.proxyErr = fmt.Errorf("agent certificate %s: expected PEM (%v)", a.cfg.tlsCert, err)
			return
		}
		a.proxyTransport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: agentServerName, MinVersion: tls.VersionTLS12}}
	})
	if a.proxyErr != nil {
		http.Error(w, a.proxyErr.Error(), http.StatusInternalServerError)
		return
	}
	_, port, _ := net.SplitHostPort(a.cfg.listen)
	target := &url.URL{Scheme: "https", Host: net.JoinHostPort(wk.ip.String(), port)}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = target.Host },
		Transport: a.proxyTransport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, fmt.Sprintf("node %s's agent at %s: %v", wk.name, target.Host, err), http.StatusBadGateway)
		},
	}
	rp.ServeHTTP(w, r)
}

// workerOf finds the further node a pod runs on, from the pod informer.
func (a *agent) workerOf(key string) *worker {
	if len(a.workers) == 0 || a.lister == nil {
		return nil
	}
	obj, ok, err := a.lister.GetByKey(key)
	if err != nil || !ok {
		return nil
	}
	return a.workers[obj.(*corev1.Pod).Spec.NodeName]
}

func workerNames(ws map[string]*worker) []string {
	var out []string
	for n := range ws {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// agentServerName is the name in the agents' certificate (framework/cluster/lab).
const agentServerName = "ipvs-nodeagent"

func handleExec(w http.ResponseWriter, r *http.Request) {
	var req agentapi.ExecRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&req); err != nil || len(req.Argv) == 0 {
		http.Error(w, fmt.Sprintf("expected a JSON exec request with argv: %v", err), http.StatusBadRequest)
		return
	}
	cmd := exec.CommandContext(r.Context(), req.Argv[0], req.Argv[1:]...)
	cmd.Env = append(os.Environ(), req.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(req.Stdin), &stdout, &stderr
	resp := agentapi.ExecResponse{}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		resp.ExitCode = ee.ExitCode()
	case errors.Is(err, exec.ErrNotFound):
		resp.ExitCode, resp.Error = 127, err.Error()
	case err != nil:
		resp.ExitCode, resp.Error = 126, err.Error()
	}
	resp.Stdout, resp.Stderr = stdout.Bytes(), stderr.Bytes()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func handleFile(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	mode, err := strconv.ParseUint(r.URL.Query().Get("mode"), 8, 32)
	if !filepath.IsAbs(path) || err != nil {
		http.Error(w, "expected an absolute path and an octal mode", http.StatusBadRequest)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	tmp := path + ".upload"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(mode))
	if err == nil {
		_, err = io.Copy(f, r.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Chmod(tmp, os.FileMode(mode))
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
