package e2e

import (
	"slices"
	"testing"

	"github.com/onsi/ginkgo/v2/types"
)

// TestLabelFilters checks which services features each filter used by make and CI selects.
func TestLabelFilters(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{"", featureNames()},
		{LabelServices, featureNames()},
		{LabelSeedLab, nil},
		{FilterQuick, []string{"affinity", "externalips", "gate", "graceful", "loadbalancer", "scheduler", "strictarp", "traffic-policy", "udp"}},
		{FilterShared, []string{"affinity", "externalips", "graceful", "loadbalancer", "scale", "traffic-policy", "udp"}},
		{FilterQuick + " && " + FilterShared, []string{"affinity", "externalips", "graceful", "loadbalancer", "traffic-policy", "udp"}},
		{"services && (scheduler || strictarp)", []string{"scheduler", "strictarp"}},
		{LabelDisruptive, []string{"gate", "scheduler", "strictarp"}},
	} {
		match, err := types.ParseLabelFilter(tc.filter)
		if err != nil {
			t.Fatalf("filter %q: %v", tc.filter, err)
		}
		var got []string
		for _, name := range featureNames() {
			if match(Labels(name)) {
				got = append(got, name)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("filter %q selects %v, want %v", tc.filter, got, tc.want)
		}
	}
}

func TestSeedLabSpecsAreNotInServiceFilters(t *testing.T) {
	seed := []string{LabelSeedLab}
	for _, f := range []string{LabelServices, "services && !slow"} {
		match, _ := types.ParseLabelFilter(f)
		if match(seed) {
			t.Errorf("filter %q selects seedlab specs", f)
		}
	}
	match, _ := types.ParseLabelFilter(FilterQuick + " && " + FilterShared)
	if !match(seed) {
		t.Error("the quick, shared filter must keep the seedlab specs")
	}
}

func TestLabelsRejectsUnknownFeatures(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Labels accepted an unknown feature")
		}
	}()
	Labels("externalip")
}
