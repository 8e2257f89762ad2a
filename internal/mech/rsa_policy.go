package mech

import (
	"fmt"
	"sync/atomic"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// RSA key generation's smallest modulus is a daemon setting (keywardd's min_rsa_bits): 2048 bits by default
// (NIST SP 800-131A disallows generating 1024-bit RSA keys), down to 1024 for a user who needs such keys, or
// higher for a stricter policy. Imported and verified keys keep the full range (rsaMinBits).

// RSAGenMinAllowed is the lowest value SetRSAGenMinBits takes.
const RSAGenMinAllowed = 1024

var rsaGenMin atomic.Int64

func init() { rsaGenMin.Store(rsaGenMinBits) }

// rsaGenMinNow is the smallest modulus key generation makes now.
func rsaGenMinNow() uint64 { return uint64(rsaGenMin.Load()) }

// SetRSAGenMinBits sets the smallest RSA modulus key generation makes, and CKM_RSA_PKCS_KEY_PAIR_GEN's
// CK_MECHANISM_INFO.ulMinKeySize with it. bits must be a multiple of 8 from RSAGenMinAllowed to the largest
// size generation makes (4096). Call it before serving.
func SetRSAGenMinBits(bits int) error {
	if err := CheckRSAGenMinBits(bits); err != nil {
		return err
	}
	rsaGenMin.Store(int64(bits))
	if s := Lookup(ck.CKM_RSA_PKCS_KEY_PAIR_GEN); s != nil {
		s.Info.MinKeySize = uint64(bits)
	}
	return nil
}

// CheckRSAGenMinBits says whether SetRSAGenMinBits takes bits.
func CheckRSAGenMinBits(bits int) error {
	if bits < RSAGenMinAllowed || bits > rsaGenMaxBits || bits%8 != 0 {
		return fmt.Errorf("min_rsa_bits %d: want a multiple of 8 from %d to %d", bits, RSAGenMinAllowed, rsaGenMaxBits)
	}
	return nil
}
