package main

import (
	"slices"
	"strings"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Usages: a key gets exactly the usages it is given. keywardd's defaults follow the specification (a private
// key may sign, decrypt and unwrap unless told otherwise), so the CLI writes every usage attribute of the
// object's class, true for the listed usages and false for the others. A usage of the private half of a pair
// gives the public half its counterpart (sign gives the public key verify): a key that may only sign has a
// public half that may only verify.

// usageAttrs maps usage names to the attribute and whether it belongs on the public half of a pair.
var usageAttrs = map[string]struct {
	attr   ck.AttributeType
	public bool
}{
	"sign": {ck.CKA_SIGN, false}, "verify": {ck.CKA_VERIFY, true}, "encrypt": {ck.CKA_ENCRYPT, true},
	"decrypt": {ck.CKA_DECRYPT, false}, "wrap": {ck.CKA_WRAP, true}, "unwrap": {ck.CKA_UNWRAP, false},
	"derive": {ck.CKA_DERIVE, false}, "encapsulate": {ck.CKA_ENCAPSULATE, true}, "decapsulate": {ck.CKA_DECAPSULATE, false},
	"sign-recover": {ck.CKA_SIGN_RECOVER, false}, "verify-recover": {ck.CKA_VERIFY_RECOVER, true},
}

const usageNames = "sign, verify, encrypt, decrypt, wrap, unwrap, derive, sign-recover, verify-recover, encapsulate, decapsulate"

// The usage attributes each class carries, in the order show prints them.
var (
	publicUsages  = []string{"verify", "encrypt", "wrap", "verify-recover", "encapsulate"}
	privateUsages = []string{"sign", "decrypt", "unwrap", "sign-recover", "derive", "decapsulate"}
	secretUsages  = []string{"sign", "verify", "encrypt", "decrypt", "wrap", "unwrap", "derive"}
)

// counterpart is the public-half usage a private-half usage implies.
var counterpart = map[string]string{"sign": "verify", "decrypt": "encrypt", "unwrap": "wrap",
	"sign-recover": "verify-recover", "decapsulate": "encapsulate"}

// possibleUsages returns the usages a key type can have (by its mechanisms).
func possibleUsages(kt ck.KeyType) []string {
	switch kt {
	case ck.CKK_RSA:
		return []string{"sign", "verify", "encrypt", "decrypt", "wrap", "unwrap", "sign-recover", "verify-recover"}
	case ck.CKK_EC:
		return []string{"sign", "verify", "derive"}
	case ck.CKK_EC_EDWARDS, ck.CKK_ML_DSA:
		return []string{"sign", "verify"}
	case ck.CKK_EC_MONTGOMERY:
		return []string{"derive"}
	case ck.CKK_ML_KEM:
		return []string{"encapsulate", "decapsulate"}
	case ck.CKK_AES:
		return []string{"encrypt", "decrypt", "wrap", "unwrap", "sign", "verify", "derive"}
	case ck.CKK_GENERIC_SECRET:
		return []string{"sign", "verify", "derive"}
	}
	return nil
}

func parseUsages(s string) ([]string, error) {
	var out []string
	for _, u := range strings.Split(s, ",") {
		u = strings.ToLower(strings.TrimSpace(u))
		if u == "" {
			continue
		}
		if _, ok := usageAttrs[u]; !ok {
			return nil, usagef("unknown usage %q (%s)", u, usageNames)
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// checkUsages refuses a usage the key type cannot have, and an empty list.
func checkUsages(typeName string, kt ck.KeyType, usages []string) error {
	can := possibleUsages(kt)
	for _, u := range usages {
		if !slices.Contains(can, u) {
			return usagef("key type %s cannot %s (its usages: %s)", typeName, u, strings.Join(can, ", "))
		}
	}
	if len(usages) == 0 {
		return usagef("a key needs at least one usage (key type %s can: %s)", typeName, strings.Join(can, ", "))
	}
	return nil
}

// classUsages returns the usages an object of class gets from a key's usage list: the listed ones of its
// class, and for a public key also the counterparts of the private key's.
func classUsages(class ck.ObjectClass, usages []string) []string {
	var names []string
	switch class {
	case ck.CKO_PUBLIC_KEY:
		names = publicUsages
	case ck.CKO_PRIVATE_KEY:
		names = privateUsages
	default:
		names = secretUsages
	}
	var out []string
	for _, n := range names {
		has := slices.Contains(usages, n)
		if class == ck.CKO_PUBLIC_KEY {
			for priv, pub := range counterpart {
				if pub == n && slices.Contains(usages, priv) {
					has = true
				}
			}
		}
		if has {
			out = append(out, n)
		}
	}
	return out
}

// usageTemplate returns every usage attribute of class: true for the usages the object gets, false otherwise.
func usageTemplate(class ck.ObjectClass, usages []string) []ck.Attribute {
	names := secretUsages
	switch class {
	case ck.CKO_PUBLIC_KEY:
		names = publicUsages
	case ck.CKO_PRIVATE_KEY:
		names = privateUsages
	}
	on := classUsages(class, usages)
	t := make([]ck.Attribute, 0, len(names))
	for _, n := range names {
		t = append(t, ck.NewAttribute(usageAttrs[n].attr, slices.Contains(on, n)))
	}
	return t
}

// usageDrift compares an object's usages (as show reads them) with what the usage list gives its class; it
// returns "" when they agree.
func usageDrift(class ck.ObjectClass, has, usages []string) string {
	want := classUsages(class, usages)
	var got []string
	for _, u := range has {
		if _, ok := usageAttrs[u]; ok {
			got = append(got, u)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if slices.Equal(want, got) {
		return ""
	}
	return "usages are " + orNone(got) + ", the manifest gives " + orNone(want)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}
