package wycheproof

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
	"github.com/miekg/pkcs11"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestWycheproof runs every file of the Wycheproof directory through libkeyward.so. It fails if any vector
// fails, if a file runs no vector, or if a file has no runner. Per-file counts are logged (go test -v).
func TestWycheproof(t *testing.T) {
	e := setup(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := vectorDir(root)
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Wycheproof vectors in %s (set KEYWARD_WYCHEPROOF): %v", dir, err)
	}
	sort.Strings(paths)
	var tallies []*tally
	t.Run("file", func(t *testing.T) {
		for _, path := range paths {
			c := newTally(filepath.Base(path))
			tallies = append(tallies, c)
			t.Run(strings.TrimSuffix(c.file, ".json"), func(t *testing.T) {
				t.Parallel()
				c.ran = true
				runFile(t, e, path, c)
				t.Log(c.summary())
				if c.failed > 0 {
					t.Errorf("%s: %d of %d vectors failed", c.file, c.failed, c.vectors)
				}
				if c.vectors-c.skippedTotal() == 0 {
					t.Errorf("%s: no vector ran", c.file)
				}
			})
		}
	})
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-44s %7s %7s %7s %7s %7s\n", "file", "vectors", "passed", "failed", "accept", "skipped")
	var tv, tp, tf, ta, ts int
	for _, c := range tallies {
		if !c.ran {
			continue
		}
		fmt.Fprintf(&b, "%-44s %7d %7d %7d %7d %7d\n", c.file, c.vectors, c.passed, c.failed, c.acceptable, c.skippedTotal())
		tv, tp, tf, ta, ts = tv+c.vectors, tp+c.passed, tf+c.failed, ta+c.acceptable, ts+c.skippedTotal()
	}
	fmt.Fprintf(&b, "%-44s %7d %7d %7d %7d %7d", "total", tv, tp, tf, ta, ts)
	t.Log(b.String())
	// `make test` shows the table: KEYWARD_REPORT_DIR collects the reports of the test suites.
	if dir := os.Getenv("KEYWARD_REPORT_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			os.WriteFile(filepath.Join(dir, "wycheproof.txt"), []byte("Wycheproof through libkeyward.so\n"+b.String()), 0o644)
		}
	}
	if t.Failed() {
		t.Logf("keywardd log, last lines:\n%s", tail(daemonLog))
	}
}

// runners by the schema each file names.
var runners = map[string]func(*session, *vectorFile){
	"ind_cpa_test_schema_v1.json":          runCBCPad,
	"aead_test_schema_v1.json":             runAEAD,
	"mac_test_schema_v1.json":              runMAC,
	"keywrap_test_schema_v1.json":          runKeyWrap,
	"ecdh_test_schema_v1.json":             runECDH,
	"ecdsa_verify_schema_v1.json":          runECDSA,
	"ecdsa_p1363_verify_schema_v1.json":    runECDSA,
	"eddsa_verify_schema_v1.json":          runEdDSA,
	"hkdf_test_schema_v1.json":             runHKDF,
	"mldsa_verify_schema.json":             runMLDSA,
	"mlkem_test_schema.json":               runMLKEM,
	"pbkdf_test_schema.json":               runPBKDF2,
	"rsaes_oaep_decrypt_schema_v1.json":    runOAEP,
	"rsaes_pkcs1_decrypt_schema_v1.json":   runPKCS1Decrypt,
	"rsassa_pkcs1_generate_schema_v1.json": runPKCS1SigGen,
	"rsassa_pkcs1_verify_schema_v1.json":   runPKCS1Verify,
	"rsassa_pss_verify_schema_v1.json":     runPSS,
	"xdh_comp_schema_v1.json":              runXDH,
}

func runFile(t *testing.T, e *env, path string, c *tally) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", c.file, err)
	}
	n := 0
	for _, g := range f.TestGroups {
		n += len(g.Tests)
	}
	if f.NumberOfTests != 0 && n != f.NumberOfTests {
		c.note("the header says %d tests, the groups hold %d", f.NumberOfTests, n)
	}
	run := runners[f.Schema]
	if run == nil {
		c.failAll(&f, fmt.Sprintf("no runner for schema %q (algorithm %q)", f.Schema, f.Algorithm))
		return
	}
	run(e.open(t, c), &f)
}

// each calls fn for every vector of the file and records its outcome.
func each(s *session, f *vectorFile, fn func(g *group, v *vector) outcome) {
	for gi := range f.TestGroups {
		g := &f.TestGroups[gi]
		for vi := range g.Tests {
			s.c.record(&g.Tests[vi], fn(g, &g.Tests[vi]))
		}
	}
}

// hashes maps Wycheproof hash names to the mechanisms built on them.
type hashInfo struct {
	hash, rsaPKCS, rsaPSS, ecdsa, hmac, hmacGeneral ck.MechanismType
	mgf                                             uint
	size                                            int
}

