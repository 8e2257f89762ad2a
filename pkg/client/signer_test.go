package client_test

//lint:file-ignore SA1019 the tests check CKM_RSA_PKCS decryption, a PKCS#11 mechanism, against Go

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The tests of this file and example_test.go run against a real keywardd: TestMain starts one
// (<repo root>/build/keywardd, or $KEYWARD_BUILD/keywardd; `make build`) on a temporary store, and every
// test initialises a token of its own on it. A missing binary fails the tests.

// harness is the daemon TestMain started.
var harness struct {
	socket string
}

// Example token: TestMain sets it up for the examples, with an ECDSA P-256 key "tls".
const (
	exampleToken = "example"
	examplePIN   = "example-pin"
)

var exampleSocket string // empty if the example token could not be set up; exampleErr says why

var exampleErr error

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	bin, err := keywarddPath()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	base, err := os.MkdirTemp("", "kwc-") // short: socket paths are limited to 108 bytes
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(base)
	sock := filepath.Join(base, "kw.sock")
	cmd := exec.Command(bin, "--user", "--store", filepath.Join(base, "store"), "--root-key",
		filepath.Join(base, "root.key"), "--socket", sock, "--idle-exit", "0", "--log", filepath.Join(base, "keywardd.log"))
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=fast")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // if the test binary dies first
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting keywardd:", err)
		return 1
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	if err := waitSocket(sock, done); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		log, _ := os.ReadFile(filepath.Join(base, "keywardd.log"))
		os.Stderr.Write(log)
		return 1
	}
	harness.socket = sock
	if exampleErr = setupExample(sock); exampleErr == nil {
		exampleSocket = sock
	}
	code := m.Run()
	if code != 0 {
		log, _ := os.ReadFile(filepath.Join(base, "keywardd.log"))
		fmt.Fprintf(os.Stderr, "keywardd log:\n%s", tail(log, 4000))
	}
	return code
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// keywarddPath finds the daemon: $KEYWARD_BUILD/keywardd, else keywardd in the build directory of the
// repository root (the directory holding go.mod, above the working directory).
func keywarddPath() (string, error) {
	dir := os.Getenv("KEYWARD_BUILD")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		for {
			if _, err := os.Stat(filepath.Join(wd, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(wd)
			if parent == wd {
				return "", errors.New("no go.mod above the working directory")
			}
			wd = parent
		}
		dir = filepath.Join(wd, "build")
	}
	p, err := filepath.Abs(filepath.Join(dir, "keywardd"))
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		return "", fmt.Errorf("%s is missing (%v): run `make build`, or point KEYWARD_BUILD at the build directory", p, err)
	}
	return p, nil
}

