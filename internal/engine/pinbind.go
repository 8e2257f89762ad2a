package engine

import (
	"errors"

	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// PIN-bound PINs (docs/sealing.md, "PIN-bound seal"; keywardd.yaml tpm2.pin_binding): the token key's wrap
// for a PIN opens only with a pepper that the TPM unseals under an authorisation value derived from the PIN,
// so every PIN guess, online or offline, goes through the TPM, which counts wrong ones and locks out. The
// daemon's own failure counter is kept and counted first, exactly as for other PINs.

// PINSealer is the TPM side of a PIN-bound seal (seal.PINSeal).
type PINSealer interface {
	// Create makes a new pepper sealed under auth and returns the blob to store and the pepper.
	Create(auth []byte) (blob, pepper []byte, err error)
	// Open unseals the pepper with auth: seal.ErrPINAuth for a wrong auth, seal.ErrLockout in lockout.
	Open(blob, auth []byte) ([]byte, error)
}

// tryBoundPIN is tryPIN for a PIN record with a PIN-bound seal. Called without e.mu.
func (e *Engine) tryBoundPIN(tokID uint64, role string, pin []byte, ps pinState) (*vault.TokenKey, error) {
	if e.cfg.PINSeal == nil {
		e.log.Error("this PIN is bound to the TPM but the root key is not sealed with tpm2: the PIN cannot be checked", "token", tokID, "user", role)
		return nil, ck.CKR_DEVICE_ERROR
	}
	sp, err := e.root.StretchPIN(tokID, role, pin, ps.Salt, ps.KDF)
	if err != nil {
		return nil, ck.CKR_DEVICE_ERROR
	}
	defer sp.Wipe()
	auth := sp.Auth()
	defer clear(auth)
	pepper, err := e.cfg.PINSeal.Open(ps.Bound, auth)
	if err != nil {
		return nil, e.pinSealError(tokID, role, err)
	}
	defer clear(pepper)
	pk, err := sp.BoundKey(pepper)
	if err != nil {
		return nil, ck.CKR_DEVICE_ERROR
	}
	tk, err := pk.Unwrap(ps.Wrapped)
	if err != nil {
		// The TPM accepted the PIN's authorisation value, so the wrap is damaged or was swapped.
		e.log.Error("the PIN-bound token key wrap does not open although the TPM accepted the PIN", "token", tokID, "user", role)
		return nil, ck.CKR_DEVICE_ERROR
	}
	return tk, nil
}

// wrapBoundPIN is wrapPIN with a new PIN-bound seal. Called without e.mu.
func (e *Engine) wrapBoundPIN(tokID uint64, role string, pin []byte, tk *vault.TokenKey) (pinState, error) {
	ps := pinState{Salt: vault.NewSalt(), KDF: e.cfg.KDF}
	sp, err := e.root.StretchPIN(tokID, role, pin, ps.Salt, ps.KDF)
	if err != nil {
		return pinState{}, ck.CKR_DEVICE_ERROR
	}
	defer sp.Wipe()
	auth := sp.Auth()
	defer clear(auth)
	blob, pepper, err := e.cfg.PINSeal.Create(auth)
	if err != nil {
		return pinState{}, e.pinSealError(tokID, role, err)
	}
	defer clear(pepper)
	pk, err := sp.BoundKey(pepper)
	if err != nil {
		return pinState{}, ck.CKR_DEVICE_ERROR
	}
	ps.Wrapped, ps.Bound = pk.Wrap(tk), blob
	return ps, nil
}

// pinSealError maps the TPM's answer: a wrong PIN (the TPM counted it) is CKR_PIN_INCORRECT; the TPM's
// dictionary-attack lockout is CKR_PIN_LOCKED ("the specified PIN has been locked": no PIN-bound PIN opens
// until the TPM's recovery time passes); anything else is CKR_DEVICE_ERROR.
func (e *Engine) pinSealError(tokID uint64, role string, err error) error {
	switch {
	case errors.Is(err, seal.ErrPINAuth):
		return ck.CKR_PIN_INCORRECT
	case errors.Is(err, seal.ErrLockout):
		e.log.Warn("the TPM is in dictionary-attack lockout: PIN-bound PINs wait for its recovery time", "token", tokID, "user", role)
		return ck.CKR_PIN_LOCKED
	}
	e.log.Error("the PIN-bound seal failed", "token", tokID, "user", role, "err", err)
	return ck.CKR_DEVICE_ERROR
}
