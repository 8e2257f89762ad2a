//go:build !notpm2

package seal

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/keyward/keyward/internal/seal/swtpmtest"
)

// TestTPM2AuthorizedPolicy is the firmware-update flow: the root key sealed to the vendor's policy key
// (TPM2_PolicyAuthorize) opens under a signed PCR 7 policy; after a PCR 7 change (the update) it is refused
// until the vendor's signed policy for the new value is installed, and then opens with the same root.seal;
// a policy signed by another key, or altered, never opens it.
func TestTPM2AuthorizedPolicy(t *testing.T) {
	tp := swtpmtest.Start(t)
	vendor, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	pubPath := filepath.Join(dir, "policy-key.pem")
	der, _ := x509.MarshalPKIXPublicKey(&vendor.PublicKey)
	os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	o := tpmOptions(t, tp)
	o.TPM2.PolicyKey = pubPath
	policies := filepath.Join(filepath.Dir(o.KeyPath), "root.policies")
	os.Mkdir(policies, 0o700)
	install := func(name string, key *ecdsa.PrivateKey, values [][]byte) {
		t.Helper()
		sp, err := SignPCRPolicy(key, "sha256", []int{7}, values)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(sp)
		os.WriteFile(filepath.Join(policies, name), data, 0o644)
	}
	zero := [][]byte{make([]byte, 32)}
	install("fw1.json", vendor, zero)
	k1, err := Load(o)
	if err != nil {
		t.Fatalf("first seal: %v", err)
	}
	if st := GetStatus(o); st.Err != nil || !strings.Contains(st.Detail, "authorized PCR policy") {
		t.Fatalf("status %+v", st)
	}
	blob, _ := os.ReadFile(SealPath(o.KeyPath))
	tp.Restart()
	if k, err := Load(o); err != nil || !bytes.Equal(k, k1) {
		t.Fatalf("after a power cycle: %v", err)
	}
	// The firmware update measures something new into PCR 7.
	measurement := bytes.Repeat([]byte{0x66}, 32)
	tpm2Tool(t, tp, "tpm2_pcrextend", "7:sha256="+strings.Repeat("66", 32))
	if _, err := Load(o); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "matches the current PCR values") {
		t.Fatalf("after the update without a signed policy: %v", err)
	}
	newPCR := sha256.Sum256(slices.Concat(zero[0], measurement))
	// An attacker's key signing the new value does not help.
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	install("evil.json", attacker, [][]byte{newPCR[:]})
	if _, err := Load(o); !errors.Is(err, ErrPolicy) {
		t.Fatalf("a policy signed by another key: %v", err)
	}
	// The vendor's signed policy for the new firmware: the same blob opens.
	install("fw2.json", vendor, [][]byte{newPCR[:]})
	k2, err := Load(o)
	if err != nil || !bytes.Equal(k2, k1) {
		t.Fatalf("after installing the signed policy: %v", err)
	}
	if after, _ := os.ReadFile(SealPath(o.KeyPath)); !bytes.Equal(after, blob) {
		t.Fatal("root.seal changed")
	}
	// An altered policy (the digest of other PCR values with the vendor's signature) is ignored.
	var sp SignedPolicy
	data, _ := os.ReadFile(filepath.Join(policies, "fw2.json"))
	json.Unmarshal(data, &sp)
	os.Remove(filepath.Join(policies, "fw2.json"))
	sp.Policy = strings.Repeat("00", 32)
	data, _ = json.Marshal(sp)
	os.WriteFile(filepath.Join(policies, "fw2.json"), data, 0o644)
	if _, err := Load(o); !errors.Is(err, ErrPolicy) {
		t.Fatalf("an altered policy: %v", err)
	}
	// The TPM itself enforces it: skipping keywardd's own signature check, a forged policy is refused by
	// TPM2_VerifySignature.
	tpm, err := openTPM(tp.Device())
	if err != nil {
		t.Fatal(err)
	}
	signer := eccSignerPublic(&vendor.PublicKey)
	digest, _ := PCRPolicyDigestOf("sha256", []int{7}, [][]byte{newPCR[:]})
	forged, _ := SignPCRPolicy(attacker, "sha256", []int{7}, [][]byte{newPCR[:]})
	sig, _ := hexDecode(forged.Signature)
	genuine, _ := SignPCRPolicy(vendor, "sha256", []int{7}, [][]byte{newPCR[:]})
	gsig, _ := hexDecode(genuine.Signature)
	errGenuine := runPolicy(tpm, authorizeCallback(genuine, digest, gsig, signer))
	err = runPolicy(tpm, authorizeCallback(forged, digest, sig, signer))
	tpm.Close() // swtpm serves one connection at a time
	if errGenuine != nil {
		t.Fatalf("the TPM refused the vendor's policy: %v", errGenuine)
	}
	if !errors.Is(err, tpm2.TPMRCSignature) {
		t.Fatalf("a policy signed by another key: %v, want TPM_RC_SIGNATURE", err)
	}
	// Re-sealing (migrate) to fixed PCRs and back keeps the key.
	o2 := o
	o2.TPM2.PolicyKey = ""
	o2.TPM2.PCRs = []int{7}
	install("fw2.json", vendor, [][]byte{newPCR[:]})
	if _, err := Migrate(o2, BackendTPM2); err != nil {
		t.Fatal(err)
	}
	if msg, err := Migrate(o, BackendTPM2); err != nil || !strings.Contains(msg, "authorized") {
		t.Fatalf("re-seal to the authorized policy: %q %v", msg, err)
	}
}

// TestPCRPolicyDigestOf: the offline digest a vendor signs equals what the TPM computes (and the documented
// value for PCR 7 all zeros).
func TestPCRPolicyDigestOf(t *testing.T) {
	d, err := PCRPolicyDigestOf("sha256", []int{7}, [][]byte{make([]byte, 32)})
	if err != nil || hexEncode(d) != "8b5682d81b29435d08d79278150611dc7e5923b2fefcce684a09577b40130a8b" {
		t.Fatalf("%x %v", d, err)
	}
	if _, err := PCRPolicyDigestOf("sha256", []int{7, 0}, [][]byte{make([]byte, 32)}); err == nil {
		t.Fatal("accepted too few values")
	}
}

// runPolicy starts a policy session, runs cb in it and flushes it (tests: does the TPM accept a policy?).
func runPolicy(tpm transport.TPM, cb func(tpm transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error) error {
	sess, closer, err := tpm2.PolicySession(tpm, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		return err
	}
	defer closer()
	return cb(tpm, sess.Handle(), sess.NonceTPM())
}

func hexEncode(b []byte) string          { return hex.EncodeToString(b) }
func hexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }
