package main

import (
	"fmt"
	"strings"

	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// Token selection: the initialised tokens, and the one a command's --token label and URI select.

// token is an initialised token.
type token struct {
	slot   ck.SlotID
	info   ck.TokenInfo
	label  string // without padding
	serial string
}

// trimPad removes the blank padding of a CK_TOKEN_INFO text field.
func trimPad(s string) string { return strings.TrimRight(s, " \x00") }

// tokens lists the initialised tokens (all tokens with all true).
func (c *cli) tokens(all bool) ([]token, error) {
	cl, err := c.dial()
	if err != nil {
		return nil, err
	}
	slots, err := cl.GetSlotList(true)
	if err != nil {
		return nil, ckErr("listing slots", err)
	}
	var out []token
	for _, s := range slots {
		ti, err := cl.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if !all && ti.Flags&ck.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		out = append(out, token{slot: s, info: ti, label: trimPad(ti.Label), serial: trimPad(ti.SerialNumber)})
	}
	return out, nil
}

// selectTokens returns the initialised tokens that the --token label and the URI's token attributes
// select.
func (c *cli) selectTokens(label string, u *p11uri.URI) ([]token, error) {
	all, err := c.tokens(false)
	if err != nil {
		return nil, err
	}
	var out []token
	for _, t := range all {
		if label != "" && t.label != label {
			continue
		}
		if u != nil {
			ti := p11uri.TokenInfo{Label: t.label, Manufacturer: trimPad(t.info.ManufacturerID), Model: trimPad(t.info.Model), Serial: t.serial}
			if !u.MatchesToken(ti) {
				continue
			}
			if u.SlotID != nil && *u.SlotID != uint64(t.slot) {
				continue
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// oneToken returns the single token selected; with no selection, the only initialised token.
func (c *cli) oneToken(label string, u *p11uri.URI) (token, error) {
	ts, err := c.selectTokens(label, u)
	if err != nil {
		return token{}, err
	}
	switch len(ts) {
	case 1:
		return ts[0], nil
	case 0:
		if label != "" {
			return token{}, notFoundf("no token labelled %q (keyward token list shows them)", label)
		}
		if u != nil && (u.Token != nil || u.Serial != nil || u.Model != nil || u.Manufacturer != nil || u.SlotID != nil) {
			return token{}, notFoundf("no token matches %s (keyward token list shows them)", u.String())
		}
		return token{}, notFoundf("no initialised token (create one with: keyward token init --label NAME)")
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = fmt.Sprintf("%q", t.label)
	}
	return token{}, usagef("%d tokens match (%s): choose one with --token LABEL or token= in the URI", len(ts), strings.Join(names, ", "))
}

// anyToken is the named token, else the first slot's token (initialised or not).
func (c *cli) anyToken(label string) (token, error) {
	if label != "" {
		return c.oneToken(label, nil)
	}
	all, err := c.tokens(true)
	if err != nil {
		return token{}, err
	}
	if len(all) == 0 {
		return token{}, notFoundf("keywardd has no slot")
	}
	return all[0], nil
}
