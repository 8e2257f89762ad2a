package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// keyward seal status|migrate: the device root key's seal (internal/seal, docs/sealing.md). Both work on the
// root key files themselves, not through keywardd: keywardd reads them only when it starts, and migrating the
// key of a running daemon is done with the daemon stopped (with the global --store, the command holds the
// store's lock while it works, so it refuses while a keywardd runs on it).

const sealUsage = `usage: keyward seal status [--root-key FILE | --user] [--tpm DEV] [--config FILE] [--json]
       keyward seal migrate --to file|tpm2|pkcs11|keyring [--pcrs 7 | --policy-key PUB.pem] [--root-key FILE | --user] [--tpm DEV] [--config FILE]
       keyward seal sign-policy --key SIGNER.pem --pcrs 7 [--value 7=HEX ...] [--tpm DEV] [--out FILE]

status says how the device root key is sealed (a key file, or root.seal: TPM 2.0 and its PCR policy, ...)
and whether it opens here; exit 1 if it does not.

migrate seals the root key with another backend, with keywardd stopped: the factory provisions the image
with a key file, first boot seals it to the device's TPM (the key file is then overwritten and removed).
Run again with other --pcrs to re-seal after a policy change (the current seal must still open), or
--to file to unseal it back. Atomic: a crash at any moment leaves a root key that opens with the old or
the new seal; running the command again finishes the job. It is idempotent (already sealed: exit 0).
With --policy-key (or tpm2.policy_key) the seal is an authorized policy: it opens under any PCR policy the
signer signed (JSON files in root.policies beside the root key, or tpm2.policies), so a firmware update
ships a signed policy instead of re-sealing.

sign-policy (the vendor's side) signs the PCR policy of the given PCR values (--value, else the TPM's
current ones) with an ECDSA P-256 private key (PEM) and prints the JSON file to install in root.policies.

The root key is --root-key, else the global --root-key, else /etc/keyward/root.key (--user: the user-mode
daemon's, $XDG_CONFIG_HOME/keyward/root.key). The backends' options (tpm2.device, pkcs11.module ...) come
from the configuration file (--config, else $KEYWARD_CONF); --tpm and --pcrs override them.

examples:
  keyward seal status
  keyward --store /var/lib/keyward seal migrate --to tpm2 --pcrs 7
  keyward seal migrate --to tpm2 --user --tpm swtpm:path=/run/swtpm.sock`

func (c *cli) cmdSeal(args []string) error {
	if len(args) > 0 && args[0] == "sign-policy" {
		return c.sealSignPolicy(args[1:])
	}
	if len(args) == 0 || (args[0] != "status" && args[0] != "migrate") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(c.stdout, sealUsage)
			return errHelpShown
		}
		return usagef("seal: want status, migrate or sign-policy (see keyward seal --help)")
	}
	sub := args[0]
	f := c.newFlags("seal "+sub, sealUsage)
	rootKey := f.String("root-key", "", "the root key file (root.seal is beside it)")
	user := f.Bool("user", false, "the user-mode daemon's root key")
	tpm := f.String("tpm", "", "the TPM: /dev/tpmrm0 (default), swtpm:path=SOCKET, mssim:host=H,port=P")
	cfgPath := f.String("config", c.getenv("KEYWARD_CONF"), "keywardd's configuration file (backend options)")
	var to, pcrs, policyKey *string
	if sub == "migrate" {
		to = f.String("to", "", "the backend to seal with: file, tpm2, pkcs11, keyring")
		policyKey = f.String("policy-key", "", "tpm2: seal to an authorized policy of this ECDSA P-256 public key (PEM)")
		pcrs = f.String("pcrs", "", `PCRs to bind a tpm2 seal to, e.g. "7" or "0,7" (default: the configuration's tpm2.pcrs; "none": none)`)
	} else {
		f.withJSON()
	}
	if _, err := f.parseArgs(args[1:], 0, 0, "keyward seal "+sub); err != nil {
		return err
	}
	keyPath := *rootKey
	switch {
	case keyPath != "":
	case c.offline.rootKey != "":
		keyPath = c.offline.rootKey
	case *user:
		keyPath = c.userRootKey()
	default:
		keyPath = defaultRootKey
	}
	o, err := c.sealOptions(*cfgPath, keyPath)
	if err != nil {
		return err
	}
	if *tpm != "" {
		o.TPM2.Device = *tpm
	}
	// Root (a first-boot unit) works on the daemon user's files, and keeps their owner.
	o.ForeignOwner = os.Getuid() == 0
	if sub == "status" {
		return c.sealStatus(o, *f.json)
	}
	if *to == "" {
		return usagef("seal migrate: --to is required (file, tpm2, pkcs11, keyring)")
	}
	if err := seal.CheckBackend(*to); err != nil {
		return usagef("seal migrate: %v", err)
	}
	switch {
	case *pcrs == "none":
		o.TPM2.PCRs = nil
	case *pcrs != "":
		o.TPM2.PCRs = nil
		for p := range strings.SplitSeq(*pcrs, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 0 || n > 23 {
				return usagef("seal migrate: --pcrs: %q is not a PCR index (0-23)", p)
			}
			o.TPM2.PCRs = append(o.TPM2.PCRs, n)
		}
	}
	if *policyKey != "" {
		o.TPM2.PolicyKey = *policyKey
	}
	if c.offline.store != "" {
		st, err := store.Open(c.offline.store)
		if errors.Is(err, store.ErrLocked) {
			return failf("the store %s is in use by a running keywardd: stop it first (it reads the root key only when it starts)", c.offline.store)
		}
		if err != nil {
			return failf("cannot open the store %s: %v", c.offline.store, err)
		}
		defer st.Close()
	}
	msg, err := seal.Migrate(o, *to)
	if err != nil {
		return failf("seal migrate: %v", strings.TrimPrefix(err.Error(), "seal: "))
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
}

