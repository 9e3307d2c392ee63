package labcmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/cachedir"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
)

// defaultStateFile is where `lab up` records the cluster it leaves running. It is in the
// cache, not $TMPDIR: the run directory it names may be under another $TMPDIR than the
// shell running `lab down` has.
func defaultStateFile() string { return cachedir.Join("lab-up.json") }

// The phases of a lab-up cluster, as its state file tells them.
const (
	phaseStarting = "starting"
	phaseReady    = "ready"
	phaseFailed   = "failed"
	phaseStopping = "stopping"
)

// upState is the state file of the process that holds a lab-up cluster: who it is (PID and
// start time, so a reused PID is not taken for it), where its run directory, log and
// kubeconfig are, and how far it got.
type upState struct {
	Owner  rundir.Process `json:"owner"`
	Phase  string         `json:"phase"`
	Error  string         `json:"error,omitempty"`
	RunDir string         `json:"runDir"`
	// ClusterDir is the lab cluster's own run directory (the provider's), where its
	// processes are recorded.
	ClusterDir string `json:"clusterDir,omitempty"`
	Log        string `json:"log"`
	Kubeconfig string `json:"kubeconfig,omitempty"`
	NodePort   string `json:"nodePort,omitempty"`
	KubeProxy  string `json:"kubeProxy"`
	Nodes      int    `json:"nodes"`
	Mode       string `json:"mode"`
}

func (s *upState) describe() string {
	return fmt.Sprintf("pid %d, kube-proxy %s, %d node(s), mode %s, %s; run directory %s", s.Owner.PID, s.KubeProxy, s.Nodes, s.Mode, s.Phase, s.RunDir)
}

// readState reads the state file; nil without error when there is none.
func readState(path string) (*upState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s upState
	if err := json.Unmarshal(b, &s); err != nil || s.Owner.PID <= 0 {
		return nil, fmt.Errorf("lab-up state file %s: expected the JSON `ipvs-e2e lab up` writes (%v); remove it if no lab cluster runs", path, err)
	}
	return &s, nil
}

// writeTemp writes s beside path, to be renamed or linked into place: a reader of path
// never sees half of it.
func writeTemp(path string, s *upState) (string, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	return tmp, os.WriteFile(tmp, b, 0o600)
}

// writeState replaces the state file.
func writeState(path string, s *upState) error {
	tmp, err := writeTemp(path, s)
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// errRunning is a lab-up cluster that runs already.
type errRunning struct {
	path  string
	state *upState
}

func (e *errRunning) Error() string {
	return fmt.Sprintf("a lab cluster is already running (%s; state file %s): use it (KUBECONFIG=%s), or stop it with `make lab-down` (ipvs-e2e lab down) first",
		e.state.describe(), e.path, e.state.Kubeconfig)
}

// claimState makes s the state file unless a running lab-up holds it: the file is created
// with a hard link, which fails when it exists, so two `lab up` at once cannot both claim
// it. A state file whose owner is gone (kill -9) is removed first.
func claimState(path string, s *upState) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := writeTemp(path, s)
	defer os.Remove(tmp)
	if err != nil {
		return err
	}
	for range 2 {
		err := os.Link(tmp, path)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		if _, err := removeStale(path); err != nil {
			return err
		}
	}
	return fmt.Errorf("lab-up state file %s: could not claim it; another `lab up` may be starting", path)
}

// removeStale returns errRunning when the state file's owner runs; otherwise it removes
// the file and returns what it said (nil when there was none).
func removeStale(path string) (*upState, error) {
	s, err := readState(path)
	if err != nil || s == nil {
		return nil, err
	}
	if s.Owner.Running() {
		return nil, &errRunning{path: path, state: s}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return s, nil
}
