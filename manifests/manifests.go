// Package manifests holds the YAML a person reads and applies by hand: the seed's Service,
// the kind cluster configs, kube-proxy's ipvs configuration and the node inspector's
// DaemonSet. The framework embeds the same files, so the suites apply exactly what is
// documented here.
package manifests

import "embed"

// FS holds every manifest in this directory.
//
//go:embed *.yaml *.yml inspector/*.yaml reference-proxier/*.yaml reference-proxier/swap/*.yaml
var FS embed.FS

// File names, for the code that loads them.
const (
	ServiceIPVS   = "service-ipvs.yml"
	KindIPVS      = "kind-ipvs.yaml"
	KindIPTables  = "kind-iptables.yaml"
	KubeProxyIPVS = "kube-proxy-ipvs.yaml"
	// InspectorDaemonSetFile is the node inspector's DaemonSet template; InspectorDaemonSet
	// loads it.
	InspectorDaemonSetFile = "inspector/daemonset.yaml"
)
