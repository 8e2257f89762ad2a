package mech

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"hash"
	"math/big"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// RSA (PKCS#11 3.0 "Current Mechanisms", section 2.1): the CKK_RSA key type, CKM_RSA_PKCS_KEY_PAIR_GEN,
// CKM_RSA_PKCS (PKCS #1 v1.5), CKM_RSA_X_509 (raw RSA), CKM_RSA_PKCS_PSS and CKM_RSA_PKCS_OAEP, and the
// hash-and-sign mechanisms CKM_SHA1/224/256/384/512_RSA_PKCS(_PSS) and CKM_SHA3_224/256/384/512_RSA_PKCS(_PSS).
//
// Every padding and every private-key operation goes through crypto/rsa, with three exceptions that Go has no
// API for and that are written here (the first two on math/big):
//   - the raw RSA private operation of CKM_RSA_X_509 (decrypt, sign, sign-recover, unwrap), and of
//     CKM_RSA_PKCS signing with a private key whose public exponent is unknown: CRT with base blinding,
//     exponent blinding of dP and dQ, and a check of the result against the public exponent when it is
//     known (rsaPrivate.raw). math/big is not constant-time; the blinding is what protects d.
//   - recovering p and q of an imported private key given as (n, e, d) only (rsaFactor), once, at import
//     (the CRT values are then added to the object) or when a stored key without them is first used.
//   - PSS with an empty salt or with MGF1 over another hash than the message's: EMSA-PSS-ENCODE and
//     EMSA-PSS-VERIFY (RFC 8017, section 9.1), signed with the raw private operation above and verified with
//     a public exponentiation (rsaPSSParams).
// Public-key operations without padding (CKM_RSA_X_509 encrypt/verify/verify-recover, CKM_RSA_PKCS
// verify-recover) are math/big exponentiations of public values.
// The private-key operations are reached through rsaPrivate.ops (rsa_backend.go): the above by default,
// libcrypto in a build with the openssl tag (rsa_openssl.go).

const (
	// Modulus sizes, in bits, of the keys the operations take (CK_MECHANISM_INFO of every RSA mechanism but
	// key generation) and that an imported key may have.
	rsaMinBits = 1024
	rsaMaxBits = 16384
	// Modulus sizes key generation makes (any multiple of 8 in this range); the minimum is the default of
	// the daemon's min_rsa_bits (rsa_policy.go).
	rsaGenMinBits = 2048
	rsaGenMaxBits = 4096
	// crypto/rsa takes public exponents up to 2^31-1.
	rsaMaxExponent = 1<<31 - 1
	// The exponent key generation uses: crypto/rsa.GenerateKey makes no other.
	rsaGenExponent = 65537
)

var (
	rsaOne = big.NewInt(1)
	// rsaGuessExponents are tried, in order, for an imported private key that has neither its public
	// exponent nor its primes.
	rsaGuessExponents = []int{65537, 3, 5, 7, 11, 13, 17, 19, 23, 257}
	// rsaMGFs maps CK_RSA_PKCS_MGF_TYPE to MGF1's hash.
	rsaMGFs = map[uint64]crypto.Hash{
		ck.CKG_MGF1_SHA1:     crypto.SHA1,
		ck.CKG_MGF1_SHA224:   crypto.SHA224,
		ck.CKG_MGF1_SHA256:   crypto.SHA256,
		ck.CKG_MGF1_SHA384:   crypto.SHA384,
		ck.CKG_MGF1_SHA512:   crypto.SHA512,
		ck.CKG_MGF1_SHA3_224: crypto.SHA3_224,
		ck.CKG_MGF1_SHA3_256: crypto.SHA3_256,
		ck.CKG_MGF1_SHA3_384: crypto.SHA3_384,
		ck.CKG_MGF1_SHA3_512: crypto.SHA3_512,
	}
	// rsaCRTAttrs are the optional CRT values of a private key, in the order rsaPrivate.setCRT takes them.
	rsaCRTAttrs = []ck.AttributeType{ck.CKA_PRIME_1, ck.CKA_PRIME_2, ck.CKA_EXPONENT_1, ck.CKA_EXPONENT_2,
		ck.CKA_COEFFICIENT}
)

// ---- keys ----

// rsaExponent decodes a public exponent crypto/rsa can use: odd, 3 ... 2^31-1.
func rsaExponent(v []byte) (int, bool) {
	e := new(big.Int).SetBytes(v)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > rsaMaxExponent || e.Bit(0) == 0 {
		return 0, false
	}
	return int(e.Int64()), true
}