var hashes = map[string]hashInfo{
	"SHA-1":    {ck.CKM_SHA_1, ck.CKM_SHA1_RSA_PKCS, ck.CKM_SHA1_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA1, ck.CKM_SHA_1_HMAC, ck.CKM_SHA_1_HMAC_GENERAL, ck.CKG_MGF1_SHA1, 20},
	"SHA-224":  {ck.CKM_SHA224, ck.CKM_SHA224_RSA_PKCS, ck.CKM_SHA224_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA224, ck.CKM_SHA224_HMAC, ck.CKM_SHA224_HMAC_GENERAL, ck.CKG_MGF1_SHA224, 28},
	"SHA-256":  {ck.CKM_SHA256, ck.CKM_SHA256_RSA_PKCS, ck.CKM_SHA256_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA256, ck.CKM_SHA256_HMAC, ck.CKM_SHA256_HMAC_GENERAL, ck.CKG_MGF1_SHA256, 32},
	"SHA-384":  {ck.CKM_SHA384, ck.CKM_SHA384_RSA_PKCS, ck.CKM_SHA384_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA384, ck.CKM_SHA384_HMAC, ck.CKM_SHA384_HMAC_GENERAL, ck.CKG_MGF1_SHA384, 48},
	"SHA-512":  {ck.CKM_SHA512, ck.CKM_SHA512_RSA_PKCS, ck.CKM_SHA512_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA512, ck.CKM_SHA512_HMAC, ck.CKM_SHA512_HMAC_GENERAL, ck.CKG_MGF1_SHA512, 64},
	"SHA3-224": {ck.CKM_SHA3_224, ck.CKM_SHA3_224_RSA_PKCS, ck.CKM_SHA3_224_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA3_224, ck.CKM_SHA3_224_HMAC, ck.CKM_SHA3_224_HMAC_GENERAL, ck.CKG_MGF1_SHA3_224, 28},
	"SHA3-256": {ck.CKM_SHA3_256, ck.CKM_SHA3_256_RSA_PKCS, ck.CKM_SHA3_256_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA3_256, ck.CKM_SHA3_256_HMAC, ck.CKM_SHA3_256_HMAC_GENERAL, ck.CKG_MGF1_SHA3_256, 32},
	"SHA3-384": {ck.CKM_SHA3_384, ck.CKM_SHA3_384_RSA_PKCS, ck.CKM_SHA3_384_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA3_384, ck.CKM_SHA3_384_HMAC, ck.CKM_SHA3_384_HMAC_GENERAL, ck.CKG_MGF1_SHA3_384, 48},
	"SHA3-512": {ck.CKM_SHA3_512, ck.CKM_SHA3_512_RSA_PKCS, ck.CKM_SHA3_512_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA3_512, ck.CKM_SHA3_512_HMAC, ck.CKM_SHA3_512_HMAC_GENERAL, ck.CKG_MGF1_SHA3_512, 64},
}

// hashOf looks up a group's hash; an unknown name fails the file.
func hashOf(s *session, f *vectorFile, name string) (hashInfo, bool) {
	h, found := hashes[name]
	if !found {
		s.c.failAll(f, fmt.Sprintf("harness: unknown hash %q", name))
	}
	return h, found
}

// requireHashMechs is requireMechs for the mechanisms that pick names for each group's hash, with flags.
// pick may refuse a group (having failed the file or not); an unknown hash fails the file.
func (s *session) requireHashMechs(f *vectorFile, flags uint, pick func(g *group, h hashInfo) (ck.MechanismType, bool)) bool {
	need := map[ck.MechanismType]uint{}
	for gi := range f.TestGroups {
		g := &f.TestGroups[gi]
		h, found := hashOf(s, f, g.SHA)
		if !found {
			return false
		}
		m, use := pick(g, h)
		if !use {
			return false
		}
		need[m] = flags
	}
	return s.requireMechs(f, need)
}

// ---------------------------------------------------------------------------------------------------------
// AES: CBC with PKCS padding, GCM, CCM, CMAC, key wrap.

func runCBCPad(s *session, f *vectorFile) {
	if f.Algorithm != "AES-CBC-PKCS5" {
		s.c.failAll(f, "harness: unknown algorithm "+f.Algorithm)
		return
	}
	if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_AES_CBC_PAD: pkcs11.CKF_ENCRYPT | pkcs11.CKF_DECRYPT}) {
		return
	}
	each(s, f, func(g *group, v *vector) outcome {
		return s.roundTrip(v, v.CT, func(bool) (*pkcs11.Mechanism, func()) {
			return pkcs11.NewMechanism(uint(ck.CKM_AES_CBC_PAD), []byte(v.IV)), func() {}
		})
	})
}

func runAEAD(s *session, f *vectorFile) {
	switch f.Algorithm {
	case "AES-GCM":
		if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_AES_GCM: pkcs11.CKF_ENCRYPT | pkcs11.CKF_DECRYPT}) {
			return
		}
		each(s, f, func(g *group, v *vector) outcome {
			return s.roundTrip(v, sealed(v), func(encrypt bool) (*pkcs11.Mechanism, func()) {
				p := pkcs11.NewGCMParams(v.IV, v.AAD, g.TagSize)
				return pkcs11.NewMechanism(uint(ck.CKM_AES_GCM), p), p.Free
			})
		})
	case "AES-CCM":
		if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_AES_CCM: pkcs11.CKF_ENCRYPT | pkcs11.CKF_DECRYPT}) {
			return
		}
		each(s, f, func(g *group, v *vector) outcome {
			return s.roundTrip(v, sealed(v), func(encrypt bool) (*pkcs11.Mechanism, func()) {
				var mem cMem
				// ulDataLen is the length of the plaintext: without the MAC appended to the ciphertext.
				p := ccmParams(&mem, len(v.Msg), v.IV, v.AAD, g.TagSize/8)
				if !encrypt {
					p = ccmParams(&mem, len(v.CT), v.IV, v.AAD, g.TagSize/8)
				}
				return pkcs11.NewMechanism(uint(ck.CKM_AES_CCM), p), mem.free
			})
		})
	default:
		s.c.failAll(f, "harness: unknown AEAD "+f.Algorithm)
	}
}

// sealed is what an AEAD mechanism's C_Encrypt returns and its C_Decrypt takes: the vector's ct followed by
// its tag.
func sealed(v *vector) []byte { return append(append([]byte{}, v.CT...), v.Tag...) }

