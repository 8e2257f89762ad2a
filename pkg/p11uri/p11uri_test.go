package p11uri

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func sp(s string) *string { return &s }
func up(n uint64) *uint64 { return &n }

// rfcExamples are the example URIs of RFC 7512 section 3 (the multi-line one
// joined), each with its canonical form.
var rfcExamples = []struct{ in, canon string }{
	{"pkcs11:", "pkcs11:"},
	{"pkcs11:object=my-pubkey;type=public", "pkcs11:object=my-pubkey;type=public"},
	{"pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
		"pkcs11:object=my-key;type=private?pin-source=file:/etc/token"},
	{"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
		"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;serial=;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91?pin-source=file:/etc/token_pin"},
	{"pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
		"pkcs11:object=my-sign-key;type=private?module-name=mypkcs11"},
	{"pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
		"pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1"},
	{"pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
		"pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin"},
	{"pkcs11:slot-description=Sun%20Metaslot", "pkcs11:slot-description=Sun%20Metaslot"},
	{"pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
		"pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-version=1.23;library-description=Soft%20Token%20Library"},
	{"pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ca%fe%04%05%06",
		"pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%BA%DD%CA%FE%04%05%06"},
	{"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
		"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert"},
	{"pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
		"pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert"},
	{"pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
		"pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b"},
}

func TestRFCExamples(t *testing.T) {
	for _, ex := range rfcExamples {
		u, err := Parse(ex.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", ex.in, err)
			continue
		}
		got := u.StringWithPIN()
		if got != ex.canon {
			t.Errorf("Parse(%q).StringWithPIN()\n got %q\nwant %q", ex.in, got, ex.canon)
		}
		u2, err := Parse(got)
		if err != nil {
			t.Errorf("Parse(canonical %q): %v", got, err)
			continue
		}
		if !reflect.DeepEqual(u, u2) {
			t.Errorf("round trip of %q changed the URI:\n%#v\n%#v", ex.in, u, u2)
		}
	}
}

func TestRFCExampleValues(t *testing.T) {
	u, err := Parse(rfcExamples[3].in)
	if err != nil {
		t.Fatal(err)
	}
	want := &URI{
		Token:        sp("The Software PKCS#11 Softtoken"),
		Manufacturer: sp("Snake Oil, Inc."),
		Serial:       sp(""),
		Model:        sp("1.0"),
		Object:       sp("my-certificate"),
		Type:         TypeCert,
		ID:           []byte{0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91},
		PinSource:    sp("file:/etc/token_pin"),
	}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("got %#v\nwant %#v", u, want)
	}

	u, err = Parse(rfcExamples[8].in)
	if err != nil {
		t.Fatal(err)
	}
	if *u.LibraryVersion != (Version{1, 23}) || *u.LibraryDescription != "Soft Token Library" {
		t.Errorf("library: %v %q", *u.LibraryVersion, *u.LibraryDescription)
	}

	u, err = Parse(rfcExamples[9].in)
	if err != nil {
		t.Fatal(err)
	}
	if *u.Token != "My token% created by Joe" || *u.LibraryVersion != (Version{3, 0}) ||
		string(u.ID) != "\x01\x02\x03\xba\xdd\xca\xfe\x04\x05\x06" {
		t.Errorf("got %q %v %x", *u.Token, *u.LibraryVersion, u.ID)
	}

	u, err = Parse(rfcExamples[10].in)
	if err != nil || *u.Token != "A name with a substring %;" {
		t.Errorf("got %v %q", err, *u.Token)
	}
	u, err = Parse(rfcExamples[11].in)
	if err != nil || *u.Token != "Name with a small A with acute: á" {
		t.Errorf("got %v %q", err, *u.Token)
	}

	u, err = Parse(rfcExamples[12].in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u.PathVendor, []Attr{{"vendor-aaa", "value-a"}}) ||
		!reflect.DeepEqual(u.QueryVendor, []Attr{{"vendor-bbb", "value-b"}}) {
		t.Errorf("vendor attributes: %v %v", u.PathVendor, u.QueryVendor)
	}
}