// rsaCheckModulus accepts an odd modulus of rsaMinBits ... rsaMaxBits bits.
func rsaCheckModulus(n *big.Int) error {
	if b := n.BitLen(); b < rsaMinBits || b > rsaMaxBits || n.Bit(0) == 0 {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	return nil
}

// rsaParsePublic reads a public key object's CKA_MODULUS and CKA_PUBLIC_EXPONENT.
func rsaParsePublic(a Attrs) (*rsa.PublicKey, error) {
	n := GetBig(a, ck.CKA_MODULUS)
	ev := a[ck.CKA_PUBLIC_EXPONENT]
	if n == nil || len(ev) == 0 {
		return nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	if err := rsaCheckModulus(n); err != nil {
		return nil, err
	}
	e, ok := rsaExponent(ev)
	if !ok || big.NewInt(int64(e)).Cmp(n) >= 0 {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

// rsaPrivate is a parsed private key. key is nil when the public exponent is unknown (a key imported as n
// and d only, with an exponent none of rsaGuessExponents): then only the raw operation works.
type rsaPrivate struct {
	pub                rsa.PublicKey // E is 0 when unknown
	d                  *big.Int
	p, q, dp, dq, qinv *big.Int // nil without CRT values
	key                *rsa.PrivateKey
	// ops does the private-key operations (rsa_backend.go); set by rsaPrivateOf.
	ops rsaPrivateOps
}

func (k *rsaPrivate) size() int { return (k.pub.N.BitLen() + 7) / 8 }

// rsaParsePrivate reads and checks a private key object's attributes. It returns the attributes that follow
// from them and that they lack: the CRT values recovered from (n, e, d), the public exponent when it had to
// be found.
func rsaParsePrivate(a Attrs) (*rsaPrivate, Attrs, error) {
	n := GetBig(a, ck.CKA_MODULUS)
	d := GetBig(a, ck.CKA_PRIVATE_EXPONENT)
	if n == nil || d == nil {
		return nil, nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	if err := rsaCheckModulus(n); err != nil {
		return nil, nil, err
	}
	if d.Sign() <= 0 || d.Cmp(n) >= 0 {
		return nil, nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	k := &rsaPrivate{pub: rsa.PublicKey{N: n}, d: d}
	add := Attrs{}
	if v := a[ck.CKA_PUBLIC_EXPONENT]; len(v) > 0 {
		e, ok := rsaExponent(v)
		if !ok || big.NewInt(int64(e)).Cmp(n) >= 0 {
			return nil, nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		k.pub.E = e
	}
	var crt [5]*big.Int
	given := 0
	for i, t := range rsaCRTAttrs {
		if crt[i] = GetBig(a, t); crt[i] != nil {
			given++
		}
	}
	switch given {
	case 5:
		if err := k.setCRT(crt[0], crt[1], crt[2], crt[3], crt[4]); err != nil {
			return nil, nil, err
		}
		if k.pub.E == 0 {
			// e = d^-1 mod lcm(p-1, q-1): the public exponent the CRT values imply.
			e, ok := k.impliedExponent()
			if !ok {
				return nil, nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
			}
			if e != 0 {
				k.pub.E = e
				add[ck.CKA_PUBLIC_EXPONENT] = big.NewInt(int64(e)).Bytes()
			}
		}
	case 0:
		switch {
		case k.pub.E != 0:
			p, q := rsaFactor(n, d, k.pub.E)
			if p == nil {
				return nil, nil, ck.CKR_ATTRIBUTE_VALUE_INVALID // d is not e's inverse
			}
			k.setRecovered(p, q)
		default:
			for _, e := range rsaGuessExponents {
				if p, q := rsaFactor(n, d, e); p != nil {
					k.pub.E = e
					k.setRecovered(p, q)
					add[ck.CKA_PUBLIC_EXPONENT] = big.NewInt(int64(e)).Bytes()
					break
				}
			}
		}
		if k.p != nil {
			for i, v := range []*big.Int{k.p, k.q, k.dp, k.dq, k.qinv} {
				add[rsaCRTAttrs[i]] = v.Bytes()
			}
		}
	default:
		// CRT values are all given or none.
		return nil, nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	if k.pub.E != 0 {
		key := &rsa.PrivateKey{PublicKey: k.pub, D: d, Primes: []*big.Int{k.p, k.q}}
		key.Precompute()
		if err := key.Validate(); err != nil {
			return nil, nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		k.key = key
	}
	return k, add, nil
}

// setCRT checks given CRT values against n and d: p*q = n, dP = d mod (p-1), dQ = d mod (q-1),
// qInv*q = 1 mod p (and, when e is known, e*d = 1 mod p-1 and q-1, through Validate).
func (k *rsaPrivate) setCRT(p, q, dp, dq, qinv *big.Int) error {
	if p.Cmp(rsaOne) <= 0 || q.Cmp(rsaOne) <= 0 || p.Cmp(q) == 0 ||
		new(big.Int).Mul(p, q).Cmp(k.pub.N) != 0 {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	pm1 := new(big.Int).Sub(p, rsaOne)
	qm1 := new(big.Int).Sub(q, rsaOne)
	if new(big.Int).Mod(k.d, pm1).Cmp(dp) != 0 || new(big.Int).Mod(k.d, qm1).Cmp(dq) != 0 {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	if qinv.Cmp(p) >= 0 {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	if t := new(big.Int).Mul(qinv, q); t.Mod(t, p).Cmp(rsaOne) != 0 {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	k.p, k.q, k.dp, k.dq, k.qinv = p, q, dp, dq, qinv
	return nil
}

// setRecovered sets the CRT values from recovered primes.
func (k *rsaPrivate) setRecovered(p, q *big.Int) {
	if p.Cmp(q) < 0 {
		p, q = q, p
	}
	k.p, k.q = p, q
	k.dp = new(big.Int).Mod(k.d, new(big.Int).Sub(p, rsaOne))
	k.dq = new(big.Int).Mod(k.d, new(big.Int).Sub(q, rsaOne))
	k.qinv = new(big.Int).ModInverse(q, p)
}

// impliedExponent returns d^-1 mod lcm(p-1, q-1); 0 (and ok) when it is valid but too large for
// crypto/rsa, not ok when d has no inverse or the inverse is not a usable exponent.
func (k *rsaPrivate) impliedExponent() (int, bool) {
	pm1 := new(big.Int).Sub(k.p, rsaOne)
	qm1 := new(big.Int).Sub(k.q, rsaOne)
	g := new(big.Int).GCD(nil, nil, pm1, qm1)
	lambda := new(big.Int).Mul(pm1, qm1)
	lambda.Quo(lambda, g)
	e := new(big.Int).ModInverse(k.d, lambda)
	if e == nil || e.Cmp(big.NewInt(3)) < 0 {
		return 0, false
	}
	if !e.IsInt64() || e.Int64() > rsaMaxExponent {
		return 0, true
	}
	return int(e.Int64()), true
}

// rsaFactor recovers p and q from (n, e, d) (the probabilistic method of NIST SP 800-56B, appendix C), or
// returns nil when e*d - 1 is not a multiple of the group's exponent (a wrong e, or an inconsistent key).
// It runs once per key; math/big is not constant-time (see the file comment).
func rsaFactor(n, d *big.Int, e int) (p, q *big.Int) {
	kk := new(big.Int).Mul(d, big.NewInt(int64(e)))
	kk.Sub(kk, rsaOne)
	if kk.Sign() <= 0 {
		return nil, nil
	}
	t := kk.TrailingZeroBits()
	if t == 0 {
		return nil, nil
	}
	r := new(big.Int).Rsh(kk, t)
	defer rsaWipe(kk, r)
	nm1 := new(big.Int).Sub(n, rsaOne)
	y, x := new(big.Int), new(big.Int)
	defer rsaWipe(y, x)
	for g := int64(2); g < 42; g++ { // 40 bases: a genuine key fails with probability 2^-40
		gb := big.NewInt(g)
		if f := new(big.Int).GCD(nil, nil, gb, n); f.Cmp(rsaOne) != 0 {
			return rsaSplit(n, f, kk)
		}
		y.Exp(gb, r, n)
		if y.Cmp(rsaOne) == 0 || y.Cmp(nm1) == 0 {
			continue
		}
		for i := uint(0); i < t; i++ {
			x.Mul(y, y).Mod(x, n)
			if x.Cmp(rsaOne) == 0 {
				// y is a non-trivial square root of 1.
				return rsaSplit(n, new(big.Int).GCD(nil, nil, y.Sub(y, rsaOne), n), kk)
			}
			if x.Cmp(nm1) == 0 {
				break
			}
			y.Set(x)
		}
		if x.Cmp(nm1) != 0 {
			// g^(e*d-1) != 1: d is not e's inverse.
			return nil, nil
		}
	}
	return nil, nil
}

// rsaSplit returns n's factors f and n/f if f splits n and e*d = 1 modulo f-1 and n/f-1 (so that e is the
// key's exponent, not merely one that happened to factor n).
func rsaSplit(n, f, kk *big.Int) (p, q *big.Int) {
	if f.Cmp(rsaOne) <= 0 || f.Cmp(n) >= 0 {
		return nil, nil
	}
	q, rem := new(big.Int).QuoRem(n, f, new(big.Int))
	if rem.Sign() != 0 {
		return nil, nil
	}
	for _, x := range []*big.Int{f, q} {
		if rem.Mod(kk, new(big.Int).Sub(x, rsaOne)).Sign() != 0 {
			return nil, nil
		}
	}
	return f, q
}

// rsaWipe zeroes big integers holding secrets (their words, where Go allows).
func rsaWipe(xs ...*big.Int) {
	for _, x := range xs {
		if x != nil {
			clear(x.Bits())
			x.SetInt64(0)
		}
	}
}

func rsaWipeKey(k *rsa.PrivateKey) {
	rsaWipe(k.D, k.Precomputed.Dp, k.Precomputed.Dq, k.Precomputed.Qinv)
	rsaWipe(k.Primes...)
}

// raw computes c^d mod n for c < n: the self-written private operation (see the file comment).
func (k *rsaPrivate) raw(c *big.Int) (*big.Int, error) {
	n := k.pub.N
	r, err := rsaUnit(n)
	if err != nil {
		return nil, err
	}
	defer rsaWipe(r)
	if k.pub.E != 0 {
		// Blind with r^e: (c*r^e)^d = c^d * r.
		e := big.NewInt(int64(k.pub.E))
		rInv := new(big.Int).ModInverse(r, n)
		cb := new(big.Int).Exp(r, e, n)
		cb.Mul(cb, c).Mod(cb, n)
		m := k.exp(cb)
		m.Mul(m, rInv).Mod(m, n)
		rsaWipe(rInv, cb)
		// A fault (or an inconsistent key) must not release a wrong result.
		if new(big.Int).Exp(m, e, n).Cmp(c) != 0 {
			rsaWipe(m)
			return nil, ck.CKR_FUNCTION_FAILED
		}
		return m, nil
	}
	// e unknown: blind with r and remove r^d.
	rd := k.exp(r)
	rdInv := new(big.Int).ModInverse(rd, n)
	if rdInv == nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	cb := new(big.Int).Mul(c, r)
	cb.Mod(cb, n)
	m := k.exp(cb)
	m.Mul(m, rdInv).Mod(m, n)
	rsaWipe(rd, rdInv, cb)
	return m, nil
}

// exp computes x^d mod n, with CRT and randomized exponents when the primes are known.
func (k *rsaPrivate) exp(x *big.Int) *big.Int {
	if k.p == nil {
		return new(big.Int).Exp(x, k.d, k.pub.N)
	}
	ep := rsaBlindExponent(k.dp, k.p)
	eq := rsaBlindExponent(k.dq, k.q)
	m1 := new(big.Int).Exp(x, ep, k.p)
	m2 := new(big.Int).Exp(x, eq, k.q)
	h := new(big.Int).Sub(m1, m2)
	h.Mul(h, k.qinv).Mod(h, k.p)
	m := h.Mul(h, k.q)
	m.Add(m, m2)
	rsaWipe(ep, eq, m1, m2)
	return m
}

// rsaBlindExponent returns dx + r*(prime-1) for a random 64-bit r: the same exponent modulo prime-1.
func rsaBlindExponent(dx, prime *big.Int) *big.Int {
	var b [8]byte
	_, _ = rand.Read(b[:])
	r := new(big.Int).SetBytes(b[:])
	r.Mul(r, new(big.Int).Sub(prime, rsaOne))
	return r.Add(r, dx)
}

// rsaUnit returns a random invertible element of Z/nZ.
func rsaUnit(n *big.Int) (*big.Int, error) {
	for range 64 {
		r, err := rand.Int(rand.Reader, n)
		if err != nil {
			return nil, ck.CKR_FUNCTION_FAILED
		}
		if r.Cmp(rsaOne) > 0 && new(big.Int).GCD(nil, nil, r, n).Cmp(rsaOne) == 0 {
			return r, nil
		}
	}
	return nil, ck.CKR_FUNCTION_FAILED
}

// rsaRawPublic computes in^e mod n; ok is false when in, as an integer, is not below n.
func rsaRawPublic(pub *rsa.PublicKey, in []byte) (*big.Int, bool) {
	x := new(big.Int).SetBytes(in)
	if x.Cmp(pub.N) >= 0 {
		return nil, false
	}
	return x.Exp(x, big.NewInt(int64(pub.E)), pub.N), true
}

func rsaBytes(x *big.Int, k int) []byte { return x.FillBytes(make([]byte, k)) }

func rsaSPKI(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return der, nil
}

// rsaSameSPKI reports whether der is a SubjectPublicKeyInfo of pub.
func rsaSameSPKI(der []byte, pub *rsa.PublicKey) bool {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return false
	}
	rk, ok := k.(*rsa.PublicKey)
	return ok && rk.Equal(pub)
}

// rsaCheck is CKK_RSA's KeyTypeSpec.Check.
func rsaCheck(class ck.ObjectClass, a Attrs) (Attrs, error) {
	var pub *rsa.PublicKey
	add := Attrs{}
	switch class {
	case ck.CKO_PUBLIC_KEY:
		var err error
		if pub, err = rsaParsePublic(a); err != nil {
			return nil, err
		}
		bits := uint64(pub.N.BitLen())
		if v, ok := a[ck.CKA_MODULUS_BITS]; ok && len(v) > 0 {
			if b, ok := GetULong(a, ck.CKA_MODULUS_BITS); !ok || b != bits {
				return nil, ck.CKR_TEMPLATE_INCONSISTENT
			}
		} else {
			add[ck.CKA_MODULUS_BITS] = ULong(bits)
		}
	case ck.CKO_PRIVATE_KEY:
		k, derived, err := rsaParsePrivate(a)
		if err != nil {
			return nil, err
		}
		add = derived
		if k.pub.E != 0 {
			pub = &k.pub
		}
	default:
		return nil, ck.CKR_TEMPLATE_INCONSISTENT
	}
	if pub != nil {
		if v := a[ck.CKA_PUBLIC_KEY_INFO]; len(v) > 0 {
			if !rsaSameSPKI(v, pub) {
				return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
			}
		} else {
			spki, err := rsaSPKI(pub)
			if err != nil {
				return nil, err
			}
			add[ck.CKA_PUBLIC_KEY_INFO] = spki
		}
	}
	return add, nil
}

// rsaPKCS8 is CKK_RSA's KeyTypeSpec.PKCS8.
func rsaPKCS8(a Attrs) ([]byte, error) {
	k, _, err := rsaParsePrivate(a)
	if err != nil || k.key == nil {
		return nil, ck.CKR_KEY_NOT_WRAPPABLE
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return nil, ck.CKR_KEY_NOT_WRAPPABLE
	}
	return der, nil
}

// rsaParsePKCS8 is CKK_RSA's KeyTypeSpec.ParsePKCS8.
func rsaParsePKCS8(der []byte) (Attrs, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, ck.CKR_WRAPPED_KEY_INVALID
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, ck.CKR_WRAPPED_KEY_INVALID
	}
	defer rsaWipeKey(rk)
	if len(rk.Primes) != 2 {
		return nil, ck.CKR_WRAPPED_KEY_INVALID // multi-prime keys have no PKCS#11 form
	}
	rk.Precompute()
	if rk.Precomputed.Dp == nil {
		return nil, ck.CKR_WRAPPED_KEY_INVALID
	}
	return rsaPrivateAttrs(rk, big.NewInt(int64(rk.E)).Bytes()), nil
}

// rsaPrivateAttrs returns a private key's values as attributes (fresh slices).
func rsaPrivateAttrs(k *rsa.PrivateKey, e []byte) Attrs {
	return Attrs{
		ck.CKA_MODULUS:          k.N.Bytes(),
		ck.CKA_PUBLIC_EXPONENT:  append([]byte{}, e...),
		ck.CKA_PRIVATE_EXPONENT: k.D.Bytes(),
		ck.CKA_PRIME_1:          k.Primes[0].Bytes(),
		ck.CKA_PRIME_2:          k.Primes[1].Bytes(),
		ck.CKA_EXPONENT_1:       k.Precomputed.Dp.Bytes(),
		ck.CKA_EXPONENT_2:       k.Precomputed.Dq.Bytes(),
		ck.CKA_COEFFICIENT:      k.Precomputed.Qinv.Bytes(),
	}
}

// rsaKeyError maps a stored key that does not parse to what an operation's init returns.
func rsaKeyError(a Attrs) error {
	if n := GetBig(a, ck.CKA_MODULUS); n != nil && (n.BitLen() < rsaMinBits || n.BitLen() > rsaMaxBits) {
		return ck.CKR_KEY_SIZE_RANGE
	}
	return ck.CKR_FUNCTION_FAILED
}

// rsaPublicOf returns a public key object's parsed key, cached in the object.
func rsaPublicOf(k *Key) (*rsa.PublicKey, error) {
	if k.Class != ck.CKO_PUBLIC_KEY || k.Type != ck.CKK_RSA {
		return nil, ck.CKR_KEY_TYPE_INCONSISTENT
	}
	v, err := k.Parsed("rsa.public", func() (any, error) { return rsaParsePublic(k.Attrs) })
	if err != nil {
		return nil, rsaKeyError(k.Attrs)
	}
	return v.(*rsa.PublicKey), nil
}

// rsaPrivateOf returns a private key object's parsed key (a precomputed *rsa.PrivateKey), cached in the
// object.
func rsaPrivateOf(k *Key) (*rsaPrivate, error) {
	if k.Class != ck.CKO_PRIVATE_KEY || k.Type != ck.CKK_RSA {
		return nil, ck.CKR_KEY_TYPE_INCONSISTENT
	}
	v, err := k.Parsed("rsa.private", func() (any, error) {
		p, _, err := rsaParsePrivate(k.Attrs)
		if err != nil {
			return nil, err
		}
		p.ops = rsaNewOps(p)
		return p, nil
	})
	if err != nil {
		return nil, rsaKeyError(k.Attrs)
	}
	return v.(*rsaPrivate), nil
}

// rsaGoKeyOf is rsaPrivateOf for the mechanisms that need crypto/rsa (a known public exponent).
func rsaGoKeyOf(k *Key) (*rsa.PrivateKey, error) {
	p, err := rsaPrivateOf(k)
	if err != nil {
		return nil, err
	}
	if p.key == nil {
		return nil, ck.CKR_KEY_FUNCTION_NOT_PERMITTED
	}
	return p.key, nil
}

// ---- key pair generation ----

func rsaGenerateKeyPair(p Param, public, private Attrs) (Attrs, Attrs, error) {
	if err := rsaNoParam(p); err != nil {
		return nil, nil, err
	}
	if _, ok := public[ck.CKA_MODULUS_BITS]; !ok {
		return nil, nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	bits, ok := GetULong(public, ck.CKA_MODULUS_BITS)
	if !ok {
		return nil, nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	if bits < rsaGenMinNow() || bits > rsaGenMaxBits || bits%8 != 0 {
		return nil, nil, ck.CKR_KEY_SIZE_RANGE
	}
	e := big.NewInt(rsaGenExponent).Bytes()
	if v, ok := public[ck.CKA_PUBLIC_EXPONENT]; ok {
		if len(v) == 0 {
			return nil, nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		// "CKR_TEMPLATE_INCONSISTENT shall be returned if the implementation cannot use the supplied
		// exponent value."
		if x := new(big.Int).SetBytes(v); !x.IsInt64() || x.Int64() != rsaGenExponent {
			return nil, nil, ck.CKR_TEMPLATE_INCONSISTENT
		}
		e = append([]byte{}, v...) // the template's bytes, as given
	}
	key, err := rsa.GenerateKey(rand.Reader, int(bits))
	if err != nil || key.E != rsaGenExponent || len(key.Primes) != 2 {
		return nil, nil, ck.CKR_FUNCTION_FAILED
	}
	defer rsaWipeKey(key)
	key.Precompute()
	spki, err := rsaSPKI(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	pub := Attrs{
		ck.CKA_MODULUS:         key.N.Bytes(),
		ck.CKA_PUBLIC_EXPONENT: e,
		ck.CKA_PUBLIC_KEY_INFO: spki,
	}
	priv := rsaPrivateAttrs(key, e)
	priv[ck.CKA_PUBLIC_KEY_INFO] = append([]byte{}, spki...)
	return pub, priv, nil
}

// ---- operations ----

// rsaNoParam accepts a NULL (or empty) parameter.
func rsaNoParam(p Param) error {
	if p.Present && len(p.Raw) != 0 {
		return ck.CKR_MECHANISM_PARAM_INVALID
	}
	return nil
}

// rsaInit is the prologue of the operations that take no parameter: the parameter is checked first, then
// the key fetched with of (rsaPublicOf, rsaPrivateOf, rsaFullPrivateOf or rsaGoKeyOf).
func rsaInit[K any](p Param, k *Key, of func(*Key) (K, error)) (K, error) {
	if err := rsaNoParam(p); err != nil {
		var none K
		return none, err
	}
	return of(k)
}

// public returns the private key's public half (its exponent is 0 when unknown).
func (k *rsaPrivate) public() *rsa.PublicKey { return &k.pub }

// rsaSelf is a public key's public half, for rsaOAEPInit and rsaPSSInit.
func rsaSelf(pub *rsa.PublicKey) *rsa.PublicKey { return pub }

// rsaSingle is a single-part operation (C_Encrypt, C_Sign, C_SignRecover ...): the mechanisms that have no
// multi-part form answer C_*Update and C_*Final with CKR_FUNCTION_NOT_SUPPORTED.
type rsaSingle func(in []byte) ([]byte, error)

func (f rsaSingle) Update([]byte) ([]byte, error)    { return nil, ck.CKR_FUNCTION_NOT_SUPPORTED }
func (f rsaSingle) Final() ([]byte, error)           { return nil, ck.CKR_FUNCTION_NOT_SUPPORTED }
func (f rsaSingle) Single(in []byte) ([]byte, error) { return f(in) }

// rsaOp and rsaSingleOf return a nil interface, not a nil rsaSingle, with an error.
func rsaOp(f rsaSingle, err error) (Operation, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}

func rsaSingleOf(f rsaSingle, err error) (Single, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}

// rsaRun runs a single-part operation once on in, as C_WrapKey and C_UnwrapKey do: rsaRun(in)(f, err)
// passes on the error of making f.
func rsaRun(in []byte) func(f rsaSingle, err error) ([]byte, error) {
	return func(f rsaSingle, err error) ([]byte, error) {
		if err != nil {
			return nil, err
		}
		return f(in)
	}
}

// rsaSingleVerifier is a single-part verification.
type rsaSingleVerifier func(data, sig []byte) error

func (f rsaSingleVerifier) Update([]byte) error           { return ck.CKR_FUNCTION_NOT_SUPPORTED }
func (f rsaSingleVerifier) Final([]byte) error            { return ck.CKR_FUNCTION_NOT_SUPPORTED }
func (f rsaSingleVerifier) Verify(data, sig []byte) error { return f(data, sig) }

// rsaHashSigner hashes the data of a multi-part signature and signs the digest in Final.
type rsaHashSigner struct {
	h    hash.Hash
	sign func(digest []byte) ([]byte, error)
}

func (s *rsaHashSigner) Update(in []byte) ([]byte, error) {
	s.h.Write(in)
	return nil, nil
}

func (s *rsaHashSigner) Final() ([]byte, error) { return s.sign(s.h.Sum(nil)) }

// rsaHashVerifier hashes the data of a multi-part verification and checks the digest's signature in Final.
type rsaHashVerifier struct {
	h      hash.Hash
	verify func(digest, sig []byte) error
}

func (v *rsaHashVerifier) Update(in []byte) error {
	v.h.Write(in)
	return nil
}

func (v *rsaHashVerifier) Final(sig []byte) error { return v.verify(v.h.Sum(nil), sig) }

// rsaOpenSignature checks a signature's length and returns the k bytes of its raw public operation (the
// encoded message).
func rsaOpenSignature(pub *rsa.PublicKey, sig []byte) ([]byte, error) {
	if len(sig) != pub.Size() {
		return nil, ck.CKR_SIGNATURE_LEN_RANGE
	}
	m, ok := rsaRawPublic(pub, sig)
	if !ok {
		return nil, ck.CKR_SIGNATURE_INVALID
	}
	return rsaBytes(m, pub.Size()), nil
}

// CKM_RSA_PKCS: PKCS #1 v1.5 block formats, data at most k-11 bytes.

// rsaPKCSEncryptFunc encrypts with block type 2 (C_Encrypt, C_WrapKey); lenErr is for a long input.
func rsaPKCSEncryptFunc(p Param, k *Key, lenErr ck.RV) (rsaSingle, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) > pub.Size()-11 {
			return nil, lenErr
		}
		out, err := rsa.EncryptPKCS1v15(rand.Reader, pub, in) //lint:ignore SA1019 CKM_RSA_PKCS is a PKCS#11 mechanism applications use
		if err != nil {
			return nil, ck.CKR_FUNCTION_FAILED
		}
		return out, nil
	}), nil
}

// rsaPKCSDecryptFunc decrypts block type 2 (C_Decrypt, C_UnwrapKey) with the given errors for an input not
// k bytes long or not well padded.
func rsaPKCSDecryptFunc(p Param, k *Key, lenErr, valErr ck.RV) (rsaSingle, error) {
	key, err := rsaInit(p, k, rsaGoKeyOf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) != key.Size() {
			return nil, lenErr
		}
		// CKM_RSA_PKCS decryption answers CKR_ENCRYPTED_DATA_INVALID on bad padding, as the specification says;
		// that is a padding oracle by nature, which is why applications should prefer CKM_RSA_PKCS_OAEP.
		out, err := rsa.DecryptPKCS1v15(nil, key, in) //lint:ignore SA1019 as above
		if err != nil {
			return nil, valErr
		}
		return out, nil
	}), nil
}

func rsaPKCSEncrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaPKCSEncryptFunc(p, k, ck.CKR_DATA_LEN_RANGE))
}

func rsaPKCSDecrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaPKCSDecryptFunc(p, k, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, ck.CKR_ENCRYPTED_DATA_INVALID))
}

// rsaPKCSSignFunc signs data (usually a DigestInfo) with block type 1; also C_SignRecover.
func rsaPKCSSignFunc(p Param, k *Key) (rsaSingle, error) {
	priv, err := rsaInit(p, k, rsaPrivateOf)
	if err != nil {
		return nil, err
	}
	size := priv.size()
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) > size-11 {
			return nil, ck.CKR_DATA_LEN_RANGE
		}
		if priv.key != nil {
			out, err := priv.ops.signPKCS1v15(0, in)
			if err != nil {
				return nil, ck.CKR_FUNCTION_FAILED
			}
			return out, nil
		}
		// Public exponent unknown: EM = 00 01 FF..FF 00 || data, raised to d.
		em := make([]byte, size)
		em[1] = 1
		for i := 2; i < size-len(in)-1; i++ {
			em[i] = 0xff
		}
		copy(em[size-len(in):], in)
		s, err := priv.raw(new(big.Int).SetBytes(em))
		if err != nil {
			return nil, err
		}
		return rsaBytes(s, size), nil
	}), nil
}

func rsaPKCSSign(p Param, k *Key) (Operation, error) { return rsaOp(rsaPKCSSignFunc(p, k)) }

func rsaPKCSSignRecover(p Param, k *Key) (Single, error) { return rsaSingleOf(rsaPKCSSignFunc(p, k)) }

func rsaPKCSVerify(p Param, k *Key) (Verifier, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingleVerifier(func(data, sig []byte) error {
		if len(data) > pub.Size()-11 {
			return ck.CKR_DATA_LEN_RANGE
		}
		if len(sig) != pub.Size() {
			return ck.CKR_SIGNATURE_LEN_RANGE
		}
		if rsa.VerifyPKCS1v15(pub, 0, data, sig) != nil {
			return ck.CKR_SIGNATURE_INVALID
		}
		return nil
	}), nil
}

func rsaPKCSVerifyRecover(p Param, k *Key) (Single, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(sig []byte) ([]byte, error) {
		em, err := rsaOpenSignature(pub, sig)
		if err != nil {
			return nil, err
		}
		// EM = 00 01 PS 00 D, PS at least 8 bytes of FF.
		size := len(em)
		if em[0] != 0 || em[1] != 1 {
			return nil, ck.CKR_SIGNATURE_INVALID
		}
		i := 2
		for i < size && em[i] == 0xff {
			i++
		}
		if i-2 < 8 || i == size || em[i] != 0 {
			return nil, ck.CKR_SIGNATURE_INVALID
		}
		return em[i+1:], nil
	}), nil
}

func rsaPKCSWrap(p Param, wrapping *Key, plain []byte) ([]byte, error) {
	return rsaRun(plain)(rsaPKCSEncryptFunc(p, wrapping, ck.CKR_KEY_SIZE_RANGE))
}

func rsaPKCSUnwrap(p Param, unwrapping *Key, wrapped []byte) ([]byte, error) {
	return rsaRun(wrapped)(rsaPKCSDecryptFunc(p, unwrapping, ck.CKR_WRAPPED_KEY_LEN_RANGE, ck.CKR_WRAPPED_KEY_INVALID))
}

// CKM_RSA_X_509: raw RSA. Input of at most k bytes, as an integer below n; output always k bytes.

// rsaX509PublicFunc is the raw public operation with the given errors for a long or out-of-range input.
func rsaX509PublicFunc(p Param, k *Key, lenErr, valErr ck.RV) (rsaSingle, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) > pub.Size() {
			return nil, lenErr
		}
		c, ok := rsaRawPublic(pub, in)
		if !ok {
			return nil, valErr
		}
		return rsaBytes(c, pub.Size()), nil
	}), nil
}

