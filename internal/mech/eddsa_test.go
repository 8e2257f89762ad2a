package mech

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/cloudflare/circl/dh/x448"
	"github.com/cloudflare/circl/sign/ed448"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

func edParams(t testing.TB, ph bool, ctx []byte) Param {
	t.Helper()
	return ecMechParam(t, ck.CKM_EDDSA, map[string]any{"phFlag": ph, "pContextData": ctx})
}

var (
	edParamsEd25519 = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	edParamsEd448   = []byte{0x06, 0x03, 0x2b, 0x65, 0x71}
	edParamsX25519  = []byte{0x06, 0x03, 0x2b, 0x65, 0x6e}
	edParamsX448    = []byte{0x06, 0x03, 0x2b, 0x65, 0x6f}
)

func edKeys(t testing.TB, kt ck.KeyType, params, priv, pub []byte) (pubKey, privKey *Key) {
	t.Helper()
	pubKey = NewKey(ck.CKO_PUBLIC_KEY, kt, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_EC_POINT: pub}, nil)
	privKey = NewKey(ck.CKO_PRIVATE_KEY, kt, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_VALUE: priv}, nil)
	return pubKey, privKey
}

// RFC 8032 section 7 vectors for the schemes Wycheproof does not cover: Ed25519ctx (7.2), Ed25519ph (7.3),
// Ed448 with a context (7.4) and Ed448ph (7.5). The ph schemes take the message; the token prehashes it.
func TestEdDSARFC8032(t *testing.T) {
	for _, v := range []struct {
		name          string
		params        []byte
		ph            bool
		seed, pub     string
		msg, ctx, sig string
	}{
		{"Ed25519ctx foo", edParamsEd25519, false,
			"0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6",
			"dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292",
			"f726936d19c800494e3fdaff20b276a8", "666f6f",
			"55a4cc2f70a54e04288c5f4cd1e45a7bb520b36292911876cada7323198dd87a8b36950b95130022907a7fb7c4e9b2d5f6cca685a587b4b21f4b888e4e7edb0d"},
		{"Ed25519ph abc", edParamsEd25519, true,
			"833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
			"ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
			"616263", "",
			"98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"},
		{"Ed448 1 octet with context", edParamsEd448, false,
			"c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463afbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e",
			"43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802b8438ea4cb82169c235160627b4c3a9480",
			"03", "666f6f",
			"d4f8f6131770dd46f40867d6fd5d5055de43541f8c5e35abbcd001b32a89f7d2151f7647f11d8ca2ae279fb842d607217fce6e042f6815ea000c85741de5c8da1144a6a1aba7f96de42505d7a7298524fda538fccbbb754f578c1cad10d54d0d5428407e85dcbc98a49155c13764e66c3c00"},
		{"Ed448ph abc", edParamsEd448, true,
			"833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42ef7822e0d5104127dc05d6dbefde69e3ab2cec7c867c6e2c49",
			"259b71c19f83ef77a7abd26524cbdb3161b590a48f7d17de3ee0ba9c52beb743c09428a131d6b1b57303d90d8132c276d5ed3d5d01c0f53880",
			"616263", "",
			"822f6901f7480f3d5f562c592994d9693602875614483256505600bbc281ae381f54d6bce2ea911574932f52a4e6cadd78769375ec3ffd1b801a0d9b3f4030cd433964b6457ea39476511214f97469b57dd32dbc560a9a94d00bff07620464a3ad203df7dc7ce360c3cd3696d9d9fab90f00"},
		{"Ed448ph abc with context", edParamsEd448, true,
			"833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42ef7822e0d5104127dc05d6dbefde69e3ab2cec7c867c6e2c49",
			"259b71c19f83ef77a7abd26524cbdb3161b590a48f7d17de3ee0ba9c52beb743c09428a131d6b1b57303d90d8132c276d5ed3d5d01c0f53880",
			"616263", "666f6f",
			"c32299d46ec8ff02b54540982814dce9a05812f81962b649d528095916a2aa481065b1580423ef927ecf0af5888f90da0f6a9a85ad5dc3f280d91224ba9911a3653d00e484e2ce232521481c8658df304bb7745a73514cdb9bf3e15784ab71284f8d0704a608c54a6b62d97beb511d132100"},
	} {
		pub, priv := edKeys(t, ck.CKK_EC_EDWARDS, v.params, ecUnhex(t, v.seed), ecUnhex(t, v.pub))
		p := edParams(t, v.ph, ecUnhex(t, v.ctx))
		msg, want := ecUnhex(t, v.msg), ecUnhex(t, v.sig)
		for _, parts := range []int{0, 1, 2} {
			sig, err := ecSign(t, ck.CKM_EDDSA, p, priv, msg, parts)
			if err != nil || !bytes.Equal(sig, want) {
				t.Errorf("%s parts=%d: %x, %v", v.name, parts, sig, err)
			}
			if err := ecVerify(t, ck.CKM_EDDSA, p, pub, msg, want, parts); err != nil {
				t.Errorf("%s parts=%d verify: %v", v.name, parts, err)
			}
		}
		// Another scheme on the same key does not accept the signature.
		for _, q := range []Param{{}, edParams(t, !v.ph, ecUnhex(t, v.ctx)), edParams(t, v.ph, []byte("bar"))} {
			ecWantRV(t, v.name+" other scheme", ecVerify(t, ck.CKM_EDDSA, q, pub, msg, want, 0), ck.CKR_SIGNATURE_INVALID)
		}
		// The public key of the seed is the RFC's, in the DER OCTET STRING form.
		add, err := KeyTypeOf(ck.CKK_EC_EDWARDS).Check(ck.CKO_PRIVATE_KEY, priv.Attrs)
		if err != nil || !bytes.Equal(add[ck.CKA_EC_POINT], append([]byte{4, byte(len(v.pub) / 2)}, ecUnhex(t, v.pub)...)) {
			t.Errorf("%s: Check adds %x, %v", v.name, add[ck.CKA_EC_POINT], err)
		}
	}
}

