package daemon_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/daemon"
	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	"github.com/keyward/keyward/internal/wire"
	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// serve starts an engine on a fresh store behind a socket and returns the socket path.
func serve(t testing.TB) (string, *daemon.Server) {
	t.Helper()
	return serveLimits(t, daemon.Limits{})
}

// serveLimits is serve with the server's limits set.
func serveLimits(t testing.TB, lim daemon.Limits) (string, *daemon.Server) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := engine.New(st, bytes.Repeat([]byte{9}, 32), engine.Config{KDF: vault.FastKDF, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := daemon.NewServer(e.Open, log)
	srv.Limits = lim
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
		e.Close()
		st.Close()
	})
	return sock, srv
}

// TestProviderSuiteOverSocket runs the shared Provider suite through the daemon's socket with pkg/client.
func TestProviderSuiteOverSocket(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) func() ck.Provider {
		sock, _ := serve(t)
		return func() ck.Provider {
			c, err := client.Dial(sock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
	})
}

// TestApplicationEndsWithItsLastConnection checks that closing the client ends the application.
func TestApplicationEndsWithItsLastConnection(t *testing.T) {
	sock, srv := serve(t)
	c, err := client.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSlotList(true); err != nil {
		t.Fatal(err)
	}
	if n := srv.Applications(); n != 1 {
		t.Fatalf("%d applications, want 1", n)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Applications() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the application outlived its connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawConn speaks frames directly, for malformed-input tests.
func rawConn(t testing.TB, sock string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func hello(t testing.TB, c net.Conn) {
	t.Helper()
	var e wire.Encoder
	e.U(wire.Version)
	e.B(nil)
	if _, err := c.Write(wire.AppendRequest(nil, 1, wire.CallHello, e.Bytes())); err != nil {
		t.Fatal(err)
	}
	resp, _, err := wire.ReadResponse(c, nil)
	if err != nil || resp.RV != ck.CKR_OK {
		t.Fatalf("hello: %v %v", err, resp.RV)
	}
}

// expectClosed checks that the daemon closed the connection.
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	var b [1]byte
	if _, err := c.Read(b[:]); err != io.EOF {
		t.Fatalf("%s: connection still open (read gave %v)", what, err)
	}
}

// TestMalformedFramesCloseOnlyThatConnection sends broken frames; each closes its own connection while a
// well-behaved client on another connection keeps working.
func TestMalformedFramesCloseOnlyThatConnection(t *testing.T) {
	sock, _ := serve(t)
	good, err := client.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	oversized := binary.BigEndian.AppendUint32(nil, wire.MaxFrame+1)
	var badBody wire.Encoder
	badBody.B([]byte("not a u"))
	cases := []struct {
		name  string
		hello bool
		frame []byte
	}{
		{"oversized length", false, oversized},
		{"first frame not hello", false, wire.AppendRequest(nil, 1, wire.CallGetSlotList, []byte{'u', 0, 0, 0, 0, 0, 0, 0, 1})},
		{"truncated body", true, wire.AppendRequest(nil, 2, wire.CallGetSlotList, []byte{'u', 0, 0})},
		{"wrong item tag", true, wire.AppendRequest(nil, 2, wire.CallGetSlotList, badBody.Bytes())},
		{"trailing bytes", true, wire.AppendRequest(nil, 2, wire.CallGetSlotList, []byte{'u', 0, 0, 0, 0, 0, 0, 0, 1, 9})},
		{"header shorter than its fields", false, []byte{0, 0, 0, 2, 1, 2}},
		{"second hello", true, wire.AppendRequest(nil, 2, wire.CallHello, []byte{'u', 0, 0, 0, 0, 0, 0, 0, 1, 'b', 0, 0, 0, 0})},
		{"huge template count", true, wire.AppendRequest(nil, 2, wire.CallFindObjectsInit, append([]byte{'u', 0, 0, 0, 0, 0, 0, 0, 1, 'A'}, 0xff, 0xff, 0xff, 0xff))},
	}
	for _, tc := range cases {
		c := rawConn(t, sock)
		if tc.hello {
			hello(t, c)
		}
		c.Write(tc.frame)
		expectClosed(t, c, tc.name)
		if _, err := good.GetSlotList(true); err != nil {
			t.Fatalf("after %s, another client fails: %v", tc.name, err)
		}
	}
	// An unknown call is answered, and the connection stays usable.
	c := rawConn(t, sock)
	hello(t, c)
	c.Write(wire.AppendRequest(nil, 5, 9999, nil))
	resp, _, err := wire.ReadResponse(c, nil)
	if err != nil || resp.RV != ck.CKR_FUNCTION_NOT_SUPPORTED || resp.ID != 5 {
		t.Fatalf("unknown call: %v %+v", err, resp)
	}
}

// TestJoinRules checks that a second connection joins its application only with the right cookie from the
// same process.
func TestJoinRules(t *testing.T) {
	sock, srv := serve(t)
	c := rawConn(t, sock)
	var e wire.Encoder
	e.U(wire.Version)
	e.B(bytes.Repeat([]byte{1}, wire.CookieSize))
	c.Write(wire.AppendRequest(nil, 1, wire.CallHello, e.Bytes()))
	resp, _, err := wire.ReadResponse(c, nil)
	if err != nil || resp.RV != ck.CKR_GENERAL_ERROR {
		t.Fatalf("join with an unknown cookie: %v %v", err, resp.RV)
	}
	expectClosed(t, c, "join with an unknown cookie")
	e.Reset()
	e.U(wire.Version + 1)
	e.B(nil)
	c = rawConn(t, sock)
	c.Write(wire.AppendRequest(nil, 1, wire.CallHello, e.Bytes()))
	resp, _, err = wire.ReadResponse(c, nil)
	if err != nil || resp.RV != ck.CKR_GENERAL_ERROR {
		t.Fatalf("hello of a future version: %v %v", err, resp.RV)
	}
	if srv.Applications() != 0 {
		t.Fatal("a refused hello left an application")
	}
}

// TestLargePayloadsKeepTheirOutput checks the large data calls, whose request frames the daemon reads into
// reused buffers: an output that a length query or a short buffer leaves waiting must not lie in the request
// that computed it, which later large requests overwrite. Every output is compared with Go's own.
func TestLargePayloadsKeepTheirOutput(t *testing.T) {
	sock, _ := serve(t)
	p, err := client.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := userSession(t, p)
	other := userSession(t, p) // the large requests in between run on another session, on the same connection
	key := bytes.Repeat([]byte{0x42}, 32)
	k, err := p.CreateObject(s, []ck.Attribute{
		ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_AES),
		ck.NewAttribute(ck.CKA_VALUE, key), ck.NewAttribute(ck.CKA_ENCRYPT, true), ck.NewAttribute(ck.CKA_DECRYPT, true),
	})
	if err != nil {
		t.Fatal("CreateObject AES:", err)
	}
	hk, err := p.CreateObject(s, []ck.Attribute{
		ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_GENERIC_SECRET),
		ck.NewAttribute(ck.CKA_VALUE, key), ck.NewAttribute(ck.CKA_SIGN, true), ck.NewAttribute(ck.CKA_VERIFY, true),
	})
	if err != nil {
		t.Fatal("CreateObject HMAC key:", err)
	}
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	iv16, iv12, aad := bytes.Repeat([]byte{7}, 16), []byte("twelve bytes"), []byte("header")
	gcmParam, err := wire.EncodeParams(ck.CKM_AES_GCM, map[string]any{"pIv": iv12, "ulIvBits": 96, "pAAD": aad, "ulTagBits": 128})
	if err != nil {
		t.Fatal(err)
	}
	gcmMech := &ck.Mechanism{Type: ck.CKM_AES_GCM, Parameter: gcmParam}
	cbcPad := &ck.Mechanism{Type: ck.CKM_AES_CBC_PAD, Parameter: iv16}
	ctr := &ck.Mechanism{Type: ck.CKM_AES_CTR, Parameter: append(ck.ULong(128), iv16...)}

	const size = 1<<20 + 5 // not a whole number of blocks: CBC-PAD pads
	plain := pattern(size, 1)
	gcmCT := gcm.Seal(nil, iv12, plain, aad)
	cbcCT := cbcPadEncrypt(block, iv16, plain)
	ctrCT := make([]byte, size)
	cipher.NewCTR(block, iv16).XORKeyStream(ctrCT, plain)
	mac := hmac.New(sha256.New, key)
	mac.Write(plain)
	sum := sha256.Sum256(plain)

	// clobber sends large requests of other data between the calls of the operation under test.
	clobber := func() {
		t.Helper()
		junk := pattern(size, 99)
		sha := &ck.Mechanism{Type: ck.CKM_SHA256}
		if err := p.OperationInit(other, ck.OpDigest, sha, 0); err != nil {
			t.Fatal("DigestInit:", err)
		}
		if _, _, err := p.OperationSingle(other, ck.OpDigest, junk, ck.Out{Present: true, Cap: 32}); err != nil {
			t.Fatal("Digest:", err)
		}
		if err := p.OperationInit(other, ck.OpDigest, sha, 0); err != nil {
			t.Fatal("DigestInit:", err)
		}
		if _, _, err := p.OperationUpdate(other, ck.OpDigest, junk, ck.Out{}); err != nil {
			t.Fatal("DigestUpdate:", err)
		}
		if _, _, err := p.OperationFinal(other, ck.OpDigest, ck.Out{Present: true, Cap: 32}); err != nil {
			t.Fatal("DigestFinal:", err)
		}
	}
	cases := []struct {
		name   string
		kind   ck.Operation
		m      *ck.Mechanism
		key    ck.ObjectHandle
		update bool // the output that waits is C_xxxUpdate's, not C_xxx's
		in     []byte
		want   []byte
	}{
		{"GCM encrypt", ck.OpEncrypt, gcmMech, k, false, plain, gcmCT},
		{"GCM decrypt", ck.OpDecrypt, gcmMech, k, false, gcmCT, plain},
		{"CBC-PAD encrypt", ck.OpEncrypt, cbcPad, k, false, plain, cbcCT},
		{"CBC-PAD decrypt", ck.OpDecrypt, cbcPad, k, false, cbcCT, plain},
		{"CTR encrypt", ck.OpEncrypt, ctr, k, false, plain, ctrCT},
		{"CTR encrypt update", ck.OpEncrypt, ctr, k, true, plain, ctrCT},
		{"CTR decrypt update", ck.OpDecrypt, ctr, k, true, ctrCT, plain},
		{"SHA-256", ck.OpDigest, &ck.Mechanism{Type: ck.CKM_SHA256}, 0, false, plain, sum[:]},
		{"HMAC", ck.OpSign, &ck.Mechanism{Type: ck.CKM_SHA256_HMAC}, hk, false, plain, mac.Sum(nil)},
	}
	for _, tc := range cases {
		for _, short := range []bool{false, true} {
			name, out := tc.name+" after a length query", ck.Out{}
			if short {
				name, out = tc.name+" after a short buffer", ck.Out{Present: true, Cap: 1}
			}
			if err := p.OperationInit(s, tc.kind, tc.m, tc.key); err != nil {
				t.Fatalf("%s: init: %v", name, err)
			}
			call := p.OperationSingle
			if tc.update {
				call = p.OperationUpdate
			}
			_, n, err := call(s, tc.kind, tc.in, out)
			if (short && !errors.Is(err, ck.CKR_BUFFER_TOO_SMALL)) || (!short && err != nil) || n != uint64(len(tc.want)) {
				t.Fatalf("%s: first call: %v, length %d (want %d)", name, err, n, len(tc.want))
			}
			clobber()
			got, _, err := call(s, tc.kind, tc.in, ck.Out{Present: true, Cap: n})
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("%s: delivered %d bytes (%v), not the output computed", name, len(got), err)
			}
			if tc.update {
				if _, _, err := p.OperationFinal(s, tc.kind, ck.Out{Present: true, Cap: 16}); err != nil {
					t.Fatalf("%s: final: %v", name, err)
				}
			}
		}
	}
	// Large verifications, which answer no output.
	hmacMech := &ck.Mechanism{Type: ck.CKM_SHA256_HMAC}
	if err := p.OperationInit(s, ck.OpVerify, hmacMech, hk); err != nil {
		t.Fatal("VerifyInit:", err)
	}
	if err := p.Verify(s, plain, mac.Sum(nil)); err != nil {
		t.Fatal("Verify:", err)
	}
	if err := p.OperationInit(s, ck.OpVerify, hmacMech, hk); err != nil {
		t.Fatal("VerifyInit:", err)
	}
	if err := p.Verify(s, pattern(size, 3), mac.Sum(nil)); !errors.Is(err, ck.CKR_SIGNATURE_INVALID) {
		t.Fatal("Verify of other data:", err)
	}
}

