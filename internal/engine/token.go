package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Identity strings of Keyward's slots and tokens.
const (
	manufacturerID = "Keyward"
	tokenModel     = "keywardd"
)

// Version of the engine, reported as hardware and firmware version of slots and tokens.
var engineVersion = ck.Version{Major: 0, Minor: 1}

// pinState is the persistent state of one PIN (SO or user).
type pinState struct {
	Salt     []byte          `json:"salt,omitempty"`
	Wrapped  []byte          `json:"wrapped,omitempty"` // the token key wrapped under this PIN; empty: PIN not set
	KDF      vault.KDFParams `json:"kdf"`
	Failures int             `json:"failures"`
	// Bound is the PIN's PIN-bound seal (pinbind.go): the TPM blob whose pepper the wrap's key needs; absent
	// in records made without tpm2.pin_binding, which open with the PIN alone.
	Bound []byte `json:"bound,omitempty"`
}

func (p *pinState) set() bool { return len(p.Wrapped) != 0 }

// tokenRecord is what the store keeps of a token, encrypted under the token's public key.
type tokenRecord struct {
	Slot   uint64   `json:"slot"`
	Label  string   `json:"label"`
	Serial string   `json:"serial"`
	SO     pinState `json:"so"`
	User   pinState `json:"user"`
	// Identity is the token key wrapped for identity login (vault.Root.IdentityKey); present only while
	// the token's policy logs identities in.
	Identity []byte `json:"identity,omitempty"`
	// WrapPolicy is the token's wrapping policy (wrappolicy.go), chosen at initialisation; absent in older
	// records, which are trusted-only.
	WrapPolicy ck.WrapPolicy `json:"wrap_policy,omitempty"`
}

// token is an initialised token in memory.
type token struct {
	id     uint64
	slot   ck.SlotID
	rec    tokenRecord
	pubKey *vault.Key

	tokenKey   *vault.TokenKey // in clear only while an application is logged in
	keyHolders int             // logins (SO or user, across applications) that hold tokenKey
	userLogins int             // applications logged in as the user
	soLogins   int             // applications logged in as the SO
	privLoaded bool            // private token objects are decrypted and indexed

	storedBytes uint64 // the token's object records in the store: bytes and number (quota.go)
	storedCount uint64

	index   *objIndex
	handles map[uint64]ck.ObjectHandle // object id -> handle, stable for the daemon's life
}

func (t *token) handleFor(e *Engine, id uint64) ck.ObjectHandle {
	if h, ok := t.handles[id]; ok {
		return h
	}
	h := e.newObjectHandle()
	t.handles[id] = h
	return h
}

// openToken decrypts a token record from the store.
func (e *Engine) openToken(st store.Token) (*token, error) {
	pub := e.root.PublicKey(st.ID)
	pt, err := pub.Open(st.Blob, vault.TokenAD(st.ID))
	if err != nil {
		return nil, fmt.Errorf("engine: token %d does not decrypt (another device's store, or tampering): %w", st.ID, err)
	}
	var rec tokenRecord
	if err := json.Unmarshal(pt, &rec); err != nil {
		return nil, fmt.Errorf("engine: token %d record: %w", st.ID, err)
	}
	return &token{
		id: st.ID, slot: ck.SlotID(rec.Slot), rec: rec, pubKey: pub,
		index: newObjIndex(), handles: map[uint64]ck.ObjectHandle{},
	}, nil
}

// tokenBlob encrypts the token's record for the store.
func (t *token) blob() []byte {
	pt, err := json.Marshal(&t.rec)
	if err != nil {
		panic(fmt.Sprintf("engine: encoding a token record: %v", err))
	}
	return t.pubKey.Seal(pt, vault.TokenAD(t.id))
}

// saveToken writes the token record durably.
func (e *Engine) saveToken(t *token) error {
	err := e.store.Update(func(tx *store.Tx) error {
		return tx.PutToken(store.Token{ID: t.id, Blob: t.blob()})
	})
	if err != nil {
		e.log.Error("writing a token record failed", "token", t.id, "err", err)
		return storeError(err)
	}
	return nil
}

// dropTokenKey forgets the token key and the private token objects once nobody is logged in.
func (t *token) dropTokenKey(e *Engine) {
	if t.tokenKey != nil {
		t.tokenKey.Wipe()
		t.tokenKey = nil
	}
	if t.privLoaded {
		for _, o := range t.index.all() {
			if o.onToken && (o.private || o.sealed) {
				e.removeObject(o)
				e.wipeAttrs(o)
				o.setAttrs(attrList{})
			}
		}
		t.privLoaded = false
	}
}

func newSerial() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("engine: random: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// cleanLabel turns a 32-byte blank-padded CK label into its string, without the padding.
func cleanLabel(label []byte) string {
	return string(bytes.TrimRight(label, " \x00"))
}
