package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// Sources lists the places a configuration is read from. Precedence, highest
// first: Flags, Sets, Env, File, built-in defaults.
type Sources struct {
	File  string            // YAML file; "" for none
	Sets  []string          // "key=value" overrides from --set; later ones win; lists are comma-separated
	Env   []string          // environment as from os.Environ(); SIMCLR_DATA_LIMIT sets data.limit
	Flags map[string]string // key -> value from the dedicated flags that were set

	// FlagNames optionally maps a key in Flags to the flag that set it
	// ("train.epochs" -> "--epochs") so that errors can name the flag.
	FlagNames map[string]string
}

// entry is one value from one source, already converted to the key's type.
type entry struct {
	key    string
	value  any // int64, float64, string, bool or []float64
	origin origin
}

// Load resolves the configuration from its sources and validates it. The
// error lists every problem found, each naming the key and its source.
func Load(src Sources) (*Config, error) {
	var errs []error
	var layers [][]entry // lowest precedence first

	if src.File != "" {
		file, err := readFile(src.File)
		if err != nil {
			errs = append(errs, err)
		}
		layers = append(layers, file)
	}
	env, err := readEnv(src.Env)
	errs = append(errs, err)
	layers = append(layers, env)

	sets, err := readSets(src.Sets)
	errs = append(errs, err)
	layers = append(layers, sets)

	flags, err := readFlags(src.Flags, src.FlagNames)
	errs = append(errs, err)
	layers = append(layers, flags)

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c, err := merge(layers)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// merge layers the entries over the defaults in a viper instance (defaults
// as viper defaults, each later entry overriding the earlier ones) and
// decodes the result into a Config, remembering each key's origin.
func merge(layers [][]entry) (*Config, error) {
	v := viper.New()
	def := Default()
	for _, k := range schema {
		val, _ := def.Get(k.key)
		v.SetDefault(k.key, val)
	}
	origins := make(map[string]origin)
	for _, layer := range layers {
		for _, e := range layer {
			v.Set(e.key, e.value)
			origins[e.key] = e.origin
		}
	}
	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		return nil, fmt.Errorf("decode configuration: %w", err)
	}
	c.normalize()
	c.origins = origins
	return &c, nil
}

// normalize makes empty lists nil so that equal configurations compare equal
// whatever source they came from.
func (c *Config) normalize() {
	if len(c.Augment.Mean) == 0 {
		c.Augment.Mean = nil
	}
	if len(c.Augment.Std) == 0 {
		c.Augment.Std = nil
	}
}

// readFile parses a YAML configuration file into entries. Keys are
// case-sensitive; unknown or duplicated keys and values of the wrong type
// are errors naming the file and line.
func readFile(path string) ([]entry, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w (check the --config path)", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse config file %s: %w", path, err)
	}
	if len(doc.Content) == 0 { // empty file: nothing to override
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s:%d: the top level must be a mapping of keys such as `data:` and `train:`, got %s",
			path, root.Line, nodeKindName(root))
	}
	var entries []entry
	var errs []error
	seen := map[string]int{}
	var walk func(m *yaml.Node, prefix string)
	walk = func(m *yaml.Node, prefix string) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			kn, vn := m.Content[i], m.Content[i+1]
			key := prefix + kn.Value
			at := origin{kind: fromFile, detail: fmt.Sprintf("%s:%d", path, kn.Line)}
			if line, dup := seen[key]; dup {
				errs = append(errs, fmt.Errorf("config file %s: key %q appears twice (lines %d and %d); keep one",
					path, key, line, kn.Line))
				continue
			}
			seen[key] = kn.Line
			if prefix == "" && sections[key] {
				vn = resolveAlias(vn)
				switch {
				case vn.Kind == yaml.MappingNode:
					walk(vn, key+".")
				case vn.Kind == yaml.ScalarNode && vn.Tag == "!!null":
					// "data:" with nothing under it: no overrides
				default:
					errs = append(errs, &KeyError{Key: key, Origin: at.String(), Value: nodeText(vn),
						Problem: fmt.Sprintf("%s is a section; expected a mapping of its keys (e.g. %s)", key, exampleKey(key))})
				}
				continue
			}
			k, ok := schemaByKey[key]
			if !ok {
				errs = append(errs, &UnknownKeyError{Key: key, Origin: at.String(), Suggestion: suggestKey(key),
					Hint: "keys are lower-case snake_case"})
				continue
			}
			val, err := convertNode(k, resolveAlias(vn))
			if err != nil {
				errs = append(errs, &KeyError{Key: key, Origin: at.String(), Value: nodeText(vn), Problem: err.Error()})
				continue
			}
			entries = append(entries, entry{key: key, value: val, origin: at})
		}
	}
	walk(root, "")
	return entries, errors.Join(errs...)
}

