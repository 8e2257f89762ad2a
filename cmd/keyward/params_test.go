package main

import (
	"bytes"
	"testing"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestMechanismParams checks the parameters the CLI builds from the typed wire structures against the layout
// by field name in params.def (wire.EncodeParams), byte for byte, and that the daemon's decoder reads back the
// values the CLI means.
func TestMechanismParams(t *testing.T) {
	h := hashes["sha384"]
	byName, err := wire.EncodeParams(ck.CKM_RSA_PKCS_OAEP, map[string]any{"hashAlg": uint64(ck.CKM_SHA384),
		"mgf": ck.CKG_MGF1_SHA384, "source": uint64(ck.CKZ_DATA_SPECIFIED), "pSourceData": []byte(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if got := oaepParams(h); !bytes.Equal(got, byName) {
		t.Errorf("OAEP parameter %x, want %x", got, byName)
	}
	if p, err := wire.DecodeRSAPKCSOAEPParams(oaepParams(h)); err != nil || p.HashAlg != uint64(ck.CKM_SHA384) ||
		p.MGF != ck.CKG_MGF1_SHA384 || p.Source != uint64(ck.CKZ_DATA_SPECIFIED) || len(p.SourceData) != 0 {
		t.Errorf("OAEP parameter decodes to %+v, %v", p, err)
	}
	iv, aad := bytes.Repeat([]byte{1}, gcmIVLen), []byte("aad")
	byName, err = wire.EncodeParams(ck.CKM_AES_GCM, map[string]any{"pIv": iv, "ulIvBits": uint64(96), "pAAD": aad,
		"ulTagBits": uint64(128)})
	if err != nil {
		t.Fatal(err)
	}
	if got := gcmParams(iv, aad); !bytes.Equal(got, byName) {
		t.Errorf("GCM parameter %x, want %x", got, byName)
	}
}
