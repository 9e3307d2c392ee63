// Package diff holds the Services of the differential report's scenarios (`ipvs-e2e diff`,
// hack/report/differential/labrun), one file per scenario, with everything the API server
// would otherwise allocate pinned: ClusterIPs, NodePorts and health check NodePorts. Two
// runs of a scenario, one per proxy, then program the same addresses, and a diff between
// them is a difference between the proxies, not between two allocations. The backends are
// the suites' own (fixtures.Backend), created by the runner; the lab's node is 10.0.2.15.
// The runner applies each scenario in steps: these objects, then the scenario's change
// (labrun.Scenarios says which edit of these objects it is), then the namespace deleted.
//
// Apply one by hand into a namespace of your own:
//
//	kubectl create namespace diff-nodeport
//	kubectl -n diff-nodeport apply -f manifests/diff/nodeport.yaml
package diff

import "embed"

// FS holds the scenario manifests.
//
//go:embed *.yaml
var FS embed.FS

// IngressIPAnnotation on a LoadBalancer Service names the ingress IP the runner writes
// into its status, playing the cloud controller the lab does not have.
const IngressIPAnnotation = "ipvs-e2e.io/ingress-ip"
