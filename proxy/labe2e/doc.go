// Package labe2e runs the reference proxier end to end in the kernel lab: client-go's fake
// clientset feeds a real proxy.Proxier over kernel.Linux() in a Debian guest with IPVS,
// pods are network namespaces (hack/lab/pods) serving HTTP, and the tests send real
// traffic through the virtual servers the proxier programs. Those tests live in files built
// with the lab tag (*_lab_test.go); run them with `go run ./cmd/ipvs-e2e lab test ./proxy/labe2e`
// or `make lab-e2e-proxy`. A plain `go test` runs the harness on the kernel fakes.
package labe2e
