package wire

import (
	"bytes"
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
