package engine

import (
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Keyward's wrapping policy: how a sensitive key may leave the token, and what a key that wraps one may do.
//
// A wrapped blob is the key's value encrypted under the wrapping key. If the same key value can do anything
// else that inverts the encryption (decrypt in any mode; encrypt with a stream mode, since GCM and CTR are a
// keystream XOR; a CMAC or a derivation that exposes the block cipher; an unwrap into a readable key), the
// blob comes back in clear inside the token. So (both wrap policies):
//
//  1. A sensitive key is wrapped only by a wrap-only key: a secret key with CKA_WRAP TRUE whose
//     wrapInverting usages (CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_DERIVE) are all FALSE, and
//     only with a mechanism built for wrapping keys (sensitiveWrapMechs: RFC 3394 key wrap, with PKCS #7
//     padding, and RFC 5649).
//     ECB and CBC are deterministic and malleable, CTR and GCM with a caller-chosen IV are a keystream the
//     same key reproduces: none of them wraps a sensitive key. Checked at the wrap (wrapAllowed), so a key
//     stored before the rule existed is held to it too.
//  2. Being wrap-only is fixed when a key is made: C_SetAttributeValue and C_CopyObject neither make a
//     wrap-only key out of another key nor give a wrap-only key (or its copy) another function
//     (CKR_ATTRIBUTE_READ_ONLY). Otherwise a copy made before the change, or the key itself after it, would
//     decrypt what the wrap-only key wrapped. A change of a key's attributes also ends the operations that
//     use it (endKeyOperations), so an operation begun under the old usages does not outlive them.
//  3. A trusted key (CKA_TRUSTED, set only by the SO) is sensitive and does nothing but wrap: it is made
//     wrap-only (its wrapInverting usages and CKA_UNWRAP default to FALSE and may not be TRUE, nor may
//     CKA_SENSITIVE be FALSE: CKR_TEMPLATE_INCONSISTENT), and useKey refuses any other use of it
//     (CKR_KEY_FUNCTION_NOT_PERMITTED), which covers trusted keys stored with CKA_ENCRYPT TRUE by earlier
//     versions.
//  4. A wrap-only key unwraps only into sensitive keys (CKR_TEMPLATE_INCONSISTENT for an explicit
//     CKA_SENSITIVE FALSE), so unwrapping a blob with the key that wrapped it, or with a copy of it, does not
//     make it readable.
//  5. A sensitive wrap-only key leaves only under a trusted key (which never unwraps): wrapped under a key
//     that can unwrap, it could come back with CKA_DECRYPT and open what it wrapped.
//
// Which wrap-only keys may wrap a sensitive key is the token's wrap policy (tokenRecord.WrapPolicy):
//
//   - trusted-only (the default): only a trusted key. Every sensitive key so behaves as if it had
//     CKA_WRAP_WITH_TRUSTED, and says so: the attribute is TRUE on every sensitive key of such a token.
//   - spec: the specification's model, CKA_WRAP_WITH_TRUSTED decides. A key with it needs a trusted key; one
//     without it may also be wrapped by a wrap-only key whose value was never outside the token (CKA_LOCAL,
//     CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE TRUE, made by CKM_AES_KEY_GEN: drawn at random here and
//     never revealed). A key whose value an application chose, could compute or could read (imported,
//     unwrapped, derived, generated from a password by PBKDF2) is not enough: the application could unwrap
//     the blob outside the token (the Tookan attacks).
//
// A non-sensitive key's value can be read anyway: any wrapping key and mechanism may wrap it, subject to
// CKA_WRAP_WITH_TRUSTED and CKA_WRAP_TEMPLATE.

// WrapPolicy is a token's wrapping policy (see above), chosen when the token is initialised.
type WrapPolicy = ck.WrapPolicy

// wrapInverting are the usages a key that wraps sensitive keys must not have: each can invert or reproduce
// a wrap under the same key value.
var wrapInverting = []ck.AttributeType{ck.CKA_ENCRYPT, ck.CKA_DECRYPT, ck.CKA_SIGN, ck.CKA_VERIFY, ck.CKA_DERIVE}

// sensitiveWrapMechs are the mechanisms that may wrap a sensitive key: the ones built for wrapping keys,
// deterministic authenticated encryption that no other operation of a wrap-only key reproduces. (AES-GCM
// would qualify only with an IV the token chooses and returns; Keyward does not offer that, so GCM does not
// wrap sensitive keys.)
var sensitiveWrapMechs = map[ck.MechanismType]bool{ck.CKM_AES_KEY_WRAP: true, ck.CKM_AES_KEY_WRAP_PAD: true,
	ck.CKM_AES_KEY_WRAP_KWP: true}

func isInverting(t ck.AttributeType) bool {
	for _, u := range wrapInverting {
		if u == t {
			return true
		}
	}
	return false
}

// wrapOnly reports whether a key is a secret key that can wrap and do nothing that inverts a wrap.
func wrapOnly(o *object) bool {
	return wrapOnlyAttrs(func(t ck.AttributeType) bool { return o.bool(t) }, o.class)
}

// wrapOnlyMap is wrapOnly of an attribute map.
func wrapOnlyMap(attrs map[ck.AttributeType][]byte) bool {
	k, _ := schemaKey(attrs)
	return wrapOnlyAttrs(func(t ck.AttributeType) bool { v := attrs[t]; return len(v) == 1 && v[0] == 1 }, k.class)
}

// wrapOnlyAttrs decides wrapOnly. A trusted secret key counts as wrap-only whatever usages it was stored with
// (keys made before rule 3 kept CKA_ENCRYPT TRUE): trustedUse refuses all of them.
func wrapOnlyAttrs(is func(ck.AttributeType) bool, class ck.ObjectClass) bool {
	if class != ck.CKO_SECRET_KEY || !is(ck.CKA_WRAP) {
		return false
	}
	if is(ck.CKA_TRUSTED) {
		return true
	}
	for _, u := range wrapInverting {
		if is(u) {
			return false
		}
	}
	return true
}

// wrapOnlyChange applies rule 2 to a key whose attributes go from before to after (a change or a copy).
func wrapOnlyChange(before, after map[ck.AttributeType][]byte) error {
	if wrapOnlyMap(before) != wrapOnlyMap(after) {
		return ck.CKR_ATTRIBUTE_READ_ONLY
	}
	return nil
}

// randomKeyGen are the key-generation mechanisms whose keys are random: CKM_PKCS5_PBKD2 also "generates" a
// key (CKA_LOCAL TRUE), from a password the application knows.
var randomKeyGen = map[ck.MechanismType]bool{ck.CKM_AES_KEY_GEN: true}

// neverRevealed reports whether a key's value was drawn at random in the token and never left it or was
// readable.
func neverRevealed(o *object) bool {
	m, _ := o.ulong(ck.CKA_KEY_GEN_MECHANISM)
	return o.bool(ck.CKA_LOCAL) && randomKeyGen[ck.MechanismType(m)] && o.bool(ck.CKA_ALWAYS_SENSITIVE) &&
		o.bool(ck.CKA_NEVER_EXTRACTABLE)
}

// maySensitiveWrap reports whether wrapping key w may wrap sensitive keys at all under policy (rule 1 and the
// policy), whatever the key and mechanism.
func maySensitiveWrap(w *object, policy WrapPolicy) bool {
	if !wrapOnly(w) {
		return false
	}
	return (w.bool(ck.CKA_TRUSTED) && w.bool(ck.CKA_SENSITIVE)) || (policy == ck.WrapPolicySpec && neverRevealed(w))
}

// sensitiveWrapAllowed applies the rules above to wrapping sensitive key o under w with mechanism m.
func sensitiveWrapAllowed(w, o *object, m ck.MechanismType, policy WrapPolicy) error {
	if !sensitiveWrapMechs[m] || !maySensitiveWrap(w, policy) {
		return ck.CKR_KEY_NOT_WRAPPABLE
	}
	trusted := w.bool(ck.CKA_TRUSTED)
	if (wrapOnly(o) || o.bool(ck.CKA_TRUSTED)) && !trusted {
		return ck.CKR_KEY_NOT_WRAPPABLE // rule 5
	}
	return nil
}

// trustedUse refuses any use but wrapping of a trusted secret key (rule 3), whatever its stored usages.
func trustedUse(o *object, usage ck.AttributeType) error {
	if o.class == ck.CKO_SECRET_KEY && o.bool(ck.CKA_TRUSTED) && usage != ck.CKA_WRAP {
		return ck.CKR_KEY_FUNCTION_NOT_PERMITTED
	}
	return nil
}

// applyWrapPolicy completes a key's CKA_WRAP_WITH_TRUSTED under the token's wrap policy: under trusted-only
// every sensitive key carries it TRUE, which is what the policy enforces. Absent, it is set accordingly; a
// sensitive key asked for with CKA_WRAP_WITH_TRUSTED FALSE there is CKR_TEMPLATE_INCONSISTENT, unless force
// (a copy of a key stored before the rule, or a key made sensitive later), which raises it to TRUE.
func applyWrapPolicy(attrs map[ck.AttributeType][]byte, policy WrapPolicy, force bool) error {
	k, _ := schemaKey(attrs)
	if k.class != ck.CKO_SECRET_KEY && k.class != ck.CKO_PRIVATE_KEY {
		return nil
	}
	s := attrs[ck.CKA_SENSITIVE]
	enforced := policy != ck.WrapPolicySpec && len(s) == 1 && s[0] == 1
	w, given := attrs[ck.CKA_WRAP_WITH_TRUSTED]
	switch {
	case !given:
		attrs[ck.CKA_WRAP_WITH_TRUSTED] = ck.BBool(enforced)
	case enforced && len(w) == 1 && w[0] == 0:
		if !force {
			return ck.CKR_TEMPLATE_INCONSISTENT
		}
		attrs[ck.CKA_WRAP_WITH_TRUSTED] = []byte{1}
	}
	return nil
}

// endKeyOperations ends every active operation that uses key o (its attributes changed). Called with e.mu
// held. An operation inside a call at this moment finds itself cancelled when the call returns.
func (e *Engine) endKeyOperations(o *object) {
	for _, s := range e.sessions {
		for k, op := range s.ops {
			if op.key == o {
				s.endOp(k)
			}
		}
	}
}

// requireSensitive makes an unwrap template ask for a sensitive key (rule 4): an explicit CKA_SENSITIVE
// FALSE is CKR_TEMPLATE_INCONSISTENT.
func requireSensitive(template []ck.Attribute) ([]ck.Attribute, error) {
	for _, at := range template {
		if at.Type == ck.CKA_SENSITIVE {
			if v := valueOf(at); len(v) != 1 || v[0] != 1 {
				return nil, ck.CKR_TEMPLATE_INCONSISTENT
			}
			return template, nil
		}
	}
	return append(append([]ck.Attribute{}, template...), ck.NewAttribute(ck.CKA_SENSITIVE, true)), nil
}
