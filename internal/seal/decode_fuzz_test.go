//go:build !notpm2

package seal

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// FuzzDecode feeds arbitrary bytes to every decoder a sealed blob goes through before it reaches a TPM or a
// module (the header, the tpm2, pkcs11-less and keyring payloads, go-tpm's unmarshalling of the sealed
// object's areas and of an authorized policy's key): errors, never a panic.
func FuzzDecode(f *testing.F) {
	good := (&blob{backend: BackendTPM2, payload: (&tpm2Payload{bank: tpm2.TPMAlgSHA256, pcrs: []uint{7},
		srkName: make([]byte, 34), public: tpm2.Marshal(tpm2.New2B(sealedTemplate(make([]byte, 32)))),
		private: []byte{0, 4, 1, 2, 3, 4}, signer: tpm2.Marshal(*eccSignerPublic(testECKey()))}).encode()}).encode()
	f.Add(good)
	f.Add([]byte("KWSEAL\x01\x04tpm2"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBlob("fuzz", data)
		payload := data
		if err == nil {
			payload = b.payload
		}
		if p, err := decodeTPM2Payload(payload); err == nil {
			if pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](p.public); err == nil {
				pub.Contents()
			}
			tpm2.Unmarshal[tpm2.TPM2BPrivate](p.private)
			if s, err := tpm2.Unmarshal[tpm2.TPMTPublic](p.signer); err == nil {
				signerECDSA(s)
				tpm2.ObjectName(s)
			}
		}
		decodeKeyringPayload(payload)
	})
}

func testECKey() *ecdsa.PublicKey {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &k.PublicKey
}
