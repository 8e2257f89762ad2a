package mech

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// ---- helpers shared by the AES tests ----

// aesHex is a hex string in a Wycheproof file.
type aesHex []byte

func (h *aesHex) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

type aesWPTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Key     aesHex   `json:"key"`
	IV      aesHex   `json:"iv"`
	AAD     aesHex   `json:"aad"`
	Msg     aesHex   `json:"msg"`
	CT      aesHex   `json:"ct"`
	Tag     aesHex   `json:"tag"`
	Result  string   `json:"result"`
}

type aesWPGroup struct {
	KeySize int         `json:"keySize"`
	IVSize  int         `json:"ivSize"`
	TagSize int         `json:"tagSize"`
	Tests   []aesWPTest `json:"tests"`
}

type aesWPFile struct {
	TestGroups []aesWPGroup `json:"testGroups"`
}

// aesWycheproof runs every vector of an AES Wycheproof file through pass, which reports whether the vector
// passed; one that does not fails the test.
func aesWycheproof(t *testing.T, file string, pass func(g *aesWPGroup, v *aesWPTest) bool) {
	t.Helper()
	wycheproofEach(t, []string{file}, func(_ string, f *aesWPFile, c *wycheproofCount) {
		for gi := range f.TestGroups {
			g := &f.TestGroups[gi]
			for vi := range g.Tests {
				v := &g.Tests[vi]
				c.total++
				c.check(t, pass(g, v), "tcId %d (%s, %v): failed", v.TcID, v.Comment, v.Flags)
			}
		}
	})
}

func aesUnhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func aesTestKey(v []byte) *Key {
	return NewKey(ck.CKO_SECRET_KEY, ck.CKK_AES, Attrs{ck.CKA_VALUE: v}, nil)
}

func aesRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// aesParam builds a mechanism parameter as the engine receives it: structured ones through the wire codec.
func aesParam(t testing.TB, m ck.MechanismType, raw []byte, fields map[string]any) Param {
	t.Helper()
	if fields != nil {
		var err error
		raw, err = wire.EncodeParams(m, fields)
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := NewParam(&ck.Mechanism{Type: m, Parameter: raw})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func aesGCMParam(t testing.TB, iv, aad []byte, tagBits int) Param {
	return aesParam(t, ck.CKM_AES_GCM, nil, map[string]any{
		"pIv": iv, "ulIvBits": len(iv) * 8, "pAAD": aad, "ulTagBits": tagBits})
}

func aesCCMParam(t testing.TB, dataLen int, nonce, aad []byte, macLen int) Param {
	return aesParam(t, ck.CKM_AES_CCM, nil, map[string]any{
		"ulDataLen": dataLen, "pNonce": nonce, "pAAD": aad, "ulMACLen": macLen})
}

func aesCTRParam(bits uint64, cb []byte) Param {
	raw := binary.NativeEndian.AppendUint64(nil, bits)
	raw = append(raw, cb...)
	return Param{Present: true, Raw: raw}
}

// aesSplits returns the ways the tests cut an input of n bytes: whole, in two at several points (block
// boundaries and around them), in three, and byte by byte for short inputs.
func aesSplits(n int) [][]int {
	out := [][]int{nil}
	seen := map[int]bool{}
	for _, c := range []int{0, 1, 7, 15, 16, 17, 31, 32, 33, n / 2, n - 17, n - 16, n - 1, n} {
		if c >= 0 && c <= n && !seen[c] {
			seen[c] = true
			out = append(out, []int{c})
		}
	}
	if n >= 3 {
		out = append(out, []int{1, n / 2}, []int{n / 3, 2 * n / 3})
	}
	if n > 0 && n <= 48 {
		every := make([]int, 0, n)
		for i := 1; i < n; i++ {
			every = append(every, i)
		}
		out = append(out, every)
	}
	return out
}

// aesRun drives an operation: single-part when cuts is nil (Single if the operation has it, else one
// Update and Final, as the engine does), else multi-part with Update at each cut and Final.
func aesRun(op Operation, in []byte, cuts []int) ([]byte, error) {
	if cuts == nil {
		if s, ok := op.(Single); ok {
			return s.Single(in)
		}
		out, err := op.Update(in)
		if err != nil {
			return nil, err
		}
		rest, err := op.Final()
		return append(out, rest...), err
	}
	var out []byte
	prev := 0
	for _, c := range append(cuts, len(in)) {
		o, err := op.Update(in[prev:c])
		if err != nil {
			return nil, err
		}
		out = append(out, o...)
		prev = c
	}
	rest, err := op.Final()
	return append(out, rest...), err
}

// aesCrypt runs one encryption or decryption of mechanism m through its Spec.
func aesCrypt(m ck.MechanismType, enc bool, p Param, key, in []byte, cuts []int) ([]byte, error) {
	s := Lookup(m)
	f := s.Decrypt
	if enc {
		f = s.Encrypt
	}
	op, err := f(p, aesTestKey(key))
	if err != nil {
		return nil, err
	}
	return aesRun(op, in, cuts)
}

func aesWantRV(t testing.TB, err error, want ck.RV, what string) {
	t.Helper()
	var rv ck.RV
	if !errors.As(err, &rv) || rv != want {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func aesCat(b ...[]byte) []byte { return bytes.Join(b, nil) }

// ---- registration, key type, key generation ----

func TestAESRegistration(t *testing.T) {
	want := map[ck.MechanismType]uint64{
		ck.CKM_AES_KEY_GEN:          ck.CKF_GENERATE,
		ck.CKM_AES_ECB:              ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP,
		ck.CKM_AES_CBC:              ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP,
		ck.CKM_AES_CBC_PAD:          ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP,
		ck.CKM_AES_CTR:              ck.CKF_ENCRYPT | ck.CKF_DECRYPT,
		ck.CKM_AES_GCM:              ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP,
		ck.CKM_AES_CCM:              ck.CKF_ENCRYPT | ck.CKF_DECRYPT,
		ck.CKM_AES_CMAC:             ck.CKF_SIGN | ck.CKF_VERIFY,
		ck.CKM_AES_CMAC_GENERAL:     ck.CKF_SIGN | ck.CKF_VERIFY,
		ck.CKM_AES_KEY_WRAP:         ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP,
		ck.CKM_AES_KEY_WRAP_PAD:     ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP,
		ck.CKM_AES_KEY_WRAP_KWP:     ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP,
		ck.CKM_AES_ECB_ENCRYPT_DATA: ck.CKF_DERIVE,
		ck.CKM_AES_CBC_ENCRYPT_DATA: ck.CKF_DERIVE,
	}
	for m, flags := range want {
		s := Lookup(m)
		if s == nil {
			t.Errorf("%v not registered", m)
			continue
		}
		if s.Info != (ck.MechanismInfo{MinKeySize: 16, MaxKeySize: 32, Flags: flags}) {
			t.Errorf("%v: info %+v", m, s.Info)
		}
		if m != ck.CKM_AES_KEY_GEN && (!s.AcceptsKey(ck.CKK_AES) || s.AcceptsKey(ck.CKK_GENERIC_SECRET)) {
			t.Errorf("%v: key types %v", m, s.KeyTypes)
		}
	}
	if Lookup(ck.CKM_AES_KEY_GEN).GenKeyType != ck.CKK_AES {
		t.Error("CKM_AES_KEY_GEN does not make CKK_AES keys")
	}
	if KeyTypeOf(ck.CKK_AES) == nil {
		t.Fatal("CKK_AES not registered")
	}
}

func TestAESKeyType(t *testing.T) {
	check := KeyTypeOf(ck.CKK_AES).Check
	for _, n := range []int{16, 24, 32} {
		add, err := check(ck.CKO_SECRET_KEY, Attrs{ck.CKA_VALUE: make([]byte, n)})
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if l, ok := GetULong(add, ck.CKA_VALUE_LEN); !ok || l != uint64(n) {
			t.Errorf("%d bytes: CKA_VALUE_LEN %v", n, add)
		}
		if _, err := check(ck.CKO_SECRET_KEY, Attrs{ck.CKA_VALUE: make([]byte, n), ck.CKA_VALUE_LEN: ck.ULong(uint64(n))}); err != nil {
			t.Errorf("%d bytes with matching CKA_VALUE_LEN: %v", n, err)
		}
	}
	for _, n := range []int{0, 1, 8, 15, 17, 20, 31, 33, 64} {
		_, err := check(ck.CKO_SECRET_KEY, Attrs{ck.CKA_VALUE: make([]byte, n)})
		aesWantRV(t, err, ck.CKR_ATTRIBUTE_VALUE_INVALID, fmt.Sprintf("%d-byte value", n))
	}
	_, err := check(ck.CKO_SECRET_KEY, Attrs{})
	aesWantRV(t, err, ck.CKR_TEMPLATE_INCOMPLETE, "no value")
	_, err = check(ck.CKO_SECRET_KEY, Attrs{ck.CKA_VALUE: make([]byte, 16), ck.CKA_VALUE_LEN: ck.ULong(32)})
	aesWantRV(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN disagreeing")
	_, err = check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_VALUE: make([]byte, 16)})
	aesWantRV(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "private AES key")
}

func TestAESKeyGen(t *testing.T) {
	gen := Lookup(ck.CKM_AES_KEY_GEN).GenerateKey
	for _, n := range []uint64{16, 24, 32} {
		a, err := gen(Param{}, Attrs{ck.CKA_VALUE_LEN: ck.ULong(n)})
		if err != nil {
			t.Fatal(err)
		}
		v := a[ck.CKA_VALUE]
		if uint64(len(v)) != n || len(a) != 1 {
			t.Fatalf("%d: got %d attributes, value of %d bytes", n, len(a), len(v))
		}
		b, _ := gen(Param{}, Attrs{ck.CKA_VALUE_LEN: ck.ULong(n)})
		if bytes.Equal(v, b[ck.CKA_VALUE]) || bytes.Equal(v, make([]byte, n)) {
			t.Fatal("generated keys are not random")
		}
		if _, err := KeyTypeOf(ck.CKK_AES).Check(ck.CKO_SECRET_KEY, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []uint64{0, 8, 15, 17, 20, 64, 1 << 40} {
		_, err := gen(Param{}, Attrs{ck.CKA_VALUE_LEN: ck.ULong(n)})
		aesWantRV(t, err, ck.CKR_ATTRIBUTE_VALUE_INVALID, fmt.Sprintf("CKA_VALUE_LEN %d", n))
	}
	_, err := gen(Param{}, Attrs{ck.CKA_VALUE_LEN: {16}})
	aesWantRV(t, err, ck.CKR_ATTRIBUTE_VALUE_INVALID, "malformed CKA_VALUE_LEN")
	_, err = gen(Param{}, Attrs{})
	aesWantRV(t, err, ck.CKR_TEMPLATE_INCOMPLETE, "no CKA_VALUE_LEN")
	_, err = gen(Param{Present: true, Raw: []byte{1}}, Attrs{ck.CKA_VALUE_LEN: ck.ULong(16)})
	aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, "parameter")
}

func TestAESBadKeySize(t *testing.T) {
	k := aesTestKey(make([]byte, 20))
	_, err := Lookup(ck.CKM_AES_ECB).Encrypt(Param{}, k)
	aesWantRV(t, err, ck.CKR_KEY_SIZE_RANGE, "ECB with a 20-byte key")
	_, err = Lookup(ck.CKM_AES_CMAC).Sign(Param{}, k)
	aesWantRV(t, err, ck.CKR_KEY_SIZE_RANGE, "CMAC with a 20-byte key")
}

// ---- ECB, CBC, CBC_PAD ----

// NIST SP 800-38A, Appendix F: the four-block example plaintext.
const aes38APlain = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51" +
	"30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710"

var aes38A = []struct {
	name     string
	m        ck.MechanismType
	key, iv  string
	ct       string
	ctrFirst bool
}{
	{"F.1.1 ECB-AES128", ck.CKM_AES_ECB, "2b7e151628aed2a6abf7158809cf4f3c", "",
		"3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4", false},
	{"F.1.5 ECB-AES256", ck.CKM_AES_ECB, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "",
		"f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870 b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7", false},
	{"F.2.1 CBC-AES128", ck.CKM_AES_CBC, "2b7e151628aed2a6abf7158809cf4f3c", "000102030405060708090a0b0c0d0e0f",
		"7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7", false},
	{"F.2.5 CBC-AES256", ck.CKM_AES_CBC, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "000102030405060708090a0b0c0d0e0f",
		"f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d 39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b", false},
	{"F.5.1 CTR-AES128", ck.CKM_AES_CTR, "2b7e151628aed2a6abf7158809cf4f3c", "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
		"874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee", true},
	{"F.5.5 CTR-AES256", ck.CKM_AES_CTR, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
		"601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5 2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6", true},
}

func TestAESSP80038A(t *testing.T) {
	plain := aesUnhex(t, aes38APlain)
	for _, v := range aes38A {
		key, ct := aesUnhex(t, v.key), aesUnhex(t, v.ct)
		var p Param
		switch v.m {
		case ck.CKM_AES_CBC:
			p = Param{Present: true, Raw: aesUnhex(t, v.iv)}
		case ck.CKM_AES_CTR:
			p = aesCTRParam(128, aesUnhex(t, v.iv))
		}
		for _, cuts := range aesSplits(len(plain)) {
			got, err := aesCrypt(v.m, true, p, key, plain, cuts)
			if err != nil || !bytes.Equal(got, ct) {
				t.Errorf("%s encrypt %v: %x %v", v.name, cuts, got, err)
			}
			got, err = aesCrypt(v.m, false, p, key, ct, cuts)
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("%s decrypt %v: %x %v", v.name, cuts, got, err)
			}
		}
	}
}

func TestAESBlockModeErrors(t *testing.T) {
	key := aesRandom(16)
	iv := Param{Present: true, Raw: make([]byte, 16)}
	for _, m := range []ck.MechanismType{ck.CKM_AES_ECB, ck.CKM_AES_CBC} {
		p := iv
		if m == ck.CKM_AES_ECB {
			p = Param{}
		}
		for _, n := range []int{1, 15, 17, 33} {
			for _, cuts := range [][]int{nil, {1}} {
				_, err := aesCrypt(m, true, p, key, make([]byte, n), cuts)
				aesWantRV(t, err, ck.CKR_DATA_LEN_RANGE, fmt.Sprintf("%v encrypt %d bytes", m, n))
				_, err = aesCrypt(m, false, p, key, make([]byte, n), cuts)
				aesWantRV(t, err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, fmt.Sprintf("%v decrypt %d bytes", m, n))
			}
		}
		// An empty input is zero blocks.
		if out, err := aesCrypt(m, true, p, key, nil, nil); err != nil || len(out) != 0 {
			t.Errorf("%v: empty input: %x %v", m, out, err)
		}
	}
	for _, p := range []Param{{}, {Present: true, Raw: make([]byte, 15)}, {Present: true, Raw: make([]byte, 17)}} {
		for _, m := range []ck.MechanismType{ck.CKM_AES_CBC, ck.CKM_AES_CBC_PAD} {
			_, err := Lookup(m).Encrypt(p, aesTestKey(key))
			aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, fmt.Sprintf("%v IV of %d", m, len(p.Raw)))
		}
	}
	_, err := Lookup(ck.CKM_AES_ECB).Encrypt(iv, aesTestKey(key))
	aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, "ECB with a parameter")
	if _, err := Lookup(ck.CKM_AES_ECB).Encrypt(Param{Present: true, Raw: []byte{}}, aesTestKey(key)); err != nil {
		t.Errorf("ECB with an empty parameter: %v", err)
	}
}

// TestAESCBCPadAgainstGo checks CBC_PAD against crypto/cipher's CBC over PKCS#7-padded data, for every
// length around the block boundaries, and the decryption's held-back last block.
func TestAESCBCPadAgainstGo(t *testing.T) {
	key, ivb := aesRandom(32), aesRandom(16)
	iv := Param{Present: true, Raw: ivb}
	b, _ := aes.NewCipher(key)
	for n := 0; n <= 50; n++ {
		plain := aesRandom(n)
		p := byte(16 - n%16)
		want := append(append([]byte(nil), plain...), bytes.Repeat([]byte{p}, int(p))...)
		cipher.NewCBCEncrypter(b, ivb).CryptBlocks(want, want)
		for _, cuts := range aesSplits(n) {
			got, err := aesCrypt(ck.CKM_AES_CBC_PAD, true, iv, key, plain, cuts)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes %v: encrypt %x %v", n, cuts, got, err)
			}
		}
		for _, cuts := range aesSplits(len(want)) {
			got, err := aesCrypt(ck.CKM_AES_CBC_PAD, false, iv, key, want, cuts)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%d bytes %v: decrypt %x %v", n, cuts, got, err)
			}
		}
	}
	// Decrypting exactly one block in Update outputs nothing yet: its padding is not known to be last.
	op, _ := Lookup(ck.CKM_AES_CBC_PAD).Decrypt(iv, aesTestKey(key))
	ct, _ := aesCrypt(ck.CKM_AES_CBC_PAD, true, iv, key, make([]byte, 20), nil)
	if out, err := op.Update(ct[:16]); err != nil || len(out) != 0 {
		t.Fatalf("first block released early: %x %v", out, err)
	}
	if out, err := op.Update(ct[16:]); err != nil || len(out) != 16 {
		t.Fatalf("second Update: %d bytes, %v", len(out), err)
	}
	if out, err := op.Final(); err != nil || len(out) != 4 {
		t.Fatalf("Final: %d bytes, %v", len(out), err)
	}
	for _, n := range []int{0, 15, 17} {
		_, err := aesCrypt(ck.CKM_AES_CBC_PAD, false, iv, key, make([]byte, n), nil)
		aesWantRV(t, err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, fmt.Sprintf("CBC_PAD decrypt %d bytes", n))
	}
}

