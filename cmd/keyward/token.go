package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// tokenState describes a token's initialisation and PIN flags in words.
func tokenState(flags uint64) string {
	if flags&ck.CKF_TOKEN_INITIALIZED == 0 {
		return "uninitialised"
	}
	parts := []string{"initialised"}
	if flags&ck.CKF_USER_PIN_INITIALIZED == 0 {
		parts = append(parts, "user PIN not set")
	}
	switch {
	case flags&ck.CKF_USER_PIN_LOCKED != 0:
		parts = append(parts, "user PIN locked")
	case flags&ck.CKF_USER_PIN_FINAL_TRY != 0:
		parts = append(parts, "user PIN: one try left")
	case flags&ck.CKF_USER_PIN_COUNT_LOW != 0:
		parts = append(parts, "user PIN: wrong PINs entered")
	}
	if flags&ck.CKF_SO_PIN_LOCKED != 0 {
		parts = append(parts, "SO PIN locked")
	}
	return strings.Join(parts, ", ")
}

type tokenJSON struct {
	Slot         uint64 `json:"slot"`
	Label        string `json:"label"`
	Serial       string `json:"serial"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Initialised  bool   `json:"initialised"`
	UserPINSet   bool   `json:"user_pin_set"`
	UserPINLock  bool   `json:"user_pin_locked"`
	// UserPINLow: a wrong user PIN was given since the last good one; UserPINFinal: one more locks it.
	UserPINLow   bool   `json:"user_pin_count_low"`
	UserPINFinal bool   `json:"user_pin_final_try"`
	SOPINLock    bool   `json:"so_pin_locked"`
	State        string `json:"state"`
	URI          string `json:"uri,omitempty"`
	MinPINLen    uint64 `json:"min_pin_len"`
	MaxPINLen    uint64 `json:"max_pin_len"`
	Sessions     uint64 `json:"sessions"`
	Firmware     string `json:"firmware_version"`
	// Objects counts the token's objects by type (token info only); PrivateCounted says whether private
	// objects are in the counts (only after a login).
	Objects        map[string]int `json:"objects,omitempty"`
	PrivateCounted *bool          `json:"private_objects_counted,omitempty"`
}

func tokenToJSON(t token) tokenJSON {
	f := t.info.Flags
	j := tokenJSON{Slot: uint64(t.slot), Label: t.label, Serial: t.serial, Manufacturer: trimPad(t.info.ManufacturerID),
		Model: trimPad(t.info.Model), Initialised: f&ck.CKF_TOKEN_INITIALIZED != 0, UserPINSet: f&ck.CKF_USER_PIN_INITIALIZED != 0,
		UserPINLock: f&ck.CKF_USER_PIN_LOCKED != 0, UserPINLow: f&ck.CKF_USER_PIN_COUNT_LOW != 0, UserPINFinal: f&ck.CKF_USER_PIN_FINAL_TRY != 0, SOPINLock: f&ck.CKF_SO_PIN_LOCKED != 0, State: tokenState(f),
		MinPINLen: t.info.MinPinLen, MaxPINLen: t.info.MaxPinLen, Sessions: t.info.SessionCount, Firmware: t.info.FirmwareVersion.String()}
	if j.Initialised {
		j.URI = (&p11uri.URI{Token: &t.label, Serial: &t.serial}).String()
	}
	return j
}

// tokensToJSON is the --json of a token list.
func tokensToJSON(ts []token) []tokenJSON {
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = tokenToJSON(t)
	}
	return out
}

func (c *cli) cmdSlots(args []string) error {
	f := c.newFlags("slots", `usage: keyward slots [--json]

Lists the slots of keywardd and the token in each (the last slot holds a fresh, uninitialised token).

example:
  keyward slots`).withJSON()
	if _, err := f.parseArgs(args, 0, 0, "keyward slots"); err != nil {
		return err
	}
	ts, err := c.tokens(true)
	if err != nil {
		return err
	}
	if *f.json {
		return c.printJSON(tokensToJSON(ts))
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tTOKEN\tSERIAL\tSTATE")
	for _, t := range ts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", t.slot, t.label, t.serial, tokenState(t.info.Flags))
	}
	return tw.Flush()
}

func (c *cli) cmdToken(args []string) error {
	const help = `usage: keyward token list|info|init ...

  token list [--json]                    the initialised tokens
  token info [--token LABEL] [--json]    one token's details
  token init --label LABEL [--so-pin-source FILE] [--pin-source FILE] [--wrap-policy trusted-only|spec]
                                         initialise the free slot's token (sets the SO PIN, and the
                                         user PIN too when --pin-source or --pin is given)
  token delete --token LABEL [--yes]     remove a token and all its objects (needs the SO PIN)`
	return c.subcommand("token", "list, info, init or delete", help, args, map[string]func([]string) error{
		"list": c.cmdTokenList, "info": c.cmdTokenInfo, "init": c.cmdTokenInit, "delete": c.cmdTokenDelete,
	})
}

func (c *cli) cmdTokenList(args []string) error {
	f := c.newFlags("token list", `usage: keyward token list [--json]

