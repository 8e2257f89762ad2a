package client_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/pkg/client"
)

// uriFixture is a fresh token (see newFixture) with an ECDSA P-256 key labelled "device id" (id 0xd1), and
// a second client, not logged in, to open it by URI.
func uriFixture(t *testing.T) (*fixture, *client.Client, string) {
	t.Helper()
	f := newFixture(t)
	if err := generate(f.cl, f.slot, f.pin, kindP256, "device id", []byte{0xd1}); err != nil {
		t.Fatalf("generating the key: %v", err)
	}
	cl, err := client.Dial(harness.socket)
	if err != nil {
		t.Fatalf("client.Dial: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	cl.SetTimeout(30 * time.Second)
	return f, cl, f.tok.Label()
}

// checkSigns signs with the key ref selects on tok and verifies the signature.
func checkSigns(t *testing.T, tok *client.Token, ref client.KeyRef) {
	t.Helper()
	s, err := tok.Signer(ref)
	if err != nil {
		t.Fatalf("Signer(%v): %v", ref, err)
	}
	d := sha256.Sum256([]byte("open by URI"))
	sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatal("the signature does not verify")
	}
}

func TestOpenURI(t *testing.T) {
	f, cl, label := uriFixture(t)
	ti, err := cl.GetTokenInfo(f.slot)
	if err != nil {
		t.Fatal(err)
	}
	serial := strings.TrimRight(ti.SerialNumber, " ")
	for _, tc := range []struct {
		name, uri string
		pin       []byte
		ref       client.KeyRef
	}{
		// The seed's form: an unencoded space in the label, the PIN in the query (ParseLenient).
		{"seed form", fmt.Sprintf("pkcs11:token=%s;object=device id?pin-value=%s", label, f.pin), nil,
			client.KeyRef{Label: "device id"}},
		{"slot-id", fmt.Sprintf("pkcs11:slot-id=%d;object=device%%20id;type=private?pin-value=%s", f.slot, f.pin), nil,
			client.KeyRef{Label: "device id"}},
		{"serial and id", fmt.Sprintf("pkcs11:serial=%s;id=%%D1?pin-value=%s", url.PathEscape(serial), f.pin), nil,
			client.KeyRef{ID: []byte{0xd1}}},
		// An explicit PIN wins over the URI's pin-value.
		{"explicit pin", fmt.Sprintf("pkcs11:token=%s;object=device%%20id;id=%%d1?pin-value=wrong", label), []byte(f.pin),
			client.KeyRef{Label: "device id", ID: []byte{0xd1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, ref, err := cl.OpenURI(tc.uri, tc.pin)
			if err != nil {
				t.Fatalf("OpenURI(%s): %v", tc.uri, err)
			}
			defer tok.Close()
			if tok.Slot() != f.slot || tok.Label() != label {
				t.Errorf("OpenURI opened %v, want token %q (slot %d)", tok, label, f.slot)
			}
			if ref.Label != tc.ref.Label || !bytes.Equal(ref.ID, tc.ref.ID) || (ref.ID == nil) != (tc.ref.ID == nil) {
				t.Errorf("KeyRef = %#v, want %#v", ref, tc.ref)
			}
			checkSigns(t, tok, ref)
		})
	}
}

func TestOpenURIErrors(t *testing.T) {
	f, cl, label := uriFixture(t)
	const secret = "s3cret-PIN-never-shown"
	for _, tc := range []struct {
		name, uri string
		pin       []byte
		is        error  // if non-nil, errors.Is must hold
		want      string // the message must contain it
	}{
		{"no token", "pkcs11:object=device id?pin-value=" + secret, nil, client.ErrURINoToken, "names no token"},
		{"only a pin", "pkcs11:?pin-value=" + secret, nil, client.ErrURINoToken, "names no token"},
		{"unknown token", "pkcs11:token=no-such-token;object=device id?pin-value=" + secret, nil, client.ErrTokenNotFound, "no-such-token"},
		{"unknown slot", "pkcs11:slot-id=987654;object=k?pin-value=" + secret, nil, client.ErrTokenNotFound, "slot-id=987654"},
		{"other serial", fmt.Sprintf("pkcs11:token=%s;serial=nope?pin-value=%s", label, secret), nil, client.ErrTokenNotFound, ""},
		{"wrong pin", fmt.Sprintf("pkcs11:token=%s;object=device id?pin-value=%s", label, secret), nil, nil, "logging in"},
		{"no pin", fmt.Sprintf("pkcs11:token=%s;object=device id", label), nil, nil, "no PIN"},
		{"pin-source", fmt.Sprintf("pkcs11:token=%s?pin-source=/etc/pin", label), nil, nil, "pin-source"},
		{"not a URI", "token=" + label, nil, nil, "pkcs11 URI"},
		{"bad escape", "pkcs11:token=%zz?pin-value=" + secret, nil, nil, "pkcs11 URI"},
		{"vendor attribute", fmt.Sprintf("pkcs11:token=%s;x-vendor=1?pin-value=%s", label, secret), nil, nil, "x-vendor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, _, err := cl.OpenURI(tc.uri, tc.pin)
			if err == nil {
				tok.Close()
				t.Fatalf("OpenURI(%s) succeeded", tc.uri)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the PIN", err)
			}
		})
	}
	_ = f
}

func TestOpenURITokenOnly(t *testing.T) {
	f, cl, label := uriFixture(t)
	tok, ref, err := cl.OpenURI("pkcs11:token="+label, []byte(f.pin))
	if err != nil {
		t.Fatalf("OpenURI: %v", err)
	}
	defer tok.Close()
	if ref.Label != "" || ref.ID != nil {
		t.Errorf("KeyRef = %#v, want empty", ref)
	}
	if _, err := tok.Signer(ref); err == nil {
		t.Error("Signer accepted an empty KeyRef")
	}
	checkSigns(t, tok, client.ByLabel("device id"))
}
