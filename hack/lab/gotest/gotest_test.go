package gotest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func parseFiles(t *testing.T, srcs ...string) []*ast.File {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	for i, src := range srcs {
		f, err := parser.ParseFile(fset, filepath.Join("x", string(rune('a'+i))+"_test.go"), src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

func TestLabTests(t *testing.T) {
	tests := []struct {
		name string
		srcs []string
		want []string
	}{{
		name: "direct, helper, method, closure and host-only",
		srcs: []string{`package p
import (
	"testing"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)
func TestDirect(t *testing.T) { labtest.Require(t) }
func TestHostOnly(t *testing.T) { t.Log("no lab") }
func needLab(t *testing.T) { labtest.Require(t) }
func viaHelper(t *testing.T) { needLab(t) }
func TestViaHelperChain(t *testing.T) { viaHelper(t) }
type fixture struct{}
func (fixture) setUp(t *testing.T) { labtest.Require(t) }
func TestViaMethod(t *testing.T) { var f fixture; f.setUp(t) }
func TestViaSubtest(t *testing.T) { t.Run("x", func(t *testing.T) { labtest.Require(t) }) }
func TestPassesFunc(t *testing.T) { t.Run("x", needLab) }
func TestMain(m *testing.M) { labtest.Require(nil) }
func Testlowercase(t *testing.T) { labtest.Require(t) }
func TestBench(b *testing.B) { labtest.Require(b) }
`},
		want: []string{"TestDirect", "TestPassesFunc", "TestViaHelperChain", "TestViaMethod", "TestViaSubtest"},
	}, {
		name: "alias import in the external test package",
		srcs: []string{`package p
import "testing"
func TestInternal(t *testing.T) {}
`, `package p_test
import (
	"testing"
	lt "github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)
func TestExternal(t *testing.T) { lt.Require(t) }
`},
		want: []string{"TestExternal"},
	}, {
		name: "another package's Require does not count",
		srcs: []string{`package p
import (
	"testing"
	labtest "example.com/other/labtest"
)
func TestOther(t *testing.T) { labtest.Require(t) }
`},
		want: nil,
	}, {
		name: "ginkgo entry point with Require inside specs",
		srcs: []string{`package suite
import (
	"testing"
	. "github.com/onsi/ginkgo/v2"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)
func TestSuite(t *testing.T) { RunSpecs(t, "suite") }
var _ = BeforeSuite(func() { labtest.Require(GinkgoT()) })
`},
		want: []string{"TestSuite"},
	}, {
		name: "ginkgo suite without lab specs",
		srcs: []string{`package suite
import (
	"testing"
	"github.com/onsi/ginkgo/v2"
)
func TestSuite(t *testing.T) { ginkgo.RunSpecs(t, "suite") }
`},
		want: nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LabTests(parseFiles(t, tt.srcs...))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("LabTests = %v; expected %v", got, tt.want)
			}
		})
	}
}

func TestRunPattern(t *testing.T) {
	p := Package{Tests: []string{"TestA", "TestB_x"}}
	pat := p.RunPattern()
	if pat != "^(TestA|TestB_x)$" {
		t.Fatalf("RunPattern = %q", pat)
	}
	re := regexp.MustCompile(pat)
	for name, want := range map[string]bool{"TestA": true, "TestB_x": true, "TestAB": false, "XTestA": false} {
		if re.MatchString(name) != want {
			t.Errorf("pattern %s matches %s = %v; expected %v", pat, name, !want, want)
		}
	}
	if got := regexpQuote("a.b(c)|d$"); got != `a\.b\(c\)\|d\$` {
		t.Errorf("regexpQuote = %s", got)
	}
}

// testdata/*.txt are real -test.v outputs of a small test binary (pass, fail with subtests,
// panic, no tests, timeout).
func TestSummarize(t *testing.T) {
	tests := []struct {
		file     string
		exitCode int
		want     Summary
		ok       bool
	}{
		{"pass.txt", 0, Summary{Passed: 1, Final: "PASS"}, true},
		{"fail.txt", 1, Summary{Passed: 3, Failed: 3, Skipped: 1, Final: "FAIL",
			FailedTests: []string{"TestSubtests", "TestSubtests/bad_case", "TestFails"}}, false},
		{"panic.txt", 2, Summary{Passed: 1, Failed: 1, FailedTests: []string{"TestPanics"}, Panicked: true}, false},
		{"notests.txt", 0, Summary{Final: "PASS", NoTests: true}, true},
		{"timeout.txt", 2, Summary{Panicked: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := Summarize(string(b))
			if got.Passed != tt.want.Passed || got.Failed != tt.want.Failed || got.Skipped != tt.want.Skipped ||
				got.Final != tt.want.Final || got.NoTests != tt.want.NoTests || got.Panicked != tt.want.Panicked ||
				!slices.Equal(got.FailedTests, tt.want.FailedTests) {
				t.Fatalf("Summarize = %+v; expected %+v", got, tt.want)
			}
			if ok := got.OK(tt.exitCode); ok != tt.ok {
				t.Fatalf("OK(%d) = %v; expected %v", tt.exitCode, ok, tt.ok)
			}
		})
	}
	// Exit status decides even when the text says PASS (a crash after the report, a kill).
	if (Summary{Passed: 1, Final: "PASS"}).OK(1) {
		t.Error("OK(1) with a PASS line; expected false")
	}
	if (Summary{}).OK(0) {
		t.Error("OK(0) with no output at all; expected false")
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		ok   bool
		s    Summary
		d    time.Duration
		want string
	}{
		{true, Summary{Passed: 1}, 1234 * time.Millisecond, "ok  \texample.com/p\t1.234s"},
		{true, Summary{NoTests: true}, 10 * time.Millisecond, "ok  \texample.com/p\t0.010s [no tests to run]"},
		{false, Summary{Failed: 1}, 2 * time.Second, "FAIL\texample.com/p\t2.000s"},
	}
	for _, tt := range tests {
		if got := Verdict("example.com/p", tt.ok, tt.s, tt.d); got != tt.want {
			t.Errorf("Verdict = %q; expected %q", got, tt.want)
		}
	}
}

func TestBinaryName(t *testing.T) {
	a, b := BinaryName("github.com/x/y/kernel/ipvs"), BinaryName("github.com/x/y/proxy/ipvs")
	if a == b || !strings.HasSuffix(a, ".test") || strings.Contains(a, "/") {
		t.Fatalf("BinaryName gave %q and %q; expected distinct flat .test names", a, b)
	}
}

// FuzzSummarize: test output is text we do not control (a test may print anything).
func FuzzSummarize(f *testing.F) {
	for _, name := range []string{"pass.txt", "fail.txt", "panic.txt", "notests.txt", "timeout.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, out string) {
		s := Summarize(out)
		lines := strings.Count(out, "\n") + 1
		if s.Passed+s.Failed+s.Skipped > lines || len(s.FailedTests) != s.Failed {
			t.Fatalf("Summarize(%q) = %+v: more results than lines, or failures unnamed", out, s)
		}
		if s.OK(0) && (s.Failed > 0 || s.Final != "PASS") {
			t.Fatalf("OK with failures or without PASS: %+v", s)
		}
	})
}