// The seed's URI has a literal space, which RFC 7512 forbids: ParseLenient
// takes it, Parse refuses it.
func TestSeedURI(t *testing.T) {
	const seed = "pkcs11:slot-id=0;object=device id?pin-value=1234"
	u, err := ParseLenient(seed)
	if err != nil {
		t.Fatal(err)
	}
	want := &URI{SlotID: up(0), Object: sp("device id"), PinValue: sp("1234")}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("got %#v\nwant %#v", u, want)
	}
	if got := u.StringWithPIN(); got != "pkcs11:object=device%20id;slot-id=0?pin-value=1234" {
		t.Errorf("StringWithPIN = %q", got)
	}
	if got := u.String(); got != "pkcs11:object=device%20id;slot-id=0" {
		t.Errorf("String = %q", got)
	}

	_, err = Parse(seed)
	var perr *Error
	if !errors.As(err, &perr) || perr.Offset != strings.IndexByte(seed, ' ') || perr.Attr != "object" {
		t.Errorf("Parse(seed) = %v, want an error at the space in object", err)
	}
	u, err = Parse("pkcs11:slot-id=0;object=device%20id?pin-value=1234")
	if err != nil || !reflect.DeepEqual(u, want) {
		t.Errorf("encoded seed: %v %#v", err, u)
	}
}

func TestStringNeverPrintsPIN(t *testing.T) {
	u, err := Parse("pkcs11:token=t?pin-value=s3cret&module-name=m")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{u.String(), fmtAll(u)} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("PIN leaked: %s", s)
		}
	}
	if s := u.String(); s != "pkcs11:token=t?module-name=m" {
		t.Errorf("String = %q", s)
	}
	if s := u.StringWithPIN(); s != "pkcs11:token=t?pin-value=s3cret&module-name=m" {
		t.Errorf("StringWithPIN = %q", s)
	}
	// An error must not show the PIN either.
	_, err = Parse("pkcs11:?pin-value=s3cret&pin-source=file:/x")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v", err)
	}
	_, err = Parse("pkcs11:?pin-value=s3cr#t")
	if err == nil || strings.Contains(err.Error(), "#") {
		t.Errorf("err = %v", err)
	}
}