// roundTrip encrypts the message (valid and acceptable vectors) and decrypts ct (all vectors) with an AES
// key of the vector's and the mechanism mech makes for either direction (with what frees its parameter).
func (s *session) roundTrip(v *vector, ct []byte, mech func(encrypt bool) (*pkcs11.Mechanism, func())) outcome {
	k, err := s.secretKey(ck.CKK_AES, v.Key, ck.CKA_ENCRYPT, ck.CKA_DECRYPT)
	if err != nil {
		return reject("C_CreateObject", err)
	}
	defer s.destroy(k)
	enc := ok()
	if v.Result != "invalid" {
		m, free := mech(true)
		out, err := s.encrypt([]*pkcs11.Mechanism{m}, k, v.Msg)
		free()
		enc = checked("C_Encrypt", out, err, ct)
	}
	m, free := mech(false)
	defer free()
	pt, err := s.decrypt([]*pkcs11.Mechanism{m}, k, ct)
	return both(enc, checked("C_Decrypt", pt, err, v.Msg))
}

// both combines the outcomes of an encryption and a decryption of one vector: the first that is not an
// acceptance decides, and the other's trouble is added to its detail.
func both(enc, dec outcome) outcome {
	switch {
	case enc.kind == accepted:
		return dec
	case dec.kind == accepted:
		return enc
	}
	enc.detail += "; and " + dec.detail
	return enc
}

func runMAC(s *session, f *vectorFile) {
	var keyType ck.KeyType
	var full, general ck.MechanismType
	var size int
	switch {
	case f.Algorithm == "AES-CMAC":
		keyType, full, general, size = ck.CKK_AES, ck.CKM_AES_CMAC, ck.CKM_AES_CMAC_GENERAL, 16
	case strings.HasPrefix(f.Algorithm, "HMAC"):
		name := strings.TrimPrefix(f.Algorithm, "HMAC") // HMACSHA256 -> SHA-256, HMACSHA3-256 -> SHA3-256
		if !strings.HasPrefix(name, "SHA3-") {
			name = "SHA-" + strings.TrimPrefix(name, "SHA")
		}
		h, found := hashOf(s, f, name)
		if !found {
			return
		}
		keyType, full, general, size = ck.CKK_GENERIC_SECRET, h.hmac, h.hmacGeneral, h.size
	default:
		s.c.failAll(f, "harness: unknown MAC "+f.Algorithm)
		return
	}
	need := map[ck.MechanismType]uint{}
	for _, g := range f.TestGroups {
		if g.TagSize == size*8 {
			need[full] = pkcs11.CKF_SIGN | pkcs11.CKF_VERIFY
		} else {
			need[general] = pkcs11.CKF_SIGN | pkcs11.CKF_VERIFY
		}
	}
	if !s.requireMechs(f, need) {
		return
	}
	each(s, f, func(g *group, v *vector) outcome {
		if g.TagSize%8 != 0 {
			return skip("tag size not a whole number of bytes: CK_MAC_GENERAL_PARAMS counts bytes")
		}
		m := mechanism(full, nil)
		if g.TagSize != size*8 {
			m = mechanism(general, ulongParam(uint(g.TagSize/8)))
		}
		k, err := s.secretKey(keyType, v.Key, ck.CKA_SIGN, ck.CKA_VERIFY)
		if err != nil {
			return reject("C_CreateObject", err)
		}
		defer s.destroy(k)
		if v.Result != "invalid" {
			tag, err := s.sign(m, k, v.Msg)
			if o := checked("C_Sign", tag, err, v.Tag); o.kind != accepted {
				return o
			}
		}
		return s.verifyOutcome(m, k, v.Msg, v.Tag)
	})
}

// runKeyWrap runs RFC 3394 (CKM_AES_KEY_WRAP) and RFC 5649 (CKM_AES_KEY_WRAP_KWP, the PKCS#11 3.0 mechanism
// for KWP) both ways a PKCS#11 application uses them: C_Encrypt/C_Decrypt on the bytes, and C_WrapKey/
// C_UnwrapKey on a generic secret key holding them.
func runKeyWrap(s *session, f *vectorFile) {
	var m ck.MechanismType
	switch f.Algorithm {
	case "AES-WRAP":
		m = ck.CKM_AES_KEY_WRAP
	case "AES-KWP":
		m = ck.CKM_AES_KEY_WRAP_KWP
	default:
		s.c.failAll(f, "harness: unknown key wrap "+f.Algorithm)
		return
	}
	if !s.requireMechs(f, map[ck.MechanismType]uint{m: pkcs11.CKF_ENCRYPT | pkcs11.CKF_DECRYPT | pkcs11.CKF_WRAP | pkcs11.CKF_UNWRAP}) {
		return
	}
	mech := mechanism(m, nil)
	each(s, f, func(g *group, v *vector) outcome {
		kek, err := s.secretKey(ck.CKK_AES, v.Key, ck.CKA_ENCRYPT, ck.CKA_DECRYPT, ck.CKA_WRAP, ck.CKA_UNWRAP)
		if err != nil {
			return reject("C_CreateObject", err)
		}
		defer s.destroy(kek)
		if v.Result != "invalid" {
			out, err := s.encrypt(mech, kek, v.Msg)
			if o := checked("C_Encrypt", out, err, v.CT); o.kind != accepted {
				return o
			}
			key, err := s.create(readableSecret(attr(ck.CKA_VALUE, []byte(v.Msg)))...)
			if err != nil {
				return reject("C_CreateObject(key to wrap)", err)
			}
			wrapped, err := s.e.ctx.WrapKey(s.h, mech, kek, key)
			s.destroy(key)
			if err != nil {
				return reject("C_WrapKey", err)
			}
			if o := compare("C_WrapKey", wrapped, v.CT); o.kind != accepted {
				return o
			}
		}
		pt, derr := s.decrypt(mech, kek, v.CT)
		if derr == nil {
			if o := compare("C_Decrypt", pt, v.Msg); o.kind != accepted {
				return o
			}
		}
		var h pkcs11.ObjectHandle
		uerr := derr // miekg/pkcs11 cannot pass an empty wrapped key: C_Decrypt's answer stands for both
		if len(v.CT) > 0 {
			h, uerr = s.e.ctx.UnwrapKey(s.h, mech, kek, v.CT, readableSecret())
		}
		if uerr == nil && len(v.CT) > 0 {
			defer s.destroy(h)
			val, err := s.value(h)
			if err != nil {
				return reject("C_GetAttributeValue(unwrapped CKA_VALUE)", err)
			}
			if o := compare("C_UnwrapKey", val, v.Msg); o.kind != accepted {
				return o
			}
		}
		switch {
		case derr != nil && uerr != nil:
			return rejectErr(derr)
		case derr != nil:
			if v.Result == "invalid" {
				return differ("C_Decrypt rejected it (%v) but C_UnwrapKey accepted it", rvName(rvOf(derr)))
			}
			return rejectErr(derr)
		case uerr != nil:
			if v.Result == "invalid" {
				return differ("C_UnwrapKey rejected it (%v) but C_Decrypt accepted it", rvName(rvOf(uerr)))
			}
			return reject("C_UnwrapKey", uerr)
		}
		return ok()
	})
}

