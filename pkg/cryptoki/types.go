// Package cryptoki holds the PKCS#11 (Cryptoki) vocabulary in Go form: the spec's constants (generated from
// include/keyward/pkcs11.h), the value types of its structures, and the Provider interface that both the
// engine and the socket client implement.
//
// Names of constants follow the specification exactly (CKA_LABEL, CKM_AES_GCM, CKR_PIN_INCORRECT) so that code
// reads like the specification and can be searched against it.
package cryptoki

import "fmt"

// Integer types of the specification. All are CK_ULONG (64 bits on the LP64 Linux ABI Keyward targets).
type (
	// RV is a CK_RV return value. Non-zero values implement error.
	RV uint64
	// AttributeType is a CK_ATTRIBUTE_TYPE.
	AttributeType uint64
	// ObjectClass is a CK_OBJECT_CLASS.
	ObjectClass uint64
	// KeyType is a CK_KEY_TYPE.
	KeyType uint64
	// MechanismType is a CK_MECHANISM_TYPE.
	MechanismType uint64
	// CertificateType is a CK_CERTIFICATE_TYPE.
	CertificateType uint64
	// UserType is a CK_USER_TYPE.
	UserType uint64
	// State is a CK_STATE (session state).
	State uint64
	// SlotID is a CK_SLOT_ID.
	SlotID uint64
	// SessionHandle is a CK_SESSION_HANDLE.
	SessionHandle uint64
	// ObjectHandle is a CK_OBJECT_HANDLE.
	ObjectHandle uint64
)

// Error makes a non-OK RV usable as a Go error. Providers never return CKR_OK as an error.
func (r RV) Error() string { return r.String() }

// ToRV maps an error returned by a Provider to its CK_RV: nil is CKR_OK, an RV (possibly wrapped) is itself,
// and anything else is CKR_GENERAL_ERROR.
func ToRV(err error) RV {
	if err == nil {
		return CKR_OK
	}
	var rv RV
	if asRV(err, &rv) {
		return rv
	}
	return CKR_GENERAL_ERROR
}

