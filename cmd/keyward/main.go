// Command keyward manages Keyward tokens, PINs, keys, certificates and CSRs through keywardd. Keys are named by
// RFC 7512 pkcs11: URIs; every command takes --help, and most take --json.
//
// The commands are in one file per group: token.go (token, pin, slots, mechanisms), key.go (key generate),
// object.go (list, show, delete, set), import.go (import; import_parse.go reads the file, import_templates.go
// builds the templates, pkcs8.go decrypts PKCS#8), export.go, crypto.go (sign, verify, encrypt, decrypt,
// digest), csr.go (csr, cert self-sign), admin.go (p11kit, config, doctor). What they share is in one file
// a concept: cli.go (one run), errors.go (errors and exit codes), flags.go (flags and the command prologue),
// subcommand.go (command groups), pin.go (where PINs come from), terminal.go (prompts), files.go (input and
// output files), output.go (JSON, URIs and warnings), dial.go (the connection to keywardd), tokensel.go
// (token selection), session.go (sessions and login), uri.go (pkcs11: URIs) and lookup.go (object
// look-up). provision.go runs manifests (provision_yaml.go reads YAML); pubkey.go builds
// SubjectPublicKeyInfo values.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes; `keyward help` documents them.
const (
	exitOK       = 0
	exitFailed   = 1 // the operation failed: refused by the token, a signature that does not verify, bad input data
	exitUsage    = 2 // wrong command line: unknown command or flag, missing or malformed argument
	exitAuth     = 3 // authentication: wrong, missing or locked PIN, not logged in
	exitNotFound = 4 // no such token or object
	exitDaemon   = 5 // keywardd cannot be reached
	exitInternal = 6 // an internal error (a bug): please report it
)

