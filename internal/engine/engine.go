// Package engine is Keyward's Cryptoki engine: slots and tokens, sessions and logins, objects under the
// specification's attribute rules, and the operation state of the mechanisms. Each application (one
// C_Initialize of one process) gets a cryptoki.Provider from Engine.Open.
//
// The engine keeps every token's objects in memory, indexed; the store (internal/store) holds them encrypted
// under the key hierarchy of internal/vault. Private objects are decrypted only while a user of their token is
// logged in.
package engine

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/keyward/keyward/internal/mech"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Config is the engine's configuration.
type Config struct {
	// MaxPINFailures is the number of consecutive wrong PINs after which a PIN is locked (default 10).
	MaxPINFailures int
	// MinPINLen and MaxPINLen bound PIN lengths (defaults 4 and 128).
	MinPINLen, MaxPINLen int
	// KDF is the PIN derivation cost (default vault.DefaultKDF).
	KDF vault.KDFParams
	// Logger receives structured logs; never a PIN or a key value. Default: slog.Default().
	Logger *slog.Logger
	// Audit, if set, receives the audit events (logins and failures, PIN changes, token initialisation, key
	// generation, import, destruction and every use of a key) with the application's identity. Never a PIN
	// or a key value.
	Audit *slog.Logger
	// Policies are the tokens' access policies (identity login and who may open a token).
	Policies []TokenPolicy
	// Views are per-application views of the key types (view.go).
	Views []KeyView
	// MaxSessions bounds the sessions of one application (default 4096): beyond it CKR_SESSION_COUNT.
	MaxSessions int
	// MaxSessionBytes bounds the session objects of one application, in bytes (default 64 MiB): beyond it
	// CKR_DEVICE_MEMORY. Other applications are not affected.
	MaxSessionBytes uint64
	// MaxUIDSessionBytes bounds the session objects of all the applications of one uid together, in bytes
	// (default 256 MiB): beyond it CKR_DEVICE_MEMORY. One process opening many applications (C_Initialize
	// in each of its libraries, or many connections) does not get around MaxSessionBytes.
	MaxUIDSessionBytes uint64
	// MaxTokenBytes and MaxTokenObjects bound the objects stored on one token: the bytes of their encrypted
	// records (default 256 MiB) and their number (default 100000). Beyond them, creating, copying or growing a
	// token object answers CKR_DEVICE_MEMORY. Public token objects need no login: without a bound any
	// process that can open the token could fill the disk.
	MaxTokenBytes   uint64
	MaxTokenObjects uint64
	// PINSeal, if set, is the TPM's PIN-bound seal (pinbind.go): PIN records that carry a PIN-bound blob open
	// through it. Set it whenever the root key is sealed with tpm2, so that such records open with
	// BindPINs off too.
	PINSeal PINSealer
	// BindPINs binds every PIN set from now on (C_InitToken's SO PIN, C_InitPIN, C_SetPIN) to the TPM through
	// PINSeal (keywardd.yaml tpm2.pin_binding). Records made before keep opening as they were made.
	BindPINs bool
}

func (c *Config) setDefaults() {
	if c.MaxPINFailures <= 0 {
		c.MaxPINFailures = 10
	}
	if c.MinPINLen <= 0 {
		c.MinPINLen = 4
	}
	if c.MaxPINLen <= 0 {
		c.MaxPINLen = 128
	}
	if c.KDF == (vault.KDFParams{}) {
		c.KDF = vault.DefaultKDF
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 4096
	}
	if c.MaxSessionBytes == 0 {
		c.MaxSessionBytes = 64 << 20
	}
	if c.MaxUIDSessionBytes == 0 {
		c.MaxUIDSessionBytes = 256 << 20
	}
	if c.MaxTokenBytes == 0 {
		c.MaxTokenBytes = 256 << 20
	}
	if c.MaxTokenObjects == 0 {
		c.MaxTokenObjects = 100000
	}
}