func asRV(err error, target *RV) bool {
	for err != nil {
		if rv, ok := err.(RV); ok {
			*target = rv
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// Version is a CK_VERSION.
type Version struct{ Major, Minor byte }

// String formats a version as "major.minor".
func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Info is CK_INFO without cryptokiVersion, which the client library fills for the interface in use.
type Info struct {
	ManufacturerID     string // at most 32 bytes, blank padded on the C side
	Flags              uint64
	LibraryDescription string // at most 32 bytes
	LibraryVersion     Version
}

// SlotInfo is CK_SLOT_INFO.
type SlotInfo struct {
	SlotDescription string // at most 64 bytes
	ManufacturerID  string // at most 32 bytes
	Flags           uint64
	HardwareVersion Version
	FirmwareVersion Version
}

// TokenInfo is CK_TOKEN_INFO.
type TokenInfo struct {
	Label              string // at most 32 bytes
	ManufacturerID     string // at most 32 bytes
	Model              string // at most 16 bytes
	SerialNumber       string // at most 16 bytes
	Flags              uint64
	MaxSessionCount    uint64
	SessionCount       uint64
	MaxRwSessionCount  uint64
	RwSessionCount     uint64
	MaxPinLen          uint64
	MinPinLen          uint64
	TotalPublicMemory  uint64
	FreePublicMemory   uint64
	TotalPrivateMemory uint64
	FreePrivateMemory  uint64
	HardwareVersion    Version
	FirmwareVersion    Version
	UTCTime            string // 16 characters, or blank when the token has no clock
}

// SessionInfo is CK_SESSION_INFO.
type SessionInfo struct {
	SlotID      SlotID
	State       State
	Flags       uint64
	DeviceError uint64
}

// MechanismInfo is CK_MECHANISM_INFO.
type MechanismInfo struct {
	MinKeySize uint64
	MaxKeySize uint64
	Flags      uint64
}

// Mechanism is a CK_MECHANISM. Parameter holds the parameter in Keyward's canonical byte layout (see
// docs/protocol.md); nil means a NULL pParameter.
type Mechanism struct {
	Type      MechanismType
	Parameter []byte
}

// AttrKind says what an Attribute carries. Its values (AttrLength, AttrValue, AttrArray, AttrBuffer) are in
// consts_gen.go, generated from internal/wire/consts.def.
type AttrKind byte

// MaxPeekAttribute bounds the value an AttrPeek query brings back.
const MaxPeekAttribute = 8 << 10

// Attribute is a CK_ATTRIBUTE in Go form. In templates passed to the token (create, find, set, generate),
// attributes have Kind AttrValue (or AttrArray). In C_GetAttributeValue queries they have AttrLength (NULL
// pValue) or AttrBuffer (capacity Len) or AttrArray of such; results come back as AttrValue, AttrLength or
// AttrArray. Values of CK_ULONG attributes are 8 bytes in host byte order, as the C ABI lays them out.
type Attribute struct {
	Type  AttributeType
	Kind  AttrKind
	Value []byte
	Len   uint64
	Array []Attribute
}

// Out describes a caller's output buffer under the spec's length convention: Present is false for a NULL
// pointer (a length query), and Cap is the buffer's size. Peek asks that a single-part call's length query or
// short buffer answer also carry the output (at most MaxPeek bytes), which the operation still keeps for the
// call that delivers it: the client keeps the copy and answers that call itself (docs/protocol.md, "Kept
// output").
type Out struct {
	Present bool
	Cap     uint64
	Peek    bool
}

// MaxPeek bounds the output a Peek answer carries: a larger output comes with its length only.
const MaxPeek = 64 << 10

// Operation names a kind of cryptographic operation. The engine keeps at most one active operation of each
// kind per session. Its values (OpEncrypt ...) are in consts_gen.go, generated from internal/wire/consts.def.
type Operation uint64

// Provider is every Cryptoki function in Go form for one application (one C_Initialize ... C_Finalize).
// The engine implements it for an application inside the daemon; pkg/client implements it over the
// daemon's socket. Errors are RV values; a returned result may accompany an RV error where the
// specification says so (C_GetAttributeValue's combined codes, CKR_BUFFER_TOO_SMALL with a length).
type Provider interface {
	// Close ends the application: its sessions, session objects and logins end (C_Finalize).
	Close() error

	GetInfo() (Info, error)
	GetSlotList(tokenPresent bool) ([]SlotID, error)
	GetSlotInfo(slot SlotID) (SlotInfo, error)
	GetTokenInfo(slot SlotID) (TokenInfo, error)
	GetMechanismList(slot SlotID) ([]MechanismType, error)
	GetMechanismInfo(slot SlotID, mech MechanismType) (MechanismInfo, error)
	// WaitForSlotEvent polls for a slot event; Keyward supports only the CKF_DONT_BLOCK form.
	WaitForSlotEvent(flags uint64) (SlotID, error)
	InitToken(slot SlotID, soPIN []byte, label []byte) error
	InitPIN(s SessionHandle, pin []byte) error
	SetPIN(s SessionHandle, oldPIN, newPIN []byte) error

	OpenSession(slot SlotID, flags uint64) (SessionHandle, error)
	CloseSession(s SessionHandle) error
	CloseAllSessions(slot SlotID) error
	GetSessionInfo(s SessionHandle) (SessionInfo, error)
	// Login logs the application in; a nil pin means the protected authentication path.
	Login(s SessionHandle, user UserType, pin []byte) error
	LoginUser(s SessionHandle, user UserType, pin []byte, username []byte) error
	Logout(s SessionHandle) error
	SessionCancel(s SessionHandle, flags uint64) error

	CreateObject(s SessionHandle, template []Attribute) (ObjectHandle, error)
	CopyObject(s SessionHandle, o ObjectHandle, template []Attribute) (ObjectHandle, error)
	DestroyObject(s SessionHandle, o ObjectHandle) error
	GetObjectSize(s SessionHandle, o ObjectHandle) (uint64, error)
	// GetAttributeValue answers a query template; the results are valid also when the error is
	// CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID or CKR_BUFFER_TOO_SMALL.
	GetAttributeValue(s SessionHandle, o ObjectHandle, query []Attribute) ([]Attribute, error)
	SetAttributeValue(s SessionHandle, o ObjectHandle, template []Attribute) error
	FindObjectsInit(s SessionHandle, template []Attribute) error
	FindObjects(s SessionHandle, max uint64) ([]ObjectHandle, error)
	FindObjectsFinal(s SessionHandle) error

	// OperationInit starts (or, with a nil mechanism, cancels) an operation of kind op: C_EncryptInit,
	// C_SignInit, C_DigestInit (key is 0) and the others.
	OperationInit(s SessionHandle, op Operation, m *Mechanism, key ObjectHandle) error
	// OperationSingle is the single-part call of op (C_Encrypt, C_Sign, C_Digest, C_SignRecover, ...).
	// It returns the output (when out has room), the output length, and the error.
	OperationSingle(s SessionHandle, op Operation, in []byte, out Out) ([]byte, uint64, error)
	// OperationUpdate is the multi-part update of op (C_EncryptUpdate, C_SignUpdate, the dual functions).
	OperationUpdate(s SessionHandle, op Operation, in []byte, out Out) ([]byte, uint64, error)
	// OperationFinal finishes op (C_EncryptFinal, C_SignFinal, C_DigestFinal).
	OperationFinal(s SessionHandle, op Operation, out Out) ([]byte, uint64, error)
	// DigestKey is C_DigestKey.
	DigestKey(s SessionHandle, key ObjectHandle) error
	// Verify is C_Verify.
	Verify(s SessionHandle, data, signature []byte) error
	// VerifyFinal is C_VerifyFinal.
	VerifyFinal(s SessionHandle, signature []byte) error

	GenerateKey(s SessionHandle, m *Mechanism, template []Attribute) (ObjectHandle, error)
	GenerateKeyPair(s SessionHandle, m *Mechanism, public, private []Attribute) (ObjectHandle, ObjectHandle, error)
	WrapKey(s SessionHandle, m *Mechanism, wrapping, key ObjectHandle, out Out) ([]byte, uint64, error)
	UnwrapKey(s SessionHandle, m *Mechanism, unwrapping ObjectHandle, wrapped []byte, template []Attribute) (ObjectHandle, error)
	DeriveKey(s SessionHandle, m *Mechanism, base ObjectHandle, template []Attribute) (ObjectHandle, error)
	SeedRandom(s SessionHandle, seed []byte) error
	GenerateRandom(s SessionHandle, n uint64) ([]byte, error)

	// EncapsulateKey is C_EncapsulateKey (PKCS#11 3.2): it returns the ciphertext (when out has room), its
	// length, and the handle of the new shared-secret key.
	EncapsulateKey(s SessionHandle, m *Mechanism, public ObjectHandle, template []Attribute, out Out) ([]byte, uint64, ObjectHandle, error)
	// DecapsulateKey is C_DecapsulateKey (PKCS#11 3.2).
	DecapsulateKey(s SessionHandle, m *Mechanism, private ObjectHandle, template []Attribute, ciphertext []byte) (ObjectHandle, error)
	// VerifySignatureInit is C_VerifySignatureInit (PKCS#11 3.2): the signature comes first, the data after
	// (C_VerifySignature, or OperationUpdate and OperationFinal with OpVerifySignature).
	VerifySignatureInit(s SessionHandle, m *Mechanism, key ObjectHandle, signature []byte) error
	// VerifySignature is C_VerifySignature (PKCS#11 3.2).
	VerifySignature(s SessionHandle, data []byte) error
	// GetSessionValidationFlags is C_GetSessionValidationFlags (PKCS#11 3.2).
	GetSessionValidationFlags(s SessionHandle, typ uint64) (uint64, error)

	// DeleteToken is a Keyward extension (PKCS#11 has no call for it): it removes an initialised token and
	// every object on it, given the SO PIN, when no session is open with it. Its slot goes away.
	DeleteToken(slot SlotID, soPIN []byte) error

	// InitTokenPolicy is a Keyward extension: C_InitToken that also chooses the token's wrapping policy,
	// which is stored with the token until it is initialised again. C_InitToken (InitToken) chooses
	// WrapPolicyTrustedOnly.
	InitTokenPolicy(slot SlotID, soPIN, label []byte, policy WrapPolicy) error
}

// WrapPolicy is a token's wrapping policy (a Keyward extension; README.md, "Wrapping policy").
type WrapPolicy uint64

const (
	// WrapPolicyTrustedOnly (the default): a sensitive key leaves the token only wrapped under a key the SO
	// marked CKA_TRUSTED, and every sensitive key reports CKA_WRAP_WITH_TRUSTED TRUE.
	WrapPolicyTrustedOnly WrapPolicy = 0
	// WrapPolicySpec is the specification's model: CKA_WRAP_WITH_TRUSTED decides whether a trusted key is
	// needed; otherwise a wrap-only key generated in the token and never revealed may wrap a sensitive key.
	WrapPolicySpec WrapPolicy = 1
)

// ParseWrapPolicy reads a wrap policy's name: "trusted-only" or "spec".
func ParseWrapPolicy(s string) (WrapPolicy, bool) {
	switch s {
	case "trusted-only", "":
		return WrapPolicyTrustedOnly, true
	case "spec":
		return WrapPolicySpec, true
	}
	return 0, false
}

// String returns the policy's name.
func (p WrapPolicy) String() string {
	if p == WrapPolicySpec {
		return "spec"
	}
	return "trusted-only"
}
