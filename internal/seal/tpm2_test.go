//go:build !notpm2

package seal

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/keyward/keyward/internal/seal/swtpmtest"
)

func tpmOptions(t *testing.T, tp *swtpmtest.TPM, pcrs ...int) Options {
	return Options{Backend: BackendTPM2, KeyPath: filepath.Join(t.TempDir(), "root.key"),
		TPM2: TPM2Options{Device: tp.Device(), PCRs: pcrs}}
}

// TestTPM2Lifecycle seals a new root key on first use and unseals it after a daemon restart (a new Load)
// and after a TPM power cycle, with and without a PCR policy; no clear key is ever written.
func TestTPM2Lifecycle(t *testing.T) {
	tp := swtpmtest.Start(t)
	for _, pcrs := range [][]int{nil, {7}, {0, 7}} {
		o := tpmOptions(t, tp, pcrs...)
		k1, err := Load(o)
		if err != nil {
			t.Fatalf("pcrs %v: first load: %v", pcrs, err)
		}
		if len(k1) != KeySize || bytes.Equal(k1, make([]byte, KeySize)) {
			t.Fatalf("bad key %x", k1)
		}
		if _, err := os.Stat(o.KeyPath); !os.IsNotExist(err) {
			t.Fatalf("a key file %s was written: %v", o.KeyPath, err)
		}
		blobData, err := os.ReadFile(SealPath(o.KeyPath))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(blobData, k1) {
			t.Fatal("the sealed blob holds the key in clear")
		}
		k2, err := Load(o)
		if err != nil || !bytes.Equal(k1, k2) {
			t.Fatalf("pcrs %v: after restart: %v (same key: %v)", pcrs, err, bytes.Equal(k1, k2))
		}
		tp.Restart()
		k3, err := Load(o)
		if err != nil || !bytes.Equal(k1, k3) {
			t.Fatalf("pcrs %v: after power cycle: %v", pcrs, err)
		}
		st := GetStatus(o)
		if st.Backend != BackendTPM2 || st.Err != nil || st.Incomplete {
			t.Fatalf("status %+v", st)
		}
		if len(pcrs) > 0 && !strings.Contains(st.Detail, "PCR policy sha256:") {
			t.Errorf("status detail %q names no PCR policy", st.Detail)
		}
	}
}

// TestTPM2PCRChanged: after a PCR extend (tpm2_pcrextend, as a measured boot of other firmware does) the TPM
// refuses, with ErrPolicy and a message naming the PCRs; a power cycle (PCRs back to their boot values)
// unseals again. The blob is never modified.
func TestTPM2PCRChanged(t *testing.T) {
	tp := swtpmtest.Start(t)
	o := tpmOptions(t, tp, 7)
	k1, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(SealPath(o.KeyPath))
	tpm2Tool(t, tp, "tpm2_pcrextend", "7:sha256="+strings.Repeat("11", 32))
	_, err = Load(o)
	if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "PCR sha256:7 changed") {
		t.Fatalf("after PCR extend: err = %v, want ErrPolicy naming PCR 7", err)
	}
	if st := GetStatus(o); !errors.Is(st.Err, ErrPolicy) {
		t.Fatalf("status after PCR extend: %+v", st)
	}
	// A PCR outside the policy does not matter.
	tp.Restart()
	tpm2Tool(t, tp, "tpm2_pcrextend", "8:sha256="+strings.Repeat("22", 32))
	k2, err := Load(o)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("after power cycle: %v", err)
	}
	after, _ := os.ReadFile(SealPath(o.KeyPath))
	if !bytes.Equal(before, after) {
		t.Fatal("the sealed blob was modified")
	}
	if _, err := os.Stat(o.KeyPath); !os.IsNotExist(err) {
		t.Fatal("a key file appeared")
	}
}

// TestTPM2AnotherDevice: the blob copied to another TPM (a fresh swtpm state: another owner seed) is refused
// with ErrOtherDevice, with and without a PCR policy.
func TestTPM2AnotherDevice(t *testing.T) {
	tp := swtpmtest.Start(t)
	other := swtpmtest.Start(t)
	for _, pcrs := range [][]int{nil, {7}} {
		o := tpmOptions(t, tp, pcrs...)
		if _, err := Load(o); err != nil {
			t.Fatal(err)
		}
		o.TPM2.Device = other.Device()
		if _, err := Load(o); !errors.Is(err, ErrOtherDevice) {
			t.Fatalf("pcrs %v on another TPM: err = %v, want ErrOtherDevice", pcrs, err)
		}
	}
}

