package clusterbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
)

const (
	// ResultsFile is the results JSON that Run writes into Config.Out and Rerender reads.
	ResultsFile = "cluster-results.json"
	// tableFile is the table written beside it.
	tableFile = "cluster-table.txt"
)

// header says when, where and with what the numbers were taken.
type header struct {
	Date        string `json:"date"`
	HostCPUs    int    `json:"hostCPUs"`
	HostKernel  string `json:"hostKernel"`
	QEMU        string `json:"qemu"`
	GuestKernel string `json:"guestKernel"`
	Guest       string `json:"guest"`
	Go          string `json:"go"`
	Upstream    string `json:"upstream"`
	Commit      string `json:"commit"`
}

// report is a run's results file.
type report struct {
	Header  header        `json:"header"`
	Results []Measurement `json:"results"`
}

// newHeader reads this host's and checkout's side of the header; Run fills in the guest
// kernel from its clusters.
func newHeader(c Config) header {
	h := header{
		Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), HostCPUs: runtime.NumCPU(),
		Guest: "QEMU TCG, 1 vCPU, 2048 MiB", Go: runtime.Version(), Upstream: c.Upstream,
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		h.HostKernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("qemu-system-x86_64", "--version").Output(); err == nil {
		h.QEMU = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		h.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			h.Commit += " (with uncommitted changes)"
		}
	}
	return h
}

func (r report) text() string {
	var b bytes.Buffer
	h := r.Header
	fmt.Fprintf(&b, "Proxies side by side in the lab cluster (make bench-cluster), %s\n", h.Date)
	fmt.Fprintf(&b, "machine: %d CPUs, host kernel %s; node: %s, guest kernel %s (%s)\n", h.HostCPUs, h.HostKernel, h.Guest, h.GuestKernel, h.QEMU)
	fmt.Fprintf(&b, "versions: %s; control plane and upstream kube-proxy %s; reference proxier at commit %s\n\n", h.Go, h.Upstream, h.Commit)
	writeTable(&b, r.Results, lab.Reference)
	b.WriteString("\n" + legend + "\n")
	if slices.ContainsFunc(r.Results, func(m Measurement) bool { return m.Churn != nil }) {
		b.WriteString("\nNetwork programming latency under churn (same clusters)\n\n")
		writeChurnTable(&b, r.Results, lab.Reference)
		b.WriteString("\n" + churnLegend + "\n")
	}
	var notes []string
	for _, m := range r.Results {
		for _, n := range m.Notes {
			notes = append(notes, fmt.Sprintf("%s N=%d: %s", m.Proxy, m.Services, n))
		}
		if m.Profile != "" {
			notes = append(notes, fmt.Sprintf("%s N=%d: CPU profile %s", m.Proxy, m.Services, m.Profile))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nnotes:\n  " + strings.Join(notes, "\n  ") + "\n")
	}
	return b.String()
}

// Rerender reads a results file that Run wrote, rewrites the table beside it (after a change
// of the table's layout) and returns the table.
func Rerender(results string) (string, error) {
	b, err := os.ReadFile(results)
	if err != nil {
		return "", err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("%s: expected `ipvs-e2e bench cluster` results JSON: %w", results, err)
	}
	if len(r.Results) == 0 {
		return "", fmt.Errorf("%s: no results in it", results)
	}
	text := r.text()
	return text, os.WriteFile(filepath.Join(filepath.Dir(results), tableFile), []byte(text), 0o644)
}

func (r report) write(dir string) error {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ResultsFile), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, tableFile), []byte(r.text()), 0o644)
}
