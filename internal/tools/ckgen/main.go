// Command ckgen generates pkg/cryptoki/consts.go from the constants of include/keyward/pkcs11.h, so that the
// Go and C sides of Keyward share one list of PKCS#11 names and values.
//
// Usage, from pkg/cryptoki (go generate runs it there through generate.go):
//
//	go generate ./pkg/cryptoki
//
// or, from anywhere in the module:
//
//	go run ./internal/tools/ckgen [-header include/keyward/pkcs11.h] [-out pkg/cryptoki/consts.go]
//
// Without flags ckgen finds the module root (the directory holding go.mod) above the working directory and
// uses the two default paths under it.
//
// # Input
//
// ckgen reads every line of the form
//
//	#define NAME VALUE
//
// whose NAME starts with "CK" or is CRYPTOKI_VERSION_*, and where VALUE is one of
//
//	0x1087UL, 42, 3U             an integer literal, hexadecimal or decimal, with an optional U/L suffix;
//	CKM_EC_KEY_PAIR_GEN          a name defined earlier: NAME is an alias of it;
//	(CKF_ARRAY_ATTRIBUTE|0x211UL) a name defined earlier combined with a literal by | or +;
//	(~0UL)                       all ones in the C ABI's word size (CK_UNAVAILABLE_INFORMATION): all 64
//	                             bits in Go, whose CK_ULONG is the wire's uint64.
//
// Function-like macros and the platform macro CK_PTR are skipped; any other CK line with a value of another
// form is an error, so a typo in the header cannot silently drop a constant.
//
// # Output
//
// Constants keep the specification's names. Their Go type follows the prefix: CKR_ is RV, CKA_ AttributeType,
// CKO_ ObjectClass, CKK_ KeyType, CKM_ MechanismType, CKC_ CertificateType, CKU_ UserType and CKS_ State
// (except CKS_LAST_VALIDATION_OK, a CK_SESSION_VALIDATION_FLAGS_TYPE value, not a session state). All other
// names (CKF_, CKD_, CKG_, CKZ_, CKP_, CKH_, CKN_, CKT_, CKV_, CK_ and CRYPTOKI_) are untyped constants.
//
// For RV, AttributeType, ObjectClass, KeyType and MechanismType ckgen also writes a name table, a String
// method (unknown values print as the prefix and the hexadecimal value, e.g. "CKA_0x80001234"), and for
// mechanisms and attributes a lookup by name (MechanismByName, AttributeByName).
//
// # Aliases
//
// Where the specification gives one value two names (CKM_ECDSA_KEY_PAIR_GEN and CKM_EC_KEY_PAIR_GEN,
// CKA_ECDSA_PARAMS and CKA_EC_PARAMS, CKK_ECDSA and CKK_EC, ...), the header defines the current name with
// the value and the older or deprecated name as an alias of it ("#define CKK_ECDSA CKK_EC"). The rule is:
// the name defined with a value is canonical; String and the name tables use canonical names only, while the
// ByName lookups accept aliases too. Two canonical names with the same value in a typed group are an error,
// because String could not choose between them: make one an alias.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// kind describes one Go type that constants are generated with.
type kind struct {
	prefix   string // name prefix, e.g. "CKR_"
	goType   string // Go type name, "" for untyped constants
	title    string // comment heading the const block
	table    string // name of the value-to-name table, "" for none
	byName   string // name of the name-to-value table, "" for none
	byNameFn string // exported lookup function, "" for none
}

var kinds = []kind{
	{prefix: "CKR_", goType: "RV", title: "Return values (CK_RV).", table: "rvNames"},
	{prefix: "CKA_", goType: "AttributeType", title: "Attribute types (CK_ATTRIBUTE_TYPE).", table: "attributeNames",
		byName: "attributesByName", byNameFn: "AttributeByName"},
	{prefix: "CKO_", goType: "ObjectClass", title: "Object classes (CK_OBJECT_CLASS).", table: "objectClassNames"},
	{prefix: "CKK_", goType: "KeyType", title: "Key types (CK_KEY_TYPE).", table: "keyTypeNames"},
	{prefix: "CKM_", goType: "MechanismType", title: "Mechanism types (CK_MECHANISM_TYPE).", table: "mechanismNames",
		byName: "mechanismsByName", byNameFn: "MechanismByName"},
	{prefix: "CKC_", goType: "CertificateType", title: "Certificate types (CK_CERTIFICATE_TYPE)."},
	{prefix: "CKU_", goType: "UserType", title: "User types (CK_USER_TYPE)."},
	{prefix: "CKS_", goType: "State", title: "Session states (CK_STATE)."},
}

// untypedKind holds every constant that has no Go type of its own.
var untypedKind = kind{title: "Other constants: flags, KDFs, MGFs, parameter sets, profiles and special values."}

// untypedNames lists names that carry a typed prefix but are not values of that type.
var untypedNames = map[string]string{
	"CKS_LAST_VALIDATION_OK": "a CK_SESSION_VALIDATION_FLAGS_TYPE value, not a CK_STATE",
}

