package engine

import (
	"github.com/keyward/keyward/internal/mech"
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

// The class tables below use the rules of internal/mech (mech.Rule: the specification's attribute footnotes);
// each key type's own attributes are in its family's file (mech.KeyTypeSpec.Rules).

// attrSet maps the attributes an object may carry to their rules and defaults.
type attrSet = mech.AttrRules

var (
	bTrue  = []byte{1}
	bFalse = []byte{0}
	empty  = []byte{}
)

var storageAttrs = attrSet{
	ck.CKA_CLASS:       {Rules: mech.RuleCreateRequired},
	ck.CKA_TOKEN:       {Rules: mech.RuleCopyOnly, Default: bFalse},
	ck.CKA_PRIVATE:     {Rules: mech.RuleCopyOnly}, // default depends on the class: see defaultPrivate
	ck.CKA_MODIFIABLE:  {Rules: mech.RuleCopyOnly | mech.RuleOnlyToFalse, Default: bTrue},
	ck.CKA_LABEL:       {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_COPYABLE:    {Rules: mech.RuleCopyOnly | mech.RuleOnlyToFalse, Default: bTrue},
	ck.CKA_DESTROYABLE: {Rules: mech.RuleCopyOnly, Default: bTrue},
	ck.CKA_UNIQUE_ID:   {Rules: mech.RuleCreateForbid | mech.RuleGenForbid | mech.RuleUnwrapForbid},
}

var dataAttrs = mech.Merge(storageAttrs, attrSet{
	ck.CKA_APPLICATION: {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_OBJECT_ID:   {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_VALUE:       {Rules: mech.RuleModifiable, Default: empty},
})

var x509Attrs = mech.Merge(storageAttrs, attrSet{
	ck.CKA_CERTIFICATE_TYPE:           {Rules: mech.RuleCreateRequired},
	ck.CKA_TRUSTED:                    {Rules: mech.RuleSOOnlyTrue, Default: bFalse},
	ck.CKA_CERTIFICATE_CATEGORY:       {Default: ck.ULong(0)},
	ck.CKA_CHECK_VALUE:                {},
	ck.CKA_START_DATE:                 {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_END_DATE:                   {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_PUBLIC_KEY_INFO:            {Default: empty},
	ck.CKA_SUBJECT:                    {Rules: mech.RuleCreateRequired},
	ck.CKA_ID:                         {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_ISSUER:                     {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_SERIAL_NUMBER:              {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_VALUE:                      {Rules: mech.RuleCreateRequired},
	ck.CKA_URL:                        {Default: empty},
	ck.CKA_HASH_OF_SUBJECT_PUBLIC_KEY: {Default: empty},
	ck.CKA_HASH_OF_ISSUER_PUBLIC_KEY:  {Default: empty},
	ck.CKA_JAVA_MIDP_SECURITY_DOMAIN:  {Default: ck.ULong(0)},
	ck.CKA_NAME_HASH_ALGORITHM:        {Default: ck.ULong(uint64(ck.CKM_SHA_1))},
})

var keyAttrs = mech.Merge(storageAttrs, attrSet{
	ck.CKA_KEY_TYPE:           {Rules: mech.RuleCreateRequired},
	ck.CKA_ID:                 {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_START_DATE:         {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_END_DATE:           {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_DERIVE:             {Rules: mech.RuleModifiable, Default: bFalse},
	ck.CKA_LOCAL:              {Rules: mech.RuleCreateForbid | mech.RuleGenForbid | mech.RuleUnwrapForbid},
	ck.CKA_KEY_GEN_MECHANISM:  {Rules: mech.RuleCreateForbid | mech.RuleGenForbid | mech.RuleUnwrapForbid},
	ck.CKA_ALLOWED_MECHANISMS: {Default: empty},
})

var publicKeyAttrs = mech.Merge(keyAttrs, attrSet{
	ck.CKA_SUBJECT:         {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_ENCRYPT:         {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_VERIFY:          {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_VERIFY_RECOVER:  {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_WRAP:            {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_ENCAPSULATE:     {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_TRUSTED:         {Rules: mech.RuleSOOnlyTrue, Default: bFalse},
	ck.CKA_WRAP_TEMPLATE:   {},
	ck.CKA_PUBLIC_KEY_INFO: {Default: empty},
})

var privateKeyAttrs = mech.Merge(keyAttrs, attrSet{
	ck.CKA_SUBJECT:             {Rules: mech.RuleModifiable, Default: empty},
	ck.CKA_SENSITIVE:           {Rules: mech.RuleModifiable | mech.RuleOnlyToTrue, Default: bTrue},
	ck.CKA_DECRYPT:             {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_SIGN:                {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_SIGN_RECOVER:        {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_UNWRAP:              {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_DECAPSULATE:         {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_EXTRACTABLE:         {Rules: mech.RuleModifiable | mech.RuleOnlyToFalse, Default: bFalse},
	ck.CKA_ALWAYS_SENSITIVE:    {Rules: mech.RuleCreateForbid | mech.RuleGenForbid | mech.RuleUnwrapForbid},
	ck.CKA_NEVER_EXTRACTABLE:   {Rules: mech.RuleCreateForbid | mech.RuleGenForbid | mech.RuleUnwrapForbid},
	ck.CKA_WRAP_WITH_TRUSTED:   {Rules: mech.RuleModifiable | mech.RuleOnlyToTrue}, // set by the wrap policy: applyWrapPolicy
	ck.CKA_UNWRAP_TEMPLATE:     {},
	ck.CKA_ALWAYS_AUTHENTICATE: {Default: bFalse},
	ck.CKA_PUBLIC_KEY_INFO:     {Default: empty},
	ck.CKA_DERIVE_TEMPLATE:     {},
})

// CKA_SENSITIVE defaults to TRUE for secret (and private) keys: the specification's table gives CK_FALSE but
// also says this default "is token-specific"; Keyward chooses TRUE, every key carries the attribute, and an
// explicit FALSE wins (docs/conformance.md, "CKA_SENSITIVE").
var secretKeyAttrs = mech.Merge(keyAttrs, attrSet{
	ck.CKA_SENSITIVE:         {Rules: mech.RuleModifiable | mech.RuleOnlyToTrue, Default: bTrue},
	ck.CKA_ENCRYPT:           {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_DECRYPT:           {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_SIGN:              {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_VERIFY:            {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_WRAP:              {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_UNWRAP:            {Rules: mech.RuleModifiable, Default: bTrue},
	ck.CKA_EXTRACTABLE:       {Rules: mech.RuleModifiable | mech.RuleOnlyToFalse, Default: bFalse},
	ck.CKA_ALWAYS_SENSITIVE:  {Rules: mech.RuleCreateForbid | mech.RuleGenForbid | mech.RuleUnwrapForbid},
	ck.CKA_NEVER_EXTRACTABLE: {Rules: mech.RuleCreateForbid | mech.RuleGenForbid | mech.RuleUnwrapForbid},
	ck.CKA_CHECK_VALUE:       {},
	// CKA_WRAP_WITH_TRUSTED is set by the wrap policy: applyWrapPolicy.
	ck.CKA_WRAP_WITH_TRUSTED: {Rules: mech.RuleModifiable | mech.RuleOnlyToTrue},
	ck.CKA_TRUSTED:           {Rules: mech.RuleSOOnlyTrue, Default: bFalse},
	ck.CKA_WRAP_TEMPLATE:     {},
	ck.CKA_UNWRAP_TEMPLATE:   {},
	ck.CKA_DERIVE_TEMPLATE:   {},
})

type classKey struct {
	class ck.ObjectClass
	sub   uint64 // key type, or certificate type
}

// classAttrs are the attributes every key of a class carries, whatever its type.
var classAttrs = map[ck.ObjectClass]attrSet{
	ck.CKO_PUBLIC_KEY:  publicKeyAttrs,
	ck.CKO_PRIVATE_KEY: privateKeyAttrs,
	ck.CKO_SECRET_KEY:  secretKeyAttrs,
}

// schemas maps (class, key or certificate type) to the attributes such an object may carry: data objects
// and X.509 certificates from the tables here; keys from their class's table with the key type's own rules
// over it, for every key type internal/mech registers with rules (mech.KeyTypeSpec.Rules).
var schemas = buildSchemas()

func buildSchemas() map[classKey]attrSet {
	out := map[classKey]attrSet{
		{ck.CKO_DATA, 0}: dataAttrs,
		{ck.CKO_CERTIFICATE, uint64(ck.CKC_X_509)}: x509Attrs,
	}
	for _, kt := range mech.KeyTypes() {
		for class, own := range mech.KeyTypeOf(kt).Rules {
			out[classKey{class, uint64(kt)}] = mech.Merge(classAttrs[class], own)
		}
	}
	return out
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
