package p11uri_test

import (
	"fmt"

	"github.com/keyward/keyward/pkg/p11uri"
)

func ExampleParse() {
	u, err := p11uri.Parse("pkcs11:token=My%20token;object=signing%20key;type=private;id=%01%02?pin-source=file:/etc/pin")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(*u.Token, "/", *u.Object, "/", u.Type, "/", u.ID, "/", *u.PinSource)

	_, err = p11uri.Parse("pkcs11:token=a;token=b")
	fmt.Println(err)
	// Output:
	// My token / signing key / private / [1 2] / file:/etc/pin
	// pkcs11 URI: offset 15, attribute "token": attribute given twice in the path component
}

func ExampleParseLenient() {
	// A literal space must be percent-encoded (RFC 7512): Parse refuses it,
	// ParseLenient takes it, as other PKCS #11 tools do.
	const s = "pkcs11:slot-id=0;object=device id?pin-value=1234"
	_, err := p11uri.Parse(s)
	fmt.Println(err)

	u, err := p11uri.ParseLenient(s)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(*u.SlotID, *u.Object, *u.PinValue)
	// Output:
	// pkcs11 URI: offset 30, attribute "object": character ' ' must be percent-encoded in a path value
	// 0 device id 1234
}

func ExampleURI_String() {
	id := uint64(0)
	pin := "1234"
	label := "device id"
	u := &p11uri.URI{SlotID: &id, Object: &label, Type: p11uri.TypePrivate, ID: []byte{0xca, 0xfe}, PinValue: &pin}
	fmt.Println(u)                 // safe to log: no PIN
	fmt.Println(u.StringWithPIN()) // everything
	// Output:
	// pkcs11:object=device%20id;type=private;id=%CA%FE;slot-id=0
	// pkcs11:object=device%20id;type=private;id=%CA%FE;slot-id=0?pin-value=1234
}

func ExampleURI_MatchesToken() {
	u, _ := p11uri.Parse("pkcs11:token=Keyward;object=k")
	// PKCS #11 pads the label with blanks to 32 bytes.
	fmt.Println(u.MatchesToken(p11uri.TokenInfo{Label: "Keyward                         "}))
	fmt.Println(u.MatchesToken(p11uri.TokenInfo{Label: "Other"}))
	// Output:
	// true
	// false
}

func ExampleURI_MatchesObject() {
	u, _ := p11uri.Parse("pkcs11:object=k;type=private")
	const ckoPrivateKey, ckoPublicKey = 3, 2
	fmt.Println(u.MatchesObject(p11uri.ObjectInfo{Label: "k", Class: ckoPrivateKey}))
	fmt.Println(u.MatchesObject(p11uri.ObjectInfo{Label: "k", Class: ckoPublicKey}))
	// Output:
	// true
	// false
}
