// Package scenariocmd is `ipvs-e2e bench lab`: hack/lab/scenario's guest program on a bare lab
// node, with no upstream binaries, measuring the reference proxier's full sync and a
// one-endpoint change (make bench-lab).
//
// Exit status: 0 when every check passed, 1 when one failed or the run did not complete,
// 97 when the lab could not be set up (no IPVS in the guest), 2 for usage errors, 130 on
// Ctrl-C, which stops QEMU (by its PID) first.
package scenariocmd
