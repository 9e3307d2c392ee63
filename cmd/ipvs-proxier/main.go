// Command ipvs-proxier is the reference IPVS proxier: a kube-proxy replacement for IPVS
// mode that takes kube-proxy's flags and KubeProxyConfiguration file. See proxy/README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/proxy"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr, linuxEnv())
	stop()
	klog.Flush()
	os.Exit(code)
}

// env is what run needs from the outside world, so tests can swap the kernel, the API
// client and the hostname.
type env struct {
	openKernel func() (*kernel.Kernel, error)
	newClient  func(config.ClientConnection, *proxy.APIGate) (kubernetes.Interface, error)
	hostname   func() (string, error)
	// self is /proc/self, for oom_score_adj.
	self sysctl.Interface
	// families overrides the detected address families (tests).
	families []int
}

func linuxEnv() env {
	return env{openKernel: kernel.Linux, newClient: newClient, hostname: os.Hostname, self: sysctl.NewLinuxAt("/proc/self")}
}

// run is the whole program; it returns the exit code. It stops cleanly (informers, then
// the health and metrics servers) when ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer, e env) int {
	fs := pflag.NewFlagSet("ipvs-proxier", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var flags config.Flags
	flags.AddFlags(fs)
	help := fs.BoolP("help", "h", false, "help for ipvs-proxier")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ipvs-proxier [flags]\n\nThe reference IPVS proxier; flags are kube-proxy's.\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ipvs-proxier: %v (see --help)\n", err)
		return 2
	}
	if *help {
		fs.Usage()
		return 0
	}
	if fs.NArg() > 0 {
		// kube-proxy takes no arguments either. The usual cause is a boolean flag given its
		// value apart (--ipvs-strict-arp false), which pflag reads as the flag set to true
		// and a stray "false": refused, or the configuration would be the opposite.
		fmt.Fprintf(stderr, "ipvs-proxier: unexpected argument(s) %q: it takes flags only, as kube-proxy does; give a boolean flag its value with = (--ipvs-strict-arp=false)\n", fs.Args())
		return 2
	}
	if flags.Cleanup && !fs.Changed("proxy-mode") {
		// --cleanup removes what IPVS mode programmed whatever mode the file names, as
		// kube-proxy --cleanup does; the mode check is for running, not for cleaning.
		_ = fs.Set("proxy-mode", config.ModeIPVS)
	}
	// What reading the configuration logs is written once its logging settings apply.
	early := &logBuffer{}
	cfg, err := flags.Resolve(slog.New(early))
	if err != nil {
		early.replay(klog.Background())
		fmt.Fprintf(stderr, "ipvs-proxier: %v\n", err)
		return 1
	}
	logger, undoLogging := setupLogging(cfg.Logging, stderr)
	defer undoLogging()
	early.replay(logger)
	logger.V(1).Info("Configuration", "config", cfg.String())

	// The kernel comes before the API server: on a host without IPVS the answer is the
	// modules to load, whatever else is missing.
	k, err := e.openKernel()
	if err != nil {
		fmt.Fprintf(stderr, "ipvs-proxier: %v\n", err)
		return 1
	}
	defer k.Close()

	if cfg.Cleanup {
		if err := proxy.Cleanup(k, proxy.CleanupOptions{ExcludeCIDRs: cfg.IPVS.ExcludeCIDRs, Logger: logger}); err != nil {
			fmt.Fprintf(stderr, "ipvs-proxier: --cleanup: %v\n", err)
			return 1
		}
		return 0
	}

	nodeName, err := nodeName(cfg, e.hostname)
	if err != nil {
		fmt.Fprintf(stderr, "ipvs-proxier: %v\n", err)
		return 1
	}
	gate := &proxy.APIGate{}
	client, err := e.newClient(cfg.ClientConnection, gate)
	if err != nil {
		fmt.Fprintf(stderr, "ipvs-proxier: %v\n", err)
		return 1
	}
	setup := proxy.SetupOptionsFrom(cfg)
	setup.Logger = logger
	if err := proxy.Setup(k, setup); err != nil {
		fmt.Fprintf(stderr, "ipvs-proxier: %v\n", err)
		return 1
	}
	if cfg.InitOnly {
		return 0
	}
	applyOOMScoreAdj(e.self, cfg.OOMScoreAdj, logger)
	p, err := proxy.New(proxy.Options{Config: cfg, NodeName: nodeName, Client: client, Kernel: k, Families: e.families, Logger: logger, APIGate: gate})
	if err != nil {
		fmt.Fprintf(stderr, "ipvs-proxier: %v\n", err)
		return 1
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	servers := []*server{
		{name: "healthz", addr: cfg.HealthzBindAddress, handler: proxy.HealthMux(p.Health(), p.Metrics())},
		{name: "metrics", addr: cfg.MetricsBindAddress, handler: metricsMux(p.Metrics(), cfg.EnableProfiling)},
	}
	for _, s := range servers {
		if err := s.start(logger, cancel); err != nil && !cfg.BindAddressHardFail {
			logger.Error(err, "Server failed to start, retrying (bindAddressHardFail is false)", "retryIn", serverRetryInterval)
			go s.retry(ctx, logger, serverRetryInterval)
		} else if err != nil {
			fmt.Fprintf(stderr, "ipvs-proxier: %v\n", err)
			stopServers(servers)
			return 1
		}
	}
	runErr := runUntilStopped(ctx, p.Run, stopGrace, logger)
	stopServers(servers)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		fmt.Fprintf(stderr, "ipvs-proxier: %v\n", cause)
		return 1
	}
	if runErr != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "ipvs-proxier: %v\n", runErr)
		return 1
	}
	logger.Info("Stopped")
	return 0
}