func TestAESWycheproofCBCPKCS5(t *testing.T) {
	aesWycheproof(t, "aes_cbc_pkcs5_test.json", func(g *aesWPGroup, v *aesWPTest) bool {
		p := Param{Present: true, Raw: v.IV}
		ok := true
		for _, cuts := range aesSplits(len(v.CT)) {
			got, err := aesCrypt(ck.CKM_AES_CBC_PAD, false, p, v.Key, v.CT, cuts)
			if v.Result == "valid" {
				ok = ok && err == nil && bytes.Equal(got, v.Msg)
			} else {
				var rv ck.RV
				ok = ok && errors.As(err, &rv) &&
					(rv == ck.CKR_ENCRYPTED_DATA_INVALID || rv == ck.CKR_ENCRYPTED_DATA_LEN_RANGE)
			}
		}
		if v.Result == "valid" {
			for _, cuts := range aesSplits(len(v.Msg)) {
				got, err := aesCrypt(ck.CKM_AES_CBC_PAD, true, p, v.Key, v.Msg, cuts)
				ok = ok && err == nil && bytes.Equal(got, v.CT)
			}
		}
		return ok
	})
}

func TestAESBlockWrap(t *testing.T) {
	key, ivb := aesRandom(16), aesRandom(16)
	b, _ := aes.NewCipher(key)
	for _, m := range []ck.MechanismType{ck.CKM_AES_ECB, ck.CKM_AES_CBC, ck.CKM_AES_CBC_PAD} {
		s := Lookup(m)
		p := Param{Present: true, Raw: ivb}
		if m == ck.CKM_AES_ECB {
			p = Param{}
		}
		for _, n := range []int{16, 24, 32, 5, 40, 1218} {
			plain := aesRandom(n)
			w, err := s.Wrap(p, aesTestKey(key), plain)
			if err != nil {
				t.Fatalf("%v wrap %d: %v", m, n, err)
			}
			// Independent check: the spec's padding, then Go's ECB or CBC.
			var want []byte
			if m == ck.CKM_AES_CBC_PAD {
				want = aesPKCS7Pad(plain, 16)
			} else {
				want = make([]byte, (n+15)/16*16)
				copy(want, plain)
			}
			padded := append([]byte(nil), want...)
			if m == ck.CKM_AES_ECB {
				for i := 0; i < len(want); i += 16 {
					b.Encrypt(want[i:], want[i:i+16])
				}
			} else {
				cipher.NewCBCEncrypter(b, ivb).CryptBlocks(want, want)
			}
			if !bytes.Equal(w, want) {
				t.Fatalf("%v wrap %d: %x, want %x", m, n, w, want)
			}
			u, err := s.Unwrap(p, aesTestKey(key), w)
			if m == ck.CKM_AES_CBC_PAD {
				padded = plain
			}
			if err != nil || !bytes.Equal(u, padded) {
				t.Fatalf("%v unwrap %d: %x %v", m, n, u, err)
			}
		}
		for _, n := range []int{0, 15, 17} {
			_, err := s.Unwrap(p, aesTestKey(key), make([]byte, n))
			aesWantRV(t, err, ck.CKR_WRAPPED_KEY_LEN_RANGE, fmt.Sprintf("%v unwrap %d bytes", m, n))
		}
		_, err := s.Wrap(p, aesTestKey(key), nil)
		aesWantRV(t, err, ck.CKR_KEY_SIZE_RANGE, fmt.Sprintf("%v wrap empty", m))
	}
	// CBC_PAD: a bad padding is CKR_WRAPPED_KEY_INVALID.
	p := Param{Present: true, Raw: ivb}
	bad := make([]byte, 32)
	cipher.NewCBCEncrypter(b, ivb).CryptBlocks(bad, bad) // last byte 0: never valid padding
	_, err := Lookup(ck.CKM_AES_CBC_PAD).Unwrap(p, aesTestKey(key), bad)
	aesWantRV(t, err, ck.CKR_WRAPPED_KEY_INVALID, "CBC_PAD unwrap with bad padding")
}

