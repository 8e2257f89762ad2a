package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/engine"
)

// The daemon's day-2 life: its version, its default configuration file, where an autostarted daemon logs,
// and SIGHUP (reload the configuration's token policies, reopen the log and audit files, as logrotate
// expects).

// version is keywardd's release (the Makefile's VERSION).
const version = "0.1.0"

// versionText is what --version prints.
func versionText(prog string) string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("%s %s%s (%s %s/%s)", prog, version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// SystemConfig is the system-mode daemon's configuration file, read when it exists (keyward provision writes
// token policies into it).
const SystemConfig = "/etc/keyward/keywardd.yaml"

// loadConfig reads the configuration: an explicit --config (or $KEYWARD_CONF) must exist; the system-mode
// default is optional (a fresh install has none).
func loadConfig(o *options) (*config.File, error) {
	if o.config == "" {
		return nil, nil
	}
	fc, err := config.Load(o.config)
	if err != nil && o.configDefault && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return fc, err
}

// autostartLog is the log file of a user-mode daemon started with its standard error on /dev/null (as
// libkeyward.so, pkg/client and the CLI start it): $XDG_STATE_HOME/keyward/keywardd.log. It is "" when
// stderr goes somewhere else (a terminal, a journal, a file).
func autostartLog(stderr io.Writer) string {
	f, ok := stderr.(*os.File)
	if !ok || !isDevNull(f) {
		return ""
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	dir = filepath.Join(dir, "keyward")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ""
	}
	return filepath.Join(dir, "keywardd.log")
}

func isDevNull(f *os.File) bool {
	var st, null unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || unix.Stat("/dev/null", &null) != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == null.Rdev
}

// reopenFile is an append-only log file that SIGHUP reopens (logrotate renames it, then signals).
type reopenFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openReopenFile(path string) (*reopenFile, error) {
	r := &reopenFile{path: path}
	return r, r.Reopen()
}

// Write appends to the current file.
func (r *reopenFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Write(p)
}

// Reopen opens the path again (creating it) and closes the old file.
func (r *reopenFile) Reopen() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	r.mu.Lock()
	old := r.f
	r.f = f
	r.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file.
func (r *reopenFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Close()
}

// reloader does what SIGHUP asks.
type reloader struct {
	o     *options
	log   *slog.Logger
	files []*reopenFile // the log and audit files
	eng   *engine.Engine
}

// reload reopens the log and audit files and applies the configuration's token policies. A configuration
// that no longer reads keeps the policies in force (and says so): a typo must not open every token.
func (r *reloader) reload() {
	for _, f := range r.files {
		if err := f.Reopen(); err != nil {
			r.log.Error("cannot reopen a log file", "path", f.path, "err", err)
		}
	}
	fc, err := loadConfig(r.o)
	if err != nil {
		r.log.Error("configuration not reloaded: it does not read; the previous policies stay", "path", r.o.config, "err", err)
		return
	}
	var policies []engine.TokenPolicy
	var views []engine.KeyView
	if fc != nil {
		policies, views = fc.Policies(), fc.KeyViews()
	}
	r.eng.SetPolicies(policies)
	r.eng.SetViews(views)
	r.log.Info("configuration reloaded", "path", r.o.config, "token_policies", len(policies))
}
