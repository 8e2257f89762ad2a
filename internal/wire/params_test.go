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
		if !bytes.Equal(p.Encode(), got) {
			t.Errorf("%s: the typed structure encodes as %x", desc, p.Encode())
		}
		decoded := p.fields()
		for name, v := range fields {
			d := decoded[name]
			if x, isBool := d.(bool); isBool {
				d = b2u(x)
			}
			if b, isBytes := v.([]byte); isBytes && !bytes.Equal(d.([]byte), b) {
				t.Errorf("%s: field %s decodes as %x", desc, name, d)
			}
			if u, isU := v.(uint64); isU && d.(uint64) != u {
				t.Errorf("%s: field %s decodes as %d", desc, name, d)
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

// TestEncodeParamsRefusesUnknownFields: a misspelt field name is an error, not an empty field (and a value of
// the wrong type too).
func TestEncodeParamsRefusesUnknownFields(t *testing.T) {
	for _, fields := range []map[string]any{
		{"pIV": []byte("twelve bytes"), "ulTagBits": uint64(128)},
		{"pIv": []byte("twelve bytes"), "ulTagbits": uint64(128)},
		{"pIv": "twelve bytes", "ulTagBits": uint64(128)},
		{"pIv": []byte("twelve bytes"), "ulTagBits": "128"},
	} {
		if b, err := EncodeParams(ck.CKM_AES_GCM, fields); err == nil {
			t.Errorf("EncodeParams(CKM_AES_GCM, %v) = %x, want an error", fields, b)
		}
	}
	if _, err := EncodeParams(ck.CKM_SP800_108_COUNTER_KDF, map[string]any{"pDataParams": []byte{1}}); err == nil {
		t.Error("a byte string for a PRF data list was accepted")
	}
}

// TestTypedParams: the typed structures encode as the by-name encoder does, and decode back; a misspelt field
// of a typed structure does not compile.
func TestTypedParams(t *testing.T) {
	g := GCMParams{IV: []byte("twelve bytes"), IVBits: 96, AAD: []byte("aad"), TagBits: 128}
	want, err := EncodeParams(ck.CKM_AES_GCM, map[string]any{"pIv": g.IV, "ulIvBits": g.IVBits, "pAAD": g.AAD, "ulTagBits": g.TagBits})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.Encode(), want) {
		t.Fatalf("GCMParams encodes as %x, want %x", g.Encode(), want)
	}
	back, err := DecodeGCMParams(want)
	if err != nil || !bytes.Equal(back.IV, g.IV) || !bytes.Equal(back.AAD, g.AAD) || back.IVBits != 96 || back.TagBits != 128 {
		t.Fatalf("DecodeGCMParams = %+v, %v", back, err)
	}
	p, err := DecodeParams(ck.CKM_AES_GCM, want)
	if err != nil || p.GCMParams == nil || p.CCMParams != nil {
		t.Fatalf("DecodeParams(CKM_AES_GCM) = %+v, %v", p, err)
	}
	// A CK_BBOOL travels as 0 or 1; anything else does not follow the layout.
	e := EdDSAParams{PHFlag: true, ContextData: []byte("ctx")}
	raw := e.Encode()
	if !bytes.Equal(raw[:9], []byte{'u', 0, 0, 0, 0, 0, 0, 0, 1}) {
		t.Fatalf("phFlag true encodes as %x", raw[:9])
	}
	raw[8] = 2
	if _, err := DecodeEdDSAParams(raw); err == nil {
		t.Error("a CK_BBOOL of 2 was accepted")
	}
}

// TestDataOnly pins which parameter parts are data only (params.def, KW_FIELD_DATA and KW_MECH_DATA): the C
// client leaves their contents out of an Init's shape, so a field marked by mistake would let an Init that
// fails be taken for one that succeeds.
func TestDataOnly(t *testing.T) {
	want := map[string]bool{
		"CK_GCM_PARAMS.pIv": true, "CK_GCM_PARAMS.pAAD": true, "CK_CCM_PARAMS.pNonce": true,
		"CK_CCM_PARAMS.pAAD": true, "CK_RSA_PKCS_OAEP_PARAMS.pSourceData": true,
		"CK_EDDSA_PARAMS.pContextData": true, "CK_SIGN_ADDITIONAL_CONTEXT.pContext": true,
	}
	got := map[string]bool{}
	for _, l := range paramLayouts {
		for _, f := range l.Fields {
			if f.DataOnly {
				got[l.Struct+"."+f.Name] = true
				if f.Kind != 'b' {
					t.Errorf("%s.%s: a data-only field of kind %c", l.Struct, f.Name, f.Kind)
				}
			}
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("%s is not data only", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s is data only: is no contents of it ever refused at Init? Then add it here", k)
		}
	}
	for _, m := range []ck.MechanismType{ck.CKM_AES_CBC, ck.CKM_AES_CBC_PAD} {
		if !RawDataOnly(m) {
			t.Errorf("%v's IV is not data only", m)
		}
	}
	if RawDataOnly(ck.CKM_AES_ECB) || RawDataOnly(ck.CKM_AES_GCM) {
		t.Error("RawDataOnly of a mechanism params.def does not mark")
	}
}