// rsaX509PrivateFunc is the raw private operation with the given errors for a long or out-of-range input.
func rsaX509PrivateFunc(p Param, k *Key, exact bool, lenErr, valErr ck.RV) (rsaSingle, error) {
	priv, err := rsaInit(p, k, rsaPrivateOf)
	if err != nil {
		return nil, err
	}
	size := priv.size()
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) > size || (exact && len(in) != size) {
			return nil, lenErr
		}
		x := new(big.Int).SetBytes(in)
		if x.Cmp(priv.pub.N) >= 0 {
			return nil, valErr
		}
		m, err := priv.ops.raw(x)
		if err != nil {
			return nil, err
		}
		defer rsaWipe(m)
		return rsaBytes(m, size), nil
	}), nil
}

func rsaX509Encrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaX509PublicFunc(p, k, ck.CKR_DATA_LEN_RANGE, ck.CKR_DATA_INVALID))
}

func rsaX509Decrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaX509PrivateFunc(p, k, true, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, ck.CKR_ENCRYPTED_DATA_INVALID))
}

func rsaX509Sign(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaX509PrivateFunc(p, k, false, ck.CKR_DATA_LEN_RANGE, ck.CKR_DATA_INVALID))
}

func rsaX509SignRecover(p Param, k *Key) (Single, error) {
	return rsaSingleOf(rsaX509PrivateFunc(p, k, false, ck.CKR_DATA_LEN_RANGE, ck.CKR_DATA_INVALID))
}

