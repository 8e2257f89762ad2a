package vault

import (
	"encoding/binary"
	"fmt"
)

// A PIN-bound seal (docs/sealing.md, "PIN-bound seal"): the key that wraps a token key for a PIN is derived
// from the PIN's Argon2id output and a 256-bit pepper that a TPM keeps under a dictionary-attack protected
// authorisation value, itself derived from the same Argon2id output under another label. Without the TPM no
// PIN guess can be checked, and every wrong guess through the TPM is counted by it.

// PepperSize is the size of a PIN-bound seal's pepper.
const PepperSize = 32

// StretchedPIN is the Argon2id output of one PIN for one role of one token, bound to the device root key.
// Wipe it after use.
type StretchedPIN struct {
	root      *Root
	token     uint64
	role      string
	stretched []byte
}

// StretchPIN runs the memory-hard derivation of a PIN (the slow step; it holds no lock), for the derivations
// of a PIN-bound seal: Auth and BoundKey. role names whose PIN it is ("so" or "user").
func (r *Root) StretchPIN(token uint64, role string, pin, salt []byte, p KDFParams) (*StretchedPIN, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &StretchedPIN{root: r, token: token, role: role, stretched: stretch(pin, salt, p)}, nil
}

// Wipe zeroes the Argon2id output.
func (s *StretchedPIN) Wipe() { clear(s.stretched) }

// Auth is the authorisation value of the PIN's TPM-sealed pepper: HKDF of the device root key with the
// Argon2id output as salt and its own label, so it shares no bytes with the wrapping key's input.
func (s *StretchedPIN) Auth() []byte {
	return s.root.derive("keyward/v1/pin-seal-auth/"+s.role, s.token, s.stretched)
}

// BoundKey is the key that wraps the token key for a PIN-bound PIN: HKDF of the device root key with the
// Argon2id output and the pepper (PepperSize bytes) as salt. Neither the PIN nor the root key alone gives it.
func (s *StretchedPIN) BoundKey(pepper []byte) (*PINKey, error) {
	if len(pepper) != PepperSize {
		return nil, fmt.Errorf("vault: PIN pepper is %d bytes, want %d", len(pepper), PepperSize)
	}
	salt := make([]byte, 0, len(s.stretched)+len(pepper))
	salt = append(append(salt, s.stretched...), pepper...)
	defer clear(salt)
	k := s.root.derive("keyward/v1/pin-bound/"+s.role, s.token, salt)
	defer clear(k)
	ad := binary.BigEndian.AppendUint64([]byte("keyward/v1/wrapped-token-key/"+s.role+"/"), s.token)
	return &PINKey{key: newKey(k), ad: ad, root: s.root}, nil
}
