package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestParamGolden checks the Go encoding of every parameter structure of params.def against
// testdata/params.txt, which the C client's test suite reads too. A line names a mechanism and its fields:
//
//	CKM_AES_GCM pIv=HEX ulIvBits=N pAAD=HEX ulTagBits=N = HEX
//
// (a PRF data list is written as name=TYPE:HEX,TYPE:HEX).
func TestParamGolden(t *testing.T) {
	f, err := os.Open("testdata/params.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	covered := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			out.WriteString(line + "\n")
			continue
		}
		desc, hx, found := strings.Cut(line, " = ")
		if !found {
			desc = strings.TrimSuffix(strings.TrimSpace(line), " =")
		}
		toks := strings.Fields(desc)
		m, ok := ck.MechanismByName(toks[0])
		if !ok || LayoutOf(m) == nil {
			t.Fatalf("params.txt: %s has no layout", toks[0])
		}
		covered[LayoutOf(m).Struct] = true
		fields := map[string]any{}
		for _, tok := range toks[1:] {
			name, val, _ := strings.Cut(tok, "=")
			fields[name] = parseParamValue(t, LayoutOf(m), name, val)
		}
		got, err := EncodeParams(m, fields)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s = %x\n", desc, got)
		if *update {
			continue
		}
		want, _ := hex.DecodeString(strings.TrimSpace(hx))
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", desc, got, want)
		}
		p, err := DecodeParams(m, got)
		if err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		for name, v := range fields {
			if b, isBytes := v.([]byte); isBytes && !bytes.Equal(p.B(name), b) {
				t.Errorf("%s: field %s decodes as %x", desc, name, p.B(name))
			}
			if u, isU := v.(uint64); isU && p.U(name) != u {
				t.Errorf("%s: field %s decodes as %d", desc, name, p.U(name))
			}
		}
		if _, err := DecodeParams(m, append(got, 0)); err == nil {
			t.Errorf("%s: trailing byte accepted", desc)
		}
	}
	if *update {
		os.WriteFile("testdata/params.txt", out.Bytes(), 0o644)
		return
	}
	for _, l := range paramLayouts {
		if !covered[l.Struct] {
			t.Errorf("params.txt has no vector for %s", l.Struct)
		}
	}
}

func parseParamValue(t *testing.T, l *ParamLayout, name, val string) any {
	for _, f := range l.Fields {
		if f.Name != name {
			continue
		}
		switch f.Kind {
		case 'u':
			v, err := strconv.ParseUint(val, 0, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		case 'b':
			b, err := hex.DecodeString(val)
			if err != nil {
				t.Fatal(err)
			}
			return b
		case 'A':
			var list []ck.Attribute
			for _, item := range strings.Split(val, ",") {
				ty, hx, _ := strings.Cut(item, ":")
				n, _ := strconv.ParseUint(ty, 0, 64)
				b, _ := hex.DecodeString(hx)
				list = append(list, ck.Attribute{Type: ck.AttributeType(n), Kind: ck.AttrValue, Value: b})
			}
			return list
		}
	}
	t.Fatalf("%s has no field %s", l.Struct, name)
	return nil
}
