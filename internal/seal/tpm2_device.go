//go:build !notpm2

package seal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// tpmTimeout bounds one TPM command on a socket (a real TPM's slowest commands, RSA key generation, take
// seconds; ours take milliseconds).
const tpmTimeout = 30 * time.Second

// maxTPMResponse bounds a response (TPM responses are at most a few KiB).
const maxTPMResponse = 64 << 10

// openTPM opens the TPM named by device (TPM2Options.Device), retrying commands the TPM did not start.
func openTPM(device string) (transport.TPMCloser, error) {
	t, err := openTPMRaw(device)
	if err != nil {
		return nil, err
	}
	return retryTPM{t}, nil
}

// retryTPM resends a command the TPM answered with TPM_RC_RETRY, TPM_RC_YIELDED or TPM_RC_TESTING: the TPM
// did not start it (no session state moved), so the same bytes are sent again, as TCG's TSS does, after a
// growing pause (10 ms, doubling, 2 s in all at most).
type retryTPM struct{ transport.TPMCloser }

// Send implements transport.TPM.
func (r retryTPM) Send(cmd []byte) ([]byte, error) {
	delay := 10 * time.Millisecond
	for waited := time.Duration(0); ; waited += delay {
		rsp, err := r.TPMCloser.Send(cmd)
		if err != nil || len(rsp) < 10 || waited >= 2*time.Second {
			return rsp, err
		}
		switch tpm2.TPMRC(binary.BigEndian.Uint32(rsp[6:10])) {
		case tpm2.TPMRCRetry, tpm2.TPMRCYielded, tpm2.TPMRCTesting:
			time.Sleep(delay)
			delay = min(2*delay, 500*time.Millisecond)
		default:
			return rsp, nil
		}
	}
}

func openTPMRaw(device string) (transport.TPMCloser, error) {
	if device == "" {
		device = DefaultTPMDevice
	}
	kind, rest, _ := strings.Cut(device, ":")
	switch {
	case strings.HasPrefix(device, "/"):
		return openTPMDevice(device)
	case kind == "device":
		return openTPMDevice(rest)
	case kind == "swtpm" || kind == "mssim":
		network, addr, err := tctiAddress(rest)
		if err != nil {
			return nil, sealErr(ErrConfig, err, fmt.Sprintf("tpm2: bad device %q", device), "write swtpm:path=SOCKET, swtpm:host=H,port=P or mssim:host=H,port=P")
		}
		conn, err := net.DialTimeout(network, addr, 5*time.Second)
		if err != nil {
			return nil, sealErr(ErrNoDevice, err, fmt.Sprintf("no TPM at %s", device), "start the TPM simulator, or fix tpm2.device")
		}
		t := &socketTPM{conn: conn, mssim: kind == "mssim"}
		// A simulator has no resource manager: objects and sessions a killed process left loaded would fill
		// its few slots. Flush them, as the kernel's resource manager does for /dev/tpmrm0.
		flushLeftovers(t)
		return t, nil
	default:
		return nil, sealErr(ErrConfig, nil, fmt.Sprintf("tpm2: unknown device %q", device), "use /dev/tpmrm0, swtpm:path=SOCKET or mssim:host=H,port=P")
	}
}

func openTPMDevice(path string) (transport.TPMCloser, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, sealErr(ErrNoDevice, err, fmt.Sprintf("no TPM at %s", path),
			"this device has no TPM 2.0 (or its driver is not loaded; under systemd DeviceAllow= and PrivateDevices= decide what the daemon sees): configure another seal backend")
	case errors.Is(err, syscall.EBUSY):
		return nil, sealErr(ErrBusy, err, fmt.Sprintf("the TPM %s is busy", path), "another process holds it open: use /dev/tpmrm0 (the resource manager) or retry")
	case errors.Is(err, fs.ErrPermission):
		return nil, sealErr(ErrNoDevice, err, fmt.Sprintf("no access to the TPM %s", path), "add the daemon's user to the TPM's group (tss) and allow the device (DeviceAllow=/dev/tpmrm0 rw)")
	case err != nil:
		return nil, sealErr(ErrNoDevice, err, fmt.Sprintf("cannot open the TPM %s", path), "check the TPM driver")
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		f.Close()
		return nil, sealErr(ErrConfig, nil, fmt.Sprintf("%s is not a character device", path), "point tpm2.device at /dev/tpmrm0")
	}
	d := &deviceTPM{f: f}
	if !strings.Contains(filepath.Base(path), "tpmrm") {
		// /dev/tpm0 has no resource manager either (and is exclusive: what is loaded is a killed keywardd's).
		flushLeftovers(d)
	}
	return d, nil
}

// tctiAddress parses "path=SOCKET" or "host=H,port=P" (default localhost:2321).
func tctiAddress(conf string) (network, addr string, err error) {
	host, port, path := "localhost", "2321", ""
	for kv := range strings.SplitSeq(conf, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", "", fmt.Errorf("%q is not key=value", kv)
		}
		switch k {
		case "path":
			path = v
		case "host":
			host = v
		case "port":
			port = v
		default:
			return "", "", fmt.Errorf("unknown key %q", k)
		}
	}
	if path != "" {
		return "unix", path, nil
	}
	return "tcp", net.JoinHostPort(host, port), nil
}

// deviceTPM is a TPM character device: one write is one command, one read one response.
type deviceTPM struct{ f *os.File }

