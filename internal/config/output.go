package config

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"simclr/internal/atomicfile"
)

// YAML renders the fully resolved configuration with every key. Values that
// did not come from the built-in defaults carry a comment naming their
// source. Loading the output again gives an equal Config.
func (c *Config) YAML() ([]byte, error) {
	var root yaml.Node
	if err := root.Encode(c); err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	root.HeadComment = "Resolved simclr configuration (see docs/config.md for every key)."
	c.annotate(&root, "")
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	return buf.Bytes(), nil
}

// annotate adds "from <source>" comments to the keys set by something other
// than the defaults.
func (c *Config) annotate(m *yaml.Node, prefix string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], m.Content[i+1]
		key := prefix + kn.Value
		if vn.Kind == yaml.MappingNode {
			c.annotate(vn, key+".")
			continue
		}
		if o, ok := c.origins[key]; ok && o.kind != fromDefault {
			vn.LineComment = "from " + o.String()
		}
	}
}

// WriteFile writes the resolved configuration (as from YAML) to path
// atomically: to a temporary file in the same directory, synced, then
// renamed over path. Every run writes one next to its outputs.
func (c *Config) WriteFile(path string) error {
	out, err := c.YAML()
	if err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, out); err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return nil
}
