package seedwalk

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden from the recorded runs")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (write it with go test ./hack/report/seedwalk -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the record renders (go test -update rewrites it; read the diff first):\n%s", path, firstDifference(string(want), string(got)))
	}
}

// firstDifference shows the first line where two texts part.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, wl, gl)
		}
	}
	return ""
}

// goldenRuns renders each recorded run in each language and compares it with its golden
// file, <run>.<name><lang>.
func goldenRuns(t *testing.T, name string, render func(t *testing.T, w *bytes.Buffer, l lang.Lang, rec Record)) {
	for _, run := range realRuns {
		rec := loadRun(t, run)
		for _, l := range lang.All {
			t.Run(run+"/"+string(l), func(t *testing.T) {
				var b bytes.Buffer
				render(t, &b, l, rec)
				golden(t, run+"."+strings.Replace(name, "LANG", string(l), 1), b.Bytes())
			})
		}
	}
}

// The whole walk of each recorded run, in each language, as `make lab` prints it (the lab's
// progress lines aside): golden files, so that a change of wording or layout shows in review.
func TestReplayGolden(t *testing.T) {
	goldenRuns(t, "LANG.txt", func(t *testing.T, b *bytes.Buffer, l lang.Lang, rec Record) {
		if err := Replay(b, l, rec); err != nil {
			t.Fatal(err)
		}
		if !tutorial.Print(b, l, Judge(rec)) {
			t.Errorf("the recorded run does not pass:\n%s", b.String())
		}
	})
}

// Both languages print the same commands and outputs: only the text around them differs.
func TestReplayTranslatesNoCommandOrOutput(t *testing.T) {
	rec := loadRun(t, realRuns[0])
	var en, zh bytes.Buffer
	if err := Replay(&en, lang.English, rec); err != nil {
		t.Fatal(err)
	}
	if err := Replay(&zh, lang.Chinese, rec); err != nil {
		t.Fatal(err)
	}
	for _, s := range Script(rec.Facts) {
		if s.Hidden || s.Typed == "" {
			continue
		}
		typed := s.Prompt() + strings.Split(s.Typed, "\n")[0] + "\n"
		out := rec.Results[s.Name].Output
		for name, text := range map[string]string{"English": en.String(), "Chinese": zh.String()} {
			if !strings.Contains(text, typed) || !strings.Contains(text, out) {
				t.Errorf("the %s walk lacks step %q's typed line %q or its output verbatim", name, s.Name, typed)
			}
		}
	}
	if en.String() == zh.String() {
		t.Error("the Chinese walk is the English one")
	}
	fixture.Contains(t, "the Chinese walk", zh.String(), "== 2 环境准备\n", "== 3.3.2 方法2:configmap修改方法\n", "== 4.1.3 查看ipvsadm规则\n", "== 4.1.4 查看iptables规则\n", "1.2 关键点", "1.3 基本流程")
}
