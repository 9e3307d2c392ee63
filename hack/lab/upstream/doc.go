// Package upstream puts the binaries of an upstream Kubernetes release (kube-apiserver,
// kube-controller-manager, kubectl, kube-proxy, ...) and a matching single-member etcd into
// the cache, so the lab can run the real control plane and the real kube-proxy of any
// release without container images. Source (UPSTREAM_SOURCE) says how: the release binaries
// downloaded from dl.k8s.io and etcd's GitHub release, checked against their published
// checksums (download.go), or a build from the Go module proxy, or (auto, the default) the
// download with the build when the release host does not answer. Both leave the same
// layout; each binary's stamp records its source and sha256, checked on every use.
//
// The build: k8s.io/kubernetes cannot be built as a main module from its module zip: its
// go.mod replaces every staging module (k8s.io/api, k8s.io/client-go, ...) with
// ./staging/src/k8s.io/<name>, which the zip lacks. Build therefore generates a small build
// module of its own in the cache that requires k8s.io/kubernetes at the release and maps each
// staging module to the published k8s.io/<name> v0.Y.Z, then runs `go build
// k8s.io/kubernetes/cmd/<component>` in it with the release's version stamped in. etcd comes
// from a tiny program on go.etcd.io/etcd/server/v3/embed, at the etcd version the release's
// go.mod requires.
//
// Layout under the cache root:
//
//	upstream/<version>/build/   generated build module for k8s.io/kubernetes
//	upstream/<version>/etcd/    generated build module for the etcd program
//	upstream/<version>/bin/     the binaries, each with a .stamp of its source (the build's
//	                            inputs, or the download's URL and checksum) and its sha256
package upstream
