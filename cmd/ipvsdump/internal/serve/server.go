// Package serve is `ipvsdump serve`, the node inspector: an HTTP server on the node's
// network (a privileged, hostNetwork DaemonSet pod) that answers the node's dataplane and a
// short list of read-only commands, in the protocol of framework/node/inspector.
//
// It changes nothing on the node. It reads netlink (IPVS, links, ip sets) and never sends
// a netlink request that writes; it reads /proc/sys and never writes a sysctl; the host
// binaries it runs are *-save, `ip addr show`, `ipset save|list` and `sysctl NAME`, each
// matched in full against Allowed (no -w, no NAME=VALUE, no flush, no restore); the node's
// root is mounted read-only; curl and wget are a GET made in Go, with nothing sent. A
// command off the list is refused with 403 and the list.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// commandTimeout bounds a host command, so that a hung binary cannot hold a request.
const commandTimeout = 30 * time.Second

// maxRequest caps a /run request body: a command line, not a file.
const maxRequest = 64 << 10

// Server answers the inspector's paths for one node.
type Server struct {
	// Node is the node's name, recorded in /state.
	Node string
	// Open opens the node's kernel; each request opens its own and closes it.
	Open func() (*kernel.Kernel, error)
	// Ipvsdump is the CLI's run: /run's ipvsdump runs through it in-process, on Open.
	Ipvsdump func(args []string, stdout, stderr io.Writer, open func() (*kernel.Kernel, error)) int
	// Host runs the node's binaries.
	Host Host
	// ProcSys is where the net/ipv4/vs sysctls are listed (/proc/sys); empty lists none
	// beyond Sysctls.
	ProcSys string
	Log     *slog.Logger
}

// Handler serves the inspector's paths.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+inspector.PathHealthz, s.healthz)
	mux.HandleFunc("GET "+inspector.PathState, s.state)
	mux.HandleFunc("POST "+inspector.PathRun, s.run)
	return s.logged(mux)
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		s.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start).Round(time.Millisecond))
	})
}

// healthz answers 200 once the kernel opens and its IPVS table and timeouts read: a
// kernel without IPVS fails in Open (kernel.Linux checks for the IPVS genetlink family,
// where netlink libraries would answer an empty table).
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	err := s.withKernel(func(k *kernel.Kernel) error {
		_, err := kernel.Read(k, kernel.ReadOptions{IPVS: true, Timeouts: true})
		return err
	})
	if err != nil {
		s.Log.Warn("not healthy", "err", err)
		http.Error(w, "ipvsdump serve: cannot read the node's IPVS: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *Server) withKernel(f func(*kernel.Kernel) error) error {
	k, err := s.Open()
	if err != nil {
		return err
	}
	defer k.Close()
	return f(k)
}

func (s *Server) state(w http.ResponseWriter, _ *http.Request) {
	var st dataplane.State
	err := s.withKernel(func(k *kernel.Kernel) (err error) {
		st, err = readState(k, s.Node, s.ProcSys, func(err error) {
			s.Log.Info("leaving a ruleset out of the state", "reason", err)
		})
		return err
	})
	if err != nil {
		http.Error(w, "ipvsdump serve: reading the node's dataplane: "+err.Error(), http.StatusInternalServerError)
		return
	}
	dataplane.SortIPVSAdm(&st.IPVS)
	writeJSON(w, st)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client is gone if this fails; nothing to tell it
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	var req inspector.RunRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, fmt.Sprintf("ipvsdump serve: expected a JSON RunRequest {\"args\": [...]}: %v", err), http.StatusBadRequest)
		return
	}
	cmd, err := parse(req.Args)
	if err != nil {
		s.Log.Warn("refused", "args", req.Args, "reason", err)
		http.Error(w, refusal(req.Args, err), http.StatusForbidden)
		return
	}
	timeout := commandTimeout
	if cmd.kind == runFetch {
		timeout = cmd.fetch.maxTime // up to maxFetchTime, which the write timeout allows for
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	resp, err := s.execute(ctx, cmd)
	var missing *MissingError
	switch {
	case errors.As(err, &missing):
		http.Error(w, "ipvsdump serve: "+err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, "ipvsdump serve: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.Log.Info("ran", "args", req.Args, "exitCode", resp.ExitCode)
	writeJSON(w, resp)
}

// refusal is the 403 body: what was refused, why, and what is allowed.
func refusal(args []string, reason error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ipvsdump serve: refused %q: %v\nThe inspector runs only these read-only commands:\n", args, reason)
	for _, a := range Allowed {
		b.WriteString("  " + a + "\n")
	}
	return b.String()
}

// execute runs an allowed command. err is for one that could not run at all (its binary
// is missing: a *MissingError).
func (s *Server) execute(ctx context.Context, cmd command) (inspector.RunResponse, error) {
	switch cmd.kind {
	case runIpvsdump:
		var stdout, stderr strings.Builder
		code := s.Ipvsdump(cmd.args, &stdout, &stderr, s.Open)
		return inspector.RunResponse{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: code}, nil
	case runCat:
		// Read in-process: the pod's /proc/net and /proc/sys/net are the node's, as the pod
		// is on the node's network.
		data, err := os.ReadFile(cmd.args[0])
		if err != nil {
			return inspector.RunResponse{Stderr: fmt.Sprintf("cat: %v\n", err), ExitCode: 1}, nil
		}
		return inspector.RunResponse{Stdout: string(data)}, nil
	case runFetch:
		return cmd.fetch.get(ctx), nil
	case runIPSet:
		if !s.Host.has("ipset") {
			return s.ipsetFromNetlink(cmd.args)
		}
	}
	name := cmd.name
	switch family := strings.TrimSuffix(name, "-save"); family {
	case "iptables", "ip6tables":
		// The variant kube-proxy's rules are in, for iptables -S as for iptables-save. Which
		// one and why goes to the inspector's log: the command's output stays the node's.
		save, note, err := s.Host.iptablesSave(ctx, family)
		if err != nil {
			return inspector.RunResponse{}, err
		}
		if note != "" {
			s.Log.Info(strings.TrimSpace(note))
		}
		if name == family {
			name = strings.TrimSuffix(save, "-save")
		} else {
			name = save
		}
	}
	stdout, stderr, code, err := s.Host.run(ctx, name, cmd.args...)
	if err != nil {
		return inspector.RunResponse{}, err
	}
	return inspector.RunResponse{Stdout: string(stdout), Stderr: string(stderr), ExitCode: code}, nil
}

// ipsetFromNetlink answers ipset save or list on a node without the ipset binary (kind's
// node image): the sets read over netlink, written as `ipset save` writes them.
func (s *Server) ipsetFromNetlink(args []string) (inspector.RunResponse, error) {
	var sets []dataplane.IPSet
	err := s.withKernel(func(k *kernel.Kernel) (err error) {
		sets, err = k.IPSets.List()
		return err
	})
	if err != nil {
		return inspector.RunResponse{Stderr: fmt.Sprintf("ipvsdump: reading ipsets: %v\n", err), ExitCode: 1}, nil
	}
	if len(args) == 2 {
		var found []dataplane.IPSet
		for _, set := range sets {
			if set.Name == args[1] {
				found = append(found, set)
			}
		}
		if len(found) == 0 {
			return inspector.RunResponse{Stderr: "ipset: The set with the given name does not exist\n", ExitCode: 1}, nil
		}
		sets = found
	}
	return inspector.RunResponse{
		Stdout: dataplane.FormatIPSetSave(sets),
		Stderr: "ipvsdump serve: the node has no ipset binary; these are the sets read over netlink, as `ipset save` writes them\n",
	}, nil
}
