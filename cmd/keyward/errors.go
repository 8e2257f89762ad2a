package main

import (
	"errors"
	"fmt"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Errors and exit codes: every failure reaches the user as one line (cli.fail) and an exit code that
// `keyward help` documents; a CK_RV is said in words (describeRV) with its CKR_ name kept for reference.

// cliError is an error with its exit code.
type cliError struct {
	code int
	msg  string
	err  error // wrapped cause, may be nil
}

// Error is the message, then the cause's.
func (e *cliError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

// Unwrap is the cause.
func (e *cliError) Unwrap() error { return e.err }

// usagef is a usage error (exit 2).
func usagef(format string, a ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, a...)}
}

// authf is an authentication error (exit 3).
func authf(format string, a ...any) error {
	return &cliError{code: exitAuth, msg: fmt.Sprintf(format, a...)}
}

// notFoundf is a no-such-token-or-object error (exit 4).
func notFoundf(format string, a ...any) error {
	return &cliError{code: exitNotFound, msg: fmt.Sprintf(format, a...)}
}

// failf is a failed operation (exit 1).
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