// skipNames lists object-like macros with a CK prefix that are not constants.
var skipNames = map[string]bool{"CK_PTR": true}

// constant is one parsed #define.
type constant struct {
	name  string
	value uint64
	alias string // canonical name when this name is an alias, else ""
	dec   bool   // the header wrote the value as a decimal literal
	line  int
	kind  *kind
}

var (
	defineRE  = regexp.MustCompile(`^#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)(.*)$`)
	literalRE = regexp.MustCompile(`^(0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*$`)
	nameRE    = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	exprRE    = regexp.MustCompile(`^\(\s*([A-Z][A-Z0-9_]*)\s*([|+])\s*((?:0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*)\s*\)$`)
	commentRE = regexp.MustCompile(`/\*.*?\*/|//.*$`)
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("ckgen: ")
	header := flag.String("header", "", "path of pkcs11.h (default: include/keyward/pkcs11.h under the module root)")
	out := flag.String("out", "", "path of the Go file to write (default: pkg/cryptoki/consts.go under the module root)")
	flag.Parse()

	if *header == "" || *out == "" {
		root, err := moduleRoot()
		if err != nil {
			log.Fatal(err)
		}
		if *header == "" {
			*header = filepath.Join(root, "include", "keyward", "pkcs11.h")
		}
		if *out == "" {
			*out = filepath.Join(root, "pkg", "cryptoki", "consts.go")
		}
	}
	src, err := os.ReadFile(*header)
	if err != nil {
		log.Fatal(err)
	}
	code, err := generate(src)
	if err != nil {
		log.Fatalf("%s: %v", *header, err)
	}
	if err := os.WriteFile(*out, code, 0o644); err != nil {
		log.Fatal(err)
	}
}

// moduleRoot returns the nearest directory at or above the working directory that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; pass -header and -out")
		}
		dir = parent
	}
}

// generate returns the formatted consts.go for the header text src.
func generate(src []byte) ([]byte, error) {
	consts, err := parse(src)
	if err != nil {
		return nil, err
	}
	if err := checkCanonical(consts); err != nil {
		return nil, err
	}
	code := render(consts)
	formatted, err := format.Source(code)
	if err != nil {
		return nil, fmt.Errorf("formatting generated code: %v", err)
	}
	return formatted, nil
}

// parse collects the constants of the header in order.
func parse(src []byte) ([]*constant, error) {
	var consts []*constant
	byName := map[string]*constant{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		m := defineRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		name, rest := m[1], m[2]
		if !strings.HasPrefix(name, "CK") && !strings.HasPrefix(name, "CRYPTOKI_VERSION_") &&
			!strings.HasPrefix(name, "CRYPTOKI_LEGACY_VERSION_") {
			continue
		}
		if strings.HasPrefix(rest, "(") || skipNames[name] {
			continue // function-like macro or platform macro
		}
		value := strings.TrimSpace(commentRE.ReplaceAllString(rest, ""))
		if value == "" {
			return nil, fmt.Errorf("line %d: %s has no value", n, name)
		}
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("line %d: %s defined twice", n, name)
		}
		c := &constant{name: name, line: n, kind: kindOf(name)}
		switch {
		case value == "(~0UL)":
			c.value = ^uint64(0)
		case literalRE.MatchString(value):
			v, dec, err := parseLiteral(value)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: %v", n, name, err)
			}
			c.value, c.dec = v, dec
		case nameRE.MatchString(value):
			target, ok := byName[value]
			if !ok {
				return nil, fmt.Errorf("line %d: %s is an alias of %s, which is not defined before it", n, name, value)
			}
			if target.alias != "" {
				return nil, fmt.Errorf("line %d: %s is an alias of the alias %s; name the canonical %s", n, name, value, target.alias)
			}
			if target.kind != c.kind {
				return nil, fmt.Errorf("line %d: alias %s and %s have different Go types", n, name, value)
			}
			c.value, c.alias, c.dec = target.value, target.name, target.dec
		default:
			e := exprRE.FindStringSubmatch(value)
			if e == nil {
				return nil, fmt.Errorf("line %d: %s: value %q is not a literal, a name, or (NAME|literal) / (NAME + literal)", n, name, value)
			}
			base, ok := byName[e[1]]
			if !ok {
				return nil, fmt.Errorf("line %d: %s uses %s, which is not defined before it", n, name, e[1])
			}
			v, _, err := parseLiteral(e[3])
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: %v", n, name, err)
			}
			if e[2] == "|" {
				c.value = base.value | v
			} else {
				c.value = base.value + v
			}
		}
		byName[name] = c
		consts = append(consts, c)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(consts) == 0 {
		return nil, errors.New("no constants found")
	}
	return consts, nil
}

// parseLiteral parses an integer literal with an optional U/L suffix.
func parseLiteral(s string) (v uint64, dec bool, err error) {
	s = strings.TrimRight(s, "uUlL")
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		v, err = strconv.ParseUint(s[2:], 16, 64)
		return v, false, err
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, false, fmt.Errorf("octal literal %q is not supported", s)
	}
	v, err = strconv.ParseUint(s, 10, 64)
	return v, true, err
}

