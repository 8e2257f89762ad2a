//go:build !notpm2

package seal

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// An authorized policy (TPM2_PolicyAuthorize) lets a firmware update re-seal without touching the blob: the
// sealed object's authPolicy names a signing key (tpm2.policy_key, ECDSA P-256) instead of PCR values, and
// the TPM unseals whenever the current PCR values match a PCR policy that key signed. The vendor signs the
// PCR policy of each new firmware (keyward seal sign-policy) and ships it into tpm2.policies; the device
// keeps the same root.seal across updates.
//
//	authPolicy   = SHA-256(SHA-256(0³² ‖ TPM_CC_PolicyAuthorize ‖ name(signer)) ‖ policyRef)
//	signature    = ECDSA-P256-SHA-256(approvedPolicy ‖ policyRef)
//
// where approvedPolicy is the TPM2_PolicyPCR digest of the PCR values (PCRPolicyDigestOf) and policyRef is
// "keyward root key", so a signature the same key made for another purpose does not open the root key.

// policyRef scopes the signer's signatures to the root key.
const policyRef = "keyward root key"

// PCRPolicyDigestOf is the TPM2_PolicyPCR digest (SHA-256 policy) of the given PCR values, in ascending PCR
// order, with no TPM: what a vendor signs for a firmware whose PCR values it knows.
func PCRPolicyDigestOf(bank string, pcrs []int, values [][]byte) ([]byte, error) {
	t, err := newTPM2(TPM2Options{PCRBank: bank, PCRs: pcrs})
	if err != nil {
		return nil, err
	}
	b := t.(*tpm2Backend)
	if len(values) != len(b.pcrs) {
		return nil, fmt.Errorf("seal: %d PCR values for %d PCRs", len(values), len(b.pcrs))
	}
	return pcrPolicyFromValues(b.bank, b.pcrs, slices.Concat(values...))
}

func pcrPolicyFromValues(bank tpm2.TPMIAlgHash, pcrs []uint, concat []byte) ([]byte, error) {
	sum := sha256.Sum256(concat)
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, fmt.Errorf("seal: policy: %w", err)
	}
	if err := (tpm2.PolicyPCR{PcrDigest: tpm2.TPM2BDigest{Buffer: sum[:]}, Pcrs: pcrSelection(bank, pcrs)}).Update(calc); err != nil {
		return nil, fmt.Errorf("seal: policy: %w", err)
	}
	return calc.Hash().Digest, nil
}

// CurrentPCRValues reads the PCRs' current values from the TPM at device.
func CurrentPCRValues(device, bank string, pcrs []int) ([][]byte, error) {
	t, err := newTPM2(TPM2Options{Device: device, PCRBank: bank, PCRs: pcrs})
	if err != nil {
		return nil, err
	}
	b := t.(*tpm2Backend)
	tpm, err := openTPM(device)
	if err != nil {
		return nil, err
	}
	defer tpm.Close()
	return readPCRs(tpm, b.bank, b.pcrs)
}

// SignPCRPolicy signs the PCR policy of values (ascending PCR order) with the vendor's key.
func SignPCRPolicy(key *ecdsa.PrivateKey, bank string, pcrs []int, values [][]byte) (*SignedPolicy, error) {
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("seal: the policy key must be ECDSA P-256")
	}
	digest, err := PCRPolicyDigestOf(bank, pcrs, values)
	if err != nil {
		return nil, err
	}
	aHash := sha256.Sum256(append(slices.Clone(digest), policyRef...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, aHash[:])
	if err != nil {
		return nil, fmt.Errorf("seal: sign the policy: %w", err)
	}
	if bank == "" {
		bank = "sha256"
	}
	sorted := slices.Clone(pcrs)
	sort.Ints(sorted)
	return &SignedPolicy{Version: 1, Bank: bank, PCRs: slices.Compact(sorted), Policy: hex.EncodeToString(digest), Signature: hex.EncodeToString(sig)}, nil
}

// readPolicyKey reads an ECDSA P-256 public key (PEM, SubjectPublicKeyInfo) as a TPM public area.
func readPolicyKey(path string) (*tpm2.TPMTPublic, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, sealErr(ErrConfig, err, "tpm2: cannot read policy_key", "point tpm2.policy_key at the policy signer's public key (PEM)")
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, sealErr(ErrConfig, nil, fmt.Sprintf("tpm2: %s is not PEM", path), "give the policy signer's public key in PEM")
	}
	pk, err := x509.ParsePKIXPublicKey(blk.Bytes)
	ec, ok := pk.(*ecdsa.PublicKey)
	if err != nil || !ok || ec.Curve != elliptic.P256() {
		return nil, sealErr(ErrConfig, err, fmt.Sprintf("tpm2: %s is not an ECDSA P-256 public key", path), "use an ECDSA P-256 policy key")
	}
	return eccSignerPublic(ec), nil
}

func eccSignerPublic(ec *ecdsa.PublicKey) *tpm2.TPMTPublic {
	pt, _ := ec.Bytes() // uncompressed: 04 ‖ X ‖ Y
	return &tpm2.TPMTPublic{
		Type:             tpm2.TPMAlgECC,
		NameAlg:          tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{SignEncrypt: true},
		Parameters:       tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{CurveID: tpm2.TPMECCNistP256}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: pt[1:33]}, Y: tpm2.TPM2BECCParameter{Buffer: pt[33:]}}),
	}
}

