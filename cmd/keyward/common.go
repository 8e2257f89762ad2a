package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// cli is one run of the command line: its streams, its environment and its connection to keywardd.
type cli struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	lookupEnv      func(string) (string, bool)
	openTTY        func() (*os.File, error) // the terminal for PIN prompts and confirmations
	conn           *client.Client
	offline        offline // --store: the CLI serves a store itself (offline.go)
}

func newCLI(stdout, stderr io.Writer) *cli {
	return &cli{
		stdout: stdout, stderr: stderr, stdin: os.Stdin,
		getenv: os.Getenv, lookupEnv: os.LookupEnv,
		openTTY: func() (*os.File, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) },
	}
}

// ---- errors and exit codes ----

// cliError is an error with its exit code.
type cliError struct {
	code int
	msg  string
	err  error // wrapped cause, may be nil
}

func (e *cliError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *cliError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, a...)}
}
func authf(format string, a ...any) error {
	return &cliError{code: exitAuth, msg: fmt.Sprintf(format, a...)}
}
func notFoundf(format string, a ...any) error {
	return &cliError{code: exitNotFound, msg: fmt.Sprintf(format, a...)}
}
func failf(format string, a ...any) error {
	return &cliError{code: exitFailed, msg: fmt.Sprintf(format, a...)}
}

// errHelpShown ends a command whose --help was printed.
var errHelpShown = errors.New("help shown")

// exitCode is the exit code of err: its cliError's, else that of its CK_RV, else exitFailed.
func exitCode(err error) int {
	var ce *cliError
	if errors.As(err, &ce) && ce.code != 0 {
		return ce.code
	}
	var rv ck.RV
	if errors.As(err, &rv) {
		_, code := describeRV(rv)
		return code
	}
	return exitFailed
}