Lists the initialised tokens with their URIs.

example:
  keyward token list --json`).withJSON()
	if _, err := f.parseArgs(args, 0, 0, "keyward token list"); err != nil {
		return err
	}
	ts, err := c.tokens(false)
	if err != nil {
		return err
	}
	if *f.json {
		return c.printJSON(tokensToJSON(ts))
	}
	if len(ts) == 0 {
		fmt.Fprintln(c.stdout, "no initialised token (create one with: keyward token init --label NAME)")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LABEL\tSERIAL\tSLOT\tSTATE\tURI")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", t.label, t.serial, t.slot, tokenState(t.info.Flags), tokenToJSON(t).URI)
	}
	return tw.Flush()
}

func (c *cli) cmdTokenInfo(args []string) error {
	f := c.newFlags("token info", `usage: keyward token info [URI] [--token LABEL] [--json]

Shows a token's details: label, serial, PIN state (locked, or a wrong PIN given since the last good one),
sessions, limits, and its objects by type (private ones only when a PIN is given).

examples:
  keyward token info --token dev
  keyward token info pkcs11:token=dev --json --pin-source user.pin`).withJSON().withToken().withLogin()
	u, _, err := f.parseURIArgs(args, 0, 1, "keyward token info [URI]")
	if err != nil {
		return err
	}
	t, err := c.oneToken(*f.token, u)
	if err != nil {
		return err
	}
	j := tokenToJSON(t)
	if j.Initialised {
		mode := loginIfPIN
		if !j.UserPINSet {
			mode = loginNever
		}
		s, err := c.openOn(f, t, nil, false, mode)
		if err != nil {
			return err
		}
		objs, err := s.find(nil)
		if err != nil {
			s.close()
			return err
		}
		j.Objects = map[string]int{}
		for _, o := range objs {
			j.Objects[typeName(o.class)]++
		}
		counted := s.loggedIn
		j.PrivateCounted = &counted
		s.close()
	}
	if *f.json {
		return c.printJSON(j)
	}
	pinState := "ok"
	switch {
	case j.UserPINLock:
		pinState = "locked (the SO resets it: keyward pin unlock)"
	case j.UserPINFinal:
		pinState = "one more wrong PIN locks it"
	case j.UserPINLow:
		pinState = "a wrong PIN was given since the last good one"
	case !j.UserPINSet:
		pinState = "not set (keyward pin init)"
	}
	var counts []string
	for _, k := range []string{"private", "public", "secret-key", "cert", "data"} {
		if n := j.Objects[k]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, k))
		}
	}
	objects := strings.Join(counts, ", ")
	if objects == "" {
		objects = "none"
	}
	if j.PrivateCounted != nil && !*j.PrivateCounted {
		objects += " (private objects not counted: give the PIN)"
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"label", j.Label}, {"serial", j.Serial}, {"slot", fmt.Sprint(j.Slot)}, {"uri", j.URI},
		{"manufacturer", j.Manufacturer}, {"model", j.Model}, {"state", j.State},
		{"PIN length", fmt.Sprintf("%d to %d", j.MinPINLen, j.MaxPINLen)},
		{"user PIN", pinState}, {"objects", objects},
		{"sessions", fmt.Sprint(j.Sessions)}, {"firmware", j.Firmware},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// soPINFlags adds --so-pin-source and --so-pin.
func soPINFlags(f *flags) (source, value *string) {
	return f.String("so-pin-source", "", "file holding the SO PIN (else $KEYWARD_SO_PIN, else a prompt)"),
		f.String("so-pin", "", "the SO PIN itself (insecure; prefer --so-pin-source)")
}

func newPINFlags(f *flags) (source, value *string) {
	return f.String("new-pin-source", "", "file holding the new PIN (else $KEYWARD_NEW_PIN, else a prompt asking twice)"),
		f.String("new-pin", "", "the new PIN itself (insecure; prefer --new-pin-source)")
}

func (c *cli) cmdTokenInit(args []string) error {
	f := c.newFlags("token init", `usage: keyward token init --label LABEL [--so-pin-source FILE] [--pin-source FILE]

