package seal

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// TPM2Options configure the tpm2 backend (keywardd.yaml's `tpm2:` section).
type TPM2Options struct {
	// Device is the TPM: a character device (default /dev/tpmrm0, the kernel's resource manager), or for
	// tests a TCTI-style string: swtpm:path=SOCKET (swtpm's Unix socket), swtpm:host=H,port=P, or
	// mssim:host=H,port=P (the Microsoft/IBM simulator's protocol).
	Device string `yaml:"device,omitempty"`
	// PCRs are the PCR indexes the root key is sealed to (e.g. [7], Secure Boot's state); none binds the key
	// to the TPM alone.
	PCRs []int `yaml:"pcrs,omitempty,flow"`
	// PCRBank is the PCR bank of the policy: sha256 (default), sha384 or sha1.
	PCRBank string `yaml:"pcr_bank,omitempty"`
	// PolicyKey, if set, is the PEM public key (ECDSA P-256) of the PCR policy signer: a new seal gets an
	// authorized policy (TPM2_PolicyAuthorize) instead of fixed PCR values, and unseals under any PCR
	// policy the signer signed (tpm2_authorize.go). Firmware updates then need a signed policy, not a re-seal.
	PolicyKey string `yaml:"policy_key,omitempty"`
	// Policies is the directory of signed PCR policies (*.json) for an authorized seal (default: root.policies
	// beside the root key).
	Policies string `yaml:"policies,omitempty"`
	// PINBinding binds every PIN set from now on to the TPM (docs/sealing.md, "PIN-bound seal"): the token
	// key's wrap for the PIN needs a pepper the TPM unseals under a PIN-derived, dictionary-attack protected
	// authorisation value, so the TPM counts every PIN guess, offline ones too. Only with seal: tpm2.
	PINBinding bool `yaml:"pin_binding,omitempty"`
}

// DefaultTPMDevice is the TPM the tpm2 backend uses unless told otherwise.
const DefaultTPMDevice = "/dev/tpmrm0"

// tpm2Backend seals the root key to the TPM: a keyedHash "sealed data" object under the owner hierarchy's
// standard ECC P-256 storage key (the TCG provisioning guidance's SRK template), which is re-created from
// the owner seed each time, so nothing persistent is needed on the TPM. Every command that carries the key
// runs in an HMAC or policy session salted with that storage key and with parameter encryption (AES-128-CFB),
// so the key never crosses the bus in clear and the session cannot be hijacked. With PCRs the object's
// authPolicy is TPM2_PolicyPCR over their values at sealing time, so the TPM unseals it only while they hold
// the same values.
type tpm2Backend struct {
	opts   TPM2Options
	bank   tpm2.TPMIAlgHash
	pcrs   []uint
	signer *tpm2.TPMTPublic // the policy key, for a new authorized seal
}

func newTPM2(o TPM2Options) (backend, error) {
	t := &tpm2Backend{opts: o}
	switch strings.ToLower(o.PCRBank) {
	case "", "sha256":
		t.bank = tpm2.TPMAlgSHA256
	case "sha384":
		t.bank = tpm2.TPMAlgSHA384
	case "sha1":
		t.bank = tpm2.TPMAlgSHA1
	default:
		return nil, sealErr(ErrConfig, nil, fmt.Sprintf("tpm2: unknown pcr_bank %q", o.PCRBank), "use sha256, sha384 or sha1")
	}
	for _, p := range o.PCRs {
		if p < 0 || p > 23 {
			return nil, sealErr(ErrConfig, nil, fmt.Sprintf("tpm2: PCR %d out of range", p), "PCRs are 0 to 23")
		}
		if !slices.Contains(t.pcrs, uint(p)) {
			t.pcrs = append(t.pcrs, uint(p))
		}
	}
	slices.Sort(t.pcrs)
	if o.PolicyKey != "" {
		pub, err := readPolicyKey(o.PolicyKey)
		if err != nil {
			return nil, err
		}
		t.signer = pub
	}
	return t, nil
}

