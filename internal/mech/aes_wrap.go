package mech

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// AES key wrap (PKCS#11 3.0 "AES Key Wrap"), written over crypto/aes's block cipher (no library we may use
// has it):
//   - CKM_AES_KEY_WRAP: KW, RFC 3394 / NIST SP 800-38F §6.2. Encrypts data of a whole number (at least two)
//     of 8-byte semiblocks; wraps a key of any length, zero-padded to whole semiblocks (unwrapping returns
//     the padded value: the engine truncates it to CKA_VALUE_LEN). Optional parameter: an 8-byte IV.
//   - CKM_AES_KEY_WRAP_KWP: KWP, RFC 5649 / SP 800-38F §6.3, any length from 1 byte. Optional parameter:
//     the 4-byte leading half of the alternative IV (default A65959A6).
//   - CKM_AES_KEY_WRAP_PAD: PKCS#7 padding to whole semiblocks, then KW (the 3.0 text; deprecated since
//     3.1 for CKM_AES_KEY_WRAP_PKCS7 because vendors implemented it as RFC 5649). Optional 8-byte IV.
// All are single-part only: Update answers CKR_FUNCTION_NOT_SUPPORTED.
//
// Also here: CKM_AES_ECB_ENCRYPT_DATA and CKM_AES_CBC_ENCRYPT_DATA, key derivation by encrypting data.

const aesSemi = 8

var (
	aesKWDefaultIV  = []byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}
	aesKWPDefaultIV = []byte{0xa6, 0x59, 0x59, 0xa6}
)

// aesKW is SP 800-38F's wrapping function W: p is n >= 2 semiblocks; the result is n+1 semiblocks.
func aesKW(b cipher.Block, iv, p []byte) []byte {
	n := len(p) / aesSemi
	out := make([]byte, aesSemi+len(p))
	copy(out[aesSemi:], p)
	var blk [aesBS]byte
	copy(blk[:aesSemi], iv)
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			r := out[aesSemi*i : aesSemi*(i+1)]
			copy(blk[aesSemi:], r)
			b.Encrypt(blk[:], blk[:])
			a := binary.BigEndian.Uint64(blk[:aesSemi]) ^ uint64(n*j+i)
			binary.BigEndian.PutUint64(blk[:aesSemi], a)
			copy(r, blk[aesSemi:])
		}
	}
	copy(out, blk[:aesSemi])
	clear(blk[:])
	return out
}

// aesKWInverse is W⁻¹: c is n+1 >= 3 semiblocks; it returns the integrity value A and the n semiblocks.
func aesKWInverse(b cipher.Block, c []byte) (a [aesSemi]byte, p []byte) {
	n := len(c)/aesSemi - 1
	p = make([]byte, len(c)-aesSemi)
	copy(p, c[aesSemi:])
	var blk [aesBS]byte
	copy(blk[:aesSemi], c)
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			r := p[aesSemi*(i-1) : aesSemi*i]
			x := binary.BigEndian.Uint64(blk[:aesSemi]) ^ uint64(n*j+i)
			binary.BigEndian.PutUint64(blk[:aesSemi], x)
			copy(blk[aesSemi:], r)
			b.Decrypt(blk[:], blk[:])
			copy(r, blk[aesSemi:])
		}
	}
	copy(a[:], blk[:aesSemi])
	clear(blk[:])
	return a, p
}

// aesKWSeal is KW-AE: p must be a whole number, at least two, of semiblocks.
func aesKWSeal(b cipher.Block, iv, p []byte) ([]byte, error) {
	if len(p)%aesSemi != 0 || len(p) < 2*aesSemi {
		return nil, errAESPlainLen
	}
	return aesKW(b, iv, p), nil
}

// aesKWOpen is KW-AD.
func aesKWOpen(b cipher.Block, iv, c []byte) ([]byte, error) {
	if len(c)%aesSemi != 0 || len(c) < 3*aesSemi {
		return nil, errAESCipherLen
	}
	a, p := aesKWInverse(b, c)
	if subtle.ConstantTimeCompare(a[:], iv) != 1 {
		clear(p)
		return nil, errAESIntegrity
	}
	return p, nil
}

// aesKWPSeal is KWP-AE (RFC 5649).
func aesKWPSeal(b cipher.Block, iv4, p []byte) ([]byte, error) {
	if len(p) == 0 || uint64(len(p)) > 1<<32-1 {
		return nil, errAESPlainLen
	}
	var aiv [aesSemi]byte
	copy(aiv[:4], iv4)
	binary.BigEndian.PutUint32(aiv[4:], uint32(len(p)))
	padded := make([]byte, (len(p)+aesSemi-1)/aesSemi*aesSemi)
	copy(padded, p)
	defer clear(padded)
	if len(padded) == aesSemi {
		out := make([]byte, aesBS)
		copy(out, aiv[:])
		copy(out[aesSemi:], padded)
		b.Encrypt(out, out)
		return out, nil
	}
	return aesKW(b, aiv[:], padded), nil
}

