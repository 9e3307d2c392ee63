package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// The node the bench's objects name: node1 with a podCIDR of the seed's cluster.
const (
	benchNode    = "node1"
	benchPodCIDR = "10.244.3.0/24"
)

// proxierFlags parses kube-proxy's flags (and klog's) the way cmd/ipvs-proxier does, plus the
// lab's own flags registered by extra, and resolves the configuration. The configuration's
// notices ("IPVS scheduler not specified, use rr by default") go to klog, in kube-proxy's
// log format.
func proxierFlags(name string, args []string, stderr io.Writer, extra func(*pflag.FlagSet)) (config.Config, error) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var flags config.Flags
	flags.AddFlags(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return config.Config{}, usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return config.Config{}, usageError(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	cfg, err := flags.Resolve(slog.New(logr.ToSlogHandler(klog.Background())))
	if err != nil {
		return config.Config{}, err
	}
	// The lab's tools log klog's text; -v and --vmodule (logging.verbosity, .vmodule) are
	// klog's, as in cmd/ipvs-proxier.
	if cfg.Logging.Format != config.LogFormatText {
		return config.Config{}, usageError(fmt.Sprintf("logging.format %q: %s logs text only", cfg.Logging.Format, name))
	}
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	if err := klogFlags.Set("v", strconv.Itoa(cfg.Logging.Verbosity)); err != nil {
		return config.Config{}, err
	}
	if err := klogFlags.Set("vmodule", cfg.Logging.VModule); err != nil {
		return config.Config{}, err
	}
	return cfg, nil
}

// primaryAddress is the node's InternalIP: its first global IPv4 address outside kube-ipvs0
// and the pods' veths (in the lab, eth0's 10.0.2.15).
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

// nodeObject is the bench's Node: what kubeadm and the kubelet register.
func nodeObject(name string, ip netip.Addr, podCIDR netip.Prefix) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
		Spec:       corev1.NodeSpec{PodCIDR: podCIDR.String(), PodCIDRs: []string{podCIDR.String()}},
		Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}, {Type: corev1.NodeHostName, Address: name}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}
