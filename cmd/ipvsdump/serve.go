package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvsdump/internal/serve"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

const serveUsage = `Usage: ipvsdump serve [--listen ADDR] [--host-root DIR] [--node NAME]

Serves the node inspector (framework/node/inspector): GET /healthz, GET /state (the node's
whole dataplane as JSON) and POST /run (one command of a read-only list). It changes
nothing on the node. Run it in a privileged, hostNetwork pod with the node's / mounted
read-only at --host-root (manifests/inspector/daemonset.yaml).

Flags:
`

// serveOptions are serve's flags.
type serveOptions struct {
	listen, hostRoot, node string
}

// parseServe parses serve's flags; ok is false when the command line is refused (or was
// --help, code 0).
func parseServe(args []string, stderr io.Writer) (opts serveOptions, code int, ok bool) {
	fs := flag.NewFlagSet("ipvsdump serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&opts.listen, "listen", ":"+strconv.Itoa(inspector.Port), "address to listen on")
	fs.StringVar(&opts.hostRoot, "host-root", "", "the node's / mounted read-only: host binaries run chrooted into it (default: run them from this filesystem)")
	fs.StringVar(&opts.node, "node", "", "node name recorded in /state (default: $NODE_NAME, else the host name)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, exitOK, false
		}
		return opts, exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ipvsdump serve: unexpected argument %q\n", fs.Arg(0))
		return opts, exitUsage, false
	}
	if opts.node == "" {
		opts.node = os.Getenv("NODE_NAME")
	}
	if opts.node == "" {
		opts.node, _ = os.Hostname()
	}
	if opts.hostRoot != "" {
		if fi, err := os.Stat(opts.hostRoot); err != nil || !fi.IsDir() {
			fmt.Fprintf(stderr, "ipvsdump serve: --host-root %s: expected the node's / mounted as a directory (hostPath /), found %v\n", opts.hostRoot, err)
			return opts, exitUsage, false
		}
	}
	return opts, exitOK, true
}

// newServer wires the inspector to the node: the Linux kernel, with iptables read through
// the node's own *-save binaries (chrooted into the host root).
func newServer(opts serveOptions, log *slog.Logger) *serve.Server {
	host := serve.Host{Root: opts.hostRoot}
	note := func(s string) { log.Info(s) }
	return &serve.Server{
		Node:     opts.node,
		Open:     host.Kernel(kernel.Linux, note),
		Ipvsdump: run,
		Host:     host,
		ProcSys:  "/proc/sys",
		Log:      log,
	}
}

// serveMain runs the server until SIGTERM or SIGINT, then lets requests in flight finish.
func serveMain(args []string, stderr io.Writer) int {
	opts, code, ok := parseServe(args, stderr)
	if !ok {
		return code
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		fmt.Fprintf(stderr, "ipvsdump serve: %v\n", err)
		return exitRead
	}
	return serveOn(ctx, ln, newServer(opts, log).Handler(), log)
}

// serveOn serves h on ln until ctx ends. The timeouts keep a slow or stuck client from
// holding a connection; the write timeout leaves room for the longest /run (a host command
// or a fetch).
func serveOn(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) int {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("serving the node inspector", "addr", ln.Addr().String())
	select {
	case err := <-done:
		log.Error("server stopped", "err", err)
		return exitRead
	case <-ctx.Done():
	}
	log.Info("stopping: letting requests in flight finish")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		log.Error("stopping", "err", err)
		return exitRead
	}
	return exitOK
}
