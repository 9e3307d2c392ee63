package match

import (
	"fmt"

	"github.com/onsi/gomega/types"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// MatchState succeeds when a dataplane.State agrees with want in everything
// dataplane.Diff compares; the failure message is that diff.
func MatchState(want dataplane.State) types.GomegaMatcher {
	return &stateMatcher{want: want}
}

type stateMatcher struct{ want dataplane.State }

func (m *stateMatcher) Match(actual any) (bool, error) {
	got, ok := stateOf(actual)
	if !ok {
		return false, fmt.Errorf("MatchState: expected a dataplane.State, got %T", actual)
	}
	return dataplane.Equal(m.want, got), nil
}

func (m *stateMatcher) FailureMessage(actual any) string {
	got, _ := stateOf(actual)
	return fmt.Sprintf("Expected the dataplane%s to match the wanted state; it differs:\n%s",
		onNode(got.Node), dataplane.Diff(m.want, got))
}

func (m *stateMatcher) NegatedFailureMessage(actual any) string {
	got, _ := stateOf(actual)
	return fmt.Sprintf("Expected the dataplane%s to differ from the given state, but it matches it.\nipvsadm -Ln%s:\n%s",
		onNode(got.Node), onNode(got.Node), listing(splitLines(dataplane.FormatIPVSAdm(ipvsadmOrdered(got.IPVS), true))))
}