Initialises the token in the free slot with a label and the security officer's PIN. With --pin-source (or
--pin) it also sets the user PIN; otherwise set it later with keyward pin init.
To re-initialise an existing token, destroying all its objects: --token LABEL --yes.

examples:
  keyward token init --label dev --so-pin-source so.pin --pin-source user.pin
  KEYWARD_SO_PIN=... keyward token init --label dev`).withJSON().withToken()
	label := f.String("label", "", "the new token's label (at most 32 bytes)")
	soSource, soValue := soPINFlags(f)
	userSource := f.String("pin-source", "", "file holding the user PIN to set")
	userValue := f.String("pin", "", "the user PIN to set (insecure; prefer --pin-source)")
	yes := f.Bool("yes", false, "re-initialise an existing token without asking")
	wrapPolicy := f.String("wrap-policy", "trusted-only", "how sensitive keys may be wrapped: trusted-only or spec (README.md, \"Wrapping policy\")")
	if _, err := f.parseArgs(args, 0, 0, "keyward token init --label LABEL"); err != nil {
		return err
	}
	policy, known := ck.ParseWrapPolicy(*wrapPolicy)
	if !known {
		return usagef("token init: --wrap-policy is trusted-only or spec, not %q", *wrapPolicy)
	}
	if *label == "" {
		return usagef("token init: --label is required")
	}
	if len(*label) > 32 {
		return usagef("token init: the label is %d bytes; at most 32", len(*label))
	}
	var slot ck.SlotID
	reinit := *f.token != ""
	if reinit {
		t, err := c.oneToken(*f.token, nil)
		if err != nil {
			return err
		}
		question := fmt.Sprintf("Re-initialise token %q, destroying all its objects?", t.label)
		if err := c.confirmOr(*yes, question, "token init: not confirmed; nothing changed"); err != nil {
			return err
		}
		slot = t.slot
	} else {
		existing, err := c.selectTokens(*label, nil)
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			return failf("token init: a token labelled %q exists already (slot %d); re-initialise it with --token %q --yes", *label, existing[0].slot, *label)
		}
		all, err := c.tokens(true)
		if err != nil {
			return err
		}
		found := false
		for _, t := range all {
			if t.info.Flags&ck.CKF_TOKEN_INITIALIZED == 0 {
				slot, found = t.slot, true
				break
			}
		}
		if !found {
			return failf("token init: keywardd has no free slot")
		}
	}
	so, err := c.getPIN(pinRequest{what: "new SO PIN", source: *soSource, value: soValue, flagName: "so-pin",
		env: "KEYWARD_SO_PIN", prompt: true, confirm: !reinit})
	if err != nil {
		return err
	}
	var user []byte
	if *userSource != "" || *userValue != "" {
		if user, err = c.getPIN(pinRequest{what: "user PIN", source: *userSource, value: userValue, flagName: "pin", env: "KEYWARD_PIN"}); err != nil {
			return err
		}
	}
	cl, err := c.dial()
	if err != nil {
		return err
	}
	padded := bytes.Repeat([]byte{' '}, 32)
	copy(padded, *label)
	var initErr error
	if policy == ck.WrapPolicyTrustedOnly {
		initErr = cl.InitToken(slot, so, padded) // the default: a daemon without InitTokenPolicy works too
	} else {
		initErr = cl.InitTokenPolicy(slot, so, padded, policy)
	}
	if err := initErr; err != nil {
		clear(so)
		return ckErr(fmt.Sprintf("initialising the token in slot %d", slot), err)
	}
	t := token{slot: slot, label: *label}
	if ti, err := cl.GetTokenInfo(slot); err == nil {
		t.info, t.serial = ti, trimPad(ti.SerialNumber)
	}
	if user != nil {
		if err := c.setUserPIN(t, so, user); err != nil {
			return err
		}
		if ti, err := cl.GetTokenInfo(slot); err == nil {
			t.info = ti
		}
	}
	clear(so)
	if *f.json {
		return c.printJSON(tokenToJSON(t))
	}
	fmt.Fprintf(c.stdout, "initialised token %q (serial %s) in slot %d: %s\n", t.label, t.serial, t.slot, tokenToJSON(t).URI)
	if user == nil {
		fmt.Fprintf(c.stdout, "set the user PIN with: keyward pin init --token %q\n", t.label)
	}
	return nil
}

// setUserPIN logs in as the SO and sets (or resets) the user PIN.
func (c *cli) setUserPIN(t token, so, user []byte) error {
	s, err := c.openSession(t, true)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.login(ck.CKU_SO, bytes.Clone(so)); err != nil {
		return err
	}
	defer s.cl.Logout(s.h)
	err = s.cl.InitPIN(s.h, user)
	clear(user)
	return ckErr(fmt.Sprintf("setting the user PIN of token %q", t.label), err)
}

func (c *cli) cmdPIN(args []string) error {
	const help = `usage: keyward pin init|change|unlock [--token LABEL] ...

  pin init   [--so-pin-source F] [--new-pin-source F]   the SO sets the user PIN
  pin unlock [--so-pin-source F] [--new-pin-source F]   the SO resets a locked (or forgotten) user PIN
  pin change [--so] [--pin-source F] [--new-pin-source F]
                                                         change the user PIN (or, with --so, the SO PIN)`
	return c.subcommand("pin", "init, change or unlock", help, args, map[string]func([]string) error{
		"init":   func(args []string) error { return c.cmdPINInit("init", args) },
		"unlock": func(args []string) error { return c.cmdPINInit("unlock", args) },
		"change": c.cmdPINChange,
	})
}

func (c *cli) cmdPINInit(sub string, args []string) error {
	what := "Sets the token's user PIN, logged in as the security officer (SO)."
	if sub == "unlock" {
		what = "Resets a locked or forgotten user PIN, logged in as the security officer (SO): the new PIN\nunlocks the user's objects again."
	}
	f := c.newFlags("pin "+sub, fmt.Sprintf(`usage: keyward pin %s [--token LABEL] [--so-pin-source FILE] [--new-pin-source FILE]

