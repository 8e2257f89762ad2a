package mech

//lint:file-ignore SA1019 the tests check CKM_RSA_PKCS, a PKCS#11 mechanism, against Go

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Tests of the CKK_RSA key type (rsa_key.go): import checks, recovery of an unknown exponent and of the
// primes, key pair generation, PKCS#8 and the parsed-key cache.

func TestRSACheckPrivate(t *testing.T) {
	check := KeyTypeOf(ck.CKK_RSA).Check
	good := rsaWPDecryptKey(t)
	add, err := check(ck.CKO_PRIVATE_KEY, good)
	if err != nil {
		t.Fatal(err)
	}
	// Complete values: only CKA_PUBLIC_KEY_INFO follows, and it is the SPKI of (n, e).
	goKey := rsaGoPrivate(t, good)
	spki, _ := x509.MarshalPKIXPublicKey(&goKey.PublicKey)
	if len(add) != 1 || !bytes.Equal(add[ck.CKA_PUBLIC_KEY_INFO], spki) {
		t.Errorf("added %v", add)
	}
	with := func(t ck.AttributeType, v []byte) Attrs {
		a := Attrs{}
		for k, x := range good {
			a[k] = x
		}
		if v == nil {
			delete(a, t)
		} else {
			a[t] = v
		}
		return a
	}
	plus := func(t ck.AttributeType, d int64) []byte {
		return new(big.Int).Add(GetBig(good, t), big.NewInt(d)).Bytes()
	}
	bad := map[string]Attrs{
		"dP":              with(ck.CKA_EXPONENT_1, plus(ck.CKA_EXPONENT_1, 2)),
		"dQ":              with(ck.CKA_EXPONENT_2, plus(ck.CKA_EXPONENT_2, -2)),
		"qInv":            with(ck.CKA_COEFFICIENT, plus(ck.CKA_COEFFICIENT, 1)),
		"qInv + p":        with(ck.CKA_COEFFICIENT, new(big.Int).Add(GetBig(good, ck.CKA_COEFFICIENT), GetBig(good, ck.CKA_PRIME_1)).Bytes()),
		"p":               with(ck.CKA_PRIME_1, plus(ck.CKA_PRIME_1, 2)),
		"p and q swapped": with(ck.CKA_PRIME_2, good[ck.CKA_PRIME_1]),
		"d":               with(ck.CKA_PRIVATE_EXPONENT, plus(ck.CKA_PRIVATE_EXPONENT, 2)),
		"e":               with(ck.CKA_PUBLIC_EXPONENT, []byte{3}),
		"even e":          with(ck.CKA_PUBLIC_EXPONENT, []byte{1, 0, 0}),
		"no coefficient":  with(ck.CKA_COEFFICIENT, nil),
		"no primes":       with(ck.CKA_PRIME_2, nil),
		"d >= n":          with(ck.CKA_PRIVATE_EXPONENT, plus(ck.CKA_MODULUS, 0)),
	}
	// An SPKI of a different key.
	other := *goKey
	other.PublicKey.E = 3
	otherSPKI, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	bad["spki of another key"] = with(ck.CKA_PUBLIC_KEY_INFO, otherSPKI)
	for name, a := range bad {
		if _, err := check(ck.CKO_PRIVATE_KEY, a); rsaRV(err) != ck.CKR_ATTRIBUTE_VALUE_INVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := check(ck.CKO_PRIVATE_KEY, with(ck.CKA_PRIVATE_EXPONENT, nil)); rsaRV(err) != ck.CKR_TEMPLATE_INCOMPLETE {
		t.Errorf("no d: %v", err)
	}
	// The right SPKI is accepted and not added again.
	if add, err := check(ck.CKO_PRIVATE_KEY, with(ck.CKA_PUBLIC_KEY_INFO, spki)); err != nil || len(add) != 0 {
		t.Errorf("with its SPKI: %v %v", add, err)
	}
	// Without e, CRT values present: e follows from them.
	add, err = check(ck.CKO_PRIVATE_KEY, with(ck.CKA_PUBLIC_EXPONENT, nil))
	if err != nil || GetBig(add, ck.CKA_PUBLIC_EXPONENT).Int64() != 65537 || !bytes.Equal(add[ck.CKA_PUBLIC_KEY_INFO], spki) {
		t.Errorf("without e: %v %v", add, err)
	}
	// Without CRT values: they are recovered, equal to the real ones.
	noCRT := Attrs{ck.CKA_MODULUS: good[ck.CKA_MODULUS], ck.CKA_PUBLIC_EXPONENT: good[ck.CKA_PUBLIC_EXPONENT],
		ck.CKA_PRIVATE_EXPONENT: good[ck.CKA_PRIVATE_EXPONENT]}
	add, err = check(ck.CKO_PRIVATE_KEY, noCRT)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range rsaCRTAttrs {
		if GetBig(add, typ).Cmp(GetBig(good, typ)) != 0 {
			t.Errorf("recovered %v differs", typ)
		}
	}
	// An inconsistent d without CRT values is rejected.
	noCRT[ck.CKA_PRIVATE_EXPONENT] = plus(ck.CKA_PRIVATE_EXPONENT, 2)
	if _, err := check(ck.CKO_PRIVATE_KEY, noCRT); rsaRV(err) != ck.CKR_ATTRIBUTE_VALUE_INVALID {
		t.Errorf("inconsistent d without CRT: %v", err)
	}
}

func TestRSACheckPublic(t *testing.T) {
	check := KeyTypeOf(ck.CKK_RSA).Check
	good := rsaWPDecryptKey(t)
	n, e := good[ck.CKA_MODULUS], good[ck.CKA_PUBLIC_EXPONENT]
	add, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: e})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := GetULong(add, ck.CKA_MODULUS_BITS); b != 2048 {
		t.Errorf("CKA_MODULUS_BITS %d", b)
	}
	pk, err := x509.ParsePKIXPublicKey(add[ck.CKA_PUBLIC_KEY_INFO])
	if err != nil || !pk.(*rsa.PublicKey).Equal(&rsa.PublicKey{N: GetBig(good, ck.CKA_MODULUS), E: 65537}) {
		t.Errorf("CKA_PUBLIC_KEY_INFO: %v", err)
	}
	small, _ := rand.Prime(rand.Reader, 512)
	small.Mul(small, big.NewInt(3))
	even := new(big.Int).Add(GetBig(good, ck.CKA_MODULUS), big.NewInt(1))
	huge := new(big.Int).Lsh(big.NewInt(1), 16384)
	huge.Add(huge, big.NewInt(1))
	for name, c := range map[string]struct {
		a  Attrs
		rv ck.RV
	}{
		"512-bit modulus":   {Attrs{ck.CKA_MODULUS: small.Bytes(), ck.CKA_PUBLIC_EXPONENT: e}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"16385-bit modulus": {Attrs{ck.CKA_MODULUS: huge.Bytes(), ck.CKA_PUBLIC_EXPONENT: e}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"even modulus":      {Attrs{ck.CKA_MODULUS: even.Bytes(), ck.CKA_PUBLIC_EXPONENT: e}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"e = 1":             {Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: {1}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"even e":            {Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: {1, 0, 0}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"e >= 2^31":         {Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: {0x80, 0, 0, 1}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"no e":              {Attrs{ck.CKA_MODULUS: n}, ck.CKR_TEMPLATE_INCOMPLETE},
		"no n":              {Attrs{ck.CKA_PUBLIC_EXPONENT: e}, ck.CKR_TEMPLATE_INCOMPLETE},
		"bits":              {Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: e, ck.CKA_MODULUS_BITS: ck.ULong(2047)}, ck.CKR_TEMPLATE_INCONSISTENT},
		"spki":              {Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: {3}, ck.CKA_PUBLIC_KEY_INFO: add[ck.CKA_PUBLIC_KEY_INFO]}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
	} {
		if _, err := check(ck.CKO_PUBLIC_KEY, c.a); rsaRV(err) != c.rv {
			t.Errorf("%s: got %v, want %v", name, err, c.rv)
		}
	}
	// A leading zero byte is the same integer.
	if add, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_MODULUS: append([]byte{0}, n...), ck.CKA_PUBLIC_EXPONENT: append([]byte{0}, e...)}); err != nil ||
		!bytes.Equal(add[ck.CKA_MODULUS_BITS], ck.ULong(2048)) {
		t.Errorf("leading zeros: %v", err)
	}
}

// TestRSAUnknownExponent covers a private key given as n and d only whose exponent is not a usual one: it is
// accepted and does the raw operation (CKM_RSA_X_509, CKM_RSA_PKCS signatures).
func TestRSAUnknownExponent(t *testing.T) {
	kp := rsaTestPair(t)
	p, q := kp.goKey.Primes[0], kp.goKey.Primes[1]
	pm1, qm1 := new(big.Int).Sub(p, big.NewInt(1)), new(big.Int).Sub(q, big.NewInt(1))
	lambda := new(big.Int).Mul(pm1, qm1)
	lambda.Quo(lambda, new(big.Int).GCD(nil, nil, pm1, qm1))
	var e int64
	var d *big.Int
	for e = 65539; ; e += 2 {
		if d = new(big.Int).ModInverse(big.NewInt(e), lambda); d != nil {
			break
		}
	}
	n := kp.goKey.N
	pub := &rsa.PublicKey{N: n, E: int(e)}
	check := KeyTypeOf(ck.CKK_RSA).Check

	// With the CRT values, e follows from them.
	full := Attrs{ck.CKA_MODULUS: n.Bytes(), ck.CKA_PRIVATE_EXPONENT: d.Bytes(), ck.CKA_PRIME_1: p.Bytes(),
		ck.CKA_PRIME_2: q.Bytes(), ck.CKA_EXPONENT_1: new(big.Int).Mod(d, pm1).Bytes(),
		ck.CKA_EXPONENT_2: new(big.Int).Mod(d, qm1).Bytes(), ck.CKA_COEFFICIENT: new(big.Int).ModInverse(q, p).Bytes()}
	if add, err := check(ck.CKO_PRIVATE_KEY, full); err != nil || GetBig(add, ck.CKA_PUBLIC_EXPONENT).Int64() != e {
		t.Errorf("implied exponent: %v %v", add, err)
	}

	// n and d only: accepted, nothing follows.
	a := Attrs{ck.CKA_MODULUS: n.Bytes(), ck.CKA_PRIVATE_EXPONENT: d.Bytes()}
	key, add := rsaChecked(t, ck.CKO_PRIVATE_KEY, a)
	if len(add) != 0 {
		t.Errorf("added %v", add)
	}
	pubKey, _ := rsaChecked(t, ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_MODULUS: n.Bytes(), ck.CKA_PUBLIC_EXPONENT: big.NewInt(e).Bytes()})

	// CKM_RSA_PKCS signature, checked by crypto/rsa.
	di := rsaDigestInfoOf(t, crypto.SHA256, []byte("abc"))
	op, err := rsaSpec(t, ck.CKM_RSA_PKCS).Sign(Param{}, key)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := rsaSingleRun(t, op, di)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, rsaDigest(crypto.SHA256, []byte("abc")), sig); err != nil {
		t.Errorf("PKCS #1 signature: %v", err)
	}
	// CKM_RSA_X_509 decryption of what crypto/rsa encrypted: 00 02 PS 00 msg.
	ct, _ := rsa.EncryptPKCS1v15(rand.Reader, pub, []byte("secret"))
	op, err = rsaSpec(t, ck.CKM_RSA_X_509).Decrypt(Param{}, key)
	if err != nil {
		t.Fatal(err)
	}
	em, err := rsaSingleRun(t, op, ct)
	if err != nil || em[0] != 0 || em[1] != 2 || !bytes.HasSuffix(em, []byte("\x00secret")) {
		t.Errorf("raw decryption: %x %v", em, err)
	}
	// CKM_RSA_X_509 sign and verify-recover.
	op, _ = rsaSpec(t, ck.CKM_RSA_X_509).Sign(Param{}, key)
	sig, err = rsaSingleRun(t, op, []byte("raw"))
	if err != nil {
		t.Fatal(err)
	}
	vr, _ := rsaSpec(t, ck.CKM_RSA_X_509).VerifyRecover(Param{}, pubKey)
	if got, err := vr.Single(sig); err != nil || !bytes.HasSuffix(got, []byte("raw")) || len(got) != 256 {
		t.Errorf("raw verify-recover: %x %v", got, err)
	}
	// What needs crypto/rsa is refused; the key cannot be wrapped.
	if _, err := rsaSpec(t, ck.CKM_SHA256_RSA_PKCS).Sign(Param{}, key); rsaRV(err) != ck.CKR_KEY_FUNCTION_NOT_PERMITTED {
		t.Errorf("hashed signature: %v", err)
	}
	if _, err := rsaSpec(t, ck.CKM_RSA_PKCS).Decrypt(Param{}, key); rsaRV(err) != ck.CKR_KEY_FUNCTION_NOT_PERMITTED {
		t.Errorf("PKCS decryption: %v", err)
	}
	if _, err := KeyTypeOf(ck.CKK_RSA).PKCS8(key.Attrs); rsaRV(err) != ck.CKR_KEY_NOT_WRAPPABLE {
		t.Errorf("PKCS8: %v", err)
	}
}