func TestAESPKCS7Unpad(t *testing.T) {
	for p := 0; p <= 17; p++ {
		for _, fill := range []byte{0, 1, 16, 0xff} {
			b := bytes.Repeat([]byte{fill}, 32)
			if p > 0 {
				for i := 32 - min(p, 32); i < 32; i++ {
					b[i] = byte(p)
				}
			}
			b[31] = byte(p)
			out, ok := aesPKCS7Unpad(b, 16)
			if wantOK := p >= 1 && p <= 16; ok != wantOK || (ok && len(out) != 32-p) {
				t.Errorf("pad %d fill %d: ok %v len %d", p, fill, ok, len(out))
			}
			// One wrong padding byte anywhere in the padding is rejected.
			if p >= 2 && p <= 16 {
				for i := 32 - p; i < 31; i++ {
					c := append([]byte(nil), b...)
					c[i] ^= 0x40
					if _, ok := aesPKCS7Unpad(c, 16); ok {
						t.Errorf("pad %d: corrupted byte %d accepted", p, i)
					}
				}
			}
		}
	}
}

// ---- CTR ----

func TestAESCTRCounterLimit(t *testing.T) {
	key := aesRandom(16)
	b, _ := aes.NewCipher(key)
	cb := func(last ...byte) []byte {
		c := aesRandom(16)
		copy(c[16-len(last):], last)
		return c
	}
	cases := []struct {
		bits   uint64
		cb     []byte
		blocks int // counter values available
	}{
		{2, cb(0x01), 3},   // the spec's example: two bits starting at 1 allow three blocks
		{2, cb(0xfc), 4},   // only the low two bits count: 0
		{8, cb(0xff), 1},   // one block, then the final post-increment overflows
		{8, cb(0x00), 256}, // all of them
		{16, cb(0xff, 0xfe), 2},
		{128, bytes.Repeat([]byte{0xff}, 16), 1},
	}
	for _, c := range cases {
		p := aesCTRParam(c.bits, c.cb)
		n := c.blocks * 16
		plain := aesRandom(n + 1)
		want := make([]byte, n)
		cipher.NewCTR(b, c.cb).XORKeyStream(want, plain[:n])
		for _, cuts := range [][]int{nil, {5}, {16, 17}} {
			if cuts != nil && cuts[len(cuts)-1] > n {
				continue
			}
			got, err := aesCrypt(ck.CKM_AES_CTR, true, p, key, plain[:n], cuts)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("bits %d cb %x: %d bytes %v: %v", c.bits, c.cb, n, cuts, err)
			}
			_, err = aesCrypt(ck.CKM_AES_CTR, true, p, key, plain, cuts)
			aesWantRV(t, err, ck.CKR_DATA_LEN_RANGE, fmt.Sprintf("bits %d cb %x: %d bytes", c.bits, c.cb, n+1))
			_, err = aesCrypt(ck.CKM_AES_CTR, false, p, key, plain, cuts)
			aesWantRV(t, err, ck.CKR_DATA_LEN_RANGE, fmt.Sprintf("decrypt bits %d: %d bytes", c.bits, n+1))
		}
	}
	// A large counter field is no practical limit.
	if _, err := aesCrypt(ck.CKM_AES_CTR, true, aesCTRParam(64, cb(0xff)), key, make([]byte, 1<<16), nil); err != nil {
		t.Error(err)
	}
	for _, p := range []Param{{}, aesCTRParam(0, cb()), aesCTRParam(129, cb()), {Present: true, Raw: make([]byte, 16)},
		{Present: true, Raw: make([]byte, 25)}} {
		_, err := Lookup(ck.CKM_AES_CTR).Encrypt(p, aesTestKey(key))
		aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, fmt.Sprintf("CTR parameter %x", p.Raw))
	}
}

