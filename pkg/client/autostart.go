package client

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Starting the per-user daemon, as libkeyward.so does: when nothing listens at the user-mode socket, the
// client starts `keywardd --user` and waits for it. The policy follows the library's: the user-mode socket
// autostarts unless KEYWARD_AUTOSTART=0; a socket named by KEYWARD_SOCKET only with KEYWARD_AUTOSTART=1 (the
// daemon is then told that socket); the system socket never.

// Options says how DialWith reaches keywardd.
type Options struct {
	// Path is the socket (SocketPath() if empty).
	Path string
	// Autostart starts keywardd --user when nothing listens at Path.
	Autostart bool
	// PassSocket gives the started daemon --socket Path (for a socket other than the user-mode default).
	PassSocket bool
	// Daemon is the keywardd to start (FindDaemon() if empty).
	Daemon string
	// Timeout bounds each call's round trip (DefaultTimeout if zero).
	Timeout time.Duration
}

// AutostartWait bounds the wait for a started daemon's socket.
const AutostartWait = 5 * time.Second

// DefaultOptions returns the options the environment gives (getenv is os.Getenv, or a test's): the socket and
// autostart policy as SocketPath and libkeyward.so choose them, the daemon from $KEYWARD_DAEMON, and the
// timeout from $KEYWARD_TIMEOUT_MS.
func DefaultOptions(getenv func(string) string) Options {
	o := Options{Timeout: TimeoutFromEnv(getenv), Daemon: getenv("KEYWARD_DAEMON")}
	as := getenv("KEYWARD_AUTOSTART")
	switch p := getenv("KEYWARD_SOCKET"); {
	case p != "":
		o.Path, o.Autostart, o.PassSocket = p, as != "" && as != "0", true
	case isSocket(SystemSocket):
		o.Path = SystemSocket
	default:
		o.Path, o.Autostart = userSocketPath(getenv), as != "0"
	}
	return o
}

// TimeoutFromEnv returns $KEYWARD_TIMEOUT_MS as a duration (DefaultTimeout when unset or not a positive
// number of milliseconds), as libkeyward.so reads it.
func TimeoutFromEnv(getenv func(string) string) time.Duration {
	if v, err := strconv.ParseInt(getenv("KEYWARD_TIMEOUT_MS"), 10, 32); err == nil && v > 0 {
		return time.Duration(v) * time.Millisecond
	}
	return DefaultTimeout
}

func userSocketPath(getenv func(string) string) string {
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "keyward", "keyward.sock")
	}
	return filepath.Join("/tmp", fmt.Sprintf("keyward-%d", os.Getuid()), "keyward.sock")
}

func isSocket(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// DialWith connects as the options say, starting the daemon when they allow it.
func DialWith(o Options) (*Client, error) {
	if o.Path == "" {
		o.Path = SocketPath()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	cl := &Client{path: o.Path, timeout: o.Timeout}
	c, err := cl.connect(nil)
	if err != nil && o.Autostart && absent(err) {
		if serr := startDaemon(o); serr != nil {
			return nil, fmt.Errorf("%w (and cannot start keywardd: %v)", err, serr)
		}
		deadline := time.Now().Add(AutostartWait)
		for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
			if c, err = cl.connect(nil); err == nil || !absent(err) || time.Now().Add(delay).After(deadline) {
				break
			}
			time.Sleep(delay)
		}
		if err != nil {
			err = fmt.Errorf("%w (after starting keywardd)", err)
		}
	}
	if err != nil {
		return nil, err
	}
	cl.idle = append(cl.idle, c)
	return cl, nil
}

// absent reports whether a connect error means that no daemon listens (no socket, or a stale one).
func absent(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

// FindDaemon finds keywardd: $KEYWARD_DAEMON, beside the running program (the keyward CLI's keywardd is
// its sibling), the usual libexec directories, then $PATH.
func FindDaemon() (string, error) {
	if p := os.Getenv("KEYWARD_DAEMON"); p != "" {
		return checkExecutable(p)
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	dirs = append(dirs, "/usr/libexec/keyward", "/usr/lib/keyward", "/usr/local/libexec/keyward")
	for _, d := range dirs {
		if p, err := checkExecutable(filepath.Join(d, "keywardd")); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("keywardd"); err == nil {
		return p, nil
	}
	return "", errors.New("keywardd not found (beside this program, in /usr/libexec/keyward, or on $PATH)")
}

func checkExecutable(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", p)
	}
	return p, nil
}

// startDaemon starts keywardd --user in its own session, its standard streams on /dev/null (it then logs to
// $XDG_STATE_HOME/keyward/keywardd.log). A daemon that finds another one owning the store exits at once,
// so two clients starting one each is harmless.
func startDaemon(o Options) error {
	exe := o.Daemon
	var err error
	if exe == "" {
		if exe, err = FindDaemon(); err != nil {
			return err
		}
	} else if exe, err = checkExecutable(exe); err != nil {
		return err
	}
	args := []string{"--user"}
	if o.PassSocket {
		args = append(args, "--socket", o.Path)
	}
	cmd := exec.Command(exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it if it exits while this program runs
	return nil
}
