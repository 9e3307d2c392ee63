package upstreamcmd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
)

type buildFlags struct {
	version    string
	components []string
	parallel   int
}

func newBuildCommand() *cobra.Command {
	return cli.Command(&cobra.Command{
		Use:   "build",
		Short: "Build a release's binaries into the cache and list them",
	}, &buildFlags{})
}

func (f *buildFlags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.version, "version", DefaultVersion, "Kubernetes release to build")
	fs.StringSliceVar(&f.components, "components", upstream.DefaultComponents,
		"comma-separated components: "+strings.Join(upstream.KnownComponents(), ", "))
	fs.IntVarP(&f.parallel, "p", "p", 2, "go build -p (each build peaks at ~2 GB)")
}

func (f *buildFlags) Run(cmd *cobra.Command, _ []string) error {
	if err := checkVersion(f.version); err != nil {
		return err
	}
	for _, c := range f.components {
		if !slices.Contains(upstream.KnownComponents(), c) {
			return cli.Usagef("--components: unknown component %q: want some of %s", c, strings.Join(upstream.KnownComponents(), ", "))
		}
	}
	p, err := upstream.Build(cmd.Context(), upstream.Options{
		Version:    f.version,
		Components: f.components,
		Parallel:   f.parallel,
	})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(p.Binaries))
	for c := range p.Binaries {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		fmt.Fprintf(cmd.OutOrStdout(), "%-24s %s\n", c, p.Binaries[c])
	}
	return nil
}

// checkVersion refuses a --version that names no release before anything is fetched.
func checkVersion(v string) error {
	if _, err := upstream.ParseRelease(v); err != nil {
		return &cli.UsageError{Err: fmt.Errorf("--version: %w", err)}
	}
	return nil
}

type versionsFlags struct {
	all bool
}

func newVersionsCommand() *cobra.Command {
	return cli.Command(&cobra.Command{
		Use:   "versions",
		Short: "List the served releases and which components of each are built",
	}, &versionsFlags{})
}

func (f *versionsFlags) Bind(fs *pflag.FlagSet) {
	fs.BoolVar(&f.all, "all", false, "also list pre-releases and releases older than the lab supports")
}

func (f *versionsFlags) Run(cmd *cobra.Command, _ []string) error {
	cache := upstream.DefaultCacheDir()
	dir := filepath.Join(cache, "upstream")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	served, err := upstream.ServedReleases(cmd.Context(), "", dir)
	if err != nil {
		return err
	}
	if !f.all {
		served = upstream.SupportedReleases(served, false)
	}
	for _, r := range served {
		var built []string
		for _, c := range upstream.KnownComponents() {
			if fi, err := os.Stat(filepath.Join(upstream.ReleaseDir(cache, r), "bin", c+".stamp")); err == nil && fi.Mode().IsRegular() {
				built = append(built, c)
			}
		}
		line := r.String()
		if len(built) > 0 {
			line += "\tbuilt: " + strings.Join(built, ",")
		}
		fmt.Fprintln(cmd.OutOrStdout(), line)
	}
	return nil
}
