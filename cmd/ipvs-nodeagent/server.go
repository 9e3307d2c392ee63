package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab/agentapi"
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