%s

example:
  keyward pin %s --token dev --so-pin-source so.pin --new-pin-source user.pin`, sub, what, sub)).withToken()
	soSource, soValue := soPINFlags(f)
	newSource, newValue := newPINFlags(f)
	u, _, err := f.parseURIArgs(args, 0, 1, "keyward pin "+sub+" [URI]")
	if err != nil {
		return err
	}
	t, err := c.oneToken(*f.token, u)
	if err != nil {
		return err
	}
	so, err := c.getPIN(pinRequest{what: "SO PIN", source: *soSource, value: soValue, flagName: "so-pin", env: "KEYWARD_SO_PIN", prompt: true})
	if err != nil {
		return err
	}
	user, err := c.getPIN(pinRequest{what: "new user PIN", source: *newSource, value: newValue, flagName: "new-pin", env: "KEYWARD_NEW_PIN", prompt: true, confirm: true})
	if err != nil {
		return err
	}
	if err := c.setUserPIN(t, so, user); err != nil {
		clear(so)
		return err
	}
	clear(so)
	verb := "set"
	if sub == "unlock" {
		verb = "reset"
	}
	fmt.Fprintf(c.stdout, "user PIN of token %q %s\n", t.label, verb)
	return nil
}

func (c *cli) cmdPINChange(args []string) error {
	f := c.newFlags("pin change", `usage: keyward pin change [--token LABEL] [--so] [--pin-source FILE] [--new-pin-source FILE]

