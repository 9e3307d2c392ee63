package kernellab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// runGuestScript runs /lab/run as the guest would, with the host's /bin/sh, writing to a file
// instead of the serial port, and parses what it wrote.
func runGuestScript(t *testing.T, cmds []Command, stop bool) *transcript {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "run")
	if err := os.WriteFile(script, []byte(runScript(testMark, cmds, stop)), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results.log")
	if err := os.WriteFile(out, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("/bin/sh", script)
	sh.Env = append(os.Environ(), "LAB_OUT="+out, "TMPDIR="+dir)
	if b, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("running the job script: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return parseTranscript(testMark + " BOOT\n" + testMark + " READY\n" + string(b) + testMark + " DONE\n")
}

func TestRunScript(t *testing.T) {
	work := filepath.Join(t.TempDir(), "made", "by", "script")
	cmds := []Command{
		{Args: []string{"printf", "%s|", "two words", "it's", `"quoted" $HOME`, ""}},
		{Shell: "echo out; echo err >&2; exit 4"},
		{Shell: `echo "$A/$B"; pwd`, Dir: work, Env: []string{"A=x y", "B=it's"}},
		{Args: []string{"cat"}}, // stdin is /dev/null: must not hang
	}
	tr := runGuestScript(t, cmds, false)
	if err := tr.err(); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		out string
		rc  int
	}{
		{`two words|it's|"quoted" $HOME||`, 0},
		{"out\nerr\n", 4},
		{"x y/it's\n" + work + "\n", 0},
		{"", 0},
	}
	if len(tr.cmds) != len(want) {
		t.Fatalf("%d results; expected %d", len(tr.cmds), len(want))
	}
	for i, w := range want {
		if c := tr.cmds[i]; c.Output != w.out || c.ExitCode != w.rc || !c.Finished {
			t.Errorf("command %d = {%q rc=%d}; expected {%q rc=%d}", i, c.Output, c.ExitCode, w.out, w.rc)
		}
	}
}

func TestRunScriptStopOnFailure(t *testing.T) {
	tr := runGuestScript(t, []Command{{Shell: "true"}, {Shell: "exit 1"}, {Shell: "echo never"}}, true)
	if len(tr.cmds) != 2 || tr.cmds[1].ExitCode != 1 {
		t.Fatalf("results = %+v; expected two, the second failed, the third never begun", tr.cmds)
	}
}

func TestShellQuote(t *testing.T) {
	tests := map[string]string{
		"":                 "''",
		"plain-word_1.2":   "plain-word_1.2",
		"/lab/bin/x.test":  "/lab/bin/x.test",
		"two words":        "'two words'",
		"it's":             `'it'\''s'`,
		"$(rm -rf /)":      "'$(rm -rf /)'",
		"^(TestA|TestB)$":  "'^(TestA|TestB)$'",
		"KEY=value,a:b@c%": "KEY=value,a:b@c%",
	}
	for in, want := range tests {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s; expected %s", in, got, want)
		}
	}
}

func TestJobEnv(t *testing.T) {
	got := jobEnv(testMark, "lab-node", []string{"ip_vs", "dummy"}, true, "legacy", guestDeadline(10*time.Minute))
	want := "LAB_MARK=" + testMark + "\nLAB_HOSTNAME=lab-node\nLAB_PRELOAD='ip_vs dummy'\nLAB_NET=1\nLAB_IPTABLES=legacy\nLAB_DEADLINE=660\n"
	if got != want {
		t.Fatalf("jobEnv =\n%s\nexpected\n%s", got, want)
	}
}

func TestQemuArgs(t *testing.T) {
	base := qemuConfig{Accel: "tcg,thread=multi", MemoryMiB: 640, Kernel: "/k/vmlinuz", Initrd: "/r/initrd.img",
		Console: "/r/console.log", Results: "/r/results.log"}
	args := qemuArgs(base)
	joined := strings.Join(args, " ")
	fixture.Contains(t, "qemu args", joined,
		"-accel tcg,thread=multi", "-m 640", "-smp 1", "-display none", "-no-reboot", "-nodefaults",
		"-kernel /k/vmlinuz", "-initrd /r/initrd.img", "-append "+kernelCmdline,
		"-serial file:/r/console.log -serial file:/r/results.log", "-nic none",
	)
	withNet := base
	withNet.Network = &Network{HostForwards: []PortForward{{Host: 20256, Guest: 10256}, {Host: 20249, Guest: 10249}}}
	args = qemuArgs(withNet)
	if i := slices.Index(args, "-nic"); i < 0 || args[i+1] != "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:20256-:10256,hostfwd=tcp:127.0.0.1:20249-:10249" {
		t.Errorf("network args = %v", args)
	}
}

func TestMemoryFor(t *testing.T) {
	tests := []struct {
		bytes int64
		want  int
	}{
		{0, 512},
		{10 << 20, 512},
		{42 << 20, 512},
		{43 << 20, 640},
		{100 << 20, 768},
		{300 << 20, 1408}, // 384+900 rounded up to 128
		{325 << 20, 1408}, // make lab-test's job, whose initramfs did not fit in 1024
		{342 << 20, 1536},
	}
	for _, tt := range tests {
		if got := memoryFor(tt.bytes); got != tt.want {
			t.Errorf("memoryFor(%d MiB) = %d; expected %d", tt.bytes>>20, got, tt.want)
		}
	}
}

func TestJobValidate(t *testing.T) {
	ok := Command{Shell: "true"}
	tests := []struct {
		name string
		job  Job
		want string
	}{
		{"no commands", Job{}, "no commands"},
		{"both args and shell", Job{Commands: []Command{{Args: []string{"x"}, Shell: "y"}}}, "exactly one"},
		{"neither", Job{Commands: []Command{{Name: "empty"}}}, "exactly one"},
		{"relative file", Job{Commands: []Command{ok}, Files: []File{{Path: "lab/x"}}}, "absolute guest path"},
		{"replaces init", Job{Commands: []Command{ok}, Files: []File{{Path: "/init"}}}, "other than /init"},
		{"backend", Job{Commands: []Command{ok}, IPTables: "nftables"}, "expected nft or legacy"},
		{"fine", Job{Commands: []Command{ok}, IPTables: "legacy", Files: []File{{Path: "/lab/x"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wanterr.Check(t, tt.job.validate(), tt.want)
		})
	}
}

// A guest whose initramfs did not fit says so once on its console, then boots on.
func TestUnpacked(t *testing.T) {
	tests := []struct {
		console string
		want    string
	}{
		{"[    0.000000] Linux version 6.1.0\n[    1.2] Freeing initrd memory: 332000K\n", ""},
		{"[    3.963054] Initramfs unpacking failed: write error\r\n[    4.1] Run /init as init process\n", "Initramfs unpacking failed: write error"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "console.log")
		if err := os.WriteFile(path, []byte(tt.console), 0o644); err != nil {
			t.Fatal(err)
		}
		err := unpacked(path)
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("unpacked(%q) = %v; want %q", tt.console, err, tt.want)
		}
	}
}
