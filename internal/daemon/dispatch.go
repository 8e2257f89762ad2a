package daemon

import (
	"fmt"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// handler decodes one call's request items from d, calls the provider, and encodes the call's full response
// signature into e (zero values where the call failed). It returns the provider's error.
type handler func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error

// served is one call's handler.
type served struct {
	call wire.Call
	h    handler
}

// The adapters serveName (serve_gen.go, generated from calls.def) make a call's handler from a function of
// its typed request (wire.NameRequest) that returns its typed response: a handler cannot be filed under
// another call, nor answer with another call's response.

func handlerMap(list ...served) map[wire.Call]handler {
	m := map[wire.Call]handler{}
	for _, s := range list {
		if m[s.call] != nil {
			panic(fmt.Sprintf("daemon: two handlers of %v", s.call))
		}
		m[s.call] = s.h
	}
	return m
}

// handlers maps every call of calls.def but Hello, Features and RingSetup (which the connection serves: server.go)
// to its handler.
var handlers = handlerMap(
	serveGetInfo(func(p ck.Provider, _ wire.GetInfoRequest) (wire.GetInfoResponse, error) {
		info, err := p.GetInfo()
		return wire.GetInfoResponse{ManufacturerID: info.ManufacturerID, Flags: info.Flags,
			LibraryDescription: info.LibraryDescription, LibraryVersion: info.LibraryVersion}, err
	}),
	serveGetSlotList(func(p ck.Provider, r wire.GetSlotListRequest) (wire.GetSlotListResponse, error) {
		slots, err := p.GetSlotList(r.TokenPresent)
		return wire.GetSlotListResponse{Slots: slots}, err
	}),
	serveGetSlotInfo(func(p ck.Provider, r wire.GetSlotInfoRequest) (wire.GetSlotInfoResponse, error) {
		info, err := p.GetSlotInfo(r.Slot)
		return wire.GetSlotInfoResponse{SlotDescription: info.SlotDescription, ManufacturerID: info.ManufacturerID,
			Flags: info.Flags, HardwareVersion: info.HardwareVersion, FirmwareVersion: info.FirmwareVersion}, err
	}),
	serveGetTokenInfo(func(p ck.Provider, r wire.GetTokenInfoRequest) (wire.GetTokenInfoResponse, error) {
		ti, err := p.GetTokenInfo(r.Slot)
		return wire.GetTokenInfoResponse{Label: ti.Label, ManufacturerID: ti.ManufacturerID, Model: ti.Model,
			SerialNumber: ti.SerialNumber, Flags: ti.Flags, MaxSessionCount: ti.MaxSessionCount,
			SessionCount: ti.SessionCount, MaxRwSessionCount: ti.MaxRwSessionCount, RwSessionCount: ti.RwSessionCount,
			MaxPinLen: ti.MaxPinLen, MinPinLen: ti.MinPinLen, TotalPublicMemory: ti.TotalPublicMemory,
			FreePublicMemory: ti.FreePublicMemory, TotalPrivateMemory: ti.TotalPrivateMemory,
			FreePrivateMemory: ti.FreePrivateMemory, HardwareVersion: ti.HardwareVersion,
			FirmwareVersion: ti.FirmwareVersion, UTCTime: ti.UTCTime}, err
	}),
	serveGetMechanismList(func(p ck.Provider, r wire.GetMechanismListRequest) (wire.GetMechanismListResponse, error) {
		ms, err := p.GetMechanismList(r.Slot)
		return wire.GetMechanismListResponse{Mechanisms: ms}, err
	}),
	serveGetMechanismInfo(func(p ck.Provider, r wire.GetMechanismInfoRequest) (wire.GetMechanismInfoResponse, error) {
		mi, err := p.GetMechanismInfo(r.Slot, r.Mechanism)
		return wire.GetMechanismInfoResponse{MinKeySize: mi.MinKeySize, MaxKeySize: mi.MaxKeySize, Flags: mi.Flags}, err
	}),
	serveWaitForSlotEvent(func(p ck.Provider, r wire.WaitForSlotEventRequest) (wire.WaitForSlotEventResponse, error) {
		slot, err := p.WaitForSlotEvent(r.Flags)
		return wire.WaitForSlotEventResponse{Slot: slot}, err
	}),
	serveInitToken(func(p ck.Provider, r wire.InitTokenRequest) (wire.InitTokenResponse, error) {
		defer clear(r.SOPIN)
		return wire.InitTokenResponse{}, p.InitToken(r.Slot, r.SOPIN, r.Label)
	}),
	serveInitPIN(func(p ck.Provider, r wire.InitPINRequest) (wire.InitPINResponse, error) {
		defer clear(r.PIN)
		return wire.InitPINResponse{}, p.InitPIN(r.Session, r.PIN)
	}),
	serveSetPIN(func(p ck.Provider, r wire.SetPINRequest) (wire.SetPINResponse, error) {
		defer clear(r.OldPIN)
		defer clear(r.NewPIN)
		return wire.SetPINResponse{}, p.SetPIN(r.Session, r.OldPIN, r.NewPIN)
	}),
	serveOpenSession(func(p ck.Provider, r wire.OpenSessionRequest) (wire.OpenSessionResponse, error) {
		h, err := p.OpenSession(r.Slot, r.Flags)
		return wire.OpenSessionResponse{Session: h}, err
	}),
	serveCloseSession(func(p ck.Provider, r wire.CloseSessionRequest) (wire.CloseSessionResponse, error) {
		return wire.CloseSessionResponse{}, p.CloseSession(r.Session)
	}),
	serveCloseAllSessions(func(p ck.Provider, r wire.CloseAllSessionsRequest) (wire.CloseAllSessionsResponse, error) {
		return wire.CloseAllSessionsResponse{}, p.CloseAllSessions(r.Slot)
	}),
	serveGetSessionInfo(func(p ck.Provider, r wire.GetSessionInfoRequest) (wire.GetSessionInfoResponse, error) {
		si, err := p.GetSessionInfo(r.Session)
		return wire.GetSessionInfoResponse{Slot: si.SlotID, State: si.State, Flags: si.Flags, DeviceError: si.DeviceError}, err
	}),
	serveLogin(func(p ck.Provider, r wire.LoginRequest) (wire.LoginResponse, error) {
		defer clear(r.PIN)
		return wire.LoginResponse{}, p.Login(r.Session, r.User, r.PIN)
	}),
	serveLoginUser(func(p ck.Provider, r wire.LoginUserRequest) (wire.LoginUserResponse, error) {
		defer clear(r.PIN)
		return wire.LoginUserResponse{}, p.LoginUser(r.Session, r.User, r.PIN, r.Username)
	}),
	serveLogout(func(p ck.Provider, r wire.LogoutRequest) (wire.LogoutResponse, error) {
		return wire.LogoutResponse{}, p.Logout(r.Session)
	}),
	serveSessionCancel(func(p ck.Provider, r wire.SessionCancelRequest) (wire.SessionCancelResponse, error) {
		return wire.SessionCancelResponse{}, p.SessionCancel(r.Session, r.Flags)
	}),
	serveCreateObject(func(p ck.Provider, r wire.CreateObjectRequest) (wire.CreateObjectResponse, error) {
		h, err := p.CreateObject(r.Session, r.Template)
		return wire.CreateObjectResponse{Object: h}, err
	}),
	serveCopyObject(func(p ck.Provider, r wire.CopyObjectRequest) (wire.CopyObjectResponse, error) {
		h, err := p.CopyObject(r.Session, r.Object, r.Template)
		return wire.CopyObjectResponse{Object: h}, err
	}),
	serveDestroyObject(func(p ck.Provider, r wire.DestroyObjectRequest) (wire.DestroyObjectResponse, error) {
		return wire.DestroyObjectResponse{}, p.DestroyObject(r.Session, r.Object)
	}),
	serveGetObjectSize(func(p ck.Provider, r wire.GetObjectSizeRequest) (wire.GetObjectSizeResponse, error) {
		n, err := p.GetObjectSize(r.Session, r.Object)
		return wire.GetObjectSizeResponse{Size: n}, err
	}),
	serveGetAttributeValue(func(p ck.Provider, r wire.GetAttributeValueRequest) (wire.GetAttributeValueResponse, error) {
		res, err := p.GetAttributeValue(r.Session, r.Object, r.Template)
		return wire.GetAttributeValueResponse{Template: res}, err
	}),
	serveSetAttributeValue(func(p ck.Provider, r wire.SetAttributeValueRequest) (wire.SetAttributeValueResponse, error) {
		return wire.SetAttributeValueResponse{}, p.SetAttributeValue(r.Session, r.Object, r.Template)
	}),
	serveFindObjectsInit(func(p ck.Provider, r wire.FindObjectsInitRequest) (wire.FindObjectsInitResponse, error) {
		return wire.FindObjectsInitResponse{}, p.FindObjectsInit(r.Session, r.Template)
	}),
	serveFindObjects(func(p ck.Provider, r wire.FindObjectsRequest) (wire.FindObjectsResponse, error) {
		hs, err := p.FindObjects(r.Session, r.Max)
		return wire.FindObjectsResponse{Objects: hs}, err
	}),
	serveFindObjectsFinal(func(p ck.Provider, r wire.FindObjectsFinalRequest) (wire.FindObjectsFinalResponse, error) {
		return wire.FindObjectsFinalResponse{}, p.FindObjectsFinal(r.Session)
	}),
	serveOperationInit(func(p ck.Provider, r wire.OperationInitRequest) (wire.OperationInitResponse, error) {
		return wire.OperationInitResponse{}, p.OperationInit(r.Session, r.Op, r.Mechanism, r.Key)
	}),
	serveOperationSingle(func(p ck.Provider, r wire.OperationSingleRequest) (wire.OperationSingleResponse, error) {
		out, n, err := p.OperationSingle(r.Session, r.Op, r.In, r.Out)
		return wire.OperationSingleResponse{Len: n, Out: out}, err
	}),
	serveOperationUpdate(func(p ck.Provider, r wire.OperationUpdateRequest) (wire.OperationUpdateResponse, error) {
		out, n, err := p.OperationUpdate(r.Session, r.Op, r.In, r.Out)
		return wire.OperationUpdateResponse{Len: n, Out: out}, err
	}),
	serveOperationFinal(func(p ck.Provider, r wire.OperationFinalRequest) (wire.OperationFinalResponse, error) {
		out, n, err := p.OperationFinal(r.Session, r.Op, r.Out)
		return wire.OperationFinalResponse{Len: n, Out: out}, err
	}),
	// Fused calls (docs/protocol.md, "Fused calls"): what two calls would do, in one round trip. A failed Init
	// answers with its own error and the data call is not made.
	serveOperationInitData(func(p ck.Provider, r wire.OperationInitDataRequest) (resp wire.OperationInitDataResponse, err error) {
		err = initThen(p, r.Session, r.Op, r.Mechanism, r.Key, r.Stage, func() (err error) {
			if r.Stage == wire.StageSingle {
				resp.Out, resp.Len, err = p.OperationSingle(r.Session, r.Op, r.In, r.Out)
			} else {
				resp.Out, resp.Len, err = p.OperationUpdate(r.Session, r.Op, r.In, r.Out)
			}
			return err
		})
		return resp, err
	}),
	serveVerifyInitVerify(func(p ck.Provider, r wire.VerifyInitVerifyRequest) (wire.VerifyInitVerifyResponse, error) {
		if r.Op != ck.OpVerify {
			return wire.VerifyInitVerifyResponse{}, ck.CKR_ARGUMENTS_BAD
		}
		return wire.VerifyInitVerifyResponse{}, initThen(p, r.Session, r.Op, r.Mechanism, r.Key, wire.StageSingle,
			func() error { return p.Verify(r.Session, r.Data, r.Signature) })
	}),
	// One-way (wire.OneWay): the client delivered an operation's kept output itself; the operation ends here
	// as a cancel ends it. Nobody reads the result.
	serveOperationEnd(func(p ck.Provider, r wire.OperationEndRequest) (wire.OperationEndResponse, error) {
		return wire.OperationEndResponse{}, p.OperationInit(r.Session, r.Op, nil, 0)
	}),
	serveFindObjectsFirst(func(p ck.Provider, r wire.FindObjectsFirstRequest) (wire.FindObjectsFirstResponse, error) {
		hs, more, err := findFirst(p, r.Session, r.Template, r.Max)
		return wire.FindObjectsFirstResponse{Objects: hs, More: more}, err
	}),
	serveDigestKey(func(p ck.Provider, r wire.DigestKeyRequest) (wire.DigestKeyResponse, error) {
		return wire.DigestKeyResponse{}, p.DigestKey(r.Session, r.Key)
	}),
	serveVerify(func(p ck.Provider, r wire.VerifyRequest) (wire.VerifyResponse, error) {
		return wire.VerifyResponse{}, p.Verify(r.Session, r.Data, r.Signature)
	}),
	serveVerifyFinal(func(p ck.Provider, r wire.VerifyFinalRequest) (wire.VerifyFinalResponse, error) {
		return wire.VerifyFinalResponse{}, p.VerifyFinal(r.Session, r.Signature)
	}),
	serveGenerateKey(func(p ck.Provider, r wire.GenerateKeyRequest) (wire.GenerateKeyResponse, error) {
		h, err := p.GenerateKey(r.Session, r.Mechanism, r.Template)
		return wire.GenerateKeyResponse{Key: h}, err
	}),
	serveGenerateKeyPair(func(p ck.Provider, r wire.GenerateKeyPairRequest) (wire.GenerateKeyPairResponse, error) {
		hpub, hpriv, err := p.GenerateKeyPair(r.Session, r.Mechanism, r.PublicTemplate, r.PrivateTemplate)
		return wire.GenerateKeyPairResponse{PublicKey: hpub, PrivateKey: hpriv}, err
	}),
	serveWrapKey(func(p ck.Provider, r wire.WrapKeyRequest) (wire.WrapKeyResponse, error) {
		out, n, err := p.WrapKey(r.Session, r.Mechanism, r.WrappingKey, r.Key, r.Out)
		return wire.WrapKeyResponse{Len: n, Out: out}, err
	}),
	serveUnwrapKey(func(p ck.Provider, r wire.UnwrapKeyRequest) (wire.UnwrapKeyResponse, error) {
		h, err := p.UnwrapKey(r.Session, r.Mechanism, r.UnwrappingKey, r.Wrapped, r.Template)
		return wire.UnwrapKeyResponse{Key: h}, err
	}),
	serveDeriveKey(func(p ck.Provider, r wire.DeriveKeyRequest) (wire.DeriveKeyResponse, error) {
		h, err := p.DeriveKey(r.Session, r.Mechanism, r.BaseKey, r.Template)
		return wire.DeriveKeyResponse{Key: h}, err
	}),
	serveSeedRandom(func(p ck.Provider, r wire.SeedRandomRequest) (wire.SeedRandomResponse, error) {
		return wire.SeedRandomResponse{}, p.SeedRandom(r.Session, r.Seed)
	}),
	serveGenerateRandom(func(p ck.Provider, r wire.GenerateRandomRequest) (wire.GenerateRandomResponse, error) {
		out, err := p.GenerateRandom(r.Session, r.Len)
		return wire.GenerateRandomResponse{Random: out}, err
	}),
	serveEncapsulateKey(func(p ck.Provider, r wire.EncapsulateKeyRequest) (wire.EncapsulateKeyResponse, error) {
		ct, n, h, err := p.EncapsulateKey(r.Session, r.Mechanism, r.PublicKey, r.Template, r.Out)
		return wire.EncapsulateKeyResponse{Len: n, Ciphertext: ct, Key: h}, err
	}),
	serveDecapsulateKey(func(p ck.Provider, r wire.DecapsulateKeyRequest) (wire.DecapsulateKeyResponse, error) {
		h, err := p.DecapsulateKey(r.Session, r.Mechanism, r.PrivateKey, r.Template, r.Ciphertext)
		return wire.DecapsulateKeyResponse{Key: h}, err
	}),
	serveVerifySignatureInit(func(p ck.Provider, r wire.VerifySignatureInitRequest) (wire.VerifySignatureInitResponse, error) {
		return wire.VerifySignatureInitResponse{}, p.VerifySignatureInit(r.Session, r.Mechanism, r.Key, r.Signature)
	}),
	serveVerifySignature(func(p ck.Provider, r wire.VerifySignatureRequest) (wire.VerifySignatureResponse, error) {
		return wire.VerifySignatureResponse{}, p.VerifySignature(r.Session, r.Data)
	}),
	serveDeleteToken(func(p ck.Provider, r wire.DeleteTokenRequest) (wire.DeleteTokenResponse, error) {
		defer clear(r.SOPIN)
		return wire.DeleteTokenResponse{}, p.DeleteToken(r.Slot, r.SOPIN)
	}),
	serveInitTokenPolicy(func(p ck.Provider, r wire.InitTokenPolicyRequest) (wire.InitTokenPolicyResponse, error) {
		defer clear(r.SOPIN)
		return wire.InitTokenPolicyResponse{}, p.InitTokenPolicy(r.Slot, r.SOPIN, r.Label, r.Policy)
	}),
	serveGetSessionValidationFlags(func(p ck.Provider, r wire.GetSessionValidationFlagsRequest) (wire.GetSessionValidationFlagsResponse, error) {
		f, err := p.GetSessionValidationFlags(r.Session, r.Type)
		return wire.GetSessionValidationFlagsResponse{Flags: f}, err
	}),
)

// initThen starts an operation and runs its first data call. A stage other than single or update is refused
// before anything starts.
func initThen(p ck.Provider, s ck.SessionHandle, op ck.Operation, m *ck.Mechanism, key ck.ObjectHandle, stage uint64, data func() error) error {
	if stage != wire.StageSingle && stage != wire.StageUpdate {
		return ck.CKR_ARGUMENTS_BAD
	}
	if m == nil {
		return ck.CKR_MECHANISM_INVALID // a NULL mechanism cancels an operation: never fused
	}
	if err := p.OperationInit(s, op, m, key); err != nil {
		return err
	}
	return data()
}

// findFirst starts a search and returns its first batch of at most max handles, ending the search when the
// batch holds all there is (more is then 0): the client answers C_FindObjects and C_FindObjectsFinal itself.
func findFirst(p ck.Provider, s ck.SessionHandle, tmpl []ck.Attribute, max uint64) (hs []ck.ObjectHandle, more uint64, err error) {
	if max == 0 {
		return nil, 0, ck.CKR_ARGUMENTS_BAD
	}
	if err := p.FindObjectsInit(s, tmpl); err != nil {
		return nil, 0, err
	}
	hs, err = p.FindObjects(s, max)
	if err != nil {
		p.FindObjectsFinal(s)
		return nil, 0, err
	}
	if uint64(len(hs)) < max {
		return hs, 0, p.FindObjectsFinal(s)
	}
	return hs, 1, nil
}
