package engine

import (
	"fmt"
	"maps"

	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// attrKinds gives the value layout of the attributes the engine knows: those of objectKinds, and those the
// key types' rules name (mech.AttrRule.Kind: CKA_MODULUS, CKA_EC_PARAMS, CKA_VALUE_LEN ...). An attribute absent
// here is unknown to Keyward: templates naming it get CKR_ATTRIBUTE_TYPE_INVALID.
var attrKinds = withKeyTypeKinds(objectKinds)

// withKeyTypeKinds returns base with the layouts of the attributes the registered key types' rules name. It
// panics where a key type gives a known attribute another layout, so a wrong registration fails every test.
func withKeyTypeKinds(base map[ck.AttributeType]mech.Kind) map[ck.AttributeType]mech.Kind {
	out := maps.Clone(base)
	for _, kt := range mech.KeyTypes() {
		for class, rules := range mech.KeyTypeOf(kt).Rules {
			for t, r := range rules {
				if k, known := out[t]; known && k != r.Kind {
					panic(fmt.Sprintf("engine: key type %v, class %v: %v has layout %d, not %d", kt, class, t, r.Kind, k))
				}
				out[t] = r.Kind
			}
		}
	}
	return out
}

// objectKinds are the layouts of the attributes of the object classes (the storage, data, certificate and key
// attributes every key of a class carries).
var objectKinds = map[ck.AttributeType]mech.Kind{
	ck.CKA_CLASS:                      mech.KindULong,
	ck.CKA_CERTIFICATE_TYPE:           mech.KindULong,
	ck.CKA_CERTIFICATE_CATEGORY:       mech.KindULong,
	ck.CKA_JAVA_MIDP_SECURITY_DOMAIN:  mech.KindULong,
	ck.CKA_NAME_HASH_ALGORITHM:        mech.KindULong,
	ck.CKA_KEY_TYPE:                   mech.KindULong,
	ck.CKA_KEY_GEN_MECHANISM:          mech.KindULong,
	ck.CKA_TOKEN:                      mech.KindBool,
	ck.CKA_PRIVATE:                    mech.KindBool,
	ck.CKA_TRUSTED:                    mech.KindBool,
	ck.CKA_SENSITIVE:                  mech.KindBool,
	ck.CKA_ENCRYPT:                    mech.KindBool,
	ck.CKA_DECRYPT:                    mech.KindBool,
	ck.CKA_WRAP:                       mech.KindBool,
	ck.CKA_UNWRAP:                     mech.KindBool,
	ck.CKA_SIGN:                       mech.KindBool,
	ck.CKA_SIGN_RECOVER:               mech.KindBool,
	ck.CKA_VERIFY:                     mech.KindBool,
	ck.CKA_VERIFY_RECOVER:             mech.KindBool,
	ck.CKA_DERIVE:                     mech.KindBool,
	ck.CKA_EXTRACTABLE:                mech.KindBool,
	ck.CKA_LOCAL:                      mech.KindBool,
	ck.CKA_NEVER_EXTRACTABLE:          mech.KindBool,
	ck.CKA_ALWAYS_SENSITIVE:           mech.KindBool,
	ck.CKA_MODIFIABLE:                 mech.KindBool,
	ck.CKA_COPYABLE:                   mech.KindBool,
	ck.CKA_DESTROYABLE:                mech.KindBool,
	ck.CKA_ALWAYS_AUTHENTICATE:        mech.KindBool,
	ck.CKA_WRAP_WITH_TRUSTED:          mech.KindBool,
	ck.CKA_ENCAPSULATE:                mech.KindBool,
	ck.CKA_DECAPSULATE:                mech.KindBool,
	ck.CKA_LABEL:                      mech.KindBytes,
	ck.CKA_UNIQUE_ID:                  mech.KindBytes,
	ck.CKA_APPLICATION:                mech.KindBytes,
	ck.CKA_VALUE:                      mech.KindBytes,
	ck.CKA_OBJECT_ID:                  mech.KindBytes,
	ck.CKA_ISSUER:                     mech.KindBytes,
	ck.CKA_SERIAL_NUMBER:              mech.KindBytes,
	ck.CKA_URL:                        mech.KindBytes,
	ck.CKA_HASH_OF_SUBJECT_PUBLIC_KEY: mech.KindBytes,
	ck.CKA_HASH_OF_ISSUER_PUBLIC_KEY:  mech.KindBytes,
	ck.CKA_CHECK_VALUE:                mech.KindBytes,
	ck.CKA_SUBJECT:                    mech.KindBytes,
	ck.CKA_ID:                         mech.KindBytes,
	ck.CKA_PUBLIC_KEY_INFO:            mech.KindBytes,
	ck.CKA_START_DATE:                 mech.KindDate,
	ck.CKA_END_DATE:                   mech.KindDate,
	ck.CKA_WRAP_TEMPLATE:              mech.KindTemplate,
	ck.CKA_UNWRAP_TEMPLATE:            mech.KindTemplate,
	ck.CKA_DERIVE_TEMPLATE:            mech.KindTemplate,
	ck.CKA_ALLOWED_MECHANISMS:         mech.KindMechs,
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
