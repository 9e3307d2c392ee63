// Package proxy is the stateful half of the reference IPVS proxier: it watches Services,
// EndpointSlices and its Node, computes the desired dataplane (package proxy/desired) and
// makes the kernel hold it with the fewest changes, keeping health and metrics.
package proxy
