package config

import (
	"fmt"
	"io"
	"reflect"

	yaml "go.yaml.in/yaml/v3"
)

// DiffBase is the configuration PrintDiff compares cfg with: the defaults,
// resolved for cfg's model (so keys derived from model.name, such as
// producer.layers, differ only when set to something else), with
// model.name itself left at its default so a model choice shows.
func DiffBase(cfg *Config) Config {
	base := unresolvedDefault()
	name := base.Model.Model
	base.Model.Model = cfg.Model.Model
	base.Resolve()
	base.Model.Model = name
	return base
}

// PrintDiff writes, as YAML in Config's field order, only the keys whose
// values in cfg differ from DiffBase(cfg): what a config file needs to say
// to give cfg. Loading the output gives back a Config identical to cfg. An
// empty difference prints "{}".
func PrintDiff(w io.Writer, cfg *Config) error {
	base := DiffBase(cfg)
	doc := diffNode(reflect.ValueOf(*cfg), reflect.ValueOf(base))
	if doc == nil {
		doc = &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("config: print --diff: %w", err)
	}
	return enc.Close()
}

// diffNode is the YAML of v where it differs from b (same type), nil where
// they are equal. Structs recurse key by key; other values (lists
// included) are written whole when they differ at all.
func diffNode(v, b reflect.Value) *yaml.Node {
	if v.Kind() != reflect.Struct {
		if reflect.DeepEqual(v.Interface(), b.Interface()) {
			return nil
		}
		return encodeNode(v)
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range fieldsOf(v.Type()) {
		if c := diffNode(v.FieldByIndex(f.index), b.FieldByIndex(f.index)); c != nil {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.name}, c)
		}
	}
	if len(n.Content) == 0 {
		return nil
	}
	return n
}
