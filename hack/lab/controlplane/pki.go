package controlplane

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// certValidity is how long the generated serving certificates are valid. A run dir's PKI
// lives as long as one control plane, which a detached `controlplane up` may keep for weeks.
const certValidity = 365 * 24 * time.Hour

// clockSkew backdates every certificate: a lab guest's clock may run a little behind.
const clockSkew = time.Hour

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
	// CACert and CAKey sign every certificate below (and the controller manager's CSRs);
	// CAData is CACert's PEM.
	CACert, CAKey string
	CAData        []byte
	// APIServerCert/Key serve the apiserver; ControllerManagerCert/Key serve the controller
	// manager's /healthz (without them it writes a self-signed pair into /var/run). Each
	// certificate file holds the chain: the serving certificate, then the CA's.
	APIServerCert, APIServerKey                 string
	ControllerManagerCert, ControllerManagerKey string
	// ServiceAccountKey (RSA: tokens are RS256-signed by default) signs service-account
	// tokens; the apiserver verifies them with its public half, read from the same file.
	ServiceAccountKey string
	// TokenFile is the apiserver's --token-auth-file holding the users below.
	TokenFile                           string
	Admin, KubeProxy, ControllerManager User
}

// NewPKI generates a fresh PKI into dir (created if needed, mode 0700; keys and the token
// file are 0600).
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
		TokenFile:             filepath.Join(dir, "tokens.csv"),
		Admin:                 adminUser,
		KubeProxy:             kubeProxyUser,
		ControllerManager:     controllerManagerUser,
	}

	caKeyPEM, caKey, err := newECKey()
	if err != nil {
		return nil, err
	}
	ca, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: "ipvs-e2e-lab-ca", NotBefore: time.Now().Add(-clockSkew)}, caKey)
	if err != nil {
		return nil, fmt.Errorf("creating the CA: %w", err)
	}
	if p.CAData, err = certutil.EncodeCertificates(ca); err != nil {
		return nil, err
	}
	if err := keyutil.WriteKey(p.CAKey, caKeyPEM); err != nil {
		return nil, err
	}
	if err := certutil.WriteCert(p.CACert, p.CAData); err != nil {
		return nil, err
	}

	serving := []struct {
		cn            string
		ips           []netip.Addr
		dns           []string
		certFile, key string
	}{
		{"kube-apiserver", o.APIServerIPs, o.APIServerDNSNames, p.APIServerCert, p.APIServerKey},
		{"kube-controller-manager", []netip.Addr{Loopback}, []string{"localhost"}, p.ControllerManagerCert, p.ControllerManagerKey},
	}
	for _, s := range serving {
		certPEM, keyPEM, err := p.ServingPair(s.cn, s.ips, s.dns)
		if err != nil {
			return nil, err
		}
		if err := keyutil.WriteKey(s.key, keyPEM); err != nil {
			return nil, err
		}
		if err := certutil.WriteCert(s.certFile, certPEM); err != nil {
			return nil, err
		}
	}

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPEM, err := keyutil.MarshalPrivateKeyToPEM(saKey)
	if err != nil {
		return nil, err
	}
	if err := keyutil.WriteKey(p.ServiceAccountKey, saPEM); err != nil {
		return nil, err
	}

	for _, u := range []*User{&p.Admin, &p.KubeProxy, &p.ControllerManager} {
		if u.Token, err = NewToken(); err != nil {
			return nil, err
		}
	}
	if err := writeTokenFile(p.TokenFile, []User{p.Admin, p.KubeProxy, p.ControllerManager}); err != nil {
		return nil, err
	}
	return p, nil
}

// ServingPair has the PKI's CA sign a new serving certificate for cn, valid for ips and
// dnsNames, and returns the chain (that certificate, then the CA's) and its key, as PEM.
// client-go's util/cert makes CAs and self-signed pairs only; this is the few lines
// kubeadm's pkiutil.NewSignedCert adds for a CA-signed one.
func (p *PKI) ServingPair(cn string, ips []netip.Addr, dnsNames []string) (certPEM, keyPEM []byte, err error) {
	cas, err := certutil.CertsFromFile(p.CACert)
	if err != nil {
		return nil, nil, err
	}
	caKey, err := keyutil.PrivateKeyFromFile(p.CAKey)
	if err != nil {
		return nil, nil, err
	}
	caSigner, ok := caKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("CA key %s: expected a signing key, found %T", p.CAKey, caKey)
	}
	keyPEM, key, err := newECKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dnsNames,
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, cas[0], key.Public(), caSigner)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the %s serving certificate: %w", cn, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if certPEM, err = certutil.EncodeCertificates(leaf, cas[0]); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// newECKey generates a P-256 key and returns its PEM and the key.
func newECKey() ([]byte, crypto.Signer, error) {
	keyPEM, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		return nil, nil, err
	}
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, err
	}
	return keyPEM, key.(crypto.Signer), nil
}

// NewToken returns a fresh random bearer token: 128 bits, hex.
func NewToken() (string, error) {
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
