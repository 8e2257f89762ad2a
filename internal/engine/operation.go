package engine

import (
	"weak"

	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// operation is an active cryptographic operation of a session.
type operation struct {
	kind          ck.Operation
	mech          ck.MechanismType
	key           *object
	needsAuth     bool // the key has CKA_ALWAYS_AUTHENTICATE: a CKU_CONTEXT_SPECIFIC login must come first
	authenticated bool

	run      mech.Operation // encrypt, decrypt, sign, digest
	verifier mech.Verifier  // verify
	single   mech.Single    // sign-recover, verify-recover
	sig      []byte         // the signature given to C_VerifySignatureInit
	pending  []byte         // output computed but not yet delivered (the length convention)
	stage    stage          // which call computed pending
	mode     stage          // stageSingle or stageUpdate (multi-part), fixed by the first data call
	held     uint64         // input a buffering mechanism keeps (buffer.go)
	busy     bool           // a call is computing outside the engine lock
}

// end releases what the operation holds.
func (op *operation) end() {
	clear(op.pending)
	op.pending = nil
}

// enter checks that a call of stage st fits the operation's progress, and fixes the operation's mode with its
// first data call. PKCS#11 3.2: C_Encrypt (C_Decrypt, C_Digest, C_Sign, C_Verify) "must be called after
// C_EncryptInit without intervening C_EncryptUpdate calls" and cannot "terminate a multi-part operation"; a
// single-part call after an Update, or an Update or Final after a single-part call (even a length query),
// answers CKR_OPERATION_ACTIVE. So does a call other than the one whose output waits under the length
// convention (an Update's length query followed by Final): computing it would work on state the undelivered
// output already moved. The caller ends the operation on the error, as the specification says of every error
// of these calls but CKR_BUFFER_TOO_SMALL.
func (op *operation) enter(st stage) error {
	m := stageSingle
	if st != stageSingle {
		m = stageUpdate
	}
	switch {
	case op.mode == stageNone:
		op.mode = m
	case op.mode != m:
		return ck.CKR_OPERATION_ACTIVE
	}
	if op.pending != nil && op.stage != st {
		return ck.CKR_OPERATION_ACTIVE
	}
	return nil
}

// pendingAuth returns the session's operation that waits for a context-specific login, if any.
func (s *session) pendingAuth() *operation {
	for _, op := range s.ops {
		if op.needsAuth && !op.authenticated {
			return op
		}
	}
	return nil
}

// cancelFlags maps C_SessionCancel's flags to operation kinds.
var cancelFlags = map[uint64][]ck.Operation{
	ck.CKF_ENCRYPT:        {ck.OpEncrypt, ck.OpMessageEncrypt},
	ck.CKF_DECRYPT:        {ck.OpDecrypt, ck.OpMessageDecrypt},
	ck.CKF_DIGEST:         {ck.OpDigest},
	ck.CKF_SIGN:           {ck.OpSign, ck.OpMessageSign},
	ck.CKF_SIGN_RECOVER:   {ck.OpSignRecover},
	ck.CKF_VERIFY:         {ck.OpVerify, ck.OpMessageVerify, ck.OpVerifySignature},
	ck.CKF_VERIFY_RECOVER: {ck.OpVerifyRecover},
	ck.CKF_FIND_OBJECTS:   nil,
}

func (s *session) cancelMatching(flags uint64) {
	for f, kinds := range cancelFlags {
		if flags&f == 0 {
			continue
		}
		if f == ck.CKF_FIND_OBJECTS {
			s.find = nil
		}
		for _, k := range kinds {
			s.endOp(k)
		}
	}
}

func (s *session) endOp(k ck.Operation) {
	if op, ok := s.ops[k]; ok {
		s.release(op)
		op.end()
		s.app.e.releaseKeysLocked(op.key) // held since the Init (locking.go)
		delete(s.ops, k)
	}
}

// dualParts are the two operations a dual-function update drives, in order.
var dualParts = map[ck.Operation][2]ck.Operation{
	ck.OpDigestEncrypt: {ck.OpDigest, ck.OpEncrypt},
	ck.OpDecryptDigest: {ck.OpDecrypt, ck.OpDigest},
	ck.OpSignEncrypt:   {ck.OpSign, ck.OpEncrypt},
	ck.OpDecryptVerify: {ck.OpDecrypt, ck.OpVerify},
}

func validKind(op ck.Operation) bool {
	return op >= ck.OpEncrypt && op <= ck.OpVerifySignature
}

// opUse describes, per operation kind, the usage attribute a key needs and the classes it may have.
var opUse = map[ck.Operation]struct {
	usage   ck.AttributeType
	classes []ck.ObjectClass
}{
	ck.OpEncrypt:         {ck.CKA_ENCRYPT, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PUBLIC_KEY}},
	ck.OpDecrypt:         {ck.CKA_DECRYPT, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PRIVATE_KEY}},
	ck.OpSign:            {ck.CKA_SIGN, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PRIVATE_KEY}},
	ck.OpVerify:          {ck.CKA_VERIFY, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PUBLIC_KEY}},
	ck.OpVerifySignature: {ck.CKA_VERIFY, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PUBLIC_KEY}},
	ck.OpSignRecover:     {ck.CKA_SIGN_RECOVER, []ck.ObjectClass{ck.CKO_PRIVATE_KEY}},
	ck.OpVerifyRecover:   {ck.CKA_VERIFY_RECOVER, []ck.ObjectClass{ck.CKO_PUBLIC_KEY}},
}

