//go:build !(openssl && cgo)

package mech

import (
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The default build does every RSA private-key operation with crypto/rsa (and the Go raw operation).
func TestRSABackendGo(t *testing.T) {
	if name := RSABackend(); name != "crypto/rsa" {
		t.Errorf("RSA backend %q, want crypto/rsa", name)
	}
	if rsaAccelerate != nil {
		t.Error("rsaAccelerate set in a build without the openssl tag")
	}
	priv, err := rsaPrivateOf(NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, rsaTestPair(t).privAttrs, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := priv.ops.(rsaGoOps); !ok {
		t.Errorf("private key operations by %T, want rsaGoOps", priv.ops)
	}
}
