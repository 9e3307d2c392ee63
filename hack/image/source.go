package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"
)

// buildProgram builds the static program pkg for linux/arch, as make ipvsdump does.
func buildProgram(ctx context.Context, pkg, arch, out string, stderr io.Writer) error {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	args := []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg}
	c := exec.CommandContext(ctx, goCmd, args...)
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	c.Stdout, c.Stderr = stderr, stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("building %s (CGO_ENABLED=0 GOOS=linux GOARCH=%s %s %s): %w; run it from the repository, or give a built one with --binary", path.Base(pkg), arch, goCmd, strings.Join(args, " "), err)
	}
	return nil
}

// sourceCommit is the commit the working tree is at, with "-dirty" when it has changes;
// empty outside a git checkout.
func sourceCommit(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		commit += "-dirty"
	}
	return commit
}