// sealStatusJSON is `keyward seal status --json`.
type sealStatusJSON struct {
	Backend    string `json:"backend"`
	Detail     string `json:"detail,omitempty"`
	KeyFile    string `json:"key_file,omitempty"`
	SealedBlob string `json:"sealed_blob,omitempty"`
	Incomplete bool   `json:"migration_incomplete,omitempty"`
	Opens      bool   `json:"opens"`
	Error      string `json:"error,omitempty"`
}

func (c *cli) sealStatus(o seal.Options, asJSON bool) error {
	st := seal.GetStatus(o)
	j := sealStatusJSON{Backend: st.Backend, Detail: st.Detail, Incomplete: st.Incomplete, Opens: st.Err == nil && st.Backend != ""}
	if st.FilePresent {
		j.KeyFile = st.KeyPath
	}
	if st.SealPresent {
		j.SealedBlob = st.SealPath
	}
	if st.Err != nil {
		j.Error = strings.TrimPrefix(st.Err.Error(), "seal: ")
	}
	if asJSON {
		if err := c.printJSON(j); err != nil {
			return err
		}
	} else {
		switch {
		case st.Backend == "":
			fmt.Fprintf(c.stdout, "no root key yet at %s (keywardd creates one on first start)\n", o.KeyPath)
		default:
			fmt.Fprintf(c.stdout, "seal:    %s (%s)\n", st.Backend, st.Detail)
			if st.SealPresent {
				fmt.Fprintf(c.stdout, "blob:    %s\n", st.SealPath)
			}
			if st.FilePresent {
				fmt.Fprintf(c.stdout, "file:    %s\n", st.KeyPath)
			}
			if st.Incomplete {
				fmt.Fprintln(c.stdout, "warning: a migration was interrupted (the key file is still there): run keyward seal migrate again")
			}
			if st.Err == nil {
				fmt.Fprintln(c.stdout, "opens:   yes")
			} else {
				fmt.Fprintf(c.stdout, "opens:   no: %s\n", j.Error)
			}
		}
	}
	if st.Err != nil {
		return failf("the root key does not open here")
	}
	return nil
}

// sealOptions are the configuration file's seal options (none without a file) for keyPath.
func (c *cli) sealOptions(cfgPath, keyPath string) (seal.Options, error) {
	if cfgPath == "" {
		return seal.Options{KeyPath: keyPath}, nil
	}
	fc, err := config.Load(cfgPath)
	if err != nil {
		return seal.Options{}, failf("cannot read the configuration: %v", unwrapPathErr(err))
	}
	return fc.SealOptions(keyPath), nil
}

// loadRootKey loads the root key for offline mode with the configuration's seal settings ($KEYWARD_CONF);
// it creates one only for a store without tokens.
func (c *cli) loadRootKey(keyPath string, st *store.Store) ([]byte, error) {
	o, err := c.sealOptions(c.getenv("KEYWARD_CONF"), keyPath)
	if err != nil {
		return nil, err
	}
	toks, err := st.Tokens()
	o.NoCreate = err != nil || len(toks) > 0
	return seal.Load(o)
}

func (c *cli) userRootKey() string {
	conf := c.getenv("XDG_CONFIG_HOME")
	if conf == "" {
		home, _ := os.UserHomeDir()
		conf = filepath.Join(home, ".config")
	}
	return filepath.Join(conf, "keyward", "root.key")
}