func rsaX509Verify(p Param, k *Key) (Verifier, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingleVerifier(func(data, sig []byte) error {
		size := pub.Size()
		if len(data) > size {
			return ck.CKR_DATA_LEN_RANGE
		}
		em, err := rsaOpenSignature(pub, sig)
		if err != nil {
			return err
		}
		want := make([]byte, size)
		copy(want[size-len(data):], data)
		if subtle.ConstantTimeCompare(em, want) != 1 {
			return ck.CKR_SIGNATURE_INVALID
		}
		return nil
	}), nil
}

func rsaX509VerifyRecover(p Param, k *Key) (Single, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(sig []byte) ([]byte, error) { return rsaOpenSignature(pub, sig) }), nil
}

func rsaX509Wrap(p Param, wrapping *Key, plain []byte) ([]byte, error) {
	return rsaRun(plain)(rsaX509PublicFunc(p, wrapping, ck.CKR_KEY_SIZE_RANGE, ck.CKR_KEY_SIZE_RANGE))
}

// rsaX509Unwrap returns all k bytes of the raw decryption: the key value is their tail, as long as the
// template says (the specification leaves the cut to the caller of the mechanism).
func rsaX509Unwrap(p Param, unwrapping *Key, wrapped []byte) ([]byte, error) {
	return rsaRun(wrapped)(rsaX509PrivateFunc(p, unwrapping, true, ck.CKR_WRAPPED_KEY_LEN_RANGE, ck.CKR_WRAPPED_KEY_INVALID))
}

