//go:build !seal_pkcs11

package seal

func newPKCS11(PKCS11Options) (backend, error) {
	return nil, sealErr(ErrUnsupported, nil, "this keywardd is built without the pkcs11 seal backend",
		"build with -tags seal_pkcs11 (cgo), or use tpm2")
}
