package e2e

// Providers the suites can run on, registered by import. A new provider (the kernel lab)
// adds its import here; the suites never name one.
import (
	_ "github.com/ipvs-e2e/ipvs-e2e/framework/cluster/existing"
	_ "github.com/ipvs-e2e/ipvs-e2e/framework/cluster/kind"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
)

// The lab cluster keeps its run directory when finish says so.
var _ runDirKeeper = (*lab.Provider)(nil)
