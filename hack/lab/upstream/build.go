package upstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/cachedir"
)

// generatorRevision changes whenever the generated build modules or the build flags change
// in a way the stamp's other inputs do not show, so that cached binaries get rebuilt.
const generatorRevision = 1

//go:embed etcdmain.go.txt
var etcdMain []byte

// Options say what Build builds.
type Options struct {
	// Version is the Kubernetes release, "v1.37.2".
	Version string
	// Components to build; DefaultComponents when empty. See KnownComponents.
	Components []string
	// CacheDir is the cache root; binaries go to <CacheDir>/upstream/<version>/bin.
	// Default: $CACHE_DIR, else $HOME/.cache/ipvs-e2e.
	CacheDir string
	// Go is the go command; default "go" from PATH.
	Go string
	// Parallel is go build's -p. Default 2: a kube-apiserver build peaks at ~2.3 GB with it.
	Parallel int
	// Logger receives progress lines; default slog.Default().
	Logger *slog.Logger
	// Source says how a missing or broken binary is made: downloaded from the release
	// hosts, built from the Go module proxy, or auto (the default) for the download with a
	// build when the release host does not answer. Default: $UPSTREAM_SOURCE, else auto.
	Source Source
	// ReleaseURL and EtcdURL are the base URLs of the Kubernetes and etcd releases.
	// Default: $UPSTREAM_RELEASE_URL and $UPSTREAM_ETCD_URL, else DefaultReleaseURL and
	// DefaultEtcdURL.
	ReleaseURL, EtcdURL string

	// probeTimeout replaces the reachability probe's timeout in tests.
	probeTimeout time.Duration
}

// Paths tell where Build left the binaries of one release.
type Paths struct {
	Release Release
	// Dir is <CacheDir>/upstream/<version>.
	Dir string
	// BinDir holds the binaries.
	BinDir string
	// Binaries maps each component built (or found up to date) to its path.
	Binaries map[string]string
	// EtcdVersion is the etcd version the etcd binary was built at, when etcd was asked for.
	EtcdVersion string
	// Sources says of each binary whether it was downloaded or built.
	Sources map[string]Source
}

// Binary returns the path of a component's binary, or "" when Build was not asked for it.
func (p Paths) Binary(component string) string { return p.Binaries[component] }

// EtcdIsRelease reports whether the etcd binary is etcd's own release binary, which takes
// etcd's flags, rather than the lab's etcd program (see controlplane.Binaries).
func (p Paths) EtcdIsRelease() bool { return p.Sources[Etcd] == SourceDownload }

// DefaultCacheDir is the project's cache root (hack/lab/cachedir).
func DefaultCacheDir() string { return cachedir.Root() }

// ReleaseDir is where the binaries and build modules of rel live under a cache root.
func ReleaseDir(cacheDir string, rel Release) string {
	return filepath.Join(cacheDir, "upstream", rel.String())
}

