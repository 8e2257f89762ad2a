// Package vault is Keyward's key hierarchy at rest (docs/architecture.md, "Key hierarchy at rest"):
//
//   - the device root key (internal/seal) derives, per token, the key that encrypts the token's record and its
//     public objects;
//   - a random token key encrypts the token's private objects; it is stored only wrapped, once under a key
//     derived from the SO PIN and once under one derived from the user PIN, each derivation a memory-hard
//     Argon2id of the PIN with a per-token salt, then bound to the device root key with HKDF;
//   - every ciphertext is AES-256-GCM with associated data naming what it is and where it belongs (token id,
//     object id, role), so blobs cannot be swapped between objects, tokens or roles.
//
// Copying the store to another device, or reading it without the PIN, yields nothing private.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// KeySize is the size of every key of the hierarchy.
const KeySize = 32

// SaltSize is the size of a PIN salt.
const SaltSize = 16

// ErrAuth is returned when a ciphertext does not authenticate: a wrong PIN when unwrapping a token key, and
// tampering or a misplaced blob otherwise.
var ErrAuth = errors.New("vault: authentication failed")

// KDFParams are the Argon2id costs of PIN derivation. They are stored with each wrapped key, so a change of
// the defaults applies to PINs set afterwards.
type KDFParams struct {
	Time    uint32 `json:"t"`
	Memory  uint32 `json:"m"` // KiB
	Threads uint8  `json:"p"`
}

// DefaultKDF is the PIN derivation cost: Argon2id with 64 MiB and 2 passes (about 0.1 s on a small server
// core) on machines with 1 GiB of RAM or more, less memory and more passes below (KDFForRAM, set at start).
var DefaultKDF = KDFParams{Time: 2, Memory: 64 * 1024, Threads: 1}

// FastKDF is a cheap setting for tests only (KEYWARD_KDF=fast). It is still Argon2id.
var FastKDF = KDFParams{Time: 1, Memory: 64, Threads: 1}

// Validate rejects parameters outside sane bounds (a corrupted or hostile record must not make the daemon
// allocate gigabytes).
func (p KDFParams) Validate() error {
	if p.Time < 1 || p.Time > 16 || p.Memory < 8 || p.Memory > 1<<20 || p.Threads < 1 || p.Threads > 8 {
		return fmt.Errorf("vault: KDF parameters out of range: %+v", p)
	}
	return nil
}

// Root is the device root key.
type Root struct {
	key []byte
}

// NewRoot wraps the device root key. It keeps its own copy.
func NewRoot(key []byte) (*Root, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("vault: root key is %d bytes, want %d", len(key), KeySize)
	}
	return &Root{key: append([]byte(nil), key...)}, nil
}

// Wipe zeroes the root key.
func (r *Root) Wipe() { clear(r.key) }

func (r *Root) derive(info string, token uint64, salt []byte) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], token)
	k, err := hkdf.Key(sha256.New, r.key, salt, info+string(b[:]), KeySize)
	if err != nil {
		panic("vault: hkdf: " + err.Error()) // only for lengths HKDF cannot produce
	}
	return k
}

// PublicKey returns the key of a token's record and public objects.
func (r *Root) PublicKey(token uint64) *Key {
	k := r.derive("keyward/v1/public", token, nil)
	defer clear(k)
	return newKey(k)
}

// IdentityKey returns the key that wraps a token's key for identity login (a token whose policy logs some
// Linux identities in without a PIN). With it, the device root key alone opens the token's private objects:
// that is what identity login means, and why it exists only while a policy asks for it.
func (r *Root) IdentityKey(token uint64) *Key {
	k := r.derive("keyward/v1/identity", token, nil)
	defer clear(k)
	return newKey(k)
}

// WrapTokenKey encrypts a token key under k with associated data ad.
func (k *Key) WrapTokenKey(t *TokenKey, ad []byte) []byte { return k.Seal(t.raw, ad) }

// UnwrapTokenKey recovers a token key wrapped by WrapTokenKey.
func (k *Key) UnwrapTokenKey(wrapped, ad []byte) (*TokenKey, error) {
	raw, err := k.Open(wrapped, ad)
	if err != nil || len(raw) != KeySize {
		clear(raw)
		return nil, ErrAuth
	}
	return &TokenKey{raw: raw, Key: newKey(raw)}, nil
}

