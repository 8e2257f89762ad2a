package mech

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The CKK_RSA key type: public and private keys parsed from their attributes (once per object: Key.Parsed),
// checked on import (rsaCheck), encoded as PKCS#8 for wrapping, and made by CKM_RSA_PKCS_KEY_PAIR_GEN. The raw
// private operation with blinding (rsaPrivate.raw) is here too: it belongs to the key, and the paddings of
// rsa_pkcs1v15.go, rsa_raw.go and rsa_pss.go use it.

var (
	rsaOne = big.NewInt(1)
	// rsaGuessExponents are tried, in order, for an imported private key that has neither its public
	// exponent nor its primes.
	rsaGuessExponents = []int{65537, 3, 5, 7, 11, 13, 17, 19, 23, 257}
	// rsaCRTAttrs are the optional CRT values of a private key, in the order rsaPrivate.setCRT takes them.
	rsaCRTAttrs = []ck.AttributeType{ck.CKA_PRIME_1, ck.CKA_PRIME_2, ck.CKA_EXPONENT_1, ck.CKA_EXPONENT_2,
		ck.CKA_COEFFICIENT}
)

// rsaRules are the attributes of RSA keys (PKCS#11 3.0 "RSA public key objects" and "RSA private key
// objects"): a public key is imported with its modulus and exponent and generated from CKA_MODULUS_BITS; a
// private key is imported with at least its modulus and private exponent (the CRT values are recovered by
// rsaCheck), and its private values are sensitive. RSA keys have no KEM operations.
var rsaRules = pairRules(
	AttrRules{
		ck.CKA_MODULUS:         {Rules: RuleCreateRequired | RuleGenForbid},
		ck.CKA_MODULUS_BITS:    {Kind: KindULong, Rules: RuleCreateForbid | RuleGenRequired},
		ck.CKA_PUBLIC_EXPONENT: {Rules: RuleCreateRequired},
	},
	AttrRules{
		ck.CKA_MODULUS:          {Rules: RuleCreateRequired | RuleGenForbid | RuleUnwrapForbid},
		ck.CKA_PUBLIC_EXPONENT:  {Rules: RuleGenForbid | RuleUnwrapForbid},
		ck.CKA_PRIVATE_EXPONENT: {Rules: RuleCreateRequired | RuleGenForbid | RuleUnwrapForbid | RuleSensitive},
		ck.CKA_PRIME_1:          {Rules: RuleGenForbid | RuleUnwrapForbid | RuleSensitive},
		ck.CKA_PRIME_2:          {Rules: RuleGenForbid | RuleUnwrapForbid | RuleSensitive},
		ck.CKA_EXPONENT_1:       {Rules: RuleGenForbid | RuleUnwrapForbid | RuleSensitive},
		ck.CKA_EXPONENT_2:       {Rules: RuleGenForbid | RuleUnwrapForbid | RuleSensitive},
		ck.CKA_COEFFICIENT:      {Rules: RuleGenForbid | RuleUnwrapForbid | RuleSensitive},
	},
	// Neither half of an RSA key encapsulates or decapsulates.
	pairUsage{
		public:  UsageOff(ck.CKA_ENCAPSULATE, ck.CKA_DECAPSULATE),
		private: UsageOff(ck.CKA_ENCAPSULATE, ck.CKA_DECAPSULATE),
	},
)

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
			add[ck.CKA_MODULUS_BITS] = ck.ULong(bits)
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
