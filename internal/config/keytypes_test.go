package config

import (
	"testing"

	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestViewKeyTypesRegistered checks that every key type a view can name is a key-pair type internal/mech
// registers with rules (views show or hide public and private keys): a name for a type the token cannot
// hold would configure nothing.
func TestViewKeyTypesRegistered(t *testing.T) {
	for name, kt := range viewKeyTypes {
		ks := mech.KeyTypeOf(kt)
		if ks == nil || ks.Rules[ck.CKO_PUBLIC_KEY] == nil || ks.Rules[ck.CKO_PRIVATE_KEY] == nil {
			t.Errorf("view key type %q (%v) is not a registered key-pair type", name, kt)
		}
	}
}
