package client

import (
	"fmt"
	"net"
	"os"

	"github.com/keyward/keyward/internal/socketdir"
	"golang.org/x/sys/unix"
)

// ErrUntrusted is returned (wrapped) when the socket's directory or the process that answers on the socket is
// not one the client trusts (docs/security.md, "Who answers on the socket").
var ErrUntrusted = socketdir.ErrUntrusted

// CheckPrivateDir checks a socket directory a client or daemon makes the path of itself (the user-mode
// default, whose /tmp fallback any local user could create first): it must be a directory, not a symlink,
// owned by the effective uid, with no permission for group or others. A directory that does not exist passes
// (the daemon creates it).
func CheckPrivateDir(dir string) error { return socketdir.CheckPrivateDir(dir) }

// CheckOwnDir is CheckPrivateDir for a directory named explicitly (keywardd --user --socket): ours, not a
// symlink, and writable by no one else.
func CheckOwnDir(dir string) error { return socketdir.CheckOwnDir(dir) }

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
	if owner, ok := socketdir.DirOwner(path); ok && owner == cred.Uid {
		return nil
	}
	return fmt.Errorf("%w: the process answering on %s runs as uid %d, not as us, root or the socket directory's owner",
		ErrUntrusted, path, cred.Uid)
}
