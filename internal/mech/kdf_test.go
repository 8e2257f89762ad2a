package mech

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"encoding/binary"
	"encoding/hex"
	"os"
	"testing"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// ---- helpers ----

func hkEncode(t testing.TB, m ck.MechanismType, fields map[string]any) Param {
	t.Helper()
	raw, err := wire.EncodeParams(m, fields)
	if err != nil {
		t.Fatal(err)
	}
	return hkMechParam(t, m, raw)
}

type hkdfArgs struct {
	extract, expand bool
	hash            ck.MechanismType
	saltType        uint64
	salt            []byte
	saltKey         uint64
	info            []byte
}

func hkdfParam(t testing.TB, m ck.MechanismType, a hkdfArgs) Param {
	return hkEncode(t, m, map[string]any{
		"bExtract": a.extract, "bExpand": a.expand, "prfHashMechanism": a.hash, "ulSaltType": a.saltType,
		"pSalt": a.salt, "hSaltKey": a.saltKey, "pInfo": a.info,
	})
}

func hkTemplate(n uint64) Attrs {
	return Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_GENERIC_SECRET)), ck.CKA_VALUE_LEN: ck.ULong(n)}
}

func hkDerive(t testing.TB, m ck.MechanismType, p Param, base *Key, template Attrs, r Resolver) ([]byte, error) {
	t.Helper()
	return hkSpec(t, m).Derive(p, base, template, r)
}

// saltResolver resolves handle 77 to a generic secret holding salt.
func saltResolver(salt []byte) Resolver {
	return func(h ck.ObjectHandle) (*Key, error) {
		if h != 77 {
			return nil, ck.CKR_KEY_HANDLE_INVALID
		}
		return hkSecretKey(ck.CKK_GENERIC_SECRET, salt), nil
	}
}

// ---- HKDF ----

