package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Strings is a value Teleport accepts as one string or a list of strings
// (public_addr, ca_pin, ...).
type Strings []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (s *Strings) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*s = nil
			return nil
		}
		*s = Strings{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(Strings, 0, len(n.Content))
		for i, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("item %d: expected a string", i)
			}
			out = append(out, item.Value)
		}
		*s = out
		return nil
	}
	return errors.New("expected a string or a list of strings")
}

// Error is a config problem, located by its key path (teleport.storage.type)
// and line.
type Error struct {
	Path string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// Errors is every problem found in one file.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Load reads and strictly validates a teleport.yaml.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open file for Teleport configuration at %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("failed parsing the config file %s: %w", path, err)
	}
	return f, nil
}

// Parse strictly validates teleport.yaml content the way lib/config.ReadConfig
// does: unknown keys and values of the wrong type are errors naming their path,
// then the checks Teleport's custom UnmarshalYAML methods make (parseChecks).
// It is all `teleport configure --test` does; Apply holds the checks that only
// `teleport start` makes.
func Parse(data []byte) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, errors.New("the file is empty")
	}
	var errs Errors
	walk(root.Content[0], reflect.TypeOf(File{}), "", &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	// The walk found no unknown key; decoding with KnownFields is the same
	// check done by the YAML library, kept as a safety net.
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if errs := f.parseChecks(); len(errs) > 0 {
		return nil, errs
	}
	return &f, nil
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	durationType    = reflect.TypeOf(time.Duration(0))
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walk checks node against the Go type t, recording unknown keys and type
// mismatches with their path.
func walk(n *yaml.Node, t reflect.Type, path string, errs *Errors) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t == durationType || t.Kind() != reflect.Struct && t.Kind() != reflect.Slice && t.Kind() != reflect.Map {
		leaf(n, t, path, errs)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &Error{path, n.Line, fmt.Sprintf("expected a mapping, got %s", kindName(n))})
			return
		}
		fields, extra := structKeys(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			switch {
			case ok:
				walk(v, ft, join(path, k.Value), errs)
			case extra:
				// An inline map (storage parameters): checked by Validate.
			default:
				*errs = append(*errs, &Error{join(path, k.Value), k.Line, "unknown key: Teleport does not accept it here (check the key name and its indentation against the teleport.yaml reference)"})
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			*errs = append(*errs, &Error{path, n.Line, fmt.Sprintf("expected a list, got %s", kindName(n))})
			return
		}
		for i, item := range n.Content {
			walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &Error{path, n.Line, fmt.Sprintf("expected a mapping, got %s", kindName(n))})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs)
		}
	}
}

// leaf decodes a scalar-like node into a fresh value of type t to catch type
// errors at their path.
func leaf(n *yaml.Node, t reflect.Type, path string, errs *Errors) {
	if t.Kind() == reflect.Interface {
		return
	}
	if !reflect.PointerTo(t).Implements(unmarshalerType) && n.Kind != yaml.ScalarNode {
		*errs = append(*errs, &Error{path, n.Line, fmt.Sprintf("expected a single value, got %s", kindName(n))})
		return
	}
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		*errs = append(*errs, &Error{path, n.Line, "invalid value: " + strings.TrimPrefix(msg, "yaml: ")})
	}
}

// structKeys maps yaml key names to field types, flattening inline structs;
// extra reports an inline map that swallows other keys.
func structKeys(t reflect.Type) (map[string]reflect.Type, bool) {
	out := map[string]reflect.Type{}
	extra := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			if f.Type.Kind() == reflect.Map {
				extra = true
				continue
			}
			inner, innerExtra := structKeys(f.Type)
			for k, v := range inner {
				out[k] = v
			}
			extra = extra || innerExtra
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out[name] = f.Type
	}
	return out, extra
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}