Changes the user PIN (or with --so the SO PIN): the current PIN comes from --pin-source / $KEYWARD_PIN
(--so-pin-source / $KEYWARD_SO_PIN with --so) or a prompt, the new one from --new-pin-source /
$KEYWARD_NEW_PIN or a prompt that asks twice.

example:
  keyward pin change --token dev --pin-source old.pin --new-pin-source new.pin`).withToken().withPIN()
	asSO := f.Bool("so", false, "change the security officer's PIN")
	soSource, soValue := soPINFlags(f)
	newSource, newValue := newPINFlags(f)
	u, _, err := f.parseURIArgs(args, 0, 1, "keyward pin change [URI]")
	if err != nil {
		return err
	}
	t, err := c.oneToken(*f.token, u)
	if err != nil {
		return err
	}
	var old []byte
	user := ck.CKU_USER
	if *asSO {
		user = ck.CKU_SO
		old, err = c.getPIN(pinRequest{what: "current SO PIN", source: *soSource, value: soValue, flagName: "so-pin", env: "KEYWARD_SO_PIN", prompt: true})
	} else {
		old, err = c.getPIN(pinRequest{what: "current user PIN", source: *f.pin.source, value: f.pin.value, flagName: "pin", env: "KEYWARD_PIN", uri: u, prompt: true})
	}
	if err != nil {
		return err
	}
	newPIN, err := c.getPIN(pinRequest{what: "new PIN", source: *newSource, value: newValue, flagName: "new-pin", env: "KEYWARD_NEW_PIN", prompt: true, confirm: true})
	if err != nil {
		return err
	}
	s, err := c.openSession(t, true)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.login(user, bytes.Clone(old)); err != nil {
		return err
	}
	defer s.cl.Logout(s.h)
	err = s.cl.SetPIN(s.h, old, newPIN)
	clear(old)
	clear(newPIN)
	if err != nil {
		return ckErr(fmt.Sprintf("changing the PIN of token %q", t.label), err)
	}
	who := "user"
	if *asSO {
		who = "SO"
	}
	fmt.Fprintf(c.stdout, "%s PIN of token %q changed\n", who, t.label)
	return nil
}

type mechJSON struct {
	Name       string   `json:"name"`
	Code       uint64   `json:"code"`
	MinKeySize uint64   `json:"min_key_size"`
	MaxKeySize uint64   `json:"max_key_size"`
	Functions  []string `json:"functions"`
}

var mechFlagNames = []struct {
	flag uint64
	name string
}{
	{ck.CKF_ENCRYPT, "encrypt"}, {ck.CKF_DECRYPT, "decrypt"}, {ck.CKF_DIGEST, "digest"}, {ck.CKF_SIGN, "sign"},
	{ck.CKF_VERIFY, "verify"}, {ck.CKF_GENERATE, "generate"}, {ck.CKF_GENERATE_KEY_PAIR, "generate-key-pair"},
	{ck.CKF_WRAP, "wrap"}, {ck.CKF_UNWRAP, "unwrap"}, {ck.CKF_DERIVE, "derive"},
	{ck.CKF_ENCAPSULATE, "encapsulate"}, {ck.CKF_DECAPSULATE, "decapsulate"},
}

func (c *cli) cmdMechanisms(args []string) error {
	f := c.newFlags("mechanisms", `usage: keyward mechanisms [--token LABEL] [--json] [FILTER]

