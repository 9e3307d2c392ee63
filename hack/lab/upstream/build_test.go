package upstream

import (
	"bytes"
	"context"
	"errors"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// fakeGo is a go command that answers the few invocations Build makes, from testdata, and
// logs each one (arguments and the variables Build must set) to $FAKE_GO_LOG.
const fakeGo = `#!/bin/sh
echo "$* | GOFLAGS=$GOFLAGS GOWORK=$GOWORK CGO_ENABLED=$CGO_ENABLED | $(pwd)" >> "$FAKE_GO_LOG"
case "$1 $2 $3" in
"env GOVERSION ") echo "${FAKE_GOVERSION:-go1.26.8}"; exit 0 ;;
"list -m -versions") cat "$FAKE_VERSIONS"; exit 0 ;;
"list -m -json") echo "{\"Path\":\"k8s.io/kubernetes\",\"Version\":\"v1.37.2\",\"GoMod\":\"$FAKE_GOMOD\"}"; exit 0 ;;
esac
if [ "$1" = build ]; then
	out=""; prev=""; pkg=""
	for a in "$@"; do
		[ "$prev" = "-o" ] && out="$a"
		prev="$a"; pkg="$a"
	done
	[ -n "$FAKE_BUILD_FAIL" ] && { echo "compile error in $pkg" >&2; exit 1; }
	printf '#!/bin/sh\necho %s\n' "$pkg" > "$out" && chmod +x "$out"
	exit 0
fi
echo "fake go: unexpected arguments: $*" >&2
exit 2
`

type fakeGoEnv struct {
	goBin, log, cache string
}

func newFakeGo(t *testing.T) fakeGoEnv {
	t.Helper()
	dir := t.TempDir()
	f := fakeGoEnv{goBin: filepath.Join(dir, "go"), log: filepath.Join(dir, "go.log"), cache: filepath.Join(dir, "cache")}
	if err := os.WriteFile(f.goBin, []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	t.Setenv("FAKE_GO_LOG", f.log)
	t.Setenv("FAKE_VERSIONS", abs("testdata/versions.json"))
	t.Setenv("FAKE_GOMOD", abs("testdata/kubernetes-v1.37.2.go.mod"))
	t.Setenv("GOFLAGS", "-mod=vendor") // Build must override the caller's settings
	t.Setenv("CGO_ENABLED", "1")
	return f
}

// calls returns the go invocations logged since the last call, and clears the log.
func (f fakeGoEnv) calls(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(f.log)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func (f fakeGoEnv) options(components ...string) Options {
	return Options{
		Version: "v1.37.2", Components: components, CacheDir: f.cache, Go: f.goBin,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Source: SourceBuild,
	}
}

func TestBuildGeneratesModulesAndStampsBinaries(t *testing.T) {
	f := newFakeGo(t)
	ctx := context.Background()
	p, err := Build(ctx, f.options(KubeProxy, Etcd))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.cache, "upstream", "v1.37.2")
	if p.Dir != dir || p.BinDir != filepath.Join(dir, "bin") || p.EtcdVersion != "v3.7.0" {
		t.Errorf("Paths = %+v, want Dir %s, EtcdVersion v3.7.0", p, dir)
	}
	calls := f.calls(t)
	want := []string{
		"env GOVERSION | GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 | " + dir,
		"list -m -versions -json k8s.io/kubernetes | GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 | " + dir,
		"list -m -json k8s.io/kubernetes@v1.37.2 | GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 | " + dir,
		"build -p 2 -trimpath -ldflags " + Ldflags(Release{1, 37, 2, ""}) + " -o " + filepath.Join(dir, "bin", "kube-proxy.tmp") +
			" k8s.io/kubernetes/cmd/kube-proxy | GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 | " + filepath.Join(dir, "build"),
		"build -p 2 -trimpath -ldflags -s -w -o " + filepath.Join(dir, "bin", "etcd.tmp") +
			" . | GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 | " + filepath.Join(dir, "etcd"),
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("go invocations:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	for c, pkg := range map[string]string{KubeProxy: "k8s.io/kubernetes/cmd/kube-proxy", Etcd: "."} {
		out, err := os.ReadFile(p.Binary(c))
		if err != nil || !strings.Contains(string(out), pkg) {
			t.Errorf("binary of %s: %q, %v; want the fake build of %s", c, out, err, pkg)
		}
		if _, err := os.Stat(p.Binary(c) + ".stamp"); err != nil {
			t.Errorf("no stamp for %s: %v", c, err)
		}
	}
	k := readKubernetesModFile(t)
	wantMod, _ := BuildGoMod(k, Release{1, 37, 2, ""})
	if got, _ := os.ReadFile(filepath.Join(dir, "build", "go.mod")); !bytes.Equal(got, wantMod) {
		t.Errorf("build/go.mod =\n%s\nwant\n%s", got, wantMod)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "etcd", "main.go")); !bytes.Equal(got, etcdMain) {
		t.Errorf("etcd/main.go is not the embedded etcd program")
	}

	// Lookup finds what Build built, and names what it did not.
	if p, err := Lookup(ctx, f.options(Etcd, KubeProxy)); err != nil || p.Binary(Etcd) == "" || p.EtcdVersion != "v3.7.0" {
		t.Errorf("Lookup after Build = %+v, %v; want etcd v3.7.0 and kube-proxy", p, err)
	}
	_, err = Lookup(ctx, f.options(KubeProxy, Kubelet, Kubeadm))
	var nb *NotBuiltError
	if !errors.As(err, &nb) || strings.Join(nb.Components, ",") != "kubelet,kubeadm" {
		t.Errorf("Lookup of unbuilt components = %v, want a NotBuiltError for kubelet,kubeadm", err)
	}
	f.calls(t)

	// Up to date: only the go version is asked for; no network, no build.
	if _, err := Build(ctx, f.options(Etcd, KubeProxy)); err != nil {
		t.Fatal(err)
	}
	if calls := f.calls(t); len(calls) != 1 || !strings.HasPrefix(calls[0], "env GOVERSION") {
		t.Errorf("second Build ran %q, want only `go env GOVERSION`", calls)
	}

	// A new component is built alone; a new toolchain rebuilds everything.
	if _, err := Build(ctx, f.options(KubeProxy, Kubectl)); err != nil {
		t.Fatal(err)
	}
	if got := countBuilds(f.calls(t)); got != "k8s.io/kubernetes/cmd/kubectl" {
		t.Errorf("adding kubectl built %q, want only kubectl", got)
	}
	t.Setenv("FAKE_GOVERSION", "go1.26.9")
	if _, err := Build(ctx, f.options(KubeProxy, Etcd)); err != nil {
		t.Fatal(err)
	}
	if got := countBuilds(f.calls(t)); got != "k8s.io/kubernetes/cmd/kube-proxy ." {
		t.Errorf("after a go upgrade Build built %q, want kube-proxy and etcd", got)
	}
}

func countBuilds(calls []string) string {
	var pkgs []string
	for _, c := range calls {
		if strings.HasPrefix(c, "build ") {
			args, _, _ := strings.Cut(c, " | ")
			f := strings.Fields(args)
			pkgs = append(pkgs, f[len(f)-1])
		}
	}
	return strings.Join(pkgs, " ")
}

func TestBuildFailures(t *testing.T) {
	tests := []struct {
		name    string
		opts    func(Options) Options
		env     map[string]string
		wantErr string
	}{
		{
			name:    "not served",
			opts:    func(o Options) Options { o.Version = "v1.37.9"; return o },
			wantErr: "k8s.io/kubernetes v1.37.9 is not served by the Go module proxy ($GOPROXY); served releases from v1.34 on: v1.34.0 v1.34.2 v1.34.3 v1.34.4 v1.35.4 v1.36.1 v1.36.3 v1.37.2",
		},
		{
			name:    "too old",
			opts:    func(o Options) Options { o.Version = "v1.33.13"; return o },
			wantErr: "v1.33.13 is older than v1.34, the oldest release the lab supports; served releases from v1.34 on: v1.34.0",
		},
		{
			name:    "bad version",
			opts:    func(o Options) Options { o.Version = "1.37"; return o },
			wantErr: `version "1.37" is not a full Kubernetes release version`,
		},
		{
			name:    "compile error",
			env:     map[string]string{"FAKE_BUILD_FAIL": "1"},
			wantErr: "building kube-proxy v1.37.2: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGo(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			o := f.options(KubeProxy)
			if tt.opts != nil {
				o = tt.opts(o)
			}
			_, err := Build(context.Background(), o)
			wanterr.Check(t, err, tt.wantErr)
			if tt.name == "compile error" {
				if !strings.Contains(err.Error(), "compile error in k8s.io/kubernetes/cmd/kube-proxy") {
					t.Errorf("error lacks the go command's stderr: %v", err)
				}
				matches, _ := filepath.Glob(filepath.Join(f.cache, "upstream", "v1.37.2", "bin", "*"))
				if len(matches) != 0 {
					t.Errorf("a failed build left %q", matches)
				}
			}
		})
	}
}

func TestWriteModuleKeepsResolvedState(t *testing.T) {
	dir := t.TempDir()
	mod := []byte("module a\n\ngo 1.26.0\n")
	if err := writeModule(dir, mod, nil); err != nil {
		t.Fatal(err)
	}
	// What the go command does to the module while building.
	resolved := []byte("module a\n\ngo 1.26.0\n\nrequire x.io/y v1.0.0 // indirect\n")
	os.WriteFile(filepath.Join(dir, "go.mod"), resolved, 0o644)
	os.WriteFile(filepath.Join(dir, "go.sum"), []byte("x.io/y v1.0.0 h1:abc=\n"), 0o644)

	if err := writeModule(dir, mod, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "go.mod")); !bytes.Equal(got, resolved) {
		t.Errorf("unchanged generation rewrote go.mod:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err != nil {
		t.Errorf("unchanged generation dropped go.sum: %v", err)
	}

	changed := []byte("module a\n\ngo 1.26.1\n")
	if err := writeModule(dir, changed, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "go.mod")); !bytes.Equal(got, changed) {
		t.Errorf("changed generation left go.mod as\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); !os.IsNotExist(err) {
		t.Errorf("changed generation kept go.sum (err %v)", err)
	}
}

func TestCheckEntry(t *testing.T) {
	in := buildInputs{Component: "kube-proxy", Version: "v1.37.2", Go: "go1.26.8", GOOS: "linux", GOARCH: "amd64", Ldflags: "-s -w", Generator: generatorRevision}
	x := sha256Hex([]byte("x"))
	// oldStamp is a stamp as written before downloads existed: no Source, build times.
	oldStamp := func(in buildInputs, sum string) string {
		return `{"Inputs": {"Component": "` + in.Component + `", "Version": "` + in.Version + `", "Go": "` + in.Go + `", "GOOS": "linux", "GOARCH": "amd64", ` +
			`"Ldflags": "-s -w", "Generator": 1}, "SHA256": "` + sum + `", "BuildTime": "40.6s", "CPUTime": "17s", "MaxRSSKB": 1588976}`
	}
	otherGo := in
	otherGo.Go = "go1.25.0"
	otherRelease := downloadInputs(in)
	otherRelease.Version = "v1.36.3"
	tests := []struct {
		name string
		src  Source
		// mode is the binary's, which holds "x"; 0: no binary.
		mode os.FileMode
		// stamp is written beside the binary; raw, when set, is the stamp file as it stands.
		stamp   *stamp
		raw     string
		ok      bool
		corrupt bool
	}{
		{name: "no binary", src: SourceAuto},
		{name: "binary without stamp", src: SourceAuto, mode: 0o755, corrupt: true},
		{name: "not executable", src: SourceAuto, mode: 0o644, stamp: &stamp{Inputs: in, SHA256: x}, corrupt: true},
		{name: "other inputs", src: SourceAuto, mode: 0o755, stamp: &stamp{Inputs: otherGo, SHA256: x}},
		{name: "corrupt stamp", src: SourceAuto, mode: 0o755, raw: "{", corrupt: true},
		{name: "stamp without sha256", src: SourceAuto, mode: 0o755, stamp: &stamp{Inputs: in}, corrupt: true},
		{name: "truncated binary", src: SourceAuto, mode: 0o755, stamp: &stamp{Inputs: in, SHA256: sha256Hex([]byte("xyz"))}, corrupt: true},
		{name: "matching build", src: SourceAuto, mode: 0o755, stamp: &stamp{Source: "build", Inputs: in, SHA256: x}, ok: true},
		{name: "stamp of the code before downloads", src: SourceAuto, mode: 0o755, raw: oldStamp(in, x), ok: true},
		{name: "stamp of the code before downloads, build mode", src: SourceBuild, mode: 0o755, raw: oldStamp(in, x), ok: true},
		{name: "build wanted as a download", src: SourceDownload, mode: 0o755, raw: oldStamp(in, x)},
		{name: "matching download, any go", src: SourceAuto, mode: 0o755,
			stamp: &stamp{Source: "download", Inputs: downloadInputs(in), URL: "http://h/k", Checksum: "sha512:00", SHA256: x}, ok: true},
		{name: "download wanted as a build", src: SourceBuild, mode: 0o755, stamp: &stamp{Source: "download", Inputs: downloadInputs(in), SHA256: x}},
		{name: "download of another release", src: SourceDownload, mode: 0o755, stamp: &stamp{Source: "download", Inputs: otherRelease, SHA256: x}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "kube-proxy")
			if tt.mode != 0 {
				if err := os.WriteFile(bin, []byte("x"), tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			if tt.stamp != nil {
				if err := writeStamp(bin, *tt.stamp); err != nil {
					t.Fatal(err)
				}
			}
			if tt.raw != "" {
				if err := os.WriteFile(bin+".stamp", []byte(tt.raw), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, problem := checkEntry(bin, in, tt.src)
			if ok := problem == nil; ok != tt.ok || (problem != nil && problem.corrupt != tt.corrupt) {
				t.Errorf("checkEntry = %+v, want usable %v, corrupt %v", problem, tt.ok, tt.corrupt)
			}
		})
	}
}

func TestLockDirSerializesBuilds(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	unlock, err := lockDir(context.Background(), dir, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	if _, err := lockDir(ctx, dir, log); err == nil {
		t.Fatal("a second lock was granted while the first was held")
	}
	unlock()
	unlock2, err := lockDir(context.Background(), dir, log)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	unlock2()
}

// The etcd program is stored as text (its imports are not this module's dependencies), so
// check here what the compiler and gofmt would.
func TestEtcdProgramIsFormattedGo(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", etcdMain, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name.Name != "main" {
		t.Errorf("package %s, want main", f.Name.Name)
	}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if strings.Contains(path, ".") && path != "go.etcd.io/etcd/server/v3/embed" {
			t.Errorf("imports %s; the etcd build module only requires go.etcd.io/etcd/server/v3", path)
		}
	}
	formatted, err := format.Source(etcdMain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(formatted, etcdMain) {
		t.Error("etcdmain.go.txt is not gofmt-formatted")
	}
}
