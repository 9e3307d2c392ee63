//go:build e2e

package seedlab

import "github.com/ipvs-e2e/ipvs-e2e/framework/e2e"

var _ = Checks("the seed's section 4 on every node", func() *e2e.Env { return suite.Env })