// ---------------------------------------------------------------------------------------------------------
// Elliptic curves.

type curveInfo struct {
	oid    asn1.ObjectIdentifier
	params []byte // CKA_EC_PARAMS: the DER of the named curve's OID
	size   int    // bytes of a field element and of the order
}

func namedCurve(oid asn1.ObjectIdentifier, size int) curveInfo {
	der, _ := asn1.Marshal(oid)
	return curveInfo{oid: oid, params: der, size: size}
}

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	curves         = map[string]curveInfo{
		"secp256r1":    namedCurve(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, 32),
		"secp384r1":    namedCurve(asn1.ObjectIdentifier{1, 3, 132, 0, 34}, 48),
		"secp521r1":    namedCurve(asn1.ObjectIdentifier{1, 3, 132, 0, 35}, 66),
		"edwards25519": namedCurve(asn1.ObjectIdentifier{1, 3, 101, 112}, 32), // RFC 8410 id-Ed25519
		"edwards448":   namedCurve(asn1.ObjectIdentifier{1, 3, 101, 113}, 57), // id-Ed448
		"curve25519":   namedCurve(asn1.ObjectIdentifier{1, 3, 101, 110}, 32), // id-X25519
		"curve448":     namedCurve(asn1.ObjectIdentifier{1, 3, 101, 111}, 56), // id-X448
	}
)

// octetString is the DER OCTET STRING a CKA_EC_POINT holds.
func octetString(b []byte) []byte {
	der, _ := asn1.Marshal(b)
	return der
}

// fixed is a big-endian integer stripped of leading zeros and left-padded to n bytes (longer stays longer).
func fixed(b []byte, n int) []byte {
	for len(b) > n && b[0] == 0 {
		b = b[1:]
	}
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}

// peerPoint extracts the point of a peer's SubjectPublicKeyInfo, as an application does before
// CKM_ECDH1_DERIVE (which takes the point only). explicit reports curve parameters given inline.
func peerPoint(spki []byte) (point []byte, curve asn1.ObjectIdentifier, explicit bool, err error) {
	in := cryptobyte.String(spki)
	var seq, algo cryptobyte.String
	var oid asn1.ObjectIdentifier
	var bits asn1.BitString
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1(&algo, cbasn1.SEQUENCE) ||
		!algo.ReadASN1ObjectIdentifier(&oid) {
		return nil, nil, false, fmt.Errorf("SubjectPublicKeyInfo does not parse")
	}
	if !oid.Equal(oidECPublicKey) {
		return nil, nil, false, fmt.Errorf("algorithm %v is not id-ecPublicKey", oid)
	}
	switch {
	case algo.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER):
		if !algo.ReadASN1ObjectIdentifier(&curve) {
			return nil, nil, false, fmt.Errorf("curve OID does not parse")
		}
	case algo.PeekASN1Tag(cbasn1.SEQUENCE):
		explicit = true
		algo.SkipASN1(cbasn1.SEQUENCE)
	default:
		return nil, nil, false, fmt.Errorf("no curve parameters")
	}
	if !algo.Empty() {
		return nil, nil, false, fmt.Errorf("trailing data in the algorithm identifier")
	}
	var bs cryptobyte.String
	if !seq.ReadASN1(&bs, cbasn1.BIT_STRING) || !seq.Empty() {
		return nil, nil, false, fmt.Errorf("public key BIT STRING does not parse")
	}
	if _, err := asn1.Unmarshal(append([]byte{0x03, byte(len(bs))}, bs...), &bits); len(bs) > 127 || err != nil {
		// long form: decode by hand
		if len(bs) == 0 || bs[0] != 0 {
			return nil, nil, false, fmt.Errorf("public key BIT STRING has unused bits")
		}
		return append([]byte{}, bs[1:]...), curve, explicit, nil
	}
	if bits.BitLength%8 != 0 {
		return nil, nil, false, fmt.Errorf("public key BIT STRING has unused bits")
	}
	return bits.Bytes, curve, explicit, nil
}