Lists the mechanisms of a token (or of the free slot when there is no token yet), with key sizes and
functions. FILTER keeps the names containing it (case-insensitive).

examples:
  keyward mechanisms
  keyward mechanisms ecdsa --json`).withJSON().withToken()
	pos, err := f.parseArgs(args, 0, 1, "keyward mechanisms [FILTER]")
	if err != nil {
		return err
	}
	filter := ""
	if len(pos) == 1 {
		filter = strings.ToLower(pos[0])
	}
	t, err := c.anyToken(*f.token)
	if err != nil {
		return err
	}
	slot := t.slot
	cl, err := c.dial()
	if err != nil {
		return err
	}
	list, err := cl.GetMechanismList(slot)
	if err != nil {
		return ckErr("listing mechanisms", err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].String() < list[j].String() })
	var out []mechJSON
	for _, m := range list {
		name := m.String()
		if filter != "" && !strings.Contains(strings.ToLower(name), filter) {
			continue
		}
		mi, err := cl.GetMechanismInfo(slot, m)
		if err != nil {
			return ckErr("reading mechanism "+name, err)
		}
		j := mechJSON{Name: name, Code: uint64(m), MinKeySize: mi.MinKeySize, MaxKeySize: mi.MaxKeySize, Functions: []string{}}
		for _, fl := range mechFlagNames {
			if mi.Flags&fl.flag != 0 {
				j.Functions = append(j.Functions, fl.name)
			}
		}
		out = append(out, j)
	}
	if *f.json {
		if out == nil {
			out = []mechJSON{}
		}
		return c.printJSON(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MECHANISM\tKEY SIZES\tFUNCTIONS")
	for _, j := range out {
		sizes := "-"
		if j.MinKeySize != 0 || j.MaxKeySize != 0 {
			sizes = fmt.Sprintf("%d-%d", j.MinKeySize, j.MaxKeySize)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", j.Name, sizes, strings.Join(j.Functions, ","))
	}
	return tw.Flush()
}

func (c *cli) cmdTokenDelete(args []string) error {
	f := c.newFlags("token delete", `usage: keyward token delete --token LABEL [--so-pin-source FILE] [--yes]

Removes a token and every object on it; its slot goes away. Needs the SO PIN, and no application may have
a session open with the token. This cannot be undone.

examples:
  keyward token delete --token old-device --so-pin-source so.pin --yes`).withToken()
	soSource, soValue := soPINFlags(f)
	yes := f.Bool("yes", false, "delete without asking")
	if _, err := f.parseArgs(args, 0, 0, "keyward token delete --token LABEL"); err != nil {
		return err
	}
	if *f.token == "" {
		return usagef("token delete: --token is required")
	}
	t, err := c.oneToken(*f.token, nil)
	if err != nil {
		return err
	}
	question := fmt.Sprintf("Delete token %q and all its objects?", t.label)
	if err := c.confirmOr(*yes, question, "token delete: not confirmed; nothing changed"); err != nil {
		return err
	}
	so, err := c.getPIN(pinRequest{what: "SO PIN", source: *soSource, value: soValue, flagName: "so-pin",
		env: "KEYWARD_SO_PIN", prompt: true})
	if err != nil {
		return err
	}
	defer clear(so)
	cl, err := c.dial()
	if err != nil {
		return err
	}
	if err := cl.DeleteToken(t.slot, so); err != nil {
		return ckErr("token delete", err)
	}
	fmt.Fprintf(c.stdout, "deleted token %q (slot %d)\n", t.label, t.slot)
	return nil
}