// tpm2Payload is the tpm2 backend's part of the sealed blob.
type tpm2Payload struct {
	bank    tpm2.TPMIAlgHash
	pcrs    []uint
	srkName []byte // the storage key's name: another TPM (or a cleared owner hierarchy) has another
	public  []byte // TPM2B_PUBLIC of the sealed object
	private []byte // TPM2B_PRIVATE of the sealed object
	signer  []byte // TPMT_PUBLIC of the policy key of an authorized policy (version 2), else empty
}

// Payload versions: 1 PCR or no policy, 2 authorized policy (one more field, the signer).
const (
	tpm2PayloadVersion    = 1
	tpm2PayloadAuthorized = 2
)

func (p *tpm2Payload) encode() []byte {
	out := []byte{tpm2PayloadVersion}
	fields := [][]byte{p.srkName, p.public, p.private}
	if len(p.signer) > 0 {
		out[0] = tpm2PayloadAuthorized
		fields = append(fields, p.signer)
	}
	out = binary.BigEndian.AppendUint16(out, uint16(p.bank))
	out = append(out, byte(len(p.pcrs)))
	for _, i := range p.pcrs {
		out = append(out, byte(i))
	}
	for _, f := range fields {
		out = binary.BigEndian.AppendUint16(out, uint16(len(f)))
		out = append(out, f...)
	}
	return out
}

func decodeTPM2Payload(data []byte) (*tpm2Payload, error) {
	bad := sealErr(ErrCorrupt, nil, "the sealed root key's TPM part is malformed", "restore root.seal from a backup")
	if len(data) < 4 || (data[0] != tpm2PayloadVersion && data[0] != tpm2PayloadAuthorized) {
		return nil, bad
	}
	authorized := data[0] == tpm2PayloadAuthorized
	p := &tpm2Payload{bank: tpm2.TPMIAlgHash(binary.BigEndian.Uint16(data[1:]))}
	n := int(data[3])
	data = data[4:]
	if len(data) < n {
		return nil, bad
	}
	for _, i := range data[:n] {
		if i > 23 {
			return nil, bad
		}
		p.pcrs = append(p.pcrs, uint(i))
	}
	data = data[n:]
	fields := []*[]byte{&p.srkName, &p.public, &p.private}
	if authorized {
		fields = append(fields, &p.signer)
	}
	for _, f := range fields {
		if len(data) < 2 || len(data) < 2+int(binary.BigEndian.Uint16(data)) {
			return nil, bad
		}
		l := int(binary.BigEndian.Uint16(data))
		*f = data[2 : 2+l]
		data = data[2+l:]
	}
	if len(data) != 0 || (authorized && len(p.signer) == 0) {
		return nil, bad
	}
	return p, nil
}

func (t *tpm2Backend) describe(payload []byte) string {
	p, err := decodeTPM2Payload(payload)
	if err != nil {
		return "TPM 2.0 (malformed)"
	}
	if len(p.signer) > 0 {
		return "TPM 2.0, authorized PCR policy (signed policies in " + t.policyDir() + ")"
	}
	if len(p.pcrs) == 0 {
		return "TPM 2.0, no PCR policy"
	}
	return "TPM 2.0, PCR policy " + pcrString(p.bank, p.pcrs)
}

func (t *tpm2Backend) sameSeal(payload []byte) bool {
	p, err := decodeTPM2Payload(payload)
	if err != nil || (len(p.signer) > 0) != (t.signer != nil) {
		return false
	}
	if t.signer != nil {
		return slices.Equal(p.signer, tpm2.Marshal(*t.signer))
	}
	return p.bank == t.bank && slices.Equal(p.pcrs, t.pcrs)
}

func (t *tpm2Backend) policyDir() string { return t.opts.Policies }

