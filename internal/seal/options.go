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

// TPM2Options configure the tpm2 backend (keywardd.yaml's `tpm2:` section).
type TPM2Options struct {
	// Device is the TPM: a character device (default /dev/tpmrm0, the kernel's resource manager), or for
	// tests a TCTI-style string: swtpm:path=SOCKET (swtpm's Unix socket), swtpm:host=H,port=P, or
	// mssim:host=H,port=P (the Microsoft/IBM simulator's protocol).
	Device string `yaml:"device,omitempty"`
	// PCRs are the PCR indexes the root key is sealed to (e.g. [7], Secure Boot's state); none binds the key
	// to the TPM alone.
	PCRs []int `yaml:"pcrs,omitempty,flow"`
	// PCRBank is the PCR bank of the policy: sha256 (default), sha384 or sha1.
	PCRBank string `yaml:"pcr_bank,omitempty"`
	// PolicyKey, if set, is the PEM public key (ECDSA P-256) of the PCR policy signer: a new seal gets an
	// authorized policy (TPM2_PolicyAuthorize) instead of fixed PCR values, and unseals under any PCR
	// policy the signer signed (tpm2_authorize.go). Firmware updates then need a signed policy, not a re-seal.
	PolicyKey string `yaml:"policy_key,omitempty"`
	// Policies is the directory of signed PCR policies (*.json) for an authorized seal (default: root.policies
	// beside the root key).
	Policies string `yaml:"policies,omitempty"`
	// PINBinding binds every PIN set from now on to the TPM (docs/sealing.md, "PIN-bound seal"): the token
	// key's wrap for the PIN needs a pepper the TPM unseals under a PIN-derived, dictionary-attack protected
	// authorisation value, so the TPM counts every PIN guess, offline ones too. Only with seal: tpm2.
	PINBinding bool `yaml:"pin_binding,omitempty"`
}

// DefaultTPMDevice is the TPM the tpm2 backend uses unless told otherwise.
const DefaultTPMDevice = "/dev/tpmrm0"

// SignedPolicy is one signed PCR policy file (JSON) in tpm2.policies.
type SignedPolicy struct {
	Version   int    `json:"version"`
	Bank      string `json:"bank"`
	PCRs      []int  `json:"pcrs"`
	Policy    string `json:"policy"`    // hex TPM2_PolicyPCR digest
	Signature string `json:"signature"` // hex ASN.1 ECDSA signature of SHA-256(policy ‖ policyRef)
}