// stopGrace is how long a stop waits for the proxier to return. Client-go may be blocked
// on an API server that does not answer; the process then exits without it: the dataplane
// is left as programmed, as kube-proxy leaves it.
const stopGrace = time.Second

// runUntilStopped runs fn and returns its error, or returns nil grace after ctx ended when
// fn has not returned by then.
func runUntilStopped(ctx context.Context, fn func(context.Context) error, grace time.Duration, log klog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-time.After(grace):
		log.Info("Stopping without waiting for the API client", "waited", grace)
		return nil
	}
}

// nodeName is --hostname-override or the hostname, lower-cased as kube-proxy does.
func nodeName(cfg config.Config, hostname func() (string, error)) (string, error) {
	if cfg.HostnameOverride != "" {
		return cfg.HostnameOverride, nil
	}
	h, err := hostname()
	if err != nil {
		return "", fmt.Errorf("finding the node name: %w; set --hostname-override", err)
	}
	return strings.ToLower(strings.TrimSpace(h)), nil
}

// newClient builds an API client from restConfig; its requests pass through gate.
func newClient(cc config.ClientConnection, gate *proxy.APIGate) (kubernetes.Interface, error) {
	rc, err := restConfig(cc)
	if err != nil {
		return nil, err
	}
	rc.Wrap(gate.Wrap)
	return kubernetes.NewForConfig(rc)
}

// restConfig is the clientConnection section (and --master) as client-go's configuration:
// a kubeconfig file, or without one and without --master, the in-cluster configuration.
func restConfig(cc config.ClientConnection) (*rest.Config, error) {
	var rc *rest.Config
	var err error
	if cc.Kubeconfig == "" && cc.Master == "" {
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig given and not running in a cluster (%w): pass --kubeconfig or clientConnection.kubeconfig", err)
		}
	} else {
		rc, err = clientcmd.BuildConfigFromFlags(cc.Master, cc.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("reading kubeconfig %q (--master %q): %w", cc.Kubeconfig, cc.Master, err)
		}
	}
	rc.QPS, rc.Burst = cc.QPS, int(cc.Burst)
	rc.AcceptContentTypes = cc.AcceptContentTypes
	if cc.ContentType != "" {
		rc.ContentType = cc.ContentType
	}
	rc.UserAgent = "ipvs-proxier"
	return rc, nil
}

// server is one of the HTTP servers (healthz, metrics); an empty address disables it.
type server struct {
	name    string
	addr    string
	handler http.Handler
	srv     *http.Server
}

// start listens at once (so a taken port fails the start) and serves in the background;
// if serving stops on its own, the whole program stops with the reason.
func (s *server) start(log klog.Logger, stop context.CancelCauseFunc) error {
	if s.addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%s server on %s: %w", s.name, s.addr, err)
	}
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	log.Info("Serving", "server", s.name, "address", ln.Addr().String())
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			stop(fmt.Errorf("%s server on %s: %w", s.name, s.addr, err))
		}
	}()
	return nil
}

func stopServers(servers []*server) {
	// Open health or metrics requests get half a second: a stop must take under 2 s.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for _, s := range servers {
		if s.srv != nil {
			_ = s.srv.Shutdown(ctx)
		}
	}
}