func runECDH(s *session, f *vectorFile) {
	if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_ECDH1_DERIVE: pkcs11.CKF_DERIVE}) {
		return
	}
	each(s, f, func(g *group, v *vector) outcome {
		c, found := curves[g.Curve]
		if !found || g.Encoding != "asn" {
			return skip(fmt.Sprintf("harness: curve %q, encoding %q", g.Curve, g.Encoding))
		}
		point, curve, explicit, err := peerPoint(v.Public)
		if err != nil {
			return appReject("peer key: " + err.Error())
		}
		if explicit {
			return skip("peer key with explicit curve parameters: CKM_ECDH1_DERIVE takes the peer's point only, the curve is the private key's CKA_EC_PARAMS")
		}
		_ = curve // a point named for another curve still goes to the token, which must find it off its curve
		if len(point) == 0 {
			return appReject("peer key: empty point")
		}
		return s.ecdh(ck.CKK_EC, c, fixed(v.Private, c.size), point, v.Shared)
	})
}

// ecdh imports a private key of type kt on curve c with value private, derives with it and
// CKM_ECDH1_DERIVE (CKD_NULL) an extractable, non-sensitive secret and compares its value.
func (s *session) ecdh(kt ck.KeyType, c curveInfo, private, peer, shared []byte) outcome {
	priv, err := s.key(ck.CKO_PRIVATE_KEY, kt,
		attr(ck.CKA_EC_PARAMS, c.params), attr(ck.CKA_VALUE, private), attr(ck.CKA_DERIVE, true))
	if err != nil {
		return reject("C_CreateObject(private key)", err)
	}
	defer s.destroy(priv)
	p := pkcs11.NewECDH1DeriveParams(ck.CKD_NULL, nil, peer)
	h, err := s.e.ctx.DeriveKey(s.h, mechanism(ck.CKM_ECDH1_DERIVE, p), priv,
		readableSecret(attr(ck.CKA_VALUE_LEN, uint(c.size))))
	if err != nil {
		return reject("C_DeriveKey", err)
	}
	defer s.destroy(h)
	val, err := s.value(h)
	if err != nil {
		return reject("C_GetAttributeValue(derived CKA_VALUE)", err)
	}
	return compare("shared secret", val, shared)
}

func runXDH(s *session, f *vectorFile) {
	if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_ECDH1_DERIVE: pkcs11.CKF_DERIVE}) {
		return
	}
	each(s, f, func(g *group, v *vector) outcome {
		c, found := curves[g.Curve]
		if !found {
			return skip("harness: curve " + g.Curve)
		}
		return s.ecdh(ck.CKK_EC_MONTGOMERY, c, v.Private, v.Public, v.Shared)
	})
}

// ecPublicKey is the publicKey object of ECDSA and EdDSA groups.
type ecPublicKey struct {
	Curve        string   `json:"curve"`
	Uncompressed hexBytes `json:"uncompressed"`
	PK           hexBytes `json:"pk"`
}

// derSignature converts a DER ECDSA-Sig-Value to r||s of n bytes each, as CKM_ECDSA takes. Only strict DER
// with 0 <= r, s < 2^(8n) converts: anything else an application cannot pass and treats as invalid.
func derSignature(der []byte, n int) ([]byte, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	r, sv := new(big.Int), new(big.Int)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(sv) ||
		!seq.Empty() {
		return nil, fmt.Errorf("not a DER ECDSA-Sig-Value")
	}
	if r.Sign() < 0 || sv.Sign() < 0 {
		return nil, fmt.Errorf("negative r or s")
	}
	if len(r.Bytes()) > n || len(sv.Bytes()) > n {
		return nil, fmt.Errorf("r or s longer than %d bytes", n)
	}
	return append(r.FillBytes(make([]byte, n)), sv.FillBytes(make([]byte, n))...), nil
}

func runECDSA(s *session, f *vectorFile) {
	der := f.Schema == "ecdsa_verify_schema_v1.json"
	if !s.requireHashMechs(f, pkcs11.CKF_VERIFY, func(_ *group, h hashInfo) (ck.MechanismType, bool) { return h.ecdsa, true }) {
		return
	}
	var pk ecPublicKey // the group's, set by the key function for the vectors
	var c curveInfo
	perGroup(s, f, "C_CreateObject(public key)", func(g *group) (pkcs11.ObjectHandle, error) {
		pk, c = ecPublicKey{}, curveInfo{}
		json.Unmarshal(g.PublicKey, &pk)
		found := false
		if c, found = curves[pk.Curve]; !found {
			return 0, skipReason("harness: curve " + pk.Curve)
		}
		return s.key(ck.CKO_PUBLIC_KEY, ck.CKK_EC,
			attr(ck.CKA_EC_PARAMS, c.params), attr(ck.CKA_EC_POINT, octetString(pk.Uncompressed)), attr(ck.CKA_VERIFY, true))
	}, func(g *group, v *vector, key pkcs11.ObjectHandle) outcome {
		sig := []byte(v.Sig)
		if der {
			var err error
			if sig, err = derSignature(v.Sig, c.size); err != nil {
				return appReject("DER signature: " + err.Error())
			}
		}
		if !der && v.Result == "invalid" && pkcs11ShortForm(c.size, pk.Uncompressed, g.SHA, v.Msg, sig) {
			// PKCS#11 ("EC signatures"): a signature passed for verification may be shorter than
			// 2*nLen, its halves being r and s. Wycheproof rejects these sizes for P1363; for a
			// PKCS#11 token a short form of a valid signature is valid, so either answer passes.
			v.Result = "acceptable"
		}
		return s.verifyOutcome(mechanism(hashes[g.SHA].ecdsa, nil), key, v.Msg, sig)
	})
}

