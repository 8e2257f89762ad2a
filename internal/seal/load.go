package seal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Load returns the KeySize-byte device root key as the options say. The rules, for the key file root.key
// (Options.KeyPath) and the sealed blob root.seal beside it:
//
//   - root.seal exists: it is unsealed with the backend its header names, which must be the configured one
//     (or the configuration says nothing: auto). Configured `file` uses root.key if it still exists (an
//     interrupted migration), else refuses: a configuration never chooses a weaker seal than the disk holds.
//     If unsealing fails, Load fails: it never falls back to root.key.
//   - both exist (a migration interrupted after the blob was installed): they must hold the same key (the
//     blob's check value), else Load refuses; the sealed blob is preferred. `keyward seal migrate` finishes
//     the job (erases root.key).
//   - only root.key exists: with `file` or auto it is the key (LoadOrCreate's checks); a configured hardware
//     backend refuses (run `keyward seal migrate`), never using the file silently.
//   - neither exists (first start): `file` or auto creates root.key; a hardware backend creates a new key and
//     installs only its sealed blob (never a clear copy on disk). With NoCreate (the store already has
//     tokens) Load refuses instead: a new key would not open them.
//
// Load never modifies an existing file. Failures are *Error values naming the cause and what to do.
func Load(o Options) ([]byte, error) {
	if err := CheckBackend(o.Backend); err != nil {
		return nil, err
	}
	sealPath := SealPath(o.KeyPath)
	b, err := readBlobFile(sealPath, o.ForeignOwner)
	if err != nil {
		return nil, err
	}
	haveFile, err := exists(o.KeyPath)
	if err != nil {
		return nil, err
	}
	switch {
	case b != nil && o.Backend == BackendFile:
		if !haveFile {
			return nil, sealErr(ErrConfig, nil, fmt.Sprintf("the root key is sealed with %s (%s) but seal: file is configured", b.backend, sealPath),
				fmt.Sprintf("configure seal: %s; to go back to a key file run keyward seal migrate --to file", b.backend))
		}
		key, err := loadFile(o.KeyPath, o.ForeignOwner)
		if err != nil {
			return nil, err
		}
		if !b.matches(key) {
			clear(key)
			return nil, conflict(o.KeyPath, sealPath)
		}
		return key, nil
	case b != nil:
		if o.Backend != "" && o.Backend != b.backend {
			return nil, sealErr(ErrConfig, nil, fmt.Sprintf("the root key is sealed with %s (%s) but seal: %s is configured", b.backend, sealPath, o.Backend),
				fmt.Sprintf("configure seal: %s, or run keyward seal migrate --to %s", b.backend, o.Backend))
		}
		key, err := unsealBlob(&o, b, sealPath)
		if err != nil {
			return nil, err
		}
		if haveFile {
			fileKey, err := loadFile(o.KeyPath, o.ForeignOwner)
			if err != nil {
				clear(key)
				return nil, err
			}
			same := b.matches(fileKey)
			clear(fileKey)
			if !same {
				clear(key)
				return nil, conflict(o.KeyPath, sealPath)
			}
		}
		return key, nil
	case haveFile && (o.Backend == "" || o.Backend == BackendFile):
		return loadFile(o.KeyPath, o.ForeignOwner)
	case haveFile:
		return nil, sealErr(ErrConfig, nil, fmt.Sprintf("seal: %s is configured but the root key is still the plain file %s", o.Backend, o.KeyPath),
			fmt.Sprintf("seal it with keyward seal migrate --to %s while keywardd is stopped", o.Backend))
	case o.NoCreate:
		return nil, sealErr(ErrConfig, nil, fmt.Sprintf("there is no root key (%s or %s), but the store already holds tokens made with one", o.KeyPath, sealPath),
			"restore root.seal or root.key from a backup (a new key would not open the store), or check --root-key")
	case o.Backend == "" || o.Backend == BackendFile:
		return LoadOrCreate(o.KeyPath)
	default:
		return createSealed(&o, sealPath)
	}
}

// unsealBlob unseals b with its backend and checks the result against the blob's check value.
func unsealBlob(o *Options, b *blob, sealPath string) ([]byte, error) {
	bk, err := o.backend(b.backend)
	if err != nil {
		return nil, err
	}
	key, err := bk.unseal(b.payload)
	if err != nil {
		return nil, err
	}
	if len(key) != KeySize || !b.matches(key) {
		clear(key)
		return nil, sealErr(ErrCorrupt, nil, fmt.Sprintf("%s unseals to a different key than it was sealed from", sealPath),
			"the blob or the sealing key changed: restore root.seal from a backup")
	}
	return key, nil
}

// createSealed makes a new root key and installs only its sealed blob.
func createSealed(o *Options, sealPath string) ([]byte, error) {
	bk, err := o.backend(o.Backend)
	if err != nil {
		return nil, err
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("seal: generate root key: %w", err)
	}
	payload, err := bk.seal(key)
	if err != nil {
		clear(key)
		return nil, err
	}
	b := &blob{backend: o.Backend, check: checkValue(key), payload: payload}
	err = writeAtomic(sealPath, b.encode(), false, -1, -1, nil)
	if errors.Is(err, fs.ErrExist) {
		// Another process sealed a key at the same moment: its key is the device's.
		clear(key)
		return Load(*o)
	}
	if err != nil {
		clear(key)
		return nil, err
	}
	return key, nil
}

func conflict(keyPath, sealPath string) error {
	return sealErr(ErrConfig, nil, fmt.Sprintf("%s and %s hold different root keys", keyPath, sealPath),
		"one of them was replaced: find out which key the store was made with and remove the other")
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("seal: %w", err)
	}
}
