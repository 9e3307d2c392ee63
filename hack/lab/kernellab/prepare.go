package kernellab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/internal/debian"
	"github.com/ipvs-e2e/ipvs-e2e/hack/internal/elflibs"
)

// baseFormat changes whenever the base initramfs's layout changes, so cached ones are rebuilt.
const baseFormat = "ipvs-e2e-lab-base/1"

// Lab is a prepared kernel lab: a kernel and a base initramfs, ready to boot jobs.
type Lab struct {
	// KernelVersion is the running kernel's release ("6.1.0-56-cloud-amd64").
	KernelVersion string
	// Kernel and Initramfs are the files QEMU boots (the base archive, without a job).
	Kernel    string
	Initramfs string
	// Modules and Binaries count what the base initramfs holds.
	Modules  int
	Binaries int

	opts Options
}

// baseStats is stored beside a cached base initramfs.
type baseStats struct {
	Modules  int `json:"modules"`
	Binaries int `json:"binaries"`
}

// PrepareWhile runs Prepare while build builds what the guest will run: one is mostly
// downloads and cache checks, the other CPU. It returns the lab when both succeeded.
func PrepareWhile(ctx context.Context, opts Options, build func() error) (*Lab, error) {
	built := make(chan error, 1)
	go func() { built <- build() }()
	start := time.Now()
	l, err := Prepare(ctx, opts)
	if err == nil {
		slog.Info("lab prepared", "kernel", l.KernelVersion, "elapsed", time.Since(start).Round(10*time.Millisecond))
	}
	if err := errors.Join(err, <-built); err != nil {
		return nil, err
	}
	return l, nil
}

// Prepare makes sure everything the lab needs is on this machine and cached: QEMU and
// busybox-static (installed with apt-get only when missing), the kernel, the tools and the
// base initramfs. A second call with a warm cache costs one apt-cache lookup.
func Prepare(ctx context.Context, opts Options) (*Lab, error) {
	o := opts.withDefaults()
	log := o.Logger
	start := time.Now()
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("lab cache %s: %w", o.CacheDir, err)
	}
	unlock, err := lockDir(ctx, o.CacheDir, log)
	if err != nil {
		return nil, err
	}
	defer unlock()

	apt := &debian.Apt{Run: debian.Exec}
	busybox, err := ensureHostTools(ctx, apt, log)
	if err != nil {
		return nil, err
	}

	kver, kpkg, err := resolveKernel(ctx, apt, o)
	if err != nil {
		return nil, err
	}
	kdir := filepath.Join(o.CacheDir, kver)
	kroot := filepath.Join(kdir, "kernel")
	if err := ensureKernel(ctx, apt, o, kpkg, kver, kroot, busybox); err != nil {
		return nil, err
	}
	troot := filepath.Join(kdir, "tools")
	if err := ensureTools(ctx, apt, o, troot); err != nil {
		return nil, err
	}

	recipe, err := baseRecipe(o, kver, busybox)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(kdir, "base-"+recipe+".cpio.gz")
	l := &Lab{KernelVersion: kver, Kernel: filepath.Join(kroot, "boot", "vmlinuz-"+kver), Initramfs: base, opts: o}
	var st baseStats
	if b, err := os.ReadFile(base + ".json"); err == nil && !o.Refresh && json.Unmarshal(b, &st) == nil {
		if _, err := os.Stat(base); err == nil {
			l.Modules, l.Binaries = st.Modules, st.Binaries
			log.Info("lab: ready (cached)", "kernel", kver, "modules", st.Modules, "binaries", st.Binaries, "elapsed", since(start))
			return l, nil
		}
	}
	st, err = buildBaseFile(ctx, base, baseInputs{
		kver: kver, kroot: kroot, troot: troot, busybox: busybox,
		modules: o.Modules, trees: o.ModuleTrees, tools: o.Tools, log: log,
	})
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(base+".json", b, 0o644); err != nil {
		return nil, err
	}
	l.Modules, l.Binaries = st.Modules, st.Binaries
	log.Info("lab: ready", "kernel", kver, "initramfs", base, "elapsed", since(start))
	return l, nil
}

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

// lockDir serialises Prepare between processes sharing a cache (two `make` runs, CI steps).
func lockDir(ctx context.Context, dir string, log *slog.Logger) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		log.Info("lab: waiting for another process preparing the lab cache", "dir", dir)
		for {
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				f.Close()
				return nil, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return func() { f.Close() }, nil
}

