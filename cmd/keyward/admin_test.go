package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestP11KitConfigDoctor(t *testing.T) {
	dir := t.TempDir()
	mod := writeFile(t, "libkeyward.so", []byte("not really a library"))
	out := ok(t, nil, "p11kit", "install", "--dir", dir, "--module", mod)
	if !strings.Contains(out, "keyward.module") {
		t.Errorf("install: %q", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "keyward.module"))
	if err != nil || !strings.Contains(string(b), "module: "+mod+"\n") {
		t.Fatalf("keyward.module: %q %v", b, err)
	}
	fails(t, kw(t, nil, "p11kit", "install", "--dir", dir, "--module", filepath.Join(dir, "none.so")), exitNotFound, "is not a file")
	ok(t, nil, "p11kit", "uninstall", "--dir", dir)
	if _, err := os.Stat(filepath.Join(dir, "keyward.module")); !os.IsNotExist(err) {
		t.Errorf("uninstall left the file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "keyward.module"), []byte("module: /elsewhere.so\n"), 0o644)
	fails(t, kw(t, nil, "p11kit", "uninstall", "--dir", dir), exitFailed, "not written by keyward")

	var settings []setting
	if err := json.Unmarshal([]byte(ok(t, map[string]string{"KEYWARD_PIN": "secret-pin-value"}, "config", "--json")), &settings); err != nil {
		t.Fatal(err)
	}
	got := map[string]setting{}
	for _, s := range settings {
		got[s.Name] = s
		if strings.Contains(s.Value, "secret-pin-value") {
			t.Errorf("config prints the PIN: %+v", s)
		}
	}
	if got["socket"].Value != harness.socket || got["socket"].Source != "$KEYWARD_SOCKET" {
		t.Errorf("config socket: %+v", got["socket"])
	}

	r := kw(t, nil, "doctor")
	if !strings.Contains(r.stdout, "OK    socket") && !strings.Contains(r.stdout, "OK  socket") {
		t.Errorf("doctor: %q", r.stdout)
	}
	if !strings.Contains(r.stdout, "daemon") || !strings.Contains(r.stdout, "OK") {
		t.Errorf("doctor daemon: %q", r.stdout)
	}
	r = kw(t, map[string]string{"KEYWARD_SOCKET": filepath.Join(dir, "gone.sock")}, "doctor")
	if r.code != exitFailed || !strings.Contains(r.stdout, "keywardd is not running") {
		t.Errorf("doctor without a daemon: %+v", r)
	}
}
