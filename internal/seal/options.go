package seal

// PKCS11Options configure the pkcs11 backend (keywardd.yaml's `pkcs11:` section).
type PKCS11Options struct {
	// Module is the PKCS#11 library (e.g. /usr/lib/libckteec.so.0 for OP-TEE).
	Module string `yaml:"module,omitempty"`
	// Token is the label of the token holding the wrapping key.
	Token string `yaml:"token,omitempty"`
	// Key is the label of the AES wrapping key on that token.
	Key string `yaml:"key,omitempty"`
	// PINFile holds the token's user PIN (empty: a token that needs no login).
	PINFile string `yaml:"pin_file,omitempty"`
}

// KeyringOptions configure the keyring backend (keywardd.yaml's `keyring:` section).
type KeyringOptions struct {
	// Trusted is the kernel trusted key's description (default keyward-root).
	Trusted string `yaml:"trusted,omitempty"`
}
