package client

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrUntrusted is returned (wrapped) when the socket's directory or the process that answers on the socket is
// not one the client trusts (docs/security.md, "Who answers on the socket").
var ErrUntrusted = errors.New("client: untrusted socket")

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

// dirOwner returns the owner of path's directory when it is a real directory that only its owner may write.
func dirOwner(path string) (uint32, bool) {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Dir(path), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o022 != 0 {
		return 0, false
	}
	return st.Uid, true
}

// checkPeer checks the daemon on a connection to path: its uid (SO_PEERCRED) must be ours, root, or the owner
// of the socket's directory when that directory is one only its owner may write (the service user that owns
// /run/keyward, or the owner of a directory the caller named).
func checkPeer(nc net.Conn, path string) error {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%w: not a unix socket", ErrUntrusted)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	if cred.Uid == 0 || int(cred.Uid) == os.Geteuid() || int(cred.Uid) == os.Getuid() {
		return nil
	}
	if owner, ok := dirOwner(path); ok && owner == cred.Uid {
		return nil
	}
	return fmt.Errorf("%w: the process answering on %s runs as uid %d, not as us, root or the socket directory's owner",
		ErrUntrusted, path, cred.Uid)
}
