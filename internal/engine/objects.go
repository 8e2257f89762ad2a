package engine

import (
	"bytes"
	"sort"

	"github.com/keyward/keyward/internal/mech"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// attrSize is sizeof(CK_ATTRIBUTE) on the LP64 ABI: the unit of an attribute array's length.
const attrSize = 24

// object looks up an object the session may see. Called with e.mu held.
func (s *session) object(h ck.ObjectHandle) (*object, error) {
	o, ok := s.app.e.objects[h]
	if !ok || !s.canSee(o) {
		return nil, ck.CKR_OBJECT_HANDLE_INVALID
	}
	return o, nil
}

// persist writes a token object durably, encrypted under the key its privacy calls for.
func (e *Engine) persist(o *object) error {
	if !o.onToken {
		return nil
	}
	key := o.tok.pubKey
	underTokenKey := o.private || o.sealed
	if underTokenKey {
		if o.tok.tokenKey == nil {
			return ck.CKR_USER_NOT_LOGGED_IN
		}
		key = o.tok.tokenKey.Key
	}
	pt := o.attrs.encode()
	blob := key.Seal(pt, vault.ObjectAD(o.tok.id, o.id, underTokenKey))
	clear(pt)
	if err := e.tokenQuota(o, uint64(len(blob))); err != nil {
		return err
	}
	if err := e.store.PutObject(store.Object{Token: o.tok.id, ID: o.id, Private: underTokenKey, Blob: blob}); err != nil {
		e.log.Error("writing an object failed", "token", o.tok.id, "object", o.id, "err", err)
		return storeError(err)
	}
	o.tok.recordStored(o, uint64(len(blob)))
	return nil
}

// checkTrust keeps the invariant behind Keyward's wrapping policy (wrappolicy.go): a trusted key never
// decrypts or unwraps, and a trusted secret key does nothing but wrap (no encrypt, sign, verify or derive
// either), so nothing a trusted key wrapped can be brought back in clear inside the token.
func checkTrust(attrs map[ck.AttributeType][]byte, err ck.RV) error {
	if len(attrs[ck.CKA_TRUSTED]) != 1 || attrs[ck.CKA_TRUSTED][0] != 1 {
		return nil
	}
	forbidden := []ck.AttributeType{ck.CKA_DECRYPT, ck.CKA_UNWRAP}
	if k, _ := schemaKey(attrs); k.class == ck.CKO_SECRET_KEY {
		forbidden = append(forbidden, wrapInverting...)
		if v := attrs[ck.CKA_SENSITIVE]; len(v) != 1 || v[0] != 1 {
			return err // a readable trusted key would open everything it wraps outside the token
		}
	}
	for _, t := range forbidden {
		if v := attrs[t]; len(v) == 1 && v[0] == 1 {
			return err
		}
	}
	return nil
}

// wipeSensitive zeroes the secret values of a map of attributes an object was built from. The map owns
// its values (buildAttrs copies each one), so nothing else sees them.
func wipeSensitive(attrs map[ck.AttributeType][]byte) {
	k, _ := schemaKey(attrs)
	schema := schemas[k]
	for t, v := range attrs {
		if spec, ok := schema[t]; ok && spec.Rules&mech.RuleSensitive != 0 {
			clear(v)
		}
	}
}

// insert adds a newly built object to the session's token, persisting a token object first.
func (e *Engine) insert(s *session, attrs map[ck.AttributeType][]byte) (ck.ObjectHandle, error) {
	if err := checkTrust(attrs, ck.CKR_TEMPLATE_INCONSISTENT); err != nil {
		return 0, err
	}
	if err := applyWrapPolicy(attrs, s.tok.rec.WrapPolicy, false); err != nil {
		return 0, err
	}
	o := &object{tok: s.tok, attrs: newAttrList(attrs), cache: &mech.Cache{}}
	wipeSensitive(attrs) // the object holds its own copy, wiped when it is dropped
	o.onToken = o.bool(ck.CKA_TOKEN)
	o.private = o.bool(ck.CKA_PRIVATE)
	if c, ok := o.ulong(ck.CKA_CLASS); ok {
		o.class = ck.ObjectClass(c)
	}
	if o.onToken && !s.rw {
		return 0, ck.CKR_SESSION_READ_ONLY
	}
	if o.private && !s.userLoggedIn() {
		return 0, ck.CKR_USER_NOT_LOGGED_IN
	}
	o.sealed = sealAtRest(o, s.state() == ck.CKS_RW_SO_FUNCTIONS)
	for {
		o.id = randomID()
		if _, used := s.tok.handles[o.id]; !used {
			break
		}
	}
	if !o.onToken {
		o.owner = s
		if err := e.sessionQuota(s.app, 0, o.size()); err != nil {
			return 0, err
		}
	}
	if err := e.persist(o); err != nil {
		return 0, err
	}
	if o.onToken {
		o.handle = s.tok.handleFor(e, o.id)
	} else {
		o.handle = e.newObjectHandle()
	}
	e.addObject(o)
	return o.handle, nil
}

func (a *app) CreateObject(h ck.SessionHandle, template []ck.Attribute) (ck.ObjectHandle, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return 0, err
	}
	defer unlock()
	attrs, err := buildAttrs(template, byCreate, nil, s.state() == ck.CKS_RW_SO_FUNCTIONS)
	if err != nil {
		return 0, err
	}
	oh, err := a.e.insert(s, attrs)
	if err == nil {
		a.e.auditObject("create object", a, oh, ck.CK_UNAVAILABLE_INFORMATION)
	}
	return oh, err
}