// kindOf returns the kind a name's constant is generated with.
func kindOf(name string) *kind {
	if _, ok := untypedNames[name]; ok {
		return &untypedKind
	}
	for i := range kinds {
		if strings.HasPrefix(name, kinds[i].prefix) {
			return &kinds[i]
		}
	}
	return &untypedKind
}

// checkCanonical rejects two canonical names with one value in a typed group.
func checkCanonical(consts []*constant) error {
	seen := map[*kind]map[uint64]*constant{}
	for _, c := range consts {
		if c.kind.goType == "" || c.alias != "" {
			continue
		}
		if seen[c.kind] == nil {
			seen[c.kind] = map[uint64]*constant{}
		}
		if prev, ok := seen[c.kind][c.value]; ok {
			return fmt.Errorf("line %d: %s has the value of %s (line %d); define one as an alias of the other",
				c.line, c.name, prev.name, prev.line)
		}
		seen[c.kind][c.value] = c
	}
	return nil
}

func render(consts []*constant) []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by ckgen from include/keyward/pkcs11.h; DO NOT EDIT.\n\n")
	b.WriteString("package cryptoki\n\nimport \"fmt\"\n")

	all := append(append([]*kind{}, ptrs(kinds)...), &untypedKind)
	for _, k := range all {
		var group []*constant
		for _, c := range consts {
			if c.kind == k {
				group = append(group, c)
			}
		}
		if len(group) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n// %s\nconst (\n", k.title)
		prevFamily := ""
		for _, c := range group {
			if k.goType == "" {
				if f := family(c.name); f != prevFamily && prevFamily != "" {
					b.WriteString("\n")
				}
				prevFamily = family(c.name)
			}
			switch {
			case c.alias != "":
				fmt.Fprintf(&b, "\t%s = %s // alias of %s\n", c.name, c.alias, c.alias)
			case k.goType != "":
				fmt.Fprintf(&b, "\t%s %s = %s\n", c.name, k.goType, lit(c))
			default:
				if note, ok := untypedNames[c.name]; ok {
					fmt.Fprintf(&b, "\t%s = %s // %s\n", c.name, lit(c), note)
				} else {
					fmt.Fprintf(&b, "\t%s = %s\n", c.name, lit(c))
				}
			}
		}
		b.WriteString(")\n")
	}

	for _, k := range all {
		if k.table == "" {
			continue
		}
		fmt.Fprintf(&b, "\n// %s maps each %s to its canonical name.\nvar %s = map[%s]string{\n", k.table, k.goType, k.table, k.goType)
		for _, c := range consts {
			if c.kind == k && c.alias == "" {
				fmt.Fprintf(&b, "\t%s: %q,\n", c.name, c.name)
			}
		}
		b.WriteString("}\n")
		recv := strings.ToLower(k.goType[:1])
		fmt.Fprintf(&b, "\n// String returns the specification's name of %s, or %s0x followed by the value in hexadecimal.\n",
			recv, k.prefix)
		fmt.Fprintf(&b, "func (%s %s) String() string {\n\tif s, ok := %s[%s]; ok {\n\t\treturn s\n\t}\n", recv, k.goType, k.table, recv)
		fmt.Fprintf(&b, "\treturn fmt.Sprintf(\"%s0x%%x\", uint64(%s))\n}\n", k.prefix, recv)

		if k.byName == "" {
			continue
		}
		fmt.Fprintf(&b, "\n// %s maps the names of %s values, aliases included, to their values.\nvar %s = map[string]%s{\n",
			k.byName, k.goType, k.byName, k.goType)
		for _, c := range consts {
			if c.kind == k {
				fmt.Fprintf(&b, "\t%q: %s,\n", c.name, c.name)
			}
		}
		b.WriteString("}\n")
		fmt.Fprintf(&b, "\n// %s returns the %s named name (such as %q), accepting deprecated aliases too.\n",
			k.byNameFn, k.goType, firstName(consts, k))
		fmt.Fprintf(&b, "func %s(name string) (%s, bool) {\n\tv, ok := %s[name]\n\treturn v, ok\n}\n", k.byNameFn, k.goType, k.byName)
	}
	return b.Bytes()
}

func ptrs(ks []kind) []*kind {
	out := make([]*kind, len(ks))
	for i := range ks {
		out[i] = &ks[i]
	}
	return out
}

// family is the part of a name up to its first underscore after "CK", used to space untyped constants.
func family(name string) string {
	if i := strings.IndexByte(name, '_'); i >= 0 {
		return name[:i]
	}
	return name
}

func lit(c *constant) string {
	if c.dec {
		return strconv.FormatUint(c.value, 10)
	}
	return "0x" + strconv.FormatUint(c.value, 16)
}

func firstName(consts []*constant, k *kind) string {
	for _, c := range consts {
		if c.kind == k && c.alias == "" && c.value != 0 {
			return c.name
		}
	}
	return k.prefix
}
