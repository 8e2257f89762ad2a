package main

import (
	"encoding/hex"
	"fmt"
	"strconv"

	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// keyward random and keyward data: random bytes from the token, and data objects (CKO_DATA).

// maxRandom bounds one keyward random.
const maxRandom = 1 << 20

func (c *cli) cmdRandom(args []string) error {
	f := c.newFlags("random", `usage: keyward random N [--hex] [--out FILE] [--token LABEL]

Writes N random bytes from the token's generator (C_GenerateRandom), at most 1 MiB.

examples:
  keyward random 32 --hex
  keyward random 16 --out nonce.bin`).withToken()
	hexOut := f.Bool("hex", false, "write hexadecimal and a newline")
	out := f.String("out", "-", "the output file, or - for standard output")
	pos, err := f.parseArgs(args, 1, 1, "keyward random N")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(pos[0])
	if err != nil || n < 1 || n > maxRandom {
		return usagef("random: N must be a number of bytes from 1 to %d", maxRandom)
	}
	s, err := c.openAny(*f.token)
	if err != nil {
		return err
	}
	defer s.close()
	b, err := s.cl.GenerateRandom(s.h, uint64(n))
	if err != nil {
		return ckErr("generating random bytes", err)
	}
	if *hexOut {
		b = []byte(hex.EncodeToString(b) + "\n")
	}
	return c.writeOutput(*out, b, true)
}

func (c *cli) cmdData(args []string) error {
	const help = "usage: keyward data put FILE --label LABEL [--application A] [--private] | keyward data get URI [--out FILE]"
	return c.subcommand("data", "put, get", help, args, map[string]func([]string) error{
		"put": c.cmdDataPut, "get": c.cmdDataGet,
	})
}

func (c *cli) cmdDataPut(args []string) error {
	f := c.newFlags("data put", `usage: keyward data put FILE --label LABEL [--application A] [--private] [--token LABEL]

Stores FILE (or - for standard input, at most 1 MiB) as a data object (CKO_DATA) and prints its URI. With
--private it is a private object: only a logged-in user reads it. A data object with the label is refused
unless --force.

example:
  keyward data put device-config.json --label device-config --application acme`).withJSON().withToken().withPIN()
	label := f.String("label", "", "the object's label (CKA_LABEL, required)")
	app := f.String("application", "", "CKA_APPLICATION")
	private := f.Bool("private", false, "a private object (CKA_PRIVATE): readable only after login")
	force := f.Bool("force", false, "store it even when a data object has the label")
	pos, err := f.parseArgs(args, 1, 1, "keyward data put FILE --label LABEL")
	if err != nil {
		return err
	}
	if *label == "" {
		return usagef("data put: --label is required")
	}
	data, err := c.readInput(pos[0])
	if err != nil {
		return err
	}
	defer clear(data)
	if len(data) > maxRandom {
		return usagef("data put: %d bytes is larger than a data object may be here (1 MiB)", len(data))
	}
	s, err := c.openFor(f, nil, true, loginRequired)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.clash(ck.CKO_DATA, *label, nil, "data object", *force); err != nil {
		return err
	}
	t := []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA), ck.NewAttribute(ck.CKA_TOKEN, true),
		ck.NewAttribute(ck.CKA_PRIVATE, *private), ck.NewAttribute(ck.CKA_LABEL, *label), ck.NewAttribute(ck.CKA_VALUE, append([]byte(nil), data...))}
	if *app != "" {
		t = append(t, ck.NewAttribute(ck.CKA_APPLICATION, *app))
	}
	if _, err := s.cl.CreateObject(s.h, t); err != nil {
		return ckErr(fmt.Sprintf("storing the data object on token %q", s.tok.label), err)
	}
	return c.printURI(f, objectURI(s.tok, *label, p11uri.TypeData, nil))
}

func (c *cli) cmdDataGet(args []string) error {
	f := c.newFlags("data get", `usage: keyward data get URI [--out FILE]

Writes the value of the data object the URI selects (a private one needs the PIN).

example:
  keyward data get 'pkcs11:token=dev;object=device-config;type=data' --out device-config.json`).withToken().withLogin()
	out := f.String("out", "-", "the output file, or - for standard output")
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward data get URI")
	if err != nil {
		return err
	}
	s, o, err := c.openKey(f, u, false, loginIfPIN, "data object", ck.CKO_DATA)
	if err != nil {
		return err
	}
	defer s.close()
	a, err := s.attrs(o.h, ck.CKA_VALUE)
	if err != nil {
		return err
	}
	return c.writeOutput(*out, a[ck.CKA_VALUE], o.bool(ck.CKA_PRIVATE))
}
