package main

import (
	"fmt"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// Sessions: a session on a token, and logging in to it as a command's login mode says.

// session is an open session on a token.
type session struct {
	cl       *client.Client
	tok      token
	h        ck.SessionHandle
	loggedIn bool
}

// openAny opens a read-only session, without logging in, on the token labelled label, else on the first
// slot's token, initialised or not (anyToken).
func (c *cli) openAny(label string) (*session, error) {
	t, err := c.anyToken(label)
	if err != nil {
		return nil, err
	}
	return c.openSession(t, false)
}

// openSession opens a session on token t, read-write when rw, without logging in.
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
	return &session{cl: cl, tok: t, h: h}, nil
}

// close closes the session.
func (s *session) close() { s.cl.CloseSession(s.h) }

// login logs in as user with pin and clears pin; a PIN longer than the token takes is refused before
// C_Login, so that it does not count as a failed attempt.
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

// The login modes.
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

// openOn opens a session on token t and logs in as the mode says: by identity on a token with a protected
// authentication path when no PIN is given, else with the PIN the flags, the URI or the environment give,
// or (loginRequired, --login) one asked for on the terminal.
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
