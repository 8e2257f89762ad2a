package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/pkg/cryptoki"
)

// root is the module root, relative to this package's directory.
const root = "../../.."

// TestSpecValues checks generated constants against values written in the PKCS #11 specification (base
// specification and current mechanisms, v2.40 to v3.2). A wrong line in pkcs11.h breaks one of these.
func TestSpecValues(t *testing.T) {
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"CKA_CLASS", uint64(cryptoki.CKA_CLASS), 0x0},
		{"CKA_LABEL", uint64(cryptoki.CKA_LABEL), 0x3},
		{"CKA_UNIQUE_ID", uint64(cryptoki.CKA_UNIQUE_ID), 0x4},
		{"CKA_VALUE", uint64(cryptoki.CKA_VALUE), 0x11},
		{"CKA_KEY_TYPE", uint64(cryptoki.CKA_KEY_TYPE), 0x100},
		{"CKA_EC_PARAMS", uint64(cryptoki.CKA_EC_PARAMS), 0x180},
		{"CKA_ALWAYS_AUTHENTICATE", uint64(cryptoki.CKA_ALWAYS_AUTHENTICATE), 0x202},
		{"CKA_WRAP_TEMPLATE", uint64(cryptoki.CKA_WRAP_TEMPLATE), 0x40000211},
		{"CKA_UNWRAP_TEMPLATE", uint64(cryptoki.CKA_UNWRAP_TEMPLATE), 0x40000212},
		{"CKA_DERIVE_TEMPLATE", uint64(cryptoki.CKA_DERIVE_TEMPLATE), 0x40000213},
		{"CKA_ALLOWED_MECHANISMS", uint64(cryptoki.CKA_ALLOWED_MECHANISMS), 0x40000600},
		{"CKA_PROFILE_ID", uint64(cryptoki.CKA_PROFILE_ID), 0x601},
		{"CKA_PARAMETER_SET", uint64(cryptoki.CKA_PARAMETER_SET), 0x61d},
		{"CKA_ENCAPSULATE", uint64(cryptoki.CKA_ENCAPSULATE), 0x633},
		{"CKA_DECAPSULATE", uint64(cryptoki.CKA_DECAPSULATE), 0x634},
		{"CKA_SEED", uint64(cryptoki.CKA_SEED), 0x637},
		{"CKA_VENDOR_DEFINED", uint64(cryptoki.CKA_VENDOR_DEFINED), 0x80000000},

		{"CKO_PRIVATE_KEY", uint64(cryptoki.CKO_PRIVATE_KEY), 0x3},
		{"CKO_PROFILE", uint64(cryptoki.CKO_PROFILE), 0x9},

		{"CKK_EC", uint64(cryptoki.CKK_EC), 0x3},
		{"CKK_AES", uint64(cryptoki.CKK_AES), 0x1f},
		{"CKK_EC_EDWARDS", uint64(cryptoki.CKK_EC_EDWARDS), 0x40},
		{"CKK_EC_MONTGOMERY", uint64(cryptoki.CKK_EC_MONTGOMERY), 0x41},
		{"CKK_HKDF", uint64(cryptoki.CKK_HKDF), 0x42},
		{"CKK_ML_KEM", uint64(cryptoki.CKK_ML_KEM), 0x49},
		{"CKK_ML_DSA", uint64(cryptoki.CKK_ML_DSA), 0x4a},
		{"CKK_SLH_DSA", uint64(cryptoki.CKK_SLH_DSA), 0x4b},

		{"CKM_RSA_PKCS_OAEP", uint64(cryptoki.CKM_RSA_PKCS_OAEP), 0x9},
		{"CKM_RSA_PKCS_PSS", uint64(cryptoki.CKM_RSA_PKCS_PSS), 0xd},
		{"CKM_SHA256_RSA_PKCS_PSS", uint64(cryptoki.CKM_SHA256_RSA_PKCS_PSS), 0x43},
		{"CKM_SHA3_256_RSA_PKCS", uint64(cryptoki.CKM_SHA3_256_RSA_PKCS), 0x60},
		{"CKM_SHA256", uint64(cryptoki.CKM_SHA256), 0x250},
		{"CKM_SHA256_HMAC", uint64(cryptoki.CKM_SHA256_HMAC), 0x251},
		{"CKM_SHA3_256", uint64(cryptoki.CKM_SHA3_256), 0x2b0},
		{"CKM_GENERIC_SECRET_KEY_GEN", uint64(cryptoki.CKM_GENERIC_SECRET_KEY_GEN), 0x350},
		{"CKM_PKCS5_PBKD2", uint64(cryptoki.CKM_PKCS5_PBKD2), 0x3b0},
		{"CKM_SP800_108_COUNTER_KDF", uint64(cryptoki.CKM_SP800_108_COUNTER_KDF), 0x3ac},
		{"CKM_EC_KEY_PAIR_GEN", uint64(cryptoki.CKM_EC_KEY_PAIR_GEN), 0x1040},
		{"CKM_ECDSA_SHA256", uint64(cryptoki.CKM_ECDSA_SHA256), 0x1044},
		{"CKM_ECDH1_DERIVE", uint64(cryptoki.CKM_ECDH1_DERIVE), 0x1050},
		{"CKM_EDDSA", uint64(cryptoki.CKM_EDDSA), 0x1057},
		{"CKM_AES_CBC_PAD", uint64(cryptoki.CKM_AES_CBC_PAD), 0x1085},
		{"CKM_AES_GCM", uint64(cryptoki.CKM_AES_GCM), 0x1087},
		{"CKM_AES_CMAC", uint64(cryptoki.CKM_AES_CMAC), 0x108a},
		{"CKM_AES_KEY_WRAP", uint64(cryptoki.CKM_AES_KEY_WRAP), 0x2109},
		{"CKM_AES_KEY_WRAP_KWP", uint64(cryptoki.CKM_AES_KEY_WRAP_KWP), 0x210b},
		{"CKM_HKDF_DERIVE", uint64(cryptoki.CKM_HKDF_DERIVE), 0x402a},
		{"CKM_ML_KEM_KEY_PAIR_GEN", uint64(cryptoki.CKM_ML_KEM_KEY_PAIR_GEN), 0xf},
		{"CKM_ML_KEM", uint64(cryptoki.CKM_ML_KEM), 0x17},
		{"CKM_ML_DSA_KEY_PAIR_GEN", uint64(cryptoki.CKM_ML_DSA_KEY_PAIR_GEN), 0x1c},
		{"CKM_ML_DSA", uint64(cryptoki.CKM_ML_DSA), 0x1d},
		{"CKM_SLH_DSA", uint64(cryptoki.CKM_SLH_DSA), 0x2e},

		{"CKR_PIN_INCORRECT", uint64(cryptoki.CKR_PIN_INCORRECT), 0xa0},
		{"CKR_BUFFER_TOO_SMALL", uint64(cryptoki.CKR_BUFFER_TOO_SMALL), 0x150},
		{"CKR_PIN_TOO_WEAK", uint64(cryptoki.CKR_PIN_TOO_WEAK), 0x1b8},
		{"CKR_FUNCTION_REJECTED", uint64(cryptoki.CKR_FUNCTION_REJECTED), 0x200},
		{"CKR_OPERATION_CANCEL_FAILED", uint64(cryptoki.CKR_OPERATION_CANCEL_FAILED), 0x202},

		{"CKU_CONTEXT_SPECIFIC", uint64(cryptoki.CKU_CONTEXT_SPECIFIC), 2},
		{"CKS_RW_SO_FUNCTIONS", uint64(cryptoki.CKS_RW_SO_FUNCTIONS), 4},
		{"CKF_SERIAL_SESSION", cryptoki.CKF_SERIAL_SESSION, 0x4},
		{"CKF_OS_LOCKING_OK", cryptoki.CKF_OS_LOCKING_OK, 0x2},
		{"CKF_GENERATE_KEY_PAIR", cryptoki.CKF_GENERATE_KEY_PAIR, 0x10000},
		{"CKF_ARRAY_ATTRIBUTE", cryptoki.CKF_ARRAY_ATTRIBUTE, 0x40000000},
		{"CKG_MGF1_SHA256", cryptoki.CKG_MGF1_SHA256, 0x2},
		{"CKG_MGF1_SHA224", cryptoki.CKG_MGF1_SHA224, 0x5},
		{"CKD_SHA256_KDF", cryptoki.CKD_SHA256_KDF, 0x6},
		{"CKP_ML_DSA_65", cryptoki.CKP_ML_DSA_65, 0x2},
		{"CK_UNAVAILABLE_INFORMATION", cryptoki.CK_UNAVAILABLE_INFORMATION, ^uint64(0)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, the specification says %#x", c.name, c.got, c.want)
		}
	}
}

