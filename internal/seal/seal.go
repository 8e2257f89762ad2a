// Package seal provides the device root key, the "hardware unique key" of the
// Keyward key hierarchy: every key that protects the store is derived from it
// or bound to it, so a store copied to another device yields nothing.
//
// The key is either a file (root.key: 32 random bytes, mode 0600 or stricter,
// owned by the daemon's uid, created on first use; the "file" backend) or
// sealed by hardware into a blob beside it (root.seal, a small versioned
// header naming the backend): "tpm2" (a TPM 2.0, optionally bound to PCRs),
// "pkcs11" (wrapped by a key in another PKCS#11 module: OP-TEE, a secure
// element) or "keyring" (Linux trusted keys). Load chooses by Options and
// never falls back to a weaker backend; Migrate moves a key between them
// atomically. docs/sealing.md has the threat model.
package seal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// KeySize is the size in bytes of the device root key.
const KeySize = 32

// Sealer provides the device root key. File implements it for a key file,
// Options for every backend (through Load).
type Sealer interface {
	// RootKey returns the KeySize-byte device root key, creating it on
	// first use where the backend supports that.
	RootKey() ([]byte, error)
}

// File is the file backend of Sealer: the root key lives in the file at
// Path, as LoadOrCreate describes.
type File struct {
	// Path is the key file's path.
	Path string
}

// RootKey implements Sealer by calling LoadOrCreate(f.Path).
func (f File) RootKey() ([]byte, error) { return LoadOrCreate(f.Path) }

// RootKey implements Sealer by calling Load(o).
func (o Options) RootKey() ([]byte, error) { return Load(o) }

// LoadOrCreate returns the KeySize-byte root key stored in the file at path.
//
// An existing file must be a regular file owned by the current uid with mode
// 0600 or stricter (no permission bit beyond owner read and write) and exactly
// KeySize bytes long; otherwise LoadOrCreate refuses it with an error and
// never modifies or replaces it.
//
// If the file does not exist, LoadOrCreate creates it (and its directory, mode
// 0700, if missing) from crypto/rand atomically: the key is written to a
// temporary 0600 file in the same directory and fsync'd, then hard-linked to
// path, which fails rather than replacing a key file that another process
// created at the same moment (in that case the other process's key is loaded
// and returned), and finally the directory is fsync'd. A crash therefore
// leaves either no key file or a complete one, never a partial one.
func LoadOrCreate(path string) ([]byte, error) {
	key, err := load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key, err = create(path)
	if errors.Is(err, fs.ErrExist) {
		// Another process created the key between our load and our link:
		// its key is the device's key.
		return load(path)
	}
	return key, err
}

// load reads and checks an existing key file. A missing file yields an
// error wrapping fs.ErrNotExist.
func load(path string) ([]byte, error) { return loadFile(path, false) }

// loadFile is load; foreignOwner (root only) accepts a file owned by another
// uid.
func loadFile(path string, foreignOwner bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: open root key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: stat root key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: root key %s is not a regular file (mode %v)", path, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm&^0o600 != 0 {
		return nil, fmt.Errorf("seal: root key %s has mode %#o, want 0600 or stricter (chmod 600 it)", path, perm)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("seal: root key %s: cannot read file owner", path)
	}
	if uid := os.Getuid(); int(st.Uid) != uid && !(foreignOwner && uid == 0) {
		return nil, fmt.Errorf("seal: root key %s is owned by uid %d, not by the current uid %d", path, st.Uid, uid)
	}
	if fi.Size() != KeySize {
		return nil, fmt.Errorf("seal: root key %s is %d bytes, want %d (refusing to use or replace it)", path, fi.Size(), KeySize)
	}
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("seal: read root key %s: %w", path, err)
	}
	// The file may have grown between Stat and ReadFull.
	if n, _ := f.Read(make([]byte, 1)); n != 0 {
		return nil, fmt.Errorf("seal: root key %s is longer than %d bytes (refusing to use or replace it)", path, KeySize)
	}
	return key, nil
}

// create makes a new key file at path as LoadOrCreate describes. It returns
// an error wrapping fs.ErrExist if path appeared meanwhile.
func create(path string) (key []byte, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("seal: create root key directory: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("seal: generate root key: %w", err)
	}
	// os.CreateTemp creates the file with mode 0600.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("seal: create temporary root key file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		// After a successful link the key has two names; drop the
		// temporary one. After a failure drop the temporary file.
		_ = os.Remove(tmpName)
	}()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("seal: chmod temporary root key file: %w", err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("seal: write temporary root key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("seal: fsync temporary root key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("seal: close temporary root key file: %w", err)
	}
	// link(2), unlike rename(2), never replaces an existing file: two
	// processes racing to create the key cannot each believe theirs won.
	if err := os.Link(tmpName, path); err != nil {
		return nil, fmt.Errorf("seal: install root key %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return key, nil
}

// syncDir fsyncs the directory dir so that a new entry in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("seal: open directory for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("seal: fsync directory %s: %w", dir, err)
	}
	return nil
}