// describeRV says in words what a CK_RV means for a user of the CLI, and its exit code.
func describeRV(rv ck.RV) (string, int) {
	switch rv {
	case ck.CKR_PIN_INCORRECT:
		return "wrong PIN", exitAuth
	case ck.CKR_PIN_LOCKED:
		return "the PIN is locked after too many wrong PINs (the security officer resets the user PIN with: keyward pin unlock)", exitAuth
	case ck.CKR_PIN_LEN_RANGE:
		return "the PIN is too short or too long for the token", exitUsage
	case ck.CKR_PIN_INVALID, ck.CKR_PIN_TOO_WEAK:
		return "the token does not accept that PIN", exitUsage
	case ck.CKR_PIN_EXPIRED:
		return "the PIN has expired: change it with keyward pin change", exitAuth
	case ck.CKR_USER_NOT_LOGGED_IN:
		return "not logged in: give the PIN (--pin-source FILE or $KEYWARD_PIN)", exitAuth
	case ck.CKR_USER_PIN_NOT_INITIALIZED:
		return "the token's user PIN is not set yet (keyward pin init)", exitAuth
	case ck.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, ck.CKR_USER_ALREADY_LOGGED_IN:
		return "another user is logged in to the token", exitAuth
	case ck.CKR_DEVICE_REMOVED, ck.CKR_CRYPTOKI_NOT_INITIALIZED:
		return "lost the connection to keywardd", exitDaemon
	case ck.CKR_TOKEN_NOT_PRESENT, ck.CKR_SLOT_ID_INVALID, ck.CKR_TOKEN_NOT_RECOGNIZED:
		return "no such token", exitNotFound
	case ck.CKR_OBJECT_HANDLE_INVALID, ck.CKR_KEY_HANDLE_INVALID:
		return "the object no longer exists", exitNotFound
	case ck.CKR_KEY_FUNCTION_NOT_PERMITTED:
		return "the key's attributes do not allow this operation", exitFailed
	case ck.CKR_KEY_TYPE_INCONSISTENT:
		return "the key's type does not fit this mechanism", exitFailed
	case ck.CKR_MECHANISM_INVALID:
		return "the token does not support this mechanism", exitFailed
	case ck.CKR_MECHANISM_PARAM_INVALID:
		return "invalid mechanism parameters", exitFailed
	case ck.CKR_SIGNATURE_INVALID, ck.CKR_SIGNATURE_LEN_RANGE:
		return "the signature does not verify", exitFailed
	case ck.CKR_ATTRIBUTE_READ_ONLY:
		return "the attribute cannot be changed", exitFailed
	case ck.CKR_ACTION_PROHIBITED:
		return "the token's object policy forbids this", exitFailed
	case ck.CKR_TEMPLATE_INCONSISTENT, ck.CKR_TEMPLATE_INCOMPLETE, ck.CKR_ATTRIBUTE_VALUE_INVALID, ck.CKR_ATTRIBUTE_TYPE_INVALID:
		return "the token rejected the object's attributes", exitFailed
	case ck.CKR_SESSION_EXISTS:
		return "the token has open sessions: close the applications using it first", exitFailed
	case ck.CKR_SESSION_READ_ONLY_EXISTS, ck.CKR_SESSION_READ_ONLY:
		return "a read-only session is open on the token", exitFailed
	case ck.CKR_KEY_SIZE_RANGE:
		return "the token does not support that key size", exitFailed
	case ck.CKR_CURVE_NOT_SUPPORTED, ck.CKR_DOMAIN_PARAMS_INVALID, ck.CKR_PARAMETER_SET_NOT_SUPPORTED:
		return "the token does not support that curve or parameter set", exitFailed
	case ck.CKR_DATA_LEN_RANGE:
		return "the input has the wrong length for this key and mechanism", exitFailed
	case ck.CKR_DATA_INVALID:
		return "the input is not valid for this key and mechanism", exitFailed
	case ck.CKR_ENCRYPTED_DATA_INVALID, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, ck.CKR_AEAD_DECRYPT_FAILED:
		return "the ciphertext is invalid or was tampered with", exitFailed
	case ck.CKR_KEY_UNEXTRACTABLE, ck.CKR_ATTRIBUTE_SENSITIVE:
		return "the value is sensitive and never leaves the token", exitFailed
	case ck.CKR_DEVICE_MEMORY, ck.CKR_TOKEN_RESOURCE_EXCEEDED:
		return "the token is out of space", exitFailed
	case ck.CKR_GENERAL_ERROR, ck.CKR_DEVICE_ERROR, ck.CKR_FUNCTION_FAILED:
		return "keywardd failed (see its log)", exitFailed
	}
	return "the token refused", exitFailed
}

// ckErr explains an error of a Cryptoki call made while doing what; the CKR name is kept for reference.
func ckErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var ce *cliError
	if errors.As(err, &ce) {
		return err
	}
	var rv ck.RV
	if errors.As(err, &rv) {
		words, code := describeRV(rv)
		return &cliError{code: code, msg: fmt.Sprintf("%s: %s (%v)", what, words, rv)}
	}
	return &cliError{code: exitFailed, msg: what, err: err}
}

// ---- flags ----

// flags is a command's flag set with the options most commands share.
type flags struct {
	*flag.FlagSet
	c        *cli
	synopsis string // usage line(s) and examples, printed by --help
	json     *bool
	token    *string
	pin      pinFlags
}

type pinFlags struct {
	source *string
	value  *string
	login  *bool
}

func (c *cli) newFlags(name, synopsis string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, c: c, synopsis: synopsis}
}

func (f *flags) withJSON() *flags {
	f.json = f.Bool("json", false, "machine-readable JSON output")
	return f
}

func (f *flags) withToken() *flags {
	f.token = f.String("token", "", "token label (default: the URI's token, else the only initialised token)")
	return f
}

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

// args checks the number of positional arguments.
func (f *flags) nargs(pos []string, min, max int, what string) error {
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		if len(pos) > max && max >= 0 {
			return usagef("%s: unexpected argument %q (usage: %s)", f.Name(), pos[max], what)
		}
		return usagef("%s: missing argument (usage: %s)", f.Name(), what)
	}
	return nil
}

