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

// buildFlags is `upstream build`: it builds a release's binaries into the cache.
type buildFlags struct {
	version    release
	source     source
	components []string
	parallel   int
}

func (f *buildFlags) Bind(fs *pflag.FlagSet) {
	f.version.bind(fs, "Kubernetes release to download or build")
	f.source.bind(fs)
	fs.StringSliceVar(&f.components, "components", upstream.DefaultComponents,
		"comma-separated components: "+strings.Join(upstream.KnownComponents(), ", "))
	fs.IntVarP(&f.parallel, "p", "p", 2, "go build -p (each build peaks at ~2 GB)")
}

func (f *buildFlags) Run(cmd *cobra.Command, _ []string) error {
	if f.parallel < 1 || f.parallel > 64 {
		return cli.Usagef("-p %d: expected 1 to 64 parallel builds (each peaks at ~2 GB)", f.parallel)
	}
	for _, c := range f.components {
		if !slices.Contains(upstream.KnownComponents(), c) {
			return cli.Usagef("--components: unknown component %q: want some of %s", c, strings.Join(upstream.KnownComponents(), ", "))
		}
	}
	p, err := upstream.Build(cmd.Context(), upstream.Options{
		Version:    string(f.version),
		Components: f.components,
		Parallel:   f.parallel,
		Source:     upstream.Source(f.source),
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

// release is a --version flag: a Kubernetes release, refused while the command line is read,
// before anything is fetched, when it names none.
type release string

// bind registers r as --version, defaulting to DefaultVersion.
func (r *release) bind(fs *pflag.FlagSet, usage string) {
	*r = DefaultVersion
	fs.Var(r, "version", usage)
}

func (r *release) String() string { return string(*r) }
func (r *release) Type() string   { return "release" }

func (r *release) Set(v string) error {
	if _, err := upstream.ParseRelease(v); err != nil {
		return err
	}
	*r = release(v)
	return nil
}

// source is a --source flag, refused while the command line is read when it is none of
// auto, download or build. Unset, Build reads $UPSTREAM_SOURCE (default auto).
type source string

func (s *source) bind(fs *pflag.FlagSet) {
	fs.Var(s, "source", "how a missing binary is made: auto (download the release binaries; build from the Go module proxy "+
		"when the release host does not answer), download or build (default $"+upstream.SourceEnv+", else auto)")
}

func (s *source) String() string { return string(*s) }
func (s *source) Type() string   { return "source" }

func (s *source) Set(v string) error {
	if _, err := upstream.ParseSource("--source", v); err != nil {
		return err
	}
	*s = source(v)
	return nil
}

// versionsFlags is `upstream versions`: it lists the served releases and what of each is built.
type versionsFlags struct {
	all bool
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
