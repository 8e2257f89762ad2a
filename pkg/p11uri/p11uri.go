// Package p11uri parses, prints and matches PKCS #11 URIs as defined by
// RFC 7512 ("The PKCS #11 URI Scheme").
//
// A PKCS #11 URI names a library, a slot, a token or an object by the
// attributes PKCS #11 itself reports for them:
//
//	pkcs11:token=My%20token;object=signing%20key;type=private?pin-source=file:/etc/pin
//
// The path component (after "pkcs11:", attributes separated by ';') says what
// is selected; the query component (after '?', attributes separated by '&')
// says how to get at it: where the PIN comes from and which module to load.
//
// [Parse] is strict: it accepts exactly the RFC 7512 grammar. [ParseLenient]
// also accepts the sloppy forms other tools print and read, chiefly a literal
// space instead of %20. Both percent-decode values; an invalid escape is always
// an error.
//
// [URI.String] prints the canonical form and never prints pin-value, so that a
// URI can be logged; [URI.StringWithPIN] prints everything.
//
// The Matches methods apply the matching rules of RFC 7512 section 2.5 to the
// token, slot, library and object descriptions a PKCS #11 module reports.
package p11uri

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// ObjectType is the value of the "type" path attribute: the class of the
// object named (CKA_CLASS).
type ObjectType string

// The object types RFC 7512 defines. The zero ObjectType means the URI does
// not restrict the type.
const (
	TypePublic    ObjectType = "public"     // CKO_PUBLIC_KEY
	TypePrivate   ObjectType = "private"    // CKO_PRIVATE_KEY
	TypeCert      ObjectType = "cert"       // CKO_CERTIFICATE
	TypeSecretKey ObjectType = "secret-key" // CKO_SECRET_KEY
	TypeData      ObjectType = "data"       // CKO_DATA
)

// Class returns the PKCS #11 object class (CKO_*) of t, and false if t is not
// one of the five types RFC 7512 defines.
func (t ObjectType) Class() (uint64, bool) {
	switch t {
	case TypeData:
		return 0, true // CKO_DATA
	case TypeCert:
		return 1, true // CKO_CERTIFICATE
	case TypePublic:
		return 2, true // CKO_PUBLIC_KEY
	case TypePrivate:
		return 3, true // CKO_PRIVATE_KEY
	case TypeSecretKey:
		return 4, true // CKO_SECRET_KEY
	}
	return 0, false
}

// Version is a PKCS #11 CK_VERSION, as in the "library-version" attribute.
// "library-version=3" is version 3.0.
type Version struct {
	Major, Minor uint8
}

// String returns "M.N".
func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Attr is a vendor-specific attribute: a name that RFC 7512 does not define,
// and its percent-decoded value.
type Attr struct {
	Name, Value string
}

// URI is a parsed PKCS #11 URI.
//
// A nil pointer (or nil ID, zero Type) means the attribute is absent and so
// matches anything; a pointer to "" means the attribute is present with an
// empty value, which matches only an empty value. String values are
// percent-decoded and may hold any bytes.
type URI struct {
	// Path attributes: what the URI selects.
	Token               *string    // token: CK_TOKEN_INFO label
	Manufacturer        *string    // manufacturer: CK_TOKEN_INFO manufacturerID
	Serial              *string    // serial: CK_TOKEN_INFO serialNumber
	Model               *string    // model: CK_TOKEN_INFO model
	LibraryManufacturer *string    // library-manufacturer: CK_INFO manufacturerID
	LibraryVersion      *Version   // library-version: CK_INFO libraryVersion
	LibraryDescription  *string    // library-description: CK_INFO libraryDescription
	Object              *string    // object: CKA_LABEL
	Type                ObjectType // type: CKA_CLASS; "" if absent
	ID                  []byte     // id: CKA_ID; nil if absent, empty if "id="
	SlotDescription     *string    // slot-description: CK_SLOT_INFO slotDescription
	SlotManufacturer    *string    // slot-manufacturer: CK_SLOT_INFO manufacturerID
	SlotID              *uint64    // slot-id: CK_SLOT_ID
	PathVendor          []Attr     // vendor-specific path attributes, in order, names unique

	// Query attributes: how to get at it.
	PinSource   *string // pin-source: where to read the PIN from
	PinValue    *string // pin-value: the PIN itself; never printed by String
	ModuleName  *string // module-name: PKCS #11 module name, e.g. "mypkcs11"
	ModulePath  *string // module-path: absolute path of the module (or its directory)
	QueryVendor []Attr  // vendor-specific query attributes, in order; names may repeat
}