func fmtAll(u *URI) string {
	var b strings.Builder
	for _, v := range []any{u, *u} {
		b.WriteString(strings.Join([]string{fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%s", v)}, "\n"))
	}
	return b.String()
}

func TestParseForms(t *testing.T) {
	tests := []struct {
		in   string
		want *URI
	}{
		{"PKCS11:", &URI{}},
		{"pkcs11:?", &URI{}},
		{"pKcS11:token=a", &URI{Token: sp("a")}},
		{"pkcs11:TOKEN=a;Type=CERT", &URI{Token: sp("a"), Type: TypeCert}},
		{"pkcs11:type=secret-key", &URI{Type: TypeSecretKey}},
		{"pkcs11:type=data", &URI{Type: TypeData}},
		{"pkcs11:id=", &URI{ID: []byte{}}},
		{"pkcs11:id=ab%00", &URI{ID: []byte("ab\x00")}},
		{"pkcs11:token=", &URI{Token: sp("")}},
		{"pkcs11:slot-id=18446744073709551615", &URI{SlotID: up(18446744073709551615)}},
		{"pkcs11:slot-id=007", &URI{SlotID: up(7)}},
		{"pkcs11:library-version=255.255", &URI{LibraryVersion: &Version{255, 255}}},
		{"pkcs11:library-version=2.05", &URI{LibraryVersion: &Version{2, 5}}},
		{"pkcs11:token=:[]@!$'()*+,=&?x=:[]@!$'()*+,=/?|",
			&URI{Token: sp(":[]@!$'()*+,=&"), QueryVendor: []Attr{{"x", ":[]@!$'()*+,=/?|"}}}},
		{"pkcs11:token=%3a%5B%3b%2f%3F%23%25", &URI{Token: sp(":[;/?#%")}},
		{"pkcs11:x-a=1;X-A=2?v=1&v=2&v=1", &URI{PathVendor: []Attr{{"x-a", "1"}, {"X-A", "2"}},
			QueryVendor: []Attr{{"v", "1"}, {"v", "2"}, {"v", "1"}}}},
		{"pkcs11:?module-name=a&module-path=/b", &URI{ModuleName: sp("a"), ModulePath: sp("/b")}},
		{"pkcs11:object=a=b", &URI{Object: sp("a=b")}},
	}
	for _, tt := range tests {
		u, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(u, tt.want) {
			t.Errorf("Parse(%q)\n got %#v\nwant %#v", tt.in, u, tt.want)
		}
		u2, err := Parse(u.StringWithPIN())
		if err != nil || !reflect.DeepEqual(u, u2) {
			t.Errorf("round trip of %q via %q: %v", tt.in, u.StringWithPIN(), err)
		}
	}
}

func TestCanonicalEncoding(t *testing.T) {
	u := &URI{
		Token:          sp("a b;c/d?e#f&g%h\x00é"),
		ID:             []byte("AZ"),
		SlotID:         up(3),
		LibraryVersion: &Version{2, 0},
		PinSource:      sp("|/bin/pin a&b;c"),
		QueryVendor:    []Attr{{"x", "/?&"}},
	}
	want := "pkcs11:token=a%20b%3Bc%2Fd%3Fe%23f&g%25h%00%C3%A9;library-version=2;id=%41%5A;slot-id=3?pin-source=|/bin/pin%20a%26b%3Bc&x=/?%26"
	if got := u.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	u2, err := Parse(want)
	if err != nil || !reflect.DeepEqual(u, u2) {
		t.Errorf("reparse: %v %#v", err, u2)
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct{ in, msg string }{
		{"", `must begin with "pkcs11:"`},
		{"pkcs11", `must begin with "pkcs11:"`},
		{"pkcs12:token=a", `must begin with "pkcs11:"`},
		{"http://x", `must begin with "pkcs11:"`},
		{" pkcs11:", `must begin with "pkcs11:"`},
		{"pkcs11:id=%0", "truncated percent-encoding"},
		{"pkcs11:id=%", "truncated percent-encoding"},
		{"pkcs11:id=%ZZ", "invalid percent-encoding"},
		{"pkcs11:id=%0g", "invalid percent-encoding"},
		{"pkcs11:?pin-source=%x1", "invalid percent-encoding"},
		{"pkcs11:id=%01;id=%02", "given twice in the path"},
		{"pkcs11:token=a;TOKEN=b", "given twice in the path"},
		{"pkcs11:v=1;v=2", "given twice in the path"},
		{"pkcs11:?pin-value=1&pin-value=2", "given twice in the query"},
		{"pkcs11:?module-name=a&module-name=a", "given twice in the query"},
		{"pkcs11:?pin-source=a&pin-value=1", "pin-source and pin-value"},
		{"pkcs11:type=", "unknown object type"},
		{"pkcs11:type=key", "unknown object type"},
		{"pkcs11:type=certificate", "unknown object type"},
		{"pkcs11:type=%63ert", "must not be percent-encoded"},
		{"pkcs11:slot-id=", "decimal number"},
		{"pkcs11:slot-id=-1", "decimal number"},
		{"pkcs11:slot-id=+1", "decimal number"},
		{"pkcs11:slot-id=0x1", "decimal number"},
		{"pkcs11:slot-id=1.0", "decimal number"},
		{"pkcs11:slot-id=%31", "must not be percent-encoded"},
		{"pkcs11:slot-id=18446744073709551616", "out of range"},
		{"pkcs11:library-version=", `"M" or "M.N"`},
		{"pkcs11:library-version=1.", `"M" or "M.N"`},
		{"pkcs11:library-version=.1", `"M" or "M.N"`},
		{"pkcs11:library-version=1.2.3", `"M" or "M.N"`},
		{"pkcs11:library-version=v1", `"M" or "M.N"`},
		{"pkcs11:library-version=256", "major version out of range"},
		{"pkcs11:library-version=1.256", "minor version out of range"},
		{"pkcs11:?pin-value=a;b", "character (not shown) must be percent-encoded in a query value"},
		{"pkcs11:?x=a;b", "';' must be percent-encoded in a query value"},
		{"pkcs11:object=a b", "' ' must be percent-encoded in a path value"},
		{"pkcs11:object=a/b", "'/' must be percent-encoded in a path value"},
		{"pkcs11:object=a#b", "'#' must be percent-encoded in a path value"},
		{"pkcs11:object=a|b", "'|' must be percent-encoded in a path value"},
		{"pkcs11:object=\xc3\xa1", "0xC3 must be percent-encoded in a path value"},
		{"pkcs11:object=a\tb", "0x09 must be percent-encoded"},
		{"pkcs11:?module-path=/a b", "' ' must be percent-encoded in a query value"},
		{"pkcs11:token=a;", "empty attribute in the path component"},
		{"pkcs11:;token=a", "empty attribute in the path component"},
		{"pkcs11:token=a;;object=b", "empty attribute in the path component"},
		{"pkcs11:?a=1&", "empty attribute in the query component"},
		{"pkcs11:?&a=1", "empty attribute in the query component"},
		{"pkcs11:token", "has no '='"},
		{"pkcs11:?pin-value", "has no '='"},
		{"pkcs11:=a", "attribute name is empty"},
		{"pkcs11:to%6Ben=a", "not allowed in an attribute name"},
		{"pkcs11:x.y=a", "not allowed in an attribute name"},
		{"pkcs11:token=a;pin-value=1234", "query attribute not allowed in the path"},
		{"pkcs11:module-name=m", "query attribute not allowed in the path"},
		{"pkcs11:?token=a", "path attribute not allowed in the query"},
		{"pkcs11:?ID=%01", "path attribute not allowed in the query"},
	}
	for _, tt := range tests {
		u, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want an error", tt.in, u.StringWithPIN())
			continue
		}
		var perr *Error
		if !errors.As(err, &perr) {
			t.Errorf("Parse(%q): error %T is not *Error", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Parse(%q) = %q, want it to say %q", tt.in, err, tt.msg)
		}
	}
}

func TestErrorOffsets(t *testing.T) {
	tests := []struct {
		in   string
		off  int
		attr string
	}{
		{"pkcs11:token=ok;object=a%zzb", 24, "object"},
		{"pkcs11:token=a;token=b", 15, "token"},
		{"pkcs11:object=x?pin-source=a;b", 28, "pin-source"},
		{"pkcs11:object=x?pin-source=a&pin-value=b", 16, ""},
		{"pkcs11:object=x;;", 16, ""},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var perr *Error
		if !errors.As(err, &perr) || perr.Offset != tt.off || perr.Attr != tt.attr {
			t.Errorf("Parse(%q) = %v, want offset %d attribute %q", tt.in, err, tt.off, tt.attr)
		}
	}
}

func TestParseLenient(t *testing.T) {
	tests := []struct {
		in   string
		want *URI
	}{
		{"pkcs11:token=SSH Keys", &URI{Token: sp("SSH Keys")}},
		{"pkcs11:token=PKCS#11 Token;object=a/b|c", &URI{Token: sp("PKCS#11 Token"), Object: sp("a/b|c")}},
		{"pkcs11:token=\xc3\xa1{}", &URI{Token: sp("á{}")}},
		{"pkcs11:?module-path=/usr/lib/my lib.so", &URI{ModulePath: sp("/usr/lib/my lib.so")}},
		{"pkcs11:object=k;pin-value=1234", &URI{Object: sp("k"), PinValue: sp("1234")}},
		{"pkcs11:pin-source=file:/p;object=k", &URI{Object: sp("k"), PinSource: sp("file:/p")}},
		{"pkcs11:type=%63ert;slot-id=%31", &URI{Type: TypeCert, SlotID: up(1)}},
	}
	for _, tt := range tests {
		u, err := ParseLenient(tt.in)
		if err != nil {
			t.Errorf("ParseLenient(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(u, tt.want) {
			t.Errorf("ParseLenient(%q)\n got %#v\nwant %#v", tt.in, u, tt.want)
		}
		// What ParseLenient accepts prints to a strictly valid URI.
		u2, err := Parse(u.StringWithPIN())
		if err != nil || !reflect.DeepEqual(u, u2) {
			t.Errorf("strict reparse of %q via %q: %v", tt.in, u.StringWithPIN(), err)
		}
	}
	for _, in := range []string{
		"pkcs11:id=%zz",
		"pkcs11:?pin-value=a;b",
		"pkcs11:?x=a b&y=a&b", // '&' still separates: "b" has no '='
		"pkcs11:object=a\nb",
		"pkcs11:object=a;pin-value=1?pin-value=2",
		"pkcs11:pin-value=1?pin-source=f",
		"pkcs11:module-path=/x",
		"pkcs11:token=a;token=b",
	} {
		if u, err := ParseLenient(in); err == nil {
			t.Errorf("ParseLenient(%q) = %q, want an error", in, u.StringWithPIN())
		}
	}
}

func TestMatchesToken(t *testing.T) {
	tok := TokenInfo{
		Label:        "Keyward Token                   ",
		Manufacturer: "Keyward                         ",
		Model:        "kw-soft         ",
		Serial:       "                ",
	}
	tests := []struct {
		uri  string
		want bool
	}{
		{"pkcs11:", true},
		{"pkcs11:token=Keyward%20Token", true},
		{"pkcs11:token=Keyward%20Token%20%20", true},
		{"pkcs11:token=keyward%20token", false},
		{"pkcs11:token=Keyward", false},
		{"pkcs11:token=Keyward%20Token;manufacturer=Keyward;model=kw-soft", true},
		{"pkcs11:token=Keyward%20Token;model=other", false},
		{"pkcs11:serial=", true}, // empty value matches the all-blank serial
		{"pkcs11:serial=1", false},
		{"pkcs11:object=whatever;type=cert;slot-id=9;library-version=9", true}, // not token attributes
		{"pkcs11:token=Keyward%20Token?pin-value=1&x-q=1", true},               // query does not restrict
		{"pkcs11:token=Keyward%20Token;x-vendor=1", false},                     // unknown restriction
	}
	for _, tt := range tests {
		u, err := Parse(tt.uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.MatchesToken(tok); got != tt.want {
			t.Errorf("%s: MatchesToken = %v, want %v", tt.uri, got, tt.want)
		}
	}
	// An empty value does not match a non-empty field.
	u, _ := Parse("pkcs11:token=")
	if u.MatchesToken(tok) || !u.MatchesToken(TokenInfo{}) {
		t.Error("token= must match only an empty label")
	}
}

func TestMatchesSlot(t *testing.T) {
	slot := SlotInfo{ID: 0, Description: "Keyward slot 0   ", Manufacturer: "Keyward  "}
	tests := []struct {
		uri  string
		want bool
	}{
		{"pkcs11:", true},
		{"pkcs11:slot-id=0", true},
		{"pkcs11:slot-id=1", false},
		{"pkcs11:slot-id=0;slot-description=Keyward%20slot%200;slot-manufacturer=Keyward", true},
		{"pkcs11:slot-description=Keyward%20slot%201", false},
		{"pkcs11:slot-manufacturer=Other", false},
		{"pkcs11:slot-id=0;token=anything", true},
		{"pkcs11:slot-id=0;v=1", false},
	}
	for _, tt := range tests {
		u, err := Parse(tt.uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.MatchesSlot(slot); got != tt.want {
			t.Errorf("%s: MatchesSlot = %v, want %v", tt.uri, got, tt.want)
		}
	}
}

func TestMatchesLibrary(t *testing.T) {
	lib := LibraryInfo{Manufacturer: "Snake Oil, Inc.  ", Description: "Soft Token Library  ", Version: Version{1, 23}}
	tests := []struct {
		uri  string
		want bool
	}{
		{"pkcs11:", true},
		{rfcExamples[8].in, true},
		{"pkcs11:library-version=1.23", true},
		{"pkcs11:library-version=1", false},
		{"pkcs11:library-version=1.2", false},
		{"pkcs11:library-manufacturer=Snake%20Oil", false},
		{"pkcs11:library-description=Soft%20Token%20Library", true},
	}
	for _, tt := range tests {
		u, err := Parse(tt.uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.MatchesLibrary(lib); got != tt.want {
			t.Errorf("%s: MatchesLibrary = %v, want %v", tt.uri, got, tt.want)
		}
	}
	u, _ := Parse("pkcs11:library-version=3")
	if !u.MatchesLibrary(LibraryInfo{Version: Version{3, 0}}) || u.MatchesLibrary(LibraryInfo{Version: Version{3, 1}}) {
		t.Error(`library-version=3 must match 3.0 only`)
	}
}

func TestMatchesObject(t *testing.T) {
	obj := ObjectInfo{Label: "device id", Class: 3, ID: []byte{0x01, 0xab}}
	tests := []struct {
		uri  string
		want bool
	}{
		{"pkcs11:", true},
		{"pkcs11:object=device%20id", true},
		{"pkcs11:object=device%20id%20", false}, // labels are not padded: exact
		{"pkcs11:object=device", false},
		{"pkcs11:type=private", true},
		{"pkcs11:type=public", false},
		{"pkcs11:type=cert", false},
		{"pkcs11:id=%01%AB", true},
		{"pkcs11:id=%01%ab;type=private;object=device%20id", true},
		{"pkcs11:id=%01", false},
		{"pkcs11:id=", false},
		{"pkcs11:token=other;slot-id=5", true}, // not object attributes
		{"pkcs11:object=device%20id;x=y", false},
	}
	for _, tt := range tests {
		u, err := Parse(tt.uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.MatchesObject(obj); got != tt.want {
			t.Errorf("%s: MatchesObject = %v, want %v", tt.uri, got, tt.want)
		}
	}
	u, _ := Parse("pkcs11:id=")
	if !u.MatchesObject(ObjectInfo{}) {
		t.Error("id= must match an empty CKA_ID")
	}
	classes := map[ObjectType]uint64{TypeData: 0, TypeCert: 1, TypePublic: 2, TypePrivate: 3, TypeSecretKey: 4}
	for typ, class := range classes {
		u := &URI{Type: typ}
		if !u.MatchesObject(ObjectInfo{Class: class}) || u.MatchesObject(ObjectInfo{Class: class + 1}) {
			t.Errorf("type %s does not match class %d alone", typ, class)
		}
	}
	if (&URI{Type: "bogus"}).MatchesObject(ObjectInfo{}) {
		t.Error("an unknown type must match nothing")
	}
}

// FuzzParse checks that parsing never panics and that whatever parses,
// strictly or leniently, prints to a strictly valid URI that parses back to
// the same URI and prints the same again.
func FuzzParse(f *testing.F) {
	for _, ex := range rfcExamples {
		f.Add(ex.in)
	}
	for _, s := range []string{
		"pkcs11:slot-id=0;object=device id?pin-value=1234",
		"pkcs11:TOKEN=a;Type=CERT;library-version=001.000;slot-id=007",
		"pkcs11:x-a=1;X-A=2?v=1&v=2&pin-source=|/bin/x",
		"pkcs11:token=:[]@!$'()*+,=&?x=:[]@!$'()*+,=/?|",
		"pkcs11:object=k;pin-value=1",
		"pkcs11:id=%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, lenient := range []bool{false, true} {
			u, err := parse(s, lenient)
			if err != nil {
				continue
			}
			out := u.StringWithPIN()
			u2, err := Parse(out)
			if err != nil {
				t.Fatalf("parse(%q, %v) printed %q, which does not parse: %v", s, lenient, out, err)
			}
			if !reflect.DeepEqual(u, u2) {
				t.Fatalf("parse(%q, %v) printed %q, which parses to another URI:\n%#v\n%#v", s, lenient, out, u, u2)
			}
			if out2 := u2.StringWithPIN(); out2 != out {
				t.Fatalf("canonical form not stable: %q then %q", out, out2)
			}
			if u.PinValue != nil && strings.Contains(u.String(), "pin-value") {
				t.Fatalf("String printed pin-value: %q", u.String())
			}
		}
	})
}
