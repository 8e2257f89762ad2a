package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/internal/engine"
)

// applyPolicies makes the daemon apply access policies just written to path and says what it did: offline,
// the store's engine takes them at once; online, the daemon found at the socket (its pid from SO_PEERCRED) is
// sent SIGHUP when this user may signal it, which reloads its configuration. The returned text ends the
// "access policies written to" message.
func (c *cli) applyPolicies(path string, policies []engine.TokenPolicy) string {
	if c.offline.eng != nil {
		c.offline.eng.SetPolicies(policies)
		return path + " (the store's next keywardd reads them; identity login is enabled)"
	}
	pid, err := daemonPID(c.socketPath())
	if err == nil {
		err = unix.Kill(pid, unix.SIGHUP)
	}
	if err != nil {
		return path + "; keywardd could not be told (" + err.Error() + "): reload it (systemctl reload keywardd, or SIGHUP), then run provision again to enable identity login"
	}
	// The daemon reloads as it receives the signal; a short wait lets it finish before the PIN logins that
	// enable identity login.
	time.Sleep(300 * time.Millisecond)
	return path + " and keywardd reloaded them (SIGHUP)"
}

// daemonPID returns the pid of the process serving the socket.
func daemonPID(sock string) (int, error) {
	conn, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	if cred.Pid <= 1 || int(cred.Pid) == os.Getpid() {
		return 0, errors.New("the socket's owner is not a keywardd process (socket activation: systemctl reload keywardd)")
	}
	// Under socket activation the listening socket is systemd's: signal only a keywardd.
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cred.Pid))
	if err != nil || strings.TrimSpace(string(comm)) != "keywardd" {
		return 0, fmt.Errorf("the socket's owner (pid %d) is not keywardd", cred.Pid)
	}
	return int(cred.Pid), nil
}
