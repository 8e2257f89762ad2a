package client

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// ErrURINoToken is returned (wrapped) by OpenURI for a URI that names no token: it has none of token=,
// serial=, manufacturer=, model=, slot-id=, slot-description= and slot-manufacturer=.
var ErrURINoToken = errors.New("client: the pkcs11: URI names no token (add token=LABEL, serial=, model=, manufacturer= or slot-id=)")

// OpenURI opens the token that a "pkcs11:" URI (RFC 7512) selects, logs in to it as the user (see
// OpenToken), and returns a KeyRef for the key the URI names, for Token.Signer and Token.Decrypter.
//
// The URI is parsed with p11uri.ParseLenient, so the forms other PKCS#11 tools write are accepted, such
// as "pkcs11:token=dev;object=device id?pin-value=1234". The token is the one initialised token that all of
// the URI's token attributes (token, manufacturer, serial, model; blank padding ignored), slot attributes
// (slot-id, slot-description, slot-manufacturer) and library attributes match; a URI naming none of the
// token and slot attributes is refused with ErrURINoToken, and a URI that matches no token with
// ErrTokenNotFound. Vendor-specific path attributes cannot be evaluated and are refused.
//
// pin is the user PIN; if it is nil, the URI's pin-value is used. pin-source is not read (the caller
// decides which files a URI may point at: read it and pass pin). The PIN never appears in an error.
//
// The KeyRef holds the URI's object (CKA_LABEL) and id (CKA_ID); it is empty (and Signer refuses it)
// when the URI names neither, for a URI that only opens a token. Signer and Decrypter look for the private
// key with that label and id whatever the URI's type=, so the URI of a certificate or public key selects
// the private key that shares its label and id.
func (cl *Client) OpenURI(uri string, pin []byte) (*Token, KeyRef, error) {
	u, err := p11uri.ParseLenient(uri)
	if err != nil {
		return nil, KeyRef{}, fmt.Errorf("client: %w", err) // p11uri's errors never quote values
	}
	if len(u.PathVendor) > 0 {
		return nil, KeyRef{}, fmt.Errorf("client: the URI %s has the attribute %q, which keyward does not know", u, u.PathVendor[0].Name)
	}
	if u.Token == nil && u.Serial == nil && u.Manufacturer == nil && u.Model == nil && u.SlotID == nil &&
		u.SlotDescription == nil && u.SlotManufacturer == nil {
		return nil, KeyRef{}, fmt.Errorf("%w: %s", ErrURINoToken, u)
	}
	if pin == nil {
		switch {
		case u.PinValue != nil:
			pin = []byte(*u.PinValue)
			defer clear(pin)
		case u.PinSource != nil:
			return nil, KeyRef{}, fmt.Errorf("client: the URI %s has a pin-source, which OpenURI does not read: read the PIN and pass it", u)
		default:
			return nil, KeyRef{}, fmt.Errorf("client: no PIN for %s: pass one, or put pin-value in the URI", u)
		}
	}
	slot, err := cl.findURIToken(u)
	if err != nil {
		return nil, KeyRef{}, err
	}
	tok, err := cl.OpenTokenSlot(slot, pin)
	if err != nil {
		return nil, KeyRef{}, err
	}
	var ref KeyRef
	if u.Object != nil {
		ref.Label = *u.Object
	}
	if u.ID != nil {
		ref.ID = bytes.Clone(u.ID)
	}
	return tok, ref, nil
}

// findURIToken returns the slot of the single initialised token that u's token, slot and library
// attributes select.
func (cl *Client) findURIToken(u *p11uri.URI) (ck.SlotID, error) {
	if u.LibraryManufacturer != nil || u.LibraryDescription != nil || u.LibraryVersion != nil {
		info, err := cl.GetInfo()
		if err != nil {
			return 0, fmt.Errorf("client: reading the library info: %w", err)
		}
		li := p11uri.LibraryInfo{Manufacturer: trim(info.ManufacturerID), Description: trim(info.LibraryDescription),
			Version: p11uri.Version{Major: info.LibraryVersion.Major, Minor: info.LibraryVersion.Minor}}
		if !u.MatchesLibrary(li) {
			return 0, fmt.Errorf("%w: the URI's library attributes do not match keywardd (%s)", ErrTokenNotFound, u)
		}
	}
	slots, err := cl.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("client: listing slots: %w", err)
	}
	var found []ck.SlotID
	var labels []string
	for _, slot := range slots {
		if u.SlotID != nil && *u.SlotID != uint64(slot) {
			continue
		}
		ti, err := cl.GetTokenInfo(slot)
		if err != nil {
			if rv := ck.ToRV(err); rv == ck.CKR_TOKEN_NOT_PRESENT || rv == ck.CKR_SLOT_ID_INVALID {
				continue // removed since the slot list was taken
			}
			return 0, fmt.Errorf("client: reading the token info of slot %d: %w", slot, err)
		}
		if ti.Flags&ck.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		t := p11uri.TokenInfo{Label: trim(ti.Label), Manufacturer: trim(ti.ManufacturerID), Model: trim(ti.Model), Serial: trim(ti.SerialNumber)}
		if !u.MatchesToken(t) {
			continue
		}
		if u.SlotDescription != nil || u.SlotManufacturer != nil {
			si, err := cl.GetSlotInfo(slot)
			if err != nil {
				return 0, fmt.Errorf("client: reading the slot info of slot %d: %w", slot, err)
			}
			if !u.MatchesSlot(p11uri.SlotInfo{ID: uint64(slot), Description: trim(si.SlotDescription), Manufacturer: trim(si.ManufacturerID)}) {
				continue
			}
		}
		found = append(found, slot)
		labels = append(labels, fmt.Sprintf("%q (slot %d)", t.Label, slot))
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w: no initialised token matches %s", ErrTokenNotFound, u)
	case 1:
		return found[0], nil
	default:
		return 0, fmt.Errorf("client: %d tokens match %s: %s; add token= or serial= to choose one", len(found), u, strings.Join(labels, ", "))
	}
}

func trim(s string) string { return strings.TrimRight(s, " \x00") }