// userSession initialises the free slot's token with a user PIN (the first time) and returns a logged-in
// R/W session.
func userSession(t *testing.T, p ck.Provider) ck.SessionHandle {
	t.Helper()
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	slot := slots[len(slots)-1]
	so, user := []byte("so-pin-0001"), []byte("user-pin-0001")
	if info, err := p.GetTokenInfo(slot); err != nil || info.Flags&ck.CKF_USER_PIN_INITIALIZED == 0 {
		if err := p.InitToken(slot, so, enginetest.Label("large")); err != nil {
			t.Fatal("InitToken:", err)
		}
		s, err := p.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Login(s, ck.CKU_SO, so); err != nil {
			t.Fatal("Login SO:", err)
		}
		if err := p.InitPIN(s, user); err != nil {
			t.Fatal("InitPIN:", err)
		}
		p.CloseSession(s)
	}
	s, err := p.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Login(s, ck.CKU_USER, user); err != nil && !errors.Is(err, ck.CKR_USER_ALREADY_LOGGED_IN) {
		t.Fatal("Login user:", err)
	}
	return s
}

// pattern returns n bytes that depend on seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

func cbcPadEncrypt(b cipher.Block, iv, plain []byte) []byte {
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	out := append(bytes.Clone(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, out)
	return out
}

// TestAESSinglePart checks the single-part AES calls, which compute in one pass from the request (and, past
// wire.PooledFrame, from a reused frame buffer), against Go's modes at sizes around the block and the pooled
// frame sizes, with the length errors of the modes without padding, and a single-part call that finishes
// what an Update began.
func TestAESSinglePart(t *testing.T) {
	sock, _ := serve(t)
	p, err := client.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := userSession(t, p)
	key := bytes.Repeat([]byte{0x24}, 16)
	k, err := p.CreateObject(s, []ck.Attribute{
		ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_AES),
		ck.NewAttribute(ck.CKA_VALUE, key), ck.NewAttribute(ck.CKA_ENCRYPT, true), ck.NewAttribute(ck.CKA_DECRYPT, true),
	})
	if err != nil {
		t.Fatal("CreateObject AES:", err)
	}
	block, _ := aes.NewCipher(key)
	iv := bytes.Repeat([]byte{3}, 16)
	gcmParam, err := wire.EncodeParams(ck.CKM_AES_GCM, map[string]any{"pIv": iv[:12], "ulIvBits": 96, "pAAD": []byte("aad"), "ulTagBits": 96})
	if err != nil {
		t.Fatal(err)
	}
	gcm, _ := cipher.NewGCMWithTagSize(block, 12)
	ecbEncrypt := func(in []byte) []byte {
		out := make([]byte, len(in))
		for i := 0; i < len(in); i += aes.BlockSize {
			block.Encrypt(out[i:], in[i:])
		}
		return out
	}
	modes := []struct {
		name  string
		m     *ck.Mechanism
		whole bool // only whole blocks
		enc   func([]byte) []byte
	}{
		{"ECB", &ck.Mechanism{Type: ck.CKM_AES_ECB}, true, ecbEncrypt},
		{"CBC", &ck.Mechanism{Type: ck.CKM_AES_CBC, Parameter: iv}, true, func(in []byte) []byte {
			out := make([]byte, len(in))
			cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, in)
			return out
		}},
		{"CBC-PAD", &ck.Mechanism{Type: ck.CKM_AES_CBC_PAD, Parameter: iv}, false, func(in []byte) []byte { return cbcPadEncrypt(block, iv, in) }},
		{"CTR", &ck.Mechanism{Type: ck.CKM_AES_CTR, Parameter: append(ck.ULong(64), iv...)}, false, func(in []byte) []byte {
			out := make([]byte, len(in))
			cipher.NewCTR(block, iv).XORKeyStream(out, in)
			return out
		}},
		{"GCM", &ck.Mechanism{Type: ck.CKM_AES_GCM, Parameter: gcmParam}, false, func(in []byte) []byte { return gcm.Seal(nil, iv[:12], in, []byte("aad")) }},
	}
	crypt := func(kind ck.Operation, m *ck.Mechanism, in []byte) ([]byte, error) {
		if err := p.OperationInit(s, kind, m, k); err != nil {
			t.Fatalf("%v init: %v", kind, err)
		}
		out, _, err := p.OperationSingle(s, kind, in, ck.Out{Present: true, Cap: uint64(len(in)) + 32})
		return out, err
	}
	for _, md := range modes {
		for _, n := range []int{0, 1, 15, 16, 17, 33, 4096, wire.PooledFrame, wire.PooledFrame + 1, 100_003, 1 << 17} {
			plain := pattern(n, byte(n))
			ct, err := crypt(ck.OpEncrypt, md.m, plain)
			if md.whole && n%aes.BlockSize != 0 {
				if !errors.Is(err, ck.CKR_DATA_LEN_RANGE) {
					t.Fatalf("%s encrypt of %d bytes: %v, want CKR_DATA_LEN_RANGE", md.name, n, err)
				}
				if _, err := crypt(ck.OpDecrypt, md.m, plain); !errors.Is(err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE) {
					t.Fatalf("%s decrypt of %d bytes: %v, want CKR_ENCRYPTED_DATA_LEN_RANGE", md.name, n, err)
				}
				continue
			}
			if err != nil || !bytes.Equal(ct, md.enc(plain)) {
				t.Fatalf("%s encrypt of %d bytes: %v, not Go's", md.name, n, err)
			}
			back, err := crypt(ck.OpDecrypt, md.m, ct)
			if err != nil || !bytes.Equal(back, plain) {
				t.Fatalf("%s decrypt of %d bytes: %v, not the plaintext", md.name, n, err)
			}
			if n < 17 {
				continue
			}
			// C_EncryptUpdate of a part, then of the rest, then C_EncryptFinal: one message.
			if err := p.OperationInit(s, ck.OpEncrypt, md.m, k); err != nil {
				t.Fatal(err)
			}
			first, _, err := p.OperationUpdate(s, ck.OpEncrypt, plain[:17], ck.Out{Present: true, Cap: 64})
			if err != nil {
				t.Fatalf("%s update: %v", md.name, err)
			}
			rest, _, err := p.OperationUpdate(s, ck.OpEncrypt, plain[17:], ck.Out{Present: true, Cap: uint64(n) + 32})
			if err != nil {
				t.Fatalf("%s second update: %v", md.name, err)
			}
			last, _, err := p.OperationFinal(s, ck.OpEncrypt, ck.Out{Present: true, Cap: uint64(n) + 32})
			if err != nil || !bytes.Equal(append(append(first, rest...), last...), md.enc(plain)) {
				t.Fatalf("%s updates then final of %d bytes: %v, not Go's", md.name, n, err)
			}
		}
	}
	// CBC-PAD decryption: a length that is not whole blocks, and bad padding.
	cbcPad := modes[2].m
	if _, err := crypt(ck.OpDecrypt, cbcPad, make([]byte, 33)); !errors.Is(err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE) {
		t.Fatalf("CBC-PAD decrypt of 33 bytes: %v", err)
	}
	if _, err := crypt(ck.OpDecrypt, cbcPad, nil); !errors.Is(err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE) {
		t.Fatalf("CBC-PAD decrypt of nothing: %v", err)
	}
	bad := modes[1].enc(bytes.Repeat([]byte{0}, 64)) // CBC of zeros: the last byte is no padding
	if _, err := crypt(ck.OpDecrypt, cbcPad, bad); !errors.Is(err, ck.CKR_ENCRYPTED_DATA_INVALID) {
		t.Fatalf("CBC-PAD decrypt with bad padding: %v", err)
	}
}