// aesKWPOpen is KWP-AD: the IV's leading half, the message length indicator and the zero padding are
// checked together, and one failure is reported for all.
func aesKWPOpen(b cipher.Block, iv4, c []byte) ([]byte, error) {
	if len(c)%aesSemi != 0 || len(c) < 2*aesSemi {
		return nil, errAESCipherLen
	}
	var a [aesSemi]byte
	var p []byte
	if len(c) == aesBS {
		blk := make([]byte, aesBS)
		b.Decrypt(blk, c)
		copy(a[:], blk)
		p = blk[aesSemi:]
	} else {
		a, p = aesKWInverse(b, c)
	}
	good := subtle.ConstantTimeCompare(a[:4], iv4)
	mli := uint64(binary.BigEndian.Uint32(a[4:]))
	n := uint64(len(p))
	if mli+aesSemi <= n || mli > n {
		good = 0
	}
	m := int(min(mli, n))
	var nonzero byte
	for i := range p {
		inPad := subtle.ConstantTimeLessOrEq(m, i) // i >= m
		nonzero |= p[i] & byte(-inPad)
	}
	good &= subtle.ConstantTimeByteEq(nonzero, 0)
	if good != 1 {
		clear(p)
		return nil, errAESIntegrity
	}
	return p[:m], nil
}

// aesKWPadSeal is CKM_AES_KEY_WRAP_PAD: PKCS#7 padding to whole semiblocks, then KW.
func aesKWPadSeal(b cipher.Block, iv, p []byte) ([]byte, error) {
	padded := aesPKCS7Pad(p, aesSemi)
	defer clear(padded)
	return aesKWSeal(b, iv, padded)
}

func aesKWPadOpen(b cipher.Block, iv, c []byte) ([]byte, error) {
	p, err := aesKWOpen(b, iv, c)
	if err != nil {
		return nil, err
	}
	plain, ok := aesPKCS7Unpad(p, aesSemi)
	if !ok {
		clear(p)
		return nil, errAESIntegrity
	}
	return plain, nil
}