// Key is an AES-256-GCM key of the hierarchy.
type Key struct {
	aead cipher.AEAD
}

func newKey(k []byte) *Key {
	block, err := aes.NewCipher(k)
	if err != nil {
		panic("vault: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("vault: " + err.Error())
	}
	return &Key{aead: aead}
}

// Seal encrypts plaintext with associated data ad; the result is nonce || ciphertext || tag.
func (k *Key) Seal(plaintext, ad []byte) []byte {
	out := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		panic("vault: random: " + err.Error())
	}
	return k.aead.Seal(out, out, plaintext, ad)
}

// Open decrypts what Seal produced with the same associated data.
func (k *Key) Open(blob, ad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(blob) < ns+k.aead.Overhead() {
		return nil, ErrAuth
	}
	pt, err := k.aead.Open(nil, blob[:ns], blob[ns:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// TokenKey is a token's private-object key in clear; it exists only in memory while someone is logged in.
type TokenKey struct {
	raw []byte
	*Key
}

// NewTokenKey makes a fresh random token key.
func NewTokenKey() *TokenKey {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		panic("vault: random: " + err.Error())
	}
	return &TokenKey{raw: raw, Key: newKey(raw)}
}

// Clone returns a copy of the token key, which its holder uses and wipes independently of t (the engine wraps
// a copy under a new PIN outside its lock, while a logout may wipe t).
func (t *TokenKey) Clone() *TokenKey {
	raw := append([]byte(nil), t.raw...)
	return &TokenKey{raw: raw, Key: newKey(raw)}
}

// Wipe zeroes the raw token key. The AES key schedule inside crypto/cipher cannot be reached; dropping the
// last reference lets the collector take it.
func (t *TokenKey) Wipe() { clear(t.raw) }

// NewSalt returns a fresh random PIN salt.
func NewSalt() []byte {
	s := make([]byte, SaltSize)
	if _, err := rand.Read(s); err != nil {
		panic("vault: random: " + err.Error())
	}
	return s
}

// PINKey is a key derived from a PIN, ready to wrap or unwrap a token key for one role of one token.
type PINKey struct {
	key  *Key
	ad   []byte
	root *Root
}

// DerivePIN runs the memory-hard derivation of a PIN. It is the slow step of a login and holds no lock.
// role names whose PIN it is ("so" or "user").
func (r *Root) DerivePIN(token uint64, role string, pin, salt []byte, p KDFParams) (*PINKey, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	stretched := stretch(pin, salt, p) // at most SetMaxDerivations at once (kdf.go)
	defer clear(stretched)
	k := r.derive("keyward/v1/pin/"+role, token, stretched)
	defer clear(k)
	ad := binary.BigEndian.AppendUint64([]byte("keyward/v1/wrapped-token-key/"+role+"/"), token)
	return &PINKey{key: newKey(k), ad: ad, root: r}, nil
}

// Wrap encrypts the token key under the PIN key.
func (p *PINKey) Wrap(t *TokenKey) []byte { return p.key.Seal(t.raw, p.ad) }

// Unwrap recovers the token key; ErrAuth means the PIN was wrong.
func (p *PINKey) Unwrap(wrapped []byte) (*TokenKey, error) {
	raw, err := p.key.Open(wrapped, p.ad)
	if err != nil {
		return nil, ErrAuth
	}
	if len(raw) != KeySize {
		clear(raw)
		return nil, ErrAuth
	}
	return &TokenKey{raw: raw, Key: newKey(raw)}, nil
}

// ObjectAD is the associated data binding an object blob to its token, its id and its privacy.
func ObjectAD(token, object uint64, private bool) []byte {
	ad := make([]byte, 0, 40)
	ad = append(ad, "keyward/v1/object/"...)
	ad = binary.BigEndian.AppendUint64(ad, token)
	ad = binary.BigEndian.AppendUint64(ad, object)
	if private {
		ad = append(ad, 1)
	} else {
		ad = append(ad, 0)
	}
	return ad
}

// TokenAD is the associated data binding a token record to its token id.
func TokenAD(token uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("keyward/v1/token/"), token)
}