// checkChange decides whether attribute a of o may take the value v, in C_SetAttributeValue
// (copy=false) or C_CopyObject (copy=true).
func checkChange(o *object, a ck.Attribute, copying, so bool) error {
	if err := checkValue(a); err != nil {
		return err
	}
	spec, ok := o.schema()[a.Type]
	if !ok {
		return ck.CKR_ATTRIBUTE_TYPE_INVALID
	}
	v := valueOf(a)
	cur, has := o.attrs.get(a.Type)
	if has && bytes.Equal(cur, v) && copying {
		return nil
	}
	changeable := spec.Rules&mech.RuleModifiable != 0 || (copying && spec.Rules&mech.RuleCopyOnly != 0) ||
		(so && spec.Rules&mech.RuleSOOnlyTrue != 0)
	if !changeable {
		return ck.CKR_ATTRIBUTE_READ_ONLY
	}
	if has && len(cur) == 1 && len(v) == 1 {
		if spec.Rules&mech.RuleOnlyToTrue != 0 && cur[0] == 1 && v[0] == 0 {
			return ck.CKR_ATTRIBUTE_READ_ONLY
		}
		if spec.Rules&mech.RuleOnlyToFalse != 0 && cur[0] == 0 && v[0] == 1 {
			return ck.CKR_ATTRIBUTE_READ_ONLY
		}
		// A private object's copy is private too: a public copy would be usable, and readable at rest with
		// the device root key alone, without any login.
		if a.Type == ck.CKA_PRIVATE && cur[0] == 1 && v[0] == 0 {
			return ck.CKR_ATTRIBUTE_READ_ONLY
		}
	}
	if spec.Rules&mech.RuleSOOnlyTrue != 0 && len(v) == 1 && v[0] == 1 && !so {
		return ck.CKR_ATTRIBUTE_READ_ONLY
	}
	return nil
}

func (a *app) CopyObject(h ck.SessionHandle, src ck.ObjectHandle, template []ck.Attribute) (ck.ObjectHandle, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return 0, err
	}
	defer unlock()
	o, err := s.object(src)
	if err != nil {
		return 0, err
	}
	if !o.bool(ck.CKA_COPYABLE) {
		return 0, ck.CKR_ACTION_PROHIBITED
	}
	so := s.state() == ck.CKS_RW_SO_FUNCTIONS
	attrs := make(map[ck.AttributeType][]byte, o.attrs.len())
	for t, v := range o.attrs.all() {
		attrs[t] = append([]byte{}, v...) // insert wipes the secret ones
	}
	for _, at := range template {
		if err := checkChange(o, at, true, so); err != nil {
			return 0, err
		}
		attrs[at.Type] = valueOf(at)
	}
	attrs[ck.CKA_UNIQUE_ID] = newUniqueID()
	if err := checkTrust(attrs, ck.CKR_ATTRIBUTE_READ_ONLY); err != nil {
		return 0, err // a copy of a trusted key only wraps too
	}
	if err := wrapOnlyChange(o.attrs.attrMap(), attrs); err != nil {
		return 0, err
	}
	if err := applyWrapPolicy(attrs, s.tok.rec.WrapPolicy, true); err != nil {
		return 0, err
	}
	return a.e.insert(s, attrs)
}

func (a *app) DestroyObject(h ck.SessionHandle, oh ck.ObjectHandle) error {
	s, unlock, err := a.lock(h)
	if err != nil {
		return err
	}
	defer unlock()
	o, err := s.object(oh)
	if err != nil {
		return err
	}
	if o.onToken && !s.rw {
		return ck.CKR_SESSION_READ_ONLY
	}
	if !o.bool(ck.CKA_DESTROYABLE) {
		return ck.CKR_ACTION_PROHIBITED
	}
	a.e.audit("destroy object", a, o, ck.CK_UNAVAILABLE_INFORMATION)
	return a.e.destroy(o)
}