// TestNames checks String, the alias rule and the ByName lookups.
func TestNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{cryptoki.CKA_LABEL.String(), "CKA_LABEL"},
		{cryptoki.CKA_ECDSA_PARAMS.String(), "CKA_EC_PARAMS"},
		{cryptoki.CKM_ECDSA_KEY_PAIR_GEN.String(), "CKM_EC_KEY_PAIR_GEN"},
		{cryptoki.CKK_ECDSA.String(), "CKK_EC"},
		{cryptoki.CKR_OK.String(), "CKR_OK"},
		{cryptoki.CKO_SECRET_KEY.String(), "CKO_SECRET_KEY"},
		{cryptoki.AttributeType(0x80001234).String(), "CKA_0x80001234"},
		{cryptoki.MechanismType(0x7777).String(), "CKM_0x7777"},
		{cryptoki.RV(0x1234).String(), "CKR_0x1234"},
	} {
		if c.got != c.want {
			t.Errorf("String() = %q, want %q", c.got, c.want)
		}
	}
	if m, ok := cryptoki.MechanismByName("CKM_ECDSA_KEY_PAIR_GEN"); !ok || m != cryptoki.CKM_EC_KEY_PAIR_GEN {
		t.Errorf("MechanismByName(CKM_ECDSA_KEY_PAIR_GEN) = %v, %v", m, ok)
	}
	if a, ok := cryptoki.AttributeByName("CKA_WRAP_TEMPLATE"); !ok || a != cryptoki.CKA_WRAP_TEMPLATE {
		t.Errorf("AttributeByName(CKA_WRAP_TEMPLATE) = %v, %v", a, ok)
	}
	if _, ok := cryptoki.MechanismByName("CKM_NO_SUCH"); ok {
		t.Error("MechanismByName accepted an unknown name")
	}
}

