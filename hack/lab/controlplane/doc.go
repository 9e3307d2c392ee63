// Package controlplane runs a real Kubernetes control plane on the host's loopback for the
// lab cluster: etcd, kube-apiserver and kube-controller-manager of an upstream release
// (built by hack/lab/upstream), each a child process whose PID is recorded and by which
// it is stopped. No kubelet or scheduler runs: tests create Nodes and Pods themselves and
// mark Pods ready as a kubelet would; the controller manager's endpointslice controller
// turns them into EndpointSlices for the kube-proxy under test.
//
// Everything listens on 127.0.0.1 only. The apiserver advertises 10.0.2.2, the address
// under which a QEMU guest on user networking reaches the host's loopback, so kube-proxy in
// the lab guest and the `kubernetes` Service's endpoint both point at it.
//
// The PKI is generated at each start with client-go's util/cert and util/keyutil: a CA, the
// serving certificates it signs (PKI.ServingPair, also for the lab node agents), the
// service-account key and bearer tokens (a static token file) for admin, kube-proxy and the
// controller manager, with a kubeconfig for each (tools/clientcmd).
package controlplane
