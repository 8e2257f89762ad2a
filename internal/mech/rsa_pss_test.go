package mech

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Tests of CKM_RSA_PKCS_PSS and CKM_<hash>_RSA_PKCS_PSS (rsa_pss.go): parameters, every salt length and
// MGF1 hash, against crypto/rsa and openssl, and the own EMSA-PSS encoding.

func TestRSAPSSParams(t *testing.T) {
	kp := rsaTestPair(t)
	for name, c := range map[string]struct {
		m ck.MechanismType
		p Param
	}{
		"none":                   {ck.CKM_RSA_PKCS_PSS, Param{}},
		"short":                  {ck.CKM_RSA_PKCS_PSS, rsaRawParam(uint64(ck.CKM_SHA256), ck.CKG_MGF1_SHA256)},
		"long":                   {ck.CKM_RSA_PKCS_PSS, rsaRawParam(uint64(ck.CKM_SHA256), ck.CKG_MGF1_SHA256, 32, 0)},
		"hashAlg not a hash":     {ck.CKM_RSA_PKCS_PSS, rsaPSSParam(ck.CKM_RSA_PKCS, ck.CKG_MGF1_SHA256, 32)},
		"unknown MGF":            {ck.CKM_RSA_PKCS_PSS, rsaPSSParam(ck.CKM_SHA256, 99, 32)},
		"sLen too large":         {ck.CKM_RSA_PKCS_PSS, rsaPSSParam(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 256-32-1)},
		"sLen huge":              {ck.CKM_RSA_PKCS_PSS, rsaRawParam(uint64(ck.CKM_SHA256), ck.CKG_MGF1_SHA256, 1<<63)},
		"hash of another digest": {ck.CKM_SHA384_RSA_PKCS_PSS, rsaPSSParam(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 32)},
		"SHA-512/256":            {ck.CKM_RSA_PKCS_PSS, rsaPSSParam(ck.CKM_SHA512_256, ck.CKG_MGF1_SHA256, 32)},
	} {
		_, err := rsaSpec(t, c.m).Sign(c.p, kp.priv)
		rsaWantRV(t, name+" (sign)", err, ck.CKR_MECHANISM_PARAM_INVALID)
		_, err = rsaSpec(t, c.m).Verify(c.p, kp.pub)
		rsaWantRV(t, name+" (verify)", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	// The largest salt is accepted; the input of CKM_RSA_PKCS_PSS is exactly a digest.
	p := rsaPSSParam(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 256-32-2)
	op, err := rsaSpec(t, ck.CKM_RSA_PKCS_PSS).Sign(p, kp.priv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rsaSingleRun(t, op, make([]byte, 31))
	rsaWantRV(t, "31-byte digest", err, ck.CKR_DATA_LEN_RANGE)
	v, _ := rsaSpec(t, ck.CKM_RSA_PKCS_PSS).Verify(p, kp.pub)
	rsaWantRV(t, "33-byte digest", rsaVerifyRun(v, make([]byte, 33), make([]byte, 256)), ck.CKR_DATA_LEN_RANGE)
	_, err = rsaSpec(t, ck.CKM_SHA256_RSA_PKCS).Sign(Param{Present: true, Raw: []byte{1}}, kp.priv)
	rsaWantRV(t, "hashed PKCS #1 with a parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
}

// ---- PSS: every salt length, MGF1 over any hash ----

// rsaOpenSSLHash is openssl's name of each hash.
var rsaOpenSSLHash = map[crypto.Hash]string{
	crypto.SHA1: "sha1", crypto.SHA224: "sha224", crypto.SHA256: "sha256", crypto.SHA384: "sha384",
	crypto.SHA512: "sha512", crypto.SHA3_224: "sha3-224", crypto.SHA3_256: "sha3-256", crypto.SHA3_384: "sha3-384",
	crypto.SHA3_512: "sha3-512",
}

// rsaOpenSSL runs the openssl CLI and returns its combined output and whether it exited 0; the test skips
// without it.
func rsaOpenSSL(t testing.TB, args ...string) (string, bool) {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl CLI not found")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	return string(out), err == nil
}

// rsaPEMFiles writes a key pair as PEM files (PKCS #8 and SubjectPublicKeyInfo) for openssl.
func rsaPEMFiles(t testing.TB, k *rsa.PrivateKey) (privPEM, pubPEM string) {
	t.Helper()
	dir := t.TempDir()
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	privPEM, pubPEM = filepath.Join(dir, "priv.pem"), filepath.Join(dir, "pub.pem")
	for name, b := range map[string]*pem.Block{privPEM: {Type: "PRIVATE KEY", Bytes: priv}, pubPEM: {Type: "PUBLIC KEY", Bytes: pub}} {
		if err := os.WriteFile(name, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return privPEM, pubPEM
}

// rsaTempFile writes b to a fresh file.
func rsaTempFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rsaOpenSSLPSSOpts are pkeyutl's options for PSS over a digest of h, MGF1 over mgf, an sLen-byte salt.
func rsaOpenSSLPSSOpts(h, mgf crypto.Hash, sLen int) []string {
	return []string{"-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "digest:" + rsaOpenSSLHash[h],
		"-pkeyopt", "rsa_mgf1_md:" + rsaOpenSSLHash[mgf], "-pkeyopt", fmt.Sprintf("rsa_pss_saltlen:%d", sLen)}
}

// rsaOpenSSLVerifyPSS reports whether openssl pkeyutl accepts sig over digest with exactly these parameters.
func rsaOpenSSLVerifyPSS(t testing.TB, pubPEM string, h, mgf crypto.Hash, sLen int, digest, sig []byte) bool {
	t.Helper()
	args := append([]string{"pkeyutl", "-verify", "-pubin", "-inkey", pubPEM}, rsaOpenSSLPSSOpts(h, mgf, sLen)...)
	out, ok := rsaOpenSSL(t, append(args, "-in", rsaTempFile(t, "digest", digest), "-sigfile", rsaTempFile(t, "sig", sig))...)
	return ok && strings.Contains(out, "Signature Verified Successfully")
}

// rsaOpenSSLSignPSS signs digest with openssl pkeyutl.
func rsaOpenSSLSignPSS(t testing.TB, privPEM string, h, mgf crypto.Hash, sLen int, digest []byte) []byte {
	t.Helper()
	sigPath := filepath.Join(t.TempDir(), "sig")
	args := append([]string{"pkeyutl", "-sign", "-inkey", privPEM}, rsaOpenSSLPSSOpts(h, mgf, sLen)...)
	if out, ok := rsaOpenSSL(t, append(args, "-in", rsaTempFile(t, "digest", digest), "-out", sigPath)...); !ok {
		t.Fatalf("openssl pkeyutl -sign: %s", out)
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// rsaPSSMechOf returns the hash-and-sign PSS mechanism of h.
func rsaPSSMechOf(h crypto.Hash) ck.MechanismType {
	for _, m := range rsaHashMechs {
		if m.h == h {
			return m.pss
		}
	}
	panic("no PSS mechanism")
}

// rsaPSSInput is what mechanism m signs for msg: its digest for CKM_RSA_PKCS_PSS, msg itself otherwise.
func rsaPSSInput(m ck.MechanismType, h crypto.Hash, msg []byte) []byte {
	if m == ck.CKM_RSA_PKCS_PSS {
		return rsaDigest(h, msg)
	}
	return msg
}

// rsaPSSSignMech signs msg with m (in two parts for a hash-and-sign mechanism).
func rsaPSSSignMech(t testing.TB, m ck.MechanismType, p Param, priv *Key, h crypto.Hash, msg []byte) []byte {
	t.Helper()
	op, err := rsaSpec(t, m).Sign(p, priv)
	if err != nil {
		t.Fatalf("%v sign init: %v", m, err)
	}
	var sig []byte
	if m == ck.CKM_RSA_PKCS_PSS {
		sig, err = rsaSingleRun(t, op, rsaPSSInput(m, h, msg))
	} else {
		rsaSplitUpdate(t, op, msg)
		sig, err = op.Final()
	}
	if err != nil {
		t.Fatalf("%v sign: %v", m, err)
	}
	return sig
}

// rsaPSSVerifyMech verifies sig over msg with m.
func rsaPSSVerifyMech(t testing.TB, m ck.MechanismType, p Param, pub *Key, h crypto.Hash, msg, sig []byte) error {
	t.Helper()
	v, err := rsaSpec(t, m).Verify(p, pub)
	if err != nil {
		t.Fatalf("%v verify init: %v", m, err)
	}
	return rsaVerifyRun(v, rsaPSSInput(m, h, msg), sig)
}

// TestRSAPSSSaltAndMGF signs with salts of 0, 20, 32 and the largest length and MGF1 over SHA-1, SHA-256 and
// SHA-384, for SHA-256 and SHA-384 messages, through CKM_RSA_PKCS_PSS and the hash-and-sign mechanism; checks
// each signature with crypto/rsa where it can (MGF1 over the message hash, a salt) and with openssl otherwise;
// and checks that another salt length, another MGF1 hash, a flipped bit or another message are refused.
func TestRSAPSSSaltAndMGF(t *testing.T) {
	kp := rsaTestPair(t)
	pub := &kp.goKey.PublicKey
	_, pubPEM := rsaPEMFiles(t, kp.goKey)
	msg := []byte("PSS with any salt length and any MGF1 hash")
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		digest := rsaDigest(h, msg)
		maxSalt := 256 - h.Size() - 2
		for _, mgf := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384} {
			otherMGF := crypto.SHA1
			if mgf == crypto.SHA1 {
				otherMGF = crypto.SHA256
			}
			for _, sLen := range []int{0, 20, 32, maxSalt} {
				otherLen := sLen + 1
				if sLen == maxSalt {
					otherLen = sLen - 1
				}
				p := rsaPSSParam(rsaMechOfHash(h), rsaMGFOfHash(mgf), sLen)
				for _, m := range []ck.MechanismType{ck.CKM_RSA_PKCS_PSS, rsaPSSMechOf(h)} {
					name := fmt.Sprintf("%v %v MGF1-%v sLen %d", m, h, mgf, sLen)
					sig := rsaPSSSignMech(t, m, p, kp.priv, h, msg)
					if len(sig) != 256 {
						t.Fatalf("%s: %d-byte signature", name, len(sig))
					}
					if err := rsaPSSVerifyMech(t, m, p, kp.pub, h, msg, sig); err != nil {
						t.Errorf("%s: our own signature: %v", name, err)
					}
					switch {
					case mgf == h && sLen > 0:
						if err := rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: sLen}); err != nil {
							t.Errorf("%s: crypto/rsa: %v", name, err)
						}
					default:
						if !rsaOpenSSLVerifyPSS(t, pubPEM, h, mgf, sLen, digest, sig) {
							t.Errorf("%s: openssl refuses the signature", name)
						}
					}
					if sLen == 0 {
						// No salt: the signature is deterministic (and crypto/rsa's auto-detection finds it).
						if again := rsaPSSSignMech(t, m, p, kp.priv, h, msg); !bytes.Equal(again, sig) {
							t.Errorf("%s: two signatures differ", name)
						}
						if mgf == h {
							if err := rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
								t.Errorf("%s: crypto/rsa (auto salt): %v", name, err)
							}
						}
					}
					// What must be refused.
					wrongLen := rsaPSSParam(rsaMechOfHash(h), rsaMGFOfHash(mgf), otherLen)
					rsaWantRV(t, name+": sLen "+fmt.Sprint(otherLen), rsaPSSVerifyMech(t, m, wrongLen, kp.pub, h, msg, sig), ck.CKR_SIGNATURE_INVALID)
					if sLen != 0 {
						noSalt := rsaPSSParam(rsaMechOfHash(h), rsaMGFOfHash(mgf), 0)
						rsaWantRV(t, name+": sLen 0", rsaPSSVerifyMech(t, m, noSalt, kp.pub, h, msg, sig), ck.CKR_SIGNATURE_INVALID)
					}
					wrongMGF := rsaPSSParam(rsaMechOfHash(h), rsaMGFOfHash(otherMGF), sLen)
					rsaWantRV(t, name+": MGF1-"+otherMGF.String(), rsaPSSVerifyMech(t, m, wrongMGF, kp.pub, h, msg, sig), ck.CKR_SIGNATURE_INVALID)
					for _, bit := range []int{0, 7, 8*len(sig)/2 + 3, 8*len(sig) - 1} {
						bad := append([]byte{}, sig...)
						bad[bit/8] ^= 0x80 >> (bit % 8)
						rsaWantRV(t, fmt.Sprintf("%s: bit %d flipped", name, bit), rsaPSSVerifyMech(t, m, p, kp.pub, h, msg, bad), ck.CKR_SIGNATURE_INVALID)
					}
					rsaWantRV(t, name+": another message", rsaPSSVerifyMech(t, m, p, kp.pub, h, append([]byte{0}, msg...), sig), ck.CKR_SIGNATURE_INVALID)
					rsaWantRV(t, name+": short signature", rsaPSSVerifyMech(t, m, p, kp.pub, h, msg, sig[1:]), ck.CKR_SIGNATURE_LEN_RANGE)
				}
			}
		}
	}
	// The oracle itself is strict: openssl refuses a signature under another salt length or MGF1 hash.
	p := rsaPSSParam(ck.CKM_SHA256, ck.CKG_MGF1_SHA1, 0)
	sig := rsaPSSSignMech(t, ck.CKM_RSA_PKCS_PSS, p, kp.priv, crypto.SHA256, msg)
	if rsaOpenSSLVerifyPSS(t, pubPEM, crypto.SHA256, crypto.SHA1, 1, rsaDigest(crypto.SHA256, msg), sig) ||
		rsaOpenSSLVerifyPSS(t, pubPEM, crypto.SHA256, crypto.SHA256, 0, rsaDigest(crypto.SHA256, msg), sig) {
		t.Error("openssl accepts a PSS signature under other parameters: it checks nothing")
	}
}

// TestRSAPSSEveryHash signs with every hash-and-sign PSS mechanism, MGF1 over another hash (SHA-1, SHA-2 and
// SHA-3 both ways) and salts of 0 and hLen bytes, and has openssl check the signatures.
func TestRSAPSSEveryHash(t *testing.T) {
	kp := rsaTestPair(t)
	_, pubPEM := rsaPEMFiles(t, kp.goKey)
	msg := []byte("every hash, every MGF1")
	for i, m := range rsaHashMechs {
		mgf := rsaHashMechs[(i+4)%len(rsaHashMechs)].h
		for _, sLen := range []int{0, m.h.Size()} {
			name := fmt.Sprintf("%v MGF1-%v sLen %d", m.pss, mgf, sLen)
			p := rsaPSSParam(rsaMechOfHash(m.h), rsaMGFOfHash(mgf), sLen)
			sig := rsaPSSSignMech(t, m.pss, p, kp.priv, m.h, msg)
			if err := rsaPSSVerifyMech(t, m.pss, p, kp.pub, m.h, msg, sig); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if !rsaOpenSSLVerifyPSS(t, pubPEM, m.h, mgf, sLen, rsaDigest(m.h, msg), sig) {
				t.Errorf("%s: openssl refuses the signature", name)
			}
			wrongMGF := rsaPSSParam(rsaMechOfHash(m.h), rsaMGFOfHash(m.h), sLen)
			rsaWantRV(t, name+": MGF1 over the message hash", rsaPSSVerifyMech(t, m.pss, wrongMGF, kp.pub, m.h, msg, sig), ck.CKR_SIGNATURE_INVALID)
		}
	}
}

// TestRSAPSSOpenSSLSignatures verifies PSS signatures openssl made (an empty salt, MGF1 over SHA-1) and
// refuses them under other parameters.
func TestRSAPSSOpenSSLSignatures(t *testing.T) {
	kp := rsaTestPair(t)
	privPEM, _ := rsaPEMFiles(t, kp.goKey)
	msg := []byte("signed by openssl")
	for _, c := range []struct {
		h, mgf crypto.Hash
		sLen   int
	}{
		{crypto.SHA256, crypto.SHA1, 0},
		{crypto.SHA256, crypto.SHA256, 0},
		{crypto.SHA256, crypto.SHA1, 20},
		{crypto.SHA256, crypto.SHA1, 32},
		{crypto.SHA384, crypto.SHA1, 0},
		{crypto.SHA256, crypto.SHA384, 256 - 32 - 2},
		{crypto.SHA1, crypto.SHA256, 0},
		{crypto.SHA3_256, crypto.SHA1, 0},
	} {
		name := fmt.Sprintf("%v MGF1-%v sLen %d", c.h, c.mgf, c.sLen)
		sig := rsaOpenSSLSignPSS(t, privPEM, c.h, c.mgf, c.sLen, rsaDigest(c.h, msg))
		p := rsaPSSParam(rsaMechOfHash(c.h), rsaMGFOfHash(c.mgf), c.sLen)
		for _, m := range []ck.MechanismType{ck.CKM_RSA_PKCS_PSS, rsaPSSMechOf(c.h)} {
			if err := rsaPSSVerifyMech(t, m, p, kp.pub, c.h, msg, sig); err != nil {
				t.Errorf("%v %s: openssl's signature: %v", m, name, err)
			}
			otherLen := c.sLen + 1
			if c.sLen > 0 {
				otherLen = c.sLen - 1
			}
			otherMGF := crypto.SHA1
			if c.mgf == crypto.SHA1 {
				otherMGF = crypto.SHA256
			}
			for what, q := range map[string]Param{
				"another salt length": rsaPSSParam(rsaMechOfHash(c.h), rsaMGFOfHash(c.mgf), otherLen),
				"another MGF1 hash":   rsaPSSParam(rsaMechOfHash(c.h), rsaMGFOfHash(otherMGF), c.sLen),
			} {
				rsaWantRV(t, fmt.Sprintf("%v %s: %s", m, name, what), rsaPSSVerifyMech(t, m, q, kp.pub, c.h, msg, sig), ck.CKR_SIGNATURE_INVALID)
			}
			bad := append([]byte{}, sig...)
			bad[100] ^= 0x04
			rsaWantRV(t, fmt.Sprintf("%v %s: flipped bit", m, name), rsaPSSVerifyMech(t, m, p, kp.pub, c.h, msg, bad), ck.CKR_SIGNATURE_INVALID)
		}
	}
}

// rsaPSSKeys makes the mechanism keys of a crypto/rsa key.
func rsaPSSKeys(t testing.TB, k *rsa.PrivateKey) (priv, pub *Key) {
	t.Helper()
	e := big.NewInt(int64(k.E)).Bytes()
	priv, _ = rsaChecked(t, ck.CKO_PRIVATE_KEY, rsaPrivateAttrs(k, e))
	pub, _ = rsaChecked(t, ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_MODULUS: k.N.Bytes(), ck.CKA_PUBLIC_EXPONENT: e})
	return priv, pub
}

// TestRSAPSSOwnAgainstGo runs the self-written encoding (signOwn, verifyOwn) on parameters crypto/rsa does
// too, with every hash, on the 2048-bit key and on a 1025-bit one (whose encoded message is an octet shorter
// than the modulus): crypto/rsa verifies its signatures strictly, it verifies crypto/rsa's, and refuses them
// under another salt length.
func TestRSAPSSOwnAgainstGo(t *testing.T) {
	kp := rsaTestPair(t)
	odd, err := rsa.GenerateKey(rand.Reader, 1025)
	if err != nil {
		t.Fatal(err)
	}
	oddPriv, oddPub := rsaPSSKeys(t, odd)
	for _, c := range []struct {
		goKey     *rsa.PrivateKey
		priv, pub *Key
	}{{kp.goKey, kp.priv, kp.pub}, {odd, oddPriv, oddPub}} {
		priv, err := rsaPrivateOf(c.priv)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := rsaPublicOf(c.pub)
		if err != nil {
			t.Fatal(err)
		}
		bits := c.goKey.N.BitLen()
		for _, m := range rsaHashMechs {
			maxSalt := (bits-1+7)/8 - m.h.Size() - 2
			digest := rsaDigest(m.h, []byte("the same as crypto/rsa"))
			for _, sLen := range []int{1, m.h.Size(), maxSalt} {
				if sLen > maxSalt {
					continue // SHA-512's hLen with the 1025-bit key
				}
				name := fmt.Sprintf("%d bits %v sLen %d", bits, m.h, sLen)
				pp := rsaPSSParams{hash: m.h, mgf: m.h, sLen: sLen}
				sig, err := pp.signOwn(priv, digest)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := rsa.VerifyPSS(&c.goKey.PublicKey, m.h, digest, sig, &rsa.PSSOptions{SaltLength: sLen}); err != nil {
					t.Errorf("%s: crypto/rsa refuses our encoding: %v", name, err)
				}
				goSig, err := rsa.SignPSS(rand.Reader, c.goKey, m.h, digest, &rsa.PSSOptions{SaltLength: sLen})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range [][]byte{sig, goSig} {
					if err := pp.verifyOwn(pub, digest, s); err != nil {
						t.Errorf("%s: %v", name, err)
					}
					other := pp
					if other.sLen--; sLen == 1 {
						other.sLen = 2
					}
					rsaWantRV(t, name+": another salt length", other.verifyOwn(pub, digest, s), ck.CKR_SIGNATURE_INVALID)
				}
			}
		}
	}
}

// TestRSAPSSEncoding checks EMSA-PSS-VERIFY's every condition (RFC 8017, section 9.1.2): an encoded message
// changed in its trailer, its leftmost bits, its padding, its separator, its salt or its H is refused, by
// rsaPSSCheck and, signed with the raw private operation, by verifyOwn.
func TestRSAPSSEncoding(t *testing.T) {
	kp := rsaTestPair(t)
	priv, _ := rsaPrivateOf(kp.priv)
	pub, _ := rsaPublicOf(kp.pub)
	h, mgf := crypto.SHA256, crypto.SHA1
	mHash := rsaDigest(h, []byte("encoding"))
	// An encoded message of 2045 bits: three leftmost bits to clear.
	for _, emBits := range []int{2047, 2045, 2040} {
		emLen := (emBits + 7) / 8
		for _, sLen := range []int{0, 20, emLen - h.Size() - 2} {
			name := fmt.Sprintf("emBits %d sLen %d", emBits, sLen)
			salt := bytes.Repeat([]byte{0x5a}, sLen)
			em, err := rsaPSSEncode(mHash, emBits, salt, h, mgf)
			if err != nil || len(em) != emLen {
				t.Fatalf("%s: %d bytes, %v", name, len(em), err)
			}
			if clear := 8*emLen - emBits; em[emLen-1] != 0xbc || clear > 0 && em[0]>>(8-clear) != 0 {
				t.Errorf("%s: trailer %#x, leftmost byte %#x", name, em[emLen-1], em[0])
			}
			if !rsaPSSCheck(mHash, em, emBits, sLen, h, mgf) {
				t.Errorf("%s: refused", name)
			}
			// Unmask DB to change what is under the mask, then mask it again.
			dbLen := emLen - h.Size() - 1
			remask := func(change func(db []byte)) []byte {
				e := append([]byte{}, em...)
				rsaMGF1XOR(e[:dbLen], mgf, e[dbLen:emLen-1])
				change(e[:dbLen])
				rsaMGF1XOR(e[:dbLen], mgf, e[dbLen:emLen-1])
				return e
			}
			psLen := emLen - h.Size() - sLen - 2
			bad := map[string][]byte{
				"trailer":   append(append([]byte{}, em[:emLen-1]...), 0xbd),
				"H":         remask(func([]byte) {}),
				"separator": remask(func(db []byte) { db[psLen] = 0x02 }),
			}
			bad["H"][dbLen] ^= 1
			if psLen > 0 {
				bad["padding"] = remask(func(db []byte) { db[psLen-1] = 0x01 })
				bad["padding, first octet"] = remask(func(db []byte) { db[0] = 0x01 })
			}
			if sLen > 0 {
				bad["salt"] = remask(func(db []byte) { db[dbLen-1] ^= 1 })
			}
			for b := 0; b < 8*emLen-emBits; b++ {
				e := append([]byte{}, em...)
				e[0] |= 0x80 >> b
				bad[fmt.Sprintf("leftmost bit %d", b)] = e
			}
			for what, e := range bad {
				if rsaPSSCheck(mHash, e, emBits, sLen, h, mgf) {
					t.Errorf("%s: %s changed: accepted", name, what)
				}
			}
			if emBits != 2047 {
				continue
			}
			// Through the public operation: the changes that keep m below n.
			for _, what := range []string{"trailer", "H", "separator", "padding", "salt"} {
				e, ok := bad[what]
				if !ok {
					continue
				}
				s, err := priv.raw(new(big.Int).SetBytes(e))
				if err != nil {
					t.Fatal(err)
				}
				pp := rsaPSSParams{hash: h, mgf: mgf, sLen: sLen}
				rsaWantRV(t, name+": signed with "+what+" changed", pp.verifyOwn(pub, mHash, rsaBytes(s, 256)), ck.CKR_SIGNATURE_INVALID)
			}
		}
	}
	// A 1025-bit modulus: EM has 128 octets, m must fit in them (I2OSP(m, emLen) of RFC 8017, 8.1.2).
	odd, err := rsa.GenerateKey(rand.Reader, 1025)
	if err != nil {
		t.Fatal(err)
	}
	oddPriv, oddPub := rsaPSSKeys(t, odd)
	op, _ := rsaPrivateOf(oddPriv)
	pk, _ := rsaPublicOf(oddPub)
	pp := rsaPSSParams{hash: h, mgf: mgf, sLen: 16}
	for range 64 {
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		em, _ := rsaPSSEncode(mHash, 1024, salt, h, mgf)
		m := new(big.Int).SetBytes(append([]byte{1}, em...)) // 2^1024 + EM
		if m.Cmp(odd.N) >= 0 {
			continue
		}
		s, err := op.raw(m)
		if err != nil {
			t.Fatal(err)
		}
		rsaWantRV(t, "m above 2^emBits", pp.verifyOwn(pk, mHash, rsaBytes(s, 129)), ck.CKR_SIGNATURE_INVALID)
		s, _ = op.raw(new(big.Int).SetBytes(em))
		if err := pp.verifyOwn(pk, mHash, rsaBytes(s, 129)); err != nil {
			t.Errorf("1025-bit key: %v", err)
		}
		return
	}
	t.Error("no 2^1024 + EM below n in 64 tries")
}

// TestRSAPSSOwnWycheproof runs the Wycheproof PSS vectors through the self-written verification too.
func TestRSAPSSOwnWycheproof(t *testing.T) {
	wycheproofEach(t, rsaPSSFiles, func(file string, f *rsaWPFile, c *wycheproofCount) {
		for _, g := range f.TestGroups {
			key, _ := rsaChecked(t, ck.CKO_PUBLIC_KEY, rsaWPAttrs(t, g.PublicKey))
			pub, err := rsaPublicOf(key)
			if err != nil {
				t.Fatal(err)
			}
			h, mh := rsaWPHash[g.Sha], rsaWPHash[g.MgfSha]
			pp := rsaPSSParams{hash: h.h, mgf: mh.h, sLen: g.SLen}
			for _, tc := range g.Tests {
				c.total++
				err := pp.verifyOwn(pub, rsaDigest(h.h, rsaHex(t, tc.Msg)), rsaHex(t, tc.Sig))
				c.check(t, (err == nil) == (tc.Result == "valid") || tc.Result == "acceptable",
					"%s tc %d (%s %v): %s, got %v", file, tc.TcID, tc.Comment, tc.Flags, tc.Result, err)
			}
		}
	})
}