// TestTPM2NoTPM: a configured tpm2 seal without a TPM is an error, never a key file.
func TestTPM2NoTPM(t *testing.T) {
	dir := t.TempDir()
	for _, dev := range []string{filepath.Join(dir, "tpmrm0"), "swtpm:path=" + filepath.Join(dir, "none.sock")} {
		o := Options{Backend: BackendTPM2, KeyPath: filepath.Join(dir, "root.key"), TPM2: TPM2Options{Device: dev}}
		_, err := Load(o)
		if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "no TPM at") {
			t.Fatalf("%s: err = %v, want ErrNoDevice", dev, err)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 0 {
			t.Fatalf("%s: files were created: %v", dev, ents)
		}
	}
	// And once sealed, a vanished TPM is the same clear error.
	tp := swtpmtest.Start(t)
	o := tpmOptions(t, tp, 7)
	if _, err := Load(o); err != nil {
		t.Fatal(err)
	}
	tp.Stop()
	if _, err := Load(o); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("TPM stopped: err = %v, want ErrNoDevice", err)
	}
	// The options' bad values are configuration errors.
	for _, to := range []TPM2Options{{Device: "tcp:x"}, {Device: "swtpm:bogus=1"}, {PCRBank: "md5"}, {PCRs: []int{24}}} {
		o := Options{Backend: BackendTPM2, KeyPath: filepath.Join(t.TempDir(), "root.key"), TPM2: to}
		if _, err := Load(o); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err = %v, want ErrConfig", to, err)
		}
	}
}

// TestTPM2CorruptBlob: every single-byte change of the blob (header, payload, TPM areas) is refused, and
// never yields a key.
func TestTPM2CorruptBlob(t *testing.T) {
	tp := swtpmtest.Start(t)
	o := tpmOptions(t, tp, 7)
	key, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	path := SealPath(o.KeyPath)
	good, _ := os.ReadFile(path)
	for i := 0; i < len(good); i += max(1, len(good)/40) {
		bad := bytes.Clone(good)
		bad[i] ^= 0x5a
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Load(o)
		if err == nil {
			t.Fatalf("byte %d flipped: loaded a key (same: %v)", i, bytes.Equal(got, key))
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(after, bad) {
			t.Fatalf("byte %d flipped: the blob was modified", i)
		}
	}
	for _, bad := range [][]byte{nil, good[:10], good[:len(good)-1], append(bytes.Clone(good), 0)} {
		os.WriteFile(path, bad, 0o600)
		if _, err := Load(o); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%d bytes: err = %v, want ErrCorrupt", len(bad), err)
		}
	}
}

// TestTPM2PolicyDigest cross-checks the PCR policy with tpm2-tools: the sealed object's authPolicy is what
// tpm2_createpolicy --policy-pcr computes, and for PCR 7 all zeros (a fresh TPM) it is the digest
// docs/sealing.md gives.
func TestTPM2PolicyDigest(t *testing.T) {
	tp := swtpmtest.Start(t)
	o := tpmOptions(t, tp, 7)
	if _, err := Load(o); err != nil {
		t.Fatal(err)
	}
	got := sealedAuthPolicy(t, SealPath(o.KeyPath))
	const documented = "8b5682d81b29435d08d79278150611dc7e5923b2fefcce684a09577b40130a8b"
	if hex.EncodeToString(got) != documented {
		t.Errorf("authPolicy %x, docs/sealing.md says %s", got, documented)
	}
	tool := tpm2Tool(t, tp, "tpm2_createpolicy", "--policy-pcr", "-l", "sha256:7", "-L", filepath.Join(t.TempDir(), "policy"))
	if want := strings.TrimSpace(tool); hex.EncodeToString(got) != want {
		t.Errorf("authPolicy %x, tpm2_createpolicy says %s", got, want)
	}
	// After an extend both move together.
	tpm2Tool(t, tp, "tpm2_pcrextend", "0:sha256="+strings.Repeat("33", 32))
	o2 := tpmOptions(t, tp, 0, 7)
	if _, err := Load(o2); err != nil {
		t.Fatal(err)
	}
	got = sealedAuthPolicy(t, SealPath(o2.KeyPath))
	tool = tpm2Tool(t, tp, "tpm2_createpolicy", "--policy-pcr", "-l", "sha256:0,7", "-L", filepath.Join(t.TempDir(), "policy"))
	if hex.EncodeToString(got) != strings.TrimSpace(tool) {
		t.Errorf("PCRs 0,7: authPolicy %x, tpm2_createpolicy says %s", got, tool)
	}
}