func TestHKDFWycheproof(t *testing.T) {
	type hkdfFile struct {
		TestGroups []struct {
			Tests []struct {
				TcID   int    `json:"tcId"`
				Ikm    string `json:"ikm"`
				Salt   string `json:"salt"`
				Info   string `json:"info"`
				Size   int    `json:"size"`
				Okm    string `json:"okm"`
				Result string `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	for _, f := range []struct {
		name string
		hash ck.MechanismType
	}{
		{"hkdf_sha256_test.json", ck.CKM_SHA256},
		{"hkdf_sha384_test.json", ck.CKM_SHA384},
		{"hkdf_sha512_test.json", ck.CKM_SHA512},
	} {
		t.Run(f.name, func(t *testing.T) {
			var file hkdfFile
			loadWycheproof(t, f.name, &file)
			c := &wycheproofCount{file: f.name}
			defer c.report(t)
			hLen := 0
			if h, ok := HashOf(f.hash); ok {
				hLen = h.Size()
			}
			for _, g := range file.TestGroups {
				for _, tc := range g.Tests {
					c.total++
					ikm, salt, info, okm := hkUnhex(t, tc.Ikm), hkUnhex(t, tc.Salt), hkUnhex(t, tc.Info), hkUnhex(t, tc.Okm)
					a := hkdfArgs{extract: true, expand: true, hash: f.hash, saltType: ck.CKF_HKDF_SALT_DATA, salt: salt, info: info}
					if len(salt) == 0 {
						a.saltType = ck.CKF_HKDF_SALT_NULL
					}
					tmpl := hkTemplate(uint64(tc.Size))
					ok := true
					check := func(what string, got []byte, err error) {
						t.Helper()
						if tc.Result == "valid" {
							if err != nil || !bytes.Equal(got, okm) {
								ok = false
								t.Errorf("tc %d %s: %x, %v", tc.TcID, what, got, err)
							}
						} else if err == nil {
							ok = false
							t.Errorf("tc %d %s: invalid vector accepted", tc.TcID, what)
						} else {
							hkWantRV(t, what, err, ck.CKR_KEY_SIZE_RANGE)
						}
					}
					got, err := hkDerive(t, ck.CKM_HKDF_DERIVE, hkdfParam(t, ck.CKM_HKDF_DERIVE, a), hkSecretKey(ck.CKK_GENERIC_SECRET, ikm), tmpl, nil)
					check("derive", got, err)
					// CKM_HKDF_DATA computes the same, from a CKK_HKDF key, with a template of only a length.
					got, err = hkDerive(t, ck.CKM_HKDF_DATA, hkdfParam(t, ck.CKM_HKDF_DATA, a), hkSecretKey(ck.CKK_HKDF, ikm),
						Attrs{ck.CKA_VALUE_LEN: ck.ULong(uint64(tc.Size))}, nil)
					check("data", got, err)
					// The salt as a key object.
					if len(salt) > 0 {
						ak := a
						ak.saltType, ak.salt, ak.saltKey = ck.CKF_HKDF_SALT_KEY, nil, 77
						got, err = hkDerive(t, ck.CKM_HKDF_DERIVE, hkdfParam(t, ck.CKM_HKDF_DERIVE, ak), hkSecretKey(ck.CKK_HKDF, ikm), tmpl, saltResolver(salt))
						check("salt key", got, err)
					}
					// Extract only, then expand only from the PRK.
					ae := a
					ae.expand, ae.info = false, nil
					prk, err := hkDerive(t, ck.CKM_HKDF_DERIVE, hkdfParam(t, ck.CKM_HKDF_DERIVE, ae), hkSecretKey(ck.CKK_GENERIC_SECRET, ikm),
						Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_GENERIC_SECRET))}, nil)
					if err != nil || len(prk) != hLen {
						ok = false
						t.Errorf("tc %d extract: %x, %v", tc.TcID, prk, err)
					} else {
						ax := a
						ax.extract, ax.saltType, ax.salt = false, 0, nil // the salt is ignored without extraction
						got, err = hkDerive(t, ck.CKM_HKDF_DERIVE, hkdfParam(t, ck.CKM_HKDF_DERIVE, ax), hkSecretKey(ck.CKK_GENERIC_SECRET, prk), tmpl, nil)
						check("expand", got, err)
					}
					c.tally(ok)
				}
			}
		})
	}
}

// TestHKDFRFC5869 checks RFC 5869 test cases 1, 3 (SHA-256) and 4 (SHA-1), the PRK and the OKM.
func TestHKDFRFC5869(t *testing.T) {
	info := hkUnhex(t, "f0f1f2f3f4f5f6f7f8f9")
	salt := hkUnhex(t, "000102030405060708090a0b0c")
	cases := []struct {
		hash      ck.MechanismType
		ikm       []byte
		salt      []byte
		info      []byte
		prk, okm  string
		saltTypes []uint64
	}{
		{ck.CKM_SHA256, bytes.Repeat([]byte{0x0b}, 22), salt, info,
			"077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
			"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", []uint64{ck.CKF_HKDF_SALT_DATA}},
		{ck.CKM_SHA256, bytes.Repeat([]byte{0x0b}, 22), nil, nil,
			"19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
			[]uint64{ck.CKF_HKDF_SALT_NULL, ck.CKF_HKDF_SALT_DATA}},
		{ck.CKM_SHA_1, bytes.Repeat([]byte{0x0b}, 11), salt, info,
			"9b6c18c432a7bf8f0e71c8eb88f4b30baa2ba243",
			"085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896", []uint64{ck.CKF_HKDF_SALT_DATA}},
	}
	for i, c := range cases {
		for _, st := range c.saltTypes {
			a := hkdfArgs{extract: true, expand: false, hash: c.hash, saltType: st, salt: c.salt, info: c.info}
			base := hkSecretKey(ck.CKK_GENERIC_SECRET, c.ikm)
			prk, err := hkDerive(t, ck.CKM_HKDF_DERIVE, hkdfParam(t, ck.CKM_HKDF_DERIVE, a), base, Attrs{}, nil)
			if err != nil || hex.EncodeToString(prk) != c.prk {
				t.Errorf("case %d salt type %d: PRK %x, %v", i, st, prk, err)
			}
			// Extract only with the PRK length given explicitly.
			hLen := uint64(len(c.prk) / 2)
			prk, err = hkDerive(t, ck.CKM_HKDF_DERIVE, hkdfParam(t, ck.CKM_HKDF_DERIVE, a), base, hkTemplate(hLen), nil)
			if err != nil || hex.EncodeToString(prk) != c.prk {
				t.Errorf("case %d: PRK with CKA_VALUE_LEN: %x, %v", i, prk, err)
			}
			a.expand = true
			okm, err := hkDerive(t, ck.CKM_HKDF_DERIVE, hkdfParam(t, ck.CKM_HKDF_DERIVE, a), base, hkTemplate(42), nil)
			if err != nil || hex.EncodeToString(okm) != c.okm {
				t.Errorf("case %d salt type %d: OKM %x, %v", i, st, okm, err)
			}
		}
	}
}

func TestHKDFDataObjectBase(t *testing.T) {
	value := bytes.Repeat([]byte{0x42}, 32)
	data := NewKey(ck.CKO_DATA, 0, Attrs{ck.CKA_VALUE: value}, nil)
	a := hkdfArgs{extract: true, expand: true, hash: ck.CKM_SHA256, saltType: ck.CKF_HKDF_SALT_DATA, salt: []byte("salt"), info: []byte("tls13 iv")}
	got, err := hkDerive(t, ck.CKM_HKDF_DATA, hkdfParam(t, ck.CKM_HKDF_DATA, a), data, Attrs{ck.CKA_VALUE_LEN: ck.ULong(12)}, nil)
	want, err2 := hkDerive(t, ck.CKM_HKDF_DATA, hkdfParam(t, ck.CKM_HKDF_DATA, a), hkSecretKey(ck.CKK_GENERIC_SECRET, value), Attrs{ck.CKA_VALUE_LEN: ck.ULong(12)}, nil)
	if err != nil || err2 != nil || len(got) != 12 || !bytes.Equal(got, want) {
		t.Errorf("data object base: %x %v; %x %v", got, err, want, err2)
	}
	for _, bad := range []hkdfArgs{
		{extract: true, expand: true, hash: ck.CKM_SHA256, saltType: ck.CKF_HKDF_SALT_NULL},
		{extract: true, expand: true, hash: ck.CKM_SHA256, saltType: ck.CKF_HKDF_SALT_DATA},
		{extract: false, expand: true, hash: ck.CKM_SHA256, saltType: ck.CKF_HKDF_SALT_DATA, salt: []byte("salt")},
	} {
		_, err := hkDerive(t, ck.CKM_HKDF_DATA, hkdfParam(t, ck.CKM_HKDF_DATA, bad), data, Attrs{ck.CKA_VALUE_LEN: ck.ULong(12)}, nil)
		hkWantRV(t, "data object without extraction and salt", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	short := NewKey(ck.CKO_DATA, 0, Attrs{ck.CKA_VALUE: value[:31]}, nil)
	_, err = hkDerive(t, ck.CKM_HKDF_DATA, hkdfParam(t, ck.CKM_HKDF_DATA, a), short, Attrs{ck.CKA_VALUE_LEN: ck.ULong(12)}, nil)
	hkWantRV(t, "data object of the wrong length", err, ck.CKR_KEY_SIZE_RANGE)
}

func TestHKDFErrors(t *testing.T) {
	base := hkSecretKey(ck.CKK_HKDF, bytes.Repeat([]byte{1}, 32))
	good := hkdfArgs{extract: true, expand: true, hash: ck.CKM_SHA256, saltType: ck.CKF_HKDF_SALT_DATA, salt: []byte("salt"), info: []byte("info")}
	derive := func(a hkdfArgs, tmpl Attrs, r Resolver) ([]byte, error) {
		return hkDerive(t, ck.CKM_HKDF_DERIVE, hkdfParam(t, ck.CKM_HKDF_DERIVE, a), base, tmpl, r)
	}
	_, err := hkDerive(t, ck.CKM_HKDF_DERIVE, Param{}, base, hkTemplate(32), nil)
	hkWantRV(t, "no parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	_, err = NewParam(&ck.Mechanism{Type: ck.CKM_HKDF_DERIVE, Parameter: []byte{1, 2, 3}})
	hkWantRV(t, "garbage parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	// A raw parameter (no decoded structure) is refused too.
	_, err = hkDerive(t, ck.CKM_HKDF_DERIVE, Param{Present: true, Raw: make([]byte, 72)}, base, hkTemplate(32), nil)
	hkWantRV(t, "undecoded parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)

	a := good
	a.extract, a.expand = false, false
	_, err = derive(a, hkTemplate(32), nil)
	hkWantRV(t, "neither extract nor expand", err, ck.CKR_MECHANISM_PARAM_INVALID)
	for _, h := range []ck.MechanismType{ck.CKM_MD5, ck.CKM_SHA256_HMAC, 0} {
		a = good
		a.hash = h
		_, err = derive(a, hkTemplate(32), nil)
		hkWantRV(t, "bad prfHashMechanism", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	for _, st := range []uint64{0, 3, 6, 8} {
		a = good
		a.saltType = st
		_, err = derive(a, hkTemplate(32), nil)
		hkWantRV(t, "bad salt type", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	// Without extraction the salt is ignored, without expansion the info.
	a = good
	a.extract, a.saltType = false, 99
	if _, err = derive(a, hkTemplate(32), nil); err != nil {
		t.Errorf("expand only with a bad salt type: %v", err)
	}
	a = good
	a.expand = false
	p1, err1 := derive(a, Attrs{}, nil)
	a.info = []byte("other")
	p2, err2 := derive(a, Attrs{}, nil)
	if err1 != nil || err2 != nil || !bytes.Equal(p1, p2) || len(p1) != 32 {
		t.Errorf("extract only depends on info: %x %v %x %v", p1, err1, p2, err2)
	}

	// Salt keys.
	a = good
	a.saltType, a.saltKey = ck.CKF_HKDF_SALT_KEY, 78
	_, err = derive(a, hkTemplate(32), saltResolver([]byte("salt")))
	hkWantRV(t, "unknown salt key", err, ck.CKR_KEY_HANDLE_INVALID)
	_, err = derive(a, hkTemplate(32), nil)
	hkWantRV(t, "no resolver", err, ck.CKR_MECHANISM_PARAM_INVALID)
	for _, k := range []*Key{
		hkSecretKey(ck.CKK_AES, make([]byte, 16)),
		NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_GENERIC_SECRET, Attrs{ck.CKA_VALUE: []byte("x")}, nil),
		hkSecretKey(ck.CKK_GENERIC_SECRET, nil),
	} {
		_, err = derive(a, hkTemplate(32), func(ck.ObjectHandle) (*Key, error) { return k, nil })
		hkWantRV(t, "unusable salt key", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}

	// Lengths.
	_, err = derive(good, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_GENERIC_SECRET))}, nil)
	hkWantRV(t, "expand without a length", err, ck.CKR_TEMPLATE_INCOMPLETE)
	_, err = derive(good, hkTemplate(0), nil)
	hkWantRV(t, "zero length", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	_, err = derive(good, Attrs{ck.CKA_VALUE_LEN: []byte{32}}, nil)
	hkWantRV(t, "malformed length", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	_, err = derive(good, hkTemplate(255*32+1), nil)
	hkWantRV(t, "longer than 255 hashes", err, ck.CKR_KEY_SIZE_RANGE)
	if out, err := derive(good, hkTemplate(255*32), nil); err != nil || len(out) != 255*32 {
		t.Errorf("255 hashes: %d, %v", len(out), err)
	}
	a = good
	a.expand = false
	_, err = derive(a, hkTemplate(16), nil)
	hkWantRV(t, "extract only with another length", err, ck.CKR_TEMPLATE_INCONSISTENT)
	_, err = derive(a, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_DES3))}, nil)
	hkWantRV(t, "extract only into a 24-byte key type", err, ck.CKR_TEMPLATE_INCONSISTENT)
	des3, err := derive(good, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_DES3))}, nil)
	full, _ := derive(good, hkTemplate(64), nil)
	if err != nil || len(des3) != 24 || !bytes.Equal(des3, full[:24]) {
		t.Errorf("DES3 key: %x, %v", des3, err)
	}
	_, err = derive(good, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_DES3)), ck.CKA_VALUE_LEN: ck.ULong(16)}, nil)
	hkWantRV(t, "DES3 with a 16-byte length", err, ck.CKR_TEMPLATE_INCONSISTENT)
	_, err = derive(good, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_AES)), ck.CKA_VALUE_LEN: ck.ULong(20)}, nil)
	hkWantRV(t, "AES with 20 bytes", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	_, err = derive(good, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_AES))}, nil)
	hkWantRV(t, "AES without a length", err, ck.CKR_TEMPLATE_INCOMPLETE)
}

func TestHKDFRegistration(t *testing.T) {
	for _, m := range []ck.MechanismType{ck.CKM_HKDF_DERIVE, ck.CKM_HKDF_DATA} {
		s := hkSpec(t, m)
		if s.Info.Flags != ck.CKF_DERIVE || !s.AcceptsKey(ck.CKK_HKDF) || !s.AcceptsKey(ck.CKK_GENERIC_SECRET) || s.AcceptsKey(ck.CKK_AES) {
			t.Errorf("%v: %+v %v", m, s.Info, s.KeyTypes)
		}
	}
	s := hkSpec(t, ck.CKM_HKDF_KEY_GEN)
	if s.Info.Flags != ck.CKF_GENERATE || s.GenKeyType != ck.CKK_HKDF {
		t.Errorf("key gen: %+v", s)
	}
	_, err := s.GenerateKey(Param{}, Attrs{})
	hkWantRV(t, "HKDF key gen without a length", err, ck.CKR_TEMPLATE_INCOMPLETE)
	a, err := s.GenerateKey(Param{}, Attrs{ck.CKA_VALUE_LEN: ck.ULong(48)})
	if err != nil || len(a[ck.CKA_VALUE]) != 48 {
		t.Errorf("HKDF key gen: %v %v", a, err)
	}
	if KeyTypeOf(ck.CKK_HKDF) == nil {
		t.Error("CKK_HKDF not registered")
	}
}

// ---- PBKDF2 ----

func pbkdf2Param(t testing.TB, prf uint64, password, salt []byte, iter uint64) Param {
	return hkEncode(t, ck.CKM_PKCS5_PBKD2, map[string]any{
		"saltSource": uint64(ck.CKZ_SALT_SPECIFIED), "pSaltSourceData": salt, "iterations": iter, "prf": prf,
		"pPassword": password,
	})
}

func pbkdf2Gen(t testing.TB, p Param, template Attrs) ([]byte, error) {
	t.Helper()
	a, err := hkSpec(t, ck.CKM_PKCS5_PBKD2).GenerateKey(p, template)
	if err != nil {
		return nil, err
	}
	if len(a) != 1 {
		t.Errorf("PBKDF2 returned %d attributes", len(a))
	}
	return a[ck.CKA_VALUE], nil
}

func TestPBKDF2Wycheproof(t *testing.T) {
	var file struct {
		TestGroups []struct {
			Tests []struct {
				TcID           int    `json:"tcId"`
				Password       string `json:"password"`
				Salt           string `json:"salt"`
				IterationCount uint64 `json:"iterationCount"`
				DkLen          uint64 `json:"dkLen"`
				Dk             string `json:"dk"`
				Result         string `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	const name = "pbkdf2_hmacsha256_test.json"
	loadWycheproof(t, name, &file)
	c := &wycheproofCount{file: name}
	defer c.report(t)
	for _, g := range file.TestGroups {
		for _, tc := range g.Tests {
			c.total++
			p := pbkdf2Param(t, ck.CKP_PKCS5_PBKD2_HMAC_SHA256, hkUnhex(t, tc.Password), hkUnhex(t, tc.Salt), tc.IterationCount)
			dk, err := pbkdf2Gen(t, p, hkTemplate(tc.DkLen))
			valid := err == nil && bytes.Equal(dk, hkUnhex(t, tc.Dk))
			c.check(t, valid == (tc.Result == "valid"), "tc %d (%s): %x, %v", tc.TcID, tc.Result, dk, err)
		}
	}
}

// TestPBKDF2RFC6070 runs the PBKDF2-HMAC-SHA1 vectors of RFC 6070 (the 2^24-iteration one with
// KEYWARD_LONG_TESTS=1).
func TestPBKDF2RFC6070(t *testing.T) {
	cases := []struct {
		password, salt string
		iter           uint64
		dk             string
	}{
		{"password", "salt", 1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"},
		{"password", "salt", 2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"},
		{"password", "salt", 4096, "4b007901b765489abead49d926f721d065a429c1"},
		{"password", "salt", 16777216, "eefe3d61cd4da4e4e9945b3d6ba2158c2634e984"},
		{"passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"},
		{"pass\x00word", "sa\x00lt", 4096, "56fa6aa75548099dcc37d7f03425e0c3"},
	}
	for _, c := range cases {
		if c.iter > 1<<20 && os.Getenv("KEYWARD_LONG_TESTS") == "" {
			continue // about 5 s: run with KEYWARD_LONG_TESTS=1
		}
		p := pbkdf2Param(t, ck.CKP_PKCS5_PBKD2_HMAC_SHA1, []byte(c.password), []byte(c.salt), c.iter)
		dk, err := pbkdf2Gen(t, p, hkTemplate(uint64(len(c.dk)/2)))
		if err != nil || hex.EncodeToString(dk) != c.dk {
			t.Errorf("%q/%q/%d: %x, %v", c.password, c.salt, c.iter, dk, err)
		}
	}
	// A fixed-length key type needs no CKA_VALUE_LEN: a DES3 key is the first 24 bytes of the 25 above.
	p := pbkdf2Param(t, ck.CKP_PKCS5_PBKD2_HMAC_SHA1, []byte(cases[4].password), []byte(cases[4].salt), 4096)
	dk, err := pbkdf2Gen(t, p, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_DES3))})
	if err != nil || hex.EncodeToString(dk) != cases[4].dk[:48] {
		t.Errorf("DES3: %x, %v", dk, err)
	}
}

// TestPBKDF2PRFs checks the other PRFs against Python's hashlib.pbkdf2_hmac (OpenSSL).
func TestPBKDF2PRFs(t *testing.T) {
	want := map[uint64]string{
		ck.CKP_PKCS5_PBKD2_HMAC_SHA224:     "2c2512403d9c8394ba445ebdacccfb6398f1946aaa61fc76b7a4c3abd043b89a337a5918a8cea4e84d079e2258725102cc5b",
		ck.CKP_PKCS5_PBKD2_HMAC_SHA384:     "57f09ee41583d492ce08ccec6e41b18324478fe938b13bb63f05219a958624114d9b23de70c0270f5c33f2cc8516e289e7d5",
		ck.CKP_PKCS5_PBKD2_HMAC_SHA512:     "431a65c261e7926a48dfdf43ace482aae83dccbdf03fd5a0fd3fb2fcaeb488b404e37e8e9905acd74b88675606c93c1385b9",
		ck.CKP_PKCS5_PBKD2_HMAC_SHA512_224: "b16832a7b132b13b5bef66eddd4c8660bb6327b122aa28595d03949e82f5d2d4f8f537b248e202b2da4a74c105f773a926a2",
		ck.CKP_PKCS5_PBKD2_HMAC_SHA512_256: "72d09b1fc96d02cea311580f407e8495292e3b18a9c34305ff93622721373e3f21a3c21c06522af140ce83f909c377024871",
	}
	for prf, w := range want {
		p := pbkdf2Param(t, prf, []byte("keyward password"), []byte("keyward salt value"), 1000)
		dk, err := pbkdf2Gen(t, p, hkTemplate(50))
		if err != nil || hex.EncodeToString(dk) != w {
			t.Errorf("prf %d: %x, %v", prf, dk, err)
		}
	}
}

func TestPBKDF2Errors(t *testing.T) {
	s := hkSpec(t, ck.CKM_PKCS5_PBKD2)
	if s.Info.Flags != ck.CKF_GENERATE || s.Derive != nil {
		t.Errorf("registration %+v", s.Info)
	}
	pw, salt := []byte("password"), []byte("saltsaltsaltsalt")
	good := map[string]any{"saltSource": uint64(ck.CKZ_SALT_SPECIFIED), "pSaltSourceData": salt, "iterations": 10,
		"prf": uint64(ck.CKP_PKCS5_PBKD2_HMAC_SHA256), "pPassword": pw}
	with := func(k string, v any) Param {
		f := map[string]any{}
		for a, b := range good {
			f[a] = b
		}
		f[k] = v
		return hkEncode(t, ck.CKM_PKCS5_PBKD2, f)
	}
	if _, err := pbkdf2Gen(t, with("iterations", 10), hkTemplate(32)); err != nil {
		t.Fatal(err)
	}
	_, err := pbkdf2Gen(t, Param{}, hkTemplate(32))
	hkWantRV(t, "no parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	for _, bad := range []Param{
		with("saltSource", 0), with("saltSource", 2),
		with("prf", 0), with("prf", uint64(ck.CKP_PKCS5_PBKD2_HMAC_GOSTR3411)), with("prf", 9),
		with("pPrfData", []byte{1}), with("iterations", 0),
		with("iterations", uint64(pbkdf2MaxWork+1)),
	} {
		_, err = pbkdf2Gen(t, bad, hkTemplate(32))
		hkWantRV(t, "bad parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	// The work bound counts output blocks: 2^23 iterations of two SHA-256 blocks is 2^24, three is over.
	_, err = pbkdf2Gen(t, with("iterations", uint64(1<<23)), hkTemplate(65))
	hkWantRV(t, "too much work", err, ck.CKR_MECHANISM_PARAM_INVALID)
	_, err = pbkdf2Gen(t, with("iterations", 10), Attrs{ck.CKA_VALUE_LEN: ck.ULong(32)})
	hkWantRV(t, "no key type", err, ck.CKR_TEMPLATE_INCOMPLETE)
	_, err = pbkdf2Gen(t, with("iterations", 10), Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_GENERIC_SECRET))})
	hkWantRV(t, "no length", err, ck.CKR_TEMPLATE_INCOMPLETE)
	_, err = pbkdf2Gen(t, with("iterations", 10), hkTemplate(kdfMaxOut+1))
	hkWantRV(t, "too long", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	_, err = pbkdf2Gen(t, with("iterations", 10), Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_AES)), ck.CKA_VALUE_LEN: ck.ULong(17)})
	hkWantRV(t, "AES of 17 bytes", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	if dk, err := pbkdf2Gen(t, with("pPassword", []byte{}), Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_AES)), ck.CKA_VALUE_LEN: ck.ULong(24)}); err != nil || len(dk) != 24 {
		t.Errorf("AES-192 from an empty password: %v", err)
	}
}