func (o Options) withDefaults() Options {
	if len(o.Components) == 0 {
		o.Components = DefaultComponents
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Build makes sure the binaries of the requested components of one release are in the cache
// and returns their paths. Components whose stamp matches the current inputs are not rebuilt,
// and when all match Build needs neither the network nor the go build cache. Components are
// built one at a time: each go build takes 1.6-2.3 GB at its peak.
func Build(ctx context.Context, opts Options) (Paths, error) {
	return build(ctx, opts, true)
}

// Lookup is Build without building: it returns the paths of the requested components that
// are in the cache and up to date, and an error naming the others.
func Lookup(ctx context.Context, opts Options) (Paths, error) {
	return build(ctx, opts, false)
}

// NotBuiltError is Lookup's error: components missing from the cache or out of date.
type NotBuiltError struct {
	Release    Release
	Components []string
}

func (e *NotBuiltError) Error() string {
	return fmt.Sprintf("upstream %s not built (or out of date) for %s: build with `make upstream-build VERSION=%s`",
		strings.Join(e.Components, ", "), e.Release, e.Release)
}

func build(ctx context.Context, opts Options, doBuild bool) (Paths, error) {
	opts = opts.withDefaults()
	// Settings first: a malformed one is refused before the cache is touched.
	opts, err := opts.settings()
	if err != nil {
		return Paths{}, err
	}
	rel, err := ParseRelease(opts.Version)
	if err != nil {
		return Paths{}, err
	}
	components, err := checkComponents(opts.Components)
	if err != nil {
		return Paths{}, err
	}
	dir := ReleaseDir(opts.CacheDir, rel)
	p := Paths{Release: rel, Dir: dir, BinDir: filepath.Join(dir, "bin"), Binaries: map[string]string{}, Sources: map[string]Source{}}
	if err := os.MkdirAll(p.BinDir, 0o755); err != nil {
		return Paths{}, fmt.Errorf("creating the upstream cache: %w", err)
	}
	unlock, err := lockDir(ctx, dir, opts.Logger)
	if err != nil {
		return Paths{}, err
	}
	defer unlock()

	g := newGoTool(opts.Go)
	goVersion, err := g.run(ctx, dir, "env", "GOVERSION")
	if err != nil {
		return Paths{}, fmt.Errorf("asking the go command for its version: %w", err)
	}
	inputs := func(c string) buildInputs {
		in := buildInputs{
			Component: c, Version: rel.String(), Go: strings.TrimSpace(string(goVersion.stdout)),
			GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Generator: generatorRevision,
		}
		if c == Etcd {
			in.Ldflags = "-s -w"
			in.Program = sha256Hex(etcdMain)
		} else {
			in.Package = kubernetesCommands[c]
			in.Ldflags = Ldflags(rel)
		}
		return in
	}
	done := func(c string, st stamp) {
		p.Binaries[c] = filepath.Join(p.BinDir, c)
		p.Sources[c] = st.source()
		if c == Etcd {
			p.EtcdVersion = st.EtcdVersion
		}
	}

	var todo []string
	for _, c := range components {
		bin := filepath.Join(p.BinDir, c)
		in := inputs(c)
		st, problem := checkEntry(bin, in, opts.Source)
		if problem != nil {
			if problem.corrupt {
				opts.Logger.Warn(fmt.Sprintf("upstream: cached %s (%s) is not usable: %s; Build fetches it again", label(in, ""), bin, problem.why))
			}
			todo = append(todo, c)
			continue
		}
		done(c, st)
		if doBuild {
			opts.Logger.Info(fmt.Sprintf("upstream: %s is up to date (%s, sha256 checked; %s)", label(st.Inputs, st.EtcdVersion), st.origin(), bin))
		}
	}
	if len(todo) == 0 {
		return p, nil
	}
	if !doBuild {
		return p, &NotBuiltError{Release: rel, Components: todo}
	}

	// The release's go.mod names the etcd version; it is read at most once, and only when
	// etcd or a source build needs it.
	var (
		k    *KubernetesModFile
		kErr error
	)
	modFile := func() (*KubernetesModFile, error) {
		if k == nil && kErr == nil {
			k, kErr = resolve(ctx, g, dir, rel, opts.Logger)
		}
		return k, kErr
	}

	toBuild := todo
	if opts.Source != SourceBuild {
		if !rel.Supported() {
			return Paths{}, fmt.Errorf("%s is older than v1.%d, the oldest release the lab supports", rel, OldestMinor)
		}
		toBuild = nil
		f := newFetcher(opts)
		var hosts []string
		if slices.ContainsFunc(todo, func(c string) bool { return c != Etcd }) {
			hosts = append(hosts, opts.ReleaseURL)
		}
		if slices.Contains(todo, Etcd) {
			hosts = append(hosts, opts.EtcdURL)
		}
		f.probe(ctx, hosts...)
		for _, c := range todo {
			in := downloadInputs(inputs(c))
			bin := filepath.Join(p.BinDir, c)
			what := label(in, "")
			var st stamp
			if c == Etcd {
				var mf *KubernetesModFile
				if mf, err = modFile(); err == nil {
					what = label(in, mf.EtcdVersion)
					st, err = f.downloadEtcd(ctx, mf.EtcdVersion, in, bin, opts.Logger)
				}
			} else {
				st, err = f.downloadKubernetes(ctx, rel, in, bin, opts.Logger)
			}
			var ue *UnreachableError
			switch {
			case err == nil:
				if err := writeStamp(bin, st); err != nil {
					return Paths{}, err
				}
				done(c, st)
				continue
			case errors.As(err, &ue) && opts.Source == SourceAuto:
				opts.Logger.Info(fmt.Sprintf("upstream: %s: %v: building from the Go module proxy instead (%s=auto)", what, ue, SourceEnv))
				toBuild = append(toBuild, c)
				continue
			case errors.As(err, &ue):
				return Paths{}, fmt.Errorf("%s: %w; %s=download does not build from source: use auto or build, or a reachable mirror in %s / %s",
					what, err, SourceEnv, ReleaseURLEnv, EtcdURLEnv)
			case opts.Source == SourceAuto:
				return Paths{}, fmt.Errorf("%w\n(%s=auto builds from source only when the release host does not answer; this is another failure, so it stops here: "+
					"%s=build builds from source on purpose)", err, SourceEnv, SourceEnv)
			default:
				return Paths{}, err
			}
		}
		if len(toBuild) == 0 {
			return p, nil
		}
	}

	mf, err := modFile()
	if err != nil {
		return Paths{}, err
	}
	total := time.Now()
	for _, c := range toBuild {
		in := inputs(c)
		bin := filepath.Join(p.BinDir, c)
		var st stamp
		if c == Etcd {
			st, err = buildEtcd(ctx, g, dir, bin, mf, rel, in, opts)
		} else {
			st, err = buildKubernetes(ctx, g, dir, bin, mf, rel, in, opts)
		}
		if err != nil {
			return Paths{}, err
		}
		if err := writeStamp(bin, st); err != nil {
			return Paths{}, err
		}
		done(c, st)
	}
	opts.Logger.Info(fmt.Sprintf("upstream: built %s for %s in %s", strings.Join(toBuild, ", "), rel, time.Since(total).Round(time.Second)))
	return p, nil
}

// resolve checks that the module proxy serves rel and reads its go.mod.
func resolve(ctx context.Context, g goTool, dir string, rel Release, log *slog.Logger) (*KubernetesModFile, error) {
	log.Info(fmt.Sprintf("upstream: resolving %s@%s with the Go module proxy", KubernetesModule, rel))
	served, listErr := ServedReleases(ctx, g.bin, dir)
	if listErr == nil {
		found := false
		for _, r := range served {
			found = found || r == rel
		}
		supported := SupportedReleases(served, rel.IsPrerelease())
		if !found {
			return nil, fmt.Errorf("%s %s is not served by the Go module proxy ($GOPROXY); served releases from v1.%d on: %s",
				KubernetesModule, rel, OldestMinor, JoinReleases(supported))
		}
		if !rel.Supported() {
			return nil, fmt.Errorf("%s is older than v1.%d, the oldest release the lab supports; served releases from v1.%d on: %s",
				rel, OldestMinor, OldestMinor, JoinReleases(supported))
		}
	} else if !rel.Supported() {
		return nil, fmt.Errorf("%s is older than v1.%d, the oldest release the lab supports", rel, OldestMinor)
	}
	res, err := g.run(ctx, dir, "list", "-m", "-json", KubernetesModule+"@"+rel.String())
	if err != nil {
		if listErr != nil {
			err = errors.Join(err, listErr)
		}
		return nil, fmt.Errorf("resolving %s@%s: %w", KubernetesModule, rel, err)
	}
	var m struct{ GoMod string }
	if err := json.Unmarshal(res.stdout, &m); err != nil || m.GoMod == "" {
		return nil, fmt.Errorf("go list -m -json %s@%s gave no GoMod path (output %q, error %v)", KubernetesModule, rel, head(res.stdout, 200), err)
	}
	data, err := os.ReadFile(m.GoMod)
	if err != nil {
		return nil, fmt.Errorf("reading the go.mod of %s %s: %w", KubernetesModule, rel, err)
	}
	return ParseKubernetesModFile(data)
}

// ServedReleases lists the k8s.io/kubernetes releases the module proxy serves, oldest first.
// dir is any folder outside a Go module.
func ServedReleases(ctx context.Context, goBin, dir string) ([]Release, error) {
	res, err := newGoTool(goBin).run(ctx, dir, "list", "-m", "-versions", "-json", KubernetesModule)
	if err != nil {
		return nil, fmt.Errorf("listing the releases of %s on the Go module proxy: %w", KubernetesModule, err)
	}
	return ParseVersionList(res.stdout)
}

func buildKubernetes(ctx context.Context, g goTool, dir, bin string, k *KubernetesModFile, rel Release, in buildInputs, opts Options) (stamp, error) {
	mod, err := BuildGoMod(k, rel)
	if err != nil {
		return stamp{}, err
	}
	modDir := filepath.Join(dir, "build")
	if err := writeModule(modDir, mod, nil); err != nil {
		return stamp{}, err
	}
	res, err := goBuild(ctx, g, modDir, bin, in, "", in.Package, opts)
	if err != nil {
		return stamp{}, err
	}
	return newStamp(in, res, bin), nil
}

func buildEtcd(ctx context.Context, g goTool, dir, bin string, k *KubernetesModFile, rel Release, in buildInputs, opts Options) (stamp, error) {
	mod, err := EtcdGoMod(k, rel)
	if err != nil {
		return stamp{}, err
	}
	modDir := filepath.Join(dir, "etcd")
	if err := writeModule(modDir, mod, map[string][]byte{"main.go": etcdMain}); err != nil {
		return stamp{}, err
	}
	res, err := goBuild(ctx, g, modDir, bin, in, k.EtcdVersion, ".", opts)
	if err != nil {
		return stamp{}, err
	}
	st := newStamp(in, res, bin)
	st.EtcdVersion = k.EtcdVersion
	return st, nil
}

// goBuild builds pkg in modDir into bin, writing a temporary file first so that an
// interrupted build never leaves a binary that looks complete.
func goBuild(ctx context.Context, g goTool, modDir, bin string, in buildInputs, etcdVersion, pkg string, opts Options) (runResult, error) {
	what := label(in, etcdVersion)
	opts.Logger.Info(fmt.Sprintf("upstream: building %s (cold builds take %s)", what, coldBuildTime[in.Component]))
	done := make(chan struct{})
	defer close(done)
	start := time.Now()
	go func() {
		// A cold kube-apiserver build is minutes of silence otherwise.
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				opts.Logger.Info(fmt.Sprintf("upstream: still building %s (%s)", what, time.Since(start).Round(time.Second)))
			}
		}
	}()
	tmp := bin + ".tmp"
	res, err := g.run(ctx, modDir, "build", "-p", fmt.Sprint(opts.Parallel), "-trimpath", "-ldflags", in.Ldflags, "-o", tmp, pkg)
	if err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("building %s: %w", what, err)
	}
	if err := install(tmp, bin); err != nil {
		return res, err
	}
	size := int64(0)
	if fi, err := os.Stat(bin); err == nil {
		size = fi.Size()
	}
	opts.Logger.Info(fmt.Sprintf("upstream: built %s in %s (CPU %s, peak RSS %.1f GB, binary %d MB)",
		what, res.elapsed.Round(time.Second), res.cpu.Round(time.Second), float64(res.maxRSSKB)/(1<<20), size>>20))
	return res, nil
}

