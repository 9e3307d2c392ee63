// Package manifests holds the YAML a person reads and applies by hand: the seed's Service,
// the kind cluster configs and kube-proxy's ipvs configuration. The framework embeds the
// same files, so the suites apply exactly what is documented here.
package manifests

import "embed"

// FS holds every manifest in this directory.
//
//go:embed *.yaml *.yml
var FS embed.FS

// File names, for the code that loads them.
const (
	ServiceIPVS   = "service-ipvs.yml"
	KindIPVS      = "kind-ipvs.yaml"
	KindIPTables  = "kind-iptables.yaml"
	KubeProxyIPVS = "kube-proxy-ipvs.yaml"
)