// ---- SP 800-108 counter mode ----

func kbCounter(le bool, bits uint64) []byte {
	b := make([]byte, sizeofCounterFormat)
	if le {
		b[0] = 1
	}
	binary.NativeEndian.PutUint64(b[8:], bits)
	return b
}

func kbDKM(method uint64, le bool, bits uint64) []byte {
	b := make([]byte, sizeofDKMLengthFormat)
	binary.NativeEndian.PutUint64(b, method)
	if le {
		b[8] = 1
	}
	binary.NativeEndian.PutUint64(b[16:], bits)
	return b
}

func kbField(typ uint64, v []byte) ck.Attribute {
	return ck.Attribute{Type: ck.AttributeType(typ), Kind: ck.AttrValue, Value: v}
}

func kbParam(t testing.TB, prf ck.MechanismType, fields []ck.Attribute, extra uint64) Param {
	return hkEncode(t, ck.CKM_SP800_108_COUNTER_KDF, map[string]any{"prfType": prf, "pDataParams": fields, "pAdditionalDerivedKeys": extra})
}

func kbDerive(t testing.TB, p Param, base *Key, template Attrs) ([]byte, error) {
	t.Helper()
	return hkDerive(t, ck.CKM_SP800_108_COUNTER_KDF, p, base, template, nil)
}

