// Package upstream builds the binaries of an upstream Kubernetes release (kube-apiserver,
// kube-controller-manager, kubectl, kube-proxy, ...) and a matching single-member etcd from
// the Go module proxy, so the lab can run the real control plane and the real kube-proxy of
// any served release without release tarballs or container images.
//
// k8s.io/kubernetes cannot be built as a main module from its module zip: its go.mod replaces
// every staging module (k8s.io/api, k8s.io/client-go, ...) with ./staging/src/k8s.io/<name>,
// which the zip lacks. Build therefore generates a small build module of its own in the
// cache that requires k8s.io/kubernetes at the release and maps each staging module to the
// published k8s.io/<name> v0.Y.Z, then runs `go build k8s.io/kubernetes/cmd/<component>`
// in it with the release's version stamped in. etcd comes from a tiny program on
// go.etcd.io/etcd/server/v3/embed, at the etcd version the release's go.mod requires.
//
// Layout under the cache root:
//
//	upstream/<version>/build/   generated build module for k8s.io/kubernetes
//	upstream/<version>/etcd/    generated build module for the etcd program
//	upstream/<version>/bin/     the binaries, each with a .stamp of the inputs it was built from
package upstream
