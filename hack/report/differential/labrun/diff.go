package labrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/differential"
)

// Config is a differential run: upstream kube-proxy KubeProxy against the reference
// proxier, over Scenarios, in Dir.
type Config struct {
	// Dir holds the captures (<proxy>/<scenario>/<step>.json, a .txt of the state beside
	// each, <proxy>/proxy.log) and the report (differential.Report.WriteFiles).
	Dir       string
	KubeProxy string
	// Proxies are run first, in order, each in its own lab cluster (KubeProxy and/or
	// lab.Reference); a proxy not run has its captures read from Dir. None only reports.
	Proxies   []string
	Scenarios []Scenario
	Known     *differential.Known
	// IPVSDump, Quiet and Timeout are each proxy's run's (Options).
	IPVSDump       string
	Quiet, Timeout time.Duration
}

// Diff runs c.Proxies, writing their captures as they come, then compares each step's
// captures, writes the report under c.Dir and prints it to stdout. A proxy whose run failed
// is logged and its steps' captures say why; an error is returned when the run was
// interrupted or the report could not be written.
func Diff(ctx context.Context, c Config, stdout io.Writer) (differential.Report, error) {
	if len(c.Proxies) > 0 {
		start := time.Now()
		for _, proxy := range c.Proxies {
			if err := capture(ctx, c, proxy); err != nil {
				slog.Error("diff: run", "proxy", proxy, "err", err)
			}
			if ctx.Err() != nil {
				return differential.Report{}, errors.New("interrupted")
			}
		}
		slog.Info("diff: captures done", "took", time.Since(start).Round(time.Second), "dir", c.Dir)
	}
	results := differential.CompareDir(c.Dir, c.KubeProxy, lab.Reference, StepIDs(c.Scenarios), c.Known)
	rep := differential.NewReport("upstream kube-proxy "+c.KubeProxy, "the reference proxier", c.Known, results)
	if err := rep.WriteFiles(c.Dir); err != nil {
		return rep, err
	}
	if err := rep.Format(stdout); err != nil {
		return rep, err
	}
	fmt.Fprintf(stdout, "report, captures and full diffs: %s\n", c.Dir)
	return rep, nil
}

// capture runs one proxy and writes its captures as they come, with a readable text of
// each state beside the JSON.
func capture(ctx context.Context, c Config, proxy string) error {
	var werr error
	write := func(cp differential.Capture) {
		if err := differential.WriteCapture(c.Dir, cp); err != nil {
			werr = errors.Join(werr, err)
			return
		}
		txt := strings.TrimSuffix(differential.CaptureFile(c.Dir, cp.Proxy, cp.Scenario), ".json") + ".txt"
		werr = errors.Join(werr, os.WriteFile(txt, []byte(differential.StateText(cp.State)), 0o644))
	}
	captures, err := Run(ctx, Options{
		KubeProxy: proxy, Scenarios: c.Scenarios, IPVSDump: c.IPVSDump,
		Quiet: c.Quiet, Timeout: c.Timeout, OnCapture: write,
		OnProxyLog: func(log string) {
			werr = errors.Join(werr, os.WriteFile(filepath.Join(c.Dir, proxy, "proxy.log"), []byte(log), 0o644))
		},
	})
	if err != nil && len(captures) > 0 && captures[0].Error != "" {
		// The cluster never came up: record why for every scenario.
		for _, cp := range captures {
			write(cp)
		}
	}
	return errors.Join(err, werr)
}
