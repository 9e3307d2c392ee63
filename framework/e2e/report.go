package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

var slugRE = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// slug turns a spec's text into a directory name.
func slug(s string) string {
	s = strings.Trim(slugRE.ReplaceAllString(s, "-"), "-")
	if len(s) > 100 {
		s = s[:100]
	}
	if s == "" {
		return "spec"
	}
	return s
}

// collectSpecArtifacts writes every node's artifacts (ipvsadm -Ln as ipvsdump prints it,
// its JSON state, iptables-save, ipset save, ip addr, sysctls, the kube-proxy log) under
// <artifacts>/<suite>/<spec>/<node>/ and returns that directory.
func (e *Env) collectSpecArtifacts(ctx context.Context, suite, spec string) (string, error) {
	dir := filepath.Join(e.Config.Artifacts, suite, slug(spec))
	var errs []string
	for _, n := range e.Nodes {
		if err := node.CollectArtifacts(ctx, n, dir, e.artifacts()); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return dir, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return dir, nil
}

// interrupted tells whether the run was interrupted (Ctrl-C, a timeout).
func interrupted(r types.Report) bool {
	for _, reason := range r.SpecialSuiteFailureReasons {
		if strings.Contains(reason, "Interrupted") || strings.Contains(reason, "Timeout") {
			return true
		}
	}
	return false
}

// runDirKeeper is a provider whose cluster lives in a run directory on the host (the lab
// cluster's keys, kubeconfigs and logs) that Delete removes unless told to keep it: a run
// that did not pass, or whose cluster is kept, keeps it for inspection.
type runDirKeeper interface {
	KeepRunDir() string
}

// finish ends a run: JUnit XML, provider logs when it failed, the cluster's fate
// (cluster.Decide), and the terminal summary, which it returns. e may be nil or half set up
// when setup failed.
func finish(ctx context.Context, e *Env, cfg Config, suite string, r types.Report) string {
	var notes []string
	artifactsErr := writableDir(cfg.Artifacts)
	if artifactsErr == nil {
		junit := filepath.Join(cfg.Artifacts, "junit_"+suite+".xml")
		if err := reporters.GenerateJUnitReport(r, junit); err != nil {
			notes = append(notes, "JUnit report: "+err.Error())
		}
	}
	fate := "no cluster was created"
	if e != nil && e.Provider != nil && (e.Created || e.Nodes != nil) {
		out := cluster.Outcome{Created: e.Created, Failed: !r.SuiteSucceeded, Interrupted: interrupted(r)}
		if out.Failed {
			logs := filepath.Join(cfg.Artifacts, suite, "cluster-logs")
			if err := e.Provider.ExportLogs(ctx, logs); err != nil {
				notes = append(notes, "exporting cluster logs: "+err.Error())
			} else {
				notes = append(notes, "cluster logs: "+logs)
			}
		}
		f := cluster.Decide(cfg.clusterOptions(), out)
		fate = f.Reason
		if k, ok := e.Provider.(runDirKeeper); ok && (out.Failed || !f.Delete) {
			if dir := k.KeepRunDir(); dir != "" {
				notes = append(notes, "cluster run directory kept: "+dir)
			}
		}
		if f.Delete {
			if err := e.Provider.Delete(ctx); err != nil {
				fate = "deleting the cluster failed: " + err.Error()
			}
		}
	}
	info := summaryInfo{Suite: suite, Config: cfg, ArtifactsErr: artifactsErr, Fate: fate, Notes: notes}
	if e != nil {
		info.Minor = e.Minor
		info.Notes = append(append([]string{}, e.Notes...), notes...)
	}
	s := summary(r, info)
	slog.Info("run finished", "suite", suite, "passed", r.SuiteSucceeded)
	return s
}

// summaryInfo is what the summary says besides the Ginkgo report.
type summaryInfo struct {
	Suite  string
	Config Config
	Minor  int
	Notes  []string
	Fate   string
	// ArtifactsErr says why nothing could be written under Config.Artifacts.
	ArtifactsErr error
}

// summary renders a run for a terminal: counts, every failed spec with where and why, the
// notes (switch report, leftovers, deprecation), where the artifacts are and what became
// of the cluster.
func summary(r types.Report, info summaryInfo) string {
	var b strings.Builder
	var passed, failed, skipped, pending int
	var failures []types.SpecReport
	for _, s := range r.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			if s.State.Is(types.SpecStateFailureStates) {
				failures = append(failures, s)
			}
			continue
		}
		switch {
		case s.State == types.SpecStatePassed:
			passed++
		case s.State == types.SpecStateSkipped:
			skipped++
		case s.State == types.SpecStatePending:
			pending++
		case s.State.Is(types.SpecStateFailureStates):
			failed++
			failures = append(failures, s)
		}
	}
	verdict := "PASSED"
	if !r.SuiteSucceeded {
		verdict = "FAILED"
	}
	version := info.Config.KubernetesVersion
	if info.Minor > 0 {
		version = fmt.Sprintf("1.%d", info.Minor)
	}
	if version == "" {
		version = "provider default"
	}
	fmt.Fprintf(&b, "\n=== ipvs-e2e %s: %s ===\n", info.Suite, verdict)
	fmt.Fprintf(&b, "provider %s, cluster %s, Kubernetes %s, kube-proxy to ipvs by %s\n",
		info.Config.Provider, info.Config.ClusterName, version, switchName(info.Config.Switch))
	fmt.Fprintf(&b, "specs: %d passed, %d failed, %d skipped, %d pending (%s)\n", passed, failed, skipped, pending, r.RunTime.Round(time.Second))
	if r.SuiteConfig.LabelFilter != "" {
		fmt.Fprintf(&b, "label filter: %s\n", r.SuiteConfig.LabelFilter)
	}
	for _, reason := range r.SpecialSuiteFailureReasons {
		fmt.Fprintf(&b, "suite: %s\n", reason)
	}
	for _, f := range failures {
		name := f.FullText()
		if name == "" {
			name = f.LeafNodeType.String()
		}
		fmt.Fprintf(&b, "FAIL %s\n     at %s\n     %s\n", name, f.Failure.Location, firstLine(f.Failure.Message))
	}
	for _, n := range info.Notes {
		for _, line := range strings.Split(n, "\n") {
			fmt.Fprintf(&b, "note: %s\n", line)
		}
	}
	if info.ArtifactsErr != nil {
		fmt.Fprintf(&b, "artifacts: none written (%v)\n", info.ArtifactsErr)
	} else {
		fmt.Fprintf(&b, "artifacts: %s\n", info.Config.Artifacts)
	}
	fmt.Fprintf(&b, "cluster: %s\n", info.Fate)
	return b.String()
}

func switchName(s string) string {
	switch s {
	case SwitchByConfigMap:
		return "ConfigMap edit + pod restart (method 2)"
	case SwitchAtCreation:
		return "configuration at creation (method 1)"
	}
	return s
}

func firstLine(s string) string {
	line, rest, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if rest != "" {
		line += " ..."
	}
	return line
}
