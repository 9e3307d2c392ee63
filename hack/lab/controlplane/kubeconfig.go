package controlplane

import (
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// clusterName names the cluster in every kubeconfig the control plane writes.
const clusterName = "ipvs-e2e-lab"

// Kubeconfig describes a kubeconfig for one bearer-token user of the control plane.
type Kubeconfig struct {
	// Server is the apiserver URL as the reader reaches it: https://127.0.0.1:6443 on the
	// host, https://10.0.2.2:6443 from a lab guest.
	Server string
	// CAData is the PEM of the CA that signed the apiserver's certificate; it is embedded so
	// the file works when copied into a guest.
	CAData []byte
	User   string
	Token  string
}

// WriteKubeconfig writes k to path (mode 0600: it holds a bearer token).
func WriteKubeconfig(path string, k Kubeconfig) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{Server: k.Server, CertificateAuthorityData: k.CAData}
	cfg.AuthInfos[k.User] = &clientcmdapi.AuthInfo{Token: k.Token}
	ctx := k.User + "@" + clusterName
	cfg.Contexts[ctx] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: k.User}
	cfg.CurrentContext = ctx
	return clientcmd.WriteToFile(*cfg, path)
}
