package seedwalk

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Methods of switching kube-proxy to ipvs, as the seed's section 3.3 names them.
const (
	// MethodConfigMap is method 2: the cluster starts with kube-proxy in iptables mode; the
	// walk edits the kube-proxy ConfigMap and deletes the kube-proxy pods.
	MethodConfigMap = "configmap"
	// MethodCreation is method 1: mode ipvs in the KubeProxyConfiguration from the start.
	MethodCreation = "creation"
)

// Facts are what the walk learned through client-go rather than from a printed output:
// the addresses the API server allocated, the configuration kube-proxy was given, the
// pods before and after the restart. The verdict checks the printed outputs against them.
type Facts struct {
	// KubeProxy is the release run as kube-proxy ("v1.37.2") or "reference".
	KubeProxy string `json:"kubeProxy"`
	// Reference is true when kube-proxy is the project's reference proxier.
	Reference bool `json:"reference"`
	// Minor is the upstream kube-proxy's minor release (37); 0 for the reference proxier.
	Minor  int    `json:"minor"`
	Method string `json:"method"`
	// ModeBefore is config.conf's mode before the edit (method 2); ConfigAfter is config.conf
	// as kube-proxy last started with it.
	ModeBefore  string `json:"modeBefore,omitempty"`
	ConfigAfter string `json:"configAfter"`
	// PodsBefore and PodsAfter are the kube-proxy pods' names around the restart.
	PodsBefore []string `json:"podsBefore,omitempty"`
	PodsAfter  []string `json:"podsAfter"`
	NodeName   string   `json:"nodeName"`
	NodeIP     string   `json:"nodeIP"`
	ClusterIP  string   `json:"clusterIP"`
	PodIP      string   `json:"podIP"`
	// HostNodePort is where the host reaches NodePort 30089 (a QEMU forward on 127.0.0.1).
	HostNodePort string `json:"hostNodePort"`
	// Existing is a walk of a cluster the project did not create: its Pod is the seed's
	// nginx (any page answers), in a namespace of the walk's own, and every node is walked.
	Existing  bool   `json:"existing,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Nodes are the nodes after the first (NodeName), whose steps' results are keyed
	// "<step>@<node>".
	Nodes []NodeFacts `json:"nodes,omitempty"`
}

// NodeFacts name a node and its InternalIP.
type NodeFacts struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
}

// OnNode is the key of a step's result on a node after the first.
func OnNode(step, node string) string { return step + "@" + node }

// Record is a walk's outcome: its facts and each step's result by step name.
type Record struct {
	Facts   Facts             `json:"facts"`
	Results map[string]Result `json:"results"`
}

const recordFile = "record.json"

// OutputFile is the file a step's output is saved in: the step's name with runs of
// characters other than letters, digits, '.' and '_' turned into one '-', and ".txt" added.
func OutputFile(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-") + ".txt"
}

// Save writes the record into dir: record.json (facts, exit codes, times) and each
// step's output as OutputFile(name), readable as the node printed it.
func (r Record) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(r.Results))
	for n := range r.Results {
		names = append(names, n)
	}
	sort.Strings(names)
	files := map[string]string{}
	for _, n := range names {
		f := OutputFile(n)
		if other, ok := files[f]; ok {
			return fmt.Errorf("steps %q and %q would both be saved as %s", other, n, f)
		}
		files[f] = n
		if err := os.WriteFile(filepath.Join(dir, f), []byte(r.Results[n].Output), 0o644); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, recordFile), append(b, '\n'), 0o644)
}

// Load reads a record written by Save.
func Load(dir string) (Record, error) {
	var r Record
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", filepath.Join(dir, recordFile), err)
	}
	var errs []error
	for n, res := range r.Results {
		out, err := os.ReadFile(filepath.Join(dir, OutputFile(n)))
		if err != nil {
			errs = append(errs, fmt.Errorf("output of step %q: %w", n, err))
			continue
		}
		res.Output = string(out)
		r.Results[n] = res
	}
	return r, errors.Join(errs...)
}