// writeModule writes a generated build module. go.mod is rewritten (and go.sum dropped)
// only when the generated text changed: the go command adds the indirect requirements it
// resolves to go.mod, and keeping them saves resolving the graph again.
func writeModule(dir string, mod []byte, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gen := filepath.Join(dir, "go.mod.generated")
	if old, err := os.ReadFile(gen); err != nil || !bytes.Equal(old, mod) {
		os.Remove(filepath.Join(dir, "go.sum"))
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), mod, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(gen, mod, 0o644); err != nil {
			return err
		}
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// label names a binary in progress lines: "kube-proxy v1.37.2", "etcd v3.7.0 (for v1.37.2)".
func label(in buildInputs, etcdVersion string) string {
	if in.Component == Etcd && etcdVersion != "" {
		return fmt.Sprintf("etcd %s (for %s)", etcdVersion, in.Version)
	}
	return in.Component + " " + in.Version
}

// buildInputs is everything a binary depends on besides immutable module contents.
type buildInputs struct {
	Component string
	Version   string
	Package   string `json:",omitempty"`
	Program   string `json:",omitempty"` // sha256 of the etcd program
	Go        string `json:",omitempty"` // empty, as Ldflags and Generator, for a download
	GOOS      string
	GOARCH    string
	Ldflags   string `json:",omitempty"`
	Generator int    `json:",omitempty"`
}

// stamp is written beside each binary as <binary>.stamp.
type stamp struct {
	// Source is "build" or "download". Stamps written before downloads existed have none:
	// they are builds.
	Source string `json:",omitempty"`
	// Inputs are a build's inputs; a download's holds only Component, Version, GOOS and
	// GOARCH (see downloadInputs).
	Inputs      buildInputs
	EtcdVersion string `json:",omitempty"`
	// URL and Checksum say where a download came from and the published digest it matched
	// ("sha512:<hex>"; for etcd, the tarball's sha256 from SHA256SUMS).
	URL      string `json:",omitempty"`
	Checksum string `json:",omitempty"`
	// SHA256 is the binary's, checked on every use.
	SHA256    string
	BuildTime string `json:",omitempty"`
	CPUTime   string `json:",omitempty"`
	MaxRSSKB  int64  `json:",omitempty"`
}

func (st stamp) source() Source {
	if st.Source == string(SourceDownload) {
		return SourceDownload
	}
	return SourceBuild
}

// origin says where a cached binary came from, for progress lines.
func (st stamp) origin() string {
	if st.source() == SourceDownload {
		return "downloaded from " + st.URL
	}
	return "built from the Go module proxy"
}

// downloadInputs keeps of a build's inputs those a release binary depends on: the toolchain
// and flags it was built with are the release's, not this machine's.
func downloadInputs(in buildInputs) buildInputs {
	return buildInputs{Component: in.Component, Version: in.Version, GOOS: in.GOOS, GOARCH: in.GOARCH}
}

func newStamp(in buildInputs, res runResult, bin string) stamp {
	st := stamp{Source: string(SourceBuild), Inputs: in, BuildTime: res.elapsed.Round(time.Millisecond).String(),
		CPUTime: res.cpu.Round(time.Millisecond).String(), MaxRSSKB: res.maxRSSKB}
	st.SHA256, _ = fileSHA256(bin)
	return st
}

// entryProblem says why a cache entry is not used. corrupt marks an entry that was
// complete once and is not now (or never was): logged, since nobody expects it.
type entryProblem struct {
	why     string
	corrupt bool
}

// checkEntry reports whether bin is a usable cache entry for the build inputs in under the
// source setting, nil when it is. A download matches on component, version and platform;
// a build on all its inputs. auto takes either; download and build only their own. Every
// use hashes the binary: a truncated or changed file never runs.
func checkEntry(bin string, in buildInputs, src Source) (stamp, *entryProblem) {
	fi, err := os.Stat(bin)
	if os.IsNotExist(err) {
		return stamp{}, &entryProblem{why: "not cached"}
	}
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return stamp{}, &entryProblem{why: "not an executable file", corrupt: true}
	}
	data, err := os.ReadFile(bin + ".stamp")
	if err != nil {
		return stamp{}, &entryProblem{why: "its stamp is missing (an interrupted build or download)", corrupt: true}
	}
	var st stamp
	if err := json.Unmarshal(data, &st); err != nil {
		return stamp{}, &entryProblem{why: "its stamp does not parse: " + err.Error(), corrupt: true}
	}
	switch {
	case src != SourceAuto && st.source() != src:
		return stamp{}, &entryProblem{why: fmt.Sprintf("it was %s, and %s=%s", st.origin(), SourceEnv, src)}
	case st.source() == SourceDownload && st.Inputs != downloadInputs(in):
		return stamp{}, &entryProblem{why: "downloaded for another release or platform"}
	case st.source() == SourceBuild && st.Inputs != in:
		return stamp{}, &entryProblem{why: "built with other inputs"}
	case st.SHA256 == "":
		return stamp{}, &entryProblem{why: "its stamp records no sha256", corrupt: true}
	}
	got, err := fileSHA256(bin)
	if err != nil {
		return stamp{}, &entryProblem{why: err.Error(), corrupt: true}
	}
	if got != st.SHA256 {
		return stamp{}, &entryProblem{why: fmt.Sprintf("its sha256 is %s, its stamp records %s (%d bytes: truncated or changed)", got, st.SHA256, fi.Size()), corrupt: true}
	}
	return st, nil
}

// writeStamp writes through a temporary file, so a stamp is whole or absent.
func writeStamp(bin string, st stamp) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := bin + ".stamp.tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, bin+".stamp")
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// lockDir takes an exclusive lock on a release's cache folder, so two test binaries or a
// test and `make upstream-build` never write the same build module at once.
func lockDir(ctx context.Context, dir string, log *slog.Logger) (func(), error) {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the build lock: %w", err)
	}
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !waited {
			log.Info(fmt.Sprintf("upstream: waiting for another build in %s to finish (lock %s)", dir, path))
			waited = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
