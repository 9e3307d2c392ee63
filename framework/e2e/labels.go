package e2e

import (
	"fmt"
	"slices"

	"github.com/onsi/ginkgo/v2"
)

// Suite labels.
const (
	LabelSeedLab  = "seedlab"
	LabelServices = "services"
	// LabelSwap is suites/swap: kube-proxy swapped for the reference proxier and back.
	LabelSwap = "swap"
)

// Trait labels: what a spec costs or touches, so runs can leave it out.
const (
	// LabelDisruptive marks specs that edit the kube-proxy ConfigMap and restart kube-proxy on
	// every node (scheduler change, strictARP, the 1.37 feature gate).
	LabelDisruptive = "disruptive"
	// LabelSlow marks specs that take minutes (200 Services).
	LabelSlow = "slow"
)

// feature is one behaviour of the services suite and its traits.
type feature struct {
	disruptive, slow bool
}

// features lists every feature label of the services suite; Labels refuses others, so a
// typo in a suite fails at once instead of silently dropping out of a filter.
var features = map[string]feature{
	"externalips":    {},
	"loadbalancer":   {},
	"affinity":       {},
	"traffic-policy": {},
	"udp":            {},
	"scale":          {slow: true},
	"graceful":       {},
	"scheduler":      {disruptive: true},
	"strictarp":      {disruptive: true},
	"gate":           {disruptive: true},
}

// Labels are the Ginkgo labels of a services-suite feature: the suite, the feature and
// its traits.
func Labels(name string) ginkgo.Labels {
	f, ok := features[name]
	if !ok {
		panic(fmt.Sprintf("unknown services feature label %q", name))
	}
	l := ginkgo.Label(LabelServices, name)
	if f.disruptive {
		l = append(l, LabelDisruptive)
	}
	if f.slow {
		l = append(l, LabelSlow)
	}
	return l
}

// featureNames lists the services features, sorted.
func featureNames() []string {
	out := make([]string, 0, len(features))
	for n := range features {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Label filters the make targets and CI use (ginkgo --label-filter syntax).
const (
	// FilterQuick leaves out the slow specs (pull requests).
	FilterQuick = "!" + LabelSlow
	// FilterShared leaves out what restarts kube-proxy, for a cluster others use.
	FilterShared = "!" + LabelDisruptive
)
