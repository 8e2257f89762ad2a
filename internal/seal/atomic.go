package seal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// writeAtomic puts data at path so that a crash at any moment leaves either the old file (or none) or the
// complete new one: a temporary 0600 file in the same directory is written and fsync'd, given the owner
// (uid, gid; -1 keeps the caller's), then renamed over path (replace) or hard-linked to it (not replace: fails
// with an error wrapping fs.ErrExist if path exists), and the directory is fsync'd. verify, if not nil, reads
// the temporary file back before it is installed and can refuse it.
func writeAtomic(path string, data []byte, replace bool, uid, gid int, verify func(tmp string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("seal: create directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("seal: create temporary file beside %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a link the file keeps its other name; after a rename this fails
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: chmod %s: %w", tmpName, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: write %s: %w", tmpName, err)
	}
	if uid >= 0 || gid >= 0 {
		if err := tmp.Chown(uid, gid); err != nil {
			tmp.Close()
			return fmt.Errorf("seal: chown %s: %w", tmpName, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: fsync %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("seal: close %s: %w", tmpName, err)
	}
	if verify != nil {
		if err := verify(tmpName); err != nil {
			return err
		}
	}
	if replace {
		err = os.Rename(tmpName, path)
	} else {
		// link(2), unlike rename(2), never replaces an existing file.
		err = os.Link(tmpName, path)
	}
	if err != nil {
		return fmt.Errorf("seal: install %s: %w", path, err)
	}
	return syncDir(dir)
}

// secureRemove erases the file at path: it is first renamed to erasePath(path) (and the directory fsync'd),
// so that from then on no crash can leave a damaged file under its own name, then overwritten with zeros,
// fsync'd, unlinked, and the directory fsync'd. A crash midway leaves only the erase file, which
// eraseLeftover (run by every migration) finishes. On flash storage and copy-on-write or journaling file
// systems the old blocks may survive the overwrite (docs/sealing.md): the overwrite is a best effort, the
// unlink is not.
func secureRemove(path string) error {
	tmp := erasePath(path)
	if err := os.Rename(path, tmp); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("seal: rename %s to erase it: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	return eraseLeftover(path)
}

// erasePath is where secureRemove moves a file before erasing it.
func erasePath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".erase")
}

// eraseLeftover overwrites and removes erasePath(path) if it exists.
func eraseLeftover(path string) error {
	tmp := erasePath(path)
	f, err := os.OpenFile(tmp, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("seal: open %s to erase it: %w", tmp, err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().IsRegular() {
		_, err = io.CopyN(f, zeroReader{}, fi.Size())
		if err == nil {
			err = f.Sync()
		}
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("seal: overwrite %s: %w", tmp, err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("seal: remove %s: %w", tmp, err)
	}
	return syncDir(filepath.Dir(path))
}

// zeroReader reads zeros.
type zeroReader struct{}

// Read implements io.Reader.
func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// fileOwner is the owner of the file at path, or (-1, -1) if it cannot be read.
func fileOwner(path string) (uid, gid int) {
	fi, err := os.Lstat(path)
	if err != nil {
		return -1, -1
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, -1
	}
	return int(st.Uid), int(st.Gid)
}

// readBlobFile reads and decodes the sealed blob at path. A missing file yields (nil, nil). The file must be
// a regular file owned by the current uid or root (or, with foreignOwner and running as root, anyone),
// writable by no one else.
func readBlobFile(path string, foreignOwner bool) (*blob, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("seal: open sealed root key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, sealErr(ErrCorrupt, nil, fmt.Sprintf("%s is not a regular file (mode %v)", path, fi.Mode()), "restore it from a backup")
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return nil, sealErr(ErrConfig, nil, fmt.Sprintf("%s has mode %#o: others may replace it", path, perm), "chmod 600 it")
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || (int(st.Uid) != os.Getuid() && st.Uid != 0 && !(foreignOwner && os.Getuid() == 0)) {
		return nil, sealErr(ErrConfig, nil, fmt.Sprintf("%s is owned by another user", path), "chown it to the daemon's user")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxBlobSize+1))
	if err != nil {
		return nil, fmt.Errorf("seal: read %s: %w", path, err)
	}
	if len(data) > maxBlobSize {
		return nil, sealErr(ErrCorrupt, nil, fmt.Sprintf("%s is larger than %d bytes", path, maxBlobSize), "restore it from a backup")
	}
	return decodeBlob(path, data)
}
