package engine_test

import (
	"testing"

	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/engine/enginetest"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Benchmarks of each mechanism family on the engine path: a Provider call from session lookup to output,
// without the socket. `go test -bench . ./internal/engine` runs them; they assert nothing about time.

type benchEnv struct {
	p ck.Provider
	s ck.SessionHandle
}

func newBenchEnv(b testing.TB) benchEnv {
	b.Helper()
	e := newEngine(b, b.TempDir())
	p := e.Open(engine.Peer{UID: 1000, PID: 1})
	slots, _ := p.GetSlotList(true)
	if err := p.InitToken(slots[0], enginetest.SOPIN, enginetest.Label("bench")); err != nil {
		b.Fatal(err)
	}
	s, _ := p.OpenSession(slots[0], ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err := p.Login(s, ck.CKU_SO, enginetest.SOPIN); err != nil {
		b.Fatal(err)
	}
	if err := p.InitPIN(s, enginetest.UserPIN); err != nil {
		b.Fatal(err)
	}
	p.Logout(s)
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		b.Fatal(err)
	}
	return benchEnv{p: p, s: s}
}

func (env benchEnv) pair(b *testing.B, m ck.MechanismType, pub ...ck.Attribute) ck.ObjectHandle {
	b.Helper()
	_, priv, err := env.p.GenerateKeyPair(env.s, &ck.Mechanism{Type: m}, pub, nil)
	if err != nil {
		b.Fatal(err)
	}
	return priv
}

func (env benchEnv) secret(b *testing.B, m ck.MechanismType, n int) ck.ObjectHandle {
	b.Helper()
	k, err := env.p.GenerateKey(env.s, &ck.Mechanism{Type: m}, []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE_LEN, n)})
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// run benchmarks one single-part operation of kind with mechanism m on key k over data.
func (env benchEnv) run(b *testing.B, kind ck.Operation, m *ck.Mechanism, k ck.ObjectHandle, data []byte) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	out := ck.Out{Present: true, Cap: uint64(len(data)) + 8192}
	for b.Loop() {
		if err := env.p.OperationInit(env.s, kind, m, k); err != nil {
			b.Fatal(err)
		}
		if _, _, err := env.p.OperationSingle(env.s, kind, data, out); err != nil {
			b.Fatal(err)
		}
	}
}

var p256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

func BenchmarkSignRSA2048PKCS1SHA256(b *testing.B) {
	env := newBenchEnv(b)
	k := env.pair(b, ck.CKM_RSA_PKCS_KEY_PAIR_GEN, ck.NewAttribute(ck.CKA_MODULUS_BITS, 2048))
	env.run(b, ck.OpSign, &ck.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS}, k, make([]byte, 32))
}

func BenchmarkSignECDSAP256(b *testing.B) {
	env := newBenchEnv(b)
	k := env.pair(b, ck.CKM_EC_KEY_PAIR_GEN, ck.NewAttribute(ck.CKA_EC_PARAMS, p256))
	env.run(b, ck.OpSign, &ck.Mechanism{Type: ck.CKM_ECDSA}, k, make([]byte, 32))
}

func BenchmarkSignEd25519(b *testing.B) {
	env := newBenchEnv(b)
	k := env.pair(b, ck.CKM_EC_EDWARDS_KEY_PAIR_GEN, ck.NewAttribute(ck.CKA_EC_PARAMS, []byte{0x06, 0x03, 0x2b, 0x65, 0x70}))
	env.run(b, ck.OpSign, &ck.Mechanism{Type: ck.CKM_EDDSA}, k, make([]byte, 64))
}

func BenchmarkSignMLDSA65(b *testing.B) {
	env := newBenchEnv(b)
	k := env.pair(b, ck.CKM_ML_DSA_KEY_PAIR_GEN, ck.NewAttribute(ck.CKA_PARAMETER_SET, uint64(ck.CKP_ML_DSA_65)))
	env.run(b, ck.OpSign, &ck.Mechanism{Type: ck.CKM_ML_DSA}, k, make([]byte, 64))
}

func BenchmarkEncryptAES256GCM1K(b *testing.B) {
	env := newBenchEnv(b)
	k := env.secret(b, ck.CKM_AES_KEY_GEN, 32)
	param := mustParam(b, ck.CKM_AES_GCM, map[string]any{"pIv": make([]byte, 12), "ulIvBits": 96, "ulTagBits": 128})
	env.run(b, ck.OpEncrypt, &ck.Mechanism{Type: ck.CKM_AES_GCM, Parameter: param}, k, make([]byte, 1024))
}

func BenchmarkEncryptAES256CBCPad1K(b *testing.B) {
	env := newBenchEnv(b)
	k := env.secret(b, ck.CKM_AES_KEY_GEN, 32)
	env.run(b, ck.OpEncrypt, &ck.Mechanism{Type: ck.CKM_AES_CBC_PAD, Parameter: make([]byte, 16)}, k, make([]byte, 1024))
}

func BenchmarkHMACSHA256_1K(b *testing.B) {
	env := newBenchEnv(b)
	k := env.secret(b, ck.CKM_GENERIC_SECRET_KEY_GEN, 32)
	env.run(b, ck.OpSign, &ck.Mechanism{Type: ck.CKM_SHA256_HMAC}, k, make([]byte, 1024))
}

func BenchmarkDigestSHA256_1M(b *testing.B) {
	env := newBenchEnv(b)
	env.run(b, ck.OpDigest, &ck.Mechanism{Type: ck.CKM_SHA256}, 0, make([]byte, 1<<20))
}

func BenchmarkKeyPairGenP256(b *testing.B) {
	env := newBenchEnv(b)
	for b.Loop() {
		env.pair(b, ck.CKM_EC_KEY_PAIR_GEN, ck.NewAttribute(ck.CKA_EC_PARAMS, p256))
	}
}

func BenchmarkCreateTokenObject(b *testing.B) {
	env := newBenchEnv(b)
	for b.Loop() {
		if _, err := env.p.CreateObject(env.s, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA),
			ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_LABEL, "bench")}); err != nil {
			b.Fatal(err)
		}
	}
}
