package main

import (
	"errors"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// The round trip's floor on this machine: a 64-byte ping-pong over a socketpair between this process and a child
// process, with plain blocking read and write (no Go netpoller, no protocol). No daemon can answer faster.

var cleanups []func()

func runCleanups() {
	for _, f := range cleanups {
		f()
	}
	cleanups = nil
}

// childEcho echoes what arrives on fd 3 until EOF.
func childEcho() int {
	buf := make([]byte, 64)
	for {
		n, err := unix.Read(3, buf)
		if n <= 0 || err != nil {
			return 0
		}
		if _, err := unix.Write(3, buf[:n]); err != nil {
			return 0
		}
	}
}

func pingPongLimit() (op, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return op{}, err
	}
	self, err := os.Executable()
	if err != nil {
		return op{}, err
	}
	childEnd := os.NewFile(uintptr(fds[1]), "echo")
	cmd := exec.Command(self, "-child-echo")
	cmd.ExtraFiles = []*os.File{childEnd}
	if err := cmd.Start(); err != nil {
		return op{}, err
	}
	childEnd.Close()
	fd := fds[0]
	cleanups = append(cleanups, func() { unix.Close(fd); cmd.Wait() })
	buf := make([]byte, 64)
	return simple(func() error {
		if _, err := unix.Write(fd, buf); err != nil {
			return err
		}
		for got := 0; got < len(buf); {
			n, err := unix.Read(fd, buf[got:])
			if err != nil {
				return err
			}
			if n == 0 {
				return errors.New("echo child exited")
			}
			got += n
		}
		return nil
	})
}