// ---- a generated key ----

func TestRSAGenerateKeyPair(t *testing.T) {
	kp := rsaTestPair(t)
	n := GetBig(kp.pubAttrs, ck.CKA_MODULUS)
	if n.BitLen() != 2048 || len(kp.pubAttrs[ck.CKA_MODULUS]) != 256 {
		t.Errorf("modulus of %d bits", n.BitLen())
	}
	if !bytes.Equal(kp.pubAttrs[ck.CKA_PUBLIC_EXPONENT], []byte{1, 0, 1}) ||
		!bytes.Equal(kp.privAttrs[ck.CKA_PUBLIC_EXPONENT], []byte{1, 0, 1}) {
		t.Error("public exponent")
	}
	for _, typ := range []ck.AttributeType{ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT, ck.CKA_PRIVATE_EXPONENT,
		ck.CKA_PRIME_1, ck.CKA_PRIME_2, ck.CKA_EXPONENT_1, ck.CKA_EXPONENT_2, ck.CKA_COEFFICIENT, ck.CKA_PUBLIC_KEY_INFO} {
		if len(kp.privAttrs[typ]) == 0 {
			t.Errorf("private key lacks %v", typ)
		}
	}
	if _, ok := kp.pubAttrs[ck.CKA_PRIVATE_EXPONENT]; ok {
		t.Error("public key has CKA_PRIVATE_EXPONENT")
	}
	for _, a := range []Attrs{kp.pubAttrs, kp.privAttrs} {
		pk, err := x509.ParsePKIXPublicKey(a[ck.CKA_PUBLIC_KEY_INFO])
		if err != nil || !pk.(*rsa.PublicKey).Equal(&kp.goKey.PublicKey) {
			t.Errorf("CKA_PUBLIC_KEY_INFO: %v", err)
		}
	}
	// The generated values pass Check (as an imported key would), adding nothing.
	for class, a := range map[ck.ObjectClass]Attrs{ck.CKO_PUBLIC_KEY: kp.pubAttrs, ck.CKO_PRIVATE_KEY: kp.privAttrs} {
		if add, err := KeyTypeOf(ck.CKK_RSA).Check(class, a); err != nil || len(add) != 0 {
			t.Errorf("Check(%v): %v %v", class, add, err)
		}
	}
	// CRT values as PKCS#11 defines them.
	g := kp.goKey
	p, q, d := g.Primes[0], g.Primes[1], g.D
	if GetBig(kp.privAttrs, ck.CKA_EXPONENT_1).Cmp(new(big.Int).Mod(d, new(big.Int).Sub(p, big.NewInt(1)))) != 0 ||
		GetBig(kp.privAttrs, ck.CKA_COEFFICIENT).Cmp(new(big.Int).ModInverse(q, p)) != 0 {
		t.Error("CRT values")
	}

	gen := rsaSpec(t, ck.CKM_RSA_PKCS_KEY_PAIR_GEN).GenerateKeyPair
	for name, c := range map[string]struct {
		p    Param
		tmpl Attrs
		rv   ck.RV
	}{
		"no bits":    {Param{}, Attrs{}, ck.CKR_TEMPLATE_INCOMPLETE},
		"short bits": {Param{}, Attrs{ck.CKA_MODULUS_BITS: {0, 8}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"1024 bits":  {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(1024)}, ck.CKR_KEY_SIZE_RANGE},
		"2047 bits":  {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2047)}, ck.CKR_KEY_SIZE_RANGE},
		"8192 bits":  {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(8192)}, ck.CKR_KEY_SIZE_RANGE},
		"exponent 3": {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048), ck.CKA_PUBLIC_EXPONENT: {3}}, ck.CKR_TEMPLATE_INCONSISTENT},
		"exponent 0": {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048), ck.CKA_PUBLIC_EXPONENT: {0}}, ck.CKR_TEMPLATE_INCONSISTENT},
		"parameter":  {Param{Present: true, Raw: []byte{1}}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048)}, ck.CKR_MECHANISM_PARAM_INVALID},
		"empty exp.": {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048), ck.CKA_PUBLIC_EXPONENT: {}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"huge exp.":  {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048), ck.CKA_PUBLIC_EXPONENT: bytes.Repeat([]byte{1}, 12)}, ck.CKR_TEMPLATE_INCONSISTENT},
		"4095 bits":  {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(4095)}, ck.CKR_KEY_SIZE_RANGE},
	} {
		if _, _, err := gen(c.p, c.tmpl, Attrs{}); rsaRV(err) != c.rv {
			t.Errorf("%s: got %v, want %v", name, err, c.rv)
		}
	}
}

