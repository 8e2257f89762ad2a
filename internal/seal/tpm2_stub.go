//go:build notpm2

package seal

import "crypto/ecdsa"

// Built with -tags notpm2 (a device without a TPM, where the 1 MiB of the TPM stack counts against the flash
// budget: docs/embedded.md): the tpm2 backend and the PIN-bound seal answer that they are not built in.

func errNoTPM2() error {
	return sealErr(ErrUnsupported, nil, "this keywardd is built without the tpm2 seal backend (-tags notpm2)",
		"build without -tags notpm2, or use the file, pkcs11 or keyring backend")
}

func newTPM2(TPM2Options) (backend, error) { return nil, errNoTPM2() }

// CurrentPCRValues is not available without the tpm2 backend.
func CurrentPCRValues(device, bank string, pcrs []int) ([][]byte, error) { return nil, errNoTPM2() }

// SignPCRPolicy is not available without the tpm2 backend.
func SignPCRPolicy(key *ecdsa.PrivateKey, bank string, pcrs []int, values [][]byte) (*SignedPolicy, error) {
	return nil, errNoTPM2()
}

// PINSeal is the PIN-bound seal (pinseal.go); without the tpm2 backend every call fails.
type PINSeal struct{}

// NewPINSeal returns a PIN-bound seal that is not built in.
func NewPINSeal(TPM2Options) *PINSeal { return &PINSeal{} }

// Create fails: not built in.
func (*PINSeal) Create(auth []byte) (blob, pepper []byte, err error) { return nil, nil, errNoTPM2() }

// Open fails: not built in.
func (*PINSeal) Open(blob, auth []byte) ([]byte, error) { return nil, errNoTPM2() }

// ChangeAuth fails: not built in.
func (*PINSeal) ChangeAuth(blob, oldAuth, newAuth []byte) ([]byte, error) { return nil, errNoTPM2() }
