# The reference proxier end to end in the kernel lab: the fake clientset feeding a real
# proxier over the guest's kernel, pods as network namespaces answering with their names,
# real traffic through ClusterIPs and NodePorts (proxy/labe2e, hack/lab/pods).
.PHONY: lab-e2e-proxy
lab-e2e-proxy:
	$(IPVS_E2E) lab test ./proxy/labe2e ./hack/lab/pods
