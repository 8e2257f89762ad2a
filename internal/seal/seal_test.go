package seal

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestCreateThenLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "root.key")
	k1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(k1) != KeySize {
		t.Fatalf("key size %d, want %d", len(k1), KeySize)
	}
	if bytes.Equal(k1, make([]byte, KeySize)) {
		t.Fatal("key is all zeros")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %#o, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm()&0o077 != 0 {
		t.Errorf("created directory mode %#o, want no group/other bits", di.Mode().Perm())
	}
	// No temporary file is left behind.
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the key file: %v", len(ents), ents)
	}

	k2, err := LoadOrCreate(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second LoadOrCreate returned a different key")
	}
	k3, err := File{Path: path}.RootKey()
	if err != nil || !bytes.Equal(k1, k3) {
		t.Fatalf("File.RootKey = %x, %v; want %x", k3, err, k1)
	}
}

func TestDistinctKeys(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreate(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two new keys are equal")
	}
}

func TestLoadExisting(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := filepath.Join(t.TempDir(), "root.key")
		want := bytes.Repeat([]byte{0xA5}, KeySize)
		if err := os.WriteFile(path, want, mode); err != nil {
			t.Fatal(err)
		}
		got, err := LoadOrCreate(path)
		if err != nil {
			t.Fatalf("mode %#o: %v", mode, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("mode %#o: got %x, want %x", mode, got, want)
		}
	}
}

func TestRefuseLooseMode(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o700, 0o660} {
		path := filepath.Join(t.TempDir(), "root.key")
		content := bytes.Repeat([]byte{1}, KeySize)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreate(path)
		if err == nil || !strings.Contains(err.Error(), "mode") {
			t.Errorf("mode %#o: err = %v, want a mode error", mode, err)
		}
		assertUnchanged(t, path, content)
	}
}

func TestRefuseWrongSize(t *testing.T) {
	for _, size := range []int{0, 1, KeySize - 1, KeySize + 1, 4096} {
		path := filepath.Join(t.TempDir(), "root.key")
		content := bytes.Repeat([]byte{7}, size)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreate(path)
		if err == nil || !strings.Contains(err.Error(), "bytes") {
			t.Errorf("size %d: err = %v, want a size error", size, err)
		}
		assertUnchanged(t, path, content)
	}
}

func TestRefuseForeignOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to create a file owned by another uid")
	}
	path := filepath.Join(t.TempDir(), "root.key")
	content := bytes.Repeat([]byte{3}, KeySize)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Skipf("chown: %v", err)
	}
	_, err := LoadOrCreate(path)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("err = %v, want an owner error", err)
	}
	assertUnchanged(t, path, content)
}

func TestRefuseNonRegular(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("err = %v, want a not-a-regular-file error", err)
	}
}

// TestConcurrentCreate checks that racing creators all end up with the one
// key that was installed.
func TestConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreate(path) })
	}
	wg.Wait()
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("creator %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], onDisk) {
			t.Fatalf("creator %d got a key that is not the installed one", i)
		}
	}
}

func assertUnchanged(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s was modified", path)
	}
}

func listDir(path string) []string {
	ents, _ := os.ReadDir(filepath.Dir(path))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