// TestAESCTRAgainstGo: partial blocks across Update calls continue the keystream.
func TestAESCTRAgainstGo(t *testing.T) {
	key, iv := aesRandom(24), aesRandom(16)
	iv[8] = 0 // keep well inside a 64-bit counter
	b, _ := aes.NewCipher(key)
	plain := aesRandom(100)
	want := make([]byte, 100)
	cipher.NewCTR(b, iv).XORKeyStream(want, plain)
	for _, cuts := range aesSplits(100) {
		got, err := aesCrypt(ck.CKM_AES_CTR, true, aesCTRParam(64, iv), key, plain, cuts)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%v: %v", cuts, err)
		}
	}
}

// ---- GCM ----

func TestAESWycheproofGCM(t *testing.T) {
	aesWycheproof(t, "aes_gcm_test.json", func(g *aesWPGroup, v *aesWPTest) bool {
		ok := aesCheckAEAD(t, ck.CKM_AES_GCM, aesGCMParam(t, v.IV, v.AAD, g.TagSize), *v)
		if ok && v.Result == "valid" {
			// Independent check: crypto/cipher directly.
			b, _ := aes.NewCipher(v.Key)
			aead, err := cipher.NewGCMWithNonceSize(b, len(v.IV))
			ok = err == nil && bytes.Equal(aead.Seal(nil, v.IV, v.Msg, v.AAD), aesCat(v.CT, v.Tag))
		}
		return ok
	})
}

// aesCheckAEAD runs one Wycheproof AEAD vector through GCM or CCM, single- and multi-part: a valid one
// must encrypt to ct||tag and decrypt back; an invalid one must be refused, at initialisation
// (CKR_MECHANISM_PARAM_INVALID) or at decryption (CKR_ENCRYPTED_DATA_INVALID).
func aesCheckAEAD(t *testing.T, m ck.MechanismType, p Param, v aesWPTest) bool {
	t.Helper()
	in := aesCat(v.CT, v.Tag)
	ok := true
	for _, cuts := range aesSplits(len(in)) {
		got, err := aesCrypt(m, false, p, v.Key, in, cuts)
		if v.Result == "valid" {
			ok = ok && err == nil && bytes.Equal(got, v.Msg)
			continue
		}
		var rv ck.RV
		ok = ok && errors.As(err, &rv) && (rv == ck.CKR_ENCRYPTED_DATA_INVALID || rv == ck.CKR_MECHANISM_PARAM_INVALID)
	}
	for _, cuts := range aesSplits(len(v.Msg)) {
		got, err := aesCrypt(m, true, p, v.Key, v.Msg, cuts)
		if v.Result == "valid" {
			ok = ok && err == nil && bytes.Equal(got, in)
		} else {
			ok = ok && !bytes.Equal(got, in)
		}
	}
	return ok
}