type eddsaWycheproof struct {
	TestGroups []struct {
		PublicKey struct {
			Curve string `json:"curve"`
			PK    string `json:"pk"`
		} `json:"publicKey"`
		Tests []struct {
			TcID   int    `json:"tcId"`
			Msg    string `json:"msg"`
			Sig    string `json:"sig"`
			Result string `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func TestEdDSAWycheproof(t *testing.T) {
	for _, f := range []struct {
		name, curve string
		params      []byte
	}{
		{"ed25519_test.json", "edwards25519", edParamsEd25519},
		{"ed448_test.json", "edwards448", []byte("\x13\x0aedwards448")},
	} {
		var file eddsaWycheproof
		loadWycheproof(t, f.name, &file)
		count := wycheproofCount{file: f.name}
		for gi, g := range file.TestGroups {
			if g.PublicKey.Curve != f.curve {
				t.Fatalf("%s: curve %s", f.name, g.PublicKey.Curve)
			}
			point := ecUnhex(t, g.PublicKey.PK)
			if gi%2 == 1 {
				point = ecDERString(t, cbasn1.OCTET_STRING, point)
			}
			attrs := Attrs{ck.CKA_EC_PARAMS: f.params, ck.CKA_EC_POINT: point}
			if _, err := KeyTypeOf(ck.CKK_EC_EDWARDS).Check(ck.CKO_PUBLIC_KEY, attrs); err != nil {
				t.Fatalf("%s group %d: public key rejected: %v", f.name, gi, err)
			}
			pub := NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_EC_EDWARDS, attrs, nil)
			for _, v := range g.Tests {
				count.total++
				err := ecVerify(t, ck.CKM_EDDSA, Param{}, pub, ecUnhex(t, v.Msg), ecUnhex(t, v.Sig), v.TcID%3)
				accepted := err == nil
				count.check(t, (v.Result == "valid") == accepted || v.Result == "acceptable", "%s tcId %d (%s): %v", f.name, v.TcID, v.Result, err)
			}
		}
		count.report(t)
	}
}

type xdhWycheproof struct {
	TestGroups []struct {
		Curve string `json:"curve"`
		Tests []struct {
			TcID    int      `json:"tcId"`
			Public  string   `json:"public"`
			Private string   `json:"private"`
			Shared  string   `json:"shared"`
			Result  string   `json:"result"`
			Flags   []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// X25519 and X448 through CKM_ECDH1_DERIVE with CKK_EC_MONTGOMERY keys.
func TestXDHWycheproof(t *testing.T) {
	for _, f := range []struct {
		name, curve string
		params      []byte
	}{
		{"x25519_test.json", "curve25519", edParamsX25519},
		{"x448_test.json", "curve448", []byte("\x13\x08curve448")},
	} {
		var file xdhWycheproof
		loadWycheproof(t, f.name, &file)
		count := wycheproofCount{file: f.name}
		spec := ecSpec(t, ck.CKM_ECDH1_DERIVE)
		for _, g := range file.TestGroups {
			if g.Curve != f.curve {
				t.Fatalf("%s: curve %s", f.name, g.Curve)
			}
			for _, v := range g.Tests {
				count.total++
				priv := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_EC_MONTGOMERY, Attrs{ck.CKA_EC_PARAMS: f.params, ck.CKA_VALUE: ecUnhex(t, v.Private)}, nil)
				peer := ecUnhex(t, v.Public)
				if v.TcID%2 == 0 {
					peer = ecDERString(t, cbasn1.OCTET_STRING, peer)
				}
				got, err := spec.Derive(ecdhParam(t, ck.CKM_ECDH1_DERIVE, ck.CKD_NULL, nil, peer), priv, Attrs{}, nil)
				if err != nil {
					ecWantRV(t, fmt.Sprintf("%s tcId %d", f.name, v.TcID), err, ck.CKR_MECHANISM_PARAM_INVALID)
				}
				want := ecUnhex(t, v.Shared)
				var good bool
				switch v.Result {
				case "valid":
					good = err == nil && bytes.Equal(got, want)
				case "invalid":
					good = err != nil
				default: // acceptable: refusing (an all-zero secret) or agreeing
					good = err != nil || bytes.Equal(got, want)
				}
				count.check(t, good, "%s tcId %d (%s %v): %x, %v", f.name, v.TcID, v.Result, v.Flags, got, err)
			}
		}
		count.report(t)
	}
}

// Keys generated here sign for, and verify, Go's crypto/ed25519 and circl's ed448, in every scheme.
func TestEdDSARoundTrip(t *testing.T) {
	gen := ecSpec(t, ck.CKM_EC_EDWARDS_KEY_PAIR_GEN)
	if gen.GenKeyType != ck.CKK_EC_EDWARDS {
		t.Errorf("GenKeyType %v", gen.GenKeyType)
	}
	msg := make([]byte, 3000)
	rand.Read(msg)
	for _, params := range [][]byte{edParamsEd25519, []byte("\x13\x0cedwards25519"), edParamsEd448, []byte("\x13\x0aedwards448")} {
		pubA, privA, err := gen.GenerateKeyPair(Param{}, Attrs{ck.CKA_EC_PARAMS: params}, Attrs{})
		if err != nil {
			t.Fatal(err)
		}
		is448 := bytes.Equal(params, edParamsEd448) || strings.Contains(string(params), "448")
		size := 32
		if is448 {
			size = 57
		}
		point := pubA[ck.CKA_EC_POINT]
		if len(point) != 2+size || point[0] != 4 || int(point[1]) != size || !bytes.Equal(privA[ck.CKA_EC_POINT], point) {
			t.Fatalf("%x: CKA_EC_POINT %x", params, point)
		}
		raw := point[2:]
		if len(privA[ck.CKA_VALUE]) != size || !bytes.Equal(privA[ck.CKA_EC_PARAMS], params) {
			t.Fatalf("%x: private %v", params, privA)
		}
		for _, a := range []Attrs{pubA, privA} {
			if is448 {
				want := "3043300506032b6571033a00" + fmt.Sprintf("%x", raw)
				if fmt.Sprintf("%x", a[ck.CKA_PUBLIC_KEY_INFO]) != want {
					t.Errorf("Ed448 CKA_PUBLIC_KEY_INFO %x", a[ck.CKA_PUBLIC_KEY_INFO])
				}
			} else if got, err := x509.ParsePKIXPublicKey(a[ck.CKA_PUBLIC_KEY_INFO]); err != nil || !bytes.Equal(got.(ed25519.PublicKey), raw) {
				t.Errorf("Ed25519 CKA_PUBLIC_KEY_INFO: %v", err)
			}
		}
		if _, err := KeyTypeOf(ck.CKK_EC_EDWARDS).Check(ck.CKO_PRIVATE_KEY, privA); err != nil {
			t.Errorf("generated private key fails Check: %v", err)
		}
		pub := NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_EC_EDWARDS, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_EC_POINT: point}, nil)
		priv := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_EC_EDWARDS, privA, nil)

		for _, mode := range []struct {
			p   Param
			ph  bool
			ctx string
		}{{Param{}, false, ""}, {edParams(t, false, nil), false, ""}, {edParams(t, false, []byte("context")), false, "context"},
			{edParams(t, true, nil), true, ""}, {edParams(t, true, []byte("ctx")), true, "ctx"}} {
			name := fmt.Sprintf("%x ph=%v ctx=%q", params, mode.ph, mode.ctx)
			single, err := ecSign(t, ck.CKM_EDDSA, mode.p, priv, msg, 0)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			multi, err := ecSign(t, ck.CKM_EDDSA, mode.p, priv, msg, 4)
			if err != nil || !bytes.Equal(single, multi) {
				t.Errorf("%s: multi-part signature differs: %v", name, err)
			}
			var ok bool
			if is448 {
				if mode.ph {
					ok = ed448.VerifyPh(ed448.PublicKey(raw), msg, single, mode.ctx)
				} else {
					ok = ed448.Verify(ed448.PublicKey(raw), msg, single, mode.ctx)
				}
			} else {
				m, opts := msg, &ed25519.Options{Context: mode.ctx}
				if mode.ph {
					d := sha512.Sum512(msg)
					m, opts.Hash = d[:], crypto.SHA512
				}
				ok = ed25519.VerifyWithOptions(ed25519.PublicKey(raw), m, single, opts) == nil
			}
			if !ok {
				t.Errorf("%s: the reference rejects the signature", name)
			}
			for _, parts := range []int{0, 3} {
				if err := ecVerify(t, ck.CKM_EDDSA, mode.p, pub, msg, single, parts); err != nil {
					t.Errorf("%s parts=%d: verify: %v", name, parts, err)
				}
			}
			bad := bytes.Clone(single)
			bad[5] ^= 1
			ecWantRV(t, name+" changed", ecVerify(t, ck.CKM_EDDSA, mode.p, pub, msg, bad, 0), ck.CKR_SIGNATURE_INVALID)
			ecWantRV(t, name+" short", ecVerify(t, ck.CKM_EDDSA, mode.p, pub, msg, single[1:], 0), ck.CKR_SIGNATURE_LEN_RANGE)
		}
		_, err = ecSign(t, ck.CKM_EDDSA, edParams(t, false, make([]byte, 256)), priv, msg, 0)
		ecWantRV(t, "context of 256 bytes", err, ck.CKR_MECHANISM_PARAM_INVALID)
		_, err = ecSign(t, ck.CKM_EDDSA, Param{}, pub, msg, 0)
		ecWantRV(t, "sign with a public key", err, ck.CKR_KEY_FUNCTION_NOT_PERMITTED)
	}
	// Ed25519 signatures from Go verify (pure, ctx with the maximal context, ph).
	goPub, goPriv, _ := ed25519.GenerateKey(rand.Reader)
	pub := NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_EC_EDWARDS, Attrs{ck.CKA_EC_PARAMS: edParamsEd25519, ck.CKA_EC_POINT: []byte(goPub)}, nil)
	ctx := strings.Repeat("c", 255)
	sig, _ := goPriv.Sign(nil, msg, &ed25519.Options{Context: ctx})
	if err := ecVerify(t, ck.CKM_EDDSA, edParams(t, false, []byte(ctx)), pub, msg, sig, 2); err != nil {
		t.Errorf("Go's Ed25519ctx signature: %v", err)
	}
	if err := ecVerify(t, ck.CKM_EDDSA, Param{}, pub, msg, ed25519.Sign(goPriv, msg), 0); err != nil {
		t.Errorf("Go's Ed25519 signature: %v", err)
	}

	_, _, err := gen.GenerateKeyPair(Param{}, Attrs{ck.CKA_EC_PARAMS: edParamsX25519}, Attrs{})
	ecWantRV(t, "X25519 with the Edwards generator", err, ck.CKR_CURVE_NOT_SUPPORTED)
	_, _, err = gen.GenerateKeyPair(Param{}, Attrs{ck.CKA_EC_PARAMS: ecNameParams(t, "prime256v1")}, Attrs{})
	ecWantRV(t, "P-256 with the Edwards generator", err, ck.CKR_CURVE_NOT_SUPPORTED)
	_, _, err = gen.GenerateKeyPair(Param{}, Attrs{}, Attrs{})
	ecWantRV(t, "no CKA_EC_PARAMS", err, ck.CKR_TEMPLATE_INCOMPLETE)
}

func TestEdwardsCheck(t *testing.T) {
	check := KeyTypeOf(ck.CKK_EC_EDWARDS).Check
	goPub, goPriv, _ := ed25519.GenerateKey(rand.Reader)
	for _, form := range [][]byte{goPub, ecDERString(t, cbasn1.OCTET_STRING, goPub), ecDERString(t, cbasn1.BIT_STRING, append([]byte{0}, goPub...))} {
		add, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsEd25519, ck.CKA_EC_POINT: form})
		if err != nil {
			t.Errorf("public %x: %v", form, err)
			continue
		}
		got, err := x509.ParsePKIXPublicKey(add[ck.CKA_PUBLIC_KEY_INFO])
		if err != nil || !goPub.Equal(got) {
			t.Errorf("CKA_PUBLIC_KEY_INFO: %v", err)
		}
	}
	// y = 2 is not the y of any Ed25519 point (x^2 = 3/(4d+1) is not a square); y = p is non-canonical.
	notOnCurve := make([]byte, 32)
	notOnCurve[0] = 2
	nonCanonical := ecUnhex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	for _, bad := range [][]byte{notOnCurve, nonCanonical, goPub[:31], append(bytes.Clone([]byte(goPub)), 0)} {
		_, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsEd25519, ck.CKA_EC_POINT: bad})
		ecWantRV(t, fmt.Sprintf("public %x", bad), err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	}
	// The identity (y = 1) decodes; with the sign bit set (x = 0, "negative") it does not.
	identity := make([]byte, 32)
	identity[0] = 1
	if _, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsEd25519, ck.CKA_EC_POINT: identity}); err != nil {
		t.Errorf("identity point: %v", err)
	}
	identity[31] = 0x80
	_, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsEd25519, ck.CKA_EC_POINT: identity})
	ecWantRV(t, "x = 0 with the sign bit", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	// Ed448: circl's decoder; a point from the RFC, and one changed off the curve.
	ed448Pub := ecUnhex(t, "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180")
	if _, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsEd448, ck.CKA_EC_POINT: ed448Pub}); err != nil {
		t.Errorf("Ed448 public: %v", err)
	}
	for i := byte(0); i < 4; i++ { // at least one of four neighbouring y values is not on the curve
		bad := bytes.Clone(ed448Pub)
		bad[0] += i + 1
		if _, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsEd448, ck.CKA_EC_POINT: bad}); err != nil {
			ecWantRV(t, "Ed448 off-curve", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
			break
		}
		if i == 3 {
			t.Error("no Ed448 point rejected")
		}
	}
	// Private keys: the seed; a given point must be its own.
	seed := goPriv.Seed()
	if _, err := check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsEd25519, ck.CKA_VALUE: seed, ck.CKA_EC_POINT: goPub}); err != nil {
		t.Errorf("private with its point: %v", err)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	_, err = check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsEd25519, ck.CKA_VALUE: seed, ck.CKA_EC_POINT: otherPub})
	ecWantRV(t, "private with another point", err, ck.CKR_TEMPLATE_INCONSISTENT)
	_, err = check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsEd25519, ck.CKA_VALUE: seed[:31]})
	ecWantRV(t, "short seed", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	_, err = check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsX25519, ck.CKA_VALUE: seed})
	ecWantRV(t, "X25519 params on an Edwards key", err, ck.CKR_CURVE_NOT_SUPPORTED)
	_, err = KeyTypeOf(ck.CKK_EC_MONTGOMERY).Check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: edParamsX448, ck.CKA_EC_POINT: make([]byte, 57)})
	ecWantRV(t, "X448 public of 57 bytes", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
}

func TestEdwardsMontgomeryPKCS8(t *testing.T) {
	// RFC 8410 section 10.3: an Ed25519 private key.
	rfc, _ := base64.StdEncoding.DecodeString("MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC")
	a, err := KeyTypeOf(ck.CKK_EC_EDWARDS).ParsePKCS8(rfc)
	if err != nil || !bytes.Equal(a[ck.CKA_VALUE], ecUnhex(t, "d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842")) ||
		!bytes.Equal(a[ck.CKA_EC_PARAMS], edParamsEd25519) {
		t.Errorf("RFC 8410 key: %v, %v", a, err)
	}
	der, err := KeyTypeOf(ck.CKK_EC_EDWARDS).PKCS8(a)
	if err != nil || !bytes.Equal(der, rfc) {
		t.Errorf("RFC 8410 key re-encoded: %x, %v", der, err)
	}

	for _, c := range []struct {
		kt     ck.KeyType
		params []byte
		size   int
	}{
		{ck.CKK_EC_EDWARDS, []byte("\x13\x0cedwards25519"), 32},
		{ck.CKK_EC_EDWARDS, edParamsEd448, 57},
		{ck.CKK_EC_MONTGOMERY, []byte("\x13\x0acurve25519"), 32},
		{ck.CKK_EC_MONTGOMERY, edParamsX448, 56},
	} {
		kt := KeyTypeOf(c.kt)
		value := make([]byte, c.size)
		rand.Read(value)
		der, err := kt.PKCS8(Attrs{ck.CKA_EC_PARAMS: c.params, ck.CKA_VALUE: value})
		if err != nil {
			t.Fatal(err)
		}
		a, err := kt.ParsePKCS8(der)
		if err != nil || !bytes.Equal(a[ck.CKA_VALUE], value) {
			t.Fatalf("%x: round trip %v", c.params, err)
		}
		if _, err := kt.Check(ck.CKO_PRIVATE_KEY, a); err != nil {
			t.Errorf("%x: parsed key fails Check: %v", c.params, err)
		}
		// The RFC 8410 layout: PrivateKeyInfo{0, {oid}, OCTET STRING{OCTET STRING key}}.
		var info struct {
			Version int
			Alg     struct{ OID asn1.ObjectIdentifier }
			Key     []byte
		}
		if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 || info.Version != 0 {
			t.Errorf("%x: PKCS#8 %x: %v", c.params, der, err)
		}
		var inner []byte
		if _, err := asn1.Unmarshal(info.Key, &inner); err != nil || !bytes.Equal(inner, value) {
			t.Errorf("%x: CurvePrivateKey %x", c.params, info.Key)
		}
		if c.size == 32 {
			// Go reads it, and what Go writes reads back.
			goKey, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatalf("%x: Go: %v", c.params, err)
			}
			goDER, _ := x509.MarshalPKCS8PrivateKey(goKey)
			if !bytes.Equal(goDER, der) {
				t.Errorf("%x: Go writes %x", c.params, goDER)
			}
		}
		// The other type's registration refuses it.
		otherType := ck.CKK_EC_MONTGOMERY
		if c.kt == ck.CKK_EC_MONTGOMERY {
			otherType = ck.CKK_EC_EDWARDS
		}
		_, err = KeyTypeOf(otherType).ParsePKCS8(der)
		ecWantRV(t, fmt.Sprintf("%x as %v", c.params, otherType), err, ck.CKR_TEMPLATE_INCONSISTENT)
		_, err = kt.ParsePKCS8(der[:len(der)-1])
		ecWantRV(t, "truncated", err, ck.CKR_WRAPPED_KEY_INVALID)
	}

	// An RFC 5958 version 1 Ed448 key with its public key; a wrong public key is refused.
	_, priv448, _ := ed448.GenerateKey(rand.Reader)
	pub448 := priv448.Public().(ed448.PublicKey)
	v1 := func(pub []byte) []byte {
		inner, _ := asn1.Marshal(priv448.Seed())
		b, _ := asn1.Marshal(struct {
			Version int
			Alg     struct{ OID asn1.ObjectIdentifier }
			Key     []byte
			Pub     asn1.BitString `asn1:"tag:1"`
		}{1, struct{ OID asn1.ObjectIdentifier }{asn1.ObjectIdentifier{1, 3, 101, 113}}, inner, asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}})
		return b
	}
	a, err = KeyTypeOf(ck.CKK_EC_EDWARDS).ParsePKCS8(v1(pub448))
	if err != nil || !bytes.Equal(a[ck.CKA_VALUE], priv448.Seed()) || !bytes.Equal(a[ck.CKA_EC_POINT][2:], pub448) {
		t.Errorf("version 1 Ed448 key: %v", err)
	}
	wrong := bytes.Clone(pub448)
	wrong[0] ^= 1
	_, err = KeyTypeOf(ck.CKK_EC_EDWARDS).ParsePKCS8(v1(wrong))
	ecWantRV(t, "version 1 with another public key", err, ck.CKR_WRAPPED_KEY_INVALID)
}

func TestMontgomeryKeyGenDerive(t *testing.T) {
	gen := ecSpec(t, ck.CKM_EC_MONTGOMERY_KEY_PAIR_GEN)
	derive := ecSpec(t, ck.CKM_ECDH1_DERIVE)
	for _, params := range [][]byte{edParamsX25519, []byte("\x13\x0acurve25519"), edParamsX448, []byte("\x13\x08curve448")} {
		pubA, privA, err := gen.GenerateKeyPair(Param{}, Attrs{ck.CKA_EC_PARAMS: params}, Attrs{})
		if err != nil {
			t.Fatal(err)
		}
		is448 := bytes.Equal(params, edParamsX448) || strings.Contains(string(params), "448")
		point := pubA[ck.CKA_EC_POINT]
		raw := point[2:]
		value := privA[ck.CKA_VALUE]
		// The reference computes the same public key and the same shared secret with a peer.
		var peerPub, want []byte
		if is448 {
			var sk, pk, peerSK, peerPK, z x448.Key
			copy(sk[:], value)
			x448.KeyGen(&pk, &sk)
			if !bytes.Equal(pk[:], raw) || len(point) != 58 || point[0] != 4 || point[1] != 56 {
				t.Fatalf("X448 CKA_EC_POINT %x", point)
			}
			rand.Read(peerSK[:])
			x448.KeyGen(&peerPK, &peerSK)
			x448.Shared(&z, &peerSK, &pk)
			peerPub, want = peerPK[:], z[:]
			if fmt.Sprintf("%x", pubA[ck.CKA_PUBLIC_KEY_INFO]) != "3042300506032b656f033900"+fmt.Sprintf("%x", raw) {
				t.Errorf("X448 CKA_PUBLIC_KEY_INFO %x", pubA[ck.CKA_PUBLIC_KEY_INFO])
			}
		} else {
			sk, err := ecdh.X25519().NewPrivateKey(value)
			if err != nil || !bytes.Equal(sk.PublicKey().Bytes(), raw) || len(point) != 34 {
				t.Fatalf("X25519 CKA_EC_POINT %x", point)
			}
			peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
			want, _ = peer.ECDH(sk.PublicKey())
			peerPub = peer.PublicKey().Bytes()
			got, err := x509.ParsePKIXPublicKey(pubA[ck.CKA_PUBLIC_KEY_INFO])
			if err != nil || !bytes.Equal(got.(*ecdh.PublicKey).Bytes(), raw) {
				t.Errorf("X25519 CKA_PUBLIC_KEY_INFO: %v", err)
			}
		}
		priv := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_EC_MONTGOMERY, privA, nil)
		got, err := derive.Derive(ecdhParam(t, ck.CKM_ECDH1_DERIVE, ck.CKD_NULL, nil, peerPub), priv, Attrs{}, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%x: shared %x, %v, want %x", params, got, err, want)
		}
		got, err = derive.Derive(ecdhParam(t, ck.CKM_ECDH1_DERIVE, ck.CKD_SHA256_KDF, []byte("info"), peerPub), priv,
			Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_AES)), ck.CKA_VALUE_LEN: ck.ULong(24)}, nil)
		if w := concatKDF(crypto.SHA256, want, []byte("info"), 24, true); err != nil || !bytes.Equal(got, w) {
			t.Errorf("%x: X9.63 KDF: %x, %v", params, got, err)
		}
		_, err = derive.Derive(ecdhParam(t, ck.CKM_ECDH1_DERIVE, ck.CKD_NULL, nil, peerPub[1:]), priv, Attrs{}, nil)
		ecWantRV(t, "short peer value", err, ck.CKR_MECHANISM_PARAM_INVALID)
		_, err = derive.Derive(ecdhParam(t, ck.CKM_ECDH1_DERIVE, ck.CKD_NULL, nil, make([]byte, len(peerPub))), priv, Attrs{}, nil)
		ecWantRV(t, "all-zero peer value", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	_, _, err := gen.GenerateKeyPair(Param{}, Attrs{ck.CKA_EC_PARAMS: edParamsEd25519}, Attrs{})
	ecWantRV(t, "Ed25519 with the Montgomery generator", err, ck.CKR_CURVE_NOT_SUPPORTED)
	if gen.GenKeyType != ck.CKK_EC_MONTGOMERY {
		t.Errorf("GenKeyType %v", gen.GenKeyType)
	}
}