// destroy deletes an object, from the store first for a token object.
func (e *Engine) destroy(o *object) error {
	if o.onToken {
		if err := e.store.DeleteObject(o.tok.id, o.id); err != nil {
			e.log.Error("deleting an object failed", "token", o.tok.id, "object", o.id, "err", err)
			return storeError(err)
		}
		delete(o.tok.handles, o.id)
		o.tok.recordStored(o, 0)
	}
	e.removeObject(o)
	e.wipeAttrs(o)
	return nil
}

func (a *app) GetObjectSize(h ck.SessionHandle, oh ck.ObjectHandle) (uint64, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return 0, err
	}
	defer unlock()
	o, err := s.object(oh)
	if err != nil {
		return 0, err
	}
	return o.size(), nil
}

// answer fills one query attribute from a value under the length convention.
func answer(q ck.Attribute, v []byte) (ck.Attribute, ck.RV) {
	r := ck.Attribute{Type: q.Type}
	switch q.Kind {
	case ck.AttrLength:
		r.Kind, r.Len = ck.AttrLength, uint64(len(v))
		return r, ck.CKR_OK
	case ck.AttrBuffer:
		if q.Len < uint64(len(v)) {
			r.Kind, r.Len = ck.AttrLength, ck.CK_UNAVAILABLE_INFORMATION
			return r, ck.CKR_BUFFER_TOO_SMALL
		}
		r.Kind, r.Value = ck.AttrValue, v
		return r, ck.CKR_OK
	}
	r.Kind, r.Len = ck.AttrLength, ck.CK_UNAVAILABLE_INFORMATION
	return r, ck.CKR_ARGUMENTS_BAD
}

// answerArray fills a query for an attribute array (a stored template).
func answerArray(q ck.Attribute, stored []ck.Attribute) (ck.Attribute, ck.RV) {
	need := uint64(len(stored)) * attrSize
	switch q.Kind {
	case ck.AttrLength:
		return ck.Attribute{Type: q.Type, Kind: ck.AttrLength, Len: need}, ck.CKR_OK
	case ck.AttrArray:
		if len(q.Array) < len(stored) {
			return ck.Attribute{Type: q.Type, Kind: ck.AttrLength, Len: ck.CK_UNAVAILABLE_INFORMATION}, ck.CKR_BUFFER_TOO_SMALL
		}
		r := ck.Attribute{Type: q.Type, Kind: ck.AttrArray, Array: make([]ck.Attribute, len(stored))}
		rv := ck.CKR_OK
		for i, st := range stored {
			sub, srv := answer(ck.Attribute{Type: st.Type, Kind: q.Array[i].Kind, Len: q.Array[i].Len}, st.Value)
			r.Array[i] = sub
			if srv != ck.CKR_OK {
				rv = srv
			}
		}
		return r, rv
	}
	return ck.Attribute{Type: q.Type, Kind: ck.AttrLength, Len: ck.CK_UNAVAILABLE_INFORMATION}, ck.CKR_BUFFER_TOO_SMALL
}

func (a *app) GetAttributeValue(h ck.SessionHandle, oh ck.ObjectHandle, query []ck.Attribute) ([]ck.Attribute, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return nil, err
	}
	defer unlock()
	o, err := s.object(oh)
	if err != nil {
		return nil, err
	}
	out := make([]ck.Attribute, len(query))
	// PKCS#11: every attribute is processed; if several errors apply, any one of their codes may be
	// returned. Keyward reports sensitivity first, then unknown types, then short buffers.
	var sensitive, invalid, short bool
	for i, q := range query {
		peek := q.Kind == ck.AttrPeek
		if peek {
			q.Kind = ck.AttrLength // answered as a length query, with the value when it is small (below)
		}
		v, has := o.attrs.get(q.Type)
		switch {
		case !has:
			out[i] = ck.Attribute{Type: q.Type, Kind: ck.AttrLength, Len: ck.CK_UNAVAILABLE_INFORMATION}
			invalid = true
			continue
		case o.isSensitive(q.Type):
			out[i] = ck.Attribute{Type: q.Type, Kind: ck.AttrLength, Len: ck.CK_UNAVAILABLE_INFORMATION}
			sensitive = true
			continue
		}
		var rv ck.RV
		if attrKinds[q.Type] == mech.KindTemplate {
			stored, derr := decodeTemplate(v)
			if derr != nil {
				return nil, ck.CKR_GENERAL_ERROR
			}
			out[i], rv = answerArray(q, stored)
		} else {
			out[i], rv = answer(q, v)
			if peek && rv == ck.CKR_OK && len(v) <= ck.MaxPeekAttribute {
				out[i] = ck.Attribute{Type: q.Type, Kind: ck.AttrValue, Value: v}
			}
		}
		switch rv {
		case ck.CKR_OK:
		case ck.CKR_BUFFER_TOO_SMALL:
			short = true
		default:
			return nil, rv
		}
	}
	switch {
	case sensitive:
		return out, ck.CKR_ATTRIBUTE_SENSITIVE
	case invalid:
		return out, ck.CKR_ATTRIBUTE_TYPE_INVALID
	case short:
		return out, ck.CKR_BUFFER_TOO_SMALL
	}
	return out, nil
}