// aesKWIV reads the optional IV parameter: absent (or empty) for the default, else exactly its size.
func aesKWIV(m ck.MechanismType, p Param) ([]byte, error) {
	def := aesKWDefaultIV
	if m == ck.CKM_AES_KEY_WRAP_KWP {
		def = aesKWPDefaultIV
	}
	if !p.Present || len(p.Raw) == 0 {
		return def, nil
	}
	if len(p.Raw) != len(def) {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return p.Raw, nil
}

type aesKWFuncs struct {
	seal, open func(b cipher.Block, iv, in []byte) ([]byte, error)
	// unwrapLen: RFC 3394 wraps a key zero-padded to whole semiblocks (Wrap below); KWP and the PKCS #7
	// variant carry its length.
	unwrapLen UnwrapLen
}

var aesKWModes = map[ck.MechanismType]aesKWFuncs{
	ck.CKM_AES_KEY_WRAP:     {aesKWSeal, aesKWOpen, UnwrapZeroPadded},
	ck.CKM_AES_KEY_WRAP_PAD: {aesKWPadSeal, aesKWPadOpen, UnwrapWhole},
	ck.CKM_AES_KEY_WRAP_KWP: {aesKWPSeal, aesKWPOpen, UnwrapWhole},
}

// aesKWOp is a single-part key-wrap encryption or decryption.
type aesKWOp struct {
	f func(in []byte) ([]byte, error)
}

func (o aesKWOp) Update([]byte) ([]byte, error) { return nil, ck.CKR_FUNCTION_NOT_SUPPORTED }
func (o aesKWOp) Final() ([]byte, error)        { return nil, ck.CKR_FUNCTION_NOT_SUPPORTED }
func (o aesKWOp) Single(in []byte) ([]byte, error) {
	out, err := o.f(in)
	return out, aesCryptErr(err)
}

// aesKWSetup reads the parameter and the key of a key-wrap operation.
func aesKWSetup(m ck.MechanismType, p Param, k *Key) (cipher.Block, []byte, error) {
	iv, err := aesKWIV(m, p)
	if err != nil {
		return nil, nil, err
	}
	b, err := aesBlock(k)
	if err != nil {
		return nil, nil, err
	}
	return b, iv, nil
}

// ---- key derivation by encryption ----

// aesDeriveValue sizes a derived value: to the template's CKA_VALUE_LEN, else to the fixed length of its key
// type (DES, DES2, DES3), else the whole encrypted data.
func aesDeriveValue(enc []byte, t Attrs) ([]byte, error) {
	n := uint64(len(enc))
	want := n
	if _, present := t[ck.CKA_VALUE_LEN]; present {
		l, ok := GetULong(t, ck.CKA_VALUE_LEN)
		if !ok {
			return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		want = l
	} else if kt, ok := GetULong(t, ck.CKA_KEY_TYPE); ok {
		switch ck.KeyType(kt) {
		case ck.CKK_DES:
			want = 8
		case ck.CKK_DES2:
			want = 16
		case ck.CKK_DES3:
			want = 24
		}
	}
	if want == 0 || want > n {
		return nil, ck.CKR_TEMPLATE_INCONSISTENT
	}
	out := make([]byte, want)
	copy(out, enc)
	return out, nil
}

func aesEncryptDataDerive(m ck.MechanismType) func(p Param, base *Key, t Attrs, _ Resolver) ([]byte, error) {
	return func(p Param, base *Key, t Attrs, _ Resolver) ([]byte, error) {
		if !p.Present || p.S == nil {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		b, err := aesBlock(base)
		if err != nil {
			return nil, err
		}
		var bm cipher.BlockMode = aesECB{b, true}
		var data []byte
		switch c, e := p.S.AESCBCEncryptDataParams, p.S.KeyDerivationStringData; {
		case m == ck.CKM_AES_CBC_ENCRYPT_DATA && c != nil:
			if len(c.IV) != aesBS {
				return nil, ck.CKR_MECHANISM_PARAM_INVALID
			}
			bm = cipher.NewCBCEncrypter(b, c.IV)
			data = c.Data
		case m != ck.CKM_AES_CBC_ENCRYPT_DATA && e != nil:
			data = e.Data
		default:
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		if len(data) == 0 || len(data)%aesBS != 0 {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		enc := make([]byte, len(data))
		bm.CryptBlocks(enc, data)
		defer clear(enc)
		return aesDeriveValue(enc, t)
	}
}

func init() {
	for _, m := range []ck.MechanismType{ck.CKM_AES_ECB_ENCRYPT_DATA, ck.CKM_AES_CBC_ENCRYPT_DATA} {
		Register(&Spec{
			Type:     m,
			Info:     aesInfo(ck.CKF_DERIVE),
			KeyTypes: aesKeyTypes,
			Derive:   aesEncryptDataDerive(m),
			// What these derive is a generic secret unless the template says otherwise.
			SecretKeyType: ck.CKK_GENERIC_SECRET,
		})
	}
	for m, f := range aesKWModes {
		Register(&Spec{
			Type:     m,
			Info:     aesInfo(ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP),
			KeyTypes: aesKeyTypes,
			Encrypt: func(p Param, k *Key) (Operation, error) {
				b, iv, err := aesKWSetup(m, p, k)
				if err != nil {
					return nil, err
				}
				return aesKWOp{func(in []byte) ([]byte, error) { return f.seal(b, iv, in) }}, nil
			},
			Decrypt: func(p Param, k *Key) (Operation, error) {
				b, iv, err := aesKWSetup(m, p, k)
				if err != nil {
					return nil, err
				}
				return aesKWOp{func(in []byte) ([]byte, error) { return f.open(b, iv, in) }}, nil
			},
			Wrap: func(p Param, k *Key, plain []byte) ([]byte, error) {
				b, iv, err := aesKWSetup(m, p, k)
				if err != nil {
					return nil, err
				}
				in := plain
				if m == ck.CKM_AES_KEY_WRAP && len(plain)%aesSemi != 0 {
					// The spec: a key not a whole number of semiblocks is zero-padded to fit.
					in = make([]byte, (len(plain)+aesSemi-1)/aesSemi*aesSemi)
					copy(in, plain)
					defer clear(in)
				}
				out, err := f.seal(b, iv, in)
				return out, aesWrapErr(err)
			},
			Unwrap: func(p Param, k *Key, wrapped []byte) ([]byte, error) {
				b, iv, err := aesKWSetup(m, p, k)
				if err != nil {
					return nil, err
				}
				out, err := f.open(b, iv, wrapped)
				return out, aesWrapErr(err)
			},
			UnwrapLen: f.unwrapLen,
		})
	}
}
