package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// FuzzValidate feeds arbitrary bodies to the validator of every call's request and response signature. It
// must never panic, and a body it accepts must decode item by item to exactly the same bytes again.
func FuzzValidate(f *testing.F) {
	_, lines := readGoldenForFuzz()
	for _, b := range lines {
		f.Add(b)
	}
	f.Add([]byte{'A', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'U', 0x10, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, c := range Calls() {
			for _, sig := range []string{c.Request, c.Response} {
				if Validate(body, sig) != nil {
					continue
				}
				if got := reencode(t, body, sig); !bytes.Equal(got, body) {
					t.Fatalf("%s %q: accepted body re-encodes differently:\n%x\n%x", c.Name, sig, body, got)
				}
			}
		}
	})
}

// reencode decodes a valid body by its signature and encodes the items again.
func reencode(t *testing.T, body []byte, sig string) []byte {
	d := NewDecoder(body)
	var e Encoder
	for i := 0; i < len(sig); i++ {
		switch sig[i] {
		case 'u':
			e.U(d.U())
		case 'b':
			e.B(d.B())
		case 'p':
			e.P(d.P())
		case 'o':
			e.O(d.O())
		case 'U':
			e.Us(d.Us())
		case 'A':
			e.A(d.A())
		case 'M':
			e.M(d.M())
		}
	}
	if err := d.Finish(); err != nil {
		t.Fatalf("a validated body fails to decode: %v", err)
	}
	return e.Bytes()
}

// FuzzReadRequest feeds arbitrary bytes to the frame reader: no panic, no frame beyond MaxFrame.
func FuzzReadRequest(f *testing.F) {
	f.Add(AppendRequest(nil, 1, CallGetSlotList, []byte{'u', 0, 0, 0, 0, 0, 0, 0, 1}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 3, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		req, _, err := ReadRequest(bytes.NewReader(data), nil)
		if err == nil && len(req.Body) > MaxFrame {
			t.Fatalf("frame body of %d bytes accepted", len(req.Body))
		}
		_, _, _ = ReadResponse(bytes.NewReader(data), nil)
	})
}

// readGoldenForFuzz returns the bodies of the golden request frames, as fuzz seeds.
func readGoldenForFuzz() ([]string, [][]byte) {
	var bodies [][]byte
	for _, fr := range goldenFrames() {
		if r, _, err := ReadRequest(bytes.NewReader(fr), nil); err == nil {
			bodies = append(bodies, r.Body)
		}
	}
	return nil, bodies
}

// goldenFrames returns every frame of testdata/golden.txt.
func goldenFrames() [][]byte {
	data, err := os.ReadFile("testdata/golden.txt")
	if err != nil {
		return nil
	}
	var frames [][]byte
	for _, line := range strings.Split(string(data), "\n") {
		if _, hx, ok := strings.Cut(line, " = "); ok && !strings.HasPrefix(line, "#") {
			if b, err := hex.DecodeString(strings.TrimSpace(hx)); err == nil {
				frames = append(frames, b)
			}
		}
	}
	return frames
}

// FuzzFramePoolReadRequest feeds arbitrary bytes to the daemon's pooled frame reader, for calls whose frames go
// to the pool and calls whose frames do not: no panic, no frame beyond MaxFrame, the frame it returns is the
// one the bytes hold, and Put takes back every pooled buffer.
func FuzzFramePoolReadRequest(f *testing.F) {
	for _, fr := range goldenFrames() {
		f.Add(fr, true)
	}
	big := AppendRequest(nil, 7, CallOperationSingle, append([]byte{'b', 0, 0, 0x80, 0}, make([]byte, 0x8000)...))
	f.Add(big, true)
	f.Add(big[:len(big)-1], true)
	f.Add([]byte{0x00, 0x80, 0x00, 0x00, 0, 0, 0, 1}, false)
	var pool FramePool
	f.Fuzz(func(t *testing.T, data []byte, reuse bool) {
		req, pooled, err := pool.ReadRequest(bytes.NewReader(data), func(Call) bool { return reuse })
		if err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(data))
		if n > MaxFrame || len(req.Body) != n-requestHeader || !bytes.Equal(req.Body, data[4+requestHeader:4+n]) {
			t.Fatalf("frame of %d bytes read as a body of %d bytes", n, len(req.Body))
		}
		pool.Put(pooled)
	})
}

// FuzzDecodeParams feeds arbitrary bytes to the structured parameter decoder of every mechanism params.def
// lists: no panic, and a parameter it accepts encodes back to the same bytes.
func FuzzDecodeParams(f *testing.F) {
	for _, b := range [][]byte{{}, {'u', 0, 0, 0, 0, 0, 0, 0, 1}, {'b', 0, 0, 0, 1, 0xaa}, {'A', 0, 0, 0, 0}} {
		f.Add(b)
	}
	for _, fr := range goldenFrames() {
		if r, _, err := ReadRequest(bytes.NewReader(fr), nil); err == nil {
			f.Add(r.Body)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for m := range paramLayouts {
			p, err := DecodeParams(m, raw)
			if err != nil {
				continue
			}
			again, err := EncodeParams(m, p.fields())
			if err != nil || !bytes.Equal(again, raw) || !bytes.Equal(p.Encode(), raw) {
				t.Fatalf("%v: accepted parameter %x encodes back as %x (%v)", m, raw, again, err)
			}
		}
	})
}
