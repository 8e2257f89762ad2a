package mech

import (
	"crypto"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"encoding/binary"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Key derivation functions:
//
//   - CKM_HKDF_DERIVE, CKM_HKDF_DATA and CKM_HKDF_KEY_GEN with the key type CKK_HKDF (PKCS#11 3.0 "HKDF
//     Mechanisms", RFC 5869). CKM_HKDF_DATA computes exactly what CKM_HKDF_DERIVE does; the engine makes its
//     result a CKO_DATA object.
//   - CKM_PKCS5_PBKD2 (PKCS#11 "PKCS #5 PBKDF2 key generation", RFC 8018): a key generation mechanism
//     (C_GenerateKey) whose CK_PKCS5_PBKD2_PARAMS2 names the password, salt, iteration count and PRF; the
//     template gives the key type and length.
//   - CKM_SP800_108_COUNTER_KDF (PKCS#11 3.0 "SP800-108 Key Derivation", NIST SP 800-108 section 5.1) with
//     the HMAC PRFs; the CMAC PRFs (CKM_AES_CMAC, CKM_DES3_CMAC) and additional derived keys are not
//     supported (CKR_MECHANISM_PARAM_INVALID).

// kdfMaxOut is the longest key CKM_PKCS5_PBKD2 and CKM_SP800_108_COUNTER_KDF make, in bytes.
const kdfMaxOut = 1024

// pbkdf2MaxWork bounds the PRF invocations of one PBKDF2 call (iterations times output blocks), so that
// one request cannot hold the daemon for minutes: 2^24 is RFC 6070's largest test, a few seconds.
const pbkdf2MaxWork = 1 << 24

// (fixedKeyLen is shared by the KDF families: attrs.go.)

// kdfOutLen returns the length in bytes of the key (or data) a KDF makes from the template: CKA_VALUE_LEN,
// or else the fixed length of the template's CKA_KEY_TYPE (fixedKeyLen), or else def when def > 0. A
// CKA_VALUE_LEN above max gets tooLong (CKR_KEY_SIZE_RANGE from C_DeriveKey, as the ECDH KDFs answer;
// C_GenerateKey has no such code and answers CKR_ATTRIBUTE_VALUE_INVALID).
func kdfOutLen(template Attrs, def, max int, tooLong ck.RV) (int, error) {
	fixed, isFixed := 0, false
	if t, ok := GetULong(template, ck.CKA_KEY_TYPE); ok {
		fixed, isFixed = fixedKeyLen[ck.KeyType(t)]
	}
	if _, present := template[ck.CKA_VALUE_LEN]; present {
		n, ok := GetULong(template, ck.CKA_VALUE_LEN)
		if !ok || n < 1 {
			return 0, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		if n > uint64(max) {
			return 0, tooLong
		}
		if isFixed && n != uint64(fixed) {
			return 0, ck.CKR_TEMPLATE_INCONSISTENT
		}
		if t, _ := GetULong(template, ck.CKA_KEY_TYPE); ck.KeyType(t) == ck.CKK_AES && n != 16 && n != 24 && n != 32 {
			return 0, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		return int(n), nil
	}
	switch {
	case isFixed && fixed <= max:
		return fixed, nil
	case isFixed:
		return 0, ck.CKR_TEMPLATE_INCONSISTENT
	case def > 0:
		return def, nil
	}
	return 0, ck.CKR_TEMPLATE_INCOMPLETE
}

// kdfStructParam returns a mechanism's decoded structured parameter, the structure pick returns; a missing
// one (or another structure) is invalid.
func kdfStructParam[T any](p Param, pick func(*wire.Params) *T) (*T, error) {
	if !p.Present || p.S == nil || pick(p.S) == nil {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return pick(p.S), nil
}

// ---- HKDF ----

// hkdfSalt returns the extract stage's salt of a CK_HKDF_PARAMS: nil for CKF_HKDF_SALT_NULL (HKDF then uses
// hash-length zeros), pSalt for CKF_HKDF_SALT_DATA, the CKA_VALUE of hSaltKey for CKF_HKDF_SALT_KEY.
func hkdfSalt(s *wire.HKDFParams, resolve Resolver) ([]byte, error) {
	switch s.SaltType {
	case ck.CKF_HKDF_SALT_NULL:
		return nil, nil
	case ck.CKF_HKDF_SALT_DATA:
		return s.Salt, nil
	case ck.CKF_HKDF_SALT_KEY:
		if resolve == nil {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		k, err := resolve(ck.ObjectHandle(s.SaltKey))
		if err != nil {
			return nil, err
		}
		if k.Class != ck.CKO_SECRET_KEY || (k.Type != ck.CKK_HKDF && k.Type != ck.CKK_GENERIC_SECRET) {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		v, ok := k.Attrs[ck.CKA_VALUE]
		if !ok || len(v) == 0 {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		return v, nil
	}
	return nil, ck.CKR_MECHANISM_PARAM_INVALID
}

// hkdfDerive is the Derive of CKM_HKDF_DERIVE and CKM_HKDF_DATA. The input keying material is the base
// object's CKA_VALUE: a CKK_HKDF or generic secret key, or a CKO_DATA object of the hash's length (then the
// extract stage with a salt is required). Extract-only derivation yields the PRK (the hash's length);
// expansion yields the template's CKA_VALUE_LEN bytes (or the fixed length of its key type), at most 255
// hash lengths.
func hkdfDerive(p Param, base *Key, template Attrs, resolve Resolver) ([]byte, error) {
	s, err := kdfStructParam(p, func(s *wire.Params) *wire.HKDFParams { return s.HKDFParams })
	if err != nil {
		return nil, err
	}
	extract, expand := s.Extract, s.Expand
	if !extract && !expand {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	h, ok := HashOf(ck.MechanismType(s.PRFHashMechanism))
	if !ok {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	hLen := h.Size()
	ikm := base.Attrs[ck.CKA_VALUE]

	def := 0
	if !expand {
		def = hLen
	}
	n, err := kdfOutLen(template, def, 255*hLen, ck.CKR_KEY_SIZE_RANGE)
	if err != nil {
		return nil, err
	}
	if !expand && n != hLen {
		return nil, ck.CKR_TEMPLATE_INCONSISTENT
	}

	if base.Class == ck.CKO_DATA {
		// A data object may be the input only when it has the hash's length and is extracted with a salt.
		if !extract || s.SaltType == ck.CKF_HKDF_SALT_NULL ||
			(s.SaltType == ck.CKF_HKDF_SALT_DATA && len(s.Salt) == 0) {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		if len(ikm) != hLen {
			return nil, ck.CKR_KEY_SIZE_RANGE
		}
	}

	prk := ikm
	if extract {
		salt, err := hkdfSalt(s, resolve)
		if err != nil {
			return nil, err
		}
		if prk, err = hkdf.Extract(hmacHashFunc(h), ikm, salt); err != nil {
			return nil, ck.CKR_FUNCTION_FAILED
		}
		if !expand {
			return prk, nil
		}
		defer clear(prk)
	}
	out, err := hkdf.Expand(hmacHashFunc(h), prk, string(s.Info), n)
	if err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return out, nil
}

// ---- PKCS #5 PBKDF2 ----

// pbkdf2PRFs maps CK_PKCS5_PBKD2_PSEUDO_RANDOM_FUNCTION_TYPE values to hashes (CKP_PKCS5_PBKD2_HMAC_GOSTR3411
// is not supported).
var pbkdf2PRFs = map[uint64]crypto.Hash{
	ck.CKP_PKCS5_PBKD2_HMAC_SHA1:       crypto.SHA1,
	ck.CKP_PKCS5_PBKD2_HMAC_SHA224:     crypto.SHA224,
	ck.CKP_PKCS5_PBKD2_HMAC_SHA256:     crypto.SHA256,
	ck.CKP_PKCS5_PBKD2_HMAC_SHA384:     crypto.SHA384,
	ck.CKP_PKCS5_PBKD2_HMAC_SHA512:     crypto.SHA512,
	ck.CKP_PKCS5_PBKD2_HMAC_SHA512_224: crypto.SHA512_224,
	ck.CKP_PKCS5_PBKD2_HMAC_SHA512_256: crypto.SHA512_256,
}

// pbkdf2Generate is the GenerateKey of CKM_PKCS5_PBKD2. The template must name the key type (CKA_KEY_TYPE)
// and, unless the type has a fixed length, CKA_VALUE_LEN.
func pbkdf2Generate(p Param, template Attrs) (Attrs, error) {
	s, err := kdfStructParam(p, func(s *wire.Params) *wire.PKCS5PBKD2Params2 { return s.PKCS5PBKD2Params2 })
	if err != nil {
		return nil, err
	}
	if s.SaltSource != ck.CKZ_SALT_SPECIFIED {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	h, ok := pbkdf2PRFs[s.PRF]
	if !ok || len(s.PRFData) != 0 {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	if _, ok := template[ck.CKA_KEY_TYPE]; !ok {
		return nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	n, err := kdfOutLen(template, 0, kdfMaxOut, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	if err != nil {
		return nil, err
	}
	iter := s.Iterations
	blocks := uint64((n + h.Size() - 1) / h.Size())
	if iter < 1 || iter > pbkdf2MaxWork/blocks {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	dk, err := pbkdf2.Key(hmacHashFunc(h), string(s.Password), s.SaltSourceData, int(iter), n)
	if err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return Attrs{ck.CKA_VALUE: dk}, nil
}

// ---- SP 800-108 counter mode ----

// kbkdfField is one CK_PRF_DATA_PARAM of an SP 800-108 parameter.
type kbkdfField struct {
	kind   uint64 // CK_SP800_108_ITERATION_VARIABLE, CK_SP800_108_DKM_LENGTH or CK_SP800_108_BYTE_ARRAY
	data   []byte // a byte array's value
	le     bool   // the counter's or the DKM length's byte order
	width  int    // the counter's or the DKM length's width in bytes
	method uint64 // the DKM length's CK_SP800_108_DKM_LENGTH_METHOD
}

// sizeofCounterFormat and sizeofDKMLengthFormat are the LP64 sizes of CK_SP800_108_COUNTER_FORMAT
// {CK_BBOOL; CK_ULONG} and CK_SP800_108_DKM_LENGTH_FORMAT {CK_ULONG; CK_BBOOL; CK_ULONG}.
const (
	sizeofCounterFormat   = 16
	sizeofDKMLengthFormat = 24
)

// kbkdfWidth checks a ulWidthInBits: a whole number of bytes, 1..max bytes.
func kbkdfWidth(bits uint64, max int) (int, error) {
	if bits == 0 || bits%8 != 0 || bits > uint64(8*max) {
		return 0, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return int(bits / 8), nil
}

// kbkdfFields decodes the data parameters of a counter mode KDF: exactly one iteration variable (the
// counter, with a CK_SP800_108_COUNTER_FORMAT, at most 32 bits as SP 800-108 says), at most one DKM length
// (a CK_SP800_108_DKM_LENGTH_FORMAT, at most 64 bits), and non-empty byte arrays. Optional counters are not
// allowed in counter mode; key handles are not supported.
func kbkdfFields(params []ck.Attribute) ([]kbkdfField, error) {
	var fields []kbkdfField
	iters, dkms := 0, 0
	for _, a := range params {
		if a.Kind != ck.AttrValue {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		f := kbkdfField{kind: uint64(a.Type)}
		switch f.kind {
		case ck.CK_SP800_108_ITERATION_VARIABLE:
			if len(a.Value) != sizeofCounterFormat {
				return nil, ck.CKR_MECHANISM_PARAM_INVALID
			}
			bits, _ := RawULong(a.Value, 8)
			w, err := kbkdfWidth(bits, 4)
			if err != nil {
				return nil, err
			}
			f.le, f.width = a.Value[0] != 0, w
			iters++
		case ck.CK_SP800_108_DKM_LENGTH:
			if len(a.Value) != sizeofDKMLengthFormat {
				return nil, ck.CKR_MECHANISM_PARAM_INVALID
			}
			f.method, _ = RawULong(a.Value, 0)
			if f.method != ck.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS && f.method != ck.CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS {
				return nil, ck.CKR_MECHANISM_PARAM_INVALID
			}
			bits, _ := RawULong(a.Value, 16)
			w, err := kbkdfWidth(bits, 8)
			if err != nil {
				return nil, err
			}
			f.le, f.width = a.Value[8] != 0, w
			dkms++
		case ck.CK_SP800_108_BYTE_ARRAY:
			if len(a.Value) == 0 {
				return nil, ck.CKR_MECHANISM_PARAM_INVALID
			}
			f.data = a.Value
		default:
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		fields = append(fields, f)
	}
	if iters != 1 || dkms > 1 {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return fields, nil
}

// kdfPutUint writes v into b (len(b) bytes) in the given byte order; v must fit.
func kdfPutUint(b []byte, v uint64, le bool) {
	var buf [8]byte
	if le {
		binary.LittleEndian.PutUint64(buf[:], v)
		copy(b, buf[:len(b)])
	} else {
		binary.BigEndian.PutUint64(buf[:], v)
		copy(b, buf[8-len(b):])
	}
}

// kdfFits reports whether v fits in width bytes.
func kdfFits(v uint64, width int) bool { return width >= 8 || v>>(8*uint(width)) == 0 }

// sp800CounterDerive is the Derive of CKM_SP800_108_COUNTER_KDF: K(i) = PRF(KI, data with the counter i in
// place of the iteration variable), i = 1..n, output the first L bytes of K(1) || ... || K(n).
func sp800CounterDerive(p Param, base *Key, template Attrs, _ Resolver) ([]byte, error) {
	s, err := kdfStructParam(p, func(s *wire.Params) *wire.SP800108KDFParams { return s.SP800108KDFParams })
	if err != nil {
		return nil, err
	}
	f, ok := hmacPRF(ck.MechanismType(s.PRFType))
	if !ok {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID // CMAC PRFs are not supported
	}
	if s.AdditionalDerivedKeys != 0 {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	if base.Type != ck.CKK_GENERIC_SECRET && base.Type != f.keyType {
		return nil, ck.CKR_KEY_TYPE_INCONSISTENT
	}
	fields, err := kbkdfFields(s.DataParams)
	if err != nil {
		return nil, err
	}
	n, err := kdfOutLen(template, 0, kdfMaxOut, ck.CKR_KEY_SIZE_RANGE)
	if err != nil {
		return nil, err
	}
	h := f.hash.Size()
	blocks := (n + h - 1) / h
	var dkm, width int
	for _, fl := range fields {
		switch fl.kind {
		case ck.CK_SP800_108_ITERATION_VARIABLE:
			if !kdfFits(uint64(blocks), fl.width) {
				return nil, ck.CKR_MECHANISM_PARAM_INVALID // needs more than 2^r - 1 iterations
			}
			width = max(width, fl.width)
		case ck.CK_SP800_108_DKM_LENGTH:
			dkm = 8 * n
			if fl.method == ck.CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS {
				dkm = 8 * blocks * h
			}
			if !kdfFits(uint64(dkm), fl.width) {
				return nil, ck.CKR_MECHANISM_PARAM_INVALID
			}
			width = max(width, fl.width)
		}
	}
	mac, err := newHMAC(f.hash, base)
	if err != nil {
		return nil, err
	}
	enc := make([]byte, width)
	out := make([]byte, 0, blocks*h)
	for i := 1; i <= blocks; i++ {
		mac.Reset()
		for _, fl := range fields {
			switch fl.kind {
			case ck.CK_SP800_108_ITERATION_VARIABLE:
				kdfPutUint(enc[:fl.width], uint64(i), fl.le)
				mac.Write(enc[:fl.width])
			case ck.CK_SP800_108_DKM_LENGTH:
				kdfPutUint(enc[:fl.width], uint64(dkm), fl.le)
				mac.Write(enc[:fl.width])
			default:
				mac.Write(fl.data)
			}
		}
		out = mac.Sum(out)
	}
	dk := append([]byte(nil), out[:n]...)
	clear(out)
	return dk, nil
}

func init() {
	// CKK_HKDF (PKCS#11 3.0 "HKDF"): the key CKM_HKDF_KEY_GEN makes, with a generic secret's attributes;
	// HKDF's derivations also take generic secret keys and data objects.
	RegisterKeyType(&KeyTypeSpec{Type: ck.CKK_HKDF, Rules: secretRules(secretValueRules), Check: checkGenericSecret})
	hkdfInfo := ck.MechanismInfo{MinKeySize: 1, MaxKeySize: hmacMaxKey, Flags: ck.CKF_DERIVE}
	hkdfKeys := []ck.KeyType{ck.CKK_HKDF, ck.CKK_GENERIC_SECRET}
	Register(&Spec{Type: ck.CKM_HKDF_DERIVE, Info: hkdfInfo, KeyTypes: hkdfKeys, Derive: hkdfDerive,
		DeriveFromData: true, SecretKeyType: ck.CKK_GENERIC_SECRET})
	// CKM_HKDF_DATA is HKDF_DERIVE making a data object.
	Register(&Spec{Type: ck.CKM_HKDF_DATA, Info: hkdfInfo, KeyTypes: hkdfKeys, Derive: hkdfDerive,
		DeriveFromData: true, DerivesData: true})
	Register(&Spec{
		Type:        ck.CKM_HKDF_KEY_GEN,
		Info:        ck.MechanismInfo{MinKeySize: 1, MaxKeySize: secretKeyGenMax, Flags: ck.CKF_GENERATE},
		GenKeyType:  ck.CKK_HKDF,
		GenerateKey: genGenericSecret,
	})
	Register(&Spec{
		Type:        ck.CKM_PKCS5_PBKD2,
		Info:        ck.MechanismInfo{MinKeySize: 1, MaxKeySize: kdfMaxOut, Flags: ck.CKF_GENERATE},
		GenKeyType:  ck.CKK_GENERIC_SECRET,
		GenerateKey: pbkdf2Generate,
		// The template names the key type to make.
		KeyTypeFromTemplate: true,
	})
	// SP 800-108: the key sizes are the base key's, in bits (3.0 "SP800-108 Key Derivation").
	kbkdfKeys := []ck.KeyType{ck.CKK_GENERIC_SECRET}
	for _, f := range hmacFamilies {
		kbkdfKeys = append(kbkdfKeys, f.keyType)
	}
	Register(&Spec{
		Type:     ck.CKM_SP800_108_COUNTER_KDF,
		Info:     ck.MechanismInfo{MinKeySize: 8, MaxKeySize: 8 * hmacMaxKey, Flags: ck.CKF_DERIVE},
		KeyTypes: kbkdfKeys,
		Derive:   sp800CounterDerive,
		// A generic secret unless the template says otherwise.
		SecretKeyType: ck.CKK_GENERIC_SECRET,
	})
}
