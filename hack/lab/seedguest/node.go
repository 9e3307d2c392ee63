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
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// DefaultSocket is where `seedguest node` serves the store to `seedguest kubectl`.
const DefaultSocket = "/run/seedlab.sock"

// proxierFlags parses kube-proxy's flags (and klog's) the way cmd/ipvs-proxier does, plus the
// lab's own flags registered by extra, and resolves the configuration. The configuration's
// notices ("IPVS scheduler not specified, use rr by default") go to klog, in kube-proxy's
// log format.
func proxierFlags(name string, args []string, stderr io.Writer, extra func(*pflag.FlagSet)) (config.Config, error) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var flags config.Flags
	flags.AddFlags(fs)
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	fs.AddGoFlagSet(klogFlags)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return config.Config{}, usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return config.Config{}, usageError(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	return flags.Resolve(slog.New(logr.ToSlogHandler(klog.Background())))
}

// nodeCmd runs the node until it is stopped (SIGTERM): store, kubelet, controller, proxier.
func nodeCmd(ctx context.Context, args []string, stderr io.Writer) error {
	var socket, labLog string
	cfg, err := proxierFlags("seedguest node", args, stderr, func(fs *pflag.FlagSet) {
		fs.StringVar(&socket, "lab-socket", DefaultSocket, "unix socket serving the object store to `seedguest kubectl`")
		fs.StringVar(&labLog, "lab-log", "/var/log/seedlab.log", "file for the store's and the pod runtime's own messages (the proxier logs to stderr)")
	})
	if err != nil {
		return err
	}
	defer klog.Flush()
	lf, err := os.OpenFile(labLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	labLogger := slog.New(slog.NewTextHandler(lf, nil))

	k, err := kernel.Linux()
	if err != nil {
		return err
	}
	defer k.Close()
	nodeName := cfg.HostnameOverride
	if nodeName == "" {
		if nodeName, err = os.Hostname(); err != nil {
			return err
		}
	}
	nodeIP, err := primaryAddress(k)
	if err != nil {
		return err
	}
	podCIDR := netip.MustParsePrefix(SeedPodCIDR)
	client := fake.NewClientset(NodeObject(nodeName, nodeIP, podCIDR))
	store, err := NewStore(client, nodeName, nodeIP, podCIDR, netip.MustParsePrefix(SeedServiceCIDR), &podsRuntime{node: nodeName, log: labLogger})
	if err != nil {
		return err
	}
	labLogger.Info("node registered", "node", nodeName, "internalIP", nodeIP, "podCIDR", podCIDR)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	_ = os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return fmt.Errorf("serving the object store: %w", err)
	}
	servers := []*http.Server{{Handler: controlMux(store, labLogger), ReadHeaderTimeout: 10 * time.Second}}
	go serve(servers[0], ln, cancel)

	logger := klog.Background()
	setup := proxy.SetupOptionsFrom(cfg)
	setup.Logger = logger
	if err := proxy.Setup(k, setup); err != nil {
		return err
	}
	p, err := proxy.New(proxy.Options{Config: cfg, NodeName: nodeName, Client: client, Kernel: k, Logger: logger})
	if err != nil {
		return err
	}
	for _, s := range []struct {
		addr string
		h    http.Handler
	}{{cfg.HealthzBindAddress, proxy.HealthMux(p.Health(), p.Metrics())}, {cfg.MetricsBindAddress, proxy.MetricsMux(p.Metrics())}} {
		if s.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", s.addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go serve(srv, l, cancel)
	}
	runErr := p.Run(ctx)
	for _, s := range servers {
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(sctx)
		c()
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if runErr != nil && ctx.Err() == nil {
		return runErr
	}
	logger.Info("Stopped")
	return nil
}

func serve(s *http.Server, l net.Listener, cancel context.CancelCauseFunc) {
	if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		cancel(fmt.Errorf("server on %s stopped: %w", l.Addr(), err))
	}
}

// primaryAddress is the node's InternalIP: its first global IPv4 address outside kube-ipvs0
// and the pods' veths (in the lab, eth0's 10.0.2.15). Pods reached from the node take their
// source address from it, as hack/lab/pods requires.
func primaryAddress(k *kernel.Kernel) (netip.Addr, error) {
	links, err := k.Links.Links()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, l := range links {
		if l.Name == dataplane.KubeIPVSInterface || strings.HasPrefix(l.Name, "veth") {
			continue
		}
		for _, p := range l.Addrs {
			if a := p.Addr(); a.Is4() && a.IsGlobalUnicast() {
				return a, nil
			}
		}
	}
	return netip.Addr{}, errors.New("the node has no global IPv4 address: give the lab guest a network (lab.Job.Network)")
}