// Error is the error Parse and ParseLenient return. It never quotes
// attribute values, so that it cannot leak a PIN into a log.
type Error struct {
	Offset int    // byte offset in the input where the problem was found
	Attr   string // attribute concerned, "" if none
	Msg    string // what is wrong
}

// Error returns the message with its offset and attribute.
func (e *Error) Error() string {
	if e.Attr != "" {
		return fmt.Sprintf("pkcs11 URI: offset %d, attribute %q: %s", e.Offset, e.Attr, e.Msg)
	}
	return fmt.Sprintf("pkcs11 URI: offset %d: %s", e.Offset, e.Msg)
}

const scheme = "pkcs11:"

// Names of the attributes RFC 7512 defines, path attributes in the order of
// the RFC's grammar (pk11-pattr), which is the order String prints them in.
var (
	pathNames  = []string{"token", "manufacturer", "serial", "model", "library-manufacturer", "library-version", "library-description", "object", "type", "id", "slot-description", "slot-manufacturer", "slot-id"}
	queryNames = []string{"pin-source", "pin-value", "module-name", "module-path"}
)

// Parse parses s as a PKCS #11 URI, strictly following RFC 7512:
//
//   - the scheme "pkcs11:" is matched case-insensitively, as are the names of
//     the attributes RFC 7512 defines and the values of "type" (ABNF literals);
//     String prints them in lower case;
//   - a value may hold only the characters the grammar allows in its component
//     (in a path value ';', '/', '?', '#' and space must be percent-encoded; in a
//     query value '&', ';', '#' and space must); '%' must start a valid escape;
//   - "type" must be public, private, cert, secret-key or data; "slot-id" a
//     decimal number; "library-version" "M" or "M.N" with M and N at most 255;
//     these three are plain ABNF literals and may not be percent-encoded;
//   - no attribute, defined or vendor-specific, may appear twice in the path;
//     no defined query attribute may appear twice; vendor-specific query
//     attributes may repeat (RFC 7512 leaves them to the consumer, and keeps
//     them in order);
//   - a defined path attribute in the query or a defined query attribute in
//     the path is an error (a vendor attribute must not use a defined name);
//   - pin-source and pin-value together are refused, as RFC 7512 section 2.4
//     recommends;
//   - any other attribute name (letters, digits, '-' and '_') is a
//     vendor-specific attribute and is kept in PathVendor or QueryVendor.
func Parse(s string) (*URI, error) { return parse(s, false) }

// ParseLenient parses s like Parse but also accepts what other PKCS #11 tools
// commonly write although RFC 7512 forbids it:
//
//   - characters that should have been percent-encoded but cannot be taken for
//     a delimiter: space, '/' and '|' in a path value, '#', '"', '<', '>', '\',
//     '^', '`', '{', '}' and bytes of 0x80 and above (UTF-8) anywhere;
//   - pin-value and pin-source in the path component, as early drafts of the
//     RFC had them; they are read as query attributes.
//
// Delimiters are never guessed at: ';' in a query value, '&' in a query value
// and control characters are errors, as are invalid percent escapes.
// The seed form "pkcs11:slot-id=0;object=device id?pin-value=1234" parses
// with ParseLenient and not with Parse.
func ParseLenient(s string) (*URI, error) { return parse(s, true) }

type parser struct {
	u        *URI
	lenient  bool
	seen     map[string]bool // defined attributes (path and query) and path vendor names
	pinOff   int             // offset of pin-value/pin-source, for the conflict error
	pinFound bool
}

