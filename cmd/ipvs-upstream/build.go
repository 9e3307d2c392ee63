package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
)

func buildCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("build", stderr)
	version := fs.String("version", DefaultVersion, "Kubernetes release to build")
	components := fs.String("components", strings.Join(upstream.DefaultComponents, ","),
		"comma-separated components: "+strings.Join(upstream.KnownComponents(), ", "))
	parallel := fs.Int("p", 2, "go build -p (each build peaks at ~2 GB)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("build takes no arguments, found %q", fs.Args())
	}
	p, err := upstream.Build(ctx, upstream.Options{
		Version:    *version,
		Components: strings.Split(*components, ","),
		Parallel:   *parallel,
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
		fmt.Fprintf(stdout, "%-24s %s\n", c, p.Binaries[c])
	}
	return nil
}

func versionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("versions", stderr)
	all := fs.Bool("all", false, "also list pre-releases and releases older than the lab supports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cache := upstream.DefaultCacheDir()
	dir := filepath.Join(cache, "upstream")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	served, err := upstream.ServedReleases(ctx, "", dir)
	if err != nil {
		return err
	}
	if !*all {
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
		fmt.Fprintln(stdout, line)
	}
	return nil
}