// Engine is the state of every slot, token, application, session and object of one store.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	root  *vault.Root

	pinMu      sync.Mutex // serialises PIN operations (see pin.go); taken before mu
	mu         sync.Mutex
	tokens     map[ck.SlotID]*token // initialised tokens by slot
	freeSlot   ck.SlotID            // the slot that offers a new token
	apps       map[*app]struct{}
	uidBytes   map[uint32]uint64 // session object bytes per uid (Config.MaxUIDSessionBytes)
	sessions   map[ck.SessionHandle]*session
	objects    map[ck.ObjectHandle]*object
	nextHandle uint64 // object handles
	nextSess   uint64 // session handles
	events     []ck.SlotID

	held        map[*object]int        // keys in use outside mu, and how many times (locking.go)
	heldWipes   map[*object][]attrList // attribute memory to wipe when the key's last holder releases it
	checkedHook func(call string)      // tests: runs between a call's check and its computation
}

const metaNextSlot = "next-slot"

// New opens an engine over an open store and the device root key.
func New(st *store.Store, rootKey []byte, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	if cfg.BindPINs && cfg.PINSeal == nil {
		return nil, errors.New("engine: binding PINs to the TPM needs the PIN-bound seal")
	}
	root, err := vault.NewRoot(rootKey)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		store:    st,
		root:     root,
		tokens:   map[ck.SlotID]*token{},
		apps:     map[*app]struct{}{},
		sessions: map[ck.SessionHandle]*session{},
		uidBytes: map[uint32]uint64{},
		objects:  map[ck.ObjectHandle]*object{},
	}
	// Handles start at a random point so that a handle from before a daemon restart is unlikely to name
	// something after it. They stay below 2^31 for applications that keep handles in 32 bits.
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("engine: random: %w", err)
	}
	e.nextSess = 1 + uint64(binary.BigEndian.Uint32(b[:4])%(1<<29))
	e.nextHandle = 1 + uint64(binary.BigEndian.Uint32(b[4:])%(1<<29))
	if err := e.load(); err != nil {
		return nil, err
	}
	return e, nil
}

// load reads every token and its public objects from the store.
func (e *Engine) load() error {
	v, err := e.store.GetMeta(metaNextSlot)
	switch {
	case errors.Is(err, store.ErrNotFound):
		e.freeSlot = 0
	case err != nil:
		return fmt.Errorf("engine: reading the next slot: %w", err)
	case len(v) != 8:
		return fmt.Errorf("engine: corrupt next-slot record")
	default:
		e.freeSlot = ck.SlotID(binary.BigEndian.Uint64(v))
	}
	toks, err := e.store.Tokens()
	if err != nil {
		return fmt.Errorf("engine: loading tokens: %w", err)
	}
	for _, st := range toks {
		t, err := e.openToken(st)
		if err != nil {
			return err
		}
		e.tokens[t.slot] = t
		if err := e.loadObjects(t, false); err != nil {
			return err
		}
	}
	if e.store.ReadOnly() {
		e.log.Warn("the store is read-only: reads work, every write fails with CKR_DEVICE_ERROR, and PIN failures are counted in memory only")
	}
	e.dropStaleIdentityWraps()
	e.log.Info("engine ready", "tokens", len(e.tokens), "objects", len(e.objects), "free_slot", uint64(e.freeSlot))
	return nil
}

// loadObjects decrypts and indexes a token's public objects, or (private=true) the objects under the token
// key: its private objects and its sealed public ones.
func (e *Engine) loadObjects(t *token, private bool) error {
	objs, err := e.store.Objects(t.id)
	if err != nil {
		return fmt.Errorf("engine: loading objects of token %d: %w", t.id, err)
	}
	key := t.pubKey
	if private {
		key = t.tokenKey.Key
	}
	if !private {
		t.storedBytes, t.storedCount = 0, 0 // the token's quota (quota.go) counts every stored record
		for _, so := range objs {
			t.storedBytes += uint64(len(so.Blob))
			t.storedCount++
		}
	}
	for _, so := range objs {
		if so.Private != private {
			continue
		}
		pt, err := key.Open(so.Blob, vault.ObjectAD(t.id, so.ID, so.Private))
		if err != nil {
			e.log.Error("object does not decrypt; skipped", "token", t.id, "object", so.ID)
			continue
		}
		attrs, err := decodeAttrs(pt)
		clear(pt)
		if err != nil {
			e.log.Error("object does not decode; skipped", "token", t.id, "object", so.ID)
			continue
		}
		applyWrapPolicy(attrs, t.rec.WrapPolicy, true) // a key stored before the policy says what is enforced
		o := &object{id: so.ID, tok: t, attrs: newAttrList(attrs), private: so.Private, onToken: true, cache: &mech.Cache{}}
		o.stored = uint64(len(so.Blob))
		if so.Private && !o.bool(ck.CKA_PRIVATE) {
			o.private, o.sealed = false, true // a public object sealed under the token key (sealed.go)
		}
		for _, v := range attrs {
			clear(v) // decodeAttrs copied each value; the object holds its own copy now
		}
		if c, ok := o.ulong(ck.CKA_CLASS); ok {
			o.class = ck.ObjectClass(c)
		}
		o.handle = t.handleFor(e, so.ID)
		e.addObject(o)
	}
	return nil
}

