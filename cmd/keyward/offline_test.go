package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/store"
)

// TestOfflineStore provisions a store with no daemon (--store), then reads it back in a second offline run,
// and checks that a store a daemon owns is refused.
func TestOfflineStore(t *testing.T) {
	dir := t.TempDir()
	st, rootKey := filepath.Join(dir, "store"), filepath.Join(dir, "keys", "root.key")
	env := map[string]string{"KEYWARD_SOCKET": filepath.Join(dir, "no-daemon.sock"), "KEYWARD_KDF": "fast",
		"KEYWARD_SO_PIN": "offline-so-pin", "KEYWARD_PIN": "offline-user"}
	pinFile := filepath.Join(dir, "user.pin")
	os.WriteFile(pinFile, []byte("offline-user\n"), 0o600)
	global := []string{"--store", st, "--root-key", rootKey}
	out := ok(t, env, append(global, "token", "init", "--label", "image", "--pin-source", pinFile)...)
	if !strings.Contains(out, `initialised token "image"`) {
		t.Fatalf("offline token init: %q", out)
	}
	out = ok(t, env, append(global, "key", "generate", "--type", "ec:p256", "--label", "device-id", "--token", "image")...)
	if !strings.HasPrefix(strings.TrimSpace(out), "pkcs11:") {
		t.Fatalf("offline key generate: %q", out)
	}
	// A second run, a new process view of the same store: the key is there.
	out = ok(t, env, append(global, "list", "--token", "image", "--login")...)
	if !strings.Contains(out, "device-id") {
		t.Fatalf("offline list after provisioning: %q", out)
	}
	// While something owns the store (a daemon would), offline mode refuses.
	held, err := store.Open(st)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	fails(t, kw(t, env, append(global, "slots")...), exitFailed, "in use by a running keywardd")
	fails(t, kw(t, env, "--root-key", rootKey, "slots"), exitUsage, "--root-key goes with --store")
}

func TestTokenDelete(t *testing.T) {
	env := newToken(t, "to-delete")
	fails(t, kw(t, env, "token", "delete", "--token", "to-delete"), exitUsage, "")
	wrong := map[string]string{"KEYWARD_SO_PIN": "not-the-pin"}
	for k, v := range env {
		if k != "KEYWARD_SO_PIN" {
			wrong[k] = v
		}
	}
	if r := kw(t, wrong, "token", "delete", "--token", "to-delete", "--yes"); r.code == 0 {
		t.Fatal("token delete with a wrong SO PIN succeeded")
	}
	out := ok(t, env, "token", "delete", "--token", "to-delete", "--yes")
	if !strings.Contains(out, `deleted token "to-delete"`) {
		t.Fatalf("token delete: %q", out)
	}
	if out := ok(t, env, "token", "list"); strings.Contains(out, "to-delete") {
		t.Fatalf("the deleted token is still listed:\n%s", out)
	}
}
