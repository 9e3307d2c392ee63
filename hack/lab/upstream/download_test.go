package upstream

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// releaseTree is a fake dl.k8s.io and etcd release host: every file it serves, by path.
// Tests break it by editing files before the server starts.
type releaseTree map[string][]byte

const fakeEtcdVersion = "3.7.0" // what testdata/kubernetes-v1.37.2.go.mod requires

func kubePath(c string) string {
	return fmt.Sprintf("/release/v1.37.2/bin/%s/%s/%s", runtime.GOOS, runtime.GOARCH, c)
}

func etcdTarballName() string {
	return fmt.Sprintf("etcd-v%s-%s-%s.tar.gz", fakeEtcdVersion, runtime.GOOS, runtime.GOARCH)
}

func newReleaseTree(t *testing.T) releaseTree {
	t.Helper()
	tree := releaseTree{}
	for _, c := range []string{KubeAPIServer, KubeControllerManager, Kubectl, KubeProxy} {
		bin := []byte("#!/bin/sh\necho released " + c + "\n")
		s256, s512 := sha256.Sum256(bin), sha512.Sum512(bin)
		tree[kubePath(c)] = bin
		// dl.k8s.io publishes the bare digest.
		tree[kubePath(c)+".sha256"] = []byte(hex.EncodeToString(s256[:]))
		tree[kubePath(c)+".sha512"] = []byte(hex.EncodeToString(s512[:]))
	}
	var tgz bytes.Buffer
	gz := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(gz)
	dir := strings.TrimSuffix(etcdTarballName(), ".tar.gz")
	for name, body := range map[string]string{"README.md": "etcd\n", "etcdctl": "ctl\n", "etcd": "#!/bin/sh\necho released etcd\n"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir + "/" + name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	sum := sha256.Sum256(tgz.Bytes())
	tree["/etcd/v"+fakeEtcdVersion+"/"+etcdTarballName()] = tgz.Bytes()
	tree["/etcd/v"+fakeEtcdVersion+"/SHA256SUMS"] = []byte(fmt.Sprintf("%x  etcd-v%s-darwin-arm64.zip\n%x  %s\n",
		sha256.Sum256(nil), fakeEtcdVersion, sum, etcdTarballName()))
	return tree
}

// serve starts the fake host on 127.0.0.1. A path in truncated is sent with a
// Content-Length of twice its size and the connection is then closed. requests counts all.
func (tree releaseTree) serve(t *testing.T, truncated map[string]bool, requests *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests != nil {
			requests.Add(1)
		}
		body, ok := tree[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if truncated[r.URL.Path] {
			w.Header().Set("Content-Length", fmt.Sprint(2*len(body)))
			w.Write(body)
			return // the server closes a connection whose body fell short
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// blackHole accepts connections and never answers, like a host behind a firewall that
// lets the handshake through (a dropping firewall only fails sooner at the dial).
func blackHole(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

type logBuffer struct{ bytes.Buffer }

func (f fakeGoEnv) downloadOptions(log *logBuffer, base string, src Source, components ...string) Options {
	o := f.options(components...)
	o.Logger = slog.New(slog.NewTextHandler(log, nil))
	o.Source = src
	o.ReleaseURL, o.EtcdURL = base+"/release", base+"/etcd"
	o.probeTimeout = 300 * time.Millisecond
	return o
}

// leftovers lists the files in bin/ that are neither a binary nor its stamp.
func leftovers(t *testing.T, binDir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(binDir)
	var odd []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".download") || strings.HasSuffix(e.Name(), ".tmp") {
			odd = append(odd, e.Name())
		}
	}
	return odd
}

func TestDownload(t *testing.T) {
	all := []string{KubeAPIServer, KubeControllerManager, Kubectl, KubeProxy, Etcd}
	tests := []struct {
		name      string
		src       Source
		break_    func(tree releaseTree, truncated map[string]bool)
		host      func(t *testing.T, srv *httptest.Server) string // default: the fake host
		wantErr   string                                          // else success
		wantBuilt string                                          // packages the fake go built
		wantLog   string
	}{
		{
			name:    "checksums right",
			src:     SourceAuto,
			wantLog: "kube-proxy v1.37.2: downloaded from http://127.0.0.1:",
		},
		{
			name:    "only sha256 published",
			src:     SourceDownload,
			break_:  func(tree releaseTree, _ map[string]bool) { delete(tree, kubePath(KubeProxy)+".sha512") },
			wantLog: "(sha256 verified",
		},
		{
			name: "sha512 wrong",
			src:  SourceAuto,
			break_: func(tree releaseTree, _ map[string]bool) {
				tree[kubePath(KubeProxy)+".sha512"] = bytes.Repeat([]byte("0"), 128)
			},
			wantErr: "but the published checksum is 0000",
		},
		{
			name: "sha512 wrong, sha256 right: sha512 is the one checked",
			src:  SourceDownload,
			break_: func(tree releaseTree, _ map[string]bool) {
				tree[kubePath(Kubectl)+".sha512"] = bytes.Repeat([]byte("f"), 128)
			},
			wantErr: "the sha512 of",
		},
		{
			name: "checksum files missing",
			src:  SourceAuto,
			break_: func(tree releaseTree, _ map[string]bool) {
				delete(tree, kubePath(KubeProxy)+".sha512")
				delete(tree, kubePath(KubeProxy)+".sha256")
			},
			wantErr: "no checksum published beside",
		},
		{
			name:    "checksum file garbled",
			src:     SourceAuto,
			break_:  func(tree releaseTree, _ map[string]bool) { tree[kubePath(KubeProxy)+".sha512"] = []byte("<html>") },
			wantErr: "expected a 128-digit hex sha512",
		},
		{
			name:    "binary missing",
			src:     SourceAuto,
			break_:  func(tree releaseTree, _ map[string]bool) { delete(tree, kubePath(KubeProxy)) },
			wantErr: "HTTP 404 Not Found, expected 200 OK",
		},
		{
			name:    "truncated transfer",
			src:     SourceAuto,
			break_:  func(_ releaseTree, truncated map[string]bool) { truncated[kubePath(KubeProxy)] = true },
			wantErr: "transfer cut after",
		},
		{
			name: "etcd tarball not in SHA256SUMS",
			src:  SourceAuto,
			break_: func(tree releaseTree, _ map[string]bool) {
				tree["/etcd/v"+fakeEtcdVersion+"/SHA256SUMS"] = []byte(fmt.Sprintf("%x  other.tar.gz\n", sha256.Sum256(nil)))
			},
			wantErr: "no line for " + etcdTarballName(),
		},
		{
			name:    "etcd SHA256SUMS missing",
			src:     SourceAuto,
			break_:  func(tree releaseTree, _ map[string]bool) { delete(tree, "/etcd/v"+fakeEtcdVersion+"/SHA256SUMS") },
			wantErr: "no SHA256SUMS published",
		},
		{
			name: "etcd tarball changed",
			src:  SourceAuto,
			break_: func(tree releaseTree, _ map[string]bool) {
				p := "/etcd/v" + fakeEtcdVersion + "/" + etcdTarballName()
				tree[p] = append(bytes.Clone(tree[p]), 0)
			},
			wantErr: "the sha256 of",
		},
		{
			name:      "closed port: auto builds from source",
			src:       SourceAuto,
			host:      func(t *testing.T, _ *httptest.Server) string { return closedPort(t) },
			wantBuilt: "k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kube-proxy .",
			wantLog:   "not reachable (",
		},
		{
			name:      "host never answers: auto builds from source",
			src:       SourceAuto,
			host:      func(t *testing.T, _ *httptest.Server) string { return blackHole(t) },
			wantBuilt: "k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kube-proxy .",
			wantLog:   "no answer within 300ms",
		},
		{
			name:    "host never answers: download fails",
			src:     SourceDownload,
			host:    func(t *testing.T, _ *httptest.Server) string { return blackHole(t) },
			wantErr: "UPSTREAM_SOURCE=download does not build from source",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGo(t)
			tree, truncated := newReleaseTree(t), map[string]bool{}
			if tt.break_ != nil {
				tt.break_(tree, truncated)
			}
			srv := tree.serve(t, truncated, nil)
			host := srv.URL
			if tt.host != nil {
				host = tt.host(t, srv)
			}
			var log logBuffer
			start := time.Now()
			p, err := Build(context.Background(), f.downloadOptions(&log, host, tt.src, all...))
			binDir := filepath.Join(f.cache, "upstream", "v1.37.2", "bin")
			if odd := leftovers(t, binDir); len(odd) != 0 {
				t.Errorf("Build left %q in %s", odd, binDir)
			}
			if tt.wantErr != "" {
				wanterr.Check(t, err, tt.wantErr)
				if tt.src == SourceAuto && !strings.Contains(err.Error(), "builds from source only when the release host does not answer") {
					t.Errorf("auto's error does not say why it did not build from source: %v", err)
				}
				if got := countBuilds(f.calls(t)); got != "" {
					t.Errorf("a refused download was followed by building %q", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v\nlog:\n%s", err, log.String())
			}
			if got := countBuilds(f.calls(t)); got != tt.wantBuilt {
				t.Errorf("built %q, want %q", got, tt.wantBuilt)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, log.String())
			}
			wantSource := SourceDownload
			if tt.wantBuilt != "" {
				wantSource = SourceBuild
				// Loosely: the fallback came after one probe per host, not a connect timeout.
				if d := time.Since(start); d > 30*time.Second {
					t.Errorf("the fallback took %s", d)
				}
			}
			for _, c := range all {
				out, err := os.ReadFile(p.Binary(c))
				if err != nil {
					t.Fatalf("%s: %v", c, err)
				}
				if p.Sources[c] != wantSource {
					t.Errorf("%s: source %s, want %s", c, p.Sources[c], wantSource)
				}
				if wantSource == SourceDownload && string(out) != "#!/bin/sh\necho released "+c+"\n" {
					t.Errorf("%s: %q, want the released file", c, out)
				}
			}
			if p.EtcdIsRelease() != (wantSource == SourceDownload) || p.EtcdVersion != "v"+fakeEtcdVersion {
				t.Errorf("etcd: release %v, version %s", p.EtcdIsRelease(), p.EtcdVersion)
			}
			// What was stored is what Lookup finds, without the network.
			lo := f.downloadOptions(&log, closedPort(t), tt.src, all...)
			if _, err := Lookup(context.Background(), lo); err != nil {
				t.Errorf("Lookup after Build: %v", err)
			}
		})
	}
}

func TestDownloadStamp(t *testing.T) {
	f := newFakeGo(t)
	tree := newReleaseTree(t)
	srv := tree.serve(t, nil, nil)
	var log logBuffer
	p, err := Build(context.Background(), f.downloadOptions(&log, srv.URL, SourceDownload, KubeProxy, Etcd))
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range map[string]stamp{
		KubeProxy: {Source: "download", URL: srv.URL + kubePath(KubeProxy), Checksum: "sha512:" + string(tree[kubePath(KubeProxy)+".sha512"])},
		Etcd: {Source: "download", URL: srv.URL + "/etcd/v" + fakeEtcdVersion + "/" + etcdTarballName(), EtcdVersion: "v" + fakeEtcdVersion,
			Checksum: "sha256:" + hexSum256(tree["/etcd/v"+fakeEtcdVersion+"/"+etcdTarballName()])},
	} {
		data, _ := os.ReadFile(p.Binary(c) + ".stamp")
		bin, _ := os.ReadFile(p.Binary(c))
		fixture.Contains(t, "stamp of "+c, string(data), `"Source": "download"`, `"URL": "`+want.URL+`"`, `"Checksum": "`+want.Checksum+`"`, `"SHA256": "`+hexSum256(bin)+`"`)
		if strings.Contains(string(data), "BuildTime") || strings.Contains(string(data), `"Go"`) {
			t.Errorf("stamp of a download records build details:\n%s", data)
		}
	}
}

func hexSum256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestCorruptCacheEntryIsReplaced(t *testing.T) {
	for _, tt := range []struct {
		name    string
		corrupt func(bin string)
		wantLog string
	}{
		{"truncated", func(bin string) { os.Truncate(bin, 5) }, "its sha256 is"},
		{"changed", func(bin string) { os.WriteFile(bin, []byte("#!/bin/sh\necho evil\n"), 0o755) }, "its sha256 is"},
		{"stamp missing", func(bin string) { os.Remove(bin + ".stamp") }, "its stamp is missing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGo(t)
			tree := newReleaseTree(t)
			var requests atomic.Int64
			srv := tree.serve(t, nil, &requests)
			var log logBuffer
			o := f.downloadOptions(&log, srv.URL, SourceAuto, KubeProxy)
			p, err := Build(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			tt.corrupt(p.Binary(KubeProxy))

			_, err = Lookup(context.Background(), o)
			var nb *NotBuiltError
			if !errors.As(err, &nb) {
				t.Fatalf("Lookup of a corrupt entry = %v, want a NotBuiltError", err)
			}
			if !strings.Contains(log.String(), "is not usable: "+strings.SplitN(tt.wantLog, " ", 2)[0]) || !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, log.String())
			}
			before := requests.Load()
			if p, err = Build(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			if requests.Load() == before {
				t.Error("Build used the corrupt entry without downloading again")
			}
			if out, _ := os.ReadFile(p.Binary(KubeProxy)); string(out) != string(tree[kubePath(KubeProxy)]) {
				t.Errorf("after Build the binary is %q", out)
			}
			if _, err := Lookup(context.Background(), o); err != nil {
				t.Errorf("Lookup after the new download: %v", err)
			}
		})
	}
}

func TestBuildModeNeverTouchesTheNetwork(t *testing.T) {
	f := newFakeGo(t)
	var requests atomic.Int64
	srv := newReleaseTree(t).serve(t, nil, &requests)
	var log logBuffer
	if _, err := Build(context.Background(), f.downloadOptions(&log, srv.URL, SourceBuild, KubeProxy, Etcd)); err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("build mode sent %d requests to the release host", n)
	}
	if got := countBuilds(f.calls(t)); got != "k8s.io/kubernetes/cmd/kube-proxy ." {
		t.Errorf("built %q", got)
	}
}

// The probe must hand over to the source build within 5 s of a host that does not answer
// (issue 15); the transfer of a binary itself is not bounded.
func TestProbeTimeouts(t *testing.T) {
	for name, d := range map[string]time.Duration{"probe": probeTimeout, "dial": dialTimeout, "TLS handshake": tlsHandshakeTimeout} {
		if d <= 0 || d > 5*time.Second {
			t.Errorf("%s timeout %s, want at most 5s", name, d)
		}
	}
	tr := newFetcher(Options{}).client.Transport.(*http.Transport)
	if tr.TLSHandshakeTimeout != tlsHandshakeTimeout || tr.ResponseHeaderTimeout <= 0 {
		t.Errorf("transport timeouts: TLS %s, response header %s", tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout)
	}
	if c := newFetcher(Options{}).client; c.Timeout != 0 {
		t.Errorf("client timeout %s would cut a long transfer", c.Timeout)
	}

	// With the real probe timeout, loosely timed: two dead hosts are probed at once, so the
	// fallback comes after one timeout, not two.
	f := newFakeGo(t)
	var log logBuffer
	o := f.downloadOptions(&log, blackHole(t), SourceAuto, KubeProxy, Kubectl, Etcd)
	o.EtcdURL = blackHole(t) + "/etcd"
	o.probeTimeout = 0
	start := time.Now()
	if _, err := Build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 2*probeTimeout {
		t.Errorf("falling back took %s, want one probe timeout (%s) and a little", d, probeTimeout)
	}
	if n := strings.Count(log.String(), "no answer within "+probeTimeout.String()); n != 3 {
		t.Errorf("%d fallback lines, want 3 (each component says why):\n%s", n, log.String())
	}
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		opts    Options
		want    Options // Source and the URLs
		wantErr string
	}{
		{name: "defaults", want: Options{Source: SourceAuto, ReleaseURL: DefaultReleaseURL, EtcdURL: DefaultEtcdURL}},
		{
			name: "from the environment",
			env:  map[string]string{SourceEnv: "download", ReleaseURLEnv: "https://mirror.example/k8s/", EtcdURLEnv: "http://127.0.0.1:8080/etcd"},
			want: Options{Source: SourceDownload, ReleaseURL: "https://mirror.example/k8s", EtcdURL: "http://127.0.0.1:8080/etcd"},
		},
		{
			name: "options win over the environment",
			env:  map[string]string{SourceEnv: "nonsense"},
			opts: Options{Source: SourceBuild},
			want: Options{Source: SourceBuild, ReleaseURL: DefaultReleaseURL, EtcdURL: DefaultEtcdURL},
		},
		{name: "source misspelt", env: map[string]string{SourceEnv: "downlaod"}, wantErr: `UPSTREAM_SOURCE="downlaod": expected one of auto, download or build`},
		{name: "source in capitals", env: map[string]string{SourceEnv: "AUTO"}, wantErr: `UPSTREAM_SOURCE="AUTO": expected one of auto, download or build`},
		{name: "source option", opts: Options{Source: "never"}, wantErr: `Options.Source="never": expected one of auto, download or build`},
		{name: "ftp", env: map[string]string{ReleaseURLEnv: "ftp://mirror/k8s"}, wantErr: `UPSTREAM_RELEASE_URL="ftp://mirror/k8s": expected an http(s) base URL such as https://dl.k8s.io/release, found scheme "ftp", want http or https`},
		{name: "no scheme", env: map[string]string{EtcdURLEnv: "mirror.example/etcd"}, wantErr: `UPSTREAM_ETCD_URL="mirror.example/etcd": expected an http(s) base URL`},
		{name: "no host", env: map[string]string{ReleaseURLEnv: "https:///k8s"}, wantErr: "found no host"},
		{name: "credentials", env: map[string]string{ReleaseURLEnv: "https://u:p@mirror/k8s"}, wantErr: "found credentials in the URL"},
		{name: "query", env: map[string]string{EtcdURLEnv: "https://mirror/etcd?x=1"}, wantErr: "found a query or fragment"},
		{name: "unparsable", env: map[string]string{ReleaseURLEnv: "http://[::1"}, wantErr: `UPSTREAM_RELEASE_URL="http://[::1": expected an http(s) base URL`},
		{
			name:    "every bad setting is named",
			env:     map[string]string{SourceEnv: "x", ReleaseURLEnv: "x", EtcdURLEnv: "x"},
			wantErr: "UPSTREAM_SOURCE=\"x\": expected one of auto, download or build (auto: download the release binaries, building from the Go module proxy when the release host does not answer)\nUPSTREAM_RELEASE_URL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{SourceEnv, ReleaseURLEnv, EtcdURLEnv} {
				t.Setenv(k, tt.env[k])
			}
			got, err := tt.opts.settings()
			if !wanterr.Check(t, err, tt.wantErr) {
				if tt.opts.Source == "" && CheckEnv() == nil {
					t.Error("CheckEnv accepts what settings refuses")
				}
				return
			}
			if got.Source != tt.want.Source || got.ReleaseURL != tt.want.ReleaseURL || got.EtcdURL != tt.want.EtcdURL {
				t.Errorf("settings = %s %s %s, want %s %s %s", got.Source, got.ReleaseURL, got.EtcdURL, tt.want.Source, tt.want.ReleaseURL, tt.want.EtcdURL)
			}
		})
	}
}

// A malformed setting stops Build and Lookup before they touch the cache or run anything.
func TestBadSettingRefusedBeforeWork(t *testing.T) {
	f := newFakeGo(t)
	t.Setenv(SourceEnv, "sometimes")
	for name, fn := range map[string]func(context.Context, Options) (Paths, error){"Build": Build, "Lookup": Lookup} {
		t.Run(name, func(t *testing.T) {
			o := f.options(KubeProxy)
			o.Source = ""
			_, err := fn(context.Background(), o)
			wanterr.Check(t, err, `UPSTREAM_SOURCE="sometimes": expected one of auto, download or build`)
		})
	}
	if calls := f.calls(t); len(calls) != 0 {
		t.Errorf("the go command ran: %q", calls)
	}
	if _, err := os.Stat(f.cache); !os.IsNotExist(err) {
		t.Errorf("the cache was created (%v)", err)
	}
}