// readEnv picks the SIMCLR_* variables out of an environment list; the
// runtime switches in RuntimeEnv are not configuration and are skipped.
func readEnv(env []string) ([]entry, error) {
	byVar := make(map[string]keyInfo, len(schema))
	for _, k := range schema {
		byVar[EnvVar(k.key)] = k
	}
	var entries []entry
	var errs []error
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || IsRuntimeEnv(name) {
			continue
		}
		at := origin{kind: fromEnv, detail: name}
		k, ok := byVar[name]
		if !ok {
			errs = append(errs, &UnknownKeyError{Key: name, Origin: "the environment", Suggestion: suggestEnv(name),
				Hint: "unset it or fix its name; every SIMCLR_* variable must name a configuration key (or be one of the runtime switches " + strings.Join(RuntimeEnv, ", ") + ")"})
			continue
		}
		val, err := convertString(k, value)
		if err != nil {
			errs = append(errs, &KeyError{Key: k.key, Origin: at.String(), Value: strconv.Quote(value), Problem: err.Error()})
			continue
		}
		entries = append(entries, entry{key: k.key, value: val, origin: at})
	}
	return entries, errors.Join(errs...)
}

// readSets parses --set key=value arguments.
func readSets(sets []string) ([]entry, error) {
	var entries []entry
	var errs []error
	for _, s := range sets {
		key, value, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			errs = append(errs, fmt.Errorf("--set %q: expected key=value, e.g. --set data.limit=512", s))
			continue
		}
		at := origin{kind: fromSet, detail: s}
		val, err := lookupAndConvert(key, value, at)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, entry{key: key, value: val, origin: at})
	}
	return entries, errors.Join(errs...)
}

// readFlags converts the values of the dedicated flags, in key order.
func readFlags(flags, names map[string]string) ([]entry, error) {
	var entries []entry
	var errs []error
	for _, key := range slices.Sorted(mapKeys(flags)) {
		value := flags[key]
		name := names[key]
		if name == "" {
			name = "command-line flag for " + key
		}
		at := origin{kind: fromFlag, detail: name}
		val, err := lookupAndConvert(key, value, at)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, entry{key: key, value: val, origin: at})
	}
	return entries, errors.Join(errs...)
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// lookupAndConvert checks that key exists and converts a textual value.
func lookupAndConvert(key, value string, at origin) (any, error) {
	k, ok := schemaByKey[key]
	if !ok {
		if sections[key] {
			return nil, &KeyError{Key: key, Origin: at.String(), Value: strconv.Quote(value),
				Problem: fmt.Sprintf("%s is a section, not a key; set one of its keys, e.g. %s", key, exampleKey(key))}
		}
		return nil, &UnknownKeyError{Key: key, Origin: at.String(), Suggestion: suggestKey(key)}
	}
	val, err := convertString(k, value)
	if err != nil {
		return nil, &KeyError{Key: key, Origin: at.String(), Value: strconv.Quote(value), Problem: err.Error()}
	}
	return val, nil
}

func exampleKey(section string) string {
	for _, k := range schema {
		if strings.HasPrefix(k.key, section+".") {
			return k.key
		}
	}
	return section
}

