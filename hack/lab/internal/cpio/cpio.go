// Package cpio writes "newc" cpio archives, the format the Linux kernel unpacks as an
// initramfs. It writes only what an initramfs needs: directories, regular files, symlinks and
// device nodes, with parent directories created on demand so callers can add paths in any order.
package cpio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// newcMagic opens every newc header (no checksum variant).
const newcMagic = "070701"

// trailerName ends an archive.
const trailerName = "TRAILER!!!"

// File type bits of the mode field (as in <sys/stat.h>).
const (
	typeMask    = 0o170000
	typeDir     = 0o040000
	typeRegular = 0o100000
	typeSymlink = 0o120000
	typeChar    = 0o020000
)

// Writer writes one newc archive. Paths are relative to the archive root ("bin/sh"; a leading
// "/" or "./" is dropped). Every entry has uid/gid 0 and mtime 0, so that an archive depends
// only on what was added: the same inputs give the same bytes.
type Writer struct {
	w      *bufio.Writer
	ino    uint32
	seen   map[string]bool // every path written, directories included
	closed bool
}

// NewWriter returns a Writer that writes to w. Close must be called to write the trailer.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 1<<20), seen: map[string]bool{".": true}}
}

// Clean turns an archive path into the form the writer stores ("a/b"); it rejects the root
// and paths with ".." elements.
func Clean(name string) (string, error) {
	rel := strings.TrimLeft(name, "/")
	for _, el := range strings.Split(rel, "/") {
		if el == ".." {
			return "", fmt.Errorf("cpio: path %q has a \"..\" element; expected a path inside the archive", name)
		}
	}
	p := path.Clean(rel)
	if p == "." {
		return "", fmt.Errorf("cpio: path %q names the archive root; expected a file below it", name)
	}
	return p, nil
}

// Has tells whether name was already written (as a file, link, node or directory).
func (cw *Writer) Has(name string) bool {
	p, err := Clean(name)
	return err == nil && cw.seen[p]
}

// Mkdir writes a directory (and its missing parents). An existing directory is not an error.
func (cw *Writer) Mkdir(name string, perm fs.FileMode) error {
	p, err := Clean(name)
	if err != nil {
		return err
	}
	if cw.seen[p] {
		return nil
	}
	if err := cw.parents(p); err != nil {
		return err
	}
	return cw.entry(p, typeDir|uint32(perm.Perm()), 0, 0, nil, 0)
}

// WriteFile writes a regular file with the given content.
func (cw *Writer) WriteFile(name string, perm fs.FileMode, data []byte) error {
	return cw.CopyFile(name, perm, int64(len(data)), strings.NewReader(string(data)))
}

// CopyFile writes a regular file of size bytes read from r; r must hold exactly size bytes.
func (cw *Writer) CopyFile(name string, perm fs.FileMode, size int64, r io.Reader) error {
	p, err := cw.newPath(name)
	if err != nil {
		return err
	}
	if size < 0 || size > 0xffffffff {
		return fmt.Errorf("cpio: %s: size %d does not fit a newc header (max 4 GiB - 1)", p, size)
	}
	return cw.entry(p, typeRegular|uint32(perm.Perm()), 0, 0, r, size)
}

// Symlink writes a symbolic link at name pointing to target.
func (cw *Writer) Symlink(name, target string) error {
	p, err := cw.newPath(name)
	if err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("cpio: symlink %s: empty target", p)
	}
	return cw.entry(p, typeSymlink|0o777, 0, 0, strings.NewReader(target), int64(len(target)))
}

// CharDevice writes a character device node (for example dev/console, 5:1).
func (cw *Writer) CharDevice(name string, perm fs.FileMode, major, minor uint32) error {
	p, err := cw.newPath(name)
	if err != nil {
		return err
	}
	return cw.entry(p, typeChar|uint32(perm.Perm()), major, minor, nil, 0)
}

// Close writes the trailer and flushes. It does not close the underlying writer.
func (cw *Writer) Close() error {
	if cw.closed {
		return errors.New("cpio: archive already closed")
	}
	cw.closed = true
	if err := cw.header(trailerName, 0, 0, 0, 0, 1); err != nil {
		return err
	}
	return cw.w.Flush()
}

// newPath cleans name, refuses a duplicate and writes missing parent directories.
func (cw *Writer) newPath(name string) (string, error) {
	p, err := Clean(name)
	if err != nil {
		return "", err
	}
	if cw.seen[p] {
		return "", fmt.Errorf("cpio: %s written twice; expected each path once", p)
	}
	return p, cw.parents(p)
}

func (cw *Writer) parents(p string) error {
	dir := path.Dir(p)
	if cw.seen[dir] {
		return nil
	}
	if err := cw.parents(dir); err != nil {
		return err
	}
	return cw.entry(dir, typeDir|0o755, 0, 0, nil, 0)
}

func (cw *Writer) entry(p string, mode, rmajor, rminor uint32, r io.Reader, size int64) error {
	if cw.closed {
		return fmt.Errorf("cpio: %s added after Close", p)
	}
	cw.seen[p] = true
	cw.ino++
	nlink := uint32(1)
	if mode&typeMask == typeDir {
		nlink = 2
	}
	if err := cw.header(p, mode, rmajor, rminor, uint32(size), nlink); err != nil {
		return err
	}
	if size == 0 {
		return nil
	}
	n, err := io.CopyN(cw.w, r, size)
	if err != nil {
		return fmt.Errorf("cpio: %s: copied %d of %d bytes: %w", p, n, size, err)
	}
	return cw.pad(size)
}

// header writes one newc header and the NUL-terminated name, padded to 4 bytes.
func (cw *Writer) header(name string, mode, rmajor, rminor, size, nlink uint32) error {
	ino := cw.ino
	if name == trailerName {
		ino = 0
	}
	fields := []uint32{ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, uint32(len(name) + 1), 0}
	var b strings.Builder
	b.Grow(110 + len(name) + 4)
	b.WriteString(newcMagic)
	for _, f := range fields {
		fmt.Fprintf(&b, "%08x", f)
	}
	b.WriteString(name)
	b.WriteByte(0)
	if _, err := cw.w.WriteString(b.String()); err != nil {
		return err
	}
	return cw.pad(int64(110 + len(name) + 1))
}

func (cw *Writer) pad(n int64) error {
	if rem := n % 4; rem != 0 {
		_, err := cw.w.Write(make([]byte, 4-rem))
		return err
	}
	return nil
}
