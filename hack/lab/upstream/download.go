package upstream

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// Timeouts of the release downloads. The first request to a host is the reachability probe:
// DNS, connect, TLS and the whole (small) checksum file must come within probeTimeout, so a
// firewall that drops packets sends auto to the source build within seconds rather than
// after the system's connect timeout of minutes. A binary's transfer has no overall limit.
const (
	probeTimeout          = 4 * time.Second
	dialTimeout           = 3 * time.Second
	tlsHandshakeTimeout   = 3 * time.Second
	responseHeaderTimeout = 15 * time.Second
	// smallFileTimeout bounds checksum files from a host that has answered already.
	smallFileTimeout = 30 * time.Second
	// maxDownload caps one file, so a broken mirror cannot fill the disk (kube-apiserver is
	// ~120 MB).
	maxDownload = 1 << 30
)

// fetcher downloads release binaries and their published checksums.
type fetcher struct {
	client              *http.Client
	probeTimeout        time.Duration
	releaseURL, etcdURL string
	// answered and unreachable record each host's probe, so a dead host costs one timeout.
	answered    map[string]bool
	unreachable map[string]*UnreachableError
}

func newFetcher(o Options) *fetcher {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ForceAttemptHTTP2:     true,
		IdleConnTimeout:       90 * time.Second,
	}
	pt := o.probeTimeout
	if pt <= 0 {
		pt = probeTimeout
	}
	return &fetcher{
		client: &http.Client{Transport: tr}, probeTimeout: pt,
		releaseURL: o.ReleaseURL, etcdURL: o.EtcdURL,
		answered: map[string]bool{}, unreachable: map[string]*UnreachableError{},
	}
}

// UnreachableError says a release host did not answer: a name that does not resolve, a
// refused or dropped connection, or no complete answer within the probe timeout. It is
// the only download failure after which auto builds from source instead.
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("release host %s not reachable (%v)", e.Host, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// probe asks each host of the base URLs, all at once, for any answer within the probe
// timeout, so that auto's fallback starts within one timeout however many hosts are dead.
// Any HTTP status counts as an answer; redirects are not followed.
func (f *fetcher) probe(ctx context.Context, baseURLs ...string) {
	type result struct {
		host string
		err  error
	}
	results := make(chan result)
	probing := map[string]bool{}
	for _, base := range baseURLs {
		u, err := url.Parse(base)
		if err != nil || probing[u.Host] || f.answered[u.Host] || f.unreachable[u.Host] != nil {
			continue
		}
		probing[u.Host] = true
		go func() {
			reqCtx, cancel := context.WithTimeout(ctx, f.probeTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(reqCtx, http.MethodHead, base+"/", nil)
			if err == nil {
				c := *f.client
				c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
				var resp *http.Response
				if resp, err = c.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("no answer within %s: %w", f.probeTimeout, err)
			}
			results <- result{u.Host, err}
		}()
	}
	for range probing {
		r := <-results
		switch {
		case r.err == nil:
			f.answered[r.host] = true
		case ctx.Err() == nil && reachability(r.err):
			f.unreachable[r.host] = &UnreachableError{Host: r.host, Err: r.err}
		}
		// Anything else (a refused certificate, a cancelled run) is met again, and
		// reported, by the first real request.
	}
}

// getSmall fetches a checksum file. found is false on HTTP 404; other statuses are errors.
func (f *fetcher) getSmall(ctx context.Context, rawURL string) (body []byte, found bool, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, false, err
	}
	if ue := f.unreachable[u.Host]; ue != nil {
		return nil, false, ue
	}
	limit := smallFileTimeout
	if !f.answered[u.Host] {
		limit = f.probeTimeout
	}
	reqCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	resp, err := f.do(reqCtx, rawURL)
	if err == nil {
		defer resp.Body.Close()
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		if !f.answered[u.Host] && reachability(err) {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no answer within %s: %w", limit, err)
			}
			f.unreachable[u.Host] = &UnreachableError{Host: u.Host, Err: err}
			return nil, false, f.unreachable[u.Host]
		}
		return nil, false, fmt.Errorf("GET %s: %w", rawURL, err)
	}
	f.answered[u.Host] = true
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, nil
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("GET %s: HTTP %s, expected 200 OK", rawURL, resp.Status)
	}
	return body, true, nil
}

func (f *fetcher) do(ctx context.Context, rawURL string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	return f.client.Do(req)
}

// reachability reports whether err means that nobody answered. A certificate the client
// refuses means someone answered who should not have: that is an error, not a fallback.
func reachability(err error) bool {
	var (
		unknownCA *x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		verify    *tls.CertificateVerificationError
	)
	return !errors.As(err, &unknownCA) && !errors.As(err, &invalid) && !errors.As(err, &hostname) && !errors.As(err, &verify)
}