func sealedAuthPolicy(t *testing.T, path string) []byte {
	t.Helper()
	b, err := readBlobFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodeTPM2Payload(b.payload)
	if err != nil {
		t.Fatal(err)
	}
	pub2b, err := tpm2.Unmarshal[tpm2.TPM2BPublic](p.public)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pub2b.Contents()
	if err != nil {
		t.Fatal(err)
	}
	return pub.AuthPolicy.Buffer
}

// tpm2Tool runs a tpm2-tools program against the test TPM (skipping if tpm2-tools is not installed).
func tpm2Tool(t *testing.T, tp *swtpmtest.TPM, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (tpm2-tools; scripts/install-test-deps.sh installs it)", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), tp.ToolsEnv())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

// TestTPM2BusEncrypted records every byte between keywardd and the TPM (a proxy on the socket) while the
// root key is sealed and unsealed: the key never crosses in clear (parameter encryption in salted
// sessions).
func TestTPM2BusEncrypted(t *testing.T) {
	tp := swtpmtest.Start(t)
	for _, pcrs := range [][]int{nil, {7}} {
		proxy, traffic := recordingProxy(t, tp.Socket())
		o := tpmOptions(t, tp, pcrs...)
		o.TPM2.Device = "swtpm:path=" + proxy
		k1, err := Load(o) // seals
		if err != nil {
			t.Fatal(err)
		}
		k2, err := Load(o) // unseals
		if err != nil || !bytes.Equal(k1, k2) {
			t.Fatalf("unseal through the proxy: %v", err)
		}
		rec := traffic()
		if len(rec) < 1000 {
			t.Fatalf("the proxy saw only %d bytes", len(rec))
		}
		if bytes.Contains(rec, k1[:16]) || bytes.Contains(rec, k1[16:]) {
			t.Fatalf("pcrs %v: the root key crossed the bus in clear", pcrs)
		}
	}
}

// recordingProxy serves a Unix socket that forwards to target and records both directions.
func recordingProxy(t *testing.T, target string) (path string, traffic func() []byte) {
	t.Helper()
	dir, err := os.MkdirTemp("", "kwproxy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path = filepath.Join(dir, "p.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var rec bytes.Buffer
	var wg sync.WaitGroup
	tee := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				mu.Lock()
				rec.Write(buf[:n])
				mu.Unlock()
				dst.Write(buf[:n])
			}
			if err != nil {
				dst.Close()
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go tee(u, c)
			go tee(c, u)
		}
	}()
	return path, func() []byte {
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return bytes.Clone(rec.Bytes())
	}
}

// BenchmarkTPM2Unseal is what a daemon start spends on the root key (swtpm: re-create the storage key, load,
// unseal with a salted, encrypted PCR policy session).
func BenchmarkTPM2Unseal(b *testing.B) {
	tp := swtpmtest.Start(b)
	o := Options{Backend: BackendTPM2, KeyPath: filepath.Join(b.TempDir(), "root.key"), TPM2: TPM2Options{Device: tp.Device(), PCRs: []int{7}}}
	if _, err := Load(o); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Load(o); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTPM2Lockout puts the TPM into dictionary-attack lockout (tpm2_dictionarylockout, then a wrong password on
// a DA-protected object): the error is ErrLockout with its fix, and the root key still unseals, since its
// objects are noDA (another user's guessing must not lock the device's key store).
func TestTPM2Lockout(t *testing.T) {
	tp := swtpmtest.Start(t)
	o := tpmOptions(t, tp, 7)
	key, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	tpm2Tool(t, tp, "tpm2_dictionarylockout", "--setup-parameters", "--max-tries=1", "--recovery-time=600", "--lockout-recovery-time=600")
	tpm, err := openTPM(tp.Device())
	if err != nil {
		t.Fatal(err)
	}
	srk, err := createSRK(tpm)
	if err != nil {
		t.Fatal(err)
	}
	pub := sealedTemplate(nil)
	pub.ObjectAttributes.NoDA = false
	cr, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: srk.handle, Name: srk.name, Auth: tpm2.PasswordAuth(nil)},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			UserAuth: tpm2.TPM2BAuth{Buffer: []byte("right")},
			Data:     tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: []byte("x")}),
		}},
		InPublic: tpm2.New2B(pub),
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	lr, err := tpm2.Load{ParentHandle: tpm2.AuthHandle{Handle: srk.handle, Name: srk.name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate: cr.OutPrivate, InPublic: cr.OutPublic}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for range 3 {
		_, last = tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: lr.ObjectHandle, Name: lr.Name, Auth: tpm2.PasswordAuth([]byte("wrong"))}}.Execute(tpm)
	}
	tpm.Close()
	e := tpmErr(last, "unsealing")
	if !errors.Is(e, ErrLockout) || !strings.Contains(e.Error(), "--clear-lockout") {
		t.Fatalf("after wrong passwords: %v, want ErrLockout with the fix", e)
	}
	got, err := Load(o)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("the root key in DA lockout: %v", err)
	}
}