// mechanismAllowed checks CKA_ALLOWED_MECHANISMS: an empty list allows every mechanism.
func mechanismAllowed(o *object, m ck.MechanismType) bool {
	list := o.attrs.value(ck.CKA_ALLOWED_MECHANISMS)
	if len(list) == 0 {
		return true
	}
	for i := 0; i+8 <= len(list); i += 8 {
		if v, _ := ck.DecodeULong(list[i : i+8]); ck.MechanismType(v) == m {
			return true
		}
	}
	return false
}

// keyMap is the attribute map a mechanism reads a key from (mech.Attrs), built from the object's compact
// list.
type keyMap struct {
	m mech.Attrs
}

// keyView is the mechanism's view of a key object. Called with e.mu held.
//
// The map is built on demand, so that an object idle in memory keeps only its compact list, and kept through
// a weak pointer while operations use it: a key in use does not rebuild it for every operation, and an idle
// key's map is collected.
func keyView(o *object) *mech.Key {
	kt, _ := o.ulong(ck.CKA_KEY_TYPE)
	ka := o.view.Value()
	if ka == nil {
		ka = &keyMap{m: o.attrs.attrMap()}
		o.view = weak.Make(ka)
	}
	return mech.NewKey(o.class, ck.KeyType(kt), ka.m, o.cache)
}

// useKey checks that a session may use object h as the key of mechanism spec for a purpose: the
// handle, the class, the key type, the usage attribute and CKA_ALLOWED_MECHANISMS. badHandle and
// badType are the codes for a wrong handle and key type (they differ for wrapping keys).
func useKey(s *session, h ck.ObjectHandle, spec *mech.Spec, usage ck.AttributeType, classes []ck.ObjectClass, badHandle, badType ck.RV) (*object, error) {
	o, err := s.object(h)
	if err != nil {
		return nil, badHandle
	}
	if !isKeyClass(o.class) {
		return nil, badHandle
	}
	classOK := false
	for _, c := range classes {
		classOK = classOK || c == o.class
	}
	kt, _ := o.ulong(ck.CKA_KEY_TYPE)
	if !classOK || !spec.AcceptsKey(ck.KeyType(kt)) {
		return nil, badType
	}
	if !o.bool(usage) {
		return nil, ck.CKR_KEY_FUNCTION_NOT_PERMITTED
	}
	if err := trustedUse(o, usage); err != nil {
		return nil, err // a trusted key only wraps, whatever it was stored with (wrappolicy.go)
	}
	if !mechanismAllowed(o, spec.Type) {
		return nil, ck.CKR_MECHANISM_INVALID
	}
	return o, nil
}