// getFile streams rawURL into tmp and returns the hex digests of what it wrote, by
// algorithm ("sha256", "sha512"). A short body (Content-Length not reached, connection
// cut) is an error and tmp is removed.
func (f *fetcher) getFile(ctx context.Context, rawURL, tmp string) (map[string]string, error) {
	resp, err := f.do(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %s, expected 200 OK", rawURL, resp.Status)
	}
	s256, s512 := sha256.New(), sha512.New()
	n, err := writeTemp(tmp, io.LimitReader(resp.Body, maxDownload+1), s256, s512)
	switch {
	case err != nil:
		return nil, fmt.Errorf("GET %s: transfer cut after %d bytes: %w", rawURL, n, err)
	case n > maxDownload:
		err = fmt.Errorf("GET %s: more than %d bytes, expected a release binary", rawURL, maxDownload)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		err = fmt.Errorf("GET %s: got %d bytes, Content-Length says %d: truncated", rawURL, n, resp.ContentLength)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return map[string]string{"sha256": hex.EncodeToString(s256.Sum(nil)), "sha512": hex.EncodeToString(s512.Sum(nil))}, nil
}

// writeTemp writes r to the temporary file tmp, through the hashes, and syncs it. On an
// error tmp is removed; n says how far it got.
func writeTemp(tmp string, r io.Reader, hashes ...hash.Hash) (n int64, err error) {
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	w := []io.Writer{out}
	for _, h := range hashes {
		w = append(w, h)
	}
	n, err = io.Copy(io.MultiWriter(w...), r)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
	}
	return n, err
}

// publishedChecksum reads <binURL>.sha512, else <binURL>.sha256: "sha512", hex. Neither
// being published is a refusal: an unverified binary is never installed.
func (f *fetcher) publishedChecksum(ctx context.Context, binURL string) (algo, sum string, err error) {
	for _, algo := range []string{"sha512", "sha256"} {
		body, found, err := f.getSmall(ctx, binURL+"."+algo)
		if err != nil {
			return "", "", err
		}
		if !found {
			continue
		}
		sum, err := parseChecksum(body, algo, "")
		if err != nil {
			return "", "", fmt.Errorf("%s.%s: %w", binURL, algo, err)
		}
		return algo, sum, nil
	}
	return "", "", fmt.Errorf("no checksum published beside %s (.sha512 and .sha256 both HTTP 404: no such release, or a mirror without "+
		"checksums): refusing a binary that cannot be verified; check the version and %s, or use %s=build", binURL, ReleaseURLEnv, SourceEnv)
}

// parseChecksum finds the digest in a checksum file: the first field of the only line (a
// .sha256/.sha512 beside a binary) or of the line naming file (SHA256SUMS).
func parseChecksum(body []byte, algo, file string) (string, error) {
	want := map[string]int{"sha256": 64, "sha512": 128}[algo]
	for _, line := range strings.Split(string(body), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || (file != "" && (len(fields) != 2 || strings.TrimPrefix(fields[1], "*") != file)) {
			continue
		}
		sum := strings.ToLower(fields[0])
		if _, err := hex.DecodeString(sum); err != nil || len(sum) != want {
			return "", fmt.Errorf("expected a %d-digit hex %s, found %q", want, algo, head([]byte(fields[0]), 140))
		}
		return sum, nil
	}
	if file != "" {
		return "", fmt.Errorf("no line for %s: refusing a file that cannot be verified", file)
	}
	return "", fmt.Errorf("empty checksum file: refusing a binary that cannot be verified")
}

// ChecksumError is a download whose digest is not the published one. auto does not build
// from source after it: it is not an unreachable host but a corrupt transfer, a broken
// mirror or tampering, which somebody should look at.
type ChecksumError struct {
	What, URL, Algo, Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s: the %s of %s is %s, but the published checksum is %s: refused, nothing installed "+
		"(a corrupt transfer, a broken mirror or tampering; retry, or check %s/%s)", e.What, e.Algo, e.URL, e.Got, e.Want, ReleaseURLEnv, EtcdURLEnv)
}

