package mech

import (
	"errors"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestRSAGenMinBits: RSA-1024 generation is refused by default and made once min_rsa_bits allows it; the
// mechanism info says the minimum in force.
func TestRSAGenMinBits(t *testing.T) {
	gen := rsaSpec(t, ck.CKM_RSA_PKCS_KEY_PAIR_GEN)
	bits1024 := Attrs{ck.CKA_MODULUS_BITS: ck.ULong(1024)}
	if _, _, err := gen.GenerateKeyPair(Param{}, bits1024, Attrs{}); !errors.Is(err, ck.CKR_KEY_SIZE_RANGE) {
		t.Fatalf("RSA-1024 by default: %v, want CKR_KEY_SIZE_RANGE", err)
	}
	if gen.Info.MinKeySize != 2048 {
		t.Fatalf("default ulMinKeySize %d", gen.Info.MinKeySize)
	}
	for _, bad := range []int{0, 512, 1016, 1025, 8192} {
		if err := SetRSAGenMinBits(bad); err == nil {
			t.Errorf("min_rsa_bits %d accepted", bad)
		}
	}
	if err := SetRSAGenMinBits(1024); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := SetRSAGenMinBits(rsaGenMinBits); err != nil {
			t.Fatal(err)
		}
	}()
	pub, priv, err := gen.GenerateKeyPair(Param{}, bits1024, Attrs{})
	if err != nil {
		t.Fatalf("RSA-1024 with min_rsa_bits 1024: %v", err)
	}
	if n := GetBig(pub, ck.CKA_MODULUS); n == nil || n.BitLen() != 1024 || priv == nil {
		t.Fatalf("RSA-1024 key pair: modulus %v", n)
	}
	if gen.Info.MinKeySize != 1024 {
		t.Fatalf("ulMinKeySize %d with min_rsa_bits 1024", gen.Info.MinKeySize)
	}
	if _, _, err := gen.GenerateKeyPair(Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(1016)}, Attrs{}); !errors.Is(err, ck.CKR_KEY_SIZE_RANGE) {
		t.Fatalf("RSA-1016 with min_rsa_bits 1024: %v", err)
	}
}
