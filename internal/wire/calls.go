// Package wire is the Go side of the Keyward wire protocol (docs/protocol.md): framing, the typed item codec, and
// the table of calls, which it reads from calls.def, the file the C client also includes.
package wire

import (
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
)

// Version is the protocol version this package speaks.
const Version = 1

// CookieSize is the size of an application cookie returned by Hello.
const CookieSize = 32

//go:embed calls.def
var callsDef string

// Call identifies a call of the protocol.
type Call uint32

// CallInfo describes a call: its name and its request and response signatures.
type CallInfo struct {
	ID       Call
	Name     string
	Request  string
	Response string
}

var callTable, callByName = parseCalls(callsDef)

var callLine = regexp.MustCompile(`(?m)^KW_CALL\((\d+),\s*(\w+),\s*"([a-zA-Z]*)",\s*"([a-zA-Z]*)"\)\s*$`)

func parseCalls(def string) (map[Call]CallInfo, map[string]Call) {
	callTable := map[Call]CallInfo{}
	callByName := map[string]Call{}
	for _, m := range callLine.FindAllStringSubmatch(def, -1) {
		id, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil {
			panic(fmt.Sprintf("wire: calls.def: bad id %q", m[1]))
		}
		c := CallInfo{ID: Call(id), Name: m[2], Request: m[3], Response: m[4]}
		for _, sig := range []string{c.Request, c.Response} {
			if err := checkSignature(sig); err != nil {
				panic(fmt.Sprintf("wire: calls.def: %s: %v", c.Name, err))
			}
		}
		if _, dup := callTable[c.ID]; dup {
			panic(fmt.Sprintf("wire: calls.def: duplicate id %d", id))
		}
		if _, dup := callByName[c.Name]; dup {
			panic(fmt.Sprintf("wire: calls.def: duplicate name %s", c.Name))
		}
		callTable[c.ID] = c
		callByName[c.Name] = c.ID
	}
	return callTable, callByName
}

func checkSignature(sig string) error {
	for _, r := range sig {
		switch r {
		case 'u', 'b', 'p', 'o', 'U', 'A', 'M':
		default:
			return fmt.Errorf("unknown signature letter %q", r)
		}
	}
	return nil
}

// Lookup returns the description of a call.
func Lookup(c Call) (CallInfo, bool) {
	ci, ok := callTable[c]
	return ci, ok
}

// CallByName returns the id of the call with the given name (as in calls.def).
func CallByName(name string) (Call, bool) {
	c, ok := callByName[name]
	return c, ok
}

// Calls returns every call of the table, in id order.
func Calls() []CallInfo {
	var out []CallInfo
	for id := Call(0); len(out) < len(callTable); id++ {
		if c, ok := callTable[id]; ok {
			out = append(out, c)
		}
	}
	return out
}

// String returns the call's name.
func (c Call) String() string {
	if ci, ok := callTable[c]; ok {
		return ci.Name
	}
	return fmt.Sprintf("Call(%d)", uint32(c))
}

// The calls, by name, for code that builds or dispatches them.
var (
	CallHello             = mustCall("Hello")
	CallGetInfo           = mustCall("GetInfo")
	CallGetSlotList       = mustCall("GetSlotList")
	CallGetSlotInfo       = mustCall("GetSlotInfo")
	CallGetTokenInfo      = mustCall("GetTokenInfo")
	CallGetMechanismList  = mustCall("GetMechanismList")
	CallGetMechanismInfo  = mustCall("GetMechanismInfo")
	CallWaitForSlotEvent  = mustCall("WaitForSlotEvent")
	CallInitToken         = mustCall("InitToken")
	CallInitPIN           = mustCall("InitPIN")
	CallSetPIN            = mustCall("SetPIN")
	CallOpenSession       = mustCall("OpenSession")
	CallCloseSession      = mustCall("CloseSession")
	CallCloseAllSessions  = mustCall("CloseAllSessions")
	CallGetSessionInfo    = mustCall("GetSessionInfo")
	CallLogin             = mustCall("Login")
	CallLoginUser         = mustCall("LoginUser")
	CallLogout            = mustCall("Logout")
	CallSessionCancel     = mustCall("SessionCancel")
	CallCreateObject      = mustCall("CreateObject")
	CallCopyObject        = mustCall("CopyObject")
	CallDestroyObject     = mustCall("DestroyObject")
	CallGetObjectSize     = mustCall("GetObjectSize")
	CallGetAttributeValue = mustCall("GetAttributeValue")
	CallSetAttributeValue = mustCall("SetAttributeValue")
	CallFindObjectsInit   = mustCall("FindObjectsInit")
	CallFindObjects       = mustCall("FindObjects")
	CallFindObjectsFinal  = mustCall("FindObjectsFinal")
	CallOperationInit     = mustCall("OperationInit")
	CallOperationSingle   = mustCall("OperationSingle")
	CallOperationUpdate   = mustCall("OperationUpdate")
	CallOperationFinal    = mustCall("OperationFinal")
	CallDigestKey         = mustCall("DigestKey")
	CallVerify            = mustCall("Verify")
	CallVerifyFinal       = mustCall("VerifyFinal")
	CallGenerateKey       = mustCall("GenerateKey")
	CallGenerateKeyPair   = mustCall("GenerateKeyPair")
	CallWrapKey           = mustCall("WrapKey")
	CallUnwrapKey         = mustCall("UnwrapKey")
	CallDeriveKey         = mustCall("DeriveKey")
	CallSeedRandom        = mustCall("SeedRandom")
	CallGenerateRandom    = mustCall("GenerateRandom")
	// PKCS#11 3.2
	CallEncapsulateKey            = mustCall("EncapsulateKey")
	CallDecapsulateKey            = mustCall("DecapsulateKey")
	CallVerifySignatureInit       = mustCall("VerifySignatureInit")
	CallVerifySignature           = mustCall("VerifySignature")
	CallGetSessionValidationFlags = mustCall("GetSessionValidationFlags")
	// Keyward extensions
	CallDeleteToken       = mustCall("DeleteToken")
	CallOperationInitData = mustCall("OperationInitData")
	CallVerifyInitVerify  = mustCall("VerifyInitVerify")
	CallFindObjectsFirst  = mustCall("FindObjectsFirst")
	CallFeatures          = mustCall("Features")
	CallInitTokenPolicy   = mustCall("InitTokenPolicy")
	CallRingSetup         = mustCall("RingSetup")
)

// Feature bits of the Features call.
const (
	// FeatureFused: OperationInitData, VerifyInitVerify and FindObjectsFirst.
	FeatureFused = 1 << 0
	// FeatureRing: RingSetup, the shared-memory transport (docs/protocol.md, "The ring").
	FeatureRing = 1 << 1
)

func mustCall(name string) Call {
	c, ok := callByName[name]
	if !ok {
		panic("wire: calls.def has no call " + name)
	}
	return c
}
