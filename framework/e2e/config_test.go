package e2e

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
)

func TestConfigFromEnvAndFlags(t *testing.T) {
	t.Setenv("IPVS_E2E_SWITCH", "configmap")
	t.Setenv("IPVS_E2E_K8S_VERSION", "1.35")
	t.Setenv("IPVS_E2E_REUSE", "true")
	t.Setenv("IPVS_E2E_TIMEOUT", "90s")
	t.Setenv("IPVS_E2E_DELETE_ON_INTERRUPT", "")
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.flags(fs, "seedlab")
	if err := fs.Parse([]string{"-e2e.cluster=mine"}); err != nil {
		t.Fatal(err)
	}
	if c.Provider != "kind" || c.ClusterName != "mine" || c.Switch != SwitchByConfigMap || c.KubernetesVersion != "1.35" ||
		!c.Reuse || c.Timeout != 90*time.Second || !c.DeleteOnInterrupt || !strings.HasSuffix(c.IPVSDump, "/bin/ipvsdump") {
		t.Errorf("config = %+v", c)
	}
	o := c.clusterOptions()
	if o.ProxyMode != cluster.ModeIPTables || o.Name != "mine" || !o.Reuse || o.HostNodePorts[0] != 30089 {
		t.Errorf("cluster options = %+v", o)
	}
	if err := c.validate(); err != nil {
		t.Error(err)
	}
	c.Switch = "edit"
	if err := c.validate(); err == nil || !strings.Contains(err.Error(), `switch "edit"`) {
		t.Errorf("Validate = %v", err)
	}

	var d Config
	d.flags(flag.NewFlagSet("t", flag.ContinueOnError), "services")
	if d.ClusterName != "ipvs-e2e-services" {
		t.Errorf("default cluster name %q", d.ClusterName)
	}
}
