package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sync"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Header sizes after the length field.
const (
	requestHeader  = 4 + 4     // request id, call id
	responseHeader = 4 + 4 + 8 // request id, call id, rv
)

// ResponseHeaderSize is the size of a response frame before its body, the length field included.
const ResponseHeaderSize = 4 + responseHeader

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
	return append(AppendResponseHeader(dst, id, call, rv, len(body)), body...)
}

// AppendResponseHeader appends the first ResponseHeaderSize bytes of a response frame whose body has n bytes:
// a writer can send the body from where it lies, without copying it behind the header.
func AppendResponseHeader(dst []byte, id uint32, call Call, rv ck.RV, n int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(responseHeader+n))
	dst = binary.BigEndian.AppendUint32(dst, id)
	dst = binary.BigEndian.AppendUint32(dst, uint32(call))
	return binary.BigEndian.AppendUint64(dst, uint64(rv))
}

// readLength reads a frame's length field and checks it against MaxFrame and the frame's header size.
func readLength(r io.Reader, header int) (int, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return 0, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrMalformed, n, MaxFrame)
	}
	if int(n) < header {
		return 0, fmt.Errorf("%w: frame of %d bytes is shorter than its header", ErrMalformed, n)
	}
	return int(n), nil
}

// readFrame reads one length-prefixed frame into buf (grown as needed) and returns its content.
func readFrame(r io.Reader, buf []byte, header int) ([]byte, error) {
	n, err := readLength(r, header)
	if err != nil {
		return nil, err
	}
	if cap(buf) >= n {
		return readContent(r, buf[:0], n, n)
	}
	return readContent(r, nil, n, n)
}

// readContent reads the rest of a frame's n bytes of content after the len(have) bytes already read. When
// have's capacity holds the frame, the bytes go there. Otherwise a large frame's buffer grows (doubling from
// readChunk) only as its bytes arrive: a peer that announces 8 MiB and sends nothing does not make the
// reader hold 8 MiB. The last buffer gets capacity lastCap (at least n). The buffers it outgrows, and on an
// error the buffer it made, are cleared: they may hold secrets.
func readContent(r io.Reader, have []byte, n, lastCap int) ([]byte, error) {
	buf := have
	if cap(buf) >= n {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf[len(have):]); err != nil {
			return nil, unexpected(err)
		}
		return buf, nil
	}
	own := false
	for len(buf) < n {
		if len(buf) == cap(buf) {
			c := max(readChunk, 2*cap(buf))
			if c >= n {
				c = max(n, lastCap)
			}
			grown := make([]byte, len(buf), c)
			copy(grown, buf)
			if own {
				clear(buf)
			}
			buf, own = grown, true
		}
		m, err := io.ReadAtLeast(r, buf[len(buf):min(n, cap(buf))], 1)
		buf = buf[:len(buf)+m]
		if err != nil {
			if own {
				clear(buf)
			}
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
	return parseRequest(f), f, nil
}

func parseRequest(f []byte) Request {
	return Request{
		ID:   binary.BigEndian.Uint32(f[0:]),
		Call: Call(binary.BigEndian.Uint32(f[4:])),
		Body: f[requestHeader:],
	}
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

// Pooled frame buffers. Frames up to PooledFrame bytes are read into fresh buffers (Go's small allocations
// are cheap); larger ones, for the calls a FramePool's user names, into buffers of 2^k + poolSlack bytes, k
// from poolMinShift to poolMaxShift, that go back to the pool after the request. The slack fits a payload of
// a power-of-two size and its frame's few bytes of header in the class of that size. Every buffer in the
// pool is all zeros: Put clears what a frame wrote.
const (
	// PooledFrame is the largest frame a FramePool leaves to a fresh buffer: Go's largest small object.
	PooledFrame  = 32 << 10
	poolSlack    = 4 << 10
	poolMinShift = 15 // 32 KiB + slack
	poolMaxShift = 23 // MaxFrame + slack
)

// A FramePool lends buffers to large request frames, so that a connection that streams large payloads
// neither allocates nor faults in a fresh buffer for every frame. What the pool holds goes back to the
// garbage collector when it is not used (sync.Pool). The zero value is ready to use.
type FramePool struct {
	classes [poolMaxShift - poolMinShift + 1]sync.Pool
}

// poolClass returns the class of the smallest buffers that hold a frame of n bytes (PooledFrame < n <=
// MaxFrame).
func poolClass(n int) int {
	return max(bits.Len(uint(max(n-poolSlack, 1)-1)), poolMinShift) - poolMinShift
}

// poolCap returns the capacity of class k's buffers.
func poolCap(k int) int { return 1<<(k+poolMinShift) + poolSlack }

// ReadRequest reads one request frame as the package's ReadRequest does. When the frame is larger than
// PooledFrame and reuse(call) is true, the frame lies in one of the pool's buffers, returned as pooled: the
// caller must give it back with Put once nothing refers to the frame any more (the request's body aliases
// it). Otherwise pooled is nil and the frame is the caller's to keep.
func (p *FramePool) ReadRequest(r io.Reader, reuse func(Call) bool) (req Request, pooled []byte, err error) {
	n, err := readLength(r, requestHeader)
	if err != nil {
		return Request{}, nil, err
	}
	var hdr [requestHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Request{}, nil, unexpected(err)
	}
	if n <= PooledFrame || !reuse(Call(binary.BigEndian.Uint32(hdr[4:]))) {
		f, err := readContent(r, hdr[:], n, n)
		if err != nil {
			return Request{}, nil, err
		}
		return parseRequest(f), nil, nil
	}
	k := poolClass(n)
	have := hdr[:]
	b, fromPool := p.classes[k].Get().([]byte)
	if fromPool {
		have = append(b[:0], hdr[:]...)
	}
	// Without a buffer from the pool, the frame's grows as its bytes arrive and ends in one of the class's size.
	f, err := readContent(r, have, n, poolCap(k))
	if err != nil {
		if fromPool {
			p.Put(b[:cap(b)]) // maybe partly written: Put clears it
		}
		return Request{}, nil, err
	}
	return parseRequest(f), f, nil
}

// Put clears a frame that ReadRequest returned as pooled and keeps its buffer for a later frame. Put(nil)
// does nothing.
func (p *FramePool) Put(frame []byte) {
	if cap(frame) == 0 {
		return
	}
	c := cap(frame) - poolSlack
	k := bits.Len(uint(c)) - 1 - poolMinShift
	if c <= 0 || c&(c-1) != 0 || k < 0 || k >= len(p.classes) {
		panic("wire: FramePool.Put of a buffer that is not the pool's")
	}
	clear(frame)
	//lint:ignore SA6002 a pooled frame is 64 KiB or more: boxing its slice header is noise beside it
	p.classes[k].Put(frame[:0])
}
