// Package differential compares the dataplane two implementations of kube-proxy's ipvs mode
// programmed for the same scenario: upstream kube-proxy (the reference point, "want") and
// this project's reference proxier ("got"). It is pure: captures come in (dataplane.State
// plus the names of the addresses the cluster allocated), a report comes out.
//
// The pipeline, per scenario:
//
//  1. Restrict both states to what kube-proxy owns: the IPVS table, kube-ipvs0's addresses,
//     the ipsets and the nat and filter tables.
//  2. Give the addresses the cluster allocated differently in each run (pod IPs, from the
//     node agent) the same placeholder on both sides, by their symbolic name (Symbols).
//  3. Diff with dataplane.Diff, print the placeholders back as names ("{web#0}").
//  4. Classify every differing line (its section, scope and kind come with it) as known
//     (an entry of the known-differences file matches it) or NEW.
//
// An entry of the known-differences file that matched nothing in the scenarios it covers is
// stale and fails the report too, so the file cannot outlive the differences it explains.
//
// A run's directory holds its captures (WriteCapture), which CompareDir compares step by
// step, and the report (Report.WriteFiles).
package differential
