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
