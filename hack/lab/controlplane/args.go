package controlplane

import (
	"fmt"
	"net/netip"
	"strings"
)

// Names of the apiserver's serving certificate besides its addresses.
var apiServerDNSNames = []string{
	"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
}

// serviceAccountIssuer is the iss claim of service-account tokens (kubeadm's value).
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// firstServiceIP is the ClusterIP the apiserver gives the `kubernetes` Service.
func firstServiceIP(cidr netip.Prefix) netip.Addr { return cidr.Masked().Addr().Next() }

func hostPort(port int) string { return fmt.Sprintf("%s:%d", Loopback, port) }

func etcdClientURL(o Options) string { return "http://" + hostPort(o.Ports.EtcdClient) }

// APIServerURL is where processes on the host reach the apiserver.
func apiServerURL(o Options) string { return "https://" + hostPort(o.Ports.APIServer) }

// guestAPIServerURL is where a lab guest reaches it.
func guestAPIServerURL(o Options) string {
	return fmt.Sprintf("https://%s:%d", o.AdvertiseAddress, o.Ports.APIServer)
}

func pkiOptions(o Options) PKIOptions {
	return PKIOptions{
		APIServerIPs:      []netip.Addr{Loopback, o.AdvertiseAddress, firstServiceIP(o.ServiceCIDR)},
		APIServerDNSNames: apiServerDNSNames,
	}
}

func etcdArgs(o Options, dataDir string) []string {
	if o.Binaries.EtcdRelease {
		// What the lab's etcd program sets through the embed package (etcdmain.go.txt).
		client, peer := etcdClientURL(o), "http://"+hostPort(o.Ports.EtcdPeer)
		return []string{
			"--data-dir=" + dataDir,
			"--name=default",
			"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=default=" + peer,
			"--log-level=warn",
			// The data dir is thrown away with the cluster.
			"--unsafe-no-fsync=true",
		}
	}
	return []string{
		"-data-dir", dataDir,
		"-listen-client-url", etcdClientURL(o),
		"-listen-peer-url", "http://" + hostPort(o.Ports.EtcdPeer),
	}
}

func apiServerArgs(o Options, p *PKI) []string {
	return []string{
		"--etcd-servers=" + etcdClientURL(o),
		"--bind-address=" + Loopback.String(),
		fmt.Sprintf("--secure-port=%d", o.Ports.APIServer),
		"--advertise-address=" + o.AdvertiseAddress.String(),
		"--tls-cert-file=" + p.APIServerCert,
		"--tls-private-key-file=" + p.APIServerKey,
		"--client-ca-file=" + p.CACert,
		"--token-auth-file=" + p.TokenFile,
		"--authorization-mode=Node,RBAC",
		"--service-account-key-file=" + p.ServiceAccountKey,
		"--service-account-signing-key-file=" + p.ServiceAccountKey,
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-cluster-ip-range=" + o.ServiceCIDR.String(),
		"--service-node-port-range=30000-32767",
		"--allow-privileged=true",
		"--profiling=false",
		fmt.Sprintf("--v=%d", o.Verbosity),
	}
}

func controllerManagerArgs(o Options, p *PKI, kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		// Delegated authentication and authorization of its own /healthz and /metrics. The
		// apiserver has no front-proxy CA, so skip looking one up (it only logs errors).
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--authentication-skip-lookup=true",
		"--bind-address=" + Loopback.String(),
		fmt.Sprintf("--secure-port=%d", o.Ports.ControllerManager),
		"--tls-cert-file=" + p.ControllerManagerCert,
		"--tls-private-key-file=" + p.ControllerManagerKey,
		"--controllers=" + strings.Join(o.Controllers, ","),
		// One instance: skip the lease dance.
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.ServiceAccountKey,
		"--root-ca-file=" + p.CACert,
		"--cluster-signing-cert-file=" + p.CACert,
		"--cluster-signing-key-file=" + p.CAKey,
		// Nodes get podCIDRs from the cluster range, as kube-proxy's --cluster-cidr expects.
		"--allocate-node-cidrs=true",
		"--cluster-cidr=" + o.ClusterCIDR.String(),
		"--service-cluster-ip-range=" + o.ServiceCIDR.String(),
		"--profiling=false",
		fmt.Sprintf("--v=%d", o.Verbosity),
	}
}
