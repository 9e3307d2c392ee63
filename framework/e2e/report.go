package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
		// Each provider and switch method has its own suite name, so merged results of the
		// runs of one CI job can be told apart.
		junit := filepath.Join(cfg.Artifacts, "junit_"+runName(suite, cfg)+".xml")
		jr := r
		jr.SuiteDescription = runTitle(r.SuiteDescription, suite, cfg)
		if err := reporters.GenerateJUnitReport(jr, junit); err != nil {
			notes = append(notes, "JUnit report: "+err.Error())
		}
	}
	fate := "no cluster was created"
	if e != nil && e.snapshot != nil {
		did, err := e.snapshot.Restore(ctx, e.KubeProxy)
		if err != nil {
			did = strings.TrimPrefix(did+"; ", "; ") + "restoring kube-proxy FAILED: " + err.Error()
		}
		notes = append(notes, "kube-proxy restore: "+did)
	}
	if rel, ok := providerReleaser(e); ok {
		if err := rel.Release(ctx); err != nil {
			notes = append(notes, "removing the run's own objects: "+err.Error())
		}
	}
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
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		if err := appendFile(path, markdownSummary(r, info, githubRunURL())); err != nil {
			s += fmt.Sprintf("step summary: not written to %s (GITHUB_STEP_SUMMARY): %v\n", path, err)
		}
	}
	slog.Info("run finished", "suite", suite, "passed", r.SuiteSucceeded)
	return s
}

// runName names one run of a suite by what sets it apart from the suite's other runs in a
// CI job: the provider, the switch method and, when given, the Kubernetes or kube-proxy
// release ("seedlab_lab_creation_v1.37.2").
func runName(suite string, cfg Config) string {
	parts := []string{suite, cfg.Provider, cfg.Switch, cfg.KubernetesVersion}
	return slug(strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), "_"))
}

// runTitle is the suite's description with what runName adds, as JUnit's suite name.
func runTitle(description, suite string, cfg Config) string {
	if description == "" {
		description = suite
	}
	what := slices.DeleteFunc([]string{cfg.Provider, cfg.Switch, cfg.KubernetesVersion}, func(s string) bool { return s == "" })
	if len(what) == 0 {
		return description
	}
	return description + " [" + strings.Join(what, ", ") + "]"
}

