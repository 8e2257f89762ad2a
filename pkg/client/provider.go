package client

import (
	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

var _ ck.Provider = (*Client)(nil)

func toVersion(v uint64) ck.Version { return ck.Version{Major: byte(v >> 8), Minor: byte(v)} }

func slots[T ~uint64](v []uint64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// GetInfo is C_GetInfo.
func (cl *Client) GetInfo() (info ck.Info, err error) {
	err = cl.call(wire.CallGetInfo, nil, func(d *wire.Decoder) {
		info.ManufacturerID = string(d.B())
		info.Flags = d.U()
		info.LibraryDescription = string(d.B())
		info.LibraryVersion = toVersion(d.U())
	})
	return
}

// GetSlotList is C_GetSlotList.
func (cl *Client) GetSlotList(tokenPresent bool) (list []ck.SlotID, err error) {
	err = cl.call(wire.CallGetSlotList, func(e *wire.Encoder) { e.U(b2u(tokenPresent)) },
		func(d *wire.Decoder) { list = slots[ck.SlotID](d.Us()) })
	return
}

// GetSlotInfo is C_GetSlotInfo.
func (cl *Client) GetSlotInfo(slot ck.SlotID) (info ck.SlotInfo, err error) {
	err = cl.call(wire.CallGetSlotInfo, func(e *wire.Encoder) { e.U(uint64(slot)) }, func(d *wire.Decoder) {
		info.SlotDescription = string(d.B())
		info.ManufacturerID = string(d.B())
		info.Flags = d.U()
		info.HardwareVersion = toVersion(d.U())
		info.FirmwareVersion = toVersion(d.U())
	})
	return
}

// GetTokenInfo is C_GetTokenInfo.
func (cl *Client) GetTokenInfo(slot ck.SlotID) (ti ck.TokenInfo, err error) {
	err = cl.call(wire.CallGetTokenInfo, func(e *wire.Encoder) { e.U(uint64(slot)) }, func(d *wire.Decoder) {
		ti.Label = string(d.B())
		ti.ManufacturerID = string(d.B())
		ti.Model = string(d.B())
		ti.SerialNumber = string(d.B())
		for _, p := range []*uint64{&ti.Flags, &ti.MaxSessionCount, &ti.SessionCount, &ti.MaxRwSessionCount,
			&ti.RwSessionCount, &ti.MaxPinLen, &ti.MinPinLen, &ti.TotalPublicMemory, &ti.FreePublicMemory,
			&ti.TotalPrivateMemory, &ti.FreePrivateMemory} {
			*p = d.U()
		}
		ti.HardwareVersion = toVersion(d.U())
		ti.FirmwareVersion = toVersion(d.U())
		ti.UTCTime = string(d.B())
	})
	return
}

// GetMechanismList is C_GetMechanismList.
func (cl *Client) GetMechanismList(slot ck.SlotID) (list []ck.MechanismType, err error) {
	err = cl.call(wire.CallGetMechanismList, func(e *wire.Encoder) { e.U(uint64(slot)) },
		func(d *wire.Decoder) { list = slots[ck.MechanismType](d.Us()) })
	return
}

// GetMechanismInfo is C_GetMechanismInfo.
func (cl *Client) GetMechanismInfo(slot ck.SlotID, m ck.MechanismType) (mi ck.MechanismInfo, err error) {
	err = cl.call(wire.CallGetMechanismInfo, func(e *wire.Encoder) { e.U(uint64(slot)); e.U(uint64(m)) },
		func(d *wire.Decoder) { mi.MinKeySize, mi.MaxKeySize, mi.Flags = d.U(), d.U(), d.U() })
	return
}

// WaitForSlotEvent is C_WaitForSlotEvent (CKF_DONT_BLOCK only).
func (cl *Client) WaitForSlotEvent(flags uint64) (slot ck.SlotID, err error) {
	err = cl.call(wire.CallWaitForSlotEvent, func(e *wire.Encoder) { e.U(flags) },
		func(d *wire.Decoder) { slot = ck.SlotID(d.U()) })
	return
}

// InitToken is C_InitToken; label is the 32-byte blank-padded label.
func (cl *Client) InitToken(slot ck.SlotID, soPIN, label []byte) error {
	return cl.call(wire.CallInitToken, func(e *wire.Encoder) { e.U(uint64(slot)); e.B(soPIN); e.B(label) }, nil)
}

// InitPIN is C_InitPIN.
func (cl *Client) InitPIN(s ck.SessionHandle, pin []byte) error {
	return cl.call(wire.CallInitPIN, func(e *wire.Encoder) { e.U(uint64(s)); e.P(pin) }, nil)
}

// SetPIN is C_SetPIN.
func (cl *Client) SetPIN(s ck.SessionHandle, oldPIN, newPIN []byte) error {
	return cl.call(wire.CallSetPIN, func(e *wire.Encoder) { e.U(uint64(s)); e.P(oldPIN); e.P(newPIN) }, nil)
}

// OpenSession is C_OpenSession.
func (cl *Client) OpenSession(slot ck.SlotID, flags uint64) (h ck.SessionHandle, err error) {
	err = cl.call(wire.CallOpenSession, func(e *wire.Encoder) { e.U(uint64(slot)); e.U(flags) },
		func(d *wire.Decoder) { h = ck.SessionHandle(d.U()) })
	return
}

func (cl *Client) sessionCall(call wire.Call, s ck.SessionHandle) error {
	return cl.call(call, func(e *wire.Encoder) { e.U(uint64(s)) }, nil)
}

// CloseSession is C_CloseSession.
func (cl *Client) CloseSession(s ck.SessionHandle) error {
	return cl.sessionCall(wire.CallCloseSession, s)
}

// CloseAllSessions is C_CloseAllSessions.
func (cl *Client) CloseAllSessions(slot ck.SlotID) error {
	return cl.call(wire.CallCloseAllSessions, func(e *wire.Encoder) { e.U(uint64(slot)) }, nil)
}

// GetSessionInfo is C_GetSessionInfo.
func (cl *Client) GetSessionInfo(s ck.SessionHandle) (si ck.SessionInfo, err error) {
	err = cl.call(wire.CallGetSessionInfo, func(e *wire.Encoder) { e.U(uint64(s)) }, func(d *wire.Decoder) {
		si.SlotID, si.State, si.Flags, si.DeviceError = ck.SlotID(d.U()), ck.State(d.U()), d.U(), d.U()
	})
	return
}

// Login is C_Login; a nil pin asks for the protected authentication path.
func (cl *Client) Login(s ck.SessionHandle, u ck.UserType, pin []byte) error {
	return cl.call(wire.CallLogin, func(e *wire.Encoder) { e.U(uint64(s)); e.U(uint64(u)); e.P(pin) }, nil)
}

// LoginUser is C_LoginUser.
func (cl *Client) LoginUser(s ck.SessionHandle, u ck.UserType, pin, username []byte) error {
	return cl.call(wire.CallLoginUser, func(e *wire.Encoder) {
		e.U(uint64(s))
		e.U(uint64(u))
		e.P(pin)
		e.B(username)
	}, nil)
}

// Logout is C_Logout.
func (cl *Client) Logout(s ck.SessionHandle) error { return cl.sessionCall(wire.CallLogout, s) }

// SessionCancel is C_SessionCancel.
func (cl *Client) SessionCancel(s ck.SessionHandle, flags uint64) error {
	return cl.call(wire.CallSessionCancel, func(e *wire.Encoder) { e.U(uint64(s)); e.U(flags) }, nil)
}

// CreateObject is C_CreateObject.
func (cl *Client) CreateObject(s ck.SessionHandle, t []ck.Attribute) (h ck.ObjectHandle, err error) {
	err = cl.call(wire.CallCreateObject, func(e *wire.Encoder) { e.U(uint64(s)); e.A(t) },
		func(d *wire.Decoder) { h = ck.ObjectHandle(d.U()) })
	return
}

// CopyObject is C_CopyObject.
func (cl *Client) CopyObject(s ck.SessionHandle, o ck.ObjectHandle, t []ck.Attribute) (h ck.ObjectHandle, err error) {
	err = cl.call(wire.CallCopyObject, func(e *wire.Encoder) { e.U(uint64(s)); e.U(uint64(o)); e.A(t) },
		func(d *wire.Decoder) { h = ck.ObjectHandle(d.U()) })
	return
}

// DestroyObject is C_DestroyObject.
func (cl *Client) DestroyObject(s ck.SessionHandle, o ck.ObjectHandle) error {
	return cl.call(wire.CallDestroyObject, func(e *wire.Encoder) { e.U(uint64(s)); e.U(uint64(o)) }, nil)
}

// GetObjectSize is C_GetObjectSize.
func (cl *Client) GetObjectSize(s ck.SessionHandle, o ck.ObjectHandle) (n uint64, err error) {
	err = cl.call(wire.CallGetObjectSize, func(e *wire.Encoder) { e.U(uint64(s)); e.U(uint64(o)) },
		func(d *wire.Decoder) { n = d.U() })
	return
}

// GetAttributeValue is C_GetAttributeValue.
func (cl *Client) GetAttributeValue(s ck.SessionHandle, o ck.ObjectHandle, q []ck.Attribute) (res []ck.Attribute, err error) {
	err = cl.call(wire.CallGetAttributeValue, func(e *wire.Encoder) { e.U(uint64(s)); e.U(uint64(o)); e.A(q) },
		func(d *wire.Decoder) { res = d.A() })
	return
}

// SetAttributeValue is C_SetAttributeValue.
func (cl *Client) SetAttributeValue(s ck.SessionHandle, o ck.ObjectHandle, t []ck.Attribute) error {
	return cl.call(wire.CallSetAttributeValue, func(e *wire.Encoder) { e.U(uint64(s)); e.U(uint64(o)); e.A(t) }, nil)
}

// FindObjectsInit is C_FindObjectsInit.
func (cl *Client) FindObjectsInit(s ck.SessionHandle, t []ck.Attribute) error {
	return cl.call(wire.CallFindObjectsInit, func(e *wire.Encoder) { e.U(uint64(s)); e.A(t) }, nil)
}

// FindObjects is C_FindObjects.
func (cl *Client) FindObjects(s ck.SessionHandle, max uint64) (hs []ck.ObjectHandle, err error) {
	err = cl.call(wire.CallFindObjects, func(e *wire.Encoder) { e.U(uint64(s)); e.U(max) },
		func(d *wire.Decoder) { hs = slots[ck.ObjectHandle](d.Us()) })
	return
}

// FindObjectsFinal is C_FindObjectsFinal.
func (cl *Client) FindObjectsFinal(s ck.SessionHandle) error {
	return cl.sessionCall(wire.CallFindObjectsFinal, s)
}

// OperationInit is C_EncryptInit, C_SignInit and the other *Init functions.
func (cl *Client) OperationInit(s ck.SessionHandle, op ck.Operation, m *ck.Mechanism, key ck.ObjectHandle) error {
	return cl.call(wire.CallOperationInit, func(e *wire.Encoder) {
		e.U(uint64(s))
		e.U(uint64(op))
		e.M(m)
		e.U(uint64(key))
	}, nil)
}

func (cl *Client) output(call wire.Call, enc func(*wire.Encoder)) (out []byte, n uint64, err error) {
	err = cl.call(call, enc, func(d *wire.Decoder) { n = d.U(); out = d.B() })
	if len(out) == 0 {
		out = nil
	}
	return
}

// OperationSingle is C_Encrypt, C_Sign, C_Digest and the other single-part calls.
func (cl *Client) OperationSingle(s ck.SessionHandle, op ck.Operation, in []byte, o ck.Out) ([]byte, uint64, error) {
	return cl.output(wire.CallOperationSingle, func(e *wire.Encoder) { e.U(uint64(s)); e.U(uint64(op)); e.B(in); e.O(o) })
}

// OperationUpdate is C_EncryptUpdate, C_SignUpdate and the other update calls.
func (cl *Client) OperationUpdate(s ck.SessionHandle, op ck.Operation, in []byte, o ck.Out) ([]byte, uint64, error) {
	return cl.output(wire.CallOperationUpdate, func(e *wire.Encoder) { e.U(uint64(s)); e.U(uint64(op)); e.B(in); e.O(o) })
}

// OperationFinal is C_EncryptFinal, C_SignFinal and the other final calls.
func (cl *Client) OperationFinal(s ck.SessionHandle, op ck.Operation, o ck.Out) ([]byte, uint64, error) {
	return cl.output(wire.CallOperationFinal, func(e *wire.Encoder) { e.U(uint64(s)); e.U(uint64(op)); e.O(o) })
}

// DigestKey is C_DigestKey.
func (cl *Client) DigestKey(s ck.SessionHandle, key ck.ObjectHandle) error {
	return cl.call(wire.CallDigestKey, func(e *wire.Encoder) { e.U(uint64(s)); e.U(uint64(key)) }, nil)
}

// Verify is C_Verify.
func (cl *Client) Verify(s ck.SessionHandle, data, sig []byte) error {
	return cl.call(wire.CallVerify, func(e *wire.Encoder) { e.U(uint64(s)); e.B(data); e.B(sig) }, nil)
}

// VerifyFinal is C_VerifyFinal.
func (cl *Client) VerifyFinal(s ck.SessionHandle, sig []byte) error {
	return cl.call(wire.CallVerifyFinal, func(e *wire.Encoder) { e.U(uint64(s)); e.B(sig) }, nil)
}

// GenerateKey is C_GenerateKey.
func (cl *Client) GenerateKey(s ck.SessionHandle, m *ck.Mechanism, t []ck.Attribute) (h ck.ObjectHandle, err error) {
	err = cl.call(wire.CallGenerateKey, func(e *wire.Encoder) { e.U(uint64(s)); e.M(m); e.A(t) },
		func(d *wire.Decoder) { h = ck.ObjectHandle(d.U()) })
	return
}

// GenerateKeyPair is C_GenerateKeyPair.
func (cl *Client) GenerateKeyPair(s ck.SessionHandle, m *ck.Mechanism, pub, priv []ck.Attribute) (hpub, hpriv ck.ObjectHandle, err error) {
	err = cl.call(wire.CallGenerateKeyPair, func(e *wire.Encoder) { e.U(uint64(s)); e.M(m); e.A(pub); e.A(priv) },
		func(d *wire.Decoder) { hpub, hpriv = ck.ObjectHandle(d.U()), ck.ObjectHandle(d.U()) })
	return
}

// WrapKey is C_WrapKey.
func (cl *Client) WrapKey(s ck.SessionHandle, m *ck.Mechanism, wrapping, key ck.ObjectHandle, o ck.Out) ([]byte, uint64, error) {
	return cl.output(wire.CallWrapKey, func(e *wire.Encoder) {
		e.U(uint64(s))
		e.M(m)
		e.U(uint64(wrapping))
		e.U(uint64(key))
		e.O(o)
	})
}

// UnwrapKey is C_UnwrapKey.
func (cl *Client) UnwrapKey(s ck.SessionHandle, m *ck.Mechanism, unwrapping ck.ObjectHandle, wrapped []byte, t []ck.Attribute) (h ck.ObjectHandle, err error) {
	err = cl.call(wire.CallUnwrapKey, func(e *wire.Encoder) {
		e.U(uint64(s))
		e.M(m)
		e.U(uint64(unwrapping))
		e.B(wrapped)
		e.A(t)
	}, func(d *wire.Decoder) { h = ck.ObjectHandle(d.U()) })
	return
}

// DeriveKey is C_DeriveKey.
func (cl *Client) DeriveKey(s ck.SessionHandle, m *ck.Mechanism, base ck.ObjectHandle, t []ck.Attribute) (h ck.ObjectHandle, err error) {
	err = cl.call(wire.CallDeriveKey, func(e *wire.Encoder) { e.U(uint64(s)); e.M(m); e.U(uint64(base)); e.A(t) },
		func(d *wire.Decoder) { h = ck.ObjectHandle(d.U()) })
	return
}

// SeedRandom is C_SeedRandom.
func (cl *Client) SeedRandom(s ck.SessionHandle, seed []byte) error {
	return cl.call(wire.CallSeedRandom, func(e *wire.Encoder) { e.U(uint64(s)); e.B(seed) }, nil)
}

// GenerateRandom is C_GenerateRandom.
func (cl *Client) GenerateRandom(s ck.SessionHandle, n uint64) (out []byte, err error) {
	err = cl.call(wire.CallGenerateRandom, func(e *wire.Encoder) { e.U(uint64(s)); e.U(n) },
		func(d *wire.Decoder) { out = d.B() })
	return
}

// EncapsulateKey is C_EncapsulateKey (PKCS#11 3.2).
func (cl *Client) EncapsulateKey(s ck.SessionHandle, m *ck.Mechanism, pub ck.ObjectHandle, t []ck.Attribute, o ck.Out) (ct []byte, n uint64, h ck.ObjectHandle, err error) {
	err = cl.call(wire.CallEncapsulateKey, func(e *wire.Encoder) {
		e.U(uint64(s))
		e.M(m)
		e.U(uint64(pub))
		e.A(t)
		e.O(o)
	}, func(d *wire.Decoder) { n = d.U(); ct = d.B(); h = ck.ObjectHandle(d.U()) })
	if len(ct) == 0 {
		ct = nil
	}
	return
}

// DecapsulateKey is C_DecapsulateKey (PKCS#11 3.2).
func (cl *Client) DecapsulateKey(s ck.SessionHandle, m *ck.Mechanism, priv ck.ObjectHandle, t []ck.Attribute, ct []byte) (h ck.ObjectHandle, err error) {
	err = cl.call(wire.CallDecapsulateKey, func(e *wire.Encoder) {
		e.U(uint64(s))
		e.M(m)
		e.U(uint64(priv))
		e.A(t)
		e.B(ct)
	}, func(d *wire.Decoder) { h = ck.ObjectHandle(d.U()) })
	return
}

// VerifySignatureInit is C_VerifySignatureInit (PKCS#11 3.2).
func (cl *Client) VerifySignatureInit(s ck.SessionHandle, m *ck.Mechanism, key ck.ObjectHandle, sig []byte) error {
	return cl.call(wire.CallVerifySignatureInit, func(e *wire.Encoder) { e.U(uint64(s)); e.M(m); e.U(uint64(key)); e.B(sig) }, nil)
}

// VerifySignature is C_VerifySignature (PKCS#11 3.2).
func (cl *Client) VerifySignature(s ck.SessionHandle, data []byte) error {
	return cl.call(wire.CallVerifySignature, func(e *wire.Encoder) { e.U(uint64(s)); e.B(data) }, nil)
}

// GetSessionValidationFlags is C_GetSessionValidationFlags (PKCS#11 3.2).
func (cl *Client) GetSessionValidationFlags(s ck.SessionHandle, typ uint64) (f uint64, err error) {
	err = cl.call(wire.CallGetSessionValidationFlags, func(e *wire.Encoder) { e.U(uint64(s)); e.U(typ) },
		func(d *wire.Decoder) { f = d.U() })
	return
}

// DeleteToken removes a token and its objects (a Keyward extension; the SO PIN is required).
func (cl *Client) DeleteToken(slot ck.SlotID, soPIN []byte) error {
	return cl.call(wire.CallDeleteToken, func(e *wire.Encoder) { e.U(uint64(slot)); e.B(soPIN) }, nil)
}

// InitTokenPolicy initialises a token as InitToken does and chooses its wrapping policy (a Keyward
// extension; a daemon without it answers CKR_FUNCTION_NOT_SUPPORTED).
func (cl *Client) InitTokenPolicy(slot ck.SlotID, soPIN, label []byte, policy ck.WrapPolicy) error {
	return cl.call(wire.CallInitTokenPolicy, func(e *wire.Encoder) {
		e.U(uint64(slot))
		e.B(soPIN)
		e.B(label)
		e.U(uint64(policy))
	}, nil)
}