func pcrString(bank tpm2.TPMIAlgHash, pcrs []uint) string {
	s := make([]string, len(pcrs))
	for i, p := range pcrs {
		s[i] = fmt.Sprint(p)
	}
	name := map[tpm2.TPMIAlgHash]string{tpm2.TPMAlgSHA1: "sha1", tpm2.TPMAlgSHA256: "sha256", tpm2.TPMAlgSHA384: "sha384"}[bank]
	return name + ":" + strings.Join(s, ",")
}

func (t *tpm2Backend) seal(key []byte) ([]byte, error) {
	tpm, err := openTPM(t.opts.Device)
	if err != nil {
		return nil, err
	}
	defer tpm.Close()
	srk, err := createSRK(tpm)
	if err != nil {
		return nil, err
	}
	defer flush(tpm, srk.handle)
	var policy []byte
	switch {
	case t.signer != nil:
		if policy, err = authorizedPolicy(t.signer); err != nil {
			return nil, err
		}
	case len(t.pcrs) > 0:
		if policy, err = PCRPolicyDigest(tpm, t.bank, t.pcrs); err != nil {
			return nil, err
		}
	}
	create := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: srk.handle, Name: srk.name,
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptIn), tpm2.Salted(srk.handle, *srk.public))},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: key}),
		}},
		InPublic: tpm2.New2B(sealedTemplate(policy)),
	}
	rsp, err := create.Execute(tpm)
	if err != nil {
		return nil, tpmErr(err, "sealing the root key")
	}
	p := tpm2Payload{bank: t.bank, pcrs: t.pcrs, srkName: srk.name.Buffer,
		public: tpm2.Marshal(rsp.OutPublic), private: tpm2.Marshal(rsp.OutPrivate)}
	if t.signer != nil {
		p.signer = tpm2.Marshal(*t.signer)
	}
	return p.encode(), nil
}

// sealedTemplate is the sealed object's public area: a keyedHash data object that stays in this TPM
// (fixedTPM, fixedParent). With a policy it is usable only through it (userWithAuth clear); without, with
// its empty authValue. noDA: its authorisation is not a secret someone could guess.
func sealedTemplate(policy []byte) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:     true,
			FixedParent:  true,
			UserWithAuth: len(policy) == 0,
			NoDA:         true,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: policy},
	}
}

func (t *tpm2Backend) unseal(payload []byte) ([]byte, error) {
	p, err := decodeTPM2Payload(payload)
	if err != nil {
		return nil, err
	}
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](p.public)
	if err != nil {
		return nil, sealErr(ErrCorrupt, err, "the sealed object's public area is malformed", "restore root.seal from a backup")
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](p.private)
	if err != nil {
		return nil, sealErr(ErrCorrupt, err, "the sealed object's private area is malformed", "restore root.seal from a backup")
	}
	tpm, err := openTPM(t.opts.Device)
	if err != nil {
		return nil, err
	}
	defer tpm.Close()
	srk, err := createSRK(tpm)
	if err != nil {
		return nil, err
	}
	defer flush(tpm, srk.handle)
	if subtle.ConstantTimeCompare(srk.name.Buffer, p.srkName) != 1 {
		return nil, sealErr(ErrOtherDevice, nil, "the root key was sealed by another TPM (or this TPM's owner hierarchy was cleared): its storage key differs",
			"this store belongs to another device; restore the device's own store, or re-provision this one")
	}
	load := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: srk.handle, Name: srk.name,
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Salted(srk.handle, *srk.public))},
		InPrivate: *priv,
		InPublic:  *pub,
	}
	lr, err := load.Execute(tpm)
	if err != nil {
		return nil, tpmErr(err, "loading the sealed root key")
	}
	defer flush(tpm, lr.ObjectHandle)
	var auth tpm2.Session
	switch {
	case len(p.signer) > 0:
		signer, err := tpm2.Unmarshal[tpm2.TPMTPublic](p.signer)
		if err != nil {
			return nil, sealErr(ErrCorrupt, err, "the sealed blob's policy key is malformed", "restore root.seal from a backup")
		}
		sp, digest, sig, err := approvedPolicy(tpm, t.policyDir(), signer)
		if err != nil {
			return nil, err
		}
		auth = tpm2.Policy(tpm2.TPMAlgSHA256, 16, authorizeCallback(sp, digest, sig, signer),
			tpm2.AESEncryption(128, tpm2.EncryptOut), tpm2.Salted(srk.handle, *srk.public))
	case len(p.pcrs) == 0:
		auth = tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptOut), tpm2.Salted(srk.handle, *srk.public))
	default:
		sel := pcrSelection(p.bank, p.pcrs)
		auth = tpm2.Policy(tpm2.TPMAlgSHA256, 16, func(tpm transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error {
			_, err := tpm2.PolicyPCR{PolicySession: h, Pcrs: sel}.Execute(tpm)
			return err
		}, tpm2.AESEncryption(128, tpm2.EncryptOut), tpm2.Salted(srk.handle, *srk.public))
	}
	ur, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: lr.ObjectHandle, Name: lr.Name, Auth: auth}}.Execute(tpm)
	if err != nil {
		e := tpmErr(err, "unsealing the root key")
		if len(p.pcrs) > 0 && e.Kind == ErrPolicy {
			e.Cause = "the TPM refuses to unseal the root key: PCR " + pcrString(p.bank, p.pcrs) + " changed since it was sealed (firmware, boot loader or Secure Boot settings changed)"
			e.Action = "boot the configuration it was sealed in, or re-provision; after a planned update re-seal first with keyward seal migrate"
		}
		return nil, e
	}
	key := bytes.Clone(ur.OutData.Buffer)
	clear(ur.OutData.Buffer)
	return key, nil
}

