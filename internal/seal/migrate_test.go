//go:build !notpm2

package seal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/seal/swtpmtest"
)

// TestLoadRules checks the rules of Load that decide between root.key and root.seal: never a weaker seal
// than the disk holds, never a clear key when a hardware seal is configured, never a modification.
func TestLoadRules(t *testing.T) {
	tp := swtpmtest.Start(t)
	o := tpmOptions(t, tp, 7)
	fileKey := bytes.Repeat([]byte{0x42}, KeySize)
	if err := os.WriteFile(o.KeyPath, fileKey, 0o600); err != nil {
		t.Fatal(err)
	}
	// A configured tpm2 seal with only the key file: refused, the file untouched, no blob made.
	if _, err := Load(o); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "keyward seal migrate --to tpm2") {
		t.Fatalf("tpm2 with a key file: err = %v", err)
	}
	assertUnchanged(t, o.KeyPath, fileKey)
	if _, err := os.Stat(SealPath(o.KeyPath)); !os.IsNotExist(err) {
		t.Fatal("a blob was made")
	}
	// Auto and file use it.
	for _, b := range []string{"", BackendFile} {
		o2 := o
		o2.Backend = b
		if k, err := Load(o2); err != nil || !bytes.Equal(k, fileKey) {
			t.Fatalf("backend %q: %v", b, err)
		}
	}
	if _, err := Migrate(o, BackendTPM2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.KeyPath); !os.IsNotExist(err) {
		t.Fatal("the key file survived the migration")
	}
	blob, _ := os.ReadFile(SealPath(o.KeyPath))
	// Sealed: file refuses (never weaker, never a new file key), another hardware backend refuses.
	for _, b := range []string{BackendFile, BackendPKCS11, BackendKeyring} {
		o2 := o
		o2.Backend = b
		if _, err := Load(o2); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "sealed with tpm2") {
			t.Fatalf("backend %s with a tpm2 blob: err = %v", b, err)
		}
		if _, err := os.Stat(o.KeyPath); !os.IsNotExist(err) {
			t.Fatalf("backend %s made a key file", b)
		}
	}
	for _, b := range []string{"", BackendTPM2} {
		o2 := o
		o2.Backend = b
		if k, err := Load(o2); err != nil || !bytes.Equal(k, fileKey) {
			t.Fatalf("backend %q after migration: %v", b, err)
		}
	}
	// Both files (an interrupted migration): the same key opens; another key is refused by every backend.
	os.WriteFile(o.KeyPath, fileKey, 0o600)
	if k, err := Load(o); err != nil || !bytes.Equal(k, fileKey) {
		t.Fatalf("both, same key: %v", err)
	}
	if st := GetStatus(o); !st.Incomplete || st.Err != nil {
		t.Fatalf("status %+v, want incomplete", st)
	}
	other := bytes.Repeat([]byte{0x43}, KeySize)
	os.WriteFile(o.KeyPath, other, 0o600)
	for _, b := range []string{"", BackendFile, BackendTPM2} {
		o2 := o
		o2.Backend = b
		if _, err := Load(o2); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "different root keys") {
			t.Fatalf("backend %q, both, different keys: err = %v", b, err)
		}
	}
	assertUnchanged(t, o.KeyPath, other)
	assertUnchanged(t, SealPath(o.KeyPath), blob)
	if _, err := Migrate(o, BackendTPM2); err == nil {
		t.Fatal("migrate with conflicting keys succeeded")
	}
	assertUnchanged(t, o.KeyPath, other)
	// An unknown backend.
	o.Backend = "tpm3"
	if _, err := Load(o); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown backend: %v", err)
	}
}

// TestMigrate: file -> tpm2 -> re-seal to another policy -> file, each keeping the key; running it again is
// a no-op; a blob in the middle of an interrupted migration is finished by running it again.
func TestMigrate(t *testing.T) {
	tp := swtpmtest.Start(t)
	o := tpmOptions(t, tp)
	o.Backend = ""
	key, err := Load(o) // a new file key, as the build host provisions it
	if err != nil {
		t.Fatal(err)
	}
	msg, err := Migrate(o, BackendTPM2)
	if err != nil || !strings.Contains(msg, "removed") {
		t.Fatalf("migrate: %q, %v", msg, err)
	}
	if msg, err := Migrate(o, BackendTPM2); err != nil || !strings.Contains(msg, "already sealed") {
		t.Fatalf("migrate again: %q, %v", msg, err)
	}
	o.TPM2.PCRs = []int{7}
	if msg, err := Migrate(o, BackendTPM2); err != nil || !strings.Contains(msg, "sha256:7") {
		t.Fatalf("re-seal to PCR 7: %q, %v", msg, err)
	}
	if st := GetStatus(o); !strings.Contains(st.Detail, "sha256:7") || st.Err != nil {
		t.Fatalf("status after re-seal %+v", st)
	}
	tpm2Tool(t, tp, "tpm2_pcrextend", "7:sha256="+strings.Repeat("44", 32))
	if _, err := Load(o); !errors.Is(err, ErrPolicy) {
		t.Fatalf("re-sealed to PCR 7, after an extend: %v", err)
	}
	tp.Restart()
	if _, err := Migrate(o, BackendFile); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(SealPath(o.KeyPath)); !os.IsNotExist(err) {
		t.Fatal("root.seal survived migrating to file")
	}
	o.Backend = BackendFile
	if k, err := Load(o); err != nil || !bytes.Equal(k, key) {
		t.Fatalf("back to file: %v", err)
	}
	fi, _ := os.Stat(o.KeyPath)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
}

