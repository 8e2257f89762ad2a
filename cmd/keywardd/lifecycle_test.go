package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// System mode reads /etc/keyward/keywardd.yaml by default and starts without it; an explicit --config must
// exist; user mode has no default.
func TestConfigDefault(t *testing.T) {
	t.Setenv("KEYWARD_CONF", "")
	o, err := parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.config != SystemConfig || !o.configDefault {
		t.Fatalf("system mode configuration %q (default %v), want %s", o.config, o.configDefault, SystemConfig)
	}
	if _, err := os.Stat(SystemConfig); os.IsNotExist(err) {
		if fc, err := loadConfig(o); err != nil || fc != nil {
			t.Errorf("a missing default configuration: %v %v, want none and no error", fc, err)
		}
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	o, _ = parse([]string{"--config", missing}, io.Discard)
	if _, err := loadConfig(o); err == nil {
		t.Error("a missing explicit --config was accepted")
	}
	o, _ = parse([]string{"--user"}, io.Discard)
	if o.config != "" {
		t.Errorf("user mode reads %q by default", o.config)
	}
}

// A log file reopens after a rename (logrotate): new lines go to a new file at the path.
func TestReopenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	f, err := openReopenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("one\n"))
	os.Rename(p, p+".1")
	f.Write([]byte("two\n"))
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("three\n"))
	old, _ := os.ReadFile(p + ".1")
	cur, _ := os.ReadFile(p)
	if string(old) != "one\ntwo\n" || string(cur) != "three\n" {
		t.Errorf("rotated %q, current %q", old, cur)
	}
}
