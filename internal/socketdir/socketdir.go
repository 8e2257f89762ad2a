// Package socketdir names keywardd's sockets and checks the directories they live in, for the daemon and its
// clients alike (docs/security.md, "Who answers on the socket"): so that the daemon need not link the Go client.
package socketdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SystemSocket is the system-mode daemon's socket.
const SystemSocket = "/run/keyward/keyward.sock"

// UserSocketPath returns the user-mode daemon's socket path.
func UserSocketPath() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "keyward", "keyward.sock")
	}
	return filepath.Join("/tmp", fmt.Sprintf("keyward-%d", os.Getuid()), "keyward.sock") // as libkeyward.so: not $TMPDIR
}

// ErrUntrusted is returned (wrapped) when the socket's directory or the process that answers on the socket is
// not one the client trusts (docs/security.md, "Who answers on the socket").
var ErrUntrusted = errors.New("untrusted socket")

// CheckPrivateDir checks a socket directory a client or daemon makes the path of itself (the user-mode
// default, whose /tmp fallback any local user could create first): it must be a directory, not a symlink,
// owned by the effective uid, with no permission for group or others. A directory that does not exist passes
// (the daemon creates it).
func CheckPrivateDir(dir string) error { return checkDir(dir, 0o077, "0700") }

// CheckOwnDir is CheckPrivateDir for a directory named explicitly (keywardd --user --socket): ours, not a
// symlink, and writable by no one else.
func CheckOwnDir(dir string) error { return checkDir(dir, 0o022, "not writable by group or others") }

func checkDir(dir string, forbidden uint32, want string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%w: socket directory %s is not a directory (a symlink or another file)", ErrUntrusted, dir)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&forbidden != 0 {
		return fmt.Errorf("%w: socket directory %s belongs to uid %d with mode %04o, want uid %d and %s", ErrUntrusted,
			dir, st.Uid, st.Mode&0o7777, os.Geteuid(), want)
	}
	return nil
}

// DirOwner returns the owner of path's directory when it is a real directory that only its owner may write.
func DirOwner(path string) (uint32, bool) {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Dir(path), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o022 != 0 {
		return 0, false
	}
	return st.Uid, true
}
