package mech

import (
	"bytes"
	"sort"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestSpecProperties checks each mechanism property the engine reads from the Spec (rather than from a list of
// CKM_ values of its own) against the mechanisms that have it: every one listed has it and no other
// mechanism does, so dropping a property from a family file, or giving it to another mechanism, fails here.
func TestSpecProperties(t *testing.T) {
	generic := func(s *Spec) bool { return s.SecretKeyType == ck.CKK_GENERIC_SECRET }
	for _, c := range []struct {
		name string
		has  func(*Spec) bool
		want []ck.MechanismType
	}{
		{"UnwrapLen UnwrapZeroPadded", func(s *Spec) bool { return s.UnwrapLen == UnwrapZeroPadded },
			[]ck.MechanismType{ck.CKM_AES_ECB, ck.CKM_AES_CBC, ck.CKM_AES_KEY_WRAP}},
		{"UnwrapLen UnwrapTrailing", func(s *Spec) bool { return s.UnwrapLen == UnwrapTrailing },
			[]ck.MechanismType{ck.CKM_RSA_X_509}},
		{"UnwrapLen other than the three", func(s *Spec) bool { return s.UnwrapLen > UnwrapTrailing }, nil},
		{"DerivesData", func(s *Spec) bool { return s.DerivesData }, []ck.MechanismType{ck.CKM_HKDF_DATA}},
		{"DeriveFromData", func(s *Spec) bool { return s.DeriveFromData },
			[]ck.MechanismType{ck.CKM_HKDF_DERIVE, ck.CKM_HKDF_DATA}},
		{"KeyTypeFromTemplate", func(s *Spec) bool { return s.KeyTypeFromTemplate },
			[]ck.MechanismType{ck.CKM_PKCS5_PBKD2}},
		{"SecretKeyType CKK_GENERIC_SECRET", generic, []ck.MechanismType{ck.CKM_ECDH1_DERIVE,
			ck.CKM_ECDH1_COFACTOR_DERIVE, ck.CKM_HKDF_DERIVE, ck.CKM_SP800_108_COUNTER_KDF,
			ck.CKM_AES_ECB_ENCRYPT_DATA, ck.CKM_AES_CBC_ENCRYPT_DATA, ck.CKM_ML_KEM}},
		{"SecretKeyType other than CKK_GENERIC_SECRET", func(s *Spec) bool { return s.SecretKeyType != 0 && !generic(s) }, nil},
	} {
		var got []ck.MechanismType
		for _, m := range List() {
			if c.has(Lookup(m)) {
				got = append(got, m)
			}
		}
		want := append([]ck.MechanismType{}, c.want...)
		sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
		if len(got) != len(want) {
			t.Errorf("%s: mechanisms %v, want %v", c.name, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: mechanisms %v, want %v", c.name, got, want)
				break
			}
		}
	}
}

// TestSecretKeyTypeMade checks that every mechanism that makes a secret key names a registered secret key type
// for it.
func TestSecretKeyTypeMade(t *testing.T) {
	for _, m := range List() {
		s := Lookup(m)
		if s.SecretKeyType == 0 {
			continue
		}
		if ks := KeyTypeOf(s.SecretKeyType); ks == nil || ks.Rules[ck.CKO_SECRET_KEY] == nil {
			t.Errorf("%v makes secrets of %v, which has no secret key rules", m, s.SecretKeyType)
		}
	}
}

// TestUnwrappedKey checks each UnwrapLen rule on the bytes an unwrap returned.
func TestUnwrappedKey(t *testing.T) {
	key := []byte{1, 2, 3, 4, 5}
	padded := append(append([]byte{}, key...), 0, 0, 0)
	block := append([]byte{9, 0, 7}, key...)
	valueLen := func(n int) Attrs { return Attrs{ck.CKA_VALUE_LEN: ck.ULong(uint64(n))} }
	for _, c := range []struct {
		name  string
		rule  UnwrapLen
		plain []byte
		t     Attrs
		want  []byte
		rv    ck.RV
	}{
		{"zero-padded", UnwrapZeroPadded, padded, valueLen(5), key, ck.CKR_OK},
		{"zero-padded, a non-zero pad byte", UnwrapZeroPadded, append(append([]byte{}, key...), 0, 1, 0), valueLen(5), nil, ck.CKR_WRAPPED_KEY_INVALID},
		{"zero-padded, no CKA_VALUE_LEN", UnwrapZeroPadded, padded, Attrs{}, padded, ck.CKR_OK},
		{"zero-padded, CKA_VALUE_LEN the whole", UnwrapZeroPadded, padded, valueLen(8), padded, ck.CKR_OK},
		{"zero-padded, CKA_VALUE_LEN longer", UnwrapZeroPadded, padded, valueLen(9), padded, ck.CKR_OK},
		{"trailing", UnwrapTrailing, block, valueLen(5), key, ck.CKR_OK},
		{"trailing, no CKA_VALUE_LEN", UnwrapTrailing, block, Attrs{}, block, ck.CKR_OK},
		{"trailing, CKA_VALUE_LEN longer", UnwrapTrailing, block, valueLen(20), block, ck.CKR_OK},
		{"whole", UnwrapWhole, padded, valueLen(5), padded, ck.CKR_OK},
	} {
		got, err := (&Spec{UnwrapLen: c.rule}).UnwrappedKey(c.plain, c.t)
		if ck.ToRV(err) != c.rv || !bytes.Equal(got, c.want) {
			t.Errorf("%s: %x, %v; want %x, %v", c.name, got, ck.ToRV(err), c.want, c.rv)
		}
	}
}