func TestAESGCMTagLengths(t *testing.T) {
	key, iv, aad := aesRandom(32), aesRandom(12), aesRandom(20)
	b, _ := aes.NewCipher(key)
	for _, n := range []int{0, 1, 16, 33} {
		plain := aesRandom(n)
		full, _ := cipher.NewGCM(b)
		ref := full.Seal(nil, iv, plain, aad)
		for _, bits := range []int{32, 64, 96, 104, 112, 120, 128} {
			tl := bits / 8
			p := aesGCMParam(t, iv, aad, bits)
			want := ref[:n+tl] // SP 800-38D: a shorter tag is the leading bits of the full one
			if tl >= 12 {
				// Independent check where Go supports the tag size itself.
				g, err := cipher.NewGCMWithTagSize(b, tl)
				if err != nil {
					t.Fatal(err)
				}
				if w := g.Seal(nil, iv, plain, aad); !bytes.Equal(w, want) {
					t.Fatalf("tag %d: crypto/cipher disagrees with truncation", bits)
				}
			}
			for _, cuts := range aesSplits(n) {
				got, err := aesCrypt(ck.CKM_AES_GCM, true, p, key, plain, cuts)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("tag %d, %d bytes %v: encrypt %x %v", bits, n, cuts, got, err)
				}
			}
			for _, cuts := range aesSplits(len(want)) {
				got, err := aesCrypt(ck.CKM_AES_GCM, false, p, key, want, cuts)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("tag %d, %d bytes %v: decrypt %x %v", bits, n, cuts, got, err)
				}
			}
			// Any flipped bit, in ciphertext, tag or associated data, is refused.
			for i := 0; i < len(want); i++ {
				bad := append([]byte(nil), want...)
				bad[i] ^= 1 << (i % 8)
				_, err := aesCrypt(ck.CKM_AES_GCM, false, p, key, bad, nil)
				aesWantRV(t, err, ck.CKR_ENCRYPTED_DATA_INVALID, fmt.Sprintf("tag %d, flipped byte %d", bits, i))
			}
			badAAD := append([]byte(nil), aad...)
			badAAD[0] ^= 1
			_, err := aesCrypt(ck.CKM_AES_GCM, false, aesGCMParam(t, iv, badAAD, bits), key, want, nil)
			aesWantRV(t, err, ck.CKR_ENCRYPTED_DATA_INVALID, "modified AAD")
			_, err = aesCrypt(ck.CKM_AES_GCM, false, p, key, want[:tl-1], nil)
			aesWantRV(t, err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "shorter than the tag")
		}
	}
	for _, bits := range []int{0, 8, 16, 31, 33, 48, 80, 88, 100, 127, 129, 256} {
		_, err := Lookup(ck.CKM_AES_GCM).Encrypt(aesGCMParam(t, iv, nil, bits), aesTestKey(key))
		aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, fmt.Sprintf("tag of %d bits", bits))
	}
	// Non-standard IV lengths with a short tag: against crypto/cipher's full tag.
	for _, ivLen := range []int{1, 8, 16, 60} {
		iv := aesRandom(ivLen)
		g, _ := cipher.NewGCMWithNonceSize(b, ivLen)
		ref := g.Seal(nil, iv, []byte("plaintext"), aad)
		p := aesGCMParam(t, iv, aad, 64)
		got, err := aesCrypt(ck.CKM_AES_GCM, true, p, key, []byte("plaintext"), nil)
		if err != nil || !bytes.Equal(got, ref[:9+8]) {
			t.Fatalf("IV of %d: %x %v", ivLen, got, err)
		}
		if pt, err := aesCrypt(ck.CKM_AES_GCM, false, p, key, got, nil); err != nil || string(pt) != "plaintext" {
			t.Fatalf("IV of %d: decrypt %q %v", ivLen, pt, err)
		}
	}
	// Parameter errors: no parameter, empty IV.
	_, err := Lookup(ck.CKM_AES_GCM).Encrypt(Param{}, aesTestKey(key))
	aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, "no parameter")
	_, err = Lookup(ck.CKM_AES_GCM).Encrypt(aesGCMParam(t, nil, nil, 128), aesTestKey(key))
	aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, "empty IV")
	// "Do no use ulIvBits to specify the length of the initialization vector, but ulIvLen instead" (PKCS#11
	// 3.0): the IV is ulIvLen bytes whatever ulIvBits says (OpenSC's p11test sets ulIvLen 16 and ulIvBits 64).
	want, _ := aesCrypt(ck.CKM_AES_GCM, true, aesGCMParam(t, iv, nil, 128), key, []byte("plaintext"), nil)
	for _, bits := range []int{0, 64, 96, 1} {
		p := aesParam(t, ck.CKM_AES_GCM, nil, map[string]any{"pIv": iv, "ulIvBits": bits, "ulTagBits": 128})
		got, err := aesCrypt(ck.CKM_AES_GCM, true, p, key, []byte("plaintext"), nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ulIvBits %d with a %d-byte IV: %x %v, want %x", bits, len(iv), got, err, want)
		}
	}
}

// TestAESGCMDecryptHoldsOutput: nothing is released before the tag is checked.
func TestAESGCMDecryptHoldsOutput(t *testing.T) {
	key, iv := aesRandom(16), aesRandom(12)
	p := aesGCMParam(t, iv, nil, 128)
	ct, _ := aesCrypt(ck.CKM_AES_GCM, true, p, key, make([]byte, 64), nil)
	op, _ := Lookup(ck.CKM_AES_GCM).Decrypt(p, aesTestKey(key))
	for i := 0; i < len(ct); i += 10 {
		out, err := op.Update(ct[i:min(i+10, len(ct))])
		if err != nil || len(out) != 0 {
			t.Fatalf("Update released %d bytes (%v)", len(out), err)
		}
	}
	if out, err := op.Final(); err != nil || len(out) != 64 {
		t.Fatalf("Final: %d bytes, %v", len(out), err)
	}
}

func TestAESGCMWrap(t *testing.T) {
	key, iv, aad := aesRandom(16), aesRandom(12), []byte("header")
	s := Lookup(ck.CKM_AES_GCM)
	p := aesGCMParam(t, iv, aad, 96)
	plain := aesRandom(32)
	w, err := s.Wrap(p, aesTestKey(key), plain)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCMWithTagSize(b, 12)
	if !bytes.Equal(w, g.Seal(nil, iv, plain, aad)) {
		t.Fatal("GCM wrap differs from crypto/cipher")
	}
	if u, err := s.Unwrap(p, aesTestKey(key), w); err != nil || !bytes.Equal(u, plain) {
		t.Fatalf("unwrap: %v", err)
	}
	w[3] ^= 1
	_, err = s.Unwrap(p, aesTestKey(key), w)
	aesWantRV(t, err, ck.CKR_WRAPPED_KEY_INVALID, "modified wrapped key")
	_, err = s.Unwrap(p, aesTestKey(key), w[:11])
	aesWantRV(t, err, ck.CKR_WRAPPED_KEY_LEN_RANGE, "wrapped key shorter than the tag")
}