// CKM_RSA_PKCS_PSS and CKM_<hash>_RSA_PKCS_PSS: CK_RSA_PKCS_PSS_PARAMS arrives raw (hashAlg, mgf, sLen:
// three CK_ULONGs). PKCS #11 bounds sLen only from above (emLen - hLen - 2: 0 is allowed, and is what
// deterministic profiles, TPMs and openssl's rsa_pss_saltlen:0 use) and lets mgf name MGF1 over any hash.
// crypto/rsa's PSS uses the message hash for MGF1 and has no empty salt (SaltLength 0 means "as long as
// possible" when signing and "any length" when verifying). So crypto/rsa does what it can (MGF1 over hashAlg,
// sLen at least 1), and everything else is EMSA-PSS-ENCODE and EMSA-PSS-VERIFY of RFC 8017, section 9.1
// (rsaPSSEncode, rsaPSSCheck), with MGF1 of appendix B.2.1 (rsaMGF1XOR), over the raw private operation
// (rsaPrivate.raw: blinded, and checked against e) and a public exponentiation. Verification is strict: the
// salt must have exactly the length given.

type rsaPSSParams struct {
	hash crypto.Hash // hashAlg: the message's
	mgf  crypto.Hash // MGF1's
	sLen int
}

// rsaPSSHash reports whether hashAlg may name h: one of the hashes of the hash-and-sign mechanisms.
func rsaPSSHash(h crypto.Hash) bool {
	for _, m := range rsaHashMechs {
		if m.h == h {
			return true
		}
	}
	return false
}

