package client

import (
	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

var _ ck.Provider = (*Client)(nil)

// do runs one call: its typed request (wire.NameRequest, generated from calls.def) and, unless resp is nil
// (a call whose response has no items), its typed response, which must be of the same call.
func (cl *Client) do(req, resp wire.Message) error {
	var dec func(*wire.Decoder)
	if resp != nil {
		if resp.Call() != req.Call() {
			panic("client: a " + req.Call().String() + " request with a " + resp.Call().String() + " response")
		}
		dec = resp.Decode
	}
	return cl.call(req.Call(), req.Encode, dec)
}

// nilIfEmpty returns nil for an empty output, as the provider interface does.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// GetInfo is C_GetInfo.
func (cl *Client) GetInfo() (ck.Info, error) {
	var r wire.GetInfoResponse
	err := cl.do(&wire.GetInfoRequest{}, &r)
	return ck.Info{ManufacturerID: r.ManufacturerID, Flags: r.Flags, LibraryDescription: r.LibraryDescription,
		LibraryVersion: r.LibraryVersion}, err
}

// GetSlotList is C_GetSlotList.
func (cl *Client) GetSlotList(tokenPresent bool) ([]ck.SlotID, error) {
	var r wire.GetSlotListResponse
	err := cl.do(&wire.GetSlotListRequest{TokenPresent: tokenPresent}, &r)
	return r.Slots, err
}

// GetSlotInfo is C_GetSlotInfo.
func (cl *Client) GetSlotInfo(slot ck.SlotID) (ck.SlotInfo, error) {
	var r wire.GetSlotInfoResponse
	err := cl.do(&wire.GetSlotInfoRequest{Slot: slot}, &r)
	return ck.SlotInfo{SlotDescription: r.SlotDescription, ManufacturerID: r.ManufacturerID, Flags: r.Flags,
		HardwareVersion: r.HardwareVersion, FirmwareVersion: r.FirmwareVersion}, err
}

// GetTokenInfo is C_GetTokenInfo.
func (cl *Client) GetTokenInfo(slot ck.SlotID) (ck.TokenInfo, error) {
	var r wire.GetTokenInfoResponse
	err := cl.do(&wire.GetTokenInfoRequest{Slot: slot}, &r)
	return ck.TokenInfo{Label: r.Label, ManufacturerID: r.ManufacturerID, Model: r.Model,
		SerialNumber: r.SerialNumber, Flags: r.Flags, MaxSessionCount: r.MaxSessionCount,
		SessionCount: r.SessionCount, MaxRwSessionCount: r.MaxRwSessionCount, RwSessionCount: r.RwSessionCount,
		MaxPinLen: r.MaxPinLen, MinPinLen: r.MinPinLen, TotalPublicMemory: r.TotalPublicMemory,
		FreePublicMemory: r.FreePublicMemory, TotalPrivateMemory: r.TotalPrivateMemory,
		FreePrivateMemory: r.FreePrivateMemory, HardwareVersion: r.HardwareVersion,
		FirmwareVersion: r.FirmwareVersion, UTCTime: r.UTCTime}, err
}

// GetMechanismList is C_GetMechanismList.
func (cl *Client) GetMechanismList(slot ck.SlotID) ([]ck.MechanismType, error) {
	var r wire.GetMechanismListResponse
	err := cl.do(&wire.GetMechanismListRequest{Slot: slot}, &r)
	return r.Mechanisms, err
}

// GetMechanismInfo is C_GetMechanismInfo.
func (cl *Client) GetMechanismInfo(slot ck.SlotID, m ck.MechanismType) (ck.MechanismInfo, error) {
	var r wire.GetMechanismInfoResponse
	err := cl.do(&wire.GetMechanismInfoRequest{Slot: slot, Mechanism: m}, &r)
	return ck.MechanismInfo{MinKeySize: r.MinKeySize, MaxKeySize: r.MaxKeySize, Flags: r.Flags}, err
}

// WaitForSlotEvent is C_WaitForSlotEvent (CKF_DONT_BLOCK only).
func (cl *Client) WaitForSlotEvent(flags uint64) (ck.SlotID, error) {
	var r wire.WaitForSlotEventResponse
	err := cl.do(&wire.WaitForSlotEventRequest{Flags: flags}, &r)
	return r.Slot, err
}

// InitToken is C_InitToken; label is the 32-byte blank-padded label.
func (cl *Client) InitToken(slot ck.SlotID, soPIN, label []byte) error {
	return cl.do(&wire.InitTokenRequest{Slot: slot, SOPIN: soPIN, Label: label}, nil)
}

// InitPIN is C_InitPIN.
func (cl *Client) InitPIN(s ck.SessionHandle, pin []byte) error {
	return cl.do(&wire.InitPINRequest{Session: s, PIN: pin}, nil)
}

// SetPIN is C_SetPIN.
func (cl *Client) SetPIN(s ck.SessionHandle, oldPIN, newPIN []byte) error {
	return cl.do(&wire.SetPINRequest{Session: s, OldPIN: oldPIN, NewPIN: newPIN}, nil)
}

// OpenSession is C_OpenSession.
func (cl *Client) OpenSession(slot ck.SlotID, flags uint64) (ck.SessionHandle, error) {
	var r wire.OpenSessionResponse
	err := cl.do(&wire.OpenSessionRequest{Slot: slot, Flags: flags}, &r)
	return r.Session, err
}

// CloseSession is C_CloseSession.
func (cl *Client) CloseSession(s ck.SessionHandle) error {
	return cl.do(&wire.CloseSessionRequest{Session: s}, nil)
}

// CloseAllSessions is C_CloseAllSessions.
func (cl *Client) CloseAllSessions(slot ck.SlotID) error {
	return cl.do(&wire.CloseAllSessionsRequest{Slot: slot}, nil)
}

// GetSessionInfo is C_GetSessionInfo.
func (cl *Client) GetSessionInfo(s ck.SessionHandle) (ck.SessionInfo, error) {
	var r wire.GetSessionInfoResponse
	err := cl.do(&wire.GetSessionInfoRequest{Session: s}, &r)
	return ck.SessionInfo{SlotID: r.Slot, State: r.State, Flags: r.Flags, DeviceError: r.DeviceError}, err
}

// Login is C_Login; a nil pin asks for the protected authentication path.
func (cl *Client) Login(s ck.SessionHandle, u ck.UserType, pin []byte) error {
	return cl.do(&wire.LoginRequest{Session: s, User: u, PIN: pin}, nil)
}

// LoginUser is C_LoginUser.
func (cl *Client) LoginUser(s ck.SessionHandle, u ck.UserType, pin, username []byte) error {
	return cl.do(&wire.LoginUserRequest{Session: s, User: u, PIN: pin, Username: username}, nil)
}

// Logout is C_Logout.
func (cl *Client) Logout(s ck.SessionHandle) error {
	return cl.do(&wire.LogoutRequest{Session: s}, nil)
}

// SessionCancel is C_SessionCancel.
func (cl *Client) SessionCancel(s ck.SessionHandle, flags uint64) error {
	return cl.do(&wire.SessionCancelRequest{Session: s, Flags: flags}, nil)
}

// CreateObject is C_CreateObject.
func (cl *Client) CreateObject(s ck.SessionHandle, t []ck.Attribute) (ck.ObjectHandle, error) {
	var r wire.CreateObjectResponse
	err := cl.do(&wire.CreateObjectRequest{Session: s, Template: t}, &r)
	return r.Object, err
}

// CopyObject is C_CopyObject.
func (cl *Client) CopyObject(s ck.SessionHandle, o ck.ObjectHandle, t []ck.Attribute) (ck.ObjectHandle, error) {
	var r wire.CopyObjectResponse
	err := cl.do(&wire.CopyObjectRequest{Session: s, Object: o, Template: t}, &r)
	return r.Object, err
}

// DestroyObject is C_DestroyObject.
func (cl *Client) DestroyObject(s ck.SessionHandle, o ck.ObjectHandle) error {
	return cl.do(&wire.DestroyObjectRequest{Session: s, Object: o}, nil)
}

// GetObjectSize is C_GetObjectSize.
func (cl *Client) GetObjectSize(s ck.SessionHandle, o ck.ObjectHandle) (uint64, error) {
	var r wire.GetObjectSizeResponse
	err := cl.do(&wire.GetObjectSizeRequest{Session: s, Object: o}, &r)
	return r.Size, err
}

// GetAttributeValue is C_GetAttributeValue.
func (cl *Client) GetAttributeValue(s ck.SessionHandle, o ck.ObjectHandle, q []ck.Attribute) ([]ck.Attribute, error) {
	var r wire.GetAttributeValueResponse
	err := cl.do(&wire.GetAttributeValueRequest{Session: s, Object: o, Template: q}, &r)
	return r.Template, err
}

// SetAttributeValue is C_SetAttributeValue.
func (cl *Client) SetAttributeValue(s ck.SessionHandle, o ck.ObjectHandle, t []ck.Attribute) error {
	return cl.do(&wire.SetAttributeValueRequest{Session: s, Object: o, Template: t}, nil)
}

// FindObjectsInit is C_FindObjectsInit.
func (cl *Client) FindObjectsInit(s ck.SessionHandle, t []ck.Attribute) error {
	return cl.do(&wire.FindObjectsInitRequest{Session: s, Template: t}, nil)
}

// FindObjects is C_FindObjects.
func (cl *Client) FindObjects(s ck.SessionHandle, max uint64) ([]ck.ObjectHandle, error) {
	var r wire.FindObjectsResponse
	err := cl.do(&wire.FindObjectsRequest{Session: s, Max: max}, &r)
	return r.Objects, err
}

// FindObjectsFinal is C_FindObjectsFinal.
func (cl *Client) FindObjectsFinal(s ck.SessionHandle) error {
	return cl.do(&wire.FindObjectsFinalRequest{Session: s}, nil)
}

// OperationInit is C_EncryptInit, C_SignInit and the other *Init functions.
func (cl *Client) OperationInit(s ck.SessionHandle, op ck.Operation, m *ck.Mechanism, key ck.ObjectHandle) error {
	return cl.do(&wire.OperationInitRequest{Session: s, Op: op, Mechanism: m, Key: key}, nil)
}

// OperationSingle is C_Encrypt, C_Sign, C_Digest and the other single-part calls.
func (cl *Client) OperationSingle(s ck.SessionHandle, op ck.Operation, in []byte, o ck.Out) ([]byte, uint64, error) {
	var r wire.OperationSingleResponse
	err := cl.do(&wire.OperationSingleRequest{Session: s, Op: op, In: in, Out: o}, &r)
	return nilIfEmpty(r.Out), r.Len, err
}

// OperationUpdate is C_EncryptUpdate, C_SignUpdate and the other update calls.
func (cl *Client) OperationUpdate(s ck.SessionHandle, op ck.Operation, in []byte, o ck.Out) ([]byte, uint64, error) {
	var r wire.OperationUpdateResponse
	err := cl.do(&wire.OperationUpdateRequest{Session: s, Op: op, In: in, Out: o}, &r)
	return nilIfEmpty(r.Out), r.Len, err
}

// OperationFinal is C_EncryptFinal, C_SignFinal and the other final calls.
func (cl *Client) OperationFinal(s ck.SessionHandle, op ck.Operation, o ck.Out) ([]byte, uint64, error) {
	var r wire.OperationFinalResponse
	err := cl.do(&wire.OperationFinalRequest{Session: s, Op: op, Out: o}, &r)
	return nilIfEmpty(r.Out), r.Len, err
}

// DigestKey is C_DigestKey.
func (cl *Client) DigestKey(s ck.SessionHandle, key ck.ObjectHandle) error {
	return cl.do(&wire.DigestKeyRequest{Session: s, Key: key}, nil)
}

// Verify is C_Verify.
func (cl *Client) Verify(s ck.SessionHandle, data, sig []byte) error {
	return cl.do(&wire.VerifyRequest{Session: s, Data: data, Signature: sig}, nil)
}

// VerifyFinal is C_VerifyFinal.
func (cl *Client) VerifyFinal(s ck.SessionHandle, sig []byte) error {
	return cl.do(&wire.VerifyFinalRequest{Session: s, Signature: sig}, nil)
}

// GenerateKey is C_GenerateKey.
func (cl *Client) GenerateKey(s ck.SessionHandle, m *ck.Mechanism, t []ck.Attribute) (ck.ObjectHandle, error) {
	var r wire.GenerateKeyResponse
	err := cl.do(&wire.GenerateKeyRequest{Session: s, Mechanism: m, Template: t}, &r)
	return r.Key, err
}

// GenerateKeyPair is C_GenerateKeyPair.
func (cl *Client) GenerateKeyPair(s ck.SessionHandle, m *ck.Mechanism, pub, priv []ck.Attribute) (ck.ObjectHandle, ck.ObjectHandle, error) {
	var r wire.GenerateKeyPairResponse
	err := cl.do(&wire.GenerateKeyPairRequest{Session: s, Mechanism: m, PublicTemplate: pub, PrivateTemplate: priv}, &r)
	return r.PublicKey, r.PrivateKey, err
}

// WrapKey is C_WrapKey.
func (cl *Client) WrapKey(s ck.SessionHandle, m *ck.Mechanism, wrapping, key ck.ObjectHandle, o ck.Out) ([]byte, uint64, error) {
	var r wire.WrapKeyResponse
	err := cl.do(&wire.WrapKeyRequest{Session: s, Mechanism: m, WrappingKey: wrapping, Key: key, Out: o}, &r)
	return nilIfEmpty(r.Out), r.Len, err
}

// UnwrapKey is C_UnwrapKey.
func (cl *Client) UnwrapKey(s ck.SessionHandle, m *ck.Mechanism, unwrapping ck.ObjectHandle, wrapped []byte, t []ck.Attribute) (ck.ObjectHandle, error) {
	var r wire.UnwrapKeyResponse
	err := cl.do(&wire.UnwrapKeyRequest{Session: s, Mechanism: m, UnwrappingKey: unwrapping, Wrapped: wrapped, Template: t}, &r)
	return r.Key, err
}

// DeriveKey is C_DeriveKey.
func (cl *Client) DeriveKey(s ck.SessionHandle, m *ck.Mechanism, base ck.ObjectHandle, t []ck.Attribute) (ck.ObjectHandle, error) {
	var r wire.DeriveKeyResponse
	err := cl.do(&wire.DeriveKeyRequest{Session: s, Mechanism: m, BaseKey: base, Template: t}, &r)
	return r.Key, err
}

// SeedRandom is C_SeedRandom.
func (cl *Client) SeedRandom(s ck.SessionHandle, seed []byte) error {
	return cl.do(&wire.SeedRandomRequest{Session: s, Seed: seed}, nil)
}

// GenerateRandom is C_GenerateRandom.
func (cl *Client) GenerateRandom(s ck.SessionHandle, n uint64) ([]byte, error) {
	var r wire.GenerateRandomResponse
	err := cl.do(&wire.GenerateRandomRequest{Session: s, Len: n}, &r)
	return r.Random, err
}

// EncapsulateKey is C_EncapsulateKey (PKCS#11 3.2).
func (cl *Client) EncapsulateKey(s ck.SessionHandle, m *ck.Mechanism, pub ck.ObjectHandle, t []ck.Attribute, o ck.Out) ([]byte, uint64, ck.ObjectHandle, error) {
	var r wire.EncapsulateKeyResponse
	err := cl.do(&wire.EncapsulateKeyRequest{Session: s, Mechanism: m, PublicKey: pub, Template: t, Out: o}, &r)
	return nilIfEmpty(r.Ciphertext), r.Len, r.Key, err
}

// DecapsulateKey is C_DecapsulateKey (PKCS#11 3.2).
func (cl *Client) DecapsulateKey(s ck.SessionHandle, m *ck.Mechanism, priv ck.ObjectHandle, t []ck.Attribute, ct []byte) (ck.ObjectHandle, error) {
	var r wire.DecapsulateKeyResponse
	err := cl.do(&wire.DecapsulateKeyRequest{Session: s, Mechanism: m, PrivateKey: priv, Template: t, Ciphertext: ct}, &r)
	return r.Key, err
}

// VerifySignatureInit is C_VerifySignatureInit (PKCS#11 3.2).
func (cl *Client) VerifySignatureInit(s ck.SessionHandle, m *ck.Mechanism, key ck.ObjectHandle, sig []byte) error {
	return cl.do(&wire.VerifySignatureInitRequest{Session: s, Mechanism: m, Key: key, Signature: sig}, nil)
}

// VerifySignature is C_VerifySignature (PKCS#11 3.2).
func (cl *Client) VerifySignature(s ck.SessionHandle, data []byte) error {
	return cl.do(&wire.VerifySignatureRequest{Session: s, Data: data}, nil)
}

// GetSessionValidationFlags is C_GetSessionValidationFlags (PKCS#11 3.2).
func (cl *Client) GetSessionValidationFlags(s ck.SessionHandle, typ uint64) (uint64, error) {
	var r wire.GetSessionValidationFlagsResponse
	err := cl.do(&wire.GetSessionValidationFlagsRequest{Session: s, Type: typ}, &r)
	return r.Flags, err
}

// DeleteToken removes a token and its objects (a Keyward extension; the SO PIN is required).
func (cl *Client) DeleteToken(slot ck.SlotID, soPIN []byte) error {
	return cl.do(&wire.DeleteTokenRequest{Slot: slot, SOPIN: soPIN}, nil)
}

// InitTokenPolicy initialises a token as InitToken does and chooses its wrapping policy (a Keyward
// extension; a daemon without it answers CKR_FUNCTION_NOT_SUPPORTED).
func (cl *Client) InitTokenPolicy(slot ck.SlotID, soPIN, label []byte, policy ck.WrapPolicy) error {
	return cl.do(&wire.InitTokenPolicyRequest{Slot: slot, SOPIN: soPIN, Label: label, Policy: policy}, nil)
}
