package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestSoakAudit runs 16 applications with 4 threads each signing with one token key for a bounded time
// (10 s; KEYWARD_LONG_TESTS=1: 3 minutes) and requires zero errors, then checks that the audit log holds one
// key-use record per signature, each with the application's uid and pid.
func TestSoakAudit(t *testing.T) {
	e := newEnv(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := exec.Command(keywarddPath(t), "--user", "--store", e.Store, "--root-key", e.RootKey,
		"--socket", e.Socket, "--idle-exit", "0", "--log", e.Log, "--audit", audit)
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=fast")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	d := &daemon{t: t, env: e, cmd: cmd, done: make(chan struct{})}
	if err := d.waitReady(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	admin := dial(t, e)
	slots, _ := admin.GetSlotList(true)
	initToken(t, admin, slots[0], "soak", "so-pin-soak", "user-pin-soak")
	s := userSession(t, admin, slots[0], "user-pin-soak")
	p256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	_, _, err := admin.GenerateKeyPair(s, &ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN},
		[]ck.Attribute{ck.NewAttribute(ck.CKA_EC_PARAMS, p256), ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_LABEL, "soak")},
		[]ck.Attribute{ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_LABEL, "soak")})
	if err != nil {
		t.Fatal(err)
	}

	duration := 10 * time.Second
	if longTests() {
		duration = 3 * time.Minute
	}
	var signs, failures atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(duration)
	for app := 0; app < 16; app++ {
		c, err := client.Dial(e.Socket)
		if err != nil {
			t.Fatal(err)
		}
		c.SetTimeout(10 * time.Second)
		defer c.Close()
		tok, err := c.OpenToken("soak", []byte("user-pin-soak"))
		if err != nil {
			t.Fatal(err)
		}
		signer, err := tok.Signer(client.ByLabel("soak"))
		if err != nil {
			t.Fatal(err)
		}
		for th := 0; th < 4; th++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				digest := bytes.Repeat([]byte{7}, 32)
				for time.Now().Before(stop) {
					if _, err := signer.Sign(nil, digest, nil); err != nil {
						if failures.Add(1) < 5 {
							t.Errorf("sign: %v", err)
						}
						continue
					}
					signs.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if failures.Load() != 0 || signs.Load() == 0 {
		t.Fatalf("%d signatures, %d errors", signs.Load(), failures.Load())
	}
	t.Logf("soak: 16 applications x 4 threads, %d signatures in %v, no error", signs.Load(), duration)

	f, err := os.Open(audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	uses := int64(0)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Msg       string `json:"msg"`
			UID       uint32 `json:"uid"`
			PID       int    `json:"pid"`
			Mechanism string `json:"mechanism"`
			Label     string `json:"label"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line is not JSON: %q", sc.Text())
		}
		if ev.Msg != "key use" {
			continue
		}
		if ev.UID != uint32(os.Getuid()) || ev.PID != os.Getpid() || ev.Mechanism != "CKM_ECDSA" || ev.Label != "soak" {
			t.Fatalf("key use record with the wrong identity or key: %s", sc.Text())
		}
		uses++
	}
	if uses != signs.Load() {
		t.Fatalf("the audit log has %d key-use records for %d signatures", uses, signs.Load())
	}
}