// authorizedPolicy is the authPolicy for the signer.
func authorizedPolicy(signer *tpm2.TPMTPublic) ([]byte, error) {
	name, err := tpm2.ObjectName(signer)
	if err != nil {
		return nil, fmt.Errorf("seal: policy key name: %w", err)
	}
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, err
	}
	if err := (tpm2.PolicyAuthorize{KeySign: *name, PolicyRef: tpm2.TPM2BDigest{Buffer: []byte(policyRef)}}).Update(calc); err != nil {
		return nil, err
	}
	return calc.Hash().Digest, nil
}

// approvedPolicy finds a signed policy in dir that matches the current PCR values and verifies under signer.
func approvedPolicy(tpm transport.TPM, dir string, signer *tpm2.TPMTPublic) (*SignedPolicy, []byte, []byte, error) {
	ents, _ := os.ReadDir(dir)
	ec, err := signerECDSA(signer)
	if err != nil {
		return nil, nil, nil, sealErr(ErrCorrupt, err, "the sealed blob's policy key is malformed", "restore root.seal from a backup")
	}
	checked := 0
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var sp SignedPolicy
		if json.Unmarshal(data, &sp) != nil || sp.Version != 1 {
			continue
		}
		digest, err1 := hex.DecodeString(sp.Policy)
		sig, err2 := hex.DecodeString(sp.Signature)
		t, err3 := newTPM2(TPM2Options{PCRBank: sp.Bank, PCRs: sp.PCRs})
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		aHash := sha256.Sum256(append(slices.Clone(digest), policyRef...))
		if !ecdsa.VerifyASN1(ec, aHash[:], sig) {
			continue
		}
		checked++
		b := t.(*tpm2Backend)
		vals, err := readPCRs(tpm, b.bank, b.pcrs)
		if err != nil {
			return nil, nil, nil, err
		}
		cur, err := pcrPolicyFromValues(b.bank, b.pcrs, slices.Concat(vals...))
		if err == nil && slices.Equal(cur, digest) {
			return &sp, digest, sig, nil
		}
	}
	return nil, nil, nil, sealErr(ErrPolicy, nil,
		fmt.Sprintf("the TPM would refuse the root key: none of the %d policies signed by the policy key in %s matches the current PCR values", checked, dir),
		"install the signed PCR policy for this firmware (keyward seal sign-policy), or boot a firmware that has one")
}

// signerECDSA is the policy key of a blob as an ECDSA P-256 key; anything else is an error.
func signerECDSA(pub *tpm2.TPMTPublic) (*ecdsa.PublicKey, error) {
	if pub.Type != tpm2.TPMAlgECC {
		return nil, fmt.Errorf("policy key of type %v, want ECC", pub.Type)
	}
	parms, err := pub.Parameters.ECCDetail()
	if err != nil {
		return nil, err
	}
	pt, err := pub.Unique.ECC()
	if err != nil {
		return nil, err
	}
	if parms.CurveID != tpm2.TPMECCNistP256 {
		return nil, fmt.Errorf("policy key on curve %v, want P-256", parms.CurveID)
	}
	return tpm2.ECDSAPub(parms, pt)
}

// authorizeCallback runs PolicyPCR for sp's PCRs, then PolicyAuthorize with the TPM-verified signature.
func authorizeCallback(sp *SignedPolicy, digest, sig []byte, signer *tpm2.TPMTPublic) func(tpm transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error {
	return func(tpm transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error {
		t, _ := newTPM2(TPM2Options{PCRBank: sp.Bank, PCRs: sp.PCRs})
		b := t.(*tpm2Backend)
		if _, err := (tpm2.PolicyPCR{PolicySession: h, Pcrs: pcrSelection(b.bank, b.pcrs)}).Execute(tpm); err != nil {
			return err
		}
		ext, err := tpm2.LoadExternal{InPublic: tpm2.New2B(*signer), Hierarchy: tpm2.TPMRHOwner}.Execute(tpm)
		if err != nil {
			return err
		}
		defer flush(tpm, ext.ObjectHandle)
		var esig struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(sig, &esig); err != nil {
			return fmt.Errorf("signature: %w", err)
		}
		aHash := sha256.Sum256(append(slices.Clone(digest), policyRef...))
		vr, err := tpm2.VerifySignature{
			KeyHandle: tpm2.NamedHandle{Handle: ext.ObjectHandle, Name: ext.Name},
			Digest:    tpm2.TPM2BDigest{Buffer: aHash[:]},
			Signature: tpm2.TPMTSignature{SigAlg: tpm2.TPMAlgECDSA, Signature: tpm2.NewTPMUSignature(tpm2.TPMAlgECDSA, &tpm2.TPMSSignatureECC{
				Hash:       tpm2.TPMAlgSHA256,
				SignatureR: tpm2.TPM2BECCParameter{Buffer: esig.R.FillBytes(make([]byte, 32))},
				SignatureS: tpm2.TPM2BECCParameter{Buffer: esig.S.FillBytes(make([]byte, 32))},
			})},
		}.Execute(tpm)
		if err != nil {
			return err
		}
		_, err = tpm2.PolicyAuthorize{PolicySession: h, ApprovedPolicy: tpm2.TPM2BDigest{Buffer: digest},
			PolicyRef: tpm2.TPM2BDigest{Buffer: []byte(policyRef)}, KeySign: ext.Name, CheckTicket: vr.Validation}.Execute(tpm)
		return err
	}
}