// TestTPMErrKinds maps TPM response codes to the failure kinds the daemon reports.
func TestTPMErrKinds(t *testing.T) {
	for _, c := range []struct {
		rc   error
		kind error
	}{
		{tpm2.TPMRCRetry, ErrBusy}, {tpm2.TPMRCYielded, ErrBusy}, {tpm2.TPMRCTesting, ErrBusy}, {tpm2.TPMRCObjectMemory, ErrBusy},
		{tpm2.TPMRCLockout, ErrLockout}, {tpm2.TPMRCPolicyFail, ErrPolicy}, {tpm2.TPMRCIntegrity, ErrCorrupt},
		{tpm2.TPMRCInitialize, ErrNoDevice}, {os.ErrClosed, ErrNoDevice},
	} {
		if e := tpmErr(c.rc, "unsealing the root key"); !errors.Is(e, c.kind) || e.Action == "" {
			t.Errorf("%v: %v, want kind %v with an action", c.rc, e, c.kind)
		}
	}
}

// TestTPM2MSSim speaks the Microsoft/IBM simulator's protocol (mssim:host=H,port=P) through a relay that
// implements its command framing (TPM_SEND_COMMAND, locality, size, command; size, response, status) in
// front of swtpm.
func TestTPM2MSSim(t *testing.T) {
	tp := swtpmtest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("unix", tp.Socket())
				if err != nil {
					return
				}
				defer u.Close()
				for {
					var hdr [9]byte
					if _, err := io.ReadFull(c, hdr[:]); err != nil || binary.BigEndian.Uint32(hdr[:4]) != 8 {
						return
					}
					cmd := make([]byte, binary.BigEndian.Uint32(hdr[5:]))
					if _, err := io.ReadFull(c, cmd); err != nil {
						return
					}
					u.Write(cmd)
					rh := make([]byte, 10)
					if _, err := io.ReadFull(u, rh); err != nil {
						return
					}
					rsp := make([]byte, binary.BigEndian.Uint32(rh[2:6]))
					copy(rsp, rh)
					io.ReadFull(u, rsp[10:])
					out := binary.BigEndian.AppendUint32(nil, uint32(len(rsp)))
					out = append(append(out, rsp...), 0, 0, 0, 0)
					c.Write(out)
				}
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	o := tpmOptions(t, tp, 7)
	o.TPM2.Device = "mssim:host=127.0.0.1,port=" + port
	k1, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	o.TPM2.Device = tp.Device()
	if k2, err := Load(o); err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("sealed over mssim, unsealed over swtpm: %v", err)
	}
	ln.Close()
}

// TestTPM2LeftoverSessions: a process killed mid-unseal leaves its sessions and objects loaded in a TPM
// without a resource manager (here swtpm; also /dev/tpm0); the next start flushes them instead of failing
// with TPM_RC_SESSION_MEMORY or TPM_RC_OBJECT_MEMORY.
func TestTPM2LeftoverSessions(t *testing.T) {
	tp := swtpmtest.Start(t)
	o := tpmOptions(t, tp, 7)
	if _, err := Load(o); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		tpm, err := openTPMRaw(tp.Device())
		if err != nil {
			t.Fatal(err)
		}
		// Flushed on the next connection, so leave fresh ones behind on each.
		if _, _, err := tpm2.PolicySession(tpm, tpm2.TPMAlgSHA256, 16); err != nil {
			t.Fatalf("policy session: %v", err)
		}
		if _, _, err := tpm2.HMACSession(tpm, tpm2.TPMAlgSHA256, 16); err != nil {
			t.Fatalf("HMAC session: %v", err)
		}
		if _, err := createSRK(tpm); err != nil {
			t.Fatal(err)
		}
		tpm.Close()
	}
	if _, err := Load(o); err != nil {
		t.Fatalf("after leftover sessions and objects: %v", err)
	}
}
