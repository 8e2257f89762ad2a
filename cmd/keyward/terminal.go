package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// The terminal: PIN prompts without echo and yes/no confirmations, on /dev/tty (cli.openTTY), never on the
// standard streams scripts use.

// promptPIN reads a PIN from the terminal without echo.
func (c *cli) promptPIN(r pinRequest) ([]byte, error) {
	tty, err := c.openTTY()
	if err != nil {
		return nil, authf("no %s given and no terminal to ask on: use --pin-source FILE or $%s", r.what, r.env)
	}
	defer tty.Close()
	p, err := readNoEcho(tty, fmt.Sprintf("%s: ", capitalise(r.what)))
	if err != nil {
		return nil, err
	}
	if r.confirm {
		again, err := readNoEcho(tty, fmt.Sprintf("%s again: ", capitalise(r.what)))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p, again) {
			return nil, usagef("the two %ss differ", r.what)
		}
		clear(again)
	}
	return p, nil
}

// capitalise upper-cases the first letter of s.
func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// readNoEcho prints prompt on the terminal and reads a line with echo off.
func readNoEcho(tty *os.File, prompt string) ([]byte, error) {
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, authf("cannot prompt for the PIN: the terminal does not answer (%v)", err)
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ECHONL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return nil, authf("cannot turn the terminal's echo off: %v", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprint(tty, prompt)
	var line []byte
	buf := make([]byte, 1)
	for {
		n, err := tty.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			line = append(line, buf[0])
			continue
		}
		if err != nil {
			if len(line) == 0 {
				return nil, authf("no PIN entered")
			}
			break
		}
	}
	return bytes.TrimRight(line, "\r"), nil
}

// confirm asks a yes/no question on the terminal.
func (c *cli) confirm(question string) (bool, error) {
	tty, err := c.openTTY()
	if err != nil {
		return false, usagef("%s: no terminal to ask on; add --yes to go ahead", question)
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s [y/N] ", question)
	var line []byte
	buf := make([]byte, 1)
	for {
		n, err := tty.Read(buf)
		if n == 0 || err != nil || buf[0] == '\n' {
			break
		}
		line = append(line, buf[0])
	}
	a := strings.ToLower(strings.TrimSpace(string(line)))
	return a == "y" || a == "yes", nil
}

// confirmOr asks question on the terminal unless yes (--yes), and returns a failure saying refused (exit 1)
// when the answer is not yes.
func (c *cli) confirmOr(yes bool, question, refused string) error {
	if yes {
		return nil
	}
	ok, err := c.confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return failf("%s", refused)
	}
	return nil
}
