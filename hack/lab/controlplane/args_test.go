package controlplane

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// flagMap turns ["--a=b", "-c", "d"] into {a: b, c: d}.
func flagMap(t *testing.T, args []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for i := 0; i < len(args); i++ {
		name := strings.TrimLeft(args[i], "-")
		if k, v, ok := strings.Cut(name, "="); ok {
			m[k] = v
			continue
		}
		if i+1 >= len(args) {
			t.Fatalf("flag %s has no value in %q", args[i], args)
		}
		m[name] = args[i+1]
		i++
	}
	return m
}

func TestComponentArgs(t *testing.T) {
	p := &PKI{CACert: "ca.crt", CAKey: "ca.key", APIServerCert: "as.crt", APIServerKey: "as.key",
		ControllerManagerCert: "cm.crt", ControllerManagerKey: "cm.key", ServiceAccountKey: "sa.key",
		TokenFile: "tokens.csv"}
	tests := []struct {
		name                string
		opts                Options
		etcd, apiserver, cm map[string]string
	}{
		{
			name: "defaults",
			opts: Options{},
			etcd: map[string]string{"listen-client-url": "http://127.0.0.1:2379", "listen-peer-url": "http://127.0.0.1:2380", "data-dir": "/d"},
			apiserver: map[string]string{
				"bind-address": "127.0.0.1", "secure-port": "6443", "advertise-address": "10.0.2.2",
				"etcd-servers": "http://127.0.0.1:2379", "service-cluster-ip-range": "10.96.0.0/16",
				"authorization-mode": "Node,RBAC", "token-auth-file": "tokens.csv", "allow-privileged": "true",
				"service-account-key-file": "sa.key", "service-account-signing-key-file": "sa.key",
				"client-ca-file": "ca.crt", "tls-cert-file": "as.crt",
			},
			cm: map[string]string{
				"bind-address": "127.0.0.1", "secure-port": "10257", "kubeconfig": "cm.kubeconfig",
				"controllers": "*,-node-lifecycle-controller", "allocate-node-cidrs": "true",
				"cluster-cidr": "10.244.0.0/16", "service-cluster-ip-range": "10.96.0.0/16",
				"service-account-private-key-file": "sa.key", "root-ca-file": "ca.crt",
				"use-service-account-credentials": "true", "tls-cert-file": "cm.crt", "leader-elect": "false",
			},
		},
		{
			name: "etcd's release binary",
			opts: Options{Binaries: Binaries{EtcdRelease: true}, Ports: Ports{EtcdClient: 12379, EtcdPeer: 12380, APIServer: 16443, ControllerManager: 20257}},
			etcd: map[string]string{
				"data-dir": "/d", "listen-client-urls": "http://127.0.0.1:12379", "advertise-client-urls": "http://127.0.0.1:12379",
				"listen-peer-urls": "http://127.0.0.1:12380", "initial-advertise-peer-urls": "http://127.0.0.1:12380",
				"initial-cluster": "default=http://127.0.0.1:12380", "name": "default", "unsafe-no-fsync": "true",
				"listen-client-url": "", "listen-peer-url": "",
			},
			apiserver: map[string]string{"etcd-servers": "http://127.0.0.1:12379"},
		},
		{
			name: "custom ports and ranges",
			opts: Options{
				Ports:            Ports{EtcdClient: 12379, EtcdPeer: 12380, APIServer: 16443, ControllerManager: 20257},
				AdvertiseAddress: netip.MustParseAddr("192.168.7.1"),
				ServiceCIDR:      netip.MustParsePrefix("10.100.0.0/20"),
				ClusterCIDR:      netip.MustParsePrefix("10.200.0.0/16"),
				Controllers:      []string{"endpointslice-controller", "serviceaccount-controller"},
				Verbosity:        4,
			},
			etcd: map[string]string{"listen-client-url": "http://127.0.0.1:12379", "listen-peer-url": "http://127.0.0.1:12380"},
			apiserver: map[string]string{
				"bind-address": "127.0.0.1", "secure-port": "16443", "advertise-address": "192.168.7.1",
				"etcd-servers": "http://127.0.0.1:12379", "service-cluster-ip-range": "10.100.0.0/20", "v": "4",
			},
			cm: map[string]string{
				"bind-address": "127.0.0.1", "secure-port": "20257", "controllers": "endpointslice-controller,serviceaccount-controller",
				"cluster-cidr": "10.200.0.0/16", "service-cluster-ip-range": "10.100.0.0/20", "v": "4",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Binaries = Binaries{Etcd: "/bin/true", KubeAPIServer: "/bin/true", KubeControllerManager: "/bin/true", EtcdRelease: tt.opts.Binaries.EtcdRelease}
			o, err := tt.opts.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				args []string
				want map[string]string
			}{
				{"etcd", etcdArgs(o, "/d"), tt.etcd},
				{"kube-apiserver", apiServerArgs(o, p), tt.apiserver},
				{"kube-controller-manager", controllerManagerArgs(o, p, "cm.kubeconfig"), tt.cm},
			} {
				got := flagMap(t, c.args)
				for k, v := range c.want {
					if got[k] != v {
						t.Errorf("%s --%s = %q, want %q", c.name, k, got[k], v)
					}
				}
			}
		})
	}
}

func TestOptionsNeedBinaries(t *testing.T) {
	plain := t.TempDir() + "/kube-apiserver"
	if err := os.WriteFile(plain, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		b       Binaries
		wantErr string
	}{
		{"none", Binaries{}, "binary given: build it with hack/lab/upstream"},
		{"missing file", Binaries{Etcd: "/nonexistent/etcd", KubeAPIServer: "/bin/true", KubeControllerManager: "/bin/true"}, "etcd binary: stat /nonexistent/etcd"},
		{"not executable", Binaries{Etcd: "/bin/true", KubeAPIServer: plain, KubeControllerManager: "/bin/true"}, "kube-apiserver binary " + plain + " is not an executable file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Options{Binaries: tt.b}.withDefaults()
			wanterr.Check(t, err, tt.wantErr)
		})
	}
}
