package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
)

// setupLogging makes the configured logging the program's, as component-base's logsapi
// does for kube-proxy: klog's verbosity and vmodule in both formats; with text, klog's own
// lines (flushed every FlushFrequency); with json, klog's global logger and klog.Background
// become log/slog's JSON handler on stderr, at level -verbosity so that V(n) passes when
// n <= verbosity. It returns the logger and a function that undoes the global changes.
func setupLogging(c config.Logging, stderr io.Writer) (klog.Logger, func()) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	// The values were validated by proxy/config; klog parses the same syntax.
	_ = fs.Set("v", strconv.Itoa(c.Verbosity))
	_ = fs.Set("vmodule", c.VModule)
	undo := func() {
		_ = fs.Set("v", "0")
		_ = fs.Set("vmodule", "")
		klog.ClearLogger()
	}
	if c.Format == config.LogFormatJSON {
		h := slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.Level(-c.Verbosity)})
		logger := logr.FromSlogHandler(h)
		klog.SetLoggerWithOptions(logger, klog.ContextualLogger(true))
		return logger, undo
	}
	klog.StartFlushDaemon(c.FlushFrequency)
	return klog.Background(), undo
}

// logBuffer keeps what is logged while the configuration is read, before its logging
// settings apply, to write it afterwards in the configured format.
type logBuffer struct {
	mu      sync.Mutex
	records []slog.Record
	attrs   []slog.Attr
	parent  *logBuffer
}

func (b *logBuffer) root() *logBuffer {
	if b.parent != nil {
		return b.parent.root()
	}
	return b
}

func (b *logBuffer) Enabled(context.Context, slog.Level) bool { return true }

func (b *logBuffer) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(b.attrs...)
	root := b.root()
	root.mu.Lock()
	defer root.mu.Unlock()
	root.records = append(root.records, r)
	return nil
}

func (b *logBuffer) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logBuffer{attrs: append(slices.Clone(b.attrs), attrs...), parent: b}
}

// WithGroup is not needed: proxy/config logs no groups.
func (b *logBuffer) WithGroup(string) slog.Handler { return b }

// replay writes the kept records to logger.
func (b *logBuffer) replay(logger klog.Logger) {
	h := logr.ToSlogHandler(logger)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.records {
		if h.Enabled(context.Background(), r.Level) {
			_ = h.Handle(context.Background(), r)
		}
	}
	b.records = nil
}