// rsaParsePSS reads CK_RSA_PKCS_PSS_PARAMS; want is the mechanism's own hash (0 for CKM_RSA_PKCS_PSS).
func rsaParsePSS(p Param, want crypto.Hash, bits int) (rsaPSSParams, error) {
	if !p.Present || len(p.Raw) != 24 {
		return rsaPSSParams{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	hashAlg, _ := RawULong(p.Raw, 0)
	mgf, _ := RawULong(p.Raw, 8)
	sLen, _ := RawULong(p.Raw, 16)
	h, ok := HashOf(ck.MechanismType(hashAlg))
	if !ok || !rsaPSSHash(h) || (want != 0 && h != want) {
		return rsaPSSParams{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	mh, ok := rsaMGFs[mgf]
	if !ok {
		return rsaPSSParams{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	// sLen <= emLen - hLen - 2, emLen = ceil((modBits-1)/8) (the spec's k*).
	emLen := (bits - 1 + 7) / 8
	if sLen > uint64(emLen) || int(sLen) > emLen-h.Size()-2 {
		return rsaPSSParams{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return rsaPSSParams{hash: h, mgf: mh, sLen: int(sLen)}, nil
}

// byGo reports whether crypto/rsa can make and check the signatures of these parameters.
func (pp rsaPSSParams) byGo() bool { return pp.mgf == pp.hash && pp.sLen > 0 }

// sign signs a digest with a private key whose public exponent is known (priv.key is set).
func (pp rsaPSSParams) sign(priv *rsaPrivate, digest []byte) ([]byte, error) {
	if !pp.byGo() {
		return pp.signOwn(priv, digest)
	}
	out, err := priv.ops.signPSS(pp.hash, digest, pp.sLen)
	if err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return out, nil
}

// signOwn is RSASSA-PSS-SIGN (RFC 8017, section 8.1.1) without crypto/rsa: EMSA-PSS-ENCODE with a fresh
// salt, then the raw private operation.
func (pp rsaPSSParams) signOwn(priv *rsaPrivate, digest []byte) ([]byte, error) {
	salt := make([]byte, pp.sLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	em, err := rsaPSSEncode(digest, priv.pub.N.BitLen()-1, salt, pp.hash, pp.mgf)
	if err != nil {
		return nil, err
	}
	// EM has emBits = modBits-1 bits at most, so m < 2^(modBits-1) < n.
	s, err := priv.ops.raw(new(big.Int).SetBytes(em))
	if err != nil {
		return nil, err
	}
	return rsaBytes(s, priv.size()), nil
}

func (pp rsaPSSParams) verify(pub *rsa.PublicKey, digest, sig []byte) error {
	if len(sig) != pub.Size() {
		return ck.CKR_SIGNATURE_LEN_RANGE
	}
	if !pp.byGo() {
		return pp.verifyOwn(pub, digest, sig)
	}
	if rsa.VerifyPSS(pub, pp.hash, digest, sig, &rsa.PSSOptions{SaltLength: pp.sLen}) != nil {
		return ck.CKR_SIGNATURE_INVALID
	}
	return nil
}

// verifyOwn is RSASSA-PSS-VERIFY (RFC 8017, section 8.1.2) without crypto/rsa.
func (pp rsaPSSParams) verifyOwn(pub *rsa.PublicKey, digest, sig []byte) error {
	k := pub.Size()
	if len(sig) != k {
		return ck.CKR_SIGNATURE_LEN_RANGE
	}
	m, ok := rsaRawPublic(pub, sig) // s < n, m = s^e mod n
	if !ok {
		return ck.CKR_SIGNATURE_INVALID
	}
	// EM = I2OSP(m, emLen): emLen is k-1 when modBits-1 is a multiple of 8, and then m must fit in it.
	emBits := pub.N.BitLen() - 1
	em := rsaBytes(m, k)
	if emLen := (emBits + 7) / 8; emLen < k {
		if em[0] != 0 {
			return ck.CKR_SIGNATURE_INVALID
		}
		em = em[1:]
	}
	if !rsaPSSCheck(digest, em, emBits, pp.sLen, pp.hash, pp.mgf) {
		return ck.CKR_SIGNATURE_INVALID
	}
	return nil
}

// rsaPSSEncode is EMSA-PSS-ENCODE (RFC 8017, section 9.1.1) of the message hash mHash, for an emBits-bit
// encoded message, with the given salt, hash and MGF1 hash.
func rsaPSSEncode(mHash []byte, emBits int, salt []byte, h, mgfHash crypto.Hash) ([]byte, error) {
	hLen, sLen := h.Size(), len(salt)
	emLen := (emBits + 7) / 8
	// 2: mHash is the hash of the message; 3: the parameters fit (rsaParsePSS has checked both).
	if len(mHash) != hLen || emLen < hLen+sLen+2 {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	em := make([]byte, emLen)
	db, hh := em[:emLen-hLen-1], em[emLen-hLen-1:emLen-1]
	// 5, 6: M' = (0x)00 00 00 00 00 00 00 00 || mHash || salt; H = Hash(M').
	copy(hh, rsaPSSHashM(h, mHash, salt))
	// 7, 8: DB = PS || 0x01 || salt, PS being emLen - sLen - hLen - 2 zero octets (em is zeroed).
	psLen := emLen - sLen - hLen - 2
	db[psLen] = 0x01
	copy(db[psLen+1:], salt)
	// 9, 10: maskedDB = DB xor MGF1(H, emLen - hLen - 1).
	rsaMGF1XOR(db, mgfHash, hh)
	// 11: the leftmost 8emLen - emBits bits of maskedDB are zero.
	db[0] &= 0xff >> (8*emLen - emBits)
	// 12: EM = maskedDB || H || 0xbc.
	em[emLen-1] = 0xbc
	return em, nil
}

// rsaPSSCheck is EMSA-PSS-VERIFY (RFC 8017, section 9.1.2): whether em (emLen octets) is the encoding of
// mHash with a salt of exactly sLen octets. Everything it reads is public (the signature and the message's
// hash); H and H' are still compared in constant time.
func rsaPSSCheck(mHash, em []byte, emBits, sLen int, h, mgfHash crypto.Hash) bool {
	hLen := h.Size()
	emLen := (emBits + 7) / 8
	// 2, 3.
	if len(mHash) != hLen || len(em) != emLen || sLen < 0 || emLen < hLen+sLen+2 {
		return false
	}
	// 4: the trailer.
	if em[emLen-1] != 0xbc {
		return false
	}
	// 5: maskedDB and H.
	db := append([]byte{}, em[:emLen-hLen-1]...)
	hh := em[emLen-hLen-1 : emLen-1]
	// 6: the leftmost 8emLen - emBits bits of maskedDB are zero.
	top := byte(0xff >> (8*emLen - emBits))
	if db[0]&^top != 0 {
		return false
	}
	// 7, 8, 9: DB = maskedDB xor MGF1(H, emLen - hLen - 1), its leftmost 8emLen - emBits bits zeroed.
	rsaMGF1XOR(db, mgfHash, hh)
	db[0] &= top
	// 10: emLen - hLen - sLen - 2 zero octets, then 0x01.
	psLen := emLen - hLen - sLen - 2
	for _, b := range db[:psLen] {
		if b != 0 {
			return false
		}
	}
	if db[psLen] != 0x01 {
		return false
	}
	// 11, 12, 13, 14: the salt is the last sLen octets of DB; H' = Hash(M') must equal H.
	return subtle.ConstantTimeCompare(hh, rsaPSSHashM(h, mHash, db[psLen+1:])) == 1
}

// rsaPSSHashM returns Hash(M') for M' = (0x)00 00 00 00 00 00 00 00 || mHash || salt.
func rsaPSSHashM(h crypto.Hash, mHash, salt []byte) []byte {
	d := NewHash(h)
	var zero [8]byte
	d.Write(zero[:])
	d.Write(mHash)
	d.Write(salt)
	return d.Sum(nil)
}

// rsaMGF1XOR xors out with MGF1(seed, len(out)) over hash h (RFC 8017, appendix B.2.1): the
// concatenation of Hash(seed || I2OSP(counter, 4)) for counter = 0, 1, ..., cut to len(out). The length
// bound of step 1 (2^32 hLen) is far above any modulus here.
func rsaMGF1XOR(out []byte, h crypto.Hash, seed []byte) {
	d := NewHash(h)
	var counter [4]byte
	var t []byte
	for i, done := uint32(0), 0; done < len(out); i++ {
		binary.BigEndian.PutUint32(counter[:], i)
		d.Reset()
		d.Write(seed)
		d.Write(counter[:])
		t = d.Sum(t[:0])
		done += subtle.XORBytes(out[done:], out[done:], t)
	}
}

// rsaFullPrivateOf returns the private key for the operations that need its public exponent (crypto/rsa's,
// and PSS's check of the raw operation's result).
func rsaFullPrivateOf(k *Key) (*rsaPrivate, error) {
	priv, err := rsaPrivateOf(k)
	if err != nil {
		return nil, err
	}
	if priv.key == nil {
		return nil, ck.CKR_KEY_FUNCTION_NOT_PERMITTED
	}
	return priv, nil
}

// rsaPSSInit is the prologue of the PSS operations: the key is fetched with of first, as the parameters
// are checked against its modulus (pub gives its public half).
func rsaPSSInit[K any](p Param, k *Key, h crypto.Hash, of func(*Key) (K, error), pub func(K) *rsa.PublicKey) (K, rsaPSSParams, error) {
	var none K
	key, err := of(k)
	if err != nil {
		return none, rsaPSSParams{}, err
	}
	pp, err := rsaParsePSS(p, h, pub(key).N.BitLen())
	if err != nil {
		return none, rsaPSSParams{}, err
	}
	return key, pp, nil
}

func rsaPSSSign(h crypto.Hash) func(p Param, k *Key) (Operation, error) {
	return func(p Param, k *Key) (Operation, error) {
		priv, pp, err := rsaPSSInit(p, k, h, rsaFullPrivateOf, (*rsaPrivate).public)
		if err != nil {
			return nil, err
		}
		if h != 0 {
			return &rsaHashSigner{h: NewHash(h), sign: func(d []byte) ([]byte, error) { return pp.sign(priv, d) }}, nil
		}
		return rsaSingle(func(in []byte) ([]byte, error) {
			if len(in) != pp.hash.Size() {
				return nil, ck.CKR_DATA_LEN_RANGE
			}
			return pp.sign(priv, in)
		}), nil
	}
}

func rsaPSSVerify(h crypto.Hash) func(p Param, k *Key) (Verifier, error) {
	return func(p Param, k *Key) (Verifier, error) {
		pub, pp, err := rsaPSSInit(p, k, h, rsaPublicOf, rsaSelf)
		if err != nil {
			return nil, err
		}
		if h != 0 {
			return &rsaHashVerifier{h: NewHash(h), verify: func(d, sig []byte) error { return pp.verify(pub, d, sig) }}, nil
		}
		return rsaSingleVerifier(func(data, sig []byte) error {
			if len(data) != pp.hash.Size() {
				return ck.CKR_DATA_LEN_RANGE
			}
			return pp.verify(pub, data, sig)
		}), nil
	}
}

// CKM_<hash>_RSA_PKCS: PKCS #1 v1.5 signatures over a DigestInfo of the hashed data.

func rsaHashPKCSSign(h crypto.Hash) func(p Param, k *Key) (Operation, error) {
	return func(p Param, k *Key) (Operation, error) {
		priv, err := rsaInit(p, k, rsaFullPrivateOf)
		if err != nil {
			return nil, err
		}
		return &rsaHashSigner{h: NewHash(h), sign: func(d []byte) ([]byte, error) {
			out, err := priv.ops.signPKCS1v15(h, d)
			if err != nil {
				return nil, ck.CKR_FUNCTION_FAILED
			}
			return out, nil
		}}, nil
	}
}

func rsaHashPKCSVerify(h crypto.Hash) func(p Param, k *Key) (Verifier, error) {
	return func(p Param, k *Key) (Verifier, error) {
		pub, err := rsaInit(p, k, rsaPublicOf)
		if err != nil {
			return nil, err
		}
		return &rsaHashVerifier{h: NewHash(h), verify: func(d, sig []byte) error {
			if len(sig) != pub.Size() {
				return ck.CKR_SIGNATURE_LEN_RANGE
			}
			if rsa.VerifyPKCS1v15(pub, h, d, sig) != nil {
				return ck.CKR_SIGNATURE_INVALID
			}
			return nil
		}}, nil
	}
}

// CKM_RSA_PKCS_OAEP: CK_RSA_PKCS_OAEP_PARAMS arrives decoded (hashAlg, mgf, source, pSourceData). The
// label is pSourceData; source must be CKZ_DATA_SPECIFIED, or 0 with no data (a zeroed structure).

func rsaParseOAEP(p Param) (*rsa.OAEPOptions, error) {
	if !p.Present || p.S == nil || p.S.RSAPKCSOAEPParams == nil {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	h, ok := HashOf(ck.MechanismType(p.S.RSAPKCSOAEPParams.HashAlg))
	if !ok {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	mh, ok := rsaMGFs[p.S.RSAPKCSOAEPParams.MGF]
	if !ok {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	label := p.S.RSAPKCSOAEPParams.SourceData
	switch src := p.S.RSAPKCSOAEPParams.Source; {
	case src == ck.CKZ_DATA_SPECIFIED:
	case src == 0 && len(label) == 0:
	default:
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return &rsa.OAEPOptions{Hash: h, MGFHash: mh, Label: append([]byte{}, label...)}, nil
}

// rsaOAEPMax returns the longest message OAEP takes with a k-byte modulus, or an error if none fits.
func rsaOAEPMax(opts *rsa.OAEPOptions, k int) (int, error) {
	m := k - 2*opts.Hash.Size() - 2
	if m < 0 {
		return 0, ck.CKR_KEY_SIZE_RANGE
	}
	return m, nil
}

// rsaOAEPInit is the prologue of the OAEP operations: the parameter is parsed first, then the key fetched
// with of, then its modulus (pub gives its public half) checked to leave room for a message. limit is the
// longest message.
func rsaOAEPInit[K any](p Param, k *Key, of func(*Key) (K, error), pub func(K) *rsa.PublicKey) (key K, opts *rsa.OAEPOptions, limit int, err error) {
	var none K
	if opts, err = rsaParseOAEP(p); err != nil {
		return none, nil, 0, err
	}
	if key, err = of(k); err != nil {
		return none, nil, 0, err
	}
	if limit, err = rsaOAEPMax(opts, pub(key).Size()); err != nil {
		return none, nil, 0, err
	}
	return key, opts, limit, nil
}

// rsaOAEPEncryptFunc encrypts (C_Encrypt, C_WrapKey); lenErr is for a long input.
func rsaOAEPEncryptFunc(p Param, k *Key, lenErr ck.RV) (rsaSingle, error) {
	pub, opts, limit, err := rsaOAEPInit(p, k, rsaPublicOf, rsaSelf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) > limit {
			return nil, lenErr
		}
		out, err := rsa.EncryptOAEPWithOptions(rand.Reader, pub, in, opts)
		if err != nil {
			return nil, ck.CKR_FUNCTION_FAILED
		}
		return out, nil
	}), nil
}

// rsaOAEPDecryptFunc decrypts (C_Decrypt, C_UnwrapKey) with the given errors for an input not k bytes long
// or not well formed.
func rsaOAEPDecryptFunc(p Param, k *Key, lenErr, valErr ck.RV) (rsaSingle, error) {
	priv, opts, _, err := rsaOAEPInit(p, k, rsaFullPrivateOf, (*rsaPrivate).public)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) != priv.size() {
			return nil, lenErr
		}
		out, err := priv.ops.decryptOAEP(in, opts)
		if err != nil {
			return nil, valErr
		}
		return out, nil
	}), nil
}

func rsaOAEPEncrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaOAEPEncryptFunc(p, k, ck.CKR_DATA_LEN_RANGE))
}

func rsaOAEPDecrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaOAEPDecryptFunc(p, k, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, ck.CKR_ENCRYPTED_DATA_INVALID))
}

func rsaOAEPWrap(p Param, wrapping *Key, plain []byte) ([]byte, error) {
	return rsaRun(plain)(rsaOAEPEncryptFunc(p, wrapping, ck.CKR_KEY_SIZE_RANGE))
}

func rsaOAEPUnwrap(p Param, unwrapping *Key, wrapped []byte) ([]byte, error) {
	return rsaRun(wrapped)(rsaOAEPDecryptFunc(p, unwrapping, ck.CKR_WRAPPED_KEY_LEN_RANGE, ck.CKR_WRAPPED_KEY_INVALID))
}

// ---- registration ----

// rsaHashMechs lists the hash-and-sign mechanisms: PKCS #1 v1.5 and PSS for each hash.
var rsaHashMechs = []struct {
	h         crypto.Hash
	pkcs, pss ck.MechanismType
}{
	{crypto.SHA1, ck.CKM_SHA1_RSA_PKCS, ck.CKM_SHA1_RSA_PKCS_PSS},
	{crypto.SHA224, ck.CKM_SHA224_RSA_PKCS, ck.CKM_SHA224_RSA_PKCS_PSS},
	{crypto.SHA256, ck.CKM_SHA256_RSA_PKCS, ck.CKM_SHA256_RSA_PKCS_PSS},
	{crypto.SHA384, ck.CKM_SHA384_RSA_PKCS, ck.CKM_SHA384_RSA_PKCS_PSS},
	{crypto.SHA512, ck.CKM_SHA512_RSA_PKCS, ck.CKM_SHA512_RSA_PKCS_PSS},
	{crypto.SHA3_224, ck.CKM_SHA3_224_RSA_PKCS, ck.CKM_SHA3_224_RSA_PKCS_PSS},
	{crypto.SHA3_256, ck.CKM_SHA3_256_RSA_PKCS, ck.CKM_SHA3_256_RSA_PKCS_PSS},
	{crypto.SHA3_384, ck.CKM_SHA3_384_RSA_PKCS, ck.CKM_SHA3_384_RSA_PKCS_PSS},
	{crypto.SHA3_512, ck.CKM_SHA3_512_RSA_PKCS, ck.CKM_SHA3_512_RSA_PKCS_PSS},
}

func rsaInfo(flags uint64) ck.MechanismInfo {
	return ck.MechanismInfo{MinKeySize: rsaMinBits, MaxKeySize: rsaMaxBits, Flags: flags}
}

func init() {
	RegisterKeyType(&KeyTypeSpec{Type: ck.CKK_RSA, Check: rsaCheck, PKCS8: rsaPKCS8, ParsePKCS8: rsaParsePKCS8})
	keyTypes := []ck.KeyType{ck.CKK_RSA}
	Register(&Spec{
		Type:            ck.CKM_RSA_PKCS_KEY_PAIR_GEN,
		Info:            ck.MechanismInfo{MinKeySize: rsaGenMinBits, MaxKeySize: rsaGenMaxBits, Flags: ck.CKF_GENERATE_KEY_PAIR},
		GenKeyType:      ck.CKK_RSA,
		GenerateKeyPair: rsaGenerateKeyPair,
	})
	all := uint64(ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_SIGN | ck.CKF_VERIFY | ck.CKF_SIGN_RECOVER |
		ck.CKF_VERIFY_RECOVER | ck.CKF_WRAP | ck.CKF_UNWRAP)
	Register(&Spec{
		Type: ck.CKM_RSA_PKCS, Info: rsaInfo(all), KeyTypes: keyTypes,
		Encrypt: rsaPKCSEncrypt, Decrypt: rsaPKCSDecrypt, Sign: rsaPKCSSign, Verify: rsaPKCSVerify,
		SignRecover: rsaPKCSSignRecover, VerifyRecover: rsaPKCSVerifyRecover, Wrap: rsaPKCSWrap, Unwrap: rsaPKCSUnwrap,
	})
	Register(&Spec{
		Type: ck.CKM_RSA_X_509, Info: rsaInfo(all), KeyTypes: keyTypes,
		Encrypt: rsaX509Encrypt, Decrypt: rsaX509Decrypt, Sign: rsaX509Sign, Verify: rsaX509Verify,
		SignRecover: rsaX509SignRecover, VerifyRecover: rsaX509VerifyRecover, Wrap: rsaX509Wrap, Unwrap: rsaX509Unwrap,
	})
	Register(&Spec{
		Type: ck.CKM_RSA_PKCS_PSS, Info: rsaInfo(ck.CKF_SIGN | ck.CKF_VERIFY), KeyTypes: keyTypes,
		Sign: rsaPSSSign(0), Verify: rsaPSSVerify(0),
	})
	Register(&Spec{
		Type: ck.CKM_RSA_PKCS_OAEP, Info: rsaInfo(ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP),
		KeyTypes: keyTypes,
		Encrypt:  rsaOAEPEncrypt, Decrypt: rsaOAEPDecrypt, Wrap: rsaOAEPWrap, Unwrap: rsaOAEPUnwrap,
	})
	for _, m := range rsaHashMechs {
		Register(&Spec{
			Type: m.pkcs, Info: rsaInfo(ck.CKF_SIGN | ck.CKF_VERIFY), KeyTypes: keyTypes,
			Sign: rsaHashPKCSSign(m.h), Verify: rsaHashPKCSVerify(m.h),
		})
		Register(&Spec{
			Type: m.pss, Info: rsaInfo(ck.CKF_SIGN | ck.CKF_VERIFY), KeyTypes: keyTypes,
			Sign: rsaPSSSign(m.h), Verify: rsaPSSVerify(m.h),
		})
	}
}
