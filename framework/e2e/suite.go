package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// Suite wires one Ginkgo suite to a cluster. NewSuite, called from a package-level var of
// the suite's test package, binds the flags and registers the suite-level nodes: setup
// before the first spec, per-node artifacts after each failed spec, and the summary, JUnit
// XML and the cluster's fate after the last.
type Suite struct {
	Name string
	// Config is set by the suite's BeforeSuite from the settings.
	Config Config
	// Env is set by the suite's BeforeSuite; specs use it.
	Env *Env

	settings Settings
}

// NewSuite registers the suite named name (it names the default cluster, the JUnit file
// and the artifacts directory).
func NewSuite(name string) *Suite {
	s := &Suite{Name: name}
	s.settings.Bind(flag.CommandLine, name)

	ginkgo.BeforeSuite(func(ctx ginkgo.SpecContext) {
		if err := s.start(ctx); err != nil {
			ginkgo.Fail(fmt.Sprintf("%s: cannot run: %v", name, err))
		}
	}, ginkgo.NodeTimeout(30*time.Minute))

	// On a cluster the run did not create, what restarts kube-proxy runs only when allowed.
	ginkgo.BeforeEach(func() {
		if reason := s.Config.refuseDisruptive(ginkgo.CurrentSpecReport().Labels()); reason != "" {
			ginkgo.Skip(reason)
		}
	})

	ginkgo.ReportAfterEach(func(ctx ginkgo.SpecContext, r ginkgo.SpecReport) {
		if s.Env == nil || s.Env.Client == nil || !r.Failed() {
			return
		}
		dir, err := s.Env.collectSpecArtifacts(ctx, name, r.FullText())
		fmt.Fprintf(ginkgo.GinkgoWriter, "node artifacts of the failed spec: %s\n", dir)
		if err != nil {
			fmt.Fprintf(ginkgo.GinkgoWriter, "some artifacts could not be read:\n%v\n", err)
		}
	}, ginkgo.NodeTimeout(2*time.Minute))

	ginkgo.ReportAfterSuite(name+" summary", func(ctx ginkgo.SpecContext, r ginkgo.Report) {
		if suiteConfig, _ := ginkgo.GinkgoConfiguration(); suiteConfig.DryRun {
			return // listing specs (make suites-dry-run) touches no cluster and writes nothing
		}
		fmt.Fprint(os.Stdout, finish(context.WithoutCancel(ctx), s.Env, s.Config, name, r))
	}, ginkgo.NodeTimeout(10*time.Minute))
	return s
}

// Run is the body of the suite's Test function: it sends gomega's failures to ginkgo and
// runs the specs under the given description.
func (s *Suite) Run(t *testing.T, description string) {
	gomega.RegisterFailHandler(ginkgo.Fail)
	ginkgo.RunSpecs(t, description)
}

// start checks every setting, then sets the cluster up; a malformed setting stops the run
// before the provider is asked for anything.
func (s *Suite) start(ctx context.Context) error {
	cfg, err := s.settings.Config()
	s.Config = cfg
	if err != nil {
		return err
	}
	suiteConfig, _ := ginkgo.GinkgoConfiguration()
	if err := oneProcess(suiteConfig.ParallelTotal); err != nil {
		return err
	}
	s.Env, err = setup(ctx, cfg)
	return err
}

// oneProcess refuses `ginkgo -p`: every process would run BeforeSuite and create the same
// cluster, and the specs change shared state (kube-proxy's mode, the seed's NodePort), so
// they run in order on one cluster. Nothing has been created when it refuses.
func oneProcess(total int) error {
	if total > 1 {
		return fmt.Errorf("ginkgo runs this suite in %d parallel processes (-p or --procs): each would create the same cluster, and the specs share kube-proxy's state, so they run in one process; drop -p/--procs (make e2e runs the suites one after another)", total)
	}
	return nil
}

// disruptiveRefused begins the reason a disruptive spec is skipped with; the summary counts
// those skips apart.
const disruptiveRefused = "disruptive, not run on a cluster the project did not create"

// refuseDisruptive says why a spec with these labels must not run, or "".
func (c Config) refuseDisruptive(labels []string) string {
	if c.Provider != "existing" || c.AllowDisruptive || !slices.Contains(labels, LabelDisruptive) {
		return ""
	}
	return disruptiveRefused + ": it edits the kube-proxy ConfigMap and restarts kube-proxy on every node; allow it with -allow-disruptive (IPVS_E2E_ALLOW_DISRUPTIVE=1), and what it changes is restored at the end"
}