// githubRunURL is the page of the GitHub Actions run, whose artifacts list holds what the
// job uploads; empty outside Actions.
func githubRunURL() string {
	server, repo, id := os.Getenv("GITHUB_SERVER_URL"), os.Getenv("GITHUB_REPOSITORY"), os.Getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || id == "" {
		return ""
	}
	return server + "/" + repo + "/actions/runs/" + id + "#artifacts"
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func providerReleaser(e *Env) (cluster.Releaser, bool) {
	if e == nil || e.Provider == nil {
		return nil, false
	}
	r, ok := e.Provider.(cluster.Releaser)
	return r, ok
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
	c := countSpecs(r)
	fmt.Fprintf(&b, "\n=== ipvs-e2e %s: %s ===\n", info.Suite, verdict(r))
	fmt.Fprintf(&b, "provider %s, cluster %s, Kubernetes %s, kube-proxy to ipvs by %s\n",
		info.Config.Provider, info.Config.ClusterName, info.version(), switchName(info.Config.Switch))
	fmt.Fprintf(&b, "specs: %s (%s)\n", c, r.RunTime.Round(time.Second))
	if r.SuiteConfig.LabelFilter != "" {
		fmt.Fprintf(&b, "label filter: %s\n", r.SuiteConfig.LabelFilter)
	}
	for _, reason := range r.SpecialSuiteFailureReasons {
		fmt.Fprintf(&b, "suite: %s\n", reason)
	}
	for _, f := range c.failures {
		fmt.Fprintf(&b, "FAIL %s\n     at %s\n     %s\n", specName(f), f.Failure.Location, firstLine(f.Failure.Message))
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

// specCounts counts a report's specs (It nodes) by state; failures are the failed specs and
// the failed suite-level nodes (BeforeSuite), which have no It.
type specCounts struct {
	passed, failed, skipped, pending int
	// notAllowed are the skipped specs that were disruptive on a cluster the run did not
	// create, without the opt-in: counted apart, so a skip is never read as a pass.
	notAllowed int
	failures   []types.SpecReport
}

func (c specCounts) String() string {
	skipped := fmt.Sprint(c.skipped)
	if c.notAllowed > 0 {
		skipped = fmt.Sprintf("%d (%d of them disruptive, not allowed without -allow-disruptive)", c.skipped, c.notAllowed)
	}
	return fmt.Sprintf("%d passed, %d failed, %s skipped, %d pending", c.passed, c.failed, skipped, c.pending)
}

func countSpecs(r types.Report) specCounts {
	var c specCounts
	for _, s := range r.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			if s.State.Is(types.SpecStateFailureStates) {
				c.failures = append(c.failures, s)
			}
			continue
		}
		switch {
		case s.State == types.SpecStatePassed:
			c.passed++
		case s.State == types.SpecStateSkipped:
			c.skipped++
			if strings.HasPrefix(s.Failure.Message, disruptiveRefused) {
				c.notAllowed++
			}
		case s.State == types.SpecStatePending:
			c.pending++
		case s.State.Is(types.SpecStateFailureStates):
			c.failed++
			c.failures = append(c.failures, s)
		}
	}
	return c
}

func verdict(r types.Report) string {
	if r.SuiteSucceeded {
		return "PASSED"
	}
	return "FAILED"
}

func specName(f types.SpecReport) string {
	if name := f.FullText(); name != "" {
		return name
	}
	return f.LeafNodeType.String()
}

func (info summaryInfo) version() string {
	switch {
	case info.Minor > 0:
		return fmt.Sprintf("1.%d", info.Minor)
	case info.Config.KubernetesVersion != "":
		return info.Config.KubernetesVersion
	}
	return "provider default"
}

// markdownSummary renders a run for GitHub's job summary ($GITHUB_STEP_SUMMARY): the
// verdict, the counts, each failed spec with its first failure line, the notes (switch
// report, deprecation, leftovers) and where the artifacts are; runURL, when known, links
// the run's uploaded artifacts.
func markdownSummary(r types.Report, info summaryInfo, runURL string) string {
	var b strings.Builder
	c := countSpecs(r)
	mark := ":white_check_mark:"
	if !r.SuiteSucceeded {
		mark = ":x:"
	}
	fmt.Fprintf(&b, "### %s ipvs-e2e %s: %s\n\n", mark, runTitle("", info.Suite, info.Config), verdict(r))
	b.WriteString("| provider | cluster | Kubernetes | kube-proxy to ipvs by | specs | time |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n\n", mdCell(info.Config.Provider), mdCell(info.Config.ClusterName),
		mdCell(info.version()), mdCell(switchName(info.Config.Switch)), c, r.RunTime.Round(time.Second))
	if r.SuiteConfig.LabelFilter != "" {
		fmt.Fprintf(&b, "Label filter: `%s`\n\n", r.SuiteConfig.LabelFilter)
	}
	for _, reason := range r.SpecialSuiteFailureReasons {
		fmt.Fprintf(&b, "Suite: %s\n\n", mdCell(reason))
	}
	if len(c.failures) > 0 {
		b.WriteString("| failed spec | where | first failure line |\n|---|---|---|\n")
		for _, f := range c.failures {
			fmt.Fprintf(&b, "| %s | `%s` | %s |\n", mdCell(specName(f)), f.Failure.Location, mdCell(firstLine(f.Failure.Message)))
		}
		b.WriteString("\n")
	}
	if len(info.Notes) > 0 {
		// A tilde fence: the notes quote commands and may hold backticks.
		b.WriteString("<details><summary>Notes: the switch report, deprecation, leftovers</summary>\n\n~~~~\n")
		for _, n := range info.Notes {
			b.WriteString(n + "\n")
		}
		b.WriteString("~~~~\n\n</details>\n\n")
	}
	switch {
	case info.ArtifactsErr != nil:
		fmt.Fprintf(&b, "Artifacts: none written (%s)\n", mdCell(info.ArtifactsErr.Error()))
	case runURL != "":
		fmt.Fprintf(&b, "Artifacts: [JUnit XML and per-node artifacts](%s), written to `%s`\n", runURL, info.Config.Artifacts)
	default:
		fmt.Fprintf(&b, "Artifacts: `%s`\n", info.Config.Artifacts)
	}
	fmt.Fprintf(&b, "\nCluster: %s\n\n", mdCell(info.Fate))
	return b.String()
}

// mdCell keeps text inside one Markdown table cell: no line breaks, no column bars.
func mdCell(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	return strings.ReplaceAll(s, "|", "\\|")
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
