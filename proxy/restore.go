package proxy

import (
	"bytes"
	"fmt"
	"slices"
	"text/template"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// restoreTemplate renders one iptables-restore --noflush transaction for one family: per
// table, every chain the proxier owns is declared (which creates or flushes it) and its
// rules written in full; jumps missing from built-in chains are inserted at the top; chains
// the proxier no longer wants are declared (flushed) and then deleted; and jumps that must
// go are deleted from their built-in chain by rule. Built-in chains themselves are never
// declared, so nothing else in them is touched.
var restoreTemplate = template.Must(template.New("iptables-restore").Parse(
	`{{range .Tables}}*{{.Name}}
{{range .Chains}}:{{.Name}} - [0:0]
{{end}}{{range .Deleted}}:{{.}} - [0:0]
{{end}}{{range .DeletedJumps}}-D {{.Chain}} {{.Spec}}
{{end}}{{range .Jumps}}-I {{.Chain}} 1 {{.Spec}}
{{end}}{{range .Chains}}{{$chain := .Name}}{{range .Rules}}-A {{$chain}} {{.Spec}}
{{end}}{{end}}{{range .Deleted}}-X {{.}}
{{end}}COMMIT
{{end}}`))

// restoreInput is what the template renders.
type restoreInput struct {
	Tables []restoreTable
}

// restoreTable is one table's part of the transaction.
type restoreTable struct {
	Name string
	// Chains are the proxier's chains with every rule they must hold.
	Chains []dataplane.Chain
	// Jumps are rules to insert at the top of built-in chains, in the order they are to
	// end up in (the template inserts them last first).
	Jumps []chainRule
	// DeletedJumps are rules to delete from built-in chains before Deleted chains go.
	DeletedJumps []chainRule
	// Deleted are chains to flush and delete.
	Deleted []string
}

// chainRule is one rule of a named chain.
type chainRule struct {
	Chain string
	Spec  string
}

// empty tells whether the table part changes nothing.
func (t restoreTable) empty() bool {
	return len(t.Chains) == 0 && len(t.Jumps) == 0 && len(t.DeletedJumps) == 0 && len(t.Deleted) == 0
}

// render writes the transaction; tables with nothing to do are left out. It returns nil
// when no table has anything to do.
func (in restoreInput) render() ([]byte, error) {
	var tables []restoreTable
	for _, t := range in.Tables {
		if t.empty() {
			continue
		}
		// -I at position 1 puts each jump above the previous one: insert the last first.
		t.Jumps = slices.Clone(t.Jumps)
		slices.Reverse(t.Jumps)
		tables = append(tables, t)
	}
	if len(tables) == 0 {
		return nil, nil
	}
	var b bytes.Buffer
	if err := restoreTemplate.Execute(&b, restoreInput{Tables: tables}); err != nil {
		return nil, fmt.Errorf("render iptables-restore input: %w", err)
	}
	return b.Bytes(), nil
}