// TestUpToDate regenerates consts.go from the header and compares it byte for byte with the committed file.
func TestUpToDate(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root, "include", "keyward", "pkcs11.h"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "pkg", "cryptoki", "consts.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("pkg/cryptoki/consts.go is out of date: run go generate ./pkg/cryptoki")
	}
}

// TestParseErrors checks that malformed or ambiguous headers are rejected rather than half-read.
func TestParseErrors(t *testing.T) {
	for _, src := range []string{
		"#define CKA_FOO (1 << 3)\n",                                      // unsupported expression
		"#define CKM_A 0x1UL\n#define CKM_B 0x1UL\n",                      // two canonical names, one value
		"#define CKM_A CKM_B\n",                                           // alias of an undefined name
		"#define CKA_X 0x1UL\n#define CKA_X 0x2UL\n",                      // defined twice
		"#define CKA_X 0x1UL\n#define CKM_Y CKA_X\n",                      // alias across types
		"#define CKR_A 0x1UL\n#define CKR_B CKR_A\n#define CKR_C CKR_B\n", // alias of an alias
	} {
		if _, err := generate([]byte(src)); err == nil {
			t.Errorf("generate accepted %q", strings.TrimSpace(src))
		}
	}
	if _, err := generate([]byte("#define CK_PTR *\n#define CK_DECLARE_FUNCTION(r, n) r n\n#define CKA_X (CKF_Y|0x1UL)\n")); err == nil {
		t.Error("generate accepted a use of an undefined name")
	}
}