func runEdDSA(s *session, f *vectorFile) {
	if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_EDDSA: pkcs11.CKF_VERIFY}) {
		return
	}
	var curve string // the group's, set by the key function for the vectors
	perGroup(s, f, "C_CreateObject(public key)", func(g *group) (pkcs11.ObjectHandle, error) {
		var pk ecPublicKey
		json.Unmarshal(g.PublicKey, &pk)
		curve = pk.Curve
		c, found := curves[pk.Curve]
		if !found {
			return 0, skipReason("harness: curve " + pk.Curve)
		}
		return s.key(ck.CKO_PUBLIC_KEY, ck.CKK_EC_EDWARDS,
			attr(ck.CKA_EC_PARAMS, c.params), attr(ck.CKA_EC_POINT, octetString(pk.PK)), attr(ck.CKA_VERIFY, true))
	}, func(g *group, v *vector, key pkcs11.ObjectHandle) outcome {
		if curve == "edwards448" {
			// Ed448 is selected by a CK_EDDSA_PARAMS (phFlag false, no context); Ed25519 by no parameter.
			var mem cMem
			defer mem.free()
			return s.verifyOutcome(mechanism(ck.CKM_EDDSA, eddsaParams(&mem, false, nil)), key, v.Msg, v.Sig)
		}
		return s.verifyOutcome(mechanism(ck.CKM_EDDSA, nil), key, v.Msg, v.Sig)
	})
}

// ---------------------------------------------------------------------------------------------------------
// Key derivation.

func runHKDF(s *session, f *vectorFile) {
	h, found := hashOf(s, f, strings.TrimPrefix(f.Algorithm, "HKDF-"))
	if !found {
		return
	}
	if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_HKDF_DERIVE: pkcs11.CKF_DERIVE}) {
		return
	}
	each(s, f, func(g *group, v *vector) outcome {
		base, err := s.secretKey(ck.CKK_GENERIC_SECRET, v.IKM, ck.CKA_DERIVE)
		if err != nil {
			return reject("C_CreateObject(IKM)", err)
		}
		defer s.destroy(base)
		var mem cMem
		defer mem.free()
		saltType := uint(ck.CKF_HKDF_SALT_DATA)
		if len(v.Salt) == 0 {
			saltType = ck.CKF_HKDF_SALT_NULL // HKDF's empty salt: HashLen zero bytes
		}
		p := hkdfParams(&mem, true, true, uint(h.hash), saltType, v.Salt, 0, v.Info)
		k, err := s.e.ctx.DeriveKey(s.h, mechanism(ck.CKM_HKDF_DERIVE, p), base,
			readableSecret(attr(ck.CKA_VALUE_LEN, uint(v.Size))))
		if err != nil {
			return reject("C_DeriveKey", err)
		}
		defer s.destroy(k)
		val, err := s.value(k)
		if err != nil {
			return reject("C_GetAttributeValue(derived CKA_VALUE)", err)
		}
		return compare("OKM", val, v.OKM)
	})
}

func runPBKDF2(s *session, f *vectorFile) {
	if f.Algorithm != "PBKDF2-HMACSHA256" {
		s.c.failAll(f, "harness: unknown algorithm "+f.Algorithm)
		return
	}
	if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_PKCS5_PBKD2: pkcs11.CKF_GENERATE}) {
		return
	}
	each(s, f, func(g *group, v *vector) outcome {
		var mem cMem
		defer mem.free()
		p := pbkd2Params(&mem, ck.CKZ_SALT_SPECIFIED, v.Salt, uint(v.IterationCount), ck.CKP_PKCS5_PBKD2_HMAC_SHA256, v.Password)
		k, err := s.e.ctx.GenerateKey(s.h, mechanism(ck.CKM_PKCS5_PBKD2, p),
			readableSecret(attr(ck.CKA_VALUE_LEN, uint(v.DKLen))))
		if err != nil {
			return reject("C_GenerateKey", err)
		}
		defer s.destroy(k)
		val, err := s.value(k)
		if err != nil {
			return reject("C_GetAttributeValue(CKA_VALUE)", err)
		}
		return compare("derived key", val, v.DK)
	})
}

// ---------------------------------------------------------------------------------------------------------
// ML-DSA and ML-KEM (PKCS#11 3.2).

func runMLDSA(s *session, f *vectorFile) {
	var set uint
	switch f.Algorithm {
	case "ML-DSA-44":
		set = ck.CKP_ML_DSA_44
	case "ML-DSA-65":
		set = ck.CKP_ML_DSA_65
	case "ML-DSA-87":
		set = ck.CKP_ML_DSA_87
	default:
		s.c.failAll(f, "harness: unknown algorithm "+f.Algorithm)
		return
	}
	if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_ML_DSA: pkcs11.CKF_VERIFY}) {
		return
	}
	perGroup(s, f, "C_CreateObject(public key)", func(g *group) (pkcs11.ObjectHandle, error) {
		var pk hexBytes
		if json.Unmarshal(g.PublicKey, &pk) != nil {
			return 0, skipReason("harness: publicKey is not hex")
		}
		return s.key(ck.CKO_PUBLIC_KEY, ck.CKK_ML_DSA,
			attr(ck.CKA_PARAMETER_SET, set), attr(ck.CKA_VALUE, []byte(pk)), attr(ck.CKA_VERIFY, true))
	}, func(g *group, v *vector, key pkcs11.ObjectHandle) outcome {
		if v.Ctx == nil {
			return s.verifyOutcome(mechanism(ck.CKM_ML_DSA, nil), key, v.Msg, v.Sig)
		}
		var mem cMem
		defer mem.free()
		p := signContextParams(&mem, ck.CKH_HEDGE_PREFERRED, *v.Ctx)
		return s.verifyOutcome(mechanism(ck.CKM_ML_DSA, p), key, v.Msg, v.Sig)
	})
}