func (a *app) OperationInit(h ck.SessionHandle, kind ck.Operation, m *ck.Mechanism, key ck.ObjectHandle) error {
	return a.initOperation(h, kind, m, key, nil)
}

func (a *app) VerifySignatureInit(h ck.SessionHandle, m *ck.Mechanism, key ck.ObjectHandle, sig []byte) error {
	return a.initOperation(h, ck.OpVerifySignature, m, key, append([]byte{}, sig...))
}

func (a *app) initOperation(h ck.SessionHandle, kind ck.Operation, m *ck.Mechanism, key ck.ObjectHandle, sig []byte) error {
	s, unlock, err := a.lock(h)
	if err != nil {
		return err
	}
	defer unlock()
	if !validKind(kind) {
		return ck.CKR_ARGUMENTS_BAD
	}
	if _, dual := dualParts[kind]; dual {
		return ck.CKR_ARGUMENTS_BAD
	}
	if m == nil {
		s.endOp(kind) // a NULL mechanism cancels the active operation of this kind
		return nil
	}
	if op, active := s.ops[kind]; active {
		if op.busy {
			return ck.CKR_OPERATION_ACTIVE
		}
		return ck.CKR_OPERATION_ACTIVE
	}
	spec := mech.Lookup(m.Type)
	if spec == nil {
		return ck.CKR_MECHANISM_INVALID
	}
	param, err := mech.NewParam(m)
	if err != nil {
		return err
	}
	op := &operation{kind: kind, mech: m.Type}
	if kind == ck.OpDigest {
		if spec.Digest == nil {
			return ck.CKR_MECHANISM_INVALID
		}
		if op.run, err = spec.Digest(param); err != nil {
			return err
		}
		s.ops[kind] = op
		return nil
	}
	use, ok := opUse[kind]
	if !ok {
		return ck.CKR_MECHANISM_INVALID // message-based operations: no mechanism supports them yet
	}
	var supported bool
	switch kind {
	case ck.OpEncrypt:
		supported = spec.Encrypt != nil
	case ck.OpDecrypt:
		supported = spec.Decrypt != nil
	case ck.OpSign:
		supported = spec.Sign != nil
	case ck.OpVerify, ck.OpVerifySignature:
		supported = spec.Verify != nil
	case ck.OpSignRecover:
		supported = spec.SignRecover != nil
	case ck.OpVerifyRecover:
		supported = spec.VerifyRecover != nil
	}
	if !supported {
		return ck.CKR_MECHANISM_INVALID
	}
	o, err := useKey(s, key, spec, use.usage, use.classes, ck.CKR_KEY_HANDLE_INVALID, ck.CKR_KEY_TYPE_INCONSISTENT)
	if err != nil {
		return err
	}
	k := keyView(o)
	switch kind {
	case ck.OpEncrypt:
		op.run, err = spec.Encrypt(param, k)
	case ck.OpDecrypt:
		op.run, err = spec.Decrypt(param, k)
	case ck.OpSign:
		op.run, err = spec.Sign(param, k)
	case ck.OpVerify, ck.OpVerifySignature:
		op.verifier, err = spec.Verify(param, k)
	case ck.OpSignRecover:
		op.single, err = spec.SignRecover(param, k)
	case ck.OpVerifyRecover:
		op.single, err = spec.VerifyRecover(param, k)
	}
	if err != nil {
		return err
	}
	op.key = o
	op.sig = sig
	op.needsAuth = o.class == ck.CKO_PRIVATE_KEY && o.bool(ck.CKA_ALWAYS_AUTHENTICATE)
	s.ops[kind] = op
	a.e.holdKeys(o) // the mechanism's state may read the key's memory until the operation ends
	a.e.audit("key use", a, o, m.Type)
	return nil
}