// ensureHostTools installs qemu-system-x86 and busybox-static when missing and returns the
// static busybox's path.
func ensureHostTools(ctx context.Context, apt *debian.Apt, log *slog.Logger) (string, error) {
	var pkgs []string
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		pkgs = append(pkgs, "qemu-system-x86")
	}
	busybox, static := staticBusybox()
	if !static {
		pkgs = append(pkgs, "busybox-static")
	}
	if len(pkgs) > 0 {
		log.Info("lab: installing host packages "+strings.Join(pkgs, " "), "why", "QEMU boots the guest; a static busybox is its userland")
		t := time.Now()
		if err := apt.Install(ctx, pkgs...); err != nil {
			return "", err
		}
		log.Info("lab: installed host packages", "elapsed", since(t))
		if busybox, static = staticBusybox(); !static {
			return "", errors.New("busybox-static is installed but no static busybox is in PATH; expected /bin/busybox")
		}
		if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
			return "", fmt.Errorf("qemu-system-x86 is installed but qemu-system-x86_64 is not in PATH: %w", err)
		}
	}
	return busybox, nil
}

func staticBusybox() (string, bool) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		info, ok, err := elflibs.Read(p)
		if err == nil && ok && info.Interp == "" && len(info.Needed) == 0 {
			return p, true
		}
	}
	return "", false
}

// resolveKernel finds the kernel package through the metapackage; offline, it falls back to
// the newest kernel already in the cache.
func resolveKernel(ctx context.Context, apt *debian.Apt, o Options) (kver, pkg string, err error) {
	pkg, err = apt.ResolveMeta(ctx, o.KernelMeta, "linux-image-")
	if err == nil {
		return strings.TrimPrefix(pkg, "linux-image-"), pkg, nil
	}
	cached, _ := filepath.Glob(filepath.Join(o.CacheDir, "*", "kernel", ".ready"))
	if len(cached) == 0 {
		return "", "", err
	}
	slices.SortFunc(cached, func(a, b string) int { return modTime(b).Compare(modTime(a)) })
	kver = filepath.Base(filepath.Dir(filepath.Dir(cached[0])))
	o.Logger.Warn("lab: cannot resolve the kernel package; using the newest cached kernel", "kernel", kver, "err", err)
	return kver, "linux-image-" + kver, nil
}

func modTime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// ensureKernel downloads and unpacks the kernel package and indexes its modules with
// busybox depmod (the package ships no modules.dep: Debian's postinst makes it).
func ensureKernel(ctx context.Context, apt *debian.Apt, o Options, pkg, kver, kroot, busybox string) error {
	if _, err := os.Stat(filepath.Join(kroot, ".ready")); err == nil {
		return nil
	}
	log := o.Logger
	t := time.Now()
	log.Info("lab: fetching kernel " + pkg)
	debs, err := apt.Download(ctx, filepath.Join(o.CacheDir, "debs"), pkg)
	if err != nil {
		return err
	}
	tmp := kroot + ".tmp"
	os.RemoveAll(tmp)
	if err := apt.Unpack(ctx, debs[pkg], tmp); err != nil {
		return err
	}
	if _, err := apt.Run(ctx, "", busybox, "depmod", "-b", tmp, kver); err != nil {
		return fmt.Errorf("indexing the kernel's modules: %w", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "boot", "vmlinuz-"+kver)); err != nil {
		return fmt.Errorf("%s unpacked without boot/vmlinuz-%s: %w", pkg, kver, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".ready"), []byte(pkg+"\n"), 0o644); err != nil {
		return err
	}
	os.RemoveAll(kroot)
	if err := os.Rename(tmp, kroot); err != nil {
		return err
	}
	log.Info("lab: kernel unpacked", "kernel", kver, "elapsed", since(t))
	return nil
}

// ensureTools downloads the tool packages and their library packages and unpacks them all
// into one tree.
func ensureTools(ctx context.Context, apt *debian.Apt, o Options, troot string) error {
	var names []string
	for _, t := range o.Tools {
		names = append(names, t.Package)
	}
	t := time.Now()
	tree, err := apt.UnpackTree(ctx, filepath.Join(o.CacheDir, "debs"), troot, names, hostProvided)
	if err != nil {
		return err
	}
	if !tree.Cached {
		o.Logger.Info("lab: tools unpacked", "packages", len(tree.Packages), "elapsed", since(t))
	}
	return nil
}

// baseRecipe hashes everything the base initramfs is made from, to name the cached file.
func baseRecipe(o Options, kver, busybox string) (string, error) {
	st, err := os.Stat(busybox)
	if err != nil {
		return "", err
	}
	tools, err := os.ReadFile(filepath.Join(o.CacheDir, kver, "tools", ".ready"))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%v\n%v\n%+v\n%s\n%d %d\n%s", baseFormat, kver, o.Modules, o.ModuleTrees, o.Tools,
		guestInit, st.Size(), st.ModTime().Unix(), tools)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
