package differential

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Capture is one node's dataplane after one scenario under one proxy, as read, with the
// names of its allocated addresses.
type Capture struct {
	Scenario string `json:"scenario"`
	// Proxy is the upstream release ("v1.37.2") or "reference".
	Proxy string `json:"proxy"`
	// State is the node's whole dataplane as read (Restrict applies when comparing).
	State dataplane.State `json:"state"`
	Names Names           `json:"names,omitempty"`
	// APIServer is the endpoint of the kubernetes Service ("10.0.2.2:46859"): the lab's
	// apiserver listens on a free port picked per run, so it is named, not compared.
	APIServer netip.AddrPort `json:"apiServer,omitzero"`
	// Settled tells whether the proxy finished a sync after the scenario was applied and
	// the state then held still; a capture that did not settle is compared, with a note.
	Settled bool `json:"settled"`
	// Took is how long the proxy took from the applied scenario to the settled state.
	Took time.Duration `json:"took"`
	// Error says why the scenario could not be applied or read; the state is then not
	// compared.
	Error string   `json:"error,omitempty"`
	Notes []string `json:"notes,omitempty"`
}

// CaptureFile is where a capture is kept under a run's directory: <proxy>/<scenario>.json.
func CaptureFile(dir, proxy, scenario string) string {
	return filepath.Join(dir, proxy, scenario+".json")
}

// WriteCapture writes c to its CaptureFile under dir.
func WriteCapture(dir string, c Capture) error {
	path := CaptureFile(dir, c.Proxy, c.Scenario)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// ReadCapture reads a capture written by WriteCapture.
func ReadCapture(path string) (Capture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Capture{}, err
	}
	var c Capture
	if err := json.Unmarshal(data, &c); err != nil {
		return Capture{}, fmt.Errorf("capture %s: expected the JSON `ipvs-e2e diff run` writes: %w", path, err)
	}
	return c, nil
}

// StateText prints a captured state the way a person reads it on the node: ipvsadm -Ln,
// ip addr, ipset save and iptables-save, each under a "# command" line.
func StateText(st dataplane.State) string {
	v := st.IPVS
	v.Services = slices.Clone(v.Services)
	for i := range v.Services {
		v.Services[i].RealServers = slices.Clone(v.Services[i].RealServers)
	}
	v.Sort()
	var b strings.Builder
	b.WriteString("# ipvsadm -Ln\n" + dataplane.FormatIPVSAdm(v, true))
	b.WriteString("# ip addr\n" + dataplane.FormatLinks(st.Links))
	b.WriteString("# ipset save\n" + dataplane.FormatIPSetSave(st.IPSets))
	b.WriteString("# iptables-save\n" + dataplane.FormatIPTablesSave(st.IPTables))
	if len(st.IP6Tables.Tables) > 0 {
		b.WriteString("# ip6tables-save\n" + dataplane.FormatIPTablesSave(st.IP6Tables))
	}
	return b.String()
}