// TestSP800108CAVP runs vectors of NIST CAVP KBKDF (SP 800-108) counter mode, KDFCTR_gen.rsp of CAVS 14.4:
// [PRF=HMAC_SHA1] [CTRLOCATION=AFTER_FIXED] [RLEN=8_BITS] COUNT=0,10,20,30; [PRF=HMAC_SHA1]
// [CTRLOCATION=MIDDLE_FIXED] [RLEN=16_BITS] COUNT=0,10,30; [PRF=HMAC_SHA256] [CTRLOCATION=BEFORE_FIXED]
// [RLEN=24_BITS] COUNT=24,30 and [RLEN=32_BITS] COUNT=0,10,20,30. The fixed input data are byte arrays and
// the counter is the iteration variable, where the CTRLOCATION puts it.
func TestSP800108CAVP(t *testing.T) {
	vectors := []struct {
		prf           ck.MechanismType
		loc           string
		rBits, l      int
		ki            string
		before, after string // FixedInputData or DataBeforeCtrData; DataAfterCtrData
		ko            string
	}{
		{ck.CKM_SHA_1_HMAC, "AFTER", 8, 16, "7184596b9489c763b8399b3350e60929965a961c",
			"cd9e9f2b263f7b02eceadd0b532efa971ec28c77b1dbaf23e90e0a85360048ed8d3debbeb224060da0b4bf1e85da2a6ee122253b9e93784ccae35c77", "",
			"21816e8213fff01e9a9c29e93c6a0b17"},
		{ck.CKM_SHA_1_HMAC, "AFTER", 8, 32, "cb8108b98fbed27e321e1a7d3dd843169092e49a",
			"835504a8141dd995135e6b1e7916080e16d77adc17c74ae5b000058d566e8e6330f194b4321debf5b8be73e5d2d99a0fa2d9fd75c2fb47645d2e7d21", "",
			"240ad8cf18c2439a2c7f95c1daedacbd4dcae30818bffcbd8e5968ddc38a28f8"},
		{ck.CKM_SHA_1_HMAC, "AFTER", 8, 20, "5b32c1891537a1a033f520f06615d4176ee9f7dc",
			"5525f8e3c3b1eeb64aa06b060140dffc92dbf23a571fea467a79f810cf07b6065845dd0b8c1409fd1bf47a2100690c02d39018b0c011c35cfde0d729", "",
			"0e398aa1a5570ed007b66c27892c309869abcab4"},
		{ck.CKM_SHA_1_HMAC, "AFTER", 8, 40, "8ebb44c897515e0578b994d284e29f521f1c3d37",
			"05c469c12353aeaf1f6b861cd3bfeecec18df02440dd5be26e201360583a234f1b26a7e080993dc5302e7c3c7658d6abb3ea45113b9d35d1b8fffa01", "",
			"23cff16340b788d64192c282abcb12859c459ade85805f08a1373217ad202c116dea453e9281a50f"},
		{ck.CKM_SHA_1_HMAC, "MIDDLE", 16, 16, "6d85df76f0a7bb8ce5df4f14ebbc77a0037dc327",
			"bb5f3f1a0aab0c239350943880e6d19698655dc95fe9778e07d007f72924311267a5c3e1c95ad9b0f1b9731be098b453f7ba", "88295a9d15d0a5294219",
			"8c088ed7c6bbef7d9e7c55e07b7b0ce5"},
		{ck.CKM_SHA_1_HMAC, "MIDDLE", 16, 32, "812ca4f4d5a0b66fcb1112073e4e91aedcba0df2",
			"b17bde5b9c121b90e0f0751ccabc950944258651a4c04f8d1b1526dfac7c399abb6ac6c4245b57a014e5a73bcee975f1df7b", "0b0a263d77fd5af6fa27",
			"fa764c848497eb5c39c9512b569dadfb84f1adbe25761ad1e5b9ca083573087e"},
		{ck.CKM_SHA_1_HMAC, "MIDDLE", 16, 40, "6aba6f0e9035dba33a07fb62a4bfed6ad52948ad",
			"43ac14e80c5072326ef57ac3222b02bf506e23881b8ce47a48a77d13e4ad8c6b356e2b35990c818f80441d8e3581510b5536", "007664abeb864b3956f3",
			"b51a28e9e7beea7176c395581e2f4c79247527c519d48168b47ca76a4d1f4178d637907ca2725f49"},
		{ck.CKM_SHA256_HMAC, "BEFORE", 24, 20, "1223d17a90c91d4fb15fa11cdb0b8192297df2fbb16c9082b2a831d163ef4fd6",
			"95c1a121463ace7184e9b2ec2315ad239bd27c884e44319e257d2959fc2f7633409cc72c48dc3f669fcf51d24155102a73e496b2afa3f8a833a5e335", "",
			"3e4a8d59e71b317666f897bd6040da9dff55a49f"},
		{ck.CKM_SHA256_HMAC, "BEFORE", 24, 40, "c9063598d6cf8660300073b5c25603baf3ade910c182deea15d8107d6f6be295",
			"22d27eec90c2dd4ae5cf4a705abecfd781b9051ba512b048ea9499364b791e9cdf63215db43680dacffe6f19d77fc93f8a46d84dd52146389d9ec308", "",
			"f3a5b521b435a8c83eaf2d264b5b1a6dcc32c21b4897511203f97f01f2a691eef080b4cd7ca4fc38"},
		{ck.CKM_SHA256_HMAC, "BEFORE", 32, 16, "dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0",
			"01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8683d0315bb2911d80a0e8aba17f3b413faac", "",
			"10621342bfb0fd40046c0e29f2cfdbf0"},
		{ck.CKM_SHA256_HMAC, "BEFORE", 32, 32, "e204d6d466aad507ffaf6d6dab0a5b26152c9e21e764370464e360c8fbc765c6",
			"7b03b98d9f94b899e591f3ef264b71b193fba7043c7e953cde23bc5384bc1a6293580115fae3495fd845dadbd02bd6455cf48d0f62b33e62364a3a80", "",
			"770dfab6a6a4a4bee0257ff335213f78d8287b4fd537d5c1fffa956910e7c779"},
		{ck.CKM_SHA256_HMAC, "BEFORE", 32, 20, "dc60338d884eecb72975c603c27b360605011756c697c4fc388f5176ef81efb1",
			"44d7aa08feba26093c14979c122c2437c3117b63b78841cd10a4bc5ed55c56586ad8986d55307dca1d198edcffbc516a8fbe6152aa428cdd800c062d", "",
			"29ac07dccf1f28d506cd623e6e3fc2fa255bd60b"},
		{ck.CKM_SHA256_HMAC, "BEFORE", 32, 40, "c4bedbddb66493e7c7259a3bbbc25f8c7e0ca7fe284d92d431d9cd99a0d214ac",
			"1c69c54766791e315c2cc5c47ecd3ffab87d0d273dd920e70955814c220eacace6a5946542da3dfe24ff626b4897898cafb7db83bdff3c14fa46fd4b", "",
			"1da47638d6c9c4d04d74d4640bbd42ab814d9e8cc22f4326695239f96b0693f12d0dd1152cf44430"},
	}
	for i, v := range vectors {
		ctr := kbField(ck.CK_SP800_108_ITERATION_VARIABLE, kbCounter(false, uint64(v.rBits)))
		fixed := kbField(ck.CK_SP800_108_BYTE_ARRAY, hkUnhex(t, v.before))
		var fields []ck.Attribute
		switch v.loc {
		case "BEFORE":
			fields = []ck.Attribute{ctr, fixed}
		case "AFTER":
			fields = []ck.Attribute{fixed, ctr}
		case "MIDDLE":
			fields = []ck.Attribute{fixed, ctr, kbField(ck.CK_SP800_108_BYTE_ARRAY, hkUnhex(t, v.after))}
		}
		f, _ := hmacPRF(v.prf)
		for _, kt := range []ck.KeyType{ck.CKK_GENERIC_SECRET, f.keyType} {
			got, err := kbDerive(t, kbParam(t, v.prf, fields, 0), hkSecretKey(kt, hkUnhex(t, v.ki)), hkTemplate(uint64(v.l)))
			if err != nil || hex.EncodeToString(got) != v.ko {
				t.Errorf("vector %d (%v %s r=%d L=%d, %v key): %x, %v", i, v.prf, v.loc, v.rBits, 8*v.l, kt, got, err)
			}
		}
	}
}

