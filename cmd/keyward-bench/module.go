package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
	"golang.org/x/sys/unix"
)

const tokenLabel = "kwbench"

// moduleSpec is one -module flag: path[,label[,slot]].
type moduleSpec struct {
	path, label string
	slot        int // -1: initialise a fresh token
}

func parseModuleSpec(s string) (moduleSpec, error) {
	parts := strings.Split(s, ",")
	ms := moduleSpec{path: parts[0], slot: -1}
	if ms.path == "" {
		return ms, errors.New("-module: empty path")
	}
	if len(parts) > 1 && parts[1] != "" {
		ms.label = parts[1]
	} else {
		b := strings.TrimSuffix(filepath.Base(ms.path), filepath.Ext(ms.path))
		b = strings.TrimPrefix(b, "lib")
		ms.label = strings.SplitN(b, ".", 2)[0]
	}
	if len(parts) > 2 {
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 0 {
			return ms, fmt.Errorf("-module %s: bad slot %q", s, parts[2])
		}
		ms.slot = n
	}
	if len(parts) > 3 {
		return ms, fmt.Errorf("-module %s: want path[,label[,slot]]", s)
	}
	return ms, nil
}

// module is one loaded PKCS#11 module with a logged-in token.
type module struct {
	moduleSpec
	ctx   *pkcs11.Ctx
	f     *funcs
	slot  uint
	sess  pkcs11.SessionHandle // the main session, logged in as the user
	pin   string
	mechs map[uint]bool

	mu   sync.Mutex
	keys map[string]keyPair

	isDaemon  bool // a client of an out-of-process daemon (libkeyward.so)
	daemonPID int
}

type keyPair struct {
	pub, priv pkcs11.ObjectHandle
	err       error
}

func openModule(spec moduleSpec, pin, soPIN string, daemonPID int) (*module, error) {
	m := &module{moduleSpec: spec, pin: pin, keys: map[string]keyPair{}}
	m.ctx = pkcs11.New(spec.path)
	if m.ctx == nil {
		return nil, fmt.Errorf("%s: cannot load", spec.path)
	}
	if err := m.ctx.Initialize(); err != nil {
		return nil, fmt.Errorf("%s: C_Initialize: %w", spec.path, err)
	}
	f, err := loadFuncs(spec.path)
	if err != nil {
		return nil, err
	}
	m.f = f
	if spec.slot >= 0 {
		m.slot = uint(spec.slot)
	} else if err := m.initToken(soPIN, pin); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.label, err)
	}
	m.sess, err = m.ctx.OpenSession(m.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, fmt.Errorf("%s: C_OpenSession: %w", spec.label, err)
	}
	if err := m.ctx.Login(m.sess, pkcs11.CKU_USER, pin); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		return nil, fmt.Errorf("%s: C_Login(user): %w", spec.label, err)
	}
	list, err := m.ctx.GetMechanismList(m.slot)
	if err != nil {
		return nil, fmt.Errorf("%s: C_GetMechanismList: %w", spec.label, err)
	}
	m.mechs = map[uint]bool{}
	for _, x := range list {
		m.mechs[x.Mechanism] = true
	}
	if info, err := m.ctx.GetInfo(); err == nil && strings.Contains(strings.ToLower(info.ManufacturerID+info.LibraryDescription), "keyward") {
		m.isDaemon = true
	} else if strings.Contains(filepath.Base(spec.path), "keyward") {
		m.isDaemon = true
	}
	if m.isDaemon {
		m.daemonPID = daemonPID
		if m.daemonPID == 0 {
			m.daemonPID = keywardDaemonPID()
		}
	}
	return m, nil
}

// initToken initialises a fresh token in the first slot whose token is not initialised, and sets the user PIN.
func (m *module) initToken(soPIN, pin string) error {
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("C_GetSlotList: %w", err)
	}
	found := false
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			m.slot, found = s, true
			break
		}
	}
	if !found {
		return errors.New("no slot with an uninitialised token: give one with -module path,label,slot (its user PIN is -pin)")
	}
	if err := m.ctx.InitToken(m.slot, soPIN, tokenLabel); err != nil {
		return fmt.Errorf("C_InitToken: %w", err)
	}
	// SoftHSMv2 moves an initialised token to a new slot id: find it again by its label.
	slots, err = m.ctx.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("C_GetSlotList: %w", err)
	}
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err == nil && strings.TrimRight(ti.Label, " \x00") == tokenLabel && ti.Flags&pkcs11.CKF_USER_PIN_INITIALIZED == 0 {
			m.slot = s
			break
		}
	}
	s, err := m.ctx.OpenSession(m.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("C_OpenSession: %w", err)
	}
	defer m.ctx.CloseSession(s)
	if err := m.ctx.Login(s, pkcs11.CKU_SO, soPIN); err != nil {
		return fmt.Errorf("C_Login(SO): %w", err)
	}
	if err := m.ctx.InitPIN(s, pin); err != nil {
		return fmt.Errorf("C_InitPIN: %w", err)
	}
	if err := m.ctx.Logout(s); err != nil {
		return fmt.Errorf("C_Logout: %w", err)
	}
	return nil
}

func (m *module) close() {
	m.ctx.Logout(m.sess)
	m.ctx.CloseSession(m.sess)
	m.ctx.Finalize()
	m.ctx.Destroy()
}

func (m *module) has(mechs ...uint) error {
	for _, x := range mechs {
		if !m.mechs[x] {
			return fmt.Errorf("n/a: mechanism 0x%x not offered", x)
		}
	}
	return nil
}

// keywardDaemonPID finds keywardd's pid as the peer of its socket (SO_PEERCRED), or from its pid file.
func keywardDaemonPID() int {
	var socks []string
	if s := os.Getenv("KEYWARD_SOCKET"); s != "" {
		socks = append(socks, s)
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		socks = append(socks, filepath.Join(d, "keyward", "keyward.sock"))
	}
	socks = append(socks, "/run/keyward/keyward.sock")
	for _, s := range socks {
		c, err := net.Dial("unix", s)
		if err != nil {
			continue
		}
		pid := 0
		if raw, err := c.(*net.UnixConn).SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) {
				if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
					pid = int(cred.Pid)
				}
			})
		}
		c.Close()
		if pid > 0 {
			return pid
		}
		if b, err := os.ReadFile(filepath.Join(filepath.Dir(s), "keywardd.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
	}
	return 0
}

// procStatusKB reads a field such as VmRSS or VmHWM (in KiB) from /proc/<pid>/status ("self" for this process).
func procStatusKB(pid, field string) (int, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("/proc/%s/status: no %s", pid, field)
}