func parse(s string, lenient bool) (*URI, error) {
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return nil, &Error{Offset: 0, Msg: `not a PKCS #11 URI: it must begin with "pkcs11:"`}
	}
	p := &parser{u: &URI{}, lenient: lenient, seen: map[string]bool{}}
	rest := s[len(scheme):]
	path, query, hasQuery := strings.Cut(rest, "?")
	if err := p.component(path, len(scheme), ';', false); err != nil {
		return nil, err
	}
	if hasQuery {
		if err := p.component(query, len(scheme)+len(path)+1, '&', true); err != nil {
			return nil, err
		}
	}
	if p.u.PinSource != nil && p.u.PinValue != nil {
		return nil, &Error{Offset: p.pinOff, Msg: "pin-source and pin-value must not both be given (RFC 7512 section 2.4)"}
	}
	return p.u, nil
}

// component parses the attributes of the path (inQuery false) or query
// component c, which starts at offset off in the input.
func (p *parser) component(c string, off int, sep byte, inQuery bool) error {
	if c == "" {
		return nil
	}
	where := "path"
	if inQuery {
		where = "query"
	}
	for {
		attr, more, found := strings.Cut(c, string(sep))
		if attr == "" {
			return &Error{Offset: off, Msg: fmt.Sprintf("empty attribute in the %s component (stray %q)", where, sep)}
		}
		if err := p.attribute(attr, off, inQuery); err != nil {
			return err
		}
		if !found {
			return nil
		}
		off += len(attr) + 1
		c = more
	}
}

func (p *parser) attribute(a string, off int, inQuery bool) error {
	name, raw, ok := strings.Cut(a, "=")
	if !ok {
		return &Error{Offset: off, Msg: "attribute has no '=': expected name=value"}
	}
	if name == "" {
		return &Error{Offset: off, Msg: "attribute name is empty"}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '-' && c != '_' {
			return &Error{Offset: off + i, Msg: fmt.Sprintf("character %s not allowed in an attribute name (letters, digits, '-', '_')", quoteByte(c))}
		}
	}
	valOff := off + len(name) + 1
	std := canonicalName(name)
	isQueryName := std != "" && contains(queryNames, std)
	if std != "" && isQueryName != inQuery {
		if !inQuery && p.lenient && (std == "pin-value" || std == "pin-source") {
			// Early drafts of RFC 7512 put the PIN in the path; the value
			// is checked as a path value and stored as the query attribute.
		} else if inQuery {
			return &Error{Offset: off, Attr: std, Msg: "path attribute not allowed in the query component (put it before '?')"}
		} else {
			return &Error{Offset: off, Attr: std, Msg: "query attribute not allowed in the path component (put it after '?')"}
		}
	}
	if std == "" {
		// Vendor-specific attribute.
		val, err := p.decode(raw, valOff, name, inQuery)
		if err != nil {
			return err
		}
		if inQuery {
			p.u.QueryVendor = append(p.u.QueryVendor, Attr{name, val})
			return nil
		}
		if p.seen["v:"+name] {
			return &Error{Offset: off, Attr: name, Msg: "attribute given twice in the path component"}
		}
		p.seen["v:"+name] = true
		p.u.PathVendor = append(p.u.PathVendor, Attr{name, val})
		return nil
	}
	if p.seen[std] {
		where := "path"
		if isQueryName {
			where = "query"
		}
		return &Error{Offset: off, Attr: std, Msg: "attribute given twice in the " + where + " component"}
	}
	p.seen[std] = true
	if std == "type" || std == "slot-id" || std == "library-version" {
		if !p.lenient && strings.IndexByte(raw, '%') >= 0 {
			return &Error{Offset: valOff + strings.IndexByte(raw, '%'), Attr: std, Msg: "value must not be percent-encoded"}
		}
	}
	val, err := p.decode(raw, valOff, std, inQuery)
	if err != nil {
		return err
	}
	u := p.u
	str := func(dst **string) { v := val; *dst = &v }
	switch std {
	case "token":
		str(&u.Token)
	case "manufacturer":
		str(&u.Manufacturer)
	case "serial":
		str(&u.Serial)
	case "model":
		str(&u.Model)
	case "library-manufacturer":
		str(&u.LibraryManufacturer)
	case "library-description":
		str(&u.LibraryDescription)
	case "object":
		str(&u.Object)
	case "slot-description":
		str(&u.SlotDescription)
	case "slot-manufacturer":
		str(&u.SlotManufacturer)
	case "id":
		u.ID = []byte(val)
	case "type":
		t := ObjectType(strings.ToLower(val))
		if _, ok := t.Class(); !ok || !isASCII(val) {
			return &Error{Offset: valOff, Attr: std, Msg: "unknown object type: must be public, private, cert, secret-key or data"}
		}
		u.Type = t
	case "slot-id":
		if !allDigits(val) {
			return &Error{Offset: valOff, Attr: std, Msg: "must be a decimal number"}
		}
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return &Error{Offset: valOff, Attr: std, Msg: "number out of range for a CK_SLOT_ID"}
		}
		u.SlotID = &n
	case "library-version":
		v, msg := parseVersion(val)
		if msg != "" {
			return &Error{Offset: valOff, Attr: std, Msg: msg}
		}
		u.LibraryVersion = &v
	case "pin-source", "pin-value":
		if !p.pinFound {
			p.pinOff, p.pinFound = off, true
		}
		if std == "pin-source" {
			str(&u.PinSource)
		} else {
			str(&u.PinValue)
		}
	case "module-name":
		str(&u.ModuleName)
	case "module-path":
		str(&u.ModulePath)
	}
	return nil
}

