// Command footprint measures keywardd's memory for `make footprint` (scripts/footprint.sh): it starts the
// given daemon on a fresh store, and prints its resident set size (KiB) idle, the peak over a burst of 8
// concurrent user logins (VmHWM, with the real PIN derivation), and with 10k token objects:
//
//	idle_rss_kib 12345
//	login_peak_kib 67890
//	objects_rss_kib 23456
//
// RSS is the kernel's figure for the process as it runs here; under qemu-user it would be the emulator's, so
// the script runs this natively only.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

const (
	soPIN   = "so-pin-1234"
	userPIN = "user-pin-1234"
	logins  = 8
	objects = 10000
)

func main() {
	daemon := flag.String("daemon", "build/keywardd", "the keywardd binary")
	flag.Parse()
	if err := run(*daemon); err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

func run(daemon string) error {
	dir, err := os.MkdirTemp("", "keyward-footprint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "keyward.sock")
	cmd := exec.Command(daemon, "--user", "--store", filepath.Join(dir, "store"), "--root-key",
		filepath.Join(dir, "root.key"), "--socket", sock, "--idle-exit", "0", "--durability", "batched")
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=default")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", daemon, err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	if err := waitSocket(sock); err != nil {
		return fmt.Errorf("%w; daemon log:\n%s", err, log.String())
	}
	time.Sleep(time.Second) // settle: the start-up garbage is collected
	idle, _, err := rss(pid)
	if err != nil {
		return err
	}
	fmt.Printf("idle_rss_kib %d\n", idle)

	cl, err := client.Dial(sock)
	if err != nil {
		return err
	}
	defer cl.Close()
	slots, err := cl.GetSlotList(true)
	if err != nil || len(slots) == 0 {
		return fmt.Errorf("no slot: %v", err)
	}
	slot := slots[0]
	if err := cl.InitToken(slot, []byte(soPIN), []byte("footprint")); err != nil {
		return fmt.Errorf("init token: %w", err)
	}
	s, err := cl.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		return err
	}
	if err := cl.Login(s, ck.CKU_SO, []byte(soPIN)); err != nil {
		return fmt.Errorf("SO login: %w", err)
	}
	if err := cl.InitPIN(s, []byte(userPIN)); err != nil {
		return fmt.Errorf("init PIN: %w", err)
	}
	if err := cl.Logout(s); err != nil {
		return err
	}

	// The burst: 8 applications log in at once.
	var wg sync.WaitGroup
	errs := make(chan error, logins)
	for i := 0; i < logins; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.Dial(sock)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			ss, err := c.OpenSession(slot, ck.CKF_SERIAL_SESSION)
			if err == nil {
				err = c.Login(ss, ck.CKU_USER, []byte(userPIN))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("concurrent login: %w", err)
		}
	}
	_, peak, err := rss(pid)
	if err != nil {
		return err
	}
	fmt.Printf("login_peak_kib %d\n", peak)

	if err := cl.Login(s, ck.CKU_USER, []byte(userPIN)); err != nil {
		return fmt.Errorf("user login: %w", err)
	}
	for i := 0; i < objects; i++ {
		t := []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA), ck.NewAttribute(ck.CKA_TOKEN, true),
			ck.NewAttribute(ck.CKA_LABEL, fmt.Sprintf("object-%05d", i)),
			ck.NewAttribute(ck.CKA_VALUE, []byte(strings.Repeat("v", 64)))}
		if _, err := cl.CreateObject(s, t); err != nil {
			return fmt.Errorf("object %d: %w", i, err)
		}
	}
	time.Sleep(3 * time.Second) // the batched writes land; the GC runs
	now, _, err := rss(pid)
	if err != nil {
		return err
	}
	fmt.Printf("objects_rss_kib %d\n", now)
	return nil
}

func waitSocket(path string) error {
	for i := 0; i < 200; i++ {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("keywardd did not start")
}

// rss reads VmRSS and VmHWM (KiB) of a process.
func rss(pid int) (cur, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			cur = v
		case "VmHWM:":
			peak = v
		}
	}
	return cur, peak, sc.Err()
}
