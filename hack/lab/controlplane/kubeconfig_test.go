package controlplane

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestWriteKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kube-proxy.kubeconfig")
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	k := Kubeconfig{Server: "https://10.0.2.2:6443", CAData: ca, User: "system:kube-proxy", Token: "abc"}
	if err := WriteKubeconfig(path, k); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v, want 0600 (it holds a token)", fi.Mode().Perm())
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != k.Server || cfg.BearerToken != k.Token || !bytes.Equal(cfg.CAData, ca) {
		t.Errorf("loaded host %q token %q CA %q; want %q %q %q", cfg.Host, cfg.BearerToken, cfg.CAData, k.Server, k.Token, ca)
	}
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if raw.CurrentContext != "system:kube-proxy@ipvs-e2e-lab" {
		t.Errorf("current context %q, want system:kube-proxy@ipvs-e2e-lab", raw.CurrentContext)
	}
}
