//go:build !notpm2

package seal

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// PINSeal is the TPM side of a PIN-bound seal (docs/sealing.md, "PIN-bound seal"; issue 16 item 9): a
// DA-protected sealed object holding a random 32-byte pepper, whose authValue the caller derives from a PIN
// (Argon2id, then HKDF to 32 bytes). Without the pepper no PIN guess can be checked, and the TPM counts every
// wrong authValue in its dictionary-attack counter and locks out at maxTries, so an attacker with the disk or
// the board cannot search PINs faster than the TPM allows. The authValue never crosses the bus: the object is
// used through HMAC sessions salted with the storage key (the authValue only keys the HMAC), with parameter
// encryption for the pepper and for a new authValue.
//
// It is the building block for the vault (binding the pepper into the PIN-derived wrapping key of a token
// key); the vault does not use it yet.
type PINSeal struct{ opts TPM2Options }

// NewPINSeal returns the PIN-bound seal on the TPM of o (only o.Device is used).
func NewPINSeal(o TPM2Options) *PINSeal { return &PINSeal{opts: o} }

// pinSealTemplate is a keyedHash data object usable with its authValue, DA-protected (no noDA).
func pinSealTemplate() tpm2.TPMTPublic {
	pub := sealedTemplate(nil)
	pub.ObjectAttributes.NoDA = false
	return pub
}

// Create makes a new pepper sealed under auth (32 bytes) and returns the blob to store and the pepper.
func (p *PINSeal) Create(auth []byte) (blob, pepper []byte, err error) {
	if len(auth) != 32 {
		return nil, nil, fmt.Errorf("seal: PIN seal authValue must be 32 bytes")
	}
	tpm, err := openTPM(p.opts.Device)
	if err != nil {
		return nil, nil, err
	}
	defer tpm.Close()
	srk, err := createSRK(tpm)
	if err != nil {
		return nil, nil, err
	}
	defer flush(tpm, srk.handle)
	ta := tpmAuth(auth)
	defer clear(ta)
	pepper = make([]byte, 32)
	if _, err := rand.Read(pepper); err != nil {
		return nil, nil, fmt.Errorf("seal: random: %w", err)
	}
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: srk.handle, Name: srk.name,
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptIn), tpm2.Salted(srk.handle, *srk.public))},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			UserAuth: tpm2.TPM2BAuth{Buffer: ta},
			Data:     tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: pepper}),
		}},
		InPublic: tpm2.New2B(pinSealTemplate()),
	}.Execute(tpm)
	if err != nil {
		clear(pepper)
		return nil, nil, tpmErr(err, "creating the PIN-bound seal")
	}
	pl := tpm2Payload{bank: tpm2.TPMAlgSHA256, srkName: srk.name.Buffer, public: tpm2.Marshal(rsp.OutPublic), private: tpm2.Marshal(rsp.OutPrivate)}
	return pl.encode(), pepper, nil
}

// Open unseals the pepper with auth. A wrong auth is ErrPINAuth (and one more count in the TPM's
// dictionary-attack counter); in lockout every auth is ErrLockout until the TPM's recovery time passes.
func (p *PINSeal) Open(blob, auth []byte) ([]byte, error) {
	s, err := p.load(blob)
	if err != nil {
		return nil, err
	}
	defer s.close()
	ta := tpmAuth(auth)
	defer clear(ta)
	ur, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: s.obj, Name: s.name,
		Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Auth(ta), tpm2.AESEncryption(128, tpm2.EncryptOut), tpm2.Salted(s.srk.handle, *s.srk.public))}}.Execute(s.tpm)
	if err != nil {
		return nil, pinErr(err)
	}
	pepper := bytes.Clone(ur.OutData.Buffer)
	clear(ur.OutData.Buffer)
	return pepper, nil
}

