package main

import (
	"bytes"
	"os"
	"strings"

	"github.com/keyward/keyward/pkg/p11uri"
)

// PINs: where a command's PIN comes from (a file, the command line, the URI, the environment, a prompt)
// and how a PIN file is read. PINs are never printed.

// readSecretFile reads a PIN or passphrase file: its first line, without the line end.
func readSecretFile(path string) ([]byte, error) {
	path = strings.TrimPrefix(path, "file:")
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() > maxPINFile {
		return nil, usagef("the PIN file %s is %d bytes: no PIN is that long (is it the right file?)", path, fi.Size())
	}
	b, err := readAtMost(path, maxPINFile+1)
	if err != nil {
		return nil, failf("cannot read the PIN file %s: %v", path, unwrapPathErr(err))
	}
	if len(b) > maxPINFile {
		clear(b)
		return nil, usagef("the PIN file %s is longer than %d bytes: no PIN is that long (is it the right file?)", path, maxPINFile)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	out := bytes.Clone(bytes.TrimRight(line, "\r"))
	clear(b)
	return out, nil
}

// pinRequest says where a PIN may come from.
type pinRequest struct {
	what     string  // "user PIN", "SO PIN", "new user PIN" ...
	source   string  // a --*-pin-source flag's value
	value    *string // a --*-pin flag's value, if such a flag exists
	flagName string  // the --*-pin flag, for the warning
	env      string  // the environment variable
	uri      *p11uri.URI
	confirm  bool // a prompt asks twice (new PINs)
	prompt   bool // a prompt is allowed
}

// getPIN returns the PIN from, in order: the source file, the command-line value (with a warning), the URI's
// pin-source or pin-value, the environment, a prompt on the terminal. It returns nil if none is given and
// prompting is not allowed.
func (c *cli) getPIN(r pinRequest) ([]byte, error) {
	if r.source != "" {
		return readSecretFile(r.source)
	}
	if r.value != nil && *r.value != "" {
		c.warnf("--%s puts the PIN on the command line, where other users can see it; use --%s-source FILE or $%s", r.flagName, r.flagName, r.env)
		return []byte(*r.value), nil
	}
	if r.uri != nil {
		if r.uri.PinSource != nil {
			return readSecretFile(*r.uri.PinSource)
		}
		if r.uri.PinValue != nil {
			c.warnf("the URI's pin-value puts the PIN on the command line; use pin-source or $%s", r.env)
			return []byte(*r.uri.PinValue), nil
		}
	}
	if v, ok := c.lookupEnv(r.env); ok && r.env != "" {
		return []byte(v), nil
	}
	if !r.prompt {
		return nil, nil
	}
	return c.promptPIN(r)
}

// userPIN returns the user PIN for a command with the shared PIN flags.
func (c *cli) userPIN(f *flags, uri *p11uri.URI, prompt bool) ([]byte, error) {
	return c.getPIN(pinRequest{what: "user PIN", source: *f.pin.source, value: f.pin.value, flagName: "pin",
		env: "KEYWARD_PIN", uri: uri, prompt: prompt})
}
