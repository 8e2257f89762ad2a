// YAML manifests for keyward provision (gopkg.in/yaml.v3).

package main

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

func init() { yamlDecoder = decodeYAML }

var yamlLine = regexp.MustCompile(`line (\d+)`)

// decodeYAML decodes strictly (unknown fields are errors) and records the line of every token, key and
// certificate entry for validation messages.
func decodeYAML(data []byte, m *manifest) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(m); err != nil {
		msgs := []string{err.Error()}
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msgs = te.Errors
		}
		p := &manifestProblems{file: m.file}
		for _, msg := range msgs {
			line := 0
			if sm := yamlLine.FindStringSubmatch(msg); sm != nil {
				line, _ = strconv.Atoi(sm[1])
				msg = strings.TrimPrefix(msg[strings.Index(msg, sm[0])+len(sm[0]):], ":")
			}
			p.add(line, "%s", cleanDecodeError(msg))
		}
		return p.err()
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil || len(root.Content) == 0 {
		return nil
	}
	tokens := mapValue(root.Content[0], "tokens")
	if tokens == nil {
		return nil
	}
	for i, tn := range tokens.Content {
		if i >= len(m.Tokens) {
			break
		}
		m.Tokens[i].Line = tn.Line
		if keys := mapValue(tn, "keys"); keys != nil {
			for j, kn := range keys.Content {
				if j < len(m.Tokens[i].Keys) {
					m.Tokens[i].Keys[j].Line = kn.Line
				}
			}
		}
		if certs := mapValue(tn, "certificates"); certs != nil {
			for j, cn := range certs.Content {
				if j < len(m.Tokens[i].Certificates) {
					m.Tokens[i].Certificates[j].Line = cn.Line
				}
			}
		}
	}
	return nil
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