// ChangeAuth gives the blob a new authValue (a PIN change) and keeps the pepper; the old blob stays valid
// with the old auth until the caller replaces it.
func (p *PINSeal) ChangeAuth(blob, oldAuth, newAuth []byte) ([]byte, error) {
	if len(newAuth) != 32 {
		return nil, fmt.Errorf("seal: PIN seal authValue must be 32 bytes")
	}
	s, err := p.load(blob)
	if err != nil {
		return nil, err
	}
	defer s.close()
	oa, na := tpmAuth(oldAuth), tpmAuth(newAuth)
	defer clear(oa)
	defer clear(na)
	rsp, err := tpm2.ObjectChangeAuth{
		ObjectHandle: tpm2.AuthHandle{Handle: s.obj, Name: s.name,
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Auth(oa), tpm2.AESEncryption(128, tpm2.EncryptIn), tpm2.Salted(s.srk.handle, *s.srk.public))},
		ParentHandle: tpm2.NamedHandle{Handle: s.srk.handle, Name: s.srk.name},
		NewAuth:      tpm2.TPM2BAuth{Buffer: na},
	}.Execute(s.tpm)
	if err != nil {
		return nil, pinErr(err)
	}
	pl := *s.payload
	pl.private = tpm2.Marshal(rsp.OutPrivate)
	return pl.encode(), nil
}

// tpmAuth is the authValue the TPM object gets for the caller's auth: base64 of its first 24 bytes (192 bits,
// 32 characters, no zero byte). The HMAC-session code of go-tpm (hmacKeyFromAuthValue, meant to drop the
// trailing zeros TPM 2.0 Part 1, 19.6.5 drops) cuts the key at the last zero byte anywhere in it, so an
// authValue with an inner zero byte (about one random 32-byte value in nine) never authorised: every right PIN was
// refused and counted as a dictionary attack.
func tpmAuth(auth []byte) []byte {
	n := min(len(auth), 24)
	out := make([]byte, base64.RawStdEncoding.EncodedLen(n))
	base64.RawStdEncoding.Encode(out, auth[:n])
	return out
}

// pinSessionT is a loaded PIN-bound seal: the TPM connection, the storage key and the object.
type pinSessionT struct {
	tpm     transport.TPMCloser
	srk     *srkInfo
	obj     tpm2.TPMHandle
	name    tpm2.TPM2BName
	payload *tpm2Payload
}

func (s *pinSessionT) close() {
	if s.obj != 0 {
		flush(s.tpm, s.obj)
	}
	flush(s.tpm, s.srk.handle)
	s.tpm.Close()
}

func (p *PINSeal) load(blob []byte) (*pinSessionT, error) {
	pl, err := decodeTPM2Payload(blob)
	if err != nil {
		return nil, err
	}
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](pl.public)
	if err != nil {
		return nil, sealErr(ErrCorrupt, err, "the PIN-bound seal's public area is malformed", "re-create it")
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](pl.private)
	if err != nil {
		return nil, sealErr(ErrCorrupt, err, "the PIN-bound seal's private area is malformed", "re-create it")
	}
	tpm, err := openTPM(p.opts.Device)
	if err != nil {
		return nil, err
	}
	srk, err := createSRK(tpm)
	if err != nil {
		tpm.Close()
		return nil, err
	}
	s := &pinSessionT{tpm: tpm, srk: srk, payload: pl}
	if subtle.ConstantTimeCompare(srk.name.Buffer, pl.srkName) != 1 {
		s.close()
		return nil, sealErr(ErrOtherDevice, nil, "the PIN-bound seal was made by another TPM", "re-create it on this device")
	}
	lr, err := tpm2.Load{ParentHandle: tpm2.AuthHandle{Handle: srk.handle, Name: srk.name,
		Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Salted(srk.handle, *srk.public))}, InPrivate: *priv, InPublic: *pub}.Execute(tpm)
	if err != nil {
		s.close()
		return nil, tpmErr(err, "loading the PIN-bound seal")
	}
	s.obj, s.name = lr.ObjectHandle, lr.Name
	return s, nil
}

func pinErr(err error) error {
	if errors.Is(err, tpm2.TPMRCAuthFail) || errors.Is(err, tpm2.TPMRCBadAuth) {
		return &Error{Kind: ErrPINAuth, Cause: "the PIN-bound seal refuses the PIN (counted by the TPM)", Err: err}
	}
	return tpmErr(err, "opening the PIN-bound seal")
}
