package controlplane

import (
	"bytes"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

func newTestPKI(t *testing.T) *PKI {
	t.Helper()
	o, err := Options{Binaries: Binaries{Etcd: "/bin/true", KubeAPIServer: "/bin/true", KubeControllerManager: "/bin/true"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPKI(filepath.Join(t.TempDir(), "pki"), pkiOptions(o))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPKIServingCertificates(t *testing.T) {
	p := newTestPKI(t)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.CAData) {
		t.Fatal("CAData holds no certificate")
	}
	tests := []struct {
		cert string
		name string // a DNS name or an IP the certificate must be valid for
	}{
		{p.APIServerCert, "127.0.0.1"},
		{p.APIServerCert, "10.0.2.2"},
		{p.APIServerCert, "10.96.0.1"},
		{p.APIServerCert, "localhost"},
		{p.APIServerCert, "kubernetes"},
		{p.APIServerCert, "kubernetes.default"},
		{p.APIServerCert, "kubernetes.default.svc"},
		{p.APIServerCert, "kubernetes.default.svc.cluster.local"},
		{p.ControllerManagerCert, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.cert[strings.LastIndex(tt.cert, "/")+1:]+"/"+tt.name, func(t *testing.T) {
			cert := readCert(t, tt.cert)
			_, err := cert.Verify(x509.VerifyOptions{DNSName: tt.name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				t.Errorf("%s not valid for %s: %v", tt.cert, tt.name, err)
			}
		})
	}
	if _, err := readCert(t, p.APIServerCert).Verify(x509.VerifyOptions{DNSName: "10.0.2.15", Roots: roots}); err == nil {
		t.Error("apiserver certificate is valid for 10.0.2.15, an address it was not issued for")
	}
}

// A client that trusts only CAData must complete a TLS handshake with the apiserver's pair,
// under the name a guest's kube-proxy uses.
func TestPKIHandshake(t *testing.T) {
	p := newTestPKI(t)
	pair, err := tls.LoadX509KeyPair(p.APIServerCert, p.APIServerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.CAData)
	for _, serverName := range []string{"10.0.2.2", "kubernetes.default.svc"} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: serverName}}}
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("handshake as %s: %v", serverName, err)
		}
		resp.Body.Close()
	}

	// A kubeconfig written from the PKI loads with clientcmd, points at the server and
	// trusts its certificate.
	path := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := WriteKubeconfig(path, Kubeconfig{Server: srv.URL, CAData: p.CAData, User: p.Admin.Name, Token: p.Admin.Token}); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != srv.URL || cfg.BearerToken != p.Admin.Token {
		t.Errorf("kubeconfig loads as host %q token %q; expected %q %q", cfg.Host, cfg.BearerToken, srv.URL, p.Admin.Token)
	}
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(cfg.Host)
	if err != nil {
		t.Fatalf("GET %s with the kubeconfig's client: %v", cfg.Host, err)
	}
	resp.Body.Close()
}

// ServingPair signs further serving certificates (the lab node agent's) with the same CA:
// the chain verifies against CAData, and on its own, as the agent trusts its own file.
func TestPKIServingPair(t *testing.T) {
	p := newTestPKI(t)
	ips := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.2.15")}
	certPEM, keyPEM, err := p.ServingPair("ipvs-nodeagent", ips, []string{"ipvs-nodeagent"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("the pair does not load as a TLS key pair: %v", err)
	}
	chain, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 || !bytes.Equal(chain[1].Raw, readCert(t, p.CACert).Raw) {
		t.Fatalf("certificate file holds %d certificates; expected the serving one, then the CA's", len(chain))
	}
	for _, roots := range [][]byte{p.CAData, certPEM} {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(roots)
		for _, name := range []string{"ipvs-nodeagent", "127.0.0.1", "10.0.2.15"} {
			if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("agent certificate not valid for %s: %v", name, err)
			}
		}
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: "10.0.2.2", Roots: x509.NewCertPool()}); err == nil {
		t.Error("agent certificate valid for 10.0.2.2, an address it was not issued for")
	}
}

func TestPKIKeysAndTokens(t *testing.T) {
	p := newTestPKI(t)
	if fi, err := os.Stat(p.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("PKI folder %s: %v, %v; expected mode 0700", p.Dir, fi.Mode().Perm(), err)
	}
	for _, f := range []string{p.CAKey, p.APIServerKey, p.ControllerManagerKey, p.ServiceAccountKey, p.TokenFile} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600: it is a secret", f, fi.Mode().Perm())
		}
	}
	// The service-account key: RSA, and its public half, read from the same file as the
	// apiserver reads it (--service-account-key-file).
	key, err := keyutil.PrivateKeyFromFile(p.ServiceAccountKey)
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := keyutil.PublicKeysFromFile(p.ServiceAccountKey)
	if err != nil {
		t.Fatal(err)
	}
	if rk, ok := key.(*rsa.PrivateKey); !ok || len(pubs) != 1 || !rk.PublicKey.Equal(pubs[0]) {
		t.Errorf("sa.key holds %T with public keys %v; expected one RSA key", key, pubs)
	}

	f, err := os.Open(p.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{p.Admin.Token, "admin", "admin", "system:masters"},
		{p.KubeProxy.Token, "system:kube-proxy", "kube-proxy"},
		{p.ControllerManager.Token, "system:kube-controller-manager", "kube-controller-manager"},
	}
	if len(recs) != len(want) {
		t.Fatalf("token file has %d records, want %d: %q", len(recs), len(want), recs)
	}
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for i := range want {
		if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("token record %d = %q, want %q", i, recs[i], want[i])
		}
		if !hex32.MatchString(recs[i][0]) || seen[recs[i][0]] {
			t.Errorf("token %q is not a fresh 128-bit hex token", recs[i][0])
		}
		seen[recs[i][0]] = true
	}
}

func TestWriteTokenFileQuotesGroups(t *testing.T) {
	path := t.TempDir() + "/tokens.csv"
	err := writeTokenFile(path, []User{{Name: "u", UID: "1", Groups: []string{"g1", "g2"}, Token: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if got, want := string(data), "t,u,1,\"g1,g2\"\n"; got != want {
		t.Errorf("token file = %q, want %q", got, want)
	}
}

func TestFirstServiceIP(t *testing.T) {
	for in, want := range map[string]string{"10.96.0.0/16": "10.96.0.1", "10.96.5.7/12": "10.96.0.1", "fd00:10:96::/112": "fd00:10:96::1"} {
		if got := firstServiceIP(netip.MustParsePrefix(in)); got.String() != want {
			t.Errorf("firstServiceIP(%s) = %s, want %s", in, got, want)
		}
	}
}

func readPEM(t *testing.T, path, typ string) *pem.Block {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != typ {
		t.Fatalf("%s: want one PEM block of type %s", path, typ)
	}
	return b
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(readPEM(t, path, "CERTIFICATE").Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
