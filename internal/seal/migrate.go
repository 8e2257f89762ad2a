package seal

import (
	"crypto/subtle"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Status is what `keyward seal status` and `keyward doctor` report.
type Status struct {
	// KeyPath and SealPath are the key file's and the sealed blob's paths.
	KeyPath, SealPath string
	// FilePresent and SealPresent say which of them exist.
	FilePresent, SealPresent bool
	// Backend is the backend the root key is sealed with: the blob's, else "file" if the key file exists,
	// else "" (no root key yet).
	Backend string
	// Detail describes the seal (e.g. the PCR policy).
	Detail string
	// Incomplete is set when both files exist, or the key file's erase file: a migration was interrupted
	// after the blob was installed (running it again finishes it).
	Incomplete bool
	// Err is nil if the root key loads with these options, else why not.
	Err error
}

// GetStatus reports the root key's seal and whether it opens with the options. It never creates a key.
func GetStatus(o Options) Status {
	s := describe(o)
	if s.Err == nil && s.Backend != "" {
		key, err := Load(o)
		clear(key)
		s.Err = err
	}
	return s
}

// Describe is GetStatus without the unseal (Err only reports an unreadable blob): for a root key already
// loaded with o.
func Describe(o Options) Status { return describe(o) }

func describe(o Options) Status {
	s := Status{KeyPath: o.KeyPath, SealPath: SealPath(o.KeyPath)}
	b, err := readBlobFile(s.SealPath, o.ForeignOwner)
	if err != nil {
		s.SealPresent, s.Err = true, err
	}
	s.FilePresent, _ = exists(o.KeyPath)
	switch {
	case b != nil:
		s.SealPresent, s.Backend = true, b.backend
		if bk, err := o.backend(b.backend); err == nil {
			s.Detail = bk.describe(b.payload)
		}
	case s.FilePresent:
		s.Backend, s.Detail = BackendFile, "plain key file, mode 0600 (not bound to this device)"
	}
	leftover, _ := exists(erasePath(o.KeyPath))
	s.Incomplete = s.FilePresent && s.SealPresent || leftover
	return s
}

// Migrate seals the root key with the backend `to` and the options' settings for it (a re-seal when it is
// already sealed with `to`, e.g. after a policy change), or unseals it back to a key file (`to` = file). It
// works on the files alone, with keywardd stopped (keywardd holds the key in memory and reads the files only
// when it starts). It is atomic: the new blob is written beside the old state, fsync'd, read back and
// unsealed to the same key, then renamed into place and the directory fsync'd; only then is the key file
// overwritten and removed. A crash at any point leaves a state that Load opens with the old or the new seal,
// and running Migrate again finishes the job. It reports what it did in words.
func Migrate(o Options, to string) (string, error) {
	if err := CheckBackend(to); err != nil || to == "" {
		return "", sealErr(ErrConfig, err, fmt.Sprintf("cannot migrate to %q", to), "name a backend: "+strings.Join(Backends(), ", "))
	}
	sealPath := SealPath(o.KeyPath)
	b, err := readBlobFile(sealPath, o.ForeignOwner)
	if err != nil {
		return "", err
	}
	haveFile, err := exists(o.KeyPath)
	if err != nil {
		return "", err
	}
	if b == nil && !haveFile {
		return "", sealErr(ErrConfig, nil, fmt.Sprintf("there is no root key at %s or %s", o.KeyPath, sealPath), "start keywardd once, or check --root-key")
	}
	// A migration killed while erasing the key file left its erase file: finish that first.
	if err := eraseLeftover(o.KeyPath); err != nil {
		return "", err
	}
	cur := o
	cur.Backend = ""
	key, err := Load(cur)
	if err != nil {
		return "", err
	}
	defer clear(key)
	// Keep the owner of what is there (a migration run as root for a daemon running as keyward).
	uid, gid := fileOwner(o.KeyPath)
	if b != nil {
		uid, gid = fileOwner(sealPath)
	}
	if uid == os.Getuid() {
		uid, gid = -1, -1
	}

	if to == BackendFile {
		if b == nil {
			return "the root key is already a key file", nil
		}
		if !haveFile {
			if err := writeAtomic(o.KeyPath, key, false, uid, gid, nil); err != nil {
				return "", err
			}
		}
		if err := os.Remove(sealPath); err != nil {
			return "", fmt.Errorf("seal: remove %s: %w", sealPath, err)
		}
		if err := syncDir(filepath.Dir(sealPath)); err != nil {
			return "", err
		}
		return fmt.Sprintf("unsealed the root key into %s and removed %s", o.KeyPath, sealPath), nil
	}

	bk, err := o.backend(to)
	if err != nil {
		return "", err
	}
	if b != nil && b.backend == to && bk.sameSeal(b.payload) {
		if !haveFile {
			return fmt.Sprintf("already sealed with %s (%s)", to, bk.describe(b.payload)), nil
		}
		if err := secureRemove(o.KeyPath); err != nil {
			return "", err
		}
		return fmt.Sprintf("already sealed with %s; finished an interrupted migration by erasing %s", to, o.KeyPath), nil
	}
	payload, err := bk.seal(key)
	if err != nil {
		return "", err
	}
	nb := &blob{backend: to, check: checkValue(key), payload: payload}
	verify := func(tmp string) error {
		data, err := os.ReadFile(tmp)
		if err != nil {
			return fmt.Errorf("seal: read back %s: %w", tmp, err)
		}
		rb, err := decodeBlob(tmp, data)
		if err != nil {
			return err
		}
		got, err := unsealBlob(&o, rb, tmp)
		if err != nil {
			return fmt.Errorf("seal: the new blob does not unseal, nothing changed: %w", err)
		}
		same := subtle.ConstantTimeCompare(got, key) == 1
		clear(got)
		if !same {
			return sealErr(ErrCorrupt, nil, "the new blob unseals to another key, nothing changed", "report this")
		}
		return nil
	}
	if err := writeAtomic(sealPath, nb.encode(), true, uid, gid, verify); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("sealed the root key with %s (%s) into %s", to, bk.describe(payload), sealPath)
	if haveFile {
		if err := secureRemove(o.KeyPath); err != nil {
			return "", fmt.Errorf("%s, but: %w (run the migration again to finish)", msg, err)
		}
		msg += "; overwrote and removed " + o.KeyPath
	}
	return msg, nil
}