// TestFind reads this repository: hack/lab/kernellab's guest tests are lab tests, its harness and
// unit tests are not, and hack/lab/internal/cpio has none.
func TestFind(t *testing.T) {
	pkgs, err := Find(t.Context(), filepath.Join("..", "..", ".."), []string{"./hack/lab/kernellab", "./hack/lab/internal/cpio"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 {
		t.Fatalf("Find gave %d packages; expected 2: %+v", len(pkgs), pkgs)
	}
	lab, cpio := pkgs[0], pkgs[1]
	if lab.ImportPath != "github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab" || lab.ModuleDir == "" || lab.Dir == "" {
		t.Fatalf("first package = %+v", lab)
	}
	if !slices.Contains(lab.Tests, "TestGuestHasIPVS") || slices.Contains(lab.Tests, "TestTranscript") ||
		slices.Contains(lab.Tests, "TestHarnessFailsWithoutIPVS") {
		t.Errorf("hack/lab/kernellab lab tests = %v; expected the guest tests only", lab.Tests)
	}
	if len(cpio.Tests) != 0 {
		t.Errorf("hack/lab/internal/cpio lab tests = %v; expected none", cpio.Tests)
	}
	if _, err := Find(t.Context(), filepath.Join("..", "..", ".."), []string{"./no/such/dir"}); err == nil {
		t.Error("Find of a missing package succeeded; expected an error")
	}
}