// ---- CCM ----

func TestAESWycheproofCCM(t *testing.T) {
	aesWycheproof(t, "aes_ccm_test.json", func(g *aesWPGroup, v *aesWPTest) bool {
		p := aesCCMParam(t, len(v.Msg), v.IV, v.AAD, g.TagSize/8)
		ok := aesCheckAEAD(t, ck.CKM_AES_CCM, p, *v)
		if v.Result != "valid" {
			// Sizes the spec forbids must be refused at initialisation.
			for _, fl := range v.Flags {
				if fl == "InvalidNonceSize" || fl == "InvalidTagSize" || fl == "InsecureTagSize" {
					_, err := Lookup(ck.CKM_AES_CCM).Decrypt(p, aesTestKey(v.Key))
					var rv ck.RV
					ok = ok && errors.As(err, &rv) && rv == ck.CKR_MECHANISM_PARAM_INVALID
				}
			}
		}
		return ok
	})
}

// NIST SP 800-38C, Appendix C: examples 1 to 4 (example 4 with 2^16 bytes of associated data, which uses
// the six-byte length encoding).
func TestAESCCMSP80038C(t *testing.T) {
	key := aesUnhex(t, "404142434445464748494a4b4c4d4e4f")
	aad4 := make([]byte, 65536)
	for i := range aad4 {
		aad4[i] = byte(i)
	}
	cases := []struct {
		nonce, aad, plain, ct string
		bigAAD                bool
		tlen                  int
	}{
		{"10111213141516", "0001020304050607", "20212223", "7162015b4dac255d", false, 4},
		{"1011121314151617", "000102030405060708090a0b0c0d0e0f", "202122232425262728292a2b2c2d2e2f",
			"d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd", false, 6},
		{"101112131415161718191a1b", "000102030405060708090a0b0c0d0e0f10111213",
			"202122232425262728292a2b2c2d2e2f3031323334353637",
			"e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951", false, 8},
		{"101112131415161718191a1b1c", "", "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
			"69915dad1e84c6376a68c2967e4dab615ae0fd1faec44cc484828529463ccf72b4ac6bec93e8598e7f0dadbcea5b", true, 14},
	}
	for i, c := range cases {
		aad := aesUnhex(t, c.aad)
		if c.bigAAD {
			aad = aad4
		}
		plain, ct := aesUnhex(t, c.plain), aesUnhex(t, c.ct)
		p := aesCCMParam(t, len(plain), aesUnhex(t, c.nonce), aad, c.tlen)
		for _, cuts := range aesSplits(len(plain)) {
			got, err := aesCrypt(ck.CKM_AES_CCM, true, p, key, plain, cuts)
			if err != nil || !bytes.Equal(got, ct) {
				t.Errorf("example %d %v: encrypt %x %v", i+1, cuts, got, err)
			}
		}
		for _, cuts := range aesSplits(len(ct)) {
			got, err := aesCrypt(ck.CKM_AES_CCM, false, p, key, ct, cuts)
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("example %d %v: decrypt %x %v", i+1, cuts, got, err)
			}
		}
	}
}

// aesCCMReference is SP 800-38C's generation-encryption written out plainly from §6.1 and Appendix A
// (formatting function, CBC-MAC as the last block of a zero-IV CBC encryption, counter blocks through
// crypto/cipher's CTR): the boundaries of the associated-data length encoding are checked against it.
func aesCCMReference(t *testing.T, key, nonce, aad, plain []byte, tlen int) []byte {
	b, _ := aes.NewCipher(key)
	q := 15 - len(nonce)
	b0 := make([]byte, 16)
	b0[0] = byte(64*1 + 8*((tlen-2)/2) + (q - 1))
	copy(b0[1:], nonce)
	for i, l := 15, len(plain); i > 15-q; i, l = i-1, l>>8 {
		b0[i] = byte(l)
	}
	var enc []byte
	switch a := len(aad); {
	case a < 65536-256:
		enc = []byte{byte(a >> 8), byte(a)}
	default: // a < 2^32 here
		enc = []byte{0xff, 0xfe, byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}
	}
	enc = append(enc, aad...)
	enc = append(enc, make([]byte, (16-len(enc)%16)%16)...)
	p := append(append([]byte(nil), plain...), make([]byte, (16-len(plain)%16)%16)...)
	all := aesCat(b0, enc, p)
	cipher.NewCBCEncrypter(b, make([]byte, 16)).CryptBlocks(all, all)
	tag := all[len(all)-16:]
	ctr := make([]byte, 16)
	ctr[0] = byte(q - 1)
	copy(ctr[1:], nonce)
	ks := make([]byte, 16+len(plain))
	cipher.NewCTR(b, ctr).XORKeyStream(ks, ks)
	out := make([]byte, len(plain))
	for i := range plain {
		out[i] = plain[i] ^ ks[16+i]
	}
	for i := 0; i < tlen; i++ {
		out = append(out, tag[i]^ks[i])
	}
	return out
}

func TestAESCCMAADEncoding(t *testing.T) {
	key, nonce, plain := aesRandom(16), aesRandom(11), aesRandom(21)
	for _, a := range []int{1, 14, 15, 16, 65279, 65280, 65281, 70000} {
		aad := aesRandom(a)
		want := aesCCMReference(t, key, nonce, aad, plain, 10)
		p := aesCCMParam(t, len(plain), nonce, aad, 10)
		got, err := aesCrypt(ck.CKM_AES_CCM, true, p, key, plain, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("AAD of %d bytes: %x %v, want %x", a, got, err, want)
		}
		if pt, err := aesCrypt(ck.CKM_AES_CCM, false, p, key, want, []int{3}); err != nil || !bytes.Equal(pt, plain) {
			t.Errorf("AAD of %d bytes: decrypt %v", a, err)
		}
	}
}

