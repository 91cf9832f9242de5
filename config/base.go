package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// BaseKey is the top-level key of a config file that names another config
// file it overlays: `base: gowalla-mf-ccl.yaml`. The path is relative to the
// file that names it. The base's keys apply first, then the file's own:
// mappings merge key by key, any other value (a scalar, a list) replaces the
// base's whole. A base may name a base of its own; a cycle is an error.
const BaseKey = "base"

// maxBaseDepth bounds a chain of bases.
const maxBaseDepth = 16

// withBase returns the YAML of the config file at path (contents raw) with
// its chain of bases merged in. A file without BaseKey comes back
// unchanged.
func withBase(path string, raw []byte) ([]byte, error) {
	merged, files, err := resolveBase(path, raw, nil)
	if err != nil {
		return nil, err
	}
	if len(files) == 1 {
		return raw, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(merged); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

// resolveBase parses raw (the file at path) and merges it over its base;
// chain holds the files already on the way (cycle detection).
func resolveBase(path string, raw []byte, chain []string) (map[string]any, []string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %s: %w", path, err)
	}
	for _, c := range chain {
		if c == abs {
			return nil, nil, &KeyError{Key: BaseKey, Msg: fmt.Sprintf("%s: cycle of bases: %s → %s", path, strings.Join(chain, " → "), abs), Kind: ErrInvalid}
		}
	}
	if len(chain) >= maxBaseDepth {
		return nil, nil, &KeyError{Key: BaseKey, Msg: fmt.Sprintf("%s: more than %d bases in a chain", path, maxBaseDepth), Kind: ErrInvalid}
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("config: %s: %w", path, err)
	}
	bv, ok := doc[BaseKey]
	if !ok {
		return doc, []string{path}, nil
	}
	name, isStr := bv.(string)
	if !isStr || name == "" {
		return nil, nil, &KeyError{Key: BaseKey, Msg: fmt.Sprintf("%s: want the path of a config file, got %v", path, bv), Kind: ErrType}
	}
	delete(doc, BaseKey)
	bpath := name
	if !filepath.IsAbs(bpath) {
		bpath = filepath.Join(filepath.Dir(path), bpath)
	}
	braw, err := os.ReadFile(bpath)
	if err != nil {
		return nil, nil, &KeyError{Key: BaseKey, Msg: fmt.Sprintf("%s: %v", path, err), Kind: ErrInvalid}
	}
	base, files, err := resolveBase(bpath, braw, append(chain, abs))
	if err != nil {
		return nil, nil, err
	}
	return mergeYAML(base, doc), append(files, path), nil
}

// mergeYAML overlays over onto base: mappings merge recursively, anything
// else in over replaces base's value.
func mergeYAML(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		bm, bok := out[k].(map[string]any)
		om, ook := v.(map[string]any)
		if bok && ook {
			out[k] = mergeYAML(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}
