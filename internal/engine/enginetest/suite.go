// Package enginetest is the Provider test suite: the PKCS#11 behaviour of tokens, sessions, logins and
// objects, written once and run against the engine directly and against the engine behind the daemon's
// socket (pkg/client), so that both paths are held to the same answers.
package enginetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Factory starts a fresh, empty key store for one test and returns a function that opens a new application
// on it (one C_Initialize). The factory cleans up with t.Cleanup.
type Factory func(t *testing.T) (open func() ck.Provider)

// Test PINs and labels.
var (
	SOPIN   = []byte("so-pin-0001")
	UserPIN = []byte("user-pin-0001")
)

// Label returns a 32-byte blank-padded token label.
func Label(s string) []byte {
	b := bytes.Repeat([]byte{' '}, 32)
	copy(b, s)
	return b
}

// Run runs every test of the suite.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, func() ck.Provider)
	}{
		{"Slots", testSlots},
		{"InitToken", testInitToken},
		{"Sessions", testSessions},
		{"Login", testLogin},
		{"PINLockout", testPINLockout},
		{"SetPIN", testSetPIN},
		{"SetPINLocked", testSetPINLocked},
		{"PINOutOfRange", testPINOutOfRange},
		{"KeyTemplateRules", testKeyTemplateRules},
		{"TokenRules", testTokenRules},
		{"ObjectRules", testObjectRules},
		{"DeleteToken", testDeleteToken},
		{"CreateObject", testCreateObject},
		{"AttributeRules", testAttributeRules},
		{"GetAttributeValue", testGetAttributeValue},
		{"Sensitive", testSensitive},
		{"CopyObject", testCopyObject},
		{"Visibility", testVisibility},
		{"Find", testFind},
		{"AttributeArray", testAttributeArray},
		{"Random", testRandom},
		{"Operations", testOperations},
		{"Digest", testDigest},
		{"LengthConvention", testLengthConvention},
		{"OperationModes", testOperationModes},
		{"RawRSAUnwrap", testRawRSAUnwrap},
		{"MechanismOutputs", testMechanismOutputs},
		{"SensitiveDefault", testSensitiveDefault},
		{"KeyGeneration", testKeyGeneration},
		{"HKDFKeyGen", testHKDFKeyGen},
		{"KeyUse", testKeyUse},
		{"Tookan/trusted-only", testTookan(ck.WrapPolicyTrustedOnly)},
		{"Tookan/spec", testTookan(ck.WrapPolicySpec)},
		{"CrossMode/trusted-only", testCrossMode(ck.WrapPolicyTrustedOnly)},
		{"CrossMode/spec", testCrossMode(ck.WrapPolicySpec)},
		{"WrapWithTrusted/trusted-only", testWrapWithTrusted(ck.WrapPolicyTrustedOnly)},
		{"WrapWithTrusted/spec", testWrapWithTrusted(ck.WrapPolicySpec)},
		{"UsageChangeEndsOperations", testUsageChangeEndsOperations},
		{"OneWayAttributes", testOneWayAttributes},
		{"AlwaysAuthenticate", testAlwaysAuthenticate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, f(t))
		})
	}
}

func want(t *testing.T, got error, rv ck.RV, what string) {
	t.Helper()
	if ck.ToRV(got) != rv {
		t.Fatalf("%s: got %v, want %v", what, ck.ToRV(got), rv)
	}
}

func ok(t *testing.T, err error, what string) {
	t.Helper()
	want(t, err, ck.CKR_OK, what)
}

// token initialises slot 0 with SOPIN and (if userPIN) UserPIN, and returns its slot.
func token(t *testing.T, p ck.Provider, label string, userPIN bool) ck.SlotID {
	t.Helper()
	slots, err := p.GetSlotList(true)
	ok(t, err, "GetSlotList")
	slot := slots[len(slots)-1] // the free slot is the highest
	ok(t, p.InitToken(slot, SOPIN, Label(label)), "InitToken")
	if userPIN {
		s, err := p.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
		ok(t, err, "OpenSession")
		ok(t, p.Login(s, ck.CKU_SO, SOPIN), "Login SO")
		ok(t, p.InitPIN(s, UserPIN), "InitPIN")
		ok(t, p.CloseSession(s), "CloseSession")
	}
	return slot
}