func TestAESCCMErrors(t *testing.T) {
	key, nonce := aesRandom(16), aesRandom(12)
	p := aesCCMParam(t, 10, nonce, nil, 8)
	_, err := aesCrypt(ck.CKM_AES_CCM, true, p, key, make([]byte, 9), nil)
	aesWantRV(t, err, ck.CKR_DATA_LEN_RANGE, "encrypt shorter than ulDataLen")
	_, err = aesCrypt(ck.CKM_AES_CCM, true, p, key, make([]byte, 11), []int{5})
	aesWantRV(t, err, ck.CKR_DATA_LEN_RANGE, "encrypt longer than ulDataLen")
	ct, err := aesCrypt(ck.CKM_AES_CCM, true, p, key, make([]byte, 10), nil)
	if err != nil || len(ct) != 18 {
		t.Fatalf("encrypt: %d bytes, %v", len(ct), err)
	}
	_, err = aesCrypt(ck.CKM_AES_CCM, false, p, key, ct[:17], nil)
	aesWantRV(t, err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "decrypt short of ulDataLen + ulMACLen")
	_, err = aesCrypt(ck.CKM_AES_CCM, false, p, key, append(ct, 0), nil)
	aesWantRV(t, err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "decrypt beyond ulDataLen + ulMACLen")
	for i := range ct {
		bad := append([]byte(nil), ct...)
		bad[i] ^= 0x80
		_, err = aesCrypt(ck.CKM_AES_CCM, false, p, key, bad, nil)
		aesWantRV(t, err, ck.CKR_ENCRYPTED_DATA_INVALID, fmt.Sprintf("flipped byte %d", i))
	}
	bad := []Param{
		{},
		aesCCMParam(t, 10, aesRandom(6), nil, 8),
		aesCCMParam(t, 10, aesRandom(14), nil, 8),
		aesCCMParam(t, 10, nonce, nil, 2),
		aesCCMParam(t, 10, nonce, nil, 5),
		aesCCMParam(t, 10, nonce, nil, 18),
		aesCCMParam(t, 1<<24, aesRandom(13), nil, 8), // two length bytes cannot say 2^24
	}
	for i, p := range bad {
		_, err := Lookup(ck.CKM_AES_CCM).Encrypt(p, aesTestKey(key))
		aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, fmt.Sprintf("bad parameter %d", i))
	}
	if _, err := Lookup(ck.CKM_AES_CCM).Encrypt(aesCCMParam(t, 65535, aesRandom(13), nil, 16), aesTestKey(key)); err != nil {
		t.Errorf("largest length for a 13-byte nonce: %v", err)
	}
}

// ---- key derivation ----

func TestAESEncryptDataDerive(t *testing.T) {
	key, data, ivb := aesRandom(16), aesRandom(32), aesRandom(16)
	b, _ := aes.NewCipher(key)
	ecb := make([]byte, 32)
	b.Encrypt(ecb, data[:16])
	b.Encrypt(ecb[16:], data[16:])
	cbc := make([]byte, 32)
	cipher.NewCBCEncrypter(b, ivb).CryptBlocks(cbc, data)

	ecbP := aesParam(t, ck.CKM_AES_ECB_ENCRYPT_DATA, nil, map[string]any{"pData": data})
	cbcP := aesParam(t, ck.CKM_AES_CBC_ENCRYPT_DATA, nil, map[string]any{"iv": ivb, "pData": data})
	for _, c := range []struct {
		m    ck.MechanismType
		p    Param
		want []byte
	}{{ck.CKM_AES_ECB_ENCRYPT_DATA, ecbP, ecb}, {ck.CKM_AES_CBC_ENCRYPT_DATA, cbcP, cbc}} {
		derive := Lookup(c.m).Derive
		for _, tc := range []struct {
			tmpl Attrs
			n    int
		}{
			{Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_AES))}, 32},
			{Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_AES)), ck.CKA_VALUE_LEN: ck.ULong(16)}, 16},
			{Attrs{ck.CKA_VALUE_LEN: ck.ULong(24)}, 24},
			{Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_DES3))}, 24},
			{Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_GENERIC_SECRET))}, 32},
			{Attrs{}, 32},
		} {
			got, err := derive(c.p, aesTestKey(key), tc.tmpl, nil)
			if err != nil || !bytes.Equal(got, c.want[:tc.n]) {
				t.Errorf("%v %v: %x %v", c.m, tc.tmpl, got, err)
			}
		}
		_, err := derive(c.p, aesTestKey(key), Attrs{ck.CKA_VALUE_LEN: ck.ULong(33)}, nil)
		aesWantRV(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN beyond the data")
		_, err = derive(c.p, aesTestKey(key), Attrs{ck.CKA_VALUE_LEN: ck.ULong(0)}, nil)
		aesWantRV(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN 0")
		_, err = derive(Param{}, aesTestKey(key), Attrs{}, nil)
		aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, "no parameter")
	}
	for _, d := range [][]byte{nil, make([]byte, 15), make([]byte, 17)} {
		p := aesParam(t, ck.CKM_AES_ECB_ENCRYPT_DATA, nil, map[string]any{"pData": d})
		_, err := Lookup(ck.CKM_AES_ECB_ENCRYPT_DATA).Derive(p, aesTestKey(key), Attrs{}, nil)
		aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, fmt.Sprintf("ECB data of %d bytes", len(d)))
		p = aesParam(t, ck.CKM_AES_CBC_ENCRYPT_DATA, nil, map[string]any{"iv": ivb, "pData": d})
		_, err = Lookup(ck.CKM_AES_CBC_ENCRYPT_DATA).Derive(p, aesTestKey(key), Attrs{}, nil)
		aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, fmt.Sprintf("CBC data of %d bytes", len(d)))
	}
}
