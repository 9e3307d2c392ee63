package lang

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// verb is a fmt verb of a catalogue format, its explicit index included.
var verb = regexp.MustCompile(`%(\[\d+\])?[a-zA-Z%]`)

// Every ID declared in this package has an entry, once, in both languages, with formats
// that take the same arguments: the same number of %s and %q, indexes aside, and only
// those verbs (arguments arrive as strings).
func TestCatalogue(t *testing.T) {
	declared := declaredIDs(t)
	if len(declared) == 0 {
		t.Fatal("no ID constants found in catalogue.go")
	}
	seen := map[ID]bool{}
	for _, e := range catalogue {
		if seen[e.id] {
			t.Errorf("%s: two entries", e.id)
		}
		seen[e.id] = true
		if strings.TrimSpace(e.en) == "" || strings.TrimSpace(e.zh) == "" {
			t.Errorf("%s: en %q, zh %q: both languages are needed", e.id, e.en, e.zh)
			continue
		}
		en, zh := verbs(t, e.id, e.en), verbs(t, e.id, e.zh)
		if !slices.Equal(en, zh) {
			t.Errorf("%s: English takes %v, Chinese %v", e.id, en, zh)
		}
	}
	for _, id := range declared {
		if !seen[id] {
			t.Errorf("ID %s is declared but has no entry", id)
		}
	}
	if len(seen) != len(declared) {
		t.Errorf("%d entries for %d declared IDs: an entry uses an ID that is not a declared constant", len(seen), len(declared))
	}
}

// verbs lists a format's verbs in argument order (explicit indexes resolved), and fails
// on a verb other than %s and %q.
func verbs(t *testing.T, id ID, format string) []string {
	t.Helper()
	var got []string
	next := 1
	for _, m := range verb.FindAllStringSubmatch(format, -1) {
		v := m[0][len(m[0])-1:]
		if v == "%" {
			continue
		}
		if v != "s" && v != "q" {
			t.Errorf("%s: verb %s in %q: the catalogue's arguments are strings (%%s, %%q)", id, m[0], format)
		}
		arg := next
		if m[1] != "" {
			arg = int(m[1][1] - '0')
		}
		next = arg + 1
		for len(got) < arg {
			got = append(got, "")
		}
		got[arg-1] = v
	}
	return got
}

// declaredIDs reads the ID constants of catalogue.go.
func declaredIDs(t *testing.T) []ID {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "catalogue.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []ID
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "ID" {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("an ID constant's value is not a string literal: %T", v)
				}
				ids = append(ids, ID(strings.Trim(lit.Value, `"`)))
			}
		}
	}
	return ids
}

func TestRender(t *testing.T) {
	for _, tt := range []struct {
		lang Lang
		text Text
		want string
	}{
		// Ports and counts keep their digits: no locale grouping.
		{English, T(CheckNodePortSet, 30089), "the set that rule matches, KUBE-NODE-PORT-TCP, holds 30089"},
		{Chinese, T(CheckNodePortSet, 30089), "这条规则匹配的集合 KUBE-NODE-PORT-TCP 中有 30089"},
		{English, T(VerdictSummary, 18, 18), "18 of 18 checks passed"},
		{Chinese, T(VerdictSummary, 17, 18), "18 项检查中 17 项通过"},
		{English, T(CheckLogIPVS, "Using ipvs Proxier"), `kube-proxy logs "Using ipvs Proxier" (kubectl logs)`},
		// A nested Text renders in the same language.
		{Chinese, T(VerdictOnNode, "node2", T(CheckProxyMode)), "node2:kube-proxy 的 /proxyMode 回答 ipvs"},
		{English, T(VerdictWithNote, T(CheckNATBudget, 20), T(NoteLeftoverRules, 14, 4)), "ipvs mode's nat rules number at most 20 (14; 4 more are the iptables proxier's leftovers)"},
		{Chinese, T(HeadMethod2), "3.3.2 方法2:configmap修改方法"},
		{English, Text{}, ""},
		// An ID the catalogue lacks shows as such rather than as nothing.
		{English, T("no.such.id", 1), `!no.such.id["1"]`},
	} {
		if got := tt.lang.Render(tt.text); got != tt.want {
			t.Errorf("%s %s%v: %q, want %q", tt.lang, tt.text.ID, tt.text.Args, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, l := range All {
		if got, err := Parse(string(l)); err != nil || got != l {
			t.Errorf("Parse(%q) = %q, %v", l, got, err)
		}
	}
	for _, bad := range []string{"", "cn", "zh_CN", "EN", "fr"} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			_, err := Parse(bad)
			wanterr.Check(t, err, "expected en") // the error names the choices
		})
	}
}

func TestFromEnv(t *testing.T) {
	for _, tt := range []struct {
		lcAll, lang string
		want        Lang
	}{
		{"", "", English},
		{"", "zh_CN.UTF-8", Chinese},
		{"", "en_US.UTF-8", English},
		{"zh_TW.UTF-8", "en_US.UTF-8", Chinese},
		{"C", "zh_CN.UTF-8", English},
		{"", "C.UTF-8", English},
	} {
		env := map[string]string{"LC_ALL": tt.lcAll, "LANG": tt.lang}
		if got := FromEnv(func(k string) string { return env[k] }); got != tt.want {
			t.Errorf("LC_ALL=%q LANG=%q: %s, want %s", tt.lcAll, tt.lang, got, tt.want)
		}
	}
}