// decode percent-decodes the value raw of attribute name, which starts at
// offset off, checking every character against its component's grammar.
func (p *parser) decode(raw string, off int, name string, inQuery bool) (string, error) {
	if strings.IndexByte(raw, '%') < 0 {
		for i := 0; i < len(raw); i++ {
			if err := p.checkChar(raw[i], off+i, name, inQuery); err != nil {
				return "", err
			}
		}
		return raw, nil
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return "", &Error{Offset: off + i, Attr: name, Msg: "truncated percent-encoding: '%' must be followed by two hex digits"}
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return "", &Error{Offset: off + i, Attr: name, Msg: "invalid percent-encoding: '%' must be followed by two hex digits"}
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
			continue
		}
		if err := p.checkChar(c, off+i, name, inQuery); err != nil {
			return "", err
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func (p *parser) checkChar(c byte, off int, name string, inQuery bool) error {
	if inQuery && queryChar(c) || !inQuery && pathChar(c) {
		return nil
	}
	if p.lenient && lenientChar(c, inQuery) {
		return nil
	}
	where := "path"
	if inQuery {
		where = "query"
	}
	ch := quoteByte(c)
	if name == "pin-value" {
		ch = "(not shown)" // do not leak a PIN character into logs
	}
	return &Error{Offset: off, Attr: name, Msg: fmt.Sprintf("character %s must be percent-encoded in a %s value", ch, where)}
}

// unreserved reports whether c is an RFC 3986 unreserved character.
func unreserved(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

// resAvail reports whether c is in pk11-res-avail.
func resAvail(c byte) bool {
	return strings.IndexByte(":[]@!$'()*+,=", c) >= 0
}

// pathChar reports whether c may appear unencoded in a path value (pk11-pchar).
func pathChar(c byte) bool { return unreserved(c) || resAvail(c) || c == '&' }

// queryChar reports whether c may appear unencoded in a query value (pk11-qchar).
func queryChar(c byte) bool { return unreserved(c) || resAvail(c) || c == '/' || c == '?' || c == '|' }

// lenientChar reports whether ParseLenient accepts c unencoded although the
// grammar does not.
func lenientChar(c byte, inQuery bool) bool {
	switch {
	case c >= 0x80:
		return true
	case strings.IndexByte(" #\"<>\\^`{}", c) >= 0:
		return true
	case !inQuery && (c == '/' || c == '|'):
		return true
	}
	return false
}

func parseVersion(v string) (Version, string) {
	const msg = `must be "M" or "M.N" (decimal major and minor version)`
	maj, min, dot := strings.Cut(v, ".")
	if !allDigits(maj) || dot && !allDigits(min) {
		return Version{}, msg
	}
	m, err := strconv.ParseUint(maj, 10, 8)
	if err != nil {
		return Version{}, "major version out of range (0-255)"
	}
	var n uint64
	if dot {
		if n, err = strconv.ParseUint(min, 10, 8); err != nil {
			return Version{}, "minor version out of range (0-255)"
		}
	}
	return Version{uint8(m), uint8(n)}, ""
}

func canonicalName(name string) string {
	for _, n := range pathNames {
		if strings.EqualFold(name, n) {
			return n
		}
	}
	for _, n := range queryNames {
		if strings.EqualFold(name, n) {
			return n
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("0x%02X", c)
}

// String returns u in canonical form, without pin-value: "pkcs11:", the path
// attributes in the order of RFC 7512's grammar (token, manufacturer, serial,
// model, library-manufacturer, library-version, library-description, object,
// type, id, slot-description, slot-manufacturer, slot-id), then the
// vendor-specific path attributes in order, then '?' and the query attributes
// (pin-source, module-name, module-path, then vendor-specific ones) if there
// are any. Values are percent-encoded (upper-case hex) only where the grammar
// requires it, except id, every byte of which is percent-encoded.
//
// String never prints the PIN, so that URIs can be logged; use StringWithPIN
// where the PIN must be kept. A URI built by hand with an invalid Type or
// vendor attribute name prints to a string Parse rejects.
func (u *URI) String() string { return u.format(false) }

// StringWithPIN returns u in canonical form like String, but with the
// pin-value attribute (after pin-source). Do not log its result.
func (u *URI) StringWithPIN() string { return u.format(true) }

func (u *URI) format(withPIN bool) string {
	var b strings.Builder
	b.WriteString(scheme)
	n := 0
	attr := func(name string) {
		if n > 0 {
			b.WriteByte(';')
		}
		n++
		b.WriteString(name)
		b.WriteByte('=')
	}
	str := func(name string, v *string) {
		if v != nil {
			attr(name)
			escape(&b, *v, pathChar)
		}
	}
	str("token", u.Token)
	str("manufacturer", u.Manufacturer)
	str("serial", u.Serial)
	str("model", u.Model)
	str("library-manufacturer", u.LibraryManufacturer)
	if v := u.LibraryVersion; v != nil {
		attr("library-version")
		b.WriteString(strconv.Itoa(int(v.Major)))
		if v.Minor != 0 {
			b.WriteByte('.')
			b.WriteString(strconv.Itoa(int(v.Minor)))
		}
	}
	str("library-description", u.LibraryDescription)
	str("object", u.Object)
	if u.Type != "" {
		attr("type")
		b.WriteString(string(u.Type))
	}
	if u.ID != nil {
		attr("id")
		for _, c := range u.ID {
			pct(&b, c)
		}
	}
	str("slot-description", u.SlotDescription)
	str("slot-manufacturer", u.SlotManufacturer)
	if u.SlotID != nil {
		attr("slot-id")
		b.WriteString(strconv.FormatUint(*u.SlotID, 10))
	}
	for _, a := range u.PathVendor {
		attr(a.Name)
		escape(&b, a.Value, pathChar)
	}

	n = 0
	q := func(name string, v string) {
		if n == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		n++
		b.WriteString(name)
		b.WriteByte('=')
		escape(&b, v, queryChar)
	}
	if u.PinSource != nil {
		q("pin-source", *u.PinSource)
	}
	if withPIN && u.PinValue != nil {
		q("pin-value", *u.PinValue)
	}
	if u.ModuleName != nil {
		q("module-name", *u.ModuleName)
	}
	if u.ModulePath != nil {
		q("module-path", *u.ModulePath)
	}
	for _, a := range u.QueryVendor {
		q(a.Name, a.Value)
	}
	return b.String()
}

func escape(b *strings.Builder, s string, allowed func(byte) bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; allowed(c) {
			b.WriteByte(c)
		} else {
			pct(b, c)
		}
	}
}

func pct(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&15])
}

// TokenInfo is what MatchesToken compares: the CK_TOKEN_INFO fields a URI can
// name. Values may keep PKCS #11's blank padding.
type TokenInfo struct {
	Label, Manufacturer, Model, Serial string
}

// SlotInfo is what MatchesSlot compares: a slot's CK_SLOT_ID and the
// CK_SLOT_INFO fields a URI can name. Values may keep blank padding.
type SlotInfo struct {
	ID                        uint64
	Description, Manufacturer string
}

// LibraryInfo is what MatchesLibrary compares: the CK_INFO fields a URI can
// name. Values may keep blank padding.
type LibraryInfo struct {
	Manufacturer, Description string
	Version                   Version
}

// ObjectInfo is what MatchesObject compares: an object's CKA_LABEL, CKA_CLASS
// (a CKO_* value) and CKA_ID.
type ObjectInfo struct {
	Label string
	Class uint64
	ID    []byte
}

// MatchesToken reports whether the token attributes of u (token,
// manufacturer, model, serial) match t, following RFC 7512 section 2.5: an
// absent attribute matches anything, a present one must equal the token's
// value, trailing blanks (PKCS #11 padding) ignored on both sides; an empty
// value matches only an empty (all-blank) field.
//
// Like every Matches method, it checks only its own attributes, so a URI
// naming an object matches the token that holds it; and it reports false for
// a URI with vendor-specific path attributes, which this package cannot
// evaluate: the restriction they add is not known to be met.
func (u *URI) MatchesToken(t TokenInfo) bool {
	return len(u.PathVendor) == 0 &&
		matchPadded(u.Token, t.Label) &&
		matchPadded(u.Manufacturer, t.Manufacturer) &&
		matchPadded(u.Model, t.Model) &&
		matchPadded(u.Serial, t.Serial)
}

// MatchesSlot reports whether the slot attributes of u (slot-id,
// slot-description, slot-manufacturer) match s, by the rules of MatchesToken.
func (u *URI) MatchesSlot(s SlotInfo) bool {
	return len(u.PathVendor) == 0 &&
		(u.SlotID == nil || *u.SlotID == s.ID) &&
		matchPadded(u.SlotDescription, s.Description) &&
		matchPadded(u.SlotManufacturer, s.Manufacturer)
}

// MatchesLibrary reports whether the library attributes of u
// (library-manufacturer, library-description, library-version) match l, by the
// rules of MatchesToken. The version must be equal ("3" is 3.0).
func (u *URI) MatchesLibrary(l LibraryInfo) bool {
	return len(u.PathVendor) == 0 &&
		matchPadded(u.LibraryManufacturer, l.Manufacturer) &&
		matchPadded(u.LibraryDescription, l.Description) &&
		(u.LibraryVersion == nil || *u.LibraryVersion == l.Version)
}

// MatchesObject reports whether the object attributes of u (object, type, id)
// match o, by the rules of MatchesToken, except that labels are compared
// exactly: CKA_LABEL is not blank-padded.
func (u *URI) MatchesObject(o ObjectInfo) bool {
	if len(u.PathVendor) != 0 {
		return false
	}
	if u.Object != nil && *u.Object != o.Label {
		return false
	}
	if u.Type != "" {
		if c, ok := u.Type.Class(); !ok || c != o.Class {
			return false
		}
	}
	return u.ID == nil || bytes.Equal(u.ID, o.ID)
}

func matchPadded(want *string, have string) bool {
	return want == nil || strings.TrimRight(*want, " ") == strings.TrimRight(have, " ")
}
