package cpio

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// archive returns the closed archive write fills.
func archive(t testing.TB, write func(w *Writer) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := write(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriterRoundTrip(t *testing.T) {
	b := archive(t, func(w *Writer) error {
		return errors.Join(
			w.WriteFile("/etc/hosts", 0o644, []byte("127.0.0.1 localhost\n")),
			w.Symlink("bin/sh", "dash"),
			w.CopyFile("./bin/dash", 0o755, 3, strings.NewReader("abc")),
			w.Mkdir("proc", 0o555),
			w.Mkdir("etc", 0o700), // exists already: no second entry
			w.CharDevice("dev/console", 0o600, 5, 1),
			w.WriteFile("lib/modules/6.1.0/kernel/empty", 0o644, nil),
		)
	})
	got, err := ReadAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		mode uint32
		data string
	}{
		{"etc", 0o040755, ""},
		{"etc/hosts", 0o100644, "127.0.0.1 localhost\n"},
		{"bin", 0o040755, ""},
		{"bin/sh", 0o120777, "dash"},
		{"bin/dash", 0o100755, "abc"},
		{"proc", 0o040555, ""},
		{"dev", 0o040755, ""},
		{"dev/console", 0o020600, ""},
		{"lib", 0o040755, ""},
		{"lib/modules", 0o040755, ""},
		{"lib/modules/6.1.0", 0o040755, ""},
		{"lib/modules/6.1.0/kernel", 0o040755, ""},
		{"lib/modules/6.1.0/kernel/empty", 0o100644, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("archive holds %d entries; expected %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Mode != w.mode || string(g.Data) != w.data {
			t.Errorf("entry %d = %s %o %q; expected %s %o %q", i, g.Name, g.Mode, g.Data, w.name, w.mode, w.data)
		}
	}
	if c := got[7]; c.RdevMajor != 5 || c.RdevMinor != 1 {
		t.Errorf("dev/console rdev = %d:%d; expected 5:1", c.RdevMajor, c.RdevMinor)
	}
	if got[0].Nlink != 2 || got[1].Nlink != 1 || !got[0].IsDir() || !got[1].IsRegular() || !got[3].IsSymlink() {
		t.Errorf("types/nlink wrong: %+v", got[:4])
	}
}

// TestWriterBytes pins the exact encoding of a one-file archive.
func TestWriterBytes(t *testing.T) {
	b := archive(t, func(w *Writer) error { return w.WriteFile("a", 0o644, []byte("hi")) })
	want := "070701" + "00000001" + "000081a4" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000002" + "00000000" + "00000000" + "00000000" + "00000000" + "00000002" + "00000000" + "a\x00" +
		"hi\x00\x00" +
		"070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "0000000b" + "00000000" + "TRAILER!!!\x00" +
		"\x00\x00\x00"
	if got := string(b); got != want {
		t.Fatalf("archive bytes:\n%q\nexpected:\n%q", got, want)
	}
}

func TestWriterErrors(t *testing.T) {
	tests := []struct {
		name string
		do   func(w *Writer) error
		want string
	}{
		{"duplicate", func(w *Writer) error {
			if err := w.WriteFile("x", 0o644, nil); err != nil {
				return err
			}
			return w.Symlink("x", "y")
		}, "written twice"},
		{"dotdot", func(w *Writer) error { return w.WriteFile("a/../../etc/passwd", 0o644, nil) }, `".." element`},
		{"root", func(w *Writer) error { return w.WriteFile("/", 0o644, nil) }, "archive root"},
		{"empty link", func(w *Writer) error { return w.Symlink("l", "") }, "empty target"},
		{"short reader", func(w *Writer) error { return w.CopyFile("f", 0o644, 10, strings.NewReader("abc")) }, "copied 3 of 10"},
		{"after close", func(w *Writer) error {
			if err := w.Close(); err != nil {
				return err
			}
			return w.WriteFile("late", 0o644, nil)
		}, "after Close"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wanterr.Check(t, tt.do(NewWriter(&bytes.Buffer{})), tt.want)
		})
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"bin/sh", "bin/sh"},
		{"/bin/sh", "bin/sh"},
		{"./bin//sh", "bin/sh"},
		{"//lab/run/", "lab/run"},
		{"a/./b", "a/b"},
	}
	for _, tt := range tests {
		if got, err := Clean(tt.in); err != nil || got != tt.want {
			t.Errorf("Clean(%q) = %q, %v; expected %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "/", ".", "..", "../x", "a/../b"} {
		if got, err := Clean(bad); err == nil {
			t.Errorf("Clean(%q) = %q; expected an error", bad, got)
		}
	}
}

func TestReadAllErrors(t *testing.T) {
	g := string(archive(t, func(w *Writer) error { return w.WriteFile("f", 0o644, []byte("data")) }))
	tests := map[string]string{
		"empty":         "",
		"no trailer":    g[:116],
		"bad magic":     "070707" + g[6:],
		"bad hex":       g[:6] + "zzzzzzzz" + g[14:],
		"data too long": strings.Replace(g, "00000004", "00000fff", 1),
	}
	for name, in := range tests {
		if _, err := ReadAll(strings.NewReader(in)); err == nil {
			t.Errorf("%s: ReadAll succeeded; expected an error", name)
		}
	}
}

// FuzzReadAll: ReadAll must not panic on any input, nor return more than it was given.
func FuzzReadAll(f *testing.F) {
	f.Add(archive(f, func(w *Writer) error {
		return errors.Join(w.WriteFile("etc/hosts", 0o644, []byte("127.0.0.1 localhost\n")), w.Symlink("bin/sh", "dash"))
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := ReadAll(bytes.NewReader(b))
		if err != nil {
			return
		}
		total := 0
		for _, e := range entries {
			total += len(e.Name) + len(e.Data)
		}
		if total > len(b) {
			t.Fatalf("entries hold %d bytes from an archive of %d", total, len(b))
		}
	})
}
