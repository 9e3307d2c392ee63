package node

import "github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"

// The dataplane package owns every text format; these wrappers are the one place this
// package meets its parser signatures.

func parseIPVSAdm(out []byte) (dataplane.IPVS, error) { return dataplane.ParseIPVSAdm(string(out)) }

func parseIPSetSave(out []byte) ([]dataplane.IPSet, error) {
	return dataplane.ParseIPSetSave(string(out))
}

func parseIPTablesSave(out []byte) (dataplane.Ruleset, error) {
	return dataplane.ParseIPTablesSave(string(out))
}

func parseIPAddrJSON(out []byte) ([]dataplane.Link, error) { return dataplane.ParseIPAddrJSON(out) }

func parseIPAddr(out []byte) ([]dataplane.Link, error) { return dataplane.ParseIPAddr(string(out)) }
