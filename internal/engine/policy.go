package engine

import (
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// valueKind is how an attribute's value is laid out.
type valueKind uint8

const (
	kindBytes    valueKind = iota // any byte string (including UTF-8 strings)
	kindBool                      // CK_BBOOL: one byte, 0 or 1
	kindULong                     // CK_ULONG: 8 bytes, host order
	kindDate                      // CK_DATE: empty or 8 ASCII digits YYYYMMDD
	kindTemplate                  // an attribute array (CKF_ARRAY_ATTRIBUTE)
	kindMechs                     // CK_MECHANISM_TYPE array: a multiple of 8 bytes
)

// attrKinds gives the value layout of the attributes the engine knows. An attribute absent here is unknown to
// Keyward: templates naming it get CKR_ATTRIBUTE_TYPE_INVALID.
var attrKinds = map[ck.AttributeType]valueKind{
	ck.CKA_CLASS: kindULong, ck.CKA_TOKEN: kindBool, ck.CKA_PRIVATE: kindBool, ck.CKA_LABEL: kindBytes,
	ck.CKA_UNIQUE_ID: kindBytes, ck.CKA_APPLICATION: kindBytes, ck.CKA_VALUE: kindBytes, ck.CKA_OBJECT_ID: kindBytes,
	ck.CKA_CERTIFICATE_TYPE: kindULong, ck.CKA_ISSUER: kindBytes, ck.CKA_SERIAL_NUMBER: kindBytes,
	ck.CKA_TRUSTED: kindBool, ck.CKA_CERTIFICATE_CATEGORY: kindULong, ck.CKA_JAVA_MIDP_SECURITY_DOMAIN: kindULong,
	ck.CKA_URL: kindBytes, ck.CKA_HASH_OF_SUBJECT_PUBLIC_KEY: kindBytes, ck.CKA_HASH_OF_ISSUER_PUBLIC_KEY: kindBytes,
	ck.CKA_NAME_HASH_ALGORITHM: kindULong, ck.CKA_CHECK_VALUE: kindBytes, ck.CKA_KEY_TYPE: kindULong,
	ck.CKA_SUBJECT: kindBytes, ck.CKA_ID: kindBytes, ck.CKA_SENSITIVE: kindBool, ck.CKA_ENCRYPT: kindBool,
	ck.CKA_DECRYPT: kindBool, ck.CKA_WRAP: kindBool, ck.CKA_UNWRAP: kindBool, ck.CKA_SIGN: kindBool,
	ck.CKA_SIGN_RECOVER: kindBool, ck.CKA_VERIFY: kindBool, ck.CKA_VERIFY_RECOVER: kindBool, ck.CKA_DERIVE: kindBool,
	ck.CKA_START_DATE: kindDate, ck.CKA_END_DATE: kindDate, ck.CKA_MODULUS: kindBytes, ck.CKA_MODULUS_BITS: kindULong,
	ck.CKA_PUBLIC_EXPONENT: kindBytes, ck.CKA_PRIVATE_EXPONENT: kindBytes, ck.CKA_PRIME_1: kindBytes,
	ck.CKA_PRIME_2: kindBytes, ck.CKA_EXPONENT_1: kindBytes, ck.CKA_EXPONENT_2: kindBytes,
	ck.CKA_COEFFICIENT: kindBytes, ck.CKA_PUBLIC_KEY_INFO: kindBytes, ck.CKA_VALUE_LEN: kindULong,
	ck.CKA_EXTRACTABLE: kindBool, ck.CKA_LOCAL: kindBool, ck.CKA_NEVER_EXTRACTABLE: kindBool,
	ck.CKA_ALWAYS_SENSITIVE: kindBool, ck.CKA_KEY_GEN_MECHANISM: kindULong, ck.CKA_MODIFIABLE: kindBool,
	ck.CKA_COPYABLE: kindBool, ck.CKA_DESTROYABLE: kindBool, ck.CKA_EC_PARAMS: kindBytes, ck.CKA_EC_POINT: kindBytes,
	ck.CKA_ALWAYS_AUTHENTICATE: kindBool, ck.CKA_WRAP_WITH_TRUSTED: kindBool, ck.CKA_WRAP_TEMPLATE: kindTemplate,
	ck.CKA_UNWRAP_TEMPLATE: kindTemplate, ck.CKA_DERIVE_TEMPLATE: kindTemplate,
	ck.CKA_ALLOWED_MECHANISMS: kindMechs, ck.CKA_PARAMETER_SET: kindULong, ck.CKA_SEED: kindBytes,
	ck.CKA_ENCAPSULATE: kindBool, ck.CKA_DECAPSULATE: kindBool,
}

// rule is a set of the specification's attribute footnotes (PKCS#11 3.0 section 4.2, Table 10).
type rule uint16

const (
	ruleCreateRequired rule = 1 << iota // 1: must be specified when the object is created with C_CreateObject
	ruleCreateForbid                    // 2: must not be specified when the object is created with C_CreateObject
	ruleGenRequired                     // 3: must be specified when the object is generated
	ruleGenForbid                       // 4: must not be specified when the object is generated
	ruleUnwrapRequired                  // 5: must be specified when the object is unwrapped
	ruleUnwrapForbid                    // 6: must not be specified when the object is unwrapped
	ruleSensitive                       // 7: cannot be revealed if CKA_SENSITIVE is true or CKA_EXTRACTABLE false
	ruleModifiable                      // 8: may be modified by C_SetAttributeValue or during C_CopyObject
	ruleSOOnlyTrue                      // 10: can be set to true only by the SO
	ruleOnlyToTrue                      // 11: cannot be changed once set to true
	ruleOnlyToFalse                     // 12: cannot be changed once set to false
	ruleCopyOnly                        // may be changed during C_CopyObject only (CKA_TOKEN, CKA_PRIVATE, ...)
)

// attrSpec is one attribute an object may carry, its rules and its default (nil: the attribute is absent
// unless given).
type attrSpec struct {
	rules rule
	def   []byte
}

type attrSet map[ck.AttributeType]attrSpec

var (
	bTrue  = []byte{1}
	bFalse = []byte{0}
	empty  = []byte{}
)

func ulong(v uint64) []byte { return ulongBytes(v) }

// merge returns the union of sets; later sets win.
func merge(sets ...attrSet) attrSet {
	out := attrSet{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

var storageAttrs = attrSet{
	ck.CKA_CLASS:       {rules: ruleCreateRequired},
	ck.CKA_TOKEN:       {rules: ruleCopyOnly, def: bFalse},
	ck.CKA_PRIVATE:     {rules: ruleCopyOnly}, // default depends on the class: see defaultPrivate
	ck.CKA_MODIFIABLE:  {rules: ruleCopyOnly | ruleOnlyToFalse, def: bTrue},
	ck.CKA_LABEL:       {rules: ruleModifiable, def: empty},
	ck.CKA_COPYABLE:    {rules: ruleCopyOnly | ruleOnlyToFalse, def: bTrue},
	ck.CKA_DESTROYABLE: {rules: ruleCopyOnly, def: bTrue},
	ck.CKA_UNIQUE_ID:   {rules: ruleCreateForbid | ruleGenForbid | ruleUnwrapForbid},
}

var dataAttrs = merge(storageAttrs, attrSet{
	ck.CKA_APPLICATION: {rules: ruleModifiable, def: empty},
	ck.CKA_OBJECT_ID:   {rules: ruleModifiable, def: empty},
	ck.CKA_VALUE:       {rules: ruleModifiable, def: empty},
})

var x509Attrs = merge(storageAttrs, attrSet{
	ck.CKA_CERTIFICATE_TYPE:           {rules: ruleCreateRequired},
	ck.CKA_TRUSTED:                    {rules: ruleSOOnlyTrue, def: bFalse},
	ck.CKA_CERTIFICATE_CATEGORY:       {def: ulong(0)},
	ck.CKA_CHECK_VALUE:                {},
	ck.CKA_START_DATE:                 {rules: ruleModifiable, def: empty},
	ck.CKA_END_DATE:                   {rules: ruleModifiable, def: empty},
	ck.CKA_PUBLIC_KEY_INFO:            {def: empty},
	ck.CKA_SUBJECT:                    {rules: ruleCreateRequired},
	ck.CKA_ID:                         {rules: ruleModifiable, def: empty},
	ck.CKA_ISSUER:                     {rules: ruleModifiable, def: empty},
	ck.CKA_SERIAL_NUMBER:              {rules: ruleModifiable, def: empty},
	ck.CKA_VALUE:                      {rules: ruleCreateRequired},
	ck.CKA_URL:                        {def: empty},
	ck.CKA_HASH_OF_SUBJECT_PUBLIC_KEY: {def: empty},
	ck.CKA_HASH_OF_ISSUER_PUBLIC_KEY:  {def: empty},
	ck.CKA_JAVA_MIDP_SECURITY_DOMAIN:  {def: ulong(0)},
	ck.CKA_NAME_HASH_ALGORITHM:        {def: ulong(uint64(ck.CKM_SHA_1))},
})

var keyAttrs = merge(storageAttrs, attrSet{
	ck.CKA_KEY_TYPE:           {rules: ruleCreateRequired},
	ck.CKA_ID:                 {rules: ruleModifiable, def: empty},
	ck.CKA_START_DATE:         {rules: ruleModifiable, def: empty},
	ck.CKA_END_DATE:           {rules: ruleModifiable, def: empty},
	ck.CKA_DERIVE:             {rules: ruleModifiable, def: bFalse},
	ck.CKA_LOCAL:              {rules: ruleCreateForbid | ruleGenForbid | ruleUnwrapForbid},
	ck.CKA_KEY_GEN_MECHANISM:  {rules: ruleCreateForbid | ruleGenForbid | ruleUnwrapForbid},
	ck.CKA_ALLOWED_MECHANISMS: {def: empty},
})

var publicKeyAttrs = merge(keyAttrs, attrSet{
	ck.CKA_SUBJECT:         {rules: ruleModifiable, def: empty},
	ck.CKA_ENCRYPT:         {rules: ruleModifiable, def: bTrue},
	ck.CKA_VERIFY:          {rules: ruleModifiable, def: bTrue},
	ck.CKA_VERIFY_RECOVER:  {rules: ruleModifiable, def: bTrue},
	ck.CKA_WRAP:            {rules: ruleModifiable, def: bTrue},
	ck.CKA_ENCAPSULATE:     {rules: ruleModifiable, def: bTrue},
	ck.CKA_TRUSTED:         {rules: ruleSOOnlyTrue, def: bFalse},
	ck.CKA_WRAP_TEMPLATE:   {},
	ck.CKA_PUBLIC_KEY_INFO: {def: empty},
})

var privateKeyAttrs = merge(keyAttrs, attrSet{
	ck.CKA_SUBJECT:             {rules: ruleModifiable, def: empty},
	ck.CKA_SENSITIVE:           {rules: ruleModifiable | ruleOnlyToTrue, def: bTrue},
	ck.CKA_DECRYPT:             {rules: ruleModifiable, def: bTrue},
	ck.CKA_SIGN:                {rules: ruleModifiable, def: bTrue},
	ck.CKA_SIGN_RECOVER:        {rules: ruleModifiable, def: bTrue},
	ck.CKA_UNWRAP:              {rules: ruleModifiable, def: bTrue},
	ck.CKA_DECAPSULATE:         {rules: ruleModifiable, def: bTrue},
	ck.CKA_EXTRACTABLE:         {rules: ruleModifiable | ruleOnlyToFalse, def: bFalse},
	ck.CKA_ALWAYS_SENSITIVE:    {rules: ruleCreateForbid | ruleGenForbid | ruleUnwrapForbid},
	ck.CKA_NEVER_EXTRACTABLE:   {rules: ruleCreateForbid | ruleGenForbid | ruleUnwrapForbid},
	ck.CKA_WRAP_WITH_TRUSTED:   {rules: ruleModifiable | ruleOnlyToTrue}, // set by the wrap policy: applyWrapPolicy
	ck.CKA_UNWRAP_TEMPLATE:     {},
	ck.CKA_ALWAYS_AUTHENTICATE: {def: bFalse},
	ck.CKA_PUBLIC_KEY_INFO:     {def: empty},
	ck.CKA_DERIVE_TEMPLATE:     {},
})

// CKA_SENSITIVE defaults to TRUE for secret (and private) keys: the specification's table gives CK_FALSE but
// also says this default "is token-specific"; Keyward chooses TRUE, every key carries the attribute, and an
// explicit FALSE wins (docs/conformance.md, "CKA_SENSITIVE").
var secretKeyAttrs = merge(keyAttrs, attrSet{
	ck.CKA_SENSITIVE:         {rules: ruleModifiable | ruleOnlyToTrue, def: bTrue},
	ck.CKA_ENCRYPT:           {rules: ruleModifiable, def: bTrue},
	ck.CKA_DECRYPT:           {rules: ruleModifiable, def: bTrue},
	ck.CKA_SIGN:              {rules: ruleModifiable, def: bTrue},
	ck.CKA_VERIFY:            {rules: ruleModifiable, def: bTrue},
	ck.CKA_WRAP:              {rules: ruleModifiable, def: bTrue},
	ck.CKA_UNWRAP:            {rules: ruleModifiable, def: bTrue},
	ck.CKA_EXTRACTABLE:       {rules: ruleModifiable | ruleOnlyToFalse, def: bFalse},
	ck.CKA_ALWAYS_SENSITIVE:  {rules: ruleCreateForbid | ruleGenForbid | ruleUnwrapForbid},
	ck.CKA_NEVER_EXTRACTABLE: {rules: ruleCreateForbid | ruleGenForbid | ruleUnwrapForbid},
	ck.CKA_CHECK_VALUE:       {},
	ck.CKA_WRAP_WITH_TRUSTED: {rules: ruleModifiable | ruleOnlyToTrue}, // set by the wrap policy: applyWrapPolicy
	ck.CKA_TRUSTED:           {rules: ruleSOOnlyTrue, def: bFalse},
	ck.CKA_WRAP_TEMPLATE:     {},
	ck.CKA_UNWRAP_TEMPLATE:   {},
	ck.CKA_DERIVE_TEMPLATE:   {},
})

// Key-type attributes, per class (public, private, secret).
var (
	rsaPublic = attrSet{
		ck.CKA_MODULUS:         {rules: ruleCreateRequired | ruleGenForbid},
		ck.CKA_MODULUS_BITS:    {rules: ruleCreateForbid | ruleGenRequired},
		ck.CKA_PUBLIC_EXPONENT: {rules: ruleCreateRequired},
	}
	rsaPrivate = attrSet{
		ck.CKA_MODULUS:          {rules: ruleCreateRequired | ruleGenForbid | ruleUnwrapForbid},
		ck.CKA_PUBLIC_EXPONENT:  {rules: ruleGenForbid | ruleUnwrapForbid},
		ck.CKA_PRIVATE_EXPONENT: {rules: ruleCreateRequired | ruleGenForbid | ruleUnwrapForbid | ruleSensitive},
		ck.CKA_PRIME_1:          {rules: ruleGenForbid | ruleUnwrapForbid | ruleSensitive},
		ck.CKA_PRIME_2:          {rules: ruleGenForbid | ruleUnwrapForbid | ruleSensitive},
		ck.CKA_EXPONENT_1:       {rules: ruleGenForbid | ruleUnwrapForbid | ruleSensitive},
		ck.CKA_EXPONENT_2:       {rules: ruleGenForbid | ruleUnwrapForbid | ruleSensitive},
		ck.CKA_COEFFICIENT:      {rules: ruleGenForbid | ruleUnwrapForbid | ruleSensitive},
	}
	ecPublic = attrSet{
		ck.CKA_EC_PARAMS: {rules: ruleCreateRequired | ruleGenRequired},
		ck.CKA_EC_POINT:  {rules: ruleCreateRequired | ruleGenForbid},
	}
	ecPrivate = attrSet{
		ck.CKA_EC_PARAMS: {rules: ruleCreateRequired | ruleGenForbid | ruleUnwrapForbid},
		// Not in the specification's table for private keys, but read there by OpenSSL's pkcs11-provider and
		// others: the public point, set by key generation and optional on import.
		ck.CKA_EC_POINT: {rules: ruleGenForbid | ruleUnwrapForbid},
		ck.CKA_VALUE:    {rules: ruleCreateRequired | ruleGenForbid | ruleUnwrapForbid | ruleSensitive},
	}
	pqPublic = attrSet{
		ck.CKA_PARAMETER_SET: {rules: ruleCreateRequired | ruleGenRequired},
		ck.CKA_VALUE:         {rules: ruleCreateRequired | ruleGenForbid},
	}
	// PKCS#11 3.2: a private ML-DSA or ML-KEM key holds its seed, its expanded value, or both; the key
	// type's Check requires one and derives the value from the seed.
	pqPrivate = attrSet{
		ck.CKA_PARAMETER_SET: {rules: ruleCreateRequired | ruleGenForbid | ruleUnwrapForbid},
		ck.CKA_VALUE:         {rules: ruleGenForbid | ruleUnwrapForbid | ruleSensitive},
		ck.CKA_SEED:          {rules: ruleGenForbid | ruleUnwrapForbid | ruleSensitive},
	}
	secretValue = attrSet{
		ck.CKA_VALUE:     {rules: ruleCreateRequired | ruleGenForbid | ruleUnwrapForbid | ruleSensitive},
		ck.CKA_VALUE_LEN: {rules: ruleCreateForbid | ruleGenRequired},
	}
)

// Usage defaults by what a key type can do: an attribute the template leaves out is false where the key type
// has no such operation (an EC public key does not encrypt, an ML-KEM key does not sign). The application may
// still set it; the mechanisms decide.
func usageOff(types ...ck.AttributeType) attrSet {
	s := attrSet{}
	for _, t := range types {
		s[t] = attrSpec{rules: ruleModifiable, def: bFalse}
	}
	return s
}

var (
	signerPublic  = usageOff(ck.CKA_ENCRYPT, ck.CKA_WRAP, ck.CKA_VERIFY_RECOVER, ck.CKA_ENCAPSULATE)
	signerPrivate = usageOff(ck.CKA_DECRYPT, ck.CKA_UNWRAP, ck.CKA_SIGN_RECOVER, ck.CKA_DECAPSULATE)
	dhPublic      = usageOff(ck.CKA_ENCRYPT, ck.CKA_WRAP, ck.CKA_VERIFY, ck.CKA_VERIFY_RECOVER, ck.CKA_ENCAPSULATE)
	dhPrivate     = usageOff(ck.CKA_DECRYPT, ck.CKA_UNWRAP, ck.CKA_SIGN, ck.CKA_SIGN_RECOVER, ck.CKA_DECAPSULATE)
	kemPublic     = usageOff(ck.CKA_ENCRYPT, ck.CKA_WRAP, ck.CKA_VERIFY, ck.CKA_VERIFY_RECOVER)
	kemPrivate    = usageOff(ck.CKA_DECRYPT, ck.CKA_UNWRAP, ck.CKA_SIGN, ck.CKA_SIGN_RECOVER)
	rsaUsage      = usageOff(ck.CKA_ENCAPSULATE, ck.CKA_DECAPSULATE)
)

type classKey struct {
	class ck.ObjectClass
	sub   uint64 // key type, or certificate type
}

// schemas maps (class, key or certificate type) to the attributes such an object may carry.
var schemas = map[classKey]attrSet{
	{ck.CKO_DATA, 0}: dataAttrs,
	{ck.CKO_CERTIFICATE, uint64(ck.CKC_X_509)}:         x509Attrs,
	{ck.CKO_PUBLIC_KEY, uint64(ck.CKK_RSA)}:            merge(publicKeyAttrs, rsaPublic, rsaUsage),
	{ck.CKO_PRIVATE_KEY, uint64(ck.CKK_RSA)}:           merge(privateKeyAttrs, rsaPrivate, rsaUsage),
	{ck.CKO_PUBLIC_KEY, uint64(ck.CKK_EC)}:             merge(publicKeyAttrs, ecPublic, signerPublic),
	{ck.CKO_PRIVATE_KEY, uint64(ck.CKK_EC)}:            merge(privateKeyAttrs, ecPrivate, signerPrivate),
	{ck.CKO_PUBLIC_KEY, uint64(ck.CKK_EC_EDWARDS)}:     merge(publicKeyAttrs, ecPublic, signerPublic),
	{ck.CKO_PRIVATE_KEY, uint64(ck.CKK_EC_EDWARDS)}:    merge(privateKeyAttrs, ecPrivate, signerPrivate),
	{ck.CKO_PUBLIC_KEY, uint64(ck.CKK_EC_MONTGOMERY)}:  merge(publicKeyAttrs, ecPublic, dhPublic),
	{ck.CKO_PRIVATE_KEY, uint64(ck.CKK_EC_MONTGOMERY)}: merge(privateKeyAttrs, ecPrivate, dhPrivate),
	{ck.CKO_PUBLIC_KEY, uint64(ck.CKK_ML_DSA)}:         merge(publicKeyAttrs, pqPublic, signerPublic),
	{ck.CKO_PRIVATE_KEY, uint64(ck.CKK_ML_DSA)}:        merge(privateKeyAttrs, pqPrivate, signerPrivate),
	{ck.CKO_PUBLIC_KEY, uint64(ck.CKK_ML_KEM)}:         merge(publicKeyAttrs, pqPublic, kemPublic),
	{ck.CKO_PRIVATE_KEY, uint64(ck.CKK_ML_KEM)}:        merge(privateKeyAttrs, pqPrivate, kemPrivate),
	{ck.CKO_SECRET_KEY, uint64(ck.CKK_AES)}:            merge(secretKeyAttrs, secretValue),
	{ck.CKO_SECRET_KEY, uint64(ck.CKK_GENERIC_SECRET)}: merge(secretKeyAttrs, secretValue),
}

// defaultPrivate is the token-specific default of CKA_PRIVATE: keys that must stay secret are private
// objects unless the template says otherwise; data objects, certificates and public keys are public.
func defaultPrivate(class ck.ObjectClass) bool {
	return class == ck.CKO_PRIVATE_KEY || class == ck.CKO_SECRET_KEY
}

// isKeyClass reports whether class is one of the key classes.
func isKeyClass(class ck.ObjectClass) bool {
	return class == ck.CKO_PUBLIC_KEY || class == ck.CKO_PRIVATE_KEY || class == ck.CKO_SECRET_KEY
}
