package main

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestServedPorts(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    corev1.Container
		want []uint16
	}{
		{"no ports: web default", corev1.Container{}, []uint16{80}},
		{"declared tcp, udp skipped", corev1.Container{Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}, []uint16{8080}},
		{"netexec args", corev1.Container{Args: []string{"netexec", "--http-port=9376"}}, []uint16{9376}},
	} {
		got := servedPorts(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{tc.c}}})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: servedPorts = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"NODE_NAME": "lab-node"}
	for in, want := range map[string]string{
		"--hostname-override=$(NODE_NAME)": "--hostname-override=lab-node",
		"$(UNKNOWN)":                       "$(UNKNOWN)",
		"plain":                            "plain",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIPAllocator(t *testing.T) {
	a := newIPAllocator(netip.MustParsePrefix("10.244.0.0/30"))
	ip, err := a.allocate()
	if err != nil || ip != netip.MustParseAddr("10.244.0.2") {
		t.Fatalf("first = %v, %v; want 10.244.0.2 (.1 is kept for a gateway)", ip, err)
	}
	if _, err := a.allocate(); err == nil {
		t.Fatalf("a /30 with .1 kept and .3 broadcast has one pod address; second allocate succeeded")
	}
	a.release(ip)
	if again, err := a.allocate(); err != nil || again != ip {
		t.Errorf("after release = %v, %v; want %v", again, err, ip)
	}
}

func TestHostProcess(t *testing.T) {
	for _, tc := range []struct {
		name        string
		hostNetwork bool
		image       string
		command     []string
		want        string
	}{
		{"kubeadm's kube-proxy", true, "registry.k8s.io/kube-proxy:v1.37.2", []string{"/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf"}, progKubeProxy},
		{"the reference proxier's image", true, "ipvs-e2e-proxier:dev", []string{"/ipvs-proxier", "--config=/var/lib/kube-proxy/config.conf"}, progProxier},
		{"the reference proxier's image from a registry", true, "registry.example:5000/team/ipvs-e2e-proxier:v1@sha256:00", []string{"/ipvs-proxier"}, progProxier},
		// The image decides: a runtime runs what the image holds, whatever the command says.
		{"reference image, kube-proxy command", true, "ipvs-e2e-proxier:dev", []string{"/usr/local/bin/kube-proxy"}, progProxier},
		{"kube-proxy image, the reference's command", true, "registry.k8s.io/kube-proxy:v1.37.2", []string{"/ipvs-proxier"}, progKubeProxy},
		{"old per-arch kube-proxy image", true, "k8s.gcr.io/kube-proxy-amd64:v1.10.3", []string{"/usr/local/bin/kube-proxy"}, progKubeProxy},
		{"unknown image, kube-proxy command", true, "example/kp:1", []string{"/usr/local/bin/kube-proxy", "--cleanup"}, progKubeProxy},
		{"unknown image, ipvs-proxier command", true, "example/p:1", []string{"/bin/ipvs-proxier"}, progProxier},
		{"the inspector by its command", true, "ipvs-e2e-inspector:lab", []string{"/ipvsdump", "serve"}, progIPVSDump},
		{"a host-network pod of something else", true, "nginx:1", []string{"nginx"}, ""},
		{"a host-network pod without a command", true, "nginx:1", nil, ""},
		{"kube-proxy's image off the host network", false, "registry.k8s.io/kube-proxy:v1.37.2", []string{"/usr/local/bin/kube-proxy"}, ""},
		{"kube-proxy-like repository", true, "example/kube-proxyish:1", []string{"/bin/x"}, ""},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: tc.hostNetwork,
			Containers: []corev1.Container{{Name: "c", Image: tc.image, Command: tc.command}}}}
		if got := hostProcess(pod); got != tc.want {
			t.Errorf("%s: hostProcess = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBinaryPerProgram(t *testing.T) {
	cfg := agentConfig{kubeProxy: "/kp", proxier: "/px", ipvsdump: "/dump"}
	for prog, want := range map[string]string{progKubeProxy: "/kp", progProxier: "/px", progIPVSDump: "/dump", "": ""} {
		if got := cfg.binary(prog); got != want {
			t.Errorf("binary(%q) = %q, want %q", prog, got, want)
		}
	}
}
