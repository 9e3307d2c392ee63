package walkcmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// --lang, or the locale, picks the language of a replayed walk and of its worksheets; a
// language other than en and zh, and flags a replay cannot honour, are usage errors that
// name the flag.
func TestWalkLanguageReplayAndWorksheet(t *testing.T) {
	// A real lab walk's record (make lab LAB_SAVE=DIR).
	record := fixture.RepoFile(t, "hack/report/seedwalk/testdata/v1.37.2-configmap")
	for _, tc := range []struct {
		name      string
		env       map[string]string
		args      []string
		status    int
		out       string
		worksheet []string
	}{
		{"English by default", map[string]string{"LC_ALL": "", "LANG": "C.UTF-8"}, []string{"--replay", record}, 0, "19 of 19 checks passed", nil},
		{"Chinese from LANG", map[string]string{"LC_ALL": "", "LANG": "zh_CN.UTF-8"}, []string{"--replay", record}, 0, "== 3.3.2 方法2:configmap修改方法", nil},
		{"--lang over the locale", map[string]string{"LC_ALL": "zh_CN.UTF-8"}, []string{"--replay", record, "--lang", "en"}, 0, "== 4.1.3 the IPVS rules", nil},
		{"--lang zh", nil, []string{"--replay", record, "--lang", "zh"}, 0, "19 项检查中 19 项通过", nil},
		{"both worksheets without --lang", map[string]string{"LC_ALL": "", "LANG": ""}, []string{"--replay", record, "--worksheet", "WS"}, 0, "worksheet.zh.md", []string{"worksheet.en.md", "worksheet.zh.md"}},
		{"one worksheet with --lang", nil, []string{"--replay", record, "--lang", "zh", "--worksheet", "WS"}, 0, "worksheet.zh.md", []string{"worksheet.zh.md"}},
		{"unknown language", nil, []string{"--replay", record, "--lang", "cn"}, cli.ExitUsage, "--lang: language \"cn\"", nil},
		{"replay with --kube-proxy", nil, []string{"--replay", record, "--kube-proxy", "v1.36.0"}, cli.ExitUsage, "--kube-proxy goes with a walk that runs", nil},
		{"replay of no record", nil, []string{"--replay", t.TempDir()}, cli.ExitUsage, "expected a folder written by --save", nil},
		{"worksheet of an existing cluster", nil, []string{"--cluster", "existing", "--worksheet", "WS"}, cli.ExitUsage, "--worksheet and --replay are for lab walks", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ws := filepath.Join(t.TempDir(), "worksheet")
			args := []string{}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "WS", ws))
			}
			var stdout, stderr strings.Builder
			if got := cli.Execute(context.Background(), NewCommand(), args, &stdout, &stderr); got != tc.status {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.status, stdout.String(), stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tc.out) {
				t.Errorf("output lacks %q:\n%s", tc.out, out)
			}
			files, _ := filepath.Glob(filepath.Join(ws, "*"))
			if len(files) != len(tc.worksheet) {
				t.Errorf("worksheets %v, want %v", files, tc.worksheet)
			}
			for _, f := range tc.worksheet {
				if b, err := os.ReadFile(filepath.Join(ws, f)); err != nil || !strings.Contains(string(b), "```sh\nipvsadm -Ln\n```") {
					t.Errorf("%s: %v\n%s", f, err, b)
				}
			}
		})
	}
}
