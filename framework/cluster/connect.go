package cluster

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Connect is a client of the provider's cluster, from the kubeconfig it hands out; tune,
// when given, adjusts the REST config before the client is built (QPS for a load test).
func Connect(ctx context.Context, p Provider, tune ...func(*rest.Config)) (*rest.Config, *kubernetes.Clientset, error) {
	kubeconfig, err := p.Kubeconfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig from provider %s: %w", p.Name(), err)
	}
	for _, f := range tune {
		f(rc)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("client of provider %s's cluster: %w", p.Name(), err)
	}
	return rc, cs, nil
}