// Send implements transport.TPM.
func (d *deviceTPM) Send(cmd []byte) ([]byte, error) {
	if _, err := d.f.Write(cmd); err != nil {
		return nil, fmt.Errorf("tpm write: %w", err)
	}
	buf := make([]byte, maxTPMResponse)
	n, err := d.f.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("tpm read: %w", err)
	}
	return buf[:n], nil
}

// Close implements io.Closer.
func (d *deviceTPM) Close() error { return d.f.Close() }

// socketTPM is a TPM simulator on a socket: swtpm's data channel (raw commands and responses) or the
// Microsoft simulator's protocol (TPM_SEND_COMMAND, locality, length, command; length, response, status).
type socketTPM struct {
	conn  net.Conn
	mssim bool
}

const mssimSendCommand = 8

// Send implements transport.TPM.
func (s *socketTPM) Send(cmd []byte) ([]byte, error) {
	if err := s.conn.SetDeadline(time.Now().Add(tpmTimeout)); err != nil {
		return nil, err
	}
	out := cmd
	if s.mssim {
		out = binary.BigEndian.AppendUint32(nil, mssimSendCommand)
		out = append(out, 0) // locality 0
		out = binary.BigEndian.AppendUint32(out, uint32(len(cmd)))
		out = append(out, cmd...)
	}
	if _, err := s.conn.Write(out); err != nil {
		return nil, fmt.Errorf("tpm socket write: %w", err)
	}
	var rsp []byte
	if s.mssim {
		var l [4]byte
		if _, err := io.ReadFull(s.conn, l[:]); err != nil {
			return nil, fmt.Errorf("tpm socket read: %w", err)
		}
		n := binary.BigEndian.Uint32(l[:])
		if n < 10 || n > maxTPMResponse {
			return nil, fmt.Errorf("tpm socket: response of %d bytes", n)
		}
		rsp = make([]byte, n+4) // the response and the status word
		if _, err := io.ReadFull(s.conn, rsp); err != nil {
			return nil, fmt.Errorf("tpm socket read: %w", err)
		}
		return rsp[:n], nil
	}
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(s.conn, hdr); err != nil {
		return nil, fmt.Errorf("tpm socket read: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[2:6])
	if n < 10 || n > maxTPMResponse {
		return nil, fmt.Errorf("tpm socket: response of %d bytes", n)
	}
	rsp = make([]byte, n)
	copy(rsp, hdr)
	if _, err := io.ReadFull(s.conn, rsp[10:]); err != nil {
		return nil, fmt.Errorf("tpm socket read: %w", err)
	}
	return rsp, nil
}

// Close implements io.Closer.
func (s *socketTPM) Close() error { return s.conn.Close() }

// flushLeftovers flushes every transient object and loaded session (a TPM without a resource manager). For
// TPM_CAP_HANDLES, 0x02000000 lists the loaded sessions, HMAC (0x02…) and policy (0x03…) alike.
func flushLeftovers(tpm transport.TPM) {
	for _, first := range []tpm2.TPMHandle{0x80000000, 0x02000000} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(first), PropertyCount: 64}.Execute(tpm)
		if err != nil {
			continue
		}
		hs, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			continue
		}
		for _, h := range hs.Handle {
			if top := h >> 24; top == first>>24 || (first == 0x02000000 && top == 0x03) {
				flush(tpm, h)
			}
		}
	}
}

// tpmErr turns a TPM error into an *Error naming the cause and what to do.
func tpmErr(err error, doing string) *Error {
	switch {
	case errors.Is(err, tpm2.TPMRCLockout):
		return sealErr(ErrLockout, err, "the TPM is in dictionary-attack lockout while "+doing,
			"wait for the lockout to expire, or clear it with the lockout authorisation (tpm2_dictionarylockout --clear-lockout)")
	case errors.Is(err, tpm2.TPMRCRetry), errors.Is(err, tpm2.TPMRCYielded), errors.Is(err, tpm2.TPMRCTesting),
		errors.Is(err, tpm2.TPMRCNVRate), errors.Is(err, tpm2.TPMRCObjectMemory), errors.Is(err, tpm2.TPMRCSessionMemory):
		return sealErr(ErrBusy, err, "the TPM is busy while "+doing, "retry (restart keywardd)")
	case errors.Is(err, tpm2.TPMRCPolicyFail), errors.Is(err, tpm2.TPMRCValue) && strings.Contains(doing, "unseal"):
		return sealErr(ErrPolicy, err, "the TPM refuses to unseal the root key: its policy does not hold",
			"boot the configuration it was sealed in, or re-provision")
	case errors.Is(err, tpm2.TPMRCIntegrity), errors.Is(err, tpm2.TPMRCBinding), errors.Is(err, tpm2.TPMRCSize),
		errors.Is(err, tpm2.TPMRCAttributes), errors.Is(err, tpm2.TPMRCKeySize):
		return sealErr(ErrCorrupt, err, "the TPM rejects the sealed root key while "+doing+": the blob is damaged or belongs to another TPM",
			"restore root.seal from a backup of this device")
	case errors.Is(err, tpm2.TPMRCInitialize):
		return sealErr(ErrNoDevice, err, "the TPM is not started (no TPM2_Startup) while "+doing, "check the firmware or the simulator's startup flags")
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return sealErr(ErrNoDevice, err, "the TPM stopped answering while "+doing, "check the TPM (or the simulator)")
	}
	return sealErr(ErrNoDevice, err, "the TPM failed while "+doing, "check the TPM")
}