func rwSession(t *testing.T, p ck.Provider, slot ck.SlotID) ck.SessionHandle {
	t.Helper()
	s, err := p.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	ok(t, err, "OpenSession RW")
	return s
}

func roSession(t *testing.T, p ck.Provider, slot ck.SlotID) ck.SessionHandle {
	t.Helper()
	s, err := p.OpenSession(slot, ck.CKF_SERIAL_SESSION)
	ok(t, err, "OpenSession RO")
	return s
}

func userSession(t *testing.T, p ck.Provider, slot ck.SlotID) ck.SessionHandle {
	t.Helper()
	s := rwSession(t, p, slot)
	ok(t, p.Login(s, ck.CKU_USER, UserPIN), "Login user")
	return s
}

func attr(typ ck.AttributeType, v any) ck.Attribute { return ck.NewAttribute(typ, v) }

func dataObject(label string, value string, extra ...ck.Attribute) []ck.Attribute {
	return append([]ck.Attribute{
		attr(ck.CKA_CLASS, ck.CKO_DATA),
		attr(ck.CKA_LABEL, label),
		attr(ck.CKA_VALUE, value),
	}, extra...)
}

func secretKey(label string, value []byte, extra ...ck.Attribute) []ck.Attribute {
	return append([]ck.Attribute{
		attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY),
		attr(ck.CKA_KEY_TYPE, ck.CKK_GENERIC_SECRET),
		attr(ck.CKA_LABEL, label),
		attr(ck.CKA_VALUE, value),
	}, extra...)
}

// getValue reads one attribute's value with the two-call length convention.
func getValue(t *testing.T, p ck.Provider, s ck.SessionHandle, o ck.ObjectHandle, typ ck.AttributeType) []byte {
	t.Helper()
	res, err := p.GetAttributeValue(s, o, ck.Query(0, typ))
	ok(t, err, "GetAttributeValue length of "+typ.String())
	if len(res) != 1 || res[0].Kind != ck.AttrLength {
		t.Fatalf("length query of %v: %+v", typ, res)
	}
	n := res[0].Len
	res, err = p.GetAttributeValue(s, o, ck.Query(n, typ))
	ok(t, err, "GetAttributeValue of "+typ.String())
	if len(res) != 1 || res[0].Kind != ck.AttrValue || uint64(len(res[0].Value)) != n {
		t.Fatalf("value of %v: %+v (length %d)", typ, res, n)
	}
	return res[0].Value
}

func getBool(t *testing.T, p ck.Provider, s ck.SessionHandle, o ck.ObjectHandle, typ ck.AttributeType) bool {
	t.Helper()
	v := getValue(t, p, s, o, typ)
	if len(v) != 1 {
		t.Fatalf("%v is %d bytes, want a CK_BBOOL", typ, len(v))
	}
	return v[0] != 0
}

func find(t *testing.T, p ck.Provider, s ck.SessionHandle, template ...ck.Attribute) []ck.ObjectHandle {
	t.Helper()
	ok(t, p.FindObjectsInit(s, template), "FindObjectsInit")
	var all []ck.ObjectHandle
	for {
		hs, err := p.FindObjects(s, 2)
		ok(t, err, "FindObjects")
		if len(hs) > 2 {
			t.Fatalf("FindObjects returned %d handles, asked for at most 2", len(hs))
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	ok(t, p.FindObjectsFinal(s), "FindObjectsFinal")
	return all
}

func tokenInfo(t *testing.T, p ck.Provider, slot ck.SlotID) ck.TokenInfo {
	t.Helper()
	ti, err := p.GetTokenInfo(slot)
	ok(t, err, "GetTokenInfo")
	return ti
}

func isRV(err error, rv ck.RV) bool {
	var got ck.RV
	return errors.As(err, &got) && got == rv
}

// mustParams encodes a structured mechanism parameter for a test.
func mustParams(t *testing.T, m ck.MechanismType, fields map[string]any) []byte {
	t.Helper()
	b, err := wire.EncodeParams(m, fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
