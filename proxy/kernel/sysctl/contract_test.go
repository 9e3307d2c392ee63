package sysctl

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// testContract is what both the fake and /proc/sys in the kernel lab must do. It changes
// net/ipv4/vs/conntrack and puts the old value back.
func testContract(t *testing.T, newImpl func(t *testing.T) Interface) {
	const name = "net/ipv4/vs/conntrack"

	t.Run("get returns an integer", func(t *testing.T) {
		s := newImpl(t)
		for _, n := range []string{name, "net/ipv4/ip_forward", "net/ipv4/vs/conn_reuse_mode"} {
			v, err := s.Get(n)
			if err != nil {
				t.Fatalf("Get(%s): %v", n, err)
			}
			if _, err := strconv.Atoi(v); err != nil {
				t.Errorf("Get(%s) = %q: expected an integer", n, v)
			}
		}
	})

	t.Run("set then get", func(t *testing.T) {
		s := newImpl(t)
		old, err := s.Get(name)
		if err != nil {
			t.Fatalf("Get(%s): %v", name, err)
		}
		t.Cleanup(func() {
			if err := s.Set(name, old); err != nil {
				t.Errorf("restore %s=%s: %v", name, old, err)
			}
		})
		for _, want := range []string{"1", "0", "1"} {
			if err := s.Set(name, want); err != nil {
				t.Fatalf("Set(%s, %s): %v", name, want, err)
			}
			got, err := s.Get(name)
			if err != nil {
				t.Fatalf("Get(%s): %v", name, err)
			}
			if got != want {
				t.Errorf("after Set(%s, %s), Get = %q", name, want, got)
			}
		}
	})

	t.Run("unknown name does not exist", func(t *testing.T) {
		s := newImpl(t)
		const missing = "net/ipv4/vs/no_such_sysctl"
		if _, err := s.Get(missing); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%s) error = %v, expected one satisfying fs.ErrNotExist", missing, err)
		}
		if err := s.Set(missing, "1"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Set(%s) error = %v, expected one satisfying fs.ErrNotExist", missing, err)
		}
	})

	t.Run("name escaping the root is refused", func(t *testing.T) {
		s := newImpl(t)
		for _, n := range []string{"", "/etc/passwd", "net/../../etc/passwd"} {
			if _, err := s.Get(n); err == nil {
				t.Errorf("Get(%q) succeeded, expected an error", n)
			}
		}
	})
}

func TestFakeContract(t *testing.T) {
	testContract(t, func(*testing.T) Interface { return NewFake() })
}

// TestLinuxFilesContract runs the contract against NewLinuxAt over a directory laid out
// like /proc/sys. It checks the file handling only; the lab run checks the kernel.
func TestLinuxFilesContract(t *testing.T) {
	testContract(t, func(t *testing.T) Interface {
		root := t.TempDir()
		for name, v := range KernelDefaults {
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return NewLinuxAt(root)
	})
}

func TestFakeRefusesNonIntegers(t *testing.T) {
	f := NewFake()
	if err := f.Set("net/ipv4/ip_forward", "yes"); err == nil {
		t.Fatal(`Set("net/ipv4/ip_forward", "yes") succeeded, expected EINVAL as /proc/sys gives`)
	}
	if err := f.Set("net/ipv4/ip_forward", " 1\n"); err != nil {
		t.Fatalf("Set with surrounding white space: %v", err)
	}
	if v, _ := f.Get("net/ipv4/ip_forward"); v != "1" {
		t.Errorf("Get = %q, expected 1", v)
	}
}

func TestFakeDefaultsCallsAndFaults(t *testing.T) {
	f := NewFake()
	for name, want := range KernelDefaults {
		if got, err := f.Get(name); err != nil || got != want {
			t.Errorf("Get(%s) = %q, %v; expected kernel default %q", name, got, err, want)
		}
	}
	boom := errors.New("injected")
	f.FailNext("Set", boom)
	if err := f.Set("net/ipv4/ip_forward", "1"); !errors.Is(err, boom) {
		t.Fatalf("Set with an injected fault returned %v", err)
	}
	if v, _ := f.Get("net/ipv4/ip_forward"); v != "0" {
		t.Errorf("a failed Set changed the value to %q", v)
	}
	if err := f.Set("net/ipv4/ip_forward", "1"); err != nil {
		t.Fatalf("the fault was used once, the next Set failed: %v", err)
	}
	f.CheckCalls(t, "Set net/ipv4/ip_forward 1", "Set net/ipv4/ip_forward 1")
	f.Remove("net/bridge/bridge-nf-call-iptables")
	if _, err := f.Get("net/bridge/bridge-nf-call-iptables"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a removed sysctl still reads: %v", err)
	}
}
