package interop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"testing"
)

func init() {
	packageOf["python3"] = "python3"
}

// pykcs11Script is what a PyKCS11 user writes: load the module, list the slots and tokens, log in to the
// token, find each private key by label, sign with the combined hash-and-sign mechanism and verify with the
// public key object of the same CKA_ID. It prints JSON for the test to check again in Go.
const pykcs11Script = `import json, sys
import PyKCS11
from PyKCS11.LowLevel import CKA_CLASS, CKA_ID, CKA_LABEL, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY

module, token, pin = sys.argv[1:4]
keys = [k.split(":", 1) for k in sys.argv[4:]]  # "label:mechanism"
lib = PyKCS11.PyKCS11Lib()
lib.load(module)
info = lib.getInfo()
out = {"library": info.manufacturerID.strip() + " / " + info.libraryDescription.strip(), "tokens": [], "sigs": {}}
slot = None
for s in lib.getSlotList(tokenPresent=True):
    ti = lib.getTokenInfo(s)
    if "CKF_TOKEN_INITIALIZED" not in ti.flags2text():
        continue
    out["tokens"].append(ti.label.strip())
    if ti.label.strip() == token:
        slot = s
if slot is None:
    sys.exit("token %r not found among %r" % (token, out["tokens"]))
session = lib.openSession(slot)
session.login(pin)
data = b"signed by PyKCS11 with a key it never sees\n"
for label, mech in keys:
    priv = session.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_LABEL, label)])
    if len(priv) != 1:
        sys.exit("%d private keys labelled %r" % (len(priv), label))
    kid = session.getAttributeValue(priv[0], [CKA_ID])[0]
    pub = session.findObjects([(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_ID, kid)])
    if len(pub) != 1:
        sys.exit("%d public keys with the CKA_ID of %r" % (len(pub), label))
    m = PyKCS11.Mechanism(getattr(PyKCS11.LowLevel, mech), None)
    sig = bytes(session.sign(priv[0], data, m))
    if not session.verify(pub[0], data, sig, m):
        sys.exit("PyKCS11 could not verify its own %s signature with %r" % (mech, label))
    out["sigs"][label] = sig.hex()
session.logout()
session.closeSession()
out["data"] = data.hex()
print(json.dumps(out))
`

// Scenario 13: Python PyKCS11 (Debian python3-pykcs11, for Debian's /usr/bin/python3). A script loads
// libkeyward.so, lists the slots and tokens, logs in, finds an RSA and an EC key by label, signs with
// CKM_SHA256_RSA_PKCS and CKM_ECDSA_SHA256 and verifies with PyKCS11; the test verifies the signatures again
// in Go against the token's public keys.
func TestPyKCS11(t *testing.T) {
	const sc = "13 PyKCS11"
	daemon(t)
	// Debian's module is built for Debian's python3, which need not be the first python3 on PATH.
	python := systemFile(t, "python3", "python3", "/usr/bin/python3")
	version := func() string {
		return progVersion(python, "--version") + " + PyKCS11 (python3-pykcs11 " + debVersion("python3-pykcs11") + ")"
	}
	tk := newToken(t, "pykcs11")
	tk.genKey(t, "rsa:2048", "py-rsa", "d1")
	tk.genKey(t, "EC:prime256v1", "py-ec", "d2")
	rsaKey := rsaPub(t, tk.public(t, "py-rsa"))
	ecKey := ecPub(t, tk.public(t, "py-ec"))
	dir := tmpDir(t)
	script := writeFile(t, dir, "sign.py", []byte(pykcs11Script), 0o644)
	mod, spyEnv := moduleFor(t, "pykcs11")

	step(t, sc, "list, login, sign (SHA256_RSA_PKCS, ECDSA_SHA256), verify", "python3-pykcs11", version, func(t *testing.T) {
		trace, traced := roundTripTrace(t, dir)
		r := mustRun(t, runOpts{env: append(spyEnv, trace)}, python, script, mod, tk.label, userPIN,
			"py-rsa:CKM_SHA256_RSA_PKCS", "py-ec:CKM_ECDSA_SHA256", "py-rsa:CKM_SHA256_RSA_PKCS", "py-ec:CKM_ECDSA_SHA256")
		// session.sign is C_SignInit, C_Sign(NULL) for the length, C_Sign: one round trip for both C_Sign.
		wantDataTrips(t, "PyKCS11 session.sign, 4 signatures", traced(), 4)
		var out struct {
			Library string
			Tokens  []string
			Sigs    map[string]string
			Data    string
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("the script's output is not its JSON (%v):\n%s", err, r)
		}
		mustContain(t, r, out.Library, "Keyward")
		listed := false
		for _, l := range out.Tokens {
			listed = listed || l == tk.label
		}
		if !listed {
			t.Fatalf("PyKCS11 did not list token %q: %q", tk.label, out.Tokens)
		}
		data, _ := hex.DecodeString(out.Data)
		digest := sha256.Sum256(data)
		sig, _ := hex.DecodeString(out.Sigs["py-rsa"])
		if err := rsa.VerifyPKCS1v15(rsaKey, crypto.SHA256, digest[:], sig); err != nil {
			t.Errorf("the CKM_SHA256_RSA_PKCS signature PyKCS11 made does not verify in Go: %v", err)
		}
		// CKM_ECDSA_SHA256 signatures are r||s, each as long as the order of the curve.
		sig, _ = hex.DecodeString(out.Sigs["py-ec"])
		if len(sig) != 64 {
			t.Fatalf("the CKM_ECDSA_SHA256 signature is %d bytes, want 64 (r||s on P-256): %x", len(sig), sig)
		}
		rr, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(ecKey, digest[:], rr, ss) {
			t.Errorf("the CKM_ECDSA_SHA256 signature PyKCS11 made does not verify in Go")
		}
	})
}
