package upstream

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Source says how Build fills a missing or broken cache entry.
type Source string

const (
	// SourceAuto downloads the release binaries, and builds from the Go module proxy when
	// the release host does not answer. A cached entry of either kind is used as it is.
	SourceAuto Source = "auto"
	// SourceDownload downloads the release binaries only; any failure is an error.
	SourceDownload Source = "download"
	// SourceBuild builds from the Go module proxy and never contacts the release hosts.
	SourceBuild Source = "build"
)

// Sources lists the accepted values of UPSTREAM_SOURCE and --source.
var Sources = []Source{SourceAuto, SourceDownload, SourceBuild}

// Environment variables Build reads for Options left empty.
const (
	SourceEnv     = "UPSTREAM_SOURCE"
	ReleaseURLEnv = "UPSTREAM_RELEASE_URL"
	EtcdURLEnv    = "UPSTREAM_ETCD_URL"
)

// Where the release binaries come from unless a mirror is set.
const (
	// DefaultReleaseURL serves <version>/bin/linux/<arch>/<component> and its .sha256/.sha512.
	DefaultReleaseURL = "https://dl.k8s.io/release"
	// DefaultEtcdURL serves v<etcd>/etcd-v<etcd>-linux-<arch>.tar.gz and v<etcd>/SHA256SUMS.
	DefaultEtcdURL = "https://github.com/etcd-io/etcd/releases/download"
)

// ParseSource checks a source setting; name is what the user set it with (UPSTREAM_SOURCE,
// --source), for the error.
func ParseSource(name, value string) (Source, error) {
	for _, s := range Sources {
		if Source(value) == s {
			return s, nil
		}
	}
	return "", fmt.Errorf("%s=%q: expected one of auto, download or build (auto: download the release binaries, "+
		"building from the Go module proxy when the release host does not answer)", name, value)
}

// CheckBaseURL checks a release base URL and returns it without a trailing slash; its error
// says what was found instead. Only http and https are fetched; credentials, a query or a
// fragment are refused because the URL is logged and written into stamps.
func CheckBaseURL(value string) (string, error) {
	u, err := url.Parse(value)
	if err != nil {
		return "", fmt.Errorf("found no URL: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("found scheme %q, want http or https", u.Scheme)
	case u.Host == "":
		return "", errors.New("found no host")
	case u.User != nil:
		return "", errors.New("found credentials in the URL (it is logged and recorded in stamps)")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", errors.New("found a query or fragment (file names are appended to the URL)")
	}
	return strings.TrimRight(value, "/"), nil
}

// CheckEnv checks UPSTREAM_SOURCE, UPSTREAM_RELEASE_URL and UPSTREAM_ETCD_URL, so that a
// command can refuse a malformed setting before it starts any work.
func CheckEnv() error {
	_, err := Options{}.settings()
	return err
}

// settings fills Source and the base URLs from the environment where they are empty, and
// checks them all.
func (o Options) settings() (Options, error) {
	var errs []error
	name := "Options.Source"
	if o.Source == "" {
		o.Source, name = Source(os.Getenv(SourceEnv)), SourceEnv
		if o.Source == "" {
			o.Source = SourceAuto
		}
	}
	if s, err := ParseSource(name, string(o.Source)); err != nil {
		errs = append(errs, err)
	} else {
		o.Source = s
	}
	for _, u := range []struct {
		field      *string
		name, env  string
		defaultURL string
	}{
		{&o.ReleaseURL, "Options.ReleaseURL", ReleaseURLEnv, DefaultReleaseURL},
		{&o.EtcdURL, "Options.EtcdURL", EtcdURLEnv, DefaultEtcdURL},
	} {
		name := u.name
		if *u.field == "" {
			*u.field, name = os.Getenv(u.env), u.env
			if *u.field == "" {
				*u.field = u.defaultURL
			}
		}
		v, err := CheckBaseURL(*u.field)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: expected an http(s) base URL such as %s, %v", name, *u.field, u.defaultURL, err))
		}
		*u.field = v
	}
	return o, errors.Join(errs...)
}