func TestRSAPKCS8(t *testing.T) {
	kp := rsaTestPair(t)
	kt := KeyTypeOf(ck.CKK_RSA)
	der, err := kt.PKCS8(kp.privAttrs)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil || !k.(*rsa.PrivateKey).Equal(kp.goKey) {
		t.Fatalf("crypto/x509 reads another key: %v", err)
	}
	a, err := kt.ParsePKCS8(der)
	if err != nil {
		t.Fatal(err)
	}
	for typ, v := range kp.privAttrs {
		if typ == ck.CKA_PUBLIC_KEY_INFO {
			continue
		}
		if !bytes.Equal(a[typ], v) {
			t.Errorf("%v differs after the round trip", typ)
		}
	}
	if len(a) != 8 {
		t.Errorf("%d attributes", len(a))
	}
	// crypto/x509's encoding of a Wycheproof key reads back to the Wycheproof values.
	good := rsaWPDecryptKey(t)
	der, _ = x509.MarshalPKCS8PrivateKey(rsaGoPrivate(t, good))
	a, err = kt.ParsePKCS8(der)
	if err != nil {
		t.Fatal(err)
	}
	for typ, v := range good {
		if GetBig(a, typ).Cmp(new(big.Int).SetBytes(v)) != 0 {
			t.Errorf("Wycheproof key: %v differs", typ)
		}
	}
	// Not RSA, not PKCS#8.
	if _, err := kt.ParsePKCS8(der[:len(der)-1]); rsaRV(err) != ck.CKR_WRAPPED_KEY_INVALID {
		t.Errorf("truncated: %v", err)
	}
	ecDER := rsaHex(t, "3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420"+
		"c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
	if _, err := kt.ParsePKCS8(ecDER); rsaRV(err) != ck.CKR_WRAPPED_KEY_INVALID {
		t.Errorf("EC key: %v", err)
	}
	if _, err := kt.PKCS8(Attrs{ck.CKA_MODULUS: kp.privAttrs[ck.CKA_MODULUS]}); rsaRV(err) != ck.CKR_KEY_NOT_WRAPPABLE {
		t.Errorf("incomplete key: %v", err)
	}
}

// TestRSAKeyCache checks that the parsed key lives in the object's cache and that a key too small for the
// mechanisms is refused at init.
func TestRSAKeyCache(t *testing.T) {
	kp := rsaTestPair(t)
	cache := &Cache{}
	key := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, kp.privAttrs, cache)
	a, err := rsaPrivateOf(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rsaPrivateOf(NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, nil, cache))
	if a != b || a.key == nil || a.key.Precomputed.Dp == nil {
		t.Error("parsed key not cached, or not precomputed")
	}
	small, _ := rand.Prime(rand.Reader, 512)
	tiny := NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_RSA, Attrs{ck.CKA_MODULUS: small.Bytes(), ck.CKA_PUBLIC_EXPONENT: {3}}, nil)
	_, err = rsaSpec(t, ck.CKM_RSA_PKCS).Encrypt(Param{}, tiny)
	rsaWantRV(t, "512-bit key", err, ck.CKR_KEY_SIZE_RANGE)
	if !errors.Is(err, ck.CKR_KEY_SIZE_RANGE) {
		t.Error("not an RV")
	}
}