// doctorSeal adds the root key's seal to keyward doctor: how it is sealed and whether it opens (when this
// user can read it); it reports whether it checked (root.seal exists).
func (c *cli) doctorSeal(keyPath string, add func(name, status, format string, a ...any)) bool {
	o, err := c.sealOptions(c.getenv("KEYWARD_CONF"), keyPath)
	if err != nil {
		add("seal", "warn", "%v", err)
		return false
	}
	o.ForeignOwner = os.Getuid() == 0
	sealPath := seal.SealPath(keyPath)
	if _, err := os.Stat(sealPath); err != nil {
		if o.Backend != "" && o.Backend != seal.BackendFile {
			add("seal", "warn", "seal: %s is configured but %s does not exist yet (keyward seal migrate --to %s)", o.Backend, sealPath, o.Backend)
		}
		return false
	}
	st := seal.GetStatus(o)
	switch {
	case errors.Is(st.Err, os.ErrPermission):
		add("seal", "ok", "%s is not readable by this user (as it should be for another user's daemon)", sealPath)
	case st.Err != nil:
		add("seal", "fail", "%s", strings.TrimPrefix(st.Err.Error(), "seal: "))
	case st.Incomplete:
		add("seal", "warn", "%s (%s); a migration was interrupted: run keyward seal migrate again", st.Backend, st.Detail)
	default:
		add("seal", "ok", "%s: %s, opens", sealPath, st.Detail)
	}
	return true
}

// sealSignPolicy is `keyward seal sign-policy`: the vendor signs the PCR policy of a firmware.
func (c *cli) sealSignPolicy(args []string) error {
	f := c.newFlags("seal sign-policy", sealUsage)
	keyPath := f.String("key", "", "the policy signer's ECDSA P-256 private key (PEM)")
	pcrList := f.String("pcrs", "7", "the PCRs of the policy")
	bank := f.String("bank", "sha256", "the PCR bank")
	tpm := f.String("tpm", "", "read the PCR values not given with --value from this TPM")
	out := f.String("out", "", "write the signed policy here (default: standard output)")
	var values []string
	f.Func("value", "a PCR's value, INDEX=HEX (repeatable; default: the TPM's current value)", func(v string) error {
		values = append(values, v)
		return nil
	})
	if _, err := f.parseArgs(args, 0, 0, "keyward seal sign-policy"); err != nil {
		return err
	}
	if *keyPath == "" {
		return usagef("seal sign-policy: --key is required")
	}
	var pcrs []int
	for p := range strings.SplitSeq(*pcrList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 || n > 23 {
			return usagef("seal sign-policy: --pcrs: %q is not a PCR index (0-23)", p)
		}
		pcrs = append(pcrs, n)
	}
	slices.Sort(pcrs)
	pcrs = slices.Compact(pcrs)
	given := map[int][]byte{}
	for _, v := range values {
		i, h, ok := strings.Cut(v, "=")
		n, err := strconv.Atoi(i)
		b, herr := hex.DecodeString(strings.TrimPrefix(h, "0x"))
		if !ok || err != nil || herr != nil || !slices.Contains(pcrs, n) {
			return usagef("seal sign-policy: --value %q: want INDEX=HEX for one of --pcrs", v)
		}
		given[n] = b
	}
	vals := make([][]byte, len(pcrs))
	var missing []int
	for i, p := range pcrs {
		if v, ok := given[p]; ok {
			vals[i] = v
		} else {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		cur, err := seal.CurrentPCRValues(*tpm, *bank, missing)
		if err != nil {
			return failf("seal sign-policy: reading PCRs %v: %v", missing, strings.TrimPrefix(err.Error(), "seal: "))
		}
		for i, p := range pcrs {
			if vals[i] == nil {
				vals[i], cur = cur[0], cur[1:]
				_ = p
			}
		}
	}
	data, err := os.ReadFile(*keyPath)
	if err != nil {
		return failf("seal sign-policy: %v", unwrapPathErr(err))
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return failf("seal sign-policy: %s is not PEM", *keyPath)
	}
	var key *ecdsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		key, _ = k.(*ecdsa.PrivateKey)
	} else if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		key = k
	}
	if key == nil {
		return failf("seal sign-policy: %s is not an ECDSA private key", *keyPath)
	}
	sp, err := seal.SignPCRPolicy(key, *bank, pcrs, vals)
	if err != nil {
		return failf("seal sign-policy: %v", strings.TrimPrefix(err.Error(), "seal: "))
	}
	js, _ := json.MarshalIndent(sp, "", "  ")
	js = append(js, '\n')
	if *out == "" {
		_, err = c.stdout.Write(js)
		return err
	}
	return os.WriteFile(*out, js, 0o644)
}