// Close wipes secrets held in memory. The caller closes the store.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for a := range e.apps {
		e.closeApp(a)
	}
	for _, t := range e.tokens {
		t.dropTokenKey(e)
	}
	e.root.Wipe()
}

func (e *Engine) newObjectHandle() ck.ObjectHandle {
	for {
		e.nextHandle++
		if e.nextHandle >= 1<<31 {
			e.nextHandle = 1
		}
		h := ck.ObjectHandle(e.nextHandle)
		if _, used := e.objects[h]; !used {
			return h
		}
	}
}

func (e *Engine) newSessionHandle() ck.SessionHandle {
	for {
		e.nextSess++
		if e.nextSess >= 1<<31 {
			e.nextSess = 1
		}
		h := ck.SessionHandle(e.nextSess)
		if _, used := e.sessions[h]; !used {
			return h
		}
	}
}

func (e *Engine) addObject(o *object) {
	e.objects[o.handle] = o
	o.tok.index.add(o)
	if o.owner != nil {
		n := o.size()
		o.owner.app.sessionBytes += n
		e.uidBytes[o.owner.app.peer.UID] += n
	}
}

func (e *Engine) removeObject(o *object) {
	if _, present := e.objects[o.handle]; !present {
		return
	}
	delete(e.objects, o.handle)
	o.tok.index.remove(o)
	if o.owner != nil {
		n := o.size()
		o.owner.app.sessionBytes -= n
		if e.uidBytes[o.owner.app.peer.UID] -= n; e.uidBytes[o.owner.app.peer.UID] == 0 {
			delete(e.uidBytes, o.owner.app.peer.UID)
		}
	}
}

// randomID returns a fresh non-zero 63-bit id.
func randomID() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("engine: random: %v", err))
	}
	return binary.BigEndian.Uint64(b[:])>>1 | 1
}

// audit records the use of a key. Never a key value or a PIN: the object's token and id, its class and label,
// the mechanism, and the application's identity.
func (e *Engine) audit(what string, a *app, o *object, m ck.MechanismType) {
	if e.cfg.Audit == nil {
		return
	}
	e.cfg.Audit.Info(what, append(o.tok.auditNames(), "object", o.id, "class", o.class.String(),
		"label", string(o.attrs.value(ck.CKA_LABEL)), "mechanism", m.String(), "on_token", o.onToken,
		"uid", a.peer.UID, "gid", a.peer.GID, "pid", a.peer.PID, "exe", a.peer.Exe)...)
}

// auditEvent records an event that concerns a token rather than a key (login, PIN change, initialisation).
func (e *Engine) auditEvent(what string, a *app, tokenID uint64, args ...any) {
	if e.cfg.Audit == nil {
		return
	}
	args = append(append(args, e.tokenNames(tokenID)...), "uid", a.peer.UID, "gid", a.peer.GID, "pid", a.peer.PID, "exe", a.peer.Exe)
	e.cfg.Audit.Info(what, args...)
}

// auditObject is audit for an object known by handle. Called with e.mu held.
func (e *Engine) auditObject(what string, a *app, h ck.ObjectHandle, m ck.MechanismType) {
	if o := e.objects[h]; o != nil {
		e.audit(what, a, o, m)
	}
}
