package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// sealFlags are the command-line settings of the device root key's seal; they override the configuration
// file's seal:, tpm2.device and tpm2.pcrs.
type sealFlags struct {
	backend string
	tpm     string
	pcrs    string
}

func (s *sealFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.backend, "seal", "", "the device root key's seal: file, tpm2, pkcs11 or keyring (default: the configuration's seal:, else whatever is on disk, else a key file); never falls back to a weaker one (docs/sealing.md)")
	fs.StringVar(&s.tpm, "tpm", "", "the TPM for --seal tpm2: /dev/tpmrm0 (default), swtpm:path=SOCKET or mssim:host=H,port=P")
	fs.StringVar(&s.pcrs, "pcrs", "", `PCRs a new tpm2 seal is bound to, e.g. "7" or "0,7" (default: the configuration's tpm2.pcrs)`)
}

// options are the seal options for the root key file keyPath: the configuration's, then the flags.
func (s *sealFlags) options(fc *config.File, keyPath string) (seal.Options, error) {
	o := seal.Options{KeyPath: keyPath}
	if fc != nil {
		o = fc.SealOptions(keyPath)
	}
	if s.backend != "" {
		o.Backend = s.backend
	}
	if s.tpm != "" {
		o.TPM2.Device = s.tpm
	}
	if s.pcrs != "" {
		pcrs, err := parsePCRs(s.pcrs)
		if err != nil {
			return o, fmt.Errorf("--pcrs: %w", err)
		}
		o.TPM2.PCRs = pcrs
	}
	return o, seal.CheckBackend(o.Backend)
}

// parsePCRs parses "7" or "0,7".
func parsePCRs(s string) ([]int, error) {
	var pcrs []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > 23 {
			return nil, fmt.Errorf("%q is not a PCR index (0-23)", f)
		}
		pcrs = append(pcrs, n)
	}
	return pcrs, nil
}

// loadRootKey loads (or on first start creates) the device root key. On failure it logs one line naming the
// cause and what to do, records it in the audit log if one is open, and the daemon does not serve; the store
// is not touched.
func loadRootKey(sf *sealFlags, fc *config.File, keyPath string, st *store.Store, log, audit *slog.Logger) ([]byte, error) {
	o, err := sf.options(fc, keyPath)
	// A store with tokens was made with a root key: never create another one for it.
	toks, terr := st.Tokens()
	o.NoCreate = terr != nil || len(toks) > 0
	if err == nil {
		var key []byte
		if key, err = seal.Load(o); err == nil {
			st := seal.Describe(o)
			log.Info("device root key loaded", "seal", st.Backend, "detail", st.Detail, "path", pathOf(st))
			if st.Incomplete {
				log.Warn("a seal migration was interrupted: root.key (or its erase file) is still beside root.seal; run keyward seal migrate again to finish it", "path", st.KeyPath)
			}
			return key, nil
		}
	}
	path := keyPath
	if o.Backend != "" && o.Backend != seal.BackendFile {
		path = seal.SealPath(keyPath)
	}
	args := []any{"seal", o.Backend, "path", path, "err", err}
	var se *seal.Error
	if errors.As(err, &se) {
		args = []any{"seal", o.Backend, "path", path, "cause", se.Cause, "fix", se.Action}
		if se.Err != nil {
			args = append(args, "detail", se.Err.Error())
		}
	}
	log.Error("the device root key is unavailable: not serving", args...)
	if audit != nil {
		audit.Error("root key unavailable", args...)
	}
	return nil, err
}

func pathOf(st seal.Status) string {
	if st.SealPresent {
		return st.SealPath
	}
	return st.KeyPath
}

// pinSeal is the engine's PIN-bound seal (docs/sealing.md, "PIN-bound seal"): the root key's TPM when the root
// key is sealed with tpm2 (PIN records bound to it open whatever tpm2.pin_binding says), and whether PINs set
// from now on are bound (tpm2.pin_binding, which needs the tpm2 seal).
func pinSeal(sf *sealFlags, fc *config.File, keyPath string) (engine.PINSealer, bool, error) {
	o, err := sf.options(fc, keyPath)
	if err != nil {
		return nil, false, err
	}
	bind := fc != nil && fc.TPM2 != nil && fc.TPM2.PINBinding
	if seal.Describe(o).Backend != seal.BackendTPM2 {
		if bind {
			return nil, false, errors.New("tpm2.pin_binding needs the root key sealed with tpm2 (seal: tpm2)")
		}
		return nil, false, nil
	}
	return seal.NewPINSeal(o.TPM2), bind, nil
}
