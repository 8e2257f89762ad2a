// Command keyward manages Keyward tokens and keys. This early version lists slots, tokens and objects; the
// full CLI (provisioning, keys, certificates, PINs) grows on top of pkg/client.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

const usage = `usage: keyward COMMAND [flags]

commands:
  slots                      list slots and their tokens
  list [--token LABEL]       list a token's objects with their pkcs11: URIs
                             (log in with --pin-source FILE or $KEYWARD_PIN to see private objects)

The daemon's socket is $KEYWARD_SOCKET, else the system socket, else the user-mode socket.
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "keyward:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, usage)
		return nil
	}
	switch args[0] {
	case "slots":
		return cmdSlots(args[1:], out)
	case "list":
		return cmdList(args[1:], out)
	}
	return fmt.Errorf("unknown command %q (try: keyward help)", args[0])
}

func dial() (*client.Client, error) {
	c, err := client.Dial("")
	if err != nil {
		return nil, fmt.Errorf("cannot reach keywardd (is it running? libkeyward.so starts it on first use): %w", err)
	}
	return c, nil
}

func cmdSlots(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("slots", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.Close()
	slots, err := c.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("listing slots: %w", err)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tTOKEN\tSERIAL\tSTATE")
	for _, s := range slots {
		ti, err := c.GetTokenInfo(s)
		if err != nil {
			return fmt.Errorf("slot %d: %w", s, err)
		}
		state := "uninitialised"
		if ti.Flags&ck.CKF_TOKEN_INITIALIZED != 0 {
			state = "initialised"
			if ti.Flags&ck.CKF_USER_PIN_INITIALIZED == 0 {
				state += ", user PIN not set"
			}
			if ti.Flags&ck.CKF_USER_PIN_LOCKED != 0 {
				state += ", user PIN locked"
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s, ti.Label, ti.SerialNumber, state)
	}
	return tw.Flush()
}

// pin returns the user PIN from --pin-source or $KEYWARD_PIN; nil if neither is given.
func pin(source string) ([]byte, error) {
	if source != "" {
		b, err := os.ReadFile(source)
		if err != nil {
			return nil, fmt.Errorf("reading the PIN: %w", err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if p, ok := os.LookupEnv("KEYWARD_PIN"); ok {
		return []byte(p), nil
	}
	return nil, nil
}

func cmdList(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	label := fs.String("token", "", "token label (default: the only initialised token)")
	pinSource := fs.String("pin-source", "", "file holding the user PIN")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.Close()
	slot, ti, err := findToken(c, *label)
	if err != nil {
		return err
	}
	s, err := c.OpenSession(slot, ck.CKF_SERIAL_SESSION)
	if err != nil {
		return fmt.Errorf("opening a session: %w", err)
	}
	p, err := pin(*pinSource)
	if err != nil {
		return err
	}
	if p != nil {
		err := c.Login(s, ck.CKU_USER, p)
		clear(p)
		if err != nil {
			return fmt.Errorf("logging in: %w", err)
		}
	}
	if err := c.FindObjectsInit(s, nil); err != nil {
		return fmt.Errorf("searching: %w", err)
	}
	var handles []ck.ObjectHandle
	for {
		hs, err := c.FindObjects(s, 256)
		if err != nil {
			return fmt.Errorf("searching: %w", err)
		}
		if len(hs) == 0 {
			break
		}
		handles = append(handles, hs...)
	}
	c.FindObjectsFinal(s)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tLABEL\tID\tURI")
	for _, h := range handles {
		res, err := c.GetAttributeValue(s, h, ck.Query(4096, ck.CKA_CLASS, ck.CKA_LABEL, ck.CKA_ID))
		if err != nil && !errors.Is(err, ck.CKR_ATTRIBUTE_TYPE_INVALID) {
			return fmt.Errorf("reading object %d: %w", h, err)
		}
		class, _ := res[0].Uint()
		typ := typeName(ck.ObjectClass(class))
		label, serial, object := ti.Label, ti.SerialNumber, string(res[1].Value)
		u := p11uri.URI{Token: &label, Serial: &serial, Object: &object, Type: p11uri.ObjectType(typ), ID: res[2].Value}
		fmt.Fprintf(tw, "%s\t%s\t%x\t%s\n", typ, res[1].Value, res[2].Value, u.String())
	}
	return tw.Flush()
}

func findToken(c *client.Client, label string) (ck.SlotID, ck.TokenInfo, error) {
	slots, err := c.GetSlotList(true)
	if err != nil {
		return 0, ck.TokenInfo{}, fmt.Errorf("listing slots: %w", err)
	}
	var found []ck.SlotID
	var infos []ck.TokenInfo
	for _, s := range slots {
		ti, err := c.GetTokenInfo(s)
		if err != nil || ti.Flags&ck.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		if label == "" || ti.Label == label {
			found = append(found, s)
			infos = append(infos, ti)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], infos[0], nil
	case len(found) == 0 && label != "":
		return 0, ck.TokenInfo{}, fmt.Errorf("no token labelled %q", label)
	case len(found) == 0:
		return 0, ck.TokenInfo{}, errors.New("no initialised token")
	}
	return 0, ck.TokenInfo{}, errors.New("several tokens: choose one with --token")
}

// typeName is the RFC 7512 "type" of an object class.
func typeName(c ck.ObjectClass) string {
	switch c {
	case ck.CKO_CERTIFICATE:
		return "cert"
	case ck.CKO_DATA:
		return "data"
	case ck.CKO_PRIVATE_KEY:
		return "private"
	case ck.CKO_PUBLIC_KEY:
		return "public"
	case ck.CKO_SECRET_KEY:
		return "secret-key"
	}
	return c.String()
}
