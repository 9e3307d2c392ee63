// Package deps pins the modules the packages under construction import, so that go.sum
// holds them while those packages are written. It is removed once they import them.
package deps

import (
	_ "github.com/moby/ipvs"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "golang.org/x/sys/unix"
	_ "k8s.io/client-go/informers"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/kubernetes/fake"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "k8s.io/client-go/tools/remotecommand"
	_ "k8s.io/component-base/metrics"
	_ "k8s.io/klog/v2"
	_ "k8s.io/kube-proxy/config/v1alpha1"
	_ "sigs.k8s.io/e2e-framework/klient/decoder"
	_ "sigs.k8s.io/e2e-framework/klient/k8s/resources"
	_ "sigs.k8s.io/e2e-framework/klient/wait"
	_ "sigs.k8s.io/e2e-framework/klient/wait/conditions"
	_ "sigs.k8s.io/e2e-framework/pkg/env"
	_ "sigs.k8s.io/kind/pkg/cluster"
	_ "sigs.k8s.io/yaml"
)