// TestSP800108Formats checks the DKM length and byte orders: against pyca/cryptography's KBKDFHMAC (label
// || 0x00 || context || [L]), and against direct HMAC computations.
func TestSP800108Formats(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	base := hkSecretKey(ck.CKK_GENERIC_SECRET, key)
	pyca := []struct {
		prf     ck.MechanismType
		bits    uint64
		label   string
		context string
		n       uint64
		want    string
	}{
		{ck.CKM_SHA256_HMAC, 32, "keyward label", "keyward context", 42,
			"7ded715089755b57b3cbcb1ded58269e79ef5b4d7bcc25658e035d23b13dd5f46e287393fa5ac6b491de"},
		{ck.CKM_SHA384_HMAC, 32, "keyward label", "keyward context", 64,
			"eb28af870547701d9932b77012dd32a939317ef9c65fa4a887f5f50524246287ac774c96f15f1e51fef49f9e968dae6821c7171524c3fab183e84ba48682b81b"},
		// The specification's sample: 16-bit counter and length, label deadbeef, context feedbeef.
		{ck.CKM_SHA512_HMAC, 16, "\xde\xad\xbe\xef", "\xfe\xed\xbe\xef", 100,
			"bf4771abeb317c8daeb47dbd4fc65276bf1f7b6c574f035a98dc54ca3fdf8586e01ba1b919f77ecc3e67ff4e48e4719b36c2c1609175bb7b2bca83661cbe71a919090ab62cd0f664cd41375bc371479d080da1c9c405cf9b37aefd0bb64a671cdb2d061b"},
	}
	for _, v := range pyca {
		fields := []ck.Attribute{
			kbField(ck.CK_SP800_108_ITERATION_VARIABLE, kbCounter(false, v.bits)),
			kbField(ck.CK_SP800_108_BYTE_ARRAY, []byte(v.label)),
			kbField(ck.CK_SP800_108_BYTE_ARRAY, []byte{0}),
			kbField(ck.CK_SP800_108_BYTE_ARRAY, []byte(v.context)),
			kbField(ck.CK_SP800_108_DKM_LENGTH, kbDKM(ck.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, false, v.bits)),
		}
		got, err := kbDerive(t, kbParam(t, v.prf, fields, 0), base, hkTemplate(v.n))
		if err != nil || hex.EncodeToString(got) != v.want {
			t.Errorf("%v: %x, %v", v.prf, got, err)
		}
	}

	// One block with a little-endian 32-bit counter: HMAC(K, 01 00 00 00 || label).
	label := []byte("label")
	mac := hmac.New(hmacHashFunc(crypto.SHA256), key)
	mac.Write([]byte{1, 0, 0, 0})
	mac.Write(label)
	want := mac.Sum(nil)
	got, err := kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, []ck.Attribute{
		kbField(ck.CK_SP800_108_ITERATION_VARIABLE, kbCounter(true, 32)),
		kbField(ck.CK_SP800_108_BYTE_ARRAY, label),
	}, 0), base, hkTemplate(32))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("little-endian counter: %x, %v; want %x", got, err, want)
	}

	// The DKM length is the encoded number of bits: as a byte array it gives the same output. 42 bytes of
	// SHA-256 are two segments: SUM_OF_KEYS is 336 bits, SUM_OF_SEGMENTS 512.
	for _, c := range []struct {
		method uint64
		le     bool
		bits   uint64
		enc    []byte
	}{
		{ck.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, false, 16, []byte{0x01, 0x50}},
		{ck.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, true, 24, []byte{0x50, 0x01, 0x00}},
		{ck.CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS, false, 32, []byte{0, 0, 0x02, 0x00}},
		{ck.CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS, true, 64, []byte{0x00, 0x02, 0, 0, 0, 0, 0, 0}},
	} {
		ctr := kbField(ck.CK_SP800_108_ITERATION_VARIABLE, kbCounter(false, 8))
		a, err1 := kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, []ck.Attribute{
			kbField(ck.CK_SP800_108_DKM_LENGTH, kbDKM(c.method, c.le, c.bits)), ctr, kbField(ck.CK_SP800_108_BYTE_ARRAY, label),
		}, 0), base, hkTemplate(42))
		b, err2 := kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, []ck.Attribute{
			kbField(ck.CK_SP800_108_BYTE_ARRAY, c.enc), ctr, kbField(ck.CK_SP800_108_BYTE_ARRAY, label),
		}, 0), base, hkTemplate(42))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("DKM %d/%v/%d: %x %v; %x %v", c.method, c.le, c.bits, a, err1, b, err2)
		}
	}
}