func runMLKEM(s *session, f *vectorFile) {
	if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_ML_KEM: ck.CKF_DECAPSULATE}) {
		return
	}
	each(s, f, func(g *group, v *vector) outcome {
		if g.ParameterSet != "ML-KEM-768" {
			return skip("harness: parameter set " + g.ParameterSet)
		}
		t := []*pkcs11.Attribute{
			attr(ck.CKA_PARAMETER_SET, uint(ck.CKP_ML_KEM_768)),
			attr(ck.CKA_SEED, []byte(v.Seed)),
			attr(ck.CKA_DECAPSULATE, true),
		}
		if len(v.Seed) == mlkem768.KeySeedSize {
			// The expanded decapsulation key too (CKA_VALUE), which the token must find consistent with the seed.
			pub, priv := mlkem768.NewKeyFromSeed(v.Seed)
			dk, _ := priv.MarshalBinary()
			ek, _ := pub.MarshalBinary()
			if len(v.EK) > 0 && string(ek) != string(v.EK) {
				return differ("harness: the seed's encapsulation key is not the vector's ek")
			}
			t = append(t, attr(ck.CKA_VALUE, dk))
		}
		key, err := s.key(ck.CKO_PRIVATE_KEY, ck.CKK_ML_KEM, t...)
		if err != nil {
			return reject("C_CreateObject(private key)", err)
		}
		defer s.destroy(key)
		h, err := decapsulate(uint(s.h), uint(ck.CKM_ML_KEM), uint(key), v.C)
		if err != nil {
			return reject("C_DecapsulateKey", err)
		}
		defer s.destroy(pkcs11.ObjectHandle(h))
		val, err := s.value(pkcs11.ObjectHandle(h))
		if err != nil {
			return reject("C_GetAttributeValue(shared secret)", err)
		}
		return compare("shared secret", val, v.K)
	})
}

// ---------------------------------------------------------------------------------------------------------
// RSA.

type rsaKeyJSON struct {
	Modulus         hexBytes `json:"modulus"`
	PublicExponent  hexBytes `json:"publicExponent"`
	PrivateExponent hexBytes `json:"privateExponent"`
	Prime1          hexBytes `json:"prime1"`
	Prime2          hexBytes `json:"prime2"`
	Exponent1       hexBytes `json:"exponent1"`
	Exponent2       hexBytes `json:"exponent2"`
	Coefficient     hexBytes `json:"coefficient"`
}

// unsigned strips an integer's leading zero bytes (CKA_MODULUS and the others are unsigned big-endian).
func unsigned(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// rsaPrivateKey imports a group's private key: from its key fields, or from its PKCS#8 when the fields lack
// the CRT values.
func (s *session) rsaPrivateKey(g *group, usage ck.AttributeType) (pkcs11.ObjectHandle, error) {
	var k rsaKeyJSON
	if err := json.Unmarshal(g.PrivateKey, &k); err != nil {
		return 0, fmt.Errorf("harness: privateKey: %v", err)
	}
	if len(k.Prime1) == 0 && len(g.PKCS8) > 0 {
		var p8 struct {
			Version int
			Algo    pkix.AlgorithmIdentifier
			Key     []byte
		}
		var rk struct {
			Version                     int
			N, E, D, P, Q, Dp, Dq, QInv *big.Int
		}
		if _, err := asn1.Unmarshal(g.PKCS8, &p8); err != nil {
			return 0, fmt.Errorf("harness: privateKeyPkcs8: %v", err)
		}
		if _, err := asn1.Unmarshal(p8.Key, &rk); err != nil {
			return 0, fmt.Errorf("harness: RSAPrivateKey: %v", err)
		}
		k = rsaKeyJSON{rk.N.Bytes(), rk.E.Bytes(), rk.D.Bytes(), rk.P.Bytes(), rk.Q.Bytes(), rk.Dp.Bytes(), rk.Dq.Bytes(), rk.QInv.Bytes()}
	}
	t := []*pkcs11.Attribute{
		attr(ck.CKA_MODULUS, unsigned(k.Modulus)),
		attr(ck.CKA_PUBLIC_EXPONENT, unsigned(k.PublicExponent)),
		attr(ck.CKA_PRIVATE_EXPONENT, unsigned(k.PrivateExponent)),
		attr(usage, true),
	}
	if len(k.Prime1) > 0 {
		t = append(t,
			attr(ck.CKA_PRIME_1, unsigned(k.Prime1)),
			attr(ck.CKA_PRIME_2, unsigned(k.Prime2)),
			attr(ck.CKA_EXPONENT_1, unsigned(k.Exponent1)),
			attr(ck.CKA_EXPONENT_2, unsigned(k.Exponent2)),
			attr(ck.CKA_COEFFICIENT, unsigned(k.Coefficient)))
	}
	return s.key(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, t...)
}

// rsaPublicKey imports a group's public key from its key fields.
func (s *session) rsaPublicKey(g *group) (pkcs11.ObjectHandle, error) {
	var k rsaKeyJSON
	if err := json.Unmarshal(g.PublicKey, &k); err != nil {
		return 0, fmt.Errorf("harness: publicKey: %v", err)
	}
	return s.key(ck.CKO_PUBLIC_KEY, ck.CKK_RSA,
		attr(ck.CKA_MODULUS, unsigned(k.Modulus)),
		attr(ck.CKA_PUBLIC_EXPONENT, unsigned(k.PublicExponent)),
		attr(ck.CKA_VERIFY, true),
	)
}

// perGroup imports one key per group and runs fn on each vector; a key that does not import stands for all
// the group's vectors: a skipReason skips them, a harness error fails them, a token error rejects them as
// call's.
func perGroup(s *session, f *vectorFile, call string, key func(g *group) (pkcs11.ObjectHandle, error),
	fn func(g *group, v *vector, key pkcs11.ObjectHandle) outcome) {
	for gi := range f.TestGroups {
		g := &f.TestGroups[gi]
		k, err := key(g)
		var skipped skipReason
		for vi := range g.Tests {
			v := &g.Tests[vi]
			switch {
			case err == nil:
				s.c.record(v, fn(g, v, k))
			case errors.As(err, &skipped):
				s.c.record(v, skip(string(skipped)))
			case strings.HasPrefix(err.Error(), "harness"):
				s.c.record(v, outcome{kind: rejected, rv: uint(ck.CKR_GENERAL_ERROR), detail: err.Error()})
			default:
				s.c.record(v, reject(call, err))
			}
		}
		if err == nil {
			s.destroy(k)
		}
	}
}

// skipReason is the error of a group's key that PKCS#11 cannot express: perGroup skips its vectors.
type skipReason string

func (r skipReason) Error() string { return string(r) }

func runOAEP(s *session, f *vectorFile) {
	if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_RSA_PKCS_OAEP: pkcs11.CKF_DECRYPT}) {
		return
	}
	for _, g := range f.TestGroups {
		if g.MGF != "MGF1" {
			s.c.failAll(f, "harness: mgf "+g.MGF)
			return
		}
	}
	perGroup(s, f, "C_CreateObject", func(g *group) (pkcs11.ObjectHandle, error) { return s.rsaPrivateKey(g, ck.CKA_DECRYPT) },
		func(g *group, v *vector, key pkcs11.ObjectHandle) outcome {
			h, mgf := hashes[g.SHA], hashes[g.MGFSHA]
			p := pkcs11.NewOAEPParams(uint(h.hash), mgf.mgf, ck.CKZ_DATA_SPECIFIED, v.Label)
			pt, err := s.decrypt(mechanism(ck.CKM_RSA_PKCS_OAEP, p), key, v.CT)
			return checked("C_Decrypt", pt, err, v.Msg)
		})
}

func runPKCS1Decrypt(s *session, f *vectorFile) {
	if !s.requireMechs(f, map[ck.MechanismType]uint{ck.CKM_RSA_PKCS: pkcs11.CKF_DECRYPT}) {
		return
	}
	perGroup(s, f, "C_CreateObject", func(g *group) (pkcs11.ObjectHandle, error) { return s.rsaPrivateKey(g, ck.CKA_DECRYPT) },
		func(g *group, v *vector, key pkcs11.ObjectHandle) outcome {
			pt, err := s.decrypt(mechanism(ck.CKM_RSA_PKCS, nil), key, v.CT)
			return checked("C_Decrypt", pt, err, v.Msg)
		})
}

func runPKCS1SigGen(s *session, f *vectorFile) {
	if !s.requireHashMechs(f, pkcs11.CKF_SIGN, func(_ *group, h hashInfo) (ck.MechanismType, bool) { return h.rsaPKCS, true }) {
		return
	}
	perGroup(s, f, "C_CreateObject", func(g *group) (pkcs11.ObjectHandle, error) { return s.rsaPrivateKey(g, ck.CKA_SIGN) },
		func(g *group, v *vector, key pkcs11.ObjectHandle) outcome {
			sig, err := s.sign(mechanism(hashes[g.SHA].rsaPKCS, nil), key, v.Msg)
			// PKCS#1 v1.5 signatures are deterministic: ours must be the vector's.
			return checked("C_Sign", sig, err, v.Sig)
		})
}

func runPKCS1Verify(s *session, f *vectorFile) {
	if !s.requireHashMechs(f, pkcs11.CKF_VERIFY, func(_ *group, h hashInfo) (ck.MechanismType, bool) { return h.rsaPKCS, true }) {
		return
	}
	perGroup(s, f, "C_CreateObject", s.rsaPublicKey, func(g *group, v *vector, key pkcs11.ObjectHandle) outcome {
		return s.verifyOutcome(mechanism(hashes[g.SHA].rsaPKCS, nil), key, v.Msg, v.Sig)
	})
}

func runPSS(s *session, f *vectorFile) {
	if !s.requireHashMechs(f, pkcs11.CKF_VERIFY, func(g *group, h hashInfo) (ck.MechanismType, bool) {
		if _, found := hashOf(s, f, g.MGFSHA); !found || g.MGF != "MGF1" {
			if found {
				s.c.failAll(f, "harness: mgf "+g.MGF)
			}
			return 0, false
		}
		return h.rsaPSS, true
	}) {
		return
	}
	perGroup(s, f, "C_CreateObject", s.rsaPublicKey, func(g *group, v *vector, key pkcs11.ObjectHandle) outcome {
		h := hashes[g.SHA]
		p := pkcs11.NewPSSParams(uint(h.hash), hashes[g.MGFSHA].mgf, uint(g.SLen))
		return s.verifyOutcome(mechanism(h.rsaPSS, p), key, v.Msg, v.Sig)
	})
}

// pkcs11ShortForm reports whether sig, shorter than 2*size bytes, splits into halves r and s that make a valid
// ECDSA signature of msg under the uncompressed public point, as Go's crypto checks it.
func pkcs11ShortForm(size int, point []byte, sha string, msg, sig []byte) bool {
	if len(sig) >= 2*size || len(sig) == 0 || len(sig)%2 != 0 {
		return false
	}
	var curve elliptic.Curve
	switch size {
	case 32:
		curve = elliptic.P256()
	case 48:
		curve = elliptic.P384()
	case 66:
		curve = elliptic.P521()
	default:
		return false
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return false
	}
	var h hash.Hash
	switch sha {
	case "SHA-256":
		h = sha256.New()
	case "SHA-384":
		h = sha512.New384()
	case "SHA-512":
		h = sha512.New()
	default:
		return false
	}
	h.Write(msg)
	half := len(sig) / 2
	return ecdsa.Verify(pub, h.Sum(nil), new(big.Int).SetBytes(sig[:half]), new(big.Int).SetBytes(sig[half:]))
}
