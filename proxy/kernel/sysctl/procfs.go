package sysctl

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const defaultRoot = "/proc/sys"

// Linux reads and writes sysctls as files under a root directory, /proc/sys on a node.
type Linux struct {
	root string
}

var _ Interface = (*Linux)(nil)

// NewLinux returns sysctls backed by /proc/sys.
func NewLinux() *Linux { return &Linux{root: defaultRoot} }

// NewModuleParams returns the parameters of loaded kernel modules, files under
// /sys/module with the same semantics ("nf_conntrack/parameters/hashsize").
func NewModuleParams() *Linux { return &Linux{root: "/sys/module"} }

// NewLinuxAt returns sysctls backed by files under root (a temporary directory in tests,
// or another mount of /proc/sys).
func NewLinuxAt(root string) *Linux { return &Linux{root: root} }

// Get returns the value of a sysctl without its trailing newline.
func (l *Linux) Get(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	b, err := os.ReadFile(procPath(l.root, name))
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", name, err)
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// Set writes a sysctl. The file is opened without O_CREATE so that a missing sysctl fails
// the same way under /proc/sys and in a test directory.
func (l *Linux) Set(name, value string) error {
	if err := checkName(name); err != nil {
		return err
	}
	f, err := os.OpenFile(procPath(l.root, name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", name, value, err)
	}
	_, werr := f.WriteString(value + "\n")
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", name, value, werr)
	}
	if cerr != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", name, value, cerr)
	}
	return nil
}

func procPath(root, name string) string { return filepath.Join(root, filepath.FromSlash(name)) }

// checkName keeps a name inside the root: sysctl names are relative paths without "..".
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || slices.Contains(strings.Split(name, "/"), "..") {
		return fmt.Errorf("sysctl name %q: expected a relative name with slashes such as net/ipv4/ip_forward", name)
	}
	return nil
}
