package mech

import ck "github.com/keyward/keyward/pkg/cryptoki"

// UnwrapLen is how the bytes a wrapping mechanism's Unwrap returns hold the key, when the unwrap template
// gives the key's length (CKA_VALUE_LEN). Without CKA_VALUE_LEN, or with one not shorter than the bytes,
// the bytes are the key under every rule.
type UnwrapLen uint8

// The rules.
const (
	// UnwrapWhole: the bytes are the key (a padded or length-carrying wrap: CBC_PAD, KWP, OAEP, PKCS#1 v1.5).
	UnwrapWhole UnwrapLen = iota
	// UnwrapZeroPadded: the key was zero-padded to whole blocks before wrapping (PKCS#11: AES-ECB, AES-CBC,
	// RFC 3394 key wrap); the key is the first CKA_VALUE_LEN bytes and the rest must be zero
	// (CKR_WRAPPED_KEY_INVALID otherwise).
	UnwrapZeroPadded
	// UnwrapTrailing: raw RSA unwraps a whole modulus-sized block; the key is its last CKA_VALUE_LEN bytes,
	// whatever precedes them (PKCS#11 3.x, CKM_RSA_X_509: "the last CKA_VALUE_LEN bytes of the decrypted
	// data").
	UnwrapTrailing
)

// UnwrappedKey applies the mechanism's UnwrapLen to plain, what its Unwrap returned, for an unwrap template
// t. It returns the key: plain or a part of it (not a copy, so clearing plain clears it).
func (s *Spec) UnwrappedKey(plain []byte, t Attrs) ([]byte, error) {
	n, given := GetULong(t, ck.CKA_VALUE_LEN)
	if !given || n >= uint64(len(plain)) {
		return plain, nil
	}
	switch s.UnwrapLen {
	case UnwrapTrailing:
		return plain[uint64(len(plain))-n:], nil
	case UnwrapZeroPadded:
		for _, b := range plain[n:] {
			if b != 0 {
				return nil, ck.CKR_WRAPPED_KEY_INVALID
			}
		}
		return plain[:n], nil
	}
	return plain, nil
}
