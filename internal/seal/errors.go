package seal

import "errors"

// The kinds of sealing failure. An error from this package matches one of them with errors.Is, so the
// daemon and `keyward doctor` can name the cause and what to do.
var (
	// ErrNoDevice: the sealing device (TPM, PKCS#11 module, kernel key) is absent or unreachable.
	ErrNoDevice = errors.New("sealing device absent")
	// ErrBusy: the device is there but busy (another process holds /dev/tpm0, the TPM asks to retry).
	ErrBusy = errors.New("sealing device busy")
	// ErrLockout: the TPM is in dictionary-attack lockout.
	ErrLockout = errors.New("TPM in dictionary-attack lockout")
	// ErrPolicy: the device refuses to unseal because the platform state changed (PCRs).
	ErrPolicy = errors.New("platform state changed")
	// ErrOtherDevice: the sealed blob was made by another device (or the device's owner seed changed).
	ErrOtherDevice = errors.New("sealed by another device")
	// ErrCorrupt: the sealed blob is damaged or not a sealed blob.
	ErrCorrupt = errors.New("sealed blob corrupt")
	// ErrConfig: the configuration and what is on disk disagree (sealed with one backend, configured
	// with another; not sealed yet; an unknown backend or option).
	ErrConfig = errors.New("sealing configuration")
	// ErrUnsupported: the backend is not built into this binary or not supported by this kernel.
	ErrUnsupported = errors.New("sealing backend unsupported")
)

// Error is a sealing failure: what went wrong in words (Cause), what to do about it (Action) and the
// underlying error. Error() is one line holding all three.
type Error struct {
	// Kind is one of the Err* values above.
	Kind error
	// Cause says what went wrong.
	Cause string
	// Action says what the operator can do.
	Action string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	s := "seal: " + e.Cause
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Action != "" {
		s += " (" + e.Action + ")"
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

func sealErr(kind error, err error, cause, action string) *Error {
	return &Error{Kind: kind, Cause: cause, Action: action, Err: err}
}

// ErrPINAuth: a PIN-bound seal refused the authorisation value (a wrong PIN); the TPM counted the failure.
var ErrPINAuth = errors.New("PIN-bound seal: wrong authorisation value")