// downloadKubernetes installs one Kubernetes release binary at bin.
func (f *fetcher) downloadKubernetes(ctx context.Context, rel Release, in buildInputs, bin string, log *slog.Logger) (stamp, error) {
	what := label(in, "")
	binURL := fmt.Sprintf("%s/%s/bin/%s/%s/%s", f.releaseURL, rel, in.GOOS, in.GOARCH, in.Component)
	algo, want, err := f.publishedChecksum(ctx, binURL)
	if err != nil {
		return stamp{}, err
	}
	start := time.Now()
	tmp := bin + ".download"
	sums, err := f.getFile(ctx, binURL, tmp)
	if err != nil {
		return stamp{}, err
	}
	if sums[algo] != want {
		os.Remove(tmp)
		return stamp{}, &ChecksumError{What: what, URL: binURL, Algo: algo, Want: want, Got: sums[algo]}
	}
	if err := install(tmp, bin); err != nil {
		return stamp{}, err
	}
	log.Info(fmt.Sprintf("upstream: %s: downloaded from %s (%s verified, %s)", what, binURL, algo, sizeAndTime(bin, start)))
	return stamp{Source: string(SourceDownload), Inputs: in, URL: binURL, Checksum: algo + ":" + want, SHA256: sums["sha256"]}, nil
}

// downloadEtcd installs the etcd binary of etcd's release tarball at bin, checked against
// the release's SHA256SUMS.
func (f *fetcher) downloadEtcd(ctx context.Context, etcdVersion string, in buildInputs, bin string, log *slog.Logger) (stamp, error) {
	if !semver.IsValid(etcdVersion) {
		return stamp{}, fmt.Errorf("etcd version %q is not a semantic version", etcdVersion)
	}
	what := label(in, etcdVersion)
	v := strings.TrimPrefix(etcdVersion, "v")
	dir := fmt.Sprintf("etcd-v%s-%s-%s", v, in.GOOS, in.GOARCH)
	tarURL := fmt.Sprintf("%s/v%s/%s.tar.gz", f.etcdURL, v, dir)
	sumsURL := fmt.Sprintf("%s/v%s/SHA256SUMS", f.etcdURL, v)
	body, found, err := f.getSmall(ctx, sumsURL)
	if err != nil {
		return stamp{}, err
	}
	if !found {
		return stamp{}, fmt.Errorf("%s: no SHA256SUMS published at %s (HTTP 404): refusing a tarball that cannot be verified; check %s or use UPSTREAM_SOURCE=build",
			what, sumsURL, EtcdURLEnv)
	}
	want, err := parseChecksum(body, "sha256", dir+".tar.gz")
	if err != nil {
		return stamp{}, fmt.Errorf("%s: %w", sumsURL, err)
	}
	start := time.Now()
	tarball := bin + ".tar.gz.download"
	defer os.Remove(tarball)
	sums, err := f.getFile(ctx, tarURL, tarball)
	if err != nil {
		return stamp{}, err
	}
	if sums["sha256"] != want {
		return stamp{}, &ChecksumError{What: what, URL: tarURL, Algo: "sha256", Want: want, Got: sums["sha256"]}
	}
	tmp := bin + ".download"
	sha, err := extractFile(tarball, dir+"/etcd", tmp)
	if err != nil {
		return stamp{}, fmt.Errorf("%s: %w", tarURL, err)
	}
	if err := install(tmp, bin); err != nil {
		return stamp{}, err
	}
	log.Info(fmt.Sprintf("upstream: %s: downloaded from %s (sha256 verified against SHA256SUMS, %s)", what, tarURL, sizeAndTime(bin, start)))
	return stamp{Source: string(SourceDownload), Inputs: in, EtcdVersion: etcdVersion, URL: tarURL,
		Checksum: "sha256:" + want, SHA256: sha}, nil
}

// extractFile writes the regular file name of a .tar.gz to dst and returns its sha256.
func extractFile(tarball, name, dst string) (string, error) {
	in, err := os.Open(tarball)
	if err != nil {
		return "", err
	}
	defer in.Close()
	gz, err := gzip.NewReader(in)
	if err != nil {
		return "", fmt.Errorf("expected a gzip tarball: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", fmt.Errorf("expected %s in the tarball, found no such file", name)
		}
		if err != nil {
			return "", fmt.Errorf("reading the tarball: %w", err)
		}
		if path.Clean(h.Name) != name || h.Typeflag != tar.TypeReg {
			continue
		}
		s := sha256.New()
		if _, err := writeTemp(dst, io.LimitReader(tr, maxDownload), s); err != nil {
			return "", fmt.Errorf("extracting %s: %w", name, err)
		}
		return hex.EncodeToString(s.Sum(nil)), nil
	}
}

// install makes a complete temporary file the binary. The old stamp goes first, so that a
// crash in between leaves an entry without a stamp, which is redone, never used.
func install(tmp, bin string) error {
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Remove(bin + ".stamp"); err != nil && !os.IsNotExist(err) {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func sizeAndTime(bin string, start time.Time) string {
	size := int64(0)
	if fi, err := os.Stat(bin); err == nil {
		size = fi.Size()
	}
	return fmt.Sprintf("%d MB in %s", size>>20, time.Since(start).Round(100*time.Millisecond))
}
