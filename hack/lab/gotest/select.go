// Package gotest finds the Go tests that need the kernel lab, builds their test binaries for
// the guest and reports their results the way `go test` prints them.
//
// A lab test is a Test function that calls labtest.Require, directly or through functions and
// methods declared in the same package's test files; a Ginkgo entry point (a Test function
// calling RunSpecs) is one when anything in the package calls labtest.Require. Host-only
// tests are not run in the guest: `make unit` ran them on the host already, and under TCG
// they would only cost time and trip over what a guest lacks (toolchain, source tree).
package gotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// LabtestPath is the import path of the package whose Require marks lab tests.
const LabtestPath = "github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"

// Package is a Go package with its lab tests.
type Package struct {
	ImportPath string
	Dir        string
	// Module root directory and path, for placing the package in the guest.
	ModuleDir string
	// Tests are the names of the lab tests, sorted.
	Tests []string
}

// RunPattern gives the -test.run expression selecting exactly the lab tests.
func (p Package) RunPattern() string {
	q := make([]string, len(p.Tests))
	for i, t := range p.Tests {
		q[i] = regexpQuote(t)
	}
	return "^(" + strings.Join(q, "|") + ")$"
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// listed is the part of `go list -json` we read.
type listed struct {
	ImportPath   string
	Dir          string
	TestGoFiles  []string
	XTestGoFiles []string
	Module       *struct{ Path, Dir string }
	Error        *struct{ Err string }
}

// Find lists the packages matching patterns (run in dir) and their lab tests. Packages
// without lab tests are returned too, with no Tests, so callers can say so.
func Find(ctx context.Context, dir string, patterns []string) ([]Package, error) {
	args := append([]string{"list", "-e", "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles,Module,Error"}, patterns...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w\n%s", strings.Join(patterns, " "), err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var pkgs []Package
	for {
		var l listed
		if err := dec.Decode(&l); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading go list output: %w", err)
		}
		if l.Error != nil {
			return nil, fmt.Errorf("go list: package %s: %s", l.ImportPath, l.Error.Err)
		}
		p := Package{ImportPath: l.ImportPath, Dir: l.Dir}
		if l.Module != nil {
			p.ModuleDir = l.Module.Dir
		}
		var files []string
		for _, f := range append(slices.Clone(l.TestGoFiles), l.XTestGoFiles...) {
			files = append(files, filepath.Join(l.Dir, f))
		}
		if p.Tests, err = labTestsInFiles(files); err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

func labTestsInFiles(paths []string) ([]string, error) {
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return LabTests(files), nil
}

// LabTests gives the sorted names of the lab tests among the functions of a package's test
// files (in-package and _test package files together: they share one test binary).
func LabTests(files []*ast.File) []string {
	type fn struct {
		refs    map[string]bool // names of same-package functions and methods it mentions
		direct  bool            // calls labtest.Require itself
		ginkgo  bool            // calls RunSpecs
		isTest  bool
		reaches bool
	}
	funcs := map[string]*fn{}
	anyRequire := false
	for _, f := range files {
		local := labtestName(f)
		isRequire := func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok || local == "" || sel.Sel.Name != "Require" {
				return false
			}
			id, ok := sel.X.(*ast.Ident)
			return ok && id.Name == local
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				// var _ = Describe(...): Ginkgo specs live in package-level values.
				ast.Inspect(d, func(n ast.Node) bool {
					if isRequire(n) {
						anyRequire = true
					}
					return true
				})
				continue
			}
			if fd.Body == nil {
				continue
			}
			name := fd.Name.Name
			if fd.Recv != nil {
				name = "." + name // methods are matched by name alone
			}
			x := funcs[name]
			if x == nil {
				x = &fn{refs: map[string]bool{}}
				funcs[name] = x
			}
			x.isTest = x.isTest || (fd.Recv == nil && isTestFunc(fd))
			var visit func(n ast.Node) bool
			visit = func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if isRequire(n) {
						x.direct, anyRequire = true, true
						return false
					}
					if n.Sel.Name == "RunSpecs" {
						x.ginkgo = true
					}
					// x.Sel may be a method of the package; the type is not checked.
					x.refs["."+n.Sel.Name] = true
					ast.Inspect(n.X, visit)
					return false
				case *ast.Ident:
					x.refs[n.Name] = true
					if n.Name == "RunSpecs" {
						x.ginkgo = true
					}
				}
				return true
			}
			ast.Inspect(fd.Body, visit)
		}
	}
	for _, x := range funcs {
		x.reaches = x.direct
	}
	for changed := true; changed; {
		changed = false
		for _, x := range funcs {
			if x.reaches {
				continue
			}
			for r := range x.refs {
				if y := funcs[r]; y != nil && y.reaches {
					x.reaches, changed = true, true
					break
				}
			}
		}
	}
	var tests []string
	for name, x := range funcs {
		if x.isTest && (x.reaches || x.ginkgo && anyRequire) {
			tests = append(tests, name)
		}
	}
	slices.Sort(tests)
	return tests
}

// labtestName gives the name a file uses for the labtest package ("" if not imported).
func labtestName(f *ast.File) string {
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil || p != LabtestPath {
			continue
		}
		if imp.Name != nil {
			if imp.Name.Name == "_" || imp.Name.Name == "." {
				return ""
			}
			return imp.Name.Name
		}
		return "labtest"
	}
	return ""
}

// isTestFunc tells whether fd is func TestXxx(t *testing.T), as `go test` finds them.
func isTestFunc(fd *ast.FuncDecl) bool {
	name := fd.Name.Name
	if !strings.HasPrefix(name, "Test") || name == "TestMain" {
		return false
	}
	if len(name) > 4 {
		if r := name[4]; r >= 'a' && r <= 'z' {
			return false
		}
	}
	params := fd.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 || fd.Type.TypeParams != nil {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}
