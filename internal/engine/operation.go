package engine

import (
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// operation is an active cryptographic operation of a session. The mechanism registry (internal/mech) fills
// in the work; until a mechanism is registered every *Init answers CKR_MECHANISM_INVALID.
type operation struct {
	kind          ck.Operation
	mech          ck.MechanismType
	key           *object
	needsAuth     bool // the key has CKA_ALWAYS_AUTHENTICATE: a CKU_CONTEXT_SPECIFIC login must come first
	authenticated bool
}

func (op *operation) end() {}

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
			if op, ok := s.ops[k]; ok {
				op.end()
				delete(s.ops, k)
			}
		}
	}
}

// dualParts are the two operations a dual-function update drives.
var dualParts = map[ck.Operation][2]ck.Operation{
	ck.OpDigestEncrypt: {ck.OpDigest, ck.OpEncrypt},
	ck.OpDecryptDigest: {ck.OpDecrypt, ck.OpDigest},
	ck.OpSignEncrypt:   {ck.OpSign, ck.OpEncrypt},
	ck.OpDecryptVerify: {ck.OpDecrypt, ck.OpVerify},
}

func validKind(op ck.Operation) bool {
	return op >= ck.OpEncrypt && op <= ck.OpVerifySignature
}

func (a *app) OperationInit(h ck.SessionHandle, kind ck.Operation, m *ck.Mechanism, key ck.ObjectHandle) error {
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
		// A NULL mechanism cancels the active operation of this kind.
		if op, ok := s.ops[kind]; ok {
			op.end()
			delete(s.ops, kind)
		}
		return nil
	}
	if _, active := s.ops[kind]; active {
		return ck.CKR_OPERATION_ACTIVE
	}
	return ck.CKR_MECHANISM_INVALID
}

func (a *app) activeOp(h ck.SessionHandle, kind ck.Operation) (*session, func(), error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return nil, nil, err
	}
	if !validKind(kind) {
		unlock()
		return nil, nil, ck.CKR_ARGUMENTS_BAD
	}
	kinds := []ck.Operation{kind}
	if parts, dual := dualParts[kind]; dual {
		kinds = parts[:]
	}
	for _, k := range kinds {
		if _, ok := s.ops[k]; !ok {
			unlock()
			return nil, nil, ck.CKR_OPERATION_NOT_INITIALIZED
		}
	}
	return s, unlock, nil
}

func (a *app) OperationSingle(h ck.SessionHandle, kind ck.Operation, in []byte, out ck.Out) ([]byte, uint64, error) {
	_, unlock, err := a.activeOp(h, kind)
	if err != nil {
		return nil, 0, err
	}
	defer unlock()
	return nil, 0, ck.CKR_FUNCTION_FAILED // unreachable until mechanisms exist: no operation can be active
}

func (a *app) OperationUpdate(h ck.SessionHandle, kind ck.Operation, in []byte, out ck.Out) ([]byte, uint64, error) {
	return a.OperationSingle(h, kind, in, out)
}

func (a *app) OperationFinal(h ck.SessionHandle, kind ck.Operation, out ck.Out) ([]byte, uint64, error) {
	return a.OperationSingle(h, kind, nil, out)
}

func (a *app) DigestKey(h ck.SessionHandle, key ck.ObjectHandle) error {
	_, _, err := a.OperationSingle(h, ck.OpDigest, nil, ck.Out{})
	return err
}

func (a *app) Verify(h ck.SessionHandle, data, sig []byte) error {
	_, _, err := a.OperationSingle(h, ck.OpVerify, data, ck.Out{})
	return err
}

func (a *app) VerifyFinal(h ck.SessionHandle, sig []byte) error {
	_, _, err := a.OperationSingle(h, ck.OpVerify, nil, ck.Out{})
	return err
}

// keyMechanism checks a session and mechanism for the key-management calls. Until mechanisms are
// registered, every mechanism is invalid.
func (a *app) keyMechanism(h ck.SessionHandle, m *ck.Mechanism) error {
	_, unlock, err := a.lock(h)
	if err != nil {
		return err
	}
	defer unlock()
	if m == nil {
		return ck.CKR_ARGUMENTS_BAD
	}
	return ck.CKR_MECHANISM_INVALID
}

func (a *app) GenerateKey(h ck.SessionHandle, m *ck.Mechanism, template []ck.Attribute) (ck.ObjectHandle, error) {
	return 0, a.keyMechanism(h, m)
}

func (a *app) GenerateKeyPair(h ck.SessionHandle, m *ck.Mechanism, pub, priv []ck.Attribute) (ck.ObjectHandle, ck.ObjectHandle, error) {
	return 0, 0, a.keyMechanism(h, m)
}

func (a *app) WrapKey(h ck.SessionHandle, m *ck.Mechanism, wrapping, key ck.ObjectHandle, out ck.Out) ([]byte, uint64, error) {
	return nil, 0, a.keyMechanism(h, m)
}

func (a *app) UnwrapKey(h ck.SessionHandle, m *ck.Mechanism, unwrapping ck.ObjectHandle, wrapped []byte, template []ck.Attribute) (ck.ObjectHandle, error) {
	return 0, a.keyMechanism(h, m)
}

func (a *app) DeriveKey(h ck.SessionHandle, m *ck.Mechanism, base ck.ObjectHandle, template []ck.Attribute) (ck.ObjectHandle, error) {
	return 0, a.keyMechanism(h, m)
}

func (a *app) GetMechanismList(slot ck.SlotID) ([]ck.MechanismType, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	if _, err := a.e.slotInfo(slot); err != nil {
		return nil, err
	}
	return []ck.MechanismType{}, nil
}

func (a *app) GetMechanismInfo(slot ck.SlotID, m ck.MechanismType) (ck.MechanismInfo, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	if _, err := a.e.slotInfo(slot); err != nil {
		return ck.MechanismInfo{}, err
	}
	return ck.MechanismInfo{}, ck.CKR_MECHANISM_INVALID
}

func (a *app) EncapsulateKey(h ck.SessionHandle, m *ck.Mechanism, pub ck.ObjectHandle, t []ck.Attribute, out ck.Out) ([]byte, uint64, ck.ObjectHandle, error) {
	return nil, 0, 0, a.keyMechanism(h, m)
}

func (a *app) DecapsulateKey(h ck.SessionHandle, m *ck.Mechanism, priv ck.ObjectHandle, t []ck.Attribute, ct []byte) (ck.ObjectHandle, error) {
	return 0, a.keyMechanism(h, m)
}

func (a *app) VerifySignatureInit(h ck.SessionHandle, m *ck.Mechanism, key ck.ObjectHandle, sig []byte) error {
	return a.keyMechanism(h, m)
}

func (a *app) VerifySignature(h ck.SessionHandle, data []byte) error {
	_, _, err := a.OperationSingle(h, ck.OpVerifySignature, nil, ck.Out{})
	return err
}

func (a *app) GetSessionValidationFlags(h ck.SessionHandle, typ uint64) (uint64, error) {
	_, unlock, err := a.lock(h)
	if err != nil {
		return 0, err
	}
	unlock()
	return 0, nil
}