type srkInfo struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	public *tpm2.TPMTPublic
}

// createSRK re-creates the owner hierarchy's standard ECC P-256 storage key (the same key each time for the
// same owner seed).
func createSRK(tpm transport.TPM) (*srkInfo, error) {
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tpm)
	if err != nil {
		return nil, tpmErr(err, "creating the storage key")
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush(tpm, rsp.ObjectHandle)
		return nil, sealErr(ErrNoDevice, err, "the TPM returned a malformed storage key", "check the TPM")
	}
	return &srkInfo{handle: rsp.ObjectHandle, name: rsp.Name, public: pub}, nil
}

func flush(tpm transport.TPM, h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(tpm)
}

func pcrSelection(bank tpm2.TPMIAlgHash, pcrs []uint) tpm2.TPMLPCRSelection {
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: bank, PCRSelect: tpm2.PCClientCompatible.PCRs(pcrs...)}}}
}

// PCRPolicyDigest is the SHA-256 policy digest of TPM2_PolicyPCR over the PCRs' current values: what
// `tpm2_createpolicy --policy-pcr -l BANK:PCRS` prints. It reads the PCRs one at a time, in ascending order.
func PCRPolicyDigest(tpm transport.TPM, bank tpm2.TPMIAlgHash, pcrs []uint) ([]byte, error) {
	vals, err := readPCRs(tpm, bank, pcrs)
	if err != nil {
		return nil, err
	}
	return pcrPolicyFromValues(bank, pcrs, slices.Concat(vals...))
}

// readPCRs reads the PCRs' values one at a time (a TPM returns at most 8 per PCR_Read).
func readPCRs(tpm transport.TPM, bank tpm2.TPMIAlgHash, pcrs []uint) ([][]byte, error) {
	var values [][]byte
	for _, i := range pcrs {
		rsp, err := tpm2.PCRRead{PCRSelectionIn: pcrSelection(bank, []uint{i})}.Execute(tpm)
		if err != nil {
			return nil, tpmErr(err, "reading the PCRs")
		}
		if len(rsp.PCRValues.Digests) != 1 {
			return nil, sealErr(ErrConfig, nil, fmt.Sprintf("the TPM has no PCR %d in bank %s", i, pcrString(bank, nil)), "choose another pcr_bank or PCR")
		}
		values = append(values, bytes.Clone(rsp.PCRValues.Digests[0].Buffer))
	}
	return values, nil
}