// TestFusedCallKeepsItsOutput is TestLargePayloadsKeepTheirOutput for the fused call that libkeyward.so
// sends (OperationInitData: an Init with its first data call), in raw frames on one connection: a GCM length
// query over 1 MiB, a large digest, then the delivery.
func TestFusedCallKeepsItsOutput(t *testing.T) {
	sock, _ := serve(t)
	c := rawConn(t, sock)
	hello(t, c)
	id := uint32(1)
	call := func(what string, callID wire.Call, want ck.RV, items func(e *wire.Encoder)) *wire.Decoder {
		t.Helper()
		var e wire.Encoder
		items(&e)
		id++
		if _, err := c.Write(wire.AppendRequest(nil, id, callID, e.Bytes())); err != nil {
			t.Fatal(err)
		}
		resp, _, err := wire.ReadResponse(c, nil)
		if err != nil || resp.ID != id || resp.RV != want {
			t.Fatalf("%s: %v, rv %v (want %v)", what, err, resp.RV, want)
		}
		return wire.NewDecoder(resp.Body)
	}
	slots := call("GetSlotList", wire.CallGetSlotList, ck.CKR_OK, func(e *wire.Encoder) { e.U(1) }).Us()
	slot := slots[len(slots)-1]
	so, user := []byte("so-pin-0001"), []byte("user-pin-0001")
	call("InitToken", wire.CallInitToken, ck.CKR_OK, func(e *wire.Encoder) { e.U(slot); e.B(so); e.B(enginetest.Label("fused")) })
	s := call("OpenSession", wire.CallOpenSession, ck.CKR_OK, func(e *wire.Encoder) { e.U(slot); e.U(ck.CKF_SERIAL_SESSION | ck.CKF_RW_SESSION) }).U()
	call("Login SO", wire.CallLogin, ck.CKR_OK, func(e *wire.Encoder) { e.U(s); e.U(uint64(ck.CKU_SO)); e.P(so) })
	call("InitPIN", wire.CallInitPIN, ck.CKR_OK, func(e *wire.Encoder) { e.U(s); e.P(user) })
	call("Logout", wire.CallLogout, ck.CKR_OK, func(e *wire.Encoder) { e.U(s) })
	call("Login", wire.CallLogin, ck.CKR_OK, func(e *wire.Encoder) { e.U(s); e.U(uint64(ck.CKU_USER)); e.P(user) })
	key := bytes.Repeat([]byte{0x5a}, 32)
	k := call("CreateObject", wire.CallCreateObject, ck.CKR_OK, func(e *wire.Encoder) {
		e.U(s)
		e.A([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_AES),
			ck.NewAttribute(ck.CKA_VALUE, key), ck.NewAttribute(ck.CKA_ENCRYPT, true)})
	}).U()
	iv, aad := []byte("twelve bytes"), []byte("hdr")
	param, err := wire.EncodeParams(ck.CKM_AES_GCM, map[string]any{"pIv": iv, "ulIvBits": 96, "pAAD": aad, "ulTagBits": 128})
	if err != nil {
		t.Fatal(err)
	}
	plain := pattern(1<<20, 5)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	want := gcm.Seal(nil, iv, plain, aad)
	fused := func(what string, kind ck.Operation, m *ck.Mechanism, key uint64, in []byte, out ck.Out) (uint64, []byte) {
		t.Helper()
		d := call(what, wire.CallOperationInitData, ck.CKR_OK, func(e *wire.Encoder) {
			e.U(s)
			e.U(uint64(kind))
			e.M(m)
			e.U(key)
			e.U(wire.StageSingle)
			e.B(in)
			e.O(out)
		})
		return d.U(), d.B()
	}
	n, _ := fused("GCM encrypt length query", ck.OpEncrypt, &ck.Mechanism{Type: ck.CKM_AES_GCM, Parameter: param}, k, plain, ck.Out{})
	if n != uint64(len(want)) {
		t.Fatalf("GCM length %d, want %d", n, len(want))
	}
	fused("digest of other data", ck.OpDigest, &ck.Mechanism{Type: ck.CKM_SHA256}, 0, pattern(1<<20, 77), ck.Out{Present: true, Cap: 32})
	d := call("GCM encrypt", wire.CallOperationSingle, ck.CKR_OK, func(e *wire.Encoder) {
		e.U(s)
		e.U(uint64(ck.OpEncrypt))
		e.B(plain)
		e.O(ck.Out{Present: true, Cap: n})
	})
	if d.U(); !bytes.Equal(d.B(), want) {
		t.Fatal("the ciphertext delivered is not the one computed at the length query")
	}
}
