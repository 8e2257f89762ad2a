package engine

import (
	"bytes"

	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Key management: generation, wrapping, unwrapping, derivation and encapsulation. The mechanism computes key
// values; the engine decides every attribute around them, as the specification's rules say:
//
//   - generated keys: CKA_LOCAL true, CKA_KEY_GEN_MECHANISM the mechanism, CKA_ALWAYS_SENSITIVE equal to
//     CKA_SENSITIVE, CKA_NEVER_EXTRACTABLE equal to not CKA_EXTRACTABLE;
//   - unwrapped keys came from outside: CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false;
//   - derived keys: CKA_LOCAL false; CKA_ALWAYS_SENSITIVE only if the base key was always sensitive and the
//     new key is sensitive; CKA_NEVER_EXTRACTABLE only if the base key was never extractable and the new key
//     is not extractable.
//
// Keyward's wrapping policy (wrappolicy.go) closes the known ways to get a sensitive key out in clear (the
// "Tookan" attacks and the cross-mode ones): a sensitive key can be wrapped only by a wrap-only key, with a
// key-wrap mechanism, and under the default policy only by one the SO marked CKA_TRUSTED.

// templateMap checks a template's values and returns it as a map (duplicates must agree).
func templateMap(t []ck.Attribute) (mech.Attrs, error) {
	m := make(mech.Attrs, len(t))
	for _, a := range t {
		if err := checkValue(a); err != nil {
			return nil, err
		}
		v := valueOf(a)
		if old, dup := m[a.Type]; dup && !bytes.Equal(old, v) {
			return nil, ck.CKR_TEMPLATE_INCONSISTENT
		}
		m[a.Type] = v
	}
	return m, nil
}

// requireClass checks a template's CKA_CLASS and CKA_KEY_TYPE against what a mechanism makes.
func requireClass(t mech.Attrs, class ck.ObjectClass, kt ck.KeyType) error {
	if v, ok := t[ck.CKA_CLASS]; ok && !bytes.Equal(v, ck.ULong(uint64(class))) {
		return ck.CKR_TEMPLATE_INCONSISTENT
	}
	if v, ok := t[ck.CKA_KEY_TYPE]; ok && !bytes.Equal(v, ck.ULong(uint64(kt))) {
		return ck.CKR_TEMPLATE_INCONSISTENT
	}
	return nil
}

// keySpec looks up a mechanism for a key-management function and decodes its parameter.
func keySpec(m *ck.Mechanism, has func(*mech.Spec) bool) (*mech.Spec, mech.Param, error) {
	if m == nil {
		return nil, mech.Param{}, ck.CKR_ARGUMENTS_BAD
	}
	spec := mech.Lookup(m.Type)
	if spec == nil || !has(spec) {
		return nil, mech.Param{}, ck.CKR_MECHANISM_INVALID
	}
	p, err := mech.NewParam(m)
	return spec, p, err
}

// genExtras are the attributes the engine sets on a generated key.
func genExtras(class ck.ObjectClass, kt ck.KeyType, m ck.MechanismType, fromMech mech.Attrs) map[ck.AttributeType][]byte {
	x := map[ck.AttributeType][]byte{}
	for t, v := range fromMech {
		x[t] = v
	}
	x[ck.CKA_CLASS] = ck.ULong(uint64(class))
	x[ck.CKA_KEY_TYPE] = ck.ULong(uint64(kt))
	x[ck.CKA_LOCAL] = []byte{1}
	x[ck.CKA_KEY_GEN_MECHANISM] = ck.ULong(uint64(m))
	return x
}

// setSensitivityHistory fills CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE of a key made in the token.
func setSensitivityHistory(attrs map[ck.AttributeType][]byte, alwaysSensitive, neverExtractable bool) {
	if _, ok := attrs[ck.CKA_SENSITIVE]; !ok {
		return // public keys
	}
	s := ck.MapBBool(attrs, ck.CKA_SENSITIVE)
	x := ck.MapBBool(attrs, ck.CKA_EXTRACTABLE)
	attrs[ck.CKA_ALWAYS_SENSITIVE] = ck.BBool(alwaysSensitive && s)
	attrs[ck.CKA_NEVER_EXTRACTABLE] = ck.BBool(neverExtractable && !x)
}

// GenerateKey (C_GenerateKey) in the three steps of the locking rule (locking.go). Check: the mechanism, the
// template's class and type, and that the session may create the key. Compute, without the lock: the value
// (CKM_PKCS5_PBKD2 runs its iterations here). Commit (insertMade): the session still exists and may still
// create the key (a logout or a session closed meanwhile), and the quotas.
func (a *app) GenerateKey(h ck.SessionHandle, m *ck.Mechanism, template []ck.Attribute) (ck.ObjectHandle, error) {
	var spec *mech.Spec
	var p mech.Param
	var t mech.Attrs
	var kt ck.KeyType
	var so bool
	check := func(s *session) error {
		var err error
		if spec, p, err = keySpec(m, func(s *mech.Spec) bool { return s.GenerateKey != nil }); err != nil {
			return err
		}
		if t, err = templateMap(template); err != nil {
			return err
		}
		kt = spec.GenKeyType
		if spec.KeyTypeFromTemplate {
			v, ok := ck.MapULong(t, ck.CKA_KEY_TYPE)
			if !ok {
				return ck.CKR_TEMPLATE_INCOMPLETE
			}
			kt = ck.KeyType(v)
		}
		if err := requireClass(t, ck.CKO_SECRET_KEY, kt); err != nil {
			return err
		}
		so = a.isSO(s)
		return canCreate(s, t, ck.CKO_SECRET_KEY)
	}
	if err := a.withSession(h, check); err != nil {
		return 0, err
	}
	a.e.checked("generate key")
	values, err := spec.GenerateKey(p, t)
	if err != nil {
		return 0, mechError(err)
	}
	defer wipeAttrs(values)
	attrs, err := buildAttrs(template, byGenerate, genExtras(ck.CKO_SECRET_KEY, kt, m.Type, values), so)
	if err != nil {
		return 0, err
	}
	setSensitivityHistory(attrs, true, true)
	return a.insertMade(h, attrs, "generate key", m.Type, func(s *session) error {
		return a.stillMayCreate(s, so, t, ck.CKO_SECRET_KEY)
	})
}

// GenerateKeyPair (C_GenerateKeyPair) in the three steps of the locking rule (locking.go). Check: the
// mechanism and both templates (class, type, whether the session may create them). Compute, without the lock:
// the key pair (RSA above all is slow: other applications go on meanwhile). Commit: the session still exists
// and may still create both keys; both are added or neither.
func (a *app) GenerateKeyPair(h ck.SessionHandle, m *ck.Mechanism, pubT, privT []ck.Attribute) (ck.ObjectHandle, ck.ObjectHandle, error) {
	var spec *mech.Spec
	var p mech.Param
	var pt, vt mech.Attrs
	var so bool
	check := func(s *session) error {
		var err error
		if spec, p, err = keySpec(m, func(s *mech.Spec) bool { return s.GenerateKeyPair != nil }); err != nil {
			return err
		}
		if pt, err = checkTemplate(s, pubT, ck.CKO_PUBLIC_KEY, spec.GenKeyType); err != nil {
			return err
		}
		if vt, err = checkTemplate(s, privT, ck.CKO_PRIVATE_KEY, spec.GenKeyType); err != nil {
			return err
		}
		so = a.isSO(s)
		return nil
	}
	if err := a.withSession(h, check); err != nil {
		return 0, 0, err
	}
	a.e.checked("generate key pair")
	pubV, privV, err := spec.GenerateKeyPair(p, pt, vt)
	if err != nil {
		return 0, 0, mechError(err)
	}
	defer wipeAttrs(privV)
	pubAttrs, err := buildAttrs(pubT, byGenerate, genExtras(ck.CKO_PUBLIC_KEY, spec.GenKeyType, m.Type, pubV), so)
	if err != nil {
		return 0, 0, err
	}
	privAttrs, err := buildAttrs(privT, byGenerate, genExtras(ck.CKO_PRIVATE_KEY, spec.GenKeyType, m.Type, privV), so)
	if err != nil {
		return 0, 0, err
	}
	setSensitivityHistory(privAttrs, true, true)
	var hpub, hpriv ck.ObjectHandle
	err = a.withSession(h, func(s *session) error {
		if err := a.stillMayCreate(s, so, pt, ck.CKO_PUBLIC_KEY); err != nil {
			return err
		}
		if err := a.stillMayCreate(s, so, vt, ck.CKO_PRIVATE_KEY); err != nil {
			return err
		}
		e := a.e
		var err error
		if hpub, err = e.insert(s, pubAttrs); err != nil {
			return err
		}
		if hpriv, err = e.insert(s, privAttrs); err != nil {
			if o := e.objects[hpub]; o != nil {
				e.destroy(o)
			}
			return err
		}
		e.auditObject("generate key pair", a, hpriv, m.Type)
		return nil
	})
	if err != nil {
		wipeSensitive(privAttrs)
		return 0, 0, err
	}
	return hpub, hpriv, nil
}

// checkTemplate parses a template for a key of class and type kt that a mechanism makes, and checks, before
// any expensive work, that it names no other class or type and that the session may create such an object.
// Called with e.mu held.
func checkTemplate(s *session, template []ck.Attribute, class ck.ObjectClass, kt ck.KeyType) (mech.Attrs, error) {
	t, err := templateMap(template)
	if err != nil {
		return nil, err
	}
	if err := requireClass(t, class, kt); err != nil {
		return nil, err
	}
	if err := canCreate(s, t, class); err != nil {
		return nil, err
	}
	return t, nil
}

// canCreate checks, before any expensive work, that the session may create an object of this class with
// this template's CKA_TOKEN and CKA_PRIVATE.
func canCreate(s *session, t mech.Attrs, class ck.ObjectClass) error {
	onToken := ck.MapBBool(t, ck.CKA_TOKEN)
	private := defaultPrivate(class)
	if v, ok := t[ck.CKA_PRIVATE]; ok {
		private = ck.DecodeBBool(v)
	}
	if onToken && !s.rw {
		return ck.CKR_SESSION_READ_ONLY
	}
	if private && !s.userLoggedIn() {
		return ck.CKR_USER_NOT_LOGGED_IN
	}
	return nil
}

// stillMayCreate is canCreate again at a commit, for a key whose template was checked, and its attributes built,
// for the session's state then (so: whether the SO was logged in): a login that ended or changed meanwhile
// answers CKR_USER_NOT_LOGGED_IN. Called with e.mu held.
func (a *app) stillMayCreate(s *session, so bool, t mech.Attrs, class ck.ObjectClass) error {
	if a.isSO(s) != so {
		return ck.CKR_USER_NOT_LOGGED_IN
	}
	return canCreate(s, t, class)
}

func (a *app) isSO(s *session) bool { return s.state() == ck.CKS_RW_SO_FUNCTIONS }

func wipeAttrs(m mech.Attrs) {
	for _, v := range m {
		clear(v)
	}
}

// matchesTemplate reports whether an object carries every attribute of a stored template (CKA_WRAP_TEMPLATE)
// with the same value.
func matchesTemplate(o *object, stored []byte) bool {
	if len(stored) == 0 {
		return true
	}
	t, err := decodeTemplate(stored)
	if err != nil {
		return false
	}
	for _, at := range t {
		if !bytes.Equal(o.attrs.value(at.Type), at.Value) {
			return false
		}
	}
	return true
}
