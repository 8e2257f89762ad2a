package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A PIN file far longer than any PIN, and a PIN longer than the token takes, are refused in words before
// the token sees them: neither counts as a failed attempt. A wrong PIN of a valid length does count.
func TestPINLimits(t *testing.T) {
	env := newToken(t, "pinlim")
	info := func() tokenJSON {
		t.Helper()
		var j tokenJSON
		if err := json.Unmarshal([]byte(ok(t, env, "token", "info", "--token", "pinlim", "--json")), &j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	big := filepath.Join(t.TempDir(), "big.pin")
	if err := os.WriteFile(big, make([]byte, 10<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	fails(t, kw(t, env, "list", "--token", "pinlim", "--pin-source", big), exitUsage, "no PIN is that long")
	long := map[string]string{"KEYWARD_PIN": strings.Repeat("x", int(info().MaxPINLen)+1)}
	fails(t, kw(t, long, "list", "--token", "pinlim", "--login"), exitUsage, "longer than token \"pinlim\" takes")
	if j := info(); j.UserPINLow {
		t.Fatalf("a refused PIN counted as a failed attempt: %+v", j)
	}
	wrong := map[string]string{"KEYWARD_PIN": "wrong-pin"}
	fails(t, kw(t, wrong, "list", "--token", "pinlim", "--login"), exitAuth, "")
	if j := info(); !j.UserPINLow {
		t.Fatalf("a wrong PIN did not count: %+v", j)
	}
	ok(t, env, "list", "--token", "pinlim", "--login") // the right one resets the count
}

// Offline mode with a root key that does not exist, for a store that has tokens, refuses instead of making a
// new root key that would not open them.
func TestOfflineMistypedRootKey(t *testing.T) {
	dir := t.TempDir()
	st, rootKey := filepath.Join(dir, "store"), filepath.Join(dir, "root.key")
	env := map[string]string{"KEYWARD_SOCKET": filepath.Join(dir, "no-daemon.sock"), "KEYWARD_KDF": "fast",
		"KEYWARD_SO_PIN": "offline-so-pin", "KEYWARD_PIN": "offline-user"}
	pinFile := filepath.Join(dir, "user.pin")
	os.WriteFile(pinFile, []byte("offline-user\n"), 0o600)
	ok(t, env, "--store", st, "--root-key", rootKey, "token", "init", "--label", "image", "--pin-source", pinFile)
	typo := filepath.Join(dir, "root.kye")
	fails(t, kw(t, env, "--store", st, "--root-key", typo, "slots"), exitFailed, "but the store already holds tokens")
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Errorf("offline mode created a root key at the mistyped path: %v", err)
	}
	ok(t, env, "--store", st, "--root-key", rootKey, "list", "--token", "image", "--login")
}
