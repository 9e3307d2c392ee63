package iptables

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/fakecalls"
)

// Fake holds one in-memory ruleset per family and applies iptables-restore --noflush input
// to it with iptables-restore's semantics: "*table" ... "COMMIT" blocks; ":CHAIN - [0:0]"
// creates a user chain or flushes an existing one; ":BUILTIN POLICY" sets the policy and
// keeps the rules; -A, -I [n], -D (by spec or number), -R, -N, -X, -F, -P, -E. A jump to
// a missing chain, deleting a missing rule or a referenced chain, or any other refused
// line fails the whole input and leaves the ruleset unchanged, as the kernel's commit
// does. It starts with the raw, mangle, nat and filter tables and their built-in chains,
// all ACCEPT. Its Recorder logs every Restore with the tables it named ("Restore IPv4
// nat,filter") and fails the next Save or Restore on request. It is safe for concurrent
// use.
type Fake struct {
	mu        sync.Mutex
	rulesets  map[Family]dataplane.Ruleset
	setExists func(name string) bool
	*fakecalls.Recorder
	restores []RestoreCall
}

// RestoreCall is one Restore the fake received.
type RestoreCall struct {
	Family Family
	Input  string
	// Err is what Restore returned.
	Err error
}

var _ Interface = (*Fake)(nil)

// NewFake returns a fake with a fresh kernel's tables for both families.
func NewFake() *Fake {
	return &Fake{
		rulesets: map[Family]dataplane.Ruleset{IPv4: emptyRuleset(), IPv6: emptyRuleset()},
		Recorder: fakecalls.New("iptables.Fake", "Save", "Restore"),
	}
}

// CheckSets makes rules matching an ip set ("-m set --match-set NAME ...") fail unless
// exists(NAME), as the kernel refuses rules on sets that do not exist. Pass the ipset
// fake's lookup to tie the two together; nil turns the check off.
func (f *Fake) CheckSets(exists func(name string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setExists = exists
}

// Restores returns every Restore call with its input and result.
func (f *Fake) Restores() []RestoreCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.restores)
}

// ResetCalls forgets the calls and the Restores logged so far.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Recorder.ResetCalls()
	f.restores = nil
}

// Save returns a copy of the named tables (every table when none is named), in the order
// named.
func (f *Fake) Save(fam Family, tables ...string) (dataplane.Ruleset, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fault("Save"); err != nil {
		return dataplane.Ruleset{}, err
	}
	if err := checkFamily(fam); err != nil {
		return dataplane.Ruleset{}, err
	}
	all := cloneRuleset(f.rulesets[fam])
	if len(tables) == 0 {
		return all, nil
	}
	var out dataplane.Ruleset
	for _, name := range tables {
		t, ok := all.Table(name)
		if !ok {
			return dataplane.Ruleset{}, fmt.Errorf("%s -t %s: table does not exist: expected one of %s",
				fam.saveCommand(), name, strings.Join(tableOrder, ", "))
		}
		out.Tables = append(out.Tables, t)
	}
	return out, nil
}

// Restore applies input as iptables-restore --noflush would, all or nothing. A refusal is
// a *RestoreError naming the line.
func (f *Fake) Restore(fam Family, input []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &restorer{rs: cloneRuleset(f.rulesets[fam]), setExists: f.setExists}
	err := f.Fault("Restore")
	if err == nil {
		err = checkFamily(fam)
	}
	if err == nil {
		err = r.apply(string(input))
		var le *lineError
		if errors.As(err, &le) {
			err = &RestoreError{Family: fam, Line: le.line, Text: le.text, Msg: le.msg}
		}
	}
	f.Recordf("Restore %s %s", fam, strings.Join(tablesNamed(string(input)), ","))
	f.restores = append(f.restores, RestoreCall{Family: fam, Input: string(input), Err: err})
	if err != nil {
		return err
	}
	f.rulesets[fam] = r.rs
	return nil
}

// tablesNamed lists the tables an input names with "*table" lines, in order.
func tablesNamed(input string) []string {
	var out []string
	for line := range strings.Lines(input) {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "*"); ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}