func waitSocket(sock string, done <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return errors.New("keywardd exited before serving")
		default:
		}
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("keywardd socket %s not accepting: %v", sock, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- token and key setup, through the Provider ----

var initMu sync.Mutex // token initialisation takes the one free slot

// initToken initialises the free slot's token with label, an SO PIN and the user PIN pin, and returns its
// slot.
func initToken(cl *client.Client, label, pin string) (ck.SlotID, error) {
	initMu.Lock()
	defer initMu.Unlock()
	slots, err := cl.GetSlotList(false)
	if err != nil {
		return 0, fmt.Errorf("C_GetSlotList: %w", err)
	}
	free, found := ck.SlotID(0), false
	for _, s := range slots {
		ti, err := cl.GetTokenInfo(s)
		if err == nil && ti.Flags&ck.CKF_TOKEN_INITIALIZED == 0 {
			free, found = s, true
			break
		}
	}
	if !found {
		return 0, errors.New("no free slot")
	}
	padded := bytes.Repeat([]byte{' '}, 32)
	copy(padded, label)
	so := []byte("so-" + pin)
	if err := cl.InitToken(free, so, padded); err != nil {
		return 0, fmt.Errorf("C_InitToken: %w", err)
	}
	s, err := cl.OpenSession(free, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("C_OpenSession: %w", err)
	}
	defer cl.CloseSession(s)
	if err := cl.Login(s, ck.CKU_SO, so); err != nil {
		return 0, fmt.Errorf("C_Login(SO): %w", err)
	}
	if err := cl.InitPIN(s, []byte(pin)); err != nil {
		return 0, fmt.Errorf("C_InitPIN: %w", err)
	}
	if err := cl.Logout(s); err != nil {
		return 0, fmt.Errorf("C_Logout: %w", err)
	}
	return free, nil
}

// keyKind names a kind of key pair the tests generate.
type keyKind int

const (
	kindRSA keyKind = iota
	kindP256
	kindEd25519
	kindMLDSA65
)

func (k keyKind) String() string {
	return [...]string{"RSA-2048", "ECDSA-P256", "Ed25519", "ML-DSA-65"}[k]
}

func mustDER(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// generate makes a token key pair of the kind with the label and id, logged in as the user on a R/W
// session of its own.
func generate(cl *client.Client, slot ck.SlotID, pin string, kind keyKind, label string, id []byte) error {
	s, err := cl.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("C_OpenSession: %w", err)
	}
	defer cl.CloseSession(s)
	if err := cl.Login(s, ck.CKU_USER, []byte(pin)); err != nil && ck.ToRV(err) != ck.CKR_USER_ALREADY_LOGGED_IN {
		return fmt.Errorf("C_Login(user): %w", err)
	}
	common := func(private bool) []ck.Attribute {
		return []ck.Attribute{
			ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_PRIVATE, private),
			ck.NewAttribute(ck.CKA_LABEL, label), ck.NewAttribute(ck.CKA_ID, id),
		}
	}
	pub := append(common(false), ck.NewAttribute(ck.CKA_VERIFY, true))
	priv := append(common(true), ck.NewAttribute(ck.CKA_SIGN, true), ck.NewAttribute(ck.CKA_SENSITIVE, true),
		ck.NewAttribute(ck.CKA_EXTRACTABLE, false))
	var m ck.MechanismType
	switch kind {
	case kindRSA:
		m = ck.CKM_RSA_PKCS_KEY_PAIR_GEN
		pub = append(pub, ck.NewAttribute(ck.CKA_MODULUS_BITS, 2048), ck.NewAttribute(ck.CKA_ENCRYPT, true),
			ck.NewAttribute(ck.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
		priv = append(priv, ck.NewAttribute(ck.CKA_DECRYPT, true))
	case kindP256:
		m = ck.CKM_EC_KEY_PAIR_GEN
		pub = append(pub, ck.NewAttribute(ck.CKA_EC_PARAMS, mustDER(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})))
	case kindEd25519:
		m = ck.CKM_EC_EDWARDS_KEY_PAIR_GEN
		pub = append(pub, ck.NewAttribute(ck.CKA_EC_PARAMS, mustDER(asn1.ObjectIdentifier{1, 3, 101, 112})))
	case kindMLDSA65:
		m = ck.CKM_ML_DSA_KEY_PAIR_GEN
		pub = append(pub, ck.NewAttribute(ck.CKA_PARAMETER_SET, uint64(ck.CKP_ML_DSA_65)))
	}
	if _, _, err := cl.GenerateKeyPair(s, &ck.Mechanism{Type: m}, pub, priv); err != nil {
		return fmt.Errorf("C_GenerateKeyPair(%v, %v): %w", m, kind, err)
	}
	return nil
}

// fixture is a client on the test daemon with a fresh token of its own, logged in through OpenToken.
type fixture struct {
	cl   *client.Client
	slot ck.SlotID
	pin  string
	tok  *client.Token
}

var tokenSeq atomic.Int64

// newFixture initialises a fresh token and opens it, with keys of the given kinds labelled by their kind
// (String) and with CKA_ID {kind}.
func newFixture(t *testing.T, kinds ...keyKind) *fixture {
	t.Helper()
	cl, err := client.Dial(harness.socket)
	if err != nil {
		t.Fatalf("client.Dial: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	cl.SetTimeout(30 * time.Second)
	f := &fixture{cl: cl, pin: "user-pin-1234"}
	label := fmt.Sprintf("t%d", tokenSeq.Add(1))
	if f.slot, err = initToken(cl, label, f.pin); err != nil {
		t.Fatalf("initialising token %q: %v", label, err)
	}
	for _, k := range kinds {
		if err := generate(cl, f.slot, f.pin, k, k.String(), []byte{byte(k)}); err != nil {
			t.Fatalf("generating the %v key: %v", k, err)
		}
	}
	if f.tok, err = cl.OpenToken(label, []byte(f.pin)); err != nil {
		t.Fatalf("OpenToken(%q): %v", label, err)
	}
	t.Cleanup(func() { f.tok.Close() })
	return f
}

func (f *fixture) signer(t *testing.T, k keyKind) *client.Signer {
	t.Helper()
	s, err := f.tok.Signer(client.ByLabel(k.String()))
	if err != nil {
		t.Fatalf("Signer(%v): %v", k, err)
	}
	return s
}

// ---- signatures ----

func TestSignerRSAPKCS1v15(t *testing.T) {
	f := newFixture(t, kindRSA)
	s := f.signer(t, kindRSA)
	pub, ok := s.Public().(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 2048 {
		t.Fatalf("Public() = %T (%v), want a 2048-bit *rsa.PublicKey", s.Public(), s.Public())
	}
	msg := []byte("PKCS #1 v1.5 through keywardd")
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		hh := h.New()
		hh.Write(msg)
		digest := hh.Sum(nil)
		sig, err := s.Sign(rand.Reader, digest, h)
		if err != nil {
			t.Fatalf("Sign(%v): %v", h, err)
		}
		if err := rsa.VerifyPKCS1v15(pub, h, digest, sig); err != nil {
			t.Errorf("%v: crypto/rsa rejects the signature: %v", h, err)
		}
	}
	// Hash 0 signs the input as it is, as rsa.SignPKCS1v15 does (TLS 1.0's MD5+SHA1 and custom encodings).
	raw := []byte("raw input")
	sig, err := s.Sign(rand.Reader, raw, crypto.Hash(0))
	if err != nil {
		t.Fatalf("Sign(hash 0): %v", err)
	}
	if err := rsa.VerifyPKCS1v15(pub, 0, raw, sig); err != nil {
		t.Errorf("hash 0: crypto/rsa rejects the signature: %v", err)
	}
	if _, err := s.Sign(rand.Reader, raw, crypto.SHA256); err == nil {
		t.Errorf("Sign accepted a %d-byte digest for SHA-256", len(raw))
	}
}

func TestSignerRSAPSS(t *testing.T) {
	f := newFixture(t, kindRSA)
	s := f.signer(t, kindRSA)
	pub := s.Public().(*rsa.PublicKey)
	maxSalt := func(h crypto.Hash) int { return (pub.N.BitLen()-1+7)/8 - 2 - h.Size() }
	for _, tc := range []struct {
		h    crypto.Hash
		salt int // as passed to Sign
		want int // the salt length the signature must have
	}{
		{crypto.SHA256, rsa.PSSSaltLengthEqualsHash, 32},
		{crypto.SHA384, rsa.PSSSaltLengthEqualsHash, 48},
		{crypto.SHA512, rsa.PSSSaltLengthEqualsHash, 64},
		{crypto.SHA256, rsa.PSSSaltLengthAuto, maxSalt(crypto.SHA256)},
		{crypto.SHA256, 20, 20},
		{crypto.SHA1, 0 + 1, 1},
	} {
		hh := tc.h.New()
		hh.Write([]byte("PSS through keywardd"))
		digest := hh.Sum(nil)
		sig, err := s.Sign(rand.Reader, digest, &rsa.PSSOptions{Hash: tc.h, SaltLength: tc.salt})
		if err != nil {
			t.Fatalf("Sign(PSS %v, salt %d): %v", tc.h, tc.salt, err)
		}
		if err := rsa.VerifyPSS(pub, tc.h, digest, sig, &rsa.PSSOptions{Hash: tc.h, SaltLength: tc.want}); err != nil {
			t.Errorf("PSS %v salt %d: crypto/rsa rejects the signature with salt length %d: %v", tc.h, tc.salt, tc.want, err)
		}
	}
}

func TestSignerECDSA(t *testing.T) {
	f := newFixture(t, kindP256)
	s := f.signer(t, kindP256)
	pub, ok := s.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve.Params().Name != "P-256" {
		t.Fatalf("Public() = %T, want a P-256 *ecdsa.PublicKey", s.Public())
	}
	d256 := sha256.Sum256([]byte("ECDSA through keywardd"))
	d384 := sha512.Sum384([]byte("ECDSA through keywardd"))
	for _, tc := range []struct {
		h crypto.Hash
		d []byte
	}{{crypto.SHA256, d256[:]}, {crypto.SHA384, d384[:]}} {
		sig, err := s.Sign(rand.Reader, tc.d, tc.h)
		if err != nil {
			t.Fatalf("Sign(%v): %v", tc.h, err)
		}
		if !ecdsa.VerifyASN1(pub, tc.d, sig) {
			t.Errorf("%v: crypto/ecdsa rejects the signature %x", tc.h, sig)
		}
	}
}

func TestSignerEd25519(t *testing.T) {
	f := newFixture(t, kindEd25519)
	s := f.signer(t, kindEd25519)
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok {
		t.Fatalf("Public() = %T, want ed25519.PublicKey", s.Public())
	}
	msg := []byte("Ed25519 through keywardd: the message itself, not a digest")
	sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		t.Errorf("crypto/ed25519 rejects the signature")
	}
	opts := &ed25519.Options{Context: "keyward"}
	sig, err = s.Sign(rand.Reader, msg, opts)
	if err != nil {
		t.Fatalf("Sign(Ed25519ctx): %v", err)
	}
	if err := ed25519.VerifyWithOptions(pub, msg, sig, opts); err != nil {
		t.Errorf("crypto/ed25519 rejects the Ed25519ctx signature: %v", err)
	}
	d := sha512.Sum512(msg)
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA512); err == nil {
		t.Errorf("Sign with crypto.SHA512 (Ed25519ph) succeeded; want an error")
	}
}

func TestSignerMLDSA(t *testing.T) {
	f := newFixture(t, kindMLDSA65)
	s := f.signer(t, kindMLDSA65)
	pub, ok := s.Public().(*client.MLDSAPublicKey)
	if !ok || pub.ParameterSet != ck.CKP_ML_DSA_65 {
		t.Fatalf("Public() = %T %v, want an ML-DSA-65 *client.MLDSAPublicKey", s.Public(), s.Public())
	}
	var pk mldsa65.PublicKey
	if err := pk.UnmarshalBinary(pub.Key); err != nil {
		t.Fatalf("circl rejects the public key: %v", err)
	}
	msg := []byte("ML-DSA through keywardd")
	sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !mldsa65.Verify(&pk, msg, nil, sig) {
		t.Errorf("circl rejects the signature")
	}
	opts := &client.MLDSAOptions{Context: []byte("ctx"), Deterministic: true}
	sig1, err := s.Sign(rand.Reader, msg, opts)
	if err != nil {
		t.Fatalf("Sign(context, deterministic): %v", err)
	}
	sig2, err := s.Sign(rand.Reader, msg, opts)
	if err != nil {
		t.Fatalf("Sign(context, deterministic): %v", err)
	}
	if !mldsa65.Verify(&pk, msg, opts.Context, sig1) {
		t.Errorf("circl rejects the signature with a context")
	}
	if !bytes.Equal(sig1, sig2) {
		t.Errorf("deterministic ML-DSA signatures differ")
	}
}

// TestSignerLookup finds keys by label, by id and by both, and reports missing and refused keys.
func TestSignerLookup(t *testing.T) {
	f := newFixture(t, kindP256, kindEd25519)
	byID, err := f.tok.Signer(client.ByID([]byte{byte(kindP256)}))
	if err != nil {
		t.Fatalf("Signer(ByID): %v", err)
	}
	both, err := f.tok.Signer(client.KeyRef{Label: kindP256.String(), ID: []byte{byte(kindP256)}})
	if err != nil {
		t.Fatalf("Signer(label and id): %v", err)
	}
	if !byID.Public().(*ecdsa.PublicKey).Equal(both.Public()) || byID.Handle() != both.Handle() {
		t.Errorf("the same key found by id and by label+id differs")
	}
	if _, err := f.tok.Signer(client.ByLabel("no such key")); !errors.Is(err, client.ErrKeyNotFound) {
		t.Errorf("Signer(missing) = %v, want ErrKeyNotFound", err)
	}
	if _, err := f.tok.Signer(client.KeyRef{Label: kindP256.String(), ID: []byte{byte(kindEd25519)}}); !errors.Is(err, client.ErrKeyNotFound) {
		t.Errorf("Signer(label of one key, id of another) = %v, want ErrKeyNotFound", err)
	}
	if _, err := f.tok.Signer(client.KeyRef{}); err == nil {
		t.Errorf("Signer(empty KeyRef) succeeded")
	}
	if _, err := f.tok.Decrypter(client.ByLabel(kindP256.String())); err == nil {
		t.Errorf("Decrypter(ECDSA key without CKA_DECRYPT) succeeded")
	}
}

func TestOpenTokenErrors(t *testing.T) {
	f := newFixture(t)
	if _, err := f.cl.OpenToken("no such token", []byte(f.pin)); !errors.Is(err, client.ErrTokenNotFound) {
		t.Errorf("OpenToken(missing) = %v, want ErrTokenNotFound", err)
	}
	cl2, err := client.Dial(harness.socket) // another application: not logged in yet
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	if _, err := cl2.OpenToken(f.tok.Label(), []byte("wrong")); !errors.Is(err, ck.CKR_PIN_INCORRECT) {
		t.Errorf("OpenToken(wrong PIN) = %v, want CKR_PIN_INCORRECT", err)
	}
	// A second Token of the same application shares its login.
	tok2, err := f.cl.OpenToken(f.tok.Label(), []byte(f.pin))
	if err != nil {
		t.Fatalf("second OpenToken: %v", err)
	}
	tok2.Close()
}

// TestSignerConcurrent signs from many goroutines at once with one Signer (as a TLS server does).
func TestSignerConcurrent(t *testing.T) {
	f := newFixture(t, kindP256)
	s := f.signer(t, kindP256)
	pub := s.Public().(*ecdsa.PublicKey)
	const workers, each = 40, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				d := sha256.Sum256(fmt.Appendf(nil, "worker %d message %d", w, i))
				sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil {
					errs <- err
					return
				}
				if !ecdsa.VerifyASN1(pub, d[:], sig) {
					errs <- fmt.Errorf("worker %d message %d: bad signature", w, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTokenClose(t *testing.T) {
	f := newFixture(t, kindP256)
	s := f.signer(t, kindP256)
	d := sha256.Sum256([]byte("x"))
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if err := f.tok.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err == nil {
		t.Errorf("Sign after Token.Close succeeded")
	}
	if err := f.tok.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// ---- decryption ----

func TestDecrypterRSA(t *testing.T) {
	f := newFixture(t, kindRSA)
	d, err := f.tok.Decrypter(client.ByLabel(kindRSA.String()))
	if err != nil {
		t.Fatalf("Decrypter: %v", err)
	}
	pub := d.Public().(*rsa.PublicKey)
	secret := []byte("a session key of 32 bytes.......")

	label := []byte("keyward OAEP label")
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, secret, label)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := d.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256, Label: label})
	if err != nil {
		t.Fatalf("Decrypt(OAEP SHA-256): %v", err)
	}
	if !bytes.Equal(pt, secret) {
		t.Errorf("OAEP SHA-256 plaintext %q, want %q", pt, secret)
	}
	if _, err := d.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256, Label: []byte("other")}); err == nil {
		t.Errorf("OAEP decryption with the wrong label succeeded")
	}

	ct, err = rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err = d.Decrypt(nil, ct, &rsa.OAEPOptions{Hash: crypto.SHA1}); err != nil || !bytes.Equal(pt, secret) {
		t.Errorf("Decrypt(OAEP SHA-1) = %q, %v; want %q", pt, err, secret)
	}

	ct, err = rsa.EncryptPKCS1v15(rand.Reader, pub, secret)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err = d.Decrypt(nil, ct, nil); err != nil || !bytes.Equal(pt, secret) {
		t.Errorf("Decrypt(PKCS #1 v1.5, nil opts) = %q, %v; want %q", pt, err, secret)
	}
	opts := &rsa.PKCS1v15DecryptOptions{SessionKeyLen: len(secret)}
	if pt, err = d.Decrypt(rand.Reader, ct, opts); err != nil || !bytes.Equal(pt, secret) {
		t.Errorf("Decrypt(PKCS #1 v1.5, SessionKeyLen) = %q, %v; want %q", pt, err, secret)
	}
	bad := bytes.Clone(ct)
	bad[10] ^= 0xff
	if pt, err = d.Decrypt(rand.Reader, bad, opts); err != nil || len(pt) != len(secret) || bytes.Equal(pt, secret) {
		t.Errorf("Decrypt(bad PKCS #1 v1.5, SessionKeyLen) = %x, %v; want %d random bytes and no error", pt, err, len(secret))
	}
	if _, err := d.Decrypt(rand.Reader, bad, nil); err == nil {
		t.Errorf("Decrypt(bad PKCS #1 v1.5, nil opts) succeeded")
	}
}