// convertString converts the text of an environment variable, --set or flag
// value to the key's type. Lists are comma-separated, optionally in [ ].
func convertString(k keyInfo, s string) (any, error) {
	t := strings.TrimSpace(s)
	switch k.kind {
	case kindInt:
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("expected %s", k.kind)
		}
		return n, nil
	case kindFloat:
		return parseFinite(t, k.kind)
	case kindString:
		return s, nil
	case kindBool:
		b, err := strconv.ParseBool(t)
		if err != nil {
			return nil, fmt.Errorf("expected %s", k.kind)
		}
		return b, nil
	default:
		t = strings.TrimSuffix(strings.TrimPrefix(t, "["), "]")
		var list []float64
		if strings.TrimSpace(t) != "" {
			for _, part := range strings.Split(t, ",") {
				f, err := parseFinite(strings.TrimSpace(part), k.kind)
				if err != nil {
					return nil, err
				}
				list = append(list, f)
			}
		}
		return checkLen(k, list)
	}
}

// convertNode converts a YAML value to the key's type.
func convertNode(k keyInfo, n *yaml.Node) (any, error) {
	isNull := n.Kind == yaml.ScalarNode && n.Tag == "!!null"
	switch k.kind {
	case kindFloatList, kindFloatPair:
		var list []float64
		switch {
		case isNull:
		case n.Kind == yaml.SequenceNode:
			for _, item := range n.Content {
				item = resolveAlias(item)
				if item.Kind != yaml.ScalarNode || (item.Tag != "!!int" && item.Tag != "!!float") {
					return nil, fmt.Errorf("expected %s", k.kind)
				}
				f, err := parseFinite(item.Value, k.kind)
				if err != nil {
					return nil, err
				}
				list = append(list, f)
			}
		case k.kind == kindFloatList && n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float"):
			f, err := parseFinite(n.Value, k.kind)
			if err != nil {
				return nil, err
			}
			list = []float64{f}
		default:
			return nil, fmt.Errorf("expected %s", k.kind)
		}
		return checkLen(k, list)
	}
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("expected %s, got %s", k.kind, nodeKindName(n))
	}
	switch k.kind {
	case kindInt:
		if n.Tag != "!!int" {
			return nil, fmt.Errorf("expected %s", k.kind)
		}
		v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil {
			return nil, fmt.Errorf("expected %s in the 64-bit range", k.kind)
		}
		return v, nil
	case kindFloat:
		if n.Tag != "!!int" && n.Tag != "!!float" {
			return nil, fmt.Errorf("expected %s", k.kind)
		}
		return parseFinite(n.Value, k.kind)
	case kindString:
		if isNull {
			return "", nil
		}
		return n.Value, nil
	case kindBool:
		if n.Tag != "!!bool" {
			return nil, fmt.Errorf("expected %s", k.kind)
		}
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			return nil, fmt.Errorf("expected %s", k.kind)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unsupported key type")
}

func checkLen(k keyInfo, list []float64) (any, error) {
	if k.kind == kindFloatPair && len(list) != 2 {
		return nil, fmt.Errorf("expected %s, got %d values", k.kind, len(list))
	}
	return list, nil
}

// parseFinite parses a number in Go or YAML syntax and rejects NaN and
// infinities.
func parseFinite(s string, want kind) (float64, error) {
	switch strings.ToLower(s) {
	case ".nan", "nan", ".inf", "+.inf", "-.inf", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity":
		return 0, fmt.Errorf("expected %s, got a non-finite value; use a finite number", want)
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil {
		return 0, fmt.Errorf("expected %s", want)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("expected %s, got a non-finite value; use a finite number", want)
	}
	return f, nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func nodeKindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	}
	return "an unsupported YAML node"
}

// nodeText renders a YAML value compactly for error messages.
func nodeText(n *yaml.Node) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			return strconv.Quote(n.Value)
		}
		return n.Value
	case yaml.SequenceNode:
		parts := make([]string, len(n.Content))
		for i, c := range n.Content {
			parts[i] = nodeText(c)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case yaml.MappingNode:
		return "{...}"
	}
	return "?"
}

// valueText renders a typed value for error messages.
func valueText(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = valueText(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}
