package main

import (
	"strconv"

	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// oomScoreAdjFile is the process's OOM score adjustment, under /proc/self.
const oomScoreAdjFile = "oom_score_adj"

// applyOOMScoreAdj writes oomScoreAdj to the process's oom_score_adj. As in kube-proxy, a
// failure (no permission, a read-only /proc) is logged at V(2) and the start goes on.
func applyOOMScoreAdj(self sysctl.Interface, score int, log klog.Logger) {
	if err := self.Set(oomScoreAdjFile, strconv.Itoa(score)); err != nil {
		log.V(2).Info("Failed to apply OOMScore", "err", err)
	}
}