// ---- TLS ----

// recordingSigner notes the options crypto/tls signs with.
type recordingSigner struct {
	crypto.Signer
	mu   sync.Mutex
	opts []crypto.SignerOpts
}

func (r *recordingSigner) Sign(rnd io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	r.mu.Lock()
	r.opts = append(r.opts, opts)
	r.mu.Unlock()
	return r.Signer.Sign(rnd, digest, opts)
}

// tlsRoundTrip makes a self-signed certificate with signer, serves TLS 1.3 with it on 127.0.0.1 and
// reads the server's greeting with a client that trusts only that certificate.
func tlsRoundTrip(signer crypto.Signer) (tls.ConnectionState, string, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "keyward.test"},
		DNSNames:     []string{"keyward.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return tls.ConnectionState{}, "", fmt.Errorf("x509.CreateCertificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.ConnectionState{}, "", err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: signer, Leaf: cert}},
		MinVersion:   tls.VersionTLS13,
	})
	if err != nil {
		return tls.ConnectionState{}, "", err
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		_, err = io.WriteString(c, "hello over TLS\n")
		served <- err
	}()
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(),
		&tls.Config{RootCAs: roots, ServerName: "keyward.test", MinVersion: tls.VersionTLS13})
	if err != nil {
		return tls.ConnectionState{}, "", fmt.Errorf("TLS handshake: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	msg, err := io.ReadAll(conn)
	if err != nil {
		return tls.ConnectionState{}, "", fmt.Errorf("reading: %w", err)
	}
	if err := <-served; err != nil {
		return tls.ConnectionState{}, "", fmt.Errorf("server: %w", err)
	}
	return conn.ConnectionState(), string(msg), nil
}

func TestTLS13(t *testing.T) {
	f := newFixture(t, kindRSA, kindP256, kindEd25519)
	for _, k := range []keyKind{kindRSA, kindP256, kindEd25519} {
		t.Run(k.String(), func(t *testing.T) {
			rec := &recordingSigner{Signer: f.signer(t, k)}
			st, msg, err := tlsRoundTrip(rec)
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != tls.VersionTLS13 || msg != "hello over TLS\n" {
				t.Errorf("got %s and %q, want TLS 1.3 and the greeting", tls.VersionName(st.Version), msg)
			}
			if k == kindRSA {
				// The certificate is signed with PKCS #1 v1.5 (x509's default for RSA); TLS 1.3's
				// CertificateVerify must be RSA-PSS.
				var pss, v15 bool
				for _, o := range rec.opts {
					if _, ok := o.(*rsa.PSSOptions); ok {
						pss = true
					} else {
						v15 = true
					}
				}
				if !pss || !v15 {
					t.Errorf("RSA signatures: PSS %v, PKCS #1 v1.5 %v; want both (%v)", pss, v15, rec.opts)
				}
			}
		})
	}
}

// setupExample initialises the token of the examples with an ECDSA P-256 key "tls".
func setupExample(sock string) error {
	cl, err := client.Dial(sock)
	if err != nil {
		return err
	}
	defer cl.Close()
	slot, err := initToken(cl, exampleToken, examplePIN)
	if err != nil {
		return err
	}
	return generate(cl, slot, examplePIN, kindP256, "tls", []byte("tls"))
}