// ---- output ----

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) warnf(format string, a ...any) {
	fmt.Fprintf(c.stderr, "keyward: warning: "+format+"\n", a...)
}

// ---- daemon ----

func (c *cli) socketPath() string {
	if p := c.getenv("KEYWARD_SOCKET"); p != "" {
		return p
	}
	return client.SocketPath()
}

func (c *cli) dial() (*client.Client, error) {
	if c.conn != nil {
		return c.conn, nil
	}
	o := client.DefaultOptions(c.getenv) // the socket, autostart and KEYWARD_TIMEOUT_MS, as libkeyward.so
	if c.offline.store != "" {
		var err error
		if o.Path, err = c.startOffline(); err != nil {
			return nil, err
		}
		o.Autostart = false
	}
	cl, err := client.DialWith(o)
	if err != nil {
		return nil, dialError(o, err)
	}
	c.conn = cl
	return cl, nil
}

// ---- PINs ----

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

// readAtMost reads up to n bytes of a file (a PIN source may be a pipe or a device).
func readAtMost(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
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

// userPIN returns the user PIN for a command with the shared PIN flags.
func (c *cli) userPIN(f *flags, uri *p11uri.URI, prompt bool) ([]byte, error) {
	return c.getPIN(pinRequest{what: "user PIN", source: *f.pin.source, value: f.pin.value, flagName: "pin",
		env: "KEYWARD_PIN", uri: uri, prompt: prompt})
}

// ---- tokens and sessions ----

// token is an initialised token.
type token struct {
	slot   ck.SlotID
	info   ck.TokenInfo
	label  string // without padding
	serial string
}

func trimPad(s string) string { return strings.TrimRight(s, " \x00") }

// tokens lists the initialised tokens (all tokens with all true).
func (c *cli) tokens(all bool) ([]token, error) {
	cl, err := c.dial()
	if err != nil {
		return nil, err
	}
	slots, err := cl.GetSlotList(true)
	if err != nil {
		return nil, ckErr("listing slots", err)
	}
	var out []token
	for _, s := range slots {
		ti, err := cl.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if !all && ti.Flags&ck.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		out = append(out, token{slot: s, info: ti, label: trimPad(ti.Label), serial: trimPad(ti.SerialNumber)})
	}
	return out, nil
}

// selectTokens returns the initialised tokens that the --token label and the URI's token attributes
// select.
func (c *cli) selectTokens(label string, u *p11uri.URI) ([]token, error) {
	all, err := c.tokens(false)
	if err != nil {
		return nil, err
	}
	var out []token
	for _, t := range all {
		if label != "" && t.label != label {
			continue
		}
		if u != nil {
			ti := p11uri.TokenInfo{Label: t.label, Manufacturer: trimPad(t.info.ManufacturerID), Model: trimPad(t.info.Model), Serial: t.serial}
			if !u.MatchesToken(ti) {
				continue
			}
			if u.SlotID != nil && *u.SlotID != uint64(t.slot) {
				continue
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// oneToken returns the single token selected; with no selection, the only initialised token.
func (c *cli) oneToken(label string, u *p11uri.URI) (token, error) {
	ts, err := c.selectTokens(label, u)
	if err != nil {
		return token{}, err
	}
	switch len(ts) {
	case 1:
		return ts[0], nil
	case 0:
		if label != "" {
			return token{}, notFoundf("no token labelled %q (keyward token list shows them)", label)
		}
		if u != nil && (u.Token != nil || u.Serial != nil || u.Model != nil || u.Manufacturer != nil || u.SlotID != nil) {
			return token{}, notFoundf("no token matches %s (keyward token list shows them)", u.String())
		}
		return token{}, notFoundf("no initialised token (create one with: keyward token init --label NAME)")
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = fmt.Sprintf("%q", t.label)
	}
	return token{}, usagef("%d tokens match (%s): choose one with --token LABEL or token= in the URI", len(ts), strings.Join(names, ", "))
}

// session is an open session on a token.
type session struct {
	c        *cli
	cl       *client.Client
	tok      token
	h        ck.SessionHandle
	loggedIn bool
}

func (c *cli) openSession(t token, rw bool) (*session, error) {
	cl, err := c.dial()
	if err != nil {
		return nil, err
	}
	flags := uint64(ck.CKF_SERIAL_SESSION)
	if rw {
		flags |= ck.CKF_RW_SESSION
	}
	h, err := cl.OpenSession(t.slot, flags)
	if err != nil {
		return nil, ckErr(fmt.Sprintf("opening a session on token %q", t.label), err)
	}
	return &session{c: c, cl: cl, tok: t, h: h}, nil
}

func (s *session) close() { s.cl.CloseSession(s.h) }

func (s *session) login(user ck.UserType, pin []byte) error {
	if max := s.tok.info.MaxPinLen; max > 0 && uint64(len(pin)) > uint64(max) {
		clear(pin) // refused here, so that it does not count as a failed attempt
		return usagef("the PIN is %d bytes, longer than token %q takes (at most %d)", len(pin), s.tok.label, max)
	}
	err := s.cl.Login(s.h, user, pin)
	clear(pin)
	if err != nil && ck.ToRV(err) != ck.CKR_USER_ALREADY_LOGGED_IN {
		who := "the user"
		if user == ck.CKU_SO {
			who = "the security officer"
		}
		return ckErr(fmt.Sprintf("logging in to token %q as %s", s.tok.label, who), err)
	}
	s.loggedIn = true
	return nil
}

// loginMode says whether a command logs in.
type loginMode int

const (
	loginNever    loginMode = iota
	loginIfPIN              // when a PIN is given (never prompts unless --login)
	loginRequired           // always; prompts if no PIN is given
)

// openFor opens a session on the token the flags and URI select and logs in as the mode says.
func (c *cli) openFor(f *flags, u *p11uri.URI, rw bool, mode loginMode) (*session, error) {
	label := ""
	if f.token != nil {
		label = *f.token
	}
	t, err := c.oneToken(label, u)
	if err != nil {
		return nil, err
	}
	return c.openOn(f, t, u, rw, mode)
}

func (c *cli) openOn(f *flags, t token, u *p11uri.URI, rw bool, mode loginMode) (*session, error) {
	s, err := c.openSession(t, rw)
	if err != nil {
		return nil, err
	}
	if mode == loginNever {
		return s, nil
	}
	prompt := mode == loginRequired || (f.pin.login != nil && *f.pin.login)
	pin, err := c.userPIN(f, u, false)
	if err == nil && pin == nil && t.info.Flags&ck.CKF_PROTECTED_AUTHENTICATION_PATH != 0 {
		// The token's policy logs this user in by identity (C_Login with a NULL PIN): no PIN to ask.
		if err := s.cl.Login(s.h, ck.CKU_USER, nil); err != nil && ck.ToRV(err) != ck.CKR_USER_ALREADY_LOGGED_IN {
			s.close()
			return nil, ckErr(fmt.Sprintf("logging in to token %q by identity", t.label), err)
		}
		s.loggedIn = true
		return s, nil
	}
	if err == nil && pin == nil && prompt {
		pin, err = c.userPIN(f, u, true)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	if pin == nil {
		return s, nil
	}
	if err := s.login(ck.CKU_USER, pin); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// ---- objects ----

// object is an object found on a token, with the attributes the CLI reads.
type object struct {
	h     ck.ObjectHandle
	tok   token
	class ck.ObjectClass
	label string
	id    []byte
	a     map[ck.AttributeType][]byte
}

// commonAttrs are read for every object found.
var commonAttrs = []ck.AttributeType{ck.CKA_CLASS, ck.CKA_LABEL, ck.CKA_ID, ck.CKA_KEY_TYPE, ck.CKA_CERTIFICATE_TYPE,
	ck.CKA_TOKEN, ck.CKA_PRIVATE, ck.CKA_MODIFIABLE}

func (o *object) keyType() (ck.KeyType, bool) {
	v, ok := ulongAttr(o.a, ck.CKA_KEY_TYPE)
	return ck.KeyType(v), ok
}

func (o *object) bool(t ck.AttributeType) bool {
	v := o.a[t]
	return len(v) == 1 && v[0] != 0
}

func ulongAttr(a map[ck.AttributeType][]byte, t ck.AttributeType) (uint64, bool) {
	return ck.Attribute{Value: a[t]}.Uint()
}

// uri is the object's pkcs11: URI: token, object label, type and id.
func (o *object) uri() string {
	return objectURI(o.tok, o.label, typeOf(o.class), o.id)
}

func objectURI(t token, label string, typ p11uri.ObjectType, id []byte) string {
	u := p11uri.URI{Token: &t.label, Type: typ}
	if label != "" {
		u.Object = &label
	}
	if len(id) > 0 {
		u.ID = id
	}
	return u.String()
}

// typeOf is the RFC 7512 type of an object class ("" for classes RFC 7512 does not name).
func typeOf(c ck.ObjectClass) p11uri.ObjectType {
	switch c {
	case ck.CKO_CERTIFICATE:
		return p11uri.TypeCert
	case ck.CKO_DATA:
		return p11uri.TypeData
	case ck.CKO_PRIVATE_KEY:
		return p11uri.TypePrivate
	case ck.CKO_PUBLIC_KEY:
		return p11uri.TypePublic
	case ck.CKO_SECRET_KEY:
		return p11uri.TypeSecretKey
	}
	return ""
}

// attrs reads the values of the given attributes of object h; sensitive, absent and empty attributes are
// left out.
func (s *session) attrs(h ck.ObjectHandle, types ...ck.AttributeType) (map[ck.AttributeType][]byte, error) {
	lens, err := s.cl.GetAttributeValue(s.h, h, ck.Query(0, types...))
	if rv := ck.ToRV(err); rv != ck.CKR_OK && rv != ck.CKR_ATTRIBUTE_SENSITIVE && rv != ck.CKR_ATTRIBUTE_TYPE_INVALID {
		return nil, ckErr("reading an object's attributes", err)
	}
	var q []ck.Attribute
	for _, a := range lens {
		if a.Kind == ck.AttrLength && a.Len != ck.CK_UNAVAILABLE_INFORMATION && a.Len > 0 {
			q = append(q, ck.Attribute{Type: a.Type, Kind: ck.AttrBuffer, Len: a.Len})
		}
	}
	out := make(map[ck.AttributeType][]byte, len(q))
	if len(q) == 0 {
		return out, nil
	}
	vals, err := s.cl.GetAttributeValue(s.h, h, q)
	if rv := ck.ToRV(err); rv != ck.CKR_OK && rv != ck.CKR_ATTRIBUTE_SENSITIVE && rv != ck.CKR_ATTRIBUTE_TYPE_INVALID {
		return nil, ckErr("reading an object's attributes", err)
	}
	for _, a := range vals {
		if a.Kind == ck.AttrValue && len(a.Value) > 0 {
			out[a.Type] = a.Value
		}
	}
	return out, nil
}

// find returns the objects matching template, with their common attributes.
func (s *session) find(template []ck.Attribute) ([]*object, error) {
	if err := s.cl.FindObjectsInit(s.h, template); err != nil {
		return nil, ckErr("searching the token", err)
	}
	var hs []ck.ObjectHandle
	for {
		more, err := s.cl.FindObjects(s.h, 256)
		if err != nil {
			s.cl.FindObjectsFinal(s.h)
			return nil, ckErr("searching the token", err)
		}
		if len(more) == 0 {
			break
		}
		hs = append(hs, more...)
	}
	s.cl.FindObjectsFinal(s.h)
	out := make([]*object, 0, len(hs))
	for _, h := range hs {
		o, err := s.object(h)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func (s *session) object(h ck.ObjectHandle) (*object, error) {
	a, err := s.attrs(h, commonAttrs...)
	if err != nil {
		return nil, err
	}
	class, _ := ulongAttr(a, ck.CKA_CLASS)
	return &object{h: h, tok: s.tok, class: ck.ObjectClass(class), label: string(a[ck.CKA_LABEL]), id: a[ck.CKA_ID], a: a}, nil
}

// uriTemplate is the search template of the URI's object attributes.
func uriTemplate(u *p11uri.URI) []ck.Attribute {
	var t []ck.Attribute
	if u == nil {
		return nil
	}
	if u.Object != nil {
		t = append(t, ck.NewAttribute(ck.CKA_LABEL, *u.Object))
	}
	if u.ID != nil {
		t = append(t, ck.NewAttribute(ck.CKA_ID, u.ID))
	}
	if u.Type != "" {
		c, _ := u.Type.Class()
		t = append(t, ck.NewAttribute(ck.CKA_CLASS, ck.ObjectClass(c)))
	}
	return t
}

// findURI returns the objects on the session's token that the URI's object attributes select, limited to
// the classes given (any class if none).
func (s *session) findURI(u *p11uri.URI, classes ...ck.ObjectClass) ([]*object, error) {
	objs, err := s.find(uriTemplate(u))
	if err != nil {
		return nil, err
	}
	if len(classes) == 0 {
		return objs, nil
	}
	var out []*object
	for _, o := range objs {
		for _, c := range classes {
			if o.class == c {
				out = append(out, o)
				break
			}
		}
	}
	return out, nil
}

// parseURI parses a user's pkcs11: URI leniently; a bare label is taken as object=LABEL.
func parseURI(s string) (*p11uri.URI, error) {
	if !strings.HasPrefix(strings.ToLower(s), "pkcs11:") {
		return nil, usagef("%q is not a pkcs11: URI (for example pkcs11:token=dev;object=mykey;type=private)", s)
	}
	u, err := p11uri.ParseLenient(s)
	if err != nil {
		return nil, &cliError{code: exitUsage, msg: "bad URI", err: err}
	}
	if len(u.PathVendor) > 0 {
		return nil, usagef("the URI has attributes keyward does not know (%s)", u.PathVendor[0].Name)
	}
	return u, nil
}

// hasObjectAttrs reports whether the URI selects objects at all (object, id or type).
func hasObjectAttrs(u *p11uri.URI) bool {
	return u != nil && (u.Object != nil || u.ID != nil || u.Type != "")
}

// parseID parses a --id value: hex, optionally with colons.
func parseID(s string) ([]byte, error) {
	s = strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(s), "0x"), ":", "")
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, usagef("--id must be hexadecimal (for example --id 01 or --id a1:b2)")
	}
	return b, nil
}

// readInput reads a file, or stdin for "" or "-".
func (c *cli) readInput(path string) ([]byte, error) {
	if path == "" || path == "-" {
		b, err := io.ReadAll(c.stdin)
		if err != nil {
			return nil, failf("reading standard input: %v", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, failf("cannot read %s: %v", path, unwrapPathErr(err))
	}
	return b, nil
}

// writeOutput writes data to a file (created 0644, or 0600 when secret), or stdout for "" or "-".
func (c *cli) writeOutput(path string, data []byte, secret bool) error {
	if path == "" || path == "-" {
		_, err := c.stdout.Write(data)
		return err
	}
	mode := os.FileMode(0o644)
	if secret {
		mode = 0o600
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return failf("cannot write %s: %v", path, unwrapPathErr(err))
	}
	return nil
}

type flagT = flag.Flag