func TestSP800108Errors(t *testing.T) {
	key := hkSecretKey(ck.CKK_GENERIC_SECRET, bytes.Repeat([]byte{7}, 32))
	ctr := kbField(ck.CK_SP800_108_ITERATION_VARIABLE, kbCounter(false, 32))
	label := kbField(ck.CK_SP800_108_BYTE_ARRAY, []byte("label"))
	good := []ck.Attribute{ctr, label}
	if _, err := kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, good, 0), key, hkTemplate(32)); err != nil {
		t.Fatal(err)
	}
	_, err := kbDerive(t, Param{}, key, hkTemplate(32))
	hkWantRV(t, "no parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	for _, prf := range []ck.MechanismType{ck.CKM_AES_CMAC, ck.CKM_DES3_CMAC, ck.CKM_SHA256, ck.CKM_SHA512_224_HMAC, 0} {
		_, err = kbDerive(t, kbParam(t, prf, good, 0), key, hkTemplate(32))
		hkWantRV(t, "unsupported PRF", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	_, err = kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, good, 1), key, hkTemplate(32))
	hkWantRV(t, "additional keys", err, ck.CKR_MECHANISM_PARAM_INVALID)
	dkm := kbField(ck.CK_SP800_108_DKM_LENGTH, kbDKM(ck.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, false, 32))
	for name, fields := range map[string][]ck.Attribute{
		"no fields":               nil,
		"no iteration variable":   {label},
		"two iteration variables": {ctr, label, ctr},
		"an optional counter":     {ctr, kbField(ck.CK_SP800_108_COUNTER, kbCounter(false, 32))},
		"a key handle":            {ctr, kbField(ck.CK_SP800_108_KEY_HANDLE, ck.ULong(5))},
		"an unknown type":         {ctr, kbField(9, []byte{1})},
		"an empty byte array":     {ctr, kbField(ck.CK_SP800_108_BYTE_ARRAY, nil)},
		"a NULL counter format":   {kbField(ck.CK_SP800_108_ITERATION_VARIABLE, nil), label},
		"a short counter format":  {kbField(ck.CK_SP800_108_ITERATION_VARIABLE, kbCounter(false, 32)[:9]), label},
		"a 0-bit counter":         {kbField(ck.CK_SP800_108_ITERATION_VARIABLE, kbCounter(false, 0)), label},
		"a 12-bit counter":        {kbField(ck.CK_SP800_108_ITERATION_VARIABLE, kbCounter(false, 12)), label},
		"a 40-bit counter":        {kbField(ck.CK_SP800_108_ITERATION_VARIABLE, kbCounter(false, 40)), label},
		"two DKM lengths":         {ctr, dkm, dkm},
		"a bad DKM method":        {ctr, kbField(ck.CK_SP800_108_DKM_LENGTH, kbDKM(3, false, 32))},
		"a 72-bit DKM length":     {ctr, kbField(ck.CK_SP800_108_DKM_LENGTH, kbDKM(ck.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, false, 72))},
		"a short DKM format":      {ctr, kbField(ck.CK_SP800_108_DKM_LENGTH, kbDKM(ck.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, false, 32)[:16])},
		"an 8-bit DKM of 256":     {ctr, kbField(ck.CK_SP800_108_DKM_LENGTH, kbDKM(ck.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, false, 8))},
		"a length array":          {ctr, {Type: ck.CK_SP800_108_BYTE_ARRAY, Kind: ck.AttrLength, Len: 4}},
	} {
		_, err = kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, fields, 0), key, hkTemplate(32))
		hkWantRV(t, name, err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	// An 8-bit DKM length holds 248 bits but not 256.
	dkm8 := kbField(ck.CK_SP800_108_DKM_LENGTH, kbDKM(ck.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, false, 8))
	if _, err := kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, []ck.Attribute{ctr, dkm8}, 0), key, hkTemplate(31)); err != nil {
		t.Errorf("8-bit DKM of 248: %v", err)
	}
	// An 8-bit counter runs to 255 blocks; kdfFits is what refuses more.
	if kdfFits(255, 1) != true || kdfFits(256, 1) != false || kdfFits(1<<32-1, 4) != true || kdfFits(1<<32, 4) != false || !kdfFits(1<<63, 8) {
		t.Error("kdfFits")
	}
	_, err = kbDerive(t, kbParam(t, ck.CKM_SHA_1_HMAC, good, 0), hkSecretKey(ck.CKK_SHA256_HMAC, bytes.Repeat([]byte{7}, 32)), hkTemplate(32))
	hkWantRV(t, "a SHA-256 HMAC key with the SHA-1 PRF", err, ck.CKR_KEY_TYPE_INCONSISTENT)
	_, err = kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, good, 0), key, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_GENERIC_SECRET))})
	hkWantRV(t, "no length", err, ck.CKR_TEMPLATE_INCOMPLETE)
	_, err = kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, good, 0), key, hkTemplate(kdfMaxOut+1))
	hkWantRV(t, "too long", err, ck.CKR_KEY_SIZE_RANGE)
	_, err = kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, good, 0), hkSecretKey(ck.CKK_GENERIC_SECRET, nil), hkTemplate(32))
	hkWantRV(t, "empty base key", err, ck.CKR_KEY_SIZE_RANGE)
	if out, err := kbDerive(t, kbParam(t, ck.CKM_SHA256_HMAC, good, 0), key, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_DES2))}); err != nil || len(out) != 16 {
		t.Errorf("DES2 key: %v", err)
	}

	s := hkSpec(t, ck.CKM_SP800_108_COUNTER_KDF)
	if s.Info.Flags != ck.CKF_DERIVE || s.Info.MinKeySize != 8 || s.Info.MaxKeySize != 8*hmacMaxKey ||
		!s.AcceptsKey(ck.CKK_GENERIC_SECRET) || !s.AcceptsKey(ck.CKK_SHA512_HMAC) || s.AcceptsKey(ck.CKK_AES) {
		t.Errorf("registration %+v %v", s.Info, s.KeyTypes)
	}
}
