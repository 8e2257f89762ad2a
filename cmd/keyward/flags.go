package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/keyward/keyward/pkg/p11uri"
)

// Flags: each command's flag set, with the flags most commands share (--json, --token, the PIN flags),
// parsed with flags allowed after positional arguments, and --help printing the command's synopsis.

// flags is a command's flag set with the options most commands share.
type flags struct {
	*flag.FlagSet
	c        *cli
	synopsis string // usage line(s) and examples, printed by --help
	json     *bool
	token    *string
	pin      pinFlags
	checks   []func() error // checks of the flags' values (check)
}

// pinFlags are the user PIN flags (withPIN, withLogin); nil where the command has none.
type pinFlags struct {
	source *string
	value  *string
	login  *bool
}

// newFlags is the flag set of command name; synopsis is what --help prints above the flags.
func (c *cli) newFlags(name, synopsis string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, c: c, synopsis: synopsis}
}

// withJSON adds --json.
func (f *flags) withJSON() *flags {
	f.json = f.Bool("json", false, "machine-readable JSON output")
	return f
}

// withToken adds --token LABEL.
func (f *flags) withToken() *flags {
	f.token = f.String("token", "", "token label (default: the URI's token, else the only initialised token)")
	return f
}

// withPIN adds the user PIN flags --pin-source and --pin.
func (f *flags) withPIN() *flags {
	f.pin.source = f.String("pin-source", "", "file holding the user PIN (else $KEYWARD_PIN, else a prompt)")
	f.pin.value = f.String("pin", "", "the user PIN itself (insecure: visible to other users; prefer --pin-source)")
	return f
}

// withLogin adds --login, for commands that log in only when a PIN is given.
func (f *flags) withLogin() *flags {
	f.withPIN()
	f.pin.login = f.Bool("login", false, "log in (prompting for the PIN if none is given) to see private objects")
	return f
}

// parse parses args, allowing flags after positional arguments, and returns the positional arguments.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.printHelp()
				return nil, errHelpShown
			}
			return nil, usagef("%s: %v (see keyward %s --help)", f.Name(), err, f.Name())
		}
		rest := f.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printHelp prints the synopsis and the flags on standard output.
func (f *flags) printHelp() {
	fmt.Fprintf(f.c.stdout, "%s\n", strings.TrimRight(f.synopsis, "\n"))
	var b bytes.Buffer
	f.SetOutput(&b)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
	if b.Len() > 0 {
		fmt.Fprintf(f.c.stdout, "\nflags:\n%s", b.String())
	}
}

// nargs checks the number of positional arguments: min to max (-1: any number); what is the usage line.
func (f *flags) nargs(pos []string, min, max int, what string) error {
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		if len(pos) > max && max >= 0 {
			return usagef("%s: unexpected argument %q (usage: %s)", f.Name(), pos[max], what)
		}
		return usagef("%s: missing argument (usage: %s)", f.Name(), what)
	}
	return nil
}

// parseArgs is a command's prologue: it parses the command line (--help prints the synopsis and ends the
// command with errHelpShown), checks that it has min to max positional arguments, which it returns (usage
// names them in the error: "keyward backup FILE"), and runs the flag checks.
func (f *flags) parseArgs(args []string, min, max int, usage string) ([]string, error) {
	pos, err := f.parse(args)
	if err != nil {
		return nil, err
	}
	if err := f.nargs(pos, min, max, usage); err != nil {
		return nil, err
	}
	for _, check := range f.checks {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// check adds a check of the flags' values (a required flag, a value out of range) that parseArgs runs
// after counting the positional arguments and before parseURIArgs parses the URI.
func (f *flags) check(fn func() error) {
	f.checks = append(f.checks, fn)
}

// parseURIArgs is parseArgs for a command whose first positional argument is a pkcs11: URI: it returns the
// URI parsed (nil when min is 0 and none is given) and the positional arguments.
func (f *flags) parseURIArgs(args []string, min, max int, usage string) (*p11uri.URI, []string, error) {
	pos, err := f.parseArgs(args, min, max, usage)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) == 0 {
		return nil, pos, nil
	}
	u, err := parseURI(pos[0])
	if err != nil {
		return nil, nil, err
	}
	return u, pos, nil
}
