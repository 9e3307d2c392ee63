package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// certValidity is how long the generated certificates are valid. A run dir's PKI lives as
// long as one control plane, which a detached `controlplane up` may keep for weeks.
const certValidity = 365 * 24 * time.Hour

// User is an identity in the static token file.
type User struct {
	Name   string
	UID    string
	Groups []string
	Token  string
}

// Users of the lab's control plane. Their permissions come from the bootstrap RBAC policy:
// system:masters is cluster-admin, system:node-proxier is bound to system:kube-proxy, and
// system:kube-controller-manager is bound to the user of that name.
var (
	adminUser             = User{Name: "admin", UID: "admin", Groups: []string{"system:masters"}}
	kubeProxyUser         = User{Name: "system:kube-proxy", UID: "kube-proxy"}
	controllerManagerUser = User{Name: "system:kube-controller-manager", UID: "kube-controller-manager"}
)

// PKIOptions say which names the apiserver's serving certificate holds.
type PKIOptions struct {
	// APIServerIPs are the IP SANs: the loopback it binds, the advertised address and the
	// first address of the service range (the `kubernetes` Service's ClusterIP).
	APIServerIPs []netip.Addr
	// APIServerDNSNames are the DNS SANs.
	APIServerDNSNames []string
}

// PKI is the set of files the control plane authenticates with, all under Dir.
type PKI struct {
	Dir string
	// CACert and CAKey sign every certificate below; CAData is CACert's PEM.
	CACert, CAKey string
	CAData        []byte
	// APIServerCert/Key serve the apiserver; ControllerManagerCert/Key serve the controller
	// manager's /healthz (without them it writes a self-signed pair into /var/run).
	APIServerCert, APIServerKey                 string
	ControllerManagerCert, ControllerManagerKey string
	// ServiceAccountKey (RSA, PKCS#1) signs service-account tokens; ServiceAccountPub
	// verifies them.
	ServiceAccountKey, ServiceAccountPub string
	// TokenFile is the apiserver's --token-auth-file holding the users below.
	TokenFile                           string
	Admin, KubeProxy, ControllerManager User
}

// NewPKI generates a fresh PKI into dir (created if needed).
func NewPKI(dir string, o PKIOptions) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &PKI{
		Dir:                   dir,
		CACert:                filepath.Join(dir, "ca.crt"),
		CAKey:                 filepath.Join(dir, "ca.key"),
		APIServerCert:         filepath.Join(dir, "apiserver.crt"),
		APIServerKey:          filepath.Join(dir, "apiserver.key"),
		ControllerManagerCert: filepath.Join(dir, "controller-manager.crt"),
		ControllerManagerKey:  filepath.Join(dir, "controller-manager.key"),
		ServiceAccountKey:     filepath.Join(dir, "sa.key"),
		ServiceAccountPub:     filepath.Join(dir, "sa.pub"),
		TokenFile:             filepath.Join(dir, "tokens.csv"),
		Admin:                 adminUser,
		KubeProxy:             kubeProxyUser,
		ControllerManager:     controllerManagerUser,
	}
	now := time.Now()

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "ipvs-e2e-lab-ca"},
		NotBefore:             now.Add(-time.Hour), // tolerate a guest clock a little behind
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := signCert(caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("creating the CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p.CAData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(p.CACert, p.CAData, 0o644); err != nil {
		return nil, err
	}
	if err := writeECKey(p.CAKey, caKey); err != nil {
		return nil, err
	}

	serving := []struct {
		cn            string
		ips           []netip.Addr
		dns           []string
		certFile, key string
	}{
		{"kube-apiserver", o.APIServerIPs, o.APIServerDNSNames, p.APIServerCert, p.APIServerKey},
		{"kube-controller-manager", []netip.Addr{netip.MustParseAddr("127.0.0.1")}, []string{"localhost"}, p.ControllerManagerCert, p.ControllerManagerKey},
	}
	for _, s := range serving {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: s.cn},
			NotBefore:   now.Add(-time.Hour),
			NotAfter:    now.Add(certValidity),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    s.dns,
		}
		for _, ip := range s.ips {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
		}
		der, err := signCert(tmpl, caCert, key.Public(), caKey)
		if err != nil {
			return nil, fmt.Errorf("creating the %s serving certificate: %w", s.cn, err)
		}
		if err := os.WriteFile(s.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			return nil, err
		}
		if err := writeECKey(s.key, key); err != nil {
			return nil, err
		}
	}

	// Service-account tokens are RS256-signed by default; keep the key RSA.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.ServiceAccountKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}), 0o600); err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.ServiceAccountPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return nil, err
	}

	for _, u := range []*User{&p.Admin, &p.KubeProxy, &p.ControllerManager} {
		if u.Token, err = newToken(); err != nil {
			return nil, err
		}
	}
	if err := writeTokenFile(p.TokenFile, []User{p.Admin, p.KubeProxy, p.ControllerManager}); err != nil {
		return nil, err
	}
	return p, nil
}

func signCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
}

func writeECKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// writeTokenFile writes the apiserver's static token file: token,user,uid,"group1,group2".
func writeTokenFile(path string, users []User) error {
	var b strings.Builder
	w := csv.NewWriter(&b)
	for _, u := range users {
		rec := []string{u.Token, u.Name, u.UID}
		if len(u.Groups) > 0 {
			rec = append(rec, strings.Join(u.Groups, ","))
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}
