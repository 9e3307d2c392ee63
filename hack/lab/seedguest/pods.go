package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
)

// podsRuntime runs each Pod as a hack/lab/pods pod: a network namespace joined to the
// node by a veth pair, routed as point-to-point CNI plugins route pods. Each container port
// (port 80 when the Pod declares none, as nginx listens there) gets an HTTP server in the
// namespace that names the Pod and the client address it saw, so traffic through IPVS shows
// where it landed and whether it was masqueraded.
type podsRuntime struct {
	node string
	log  *slog.Logger
}

// Start creates the Pod's namespace and servers.
func (r *podsRuntime) Start(pod *corev1.Pod, ip netip.Addr) error {
	p, err := pods.Create(pods.Spec{Name: pod.Name, IPs: []netip.Addr{ip}})
	if err != nil {
		return err
	}
	ports := podPorts(pod)
	for _, port := range ports {
		l, err := p.Listen("tcp", ":"+strconv.Itoa(int(port)))
		if err != nil {
			return fmt.Errorf("%v (deleting the pod: %v)", err, p.Delete())
		}
		srv := &http.Server{Handler: podHandler(pod, r.node, ip, port), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
	}
	r.log.Info("pod started", "pod", pod.Namespace+"/"+pod.Name, "ip", ip, "hostLink", p.HostVeth(), "ports", ports)
	return nil
}

// podPorts are the TCP ports the Pod's containers declare, or 80.
func podPorts(pod *corev1.Pod) []int32 {
	var ports []int32
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if defaultProtocol(p.Protocol) == corev1.ProtocolTCP {
				ports = append(ports, p.ContainerPort)
			}
		}
	}
	if len(ports) == 0 {
		ports = []int32{80}
	}
	return ports
}

// podHandler answers every request with one line naming the Pod and the client.
func podHandler(pod *corev1.Pod, node string, ip netip.Addr, port int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "pod %s (%s) on %s answered %s %s; the request came from %s\n",
			pod.Name, net.JoinHostPort(ip.String(), strconv.Itoa(int(port))), node, req.Method, req.URL.Path, req.RemoteAddr)
	})
}