func (a *app) SetAttributeValue(h ck.SessionHandle, oh ck.ObjectHandle, template []ck.Attribute) error {
	s, unlock, err := a.lock(h)
	if err != nil {
		return err
	}
	defer unlock()
	o, err := s.object(oh)
	if err != nil {
		return err
	}
	if o.onToken && !s.rw {
		return ck.CKR_SESSION_READ_ONLY
	}
	if !o.bool(ck.CKA_MODIFIABLE) {
		return ck.CKR_ACTION_PROHIBITED
	}
	so := s.state() == ck.CKS_RW_SO_FUNCTIONS
	for _, at := range template {
		if err := checkChange(o, at, false, so); err != nil {
			return err
		}
	}
	old := o.attrs
	next := old.attrMap()
	for _, at := range template {
		next[at.Type] = valueOf(at)
	}
	if err := checkTrust(next, ck.CKR_ATTRIBUTE_READ_ONLY); err != nil {
		return err
	}
	if err := wrapOnlyChange(old.attrMap(), next); err != nil {
		return err
	}
	if err := applyWrapPolicy(next, o.tok.rec.WrapPolicy, true); err != nil {
		return err
	}
	e := a.e
	if o.owner != nil {
		if err := e.sessionQuota(s.app, o.size(), mapSize(next)); err != nil {
			return err
		}
	}
	e.endKeyOperations(o) // an operation begun under the old usages does not outlive them
	e.removeObject(o)
	o.setAttrs(newAttrList(next))
	if err := e.persist(o); err != nil {
		o.setAttrs(old)
		e.addObject(o)
		return err
	}
	o.cache = &mech.Cache{} // operations started later see the new values
	e.addObject(o)
	return nil
}

func (a *app) FindObjectsInit(h ck.SessionHandle, template []ck.Attribute) error {
	s, unlock, err := a.lock(h)
	if err != nil {
		return err
	}
	defer unlock()
	if s.find != nil {
		return ck.CKR_OPERATION_ACTIVE
	}
	for _, at := range template {
		if at.Kind != ck.AttrValue && at.Kind != ck.AttrArray {
			return ck.CKR_ARGUMENTS_BAD
		}
	}
	var found []ck.ObjectHandle
	for o := range s.tok.index.candidates(template) {
		if s.canSee(o) && matches(o, template) {
			found = append(found, o.handle)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i] < found[j] })
	s.find = &findState{handles: found}
	return nil
}

// matches reports whether an object has every attribute of a template with the same value. Sensitive
// attributes never match, so a search cannot test a secret value.
func matches(o *object, template []ck.Attribute) bool {
	for _, at := range template {
		v, ok := o.attrs.get(at.Type)
		if !ok || o.isSensitive(at.Type) || !bytes.Equal(v, valueOf(at)) {
			return false
		}
	}
	return true
}

func (a *app) FindObjects(h ck.SessionHandle, max uint64) ([]ck.ObjectHandle, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if s.find == nil {
		return nil, ck.CKR_OPERATION_NOT_INITIALIZED
	}
	var out []ck.ObjectHandle
	for len(s.find.handles) > 0 && uint64(len(out)) < max {
		oh := s.find.handles[0]
		s.find.handles = s.find.handles[1:]
		if o, ok := a.e.objects[oh]; ok && s.canSee(o) {
			out = append(out, oh)
		}
	}
	if out == nil {
		out = []ck.ObjectHandle{}
	}
	return out, nil
}

func (a *app) FindObjectsFinal(h ck.SessionHandle) error {
	s, unlock, err := a.lock(h)
	if err != nil {
		return err
	}
	defer unlock()
	if s.find == nil {
		return ck.CKR_OPERATION_NOT_INITIALIZED
	}
	s.find = nil
	return nil
}
