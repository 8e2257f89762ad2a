package wire

import (
	"encoding/binary"
	"fmt"
	"io"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Header sizes after the length field.
const (
	requestHeader  = 4 + 4     // request id, call id
	responseHeader = 4 + 4 + 8 // request id, call id, rv
)

// Request is a decoded request frame.
type Request struct {
	ID   uint32
	Call Call
	Body []byte
}

// Response is a decoded response frame.
type Response struct {
	ID   uint32
	Call Call
	RV   ck.RV
	Body []byte
}

// AppendRequest appends a request frame to dst.
func AppendRequest(dst []byte, id uint32, call Call, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(requestHeader+len(body)))
	dst = binary.BigEndian.AppendUint32(dst, id)
	dst = binary.BigEndian.AppendUint32(dst, uint32(call))
	return append(dst, body...)
}

// AppendResponse appends a response frame to dst.
func AppendResponse(dst []byte, id uint32, call Call, rv ck.RV, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(responseHeader+len(body)))
	dst = binary.BigEndian.AppendUint32(dst, id)
	dst = binary.BigEndian.AppendUint32(dst, uint32(call))
	dst = binary.BigEndian.AppendUint64(dst, uint64(rv))
	return append(dst, body...)
}

// readFrame reads one length-prefixed frame into buf (grown as needed) and returns its content.
func readFrame(r io.Reader, buf []byte, header int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrMalformed, n, MaxFrame)
	}
	if int(n) < header {
		return nil, fmt.Errorf("%w: frame of %d bytes is shorter than its header", ErrMalformed, n)
	}
	if cap(buf) >= int(n) {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, unexpected(err)
		}
		return buf, nil
	}
	// A large frame's buffer grows (doubling) only as its bytes arrive: a peer that announces 8 MiB and sends
	// nothing does not make the reader hold 8 MiB.
	buf = make([]byte, 0, min(int(n), readChunk))
	for len(buf) < int(n) {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(int(n), 2*cap(buf))-cap(buf))...)[:len(buf)]
		}
		m, err := io.ReadAtLeast(r, buf[len(buf):min(int(n), cap(buf))], 1)
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, unexpected(err)
		}
	}
	return buf, nil
}

// readChunk is the buffer readFrame starts a large frame with; it doubles from there.
const readChunk = 1 << 20

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadRequest reads one request frame. buf is reused for the frame when large enough; the returned body
// aliases it.
func ReadRequest(r io.Reader, buf []byte) (Request, []byte, error) {
	f, err := readFrame(r, buf, requestHeader)
	if err != nil {
		return Request{}, buf, err
	}
	return Request{
		ID:   binary.BigEndian.Uint32(f[0:]),
		Call: Call(binary.BigEndian.Uint32(f[4:])),
		Body: f[requestHeader:],
	}, f, nil
}

// ReadResponse reads one response frame, as ReadRequest does.
func ReadResponse(r io.Reader, buf []byte) (Response, []byte, error) {
	f, err := readFrame(r, buf, responseHeader)
	if err != nil {
		return Response{}, buf, err
	}
	return Response{
		ID:   binary.BigEndian.Uint32(f[0:]),
		Call: Call(binary.BigEndian.Uint32(f[4:])),
		RV:   ck.RV(binary.BigEndian.Uint64(f[8:])),
		Body: f[responseHeader:],
	}, f, nil
}

// CarriesBody reports whether a response with this rv carries its call's response items.
func CarriesBody(rv ck.RV) bool {
	switch rv {
	case ck.CKR_OK, ck.CKR_BUFFER_TOO_SMALL, ck.CKR_ATTRIBUTE_SENSITIVE, ck.CKR_ATTRIBUTE_TYPE_INVALID:
		return true
	}
	return false
}