// TestMigrateKilled runs `migrate --to tpm2` in a child process and SIGKILLs it at random moments: every
// time, the store's root key opens (auto, and with the target backend once the blob is there) and is the
// original key; running the migration again then completes it.
func TestMigrateKilled(t *testing.T) {
	tp := swtpmtest.Start(t)
	key := bytes.Repeat([]byte{0x5c}, KeySize)
	const rounds = 30
	completed, killed := 0, 0
	var span time.Duration // how long one child takes to finish: kills land uniformly within it
	for i := range rounds {
		o := tpmOptions(t, tp, 7)
		if err := os.WriteFile(o.KeyPath, key, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateChild$")
		cmd.Env = append(os.Environ(), "KEYWARD_SEAL_CHILD="+o.KeyPath+"|"+o.TPM2.Device)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if i == 0 {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("the child migration failed: %v", err)
			}
			span = time.Since(start)
		} else {
			time.Sleep(time.Duration(rand.Int64N(int64(span))))
			cmd.Process.Signal(syscall.SIGKILL)
		}
		if i == 0 {
			completed++
		} else if err := cmd.Wait(); err == nil {
			completed++
		} else {
			killed++
		}
		auto := o
		auto.Backend = ""
		got, err := Load(auto)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("round %d: after the kill the root key does not open: %v (same: %v); files: %v", i, err, bytes.Equal(got, key), listDir(o.KeyPath))
		}
		if _, err := os.Stat(SealPath(o.KeyPath)); err == nil {
			if got, err := Load(o); err != nil || !bytes.Equal(got, key) {
				t.Fatalf("round %d: the blob is installed but tpm2 does not open it: %v", i, err)
			}
		}
		if _, err := Migrate(o, BackendTPM2); err != nil {
			t.Fatalf("round %d: migration again: %v", i, err)
		}
		if got, err := Load(o); err != nil || !bytes.Equal(got, key) {
			t.Fatalf("round %d: after completing: %v", i, err)
		}
		if _, err := os.Stat(o.KeyPath); !os.IsNotExist(err) {
			t.Fatalf("round %d: key file left after completing", i)
		}
	}
	t.Logf("%d rounds (a migration takes %v with the process start): %d killed, %d completed before the kill", rounds, span, killed, completed)
	if killed == 0 {
		t.Error("no round was killed mid-way: the test proves nothing")
	}
}

// TestMigrateChild is the child process of TestMigrateKilled.
func TestMigrateChild(t *testing.T) {
	env := os.Getenv("KEYWARD_SEAL_CHILD")
	if env == "" {
		t.Skip("child process of TestMigrateKilled")
	}
	path, dev, _ := strings.Cut(env, "|")
	o := Options{KeyPath: path, TPM2: TPM2Options{Device: dev, PCRs: []int{7}}}
	if _, err := Migrate(o, BackendTPM2); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// TestMigrateAsRoot is the first-boot unit's case: root migrates the daemon user's key file; the blob keeps
// that owner, and only the root-run tool (ForeignOwner) accepts the foreign files, never the daemon's load.
func TestMigrateAsRoot(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to own files as another uid")
	}
	tp := swtpmtest.Start(t)
	o := tpmOptions(t, tp, 7)
	key := bytes.Repeat([]byte{0x17}, KeySize)
	os.WriteFile(o.KeyPath, key, 0o600)
	os.Chown(o.KeyPath, 65534, 65534)
	if _, err := Migrate(o, BackendTPM2); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("migrate of a foreign key file without ForeignOwner: %v", err)
	}
	o.ForeignOwner = true
	if _, err := Migrate(o, BackendTPM2); err != nil {
		t.Fatal(err)
	}
	if uid, gid := fileOwner(SealPath(o.KeyPath)); uid != 65534 || gid != 65534 {
		t.Fatalf("root.seal owned by %d:%d, want the key file's 65534:65534", uid, gid)
	}
	if got, err := Load(o); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("load as root with ForeignOwner: %v", err)
	}
	o.ForeignOwner = false
	if _, err := Load(o); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "owned by another user") {
		t.Fatalf("load of a foreign blob: %v", err)
	}
}