const usageText = `usage: keyward COMMAND [ARGS] [FLAGS]

Keyward keeps keys in keywardd; this tool manages its tokens and keys. Keys and
objects are named by RFC 7512 URIs such as  pkcs11:token=dev;object=tls;type=private

tokens and PINs
  slots                         list slots and their tokens
  token list|info|init          list tokens, show one, initialise one (sets the SO PIN)
  pin init|change|unlock        set the user PIN (SO), change a PIN, reset a locked user PIN (SO)
  mechanisms                    list the token's mechanisms
keys and objects
  key generate --type T         generate a key (rsa:3072 ec:p256 ed25519 x25519 aes:256 hmac:256
                                ml-dsa-65 ml-kem-768 ...); prints its pkcs11: URI
  list [URI]                    list objects with their URIs, filtered by URI
  show URI                      show objects' attributes
  set URI --label L [--id HEX]  change attributes
  delete URI [--yes]            delete objects (asks first)
  import FILE                   import certificates, private/public keys (PEM/DER), raw secrets
  export URI                    export a public key or certificate (PEM or DER)
  data put|get                  store a file as a data object, read one back
crypto for scripts
  sign|verify URI               sign data / verify a signature with a token key
  encrypt|decrypt URI           RSA-OAEP or AES-GCM with a token key
  digest                        hash data on the token
  random N                      random bytes from the token
  derive URI --peer PUB         ECDH with a peer's public key into a new secret key on the token
  wrap URI --with URI           wrap a key under an AES key (RFC 5649); unwrap FILE --with URI makes it back
certificates
  csr URI --subject S           a PKCS#10 request signed by a token key
  cert self-sign URI            a self-signed certificate (optionally stored on the token)
setup
  provision MANIFEST            the factory flow from one manifest (idempotent; JSON report)
  p11kit install|uninstall      register libkeyward.so with p11-kit
  config                        the effective configuration and where each value comes from
  doctor                        check the daemon, socket, store and permissions
  seal status|migrate           how the device root key is sealed; seal it to the TPM (docs/sealing.md)
  backup FILE / restore FILE    a consistent snapshot of the store (also while keywardd runs) / put it back
  completion bash|zsh|fish      print a shell completion script
  --version                     print the version

Every command takes --help (with examples); most take --json.

PINs: --pin-source FILE, else $KEYWARD_PIN, else a prompt on the terminal (no echo).
  --pin VALUE works but warns: command lines are visible to other users.
  SO PIN: --so-pin-source FILE or $KEYWARD_SO_PIN; new PINs: --new-pin-source FILE or $KEYWARD_NEW_PIN.
Daemon: $KEYWARD_SOCKET, else /run/keyward/keyward.sock, else the user-mode socket.
Offline (provisioning an image before first boot): keyward --store DIR [--root-key FILE] COMMAND ...
  opens the store itself (refused while a keywardd owns it); the root key defaults to /etc/keyward/root.key.

exit codes
  0  success
  1  the operation failed (refused by the token, signature invalid, bad input data)
  2  usage error (unknown command or flag, bad argument)
  3  authentication failure (wrong, missing or locked PIN; not logged in)
  4  not found (no such token or object)
  5  keywardd cannot be reached
  6  internal error
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs one command line and returns the exit code. Errors are one line on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	return newCLI(stdout, stderr).run(args)
}

// command is one command (or group) of the CLI.
type command struct {
	run  func(c *cli, args []string) error
	help string // one line, for "unknown command" hints
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"slots":      {(*cli).cmdSlots, "list slots and tokens"},
		"token":      {(*cli).cmdToken, "token list|info|init"},
		"pin":        {(*cli).cmdPIN, "pin init|change|unlock"},
		"mechanisms": {(*cli).cmdMechanisms, "list mechanisms"},
		"key":        {(*cli).cmdKey, "key generate"},
		"list":       {(*cli).cmdList, "list objects"},
		"show":       {(*cli).cmdShow, "show objects"},
		"delete":     {(*cli).cmdDelete, "delete objects"},
		"set":        {(*cli).cmdSet, "change attributes"},
		"import":     {(*cli).cmdImport, "import keys and certificates"},
		"export":     {(*cli).cmdExport, "export public keys and certificates"},
		"sign":       {(*cli).cmdSign, "sign data"},
		"verify":     {(*cli).cmdVerify, "verify a signature"},
		"encrypt":    {(*cli).cmdEncrypt, "encrypt data"},
		"decrypt":    {(*cli).cmdDecrypt, "decrypt data"},
		"digest":     {(*cli).cmdDigest, "hash data"},
		"csr":        {(*cli).cmdCSR, "certificate signing request"},
		"cert":       {(*cli).cmdCert, "cert self-sign"},
		"provision":  {(*cli).cmdProvision, "provision from a manifest"},
		"p11kit":     {(*cli).cmdP11Kit, "p11kit install|uninstall"},
		"config":     {(*cli).cmdConfig, "effective configuration"},
		"doctor":     {(*cli).cmdDoctor, "check the installation"},
		"completion": {(*cli).cmdCompletion, "completion bash|zsh|fish"},
		"seal":       {(*cli).cmdSeal, "seal status|migrate (the device root key)"},
		"backup":     {(*cli).cmdBackup, "snapshot the store"},
		"random":     {(*cli).cmdRandom, "random bytes from the token"},
		"data":       {(*cli).cmdData, "data put|get"},
		"derive":     {(*cli).cmdDerive, "ECDH into a token key"},
		"wrap":       {(*cli).cmdWrap, "wrap a key"},
		"unwrap":     {(*cli).cmdUnwrap, "unwrap a key"},
		"restore":    {(*cli).cmdRestore, "restore the store from a backup"},
	}
}

func (c *cli) run(args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(c.stderr, "keyward: internal error: %v (please report this)\n", r)
			code = exitInternal
		}
		if c.conn != nil {
			c.conn.Close()
		}
		if c.offline.stop != nil {
			c.offline.stop()
		}
	}()
	args, err := c.parseGlobal(args)
	if err != nil {
		return c.fail(err)
	}
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		if len(args) > 1 && args[0] == "help" {
			if _, ok := commands[args[1]]; ok {
				return c.run(append(args[1:2:2], append(args[2:], "--help")...))
			}
		}
		fmt.Fprint(c.stdout, usageText)
		return exitOK
	case "--version", "version":
		fmt.Fprintln(c.stdout, versionText())
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return c.fail(usagef("unknown command %q (known: %s; see keyward help)", args[0], knownCommands()))
	}
	if err := cmd.run(c, args[1:]); err != nil {
		return c.fail(err)
	}
	return exitOK
}

func knownCommands() string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// fail prints err as one line and returns its exit code.
func (c *cli) fail(err error) int {
	if err == errHelpShown {
		return exitOK
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	fmt.Fprintln(c.stderr, "keyward: "+msg)
	return exitCode(err)
}
