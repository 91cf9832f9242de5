package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	yaml "go.yaml.in/yaml/v3"
)

// EnvPrefix is the prefix of the environment variables that override keys.
const EnvPrefix = "TRAINERD"

// leaf is one settable key: its dotted path and Go type.
type leaf struct {
	key string
	typ reflect.Type
}

// field is one key-bearing field of a struct as YAML sees it.
type field struct {
	name  string       // the key segment (mapstructure tag or lower-cased name)
	index []int        // reflect.Value.FieldByIndex path from the outer struct
	typ   reflect.Type // the field's type
}

// fieldsOf lists the fields of struct type t in order, inlining every field
// tagged `mapstructure:",squash"` (as mapstructure does when decoding), so
// Producer's embedded producer.Config contributes batch_size, walk, ... at
// Producer's level.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if squashed(f) {
			for _, g := range fieldsOf(f.Type) {
				out = append(out, field{g.name, append([]int{i}, g.index...), g.typ})
			}
			continue
		}
		out = append(out, field{tagName(f), []int{i}, f.Type})
	}
	return out
}

// squashed reports whether f is a struct field tagged `,squash`.
func squashed(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	if f.Type.Kind() != reflect.Struct {
		return false
	}
	for _, o := range strings.Split(opts, ",") {
		if strings.TrimSpace(o) == "squash" {
			return true
		}
	}
	return false
}

// leaves lists the keys of t (a struct type) in field order.
func leaves(t reflect.Type, prefix string) []leaf {
	var out []leaf
	for _, f := range fieldsOf(t) {
		key := prefix + f.name
		if f.typ.Kind() == reflect.Struct {
			out = append(out, leaves(f.typ, key+".")...)
			continue
		}
		out = append(out, leaf{key, f.typ})
	}
	return out
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// flatten returns key → value for every leaf of v (a struct value).
func flatten(v reflect.Value, prefix string, out map[string]any) {
	for _, f := range fieldsOf(v.Type()) {
		key := prefix + f.name
		fv := v.FieldByIndex(f.index)
		if f.typ.Kind() == reflect.Struct {
			flatten(fv, key+".", out)
			continue
		}
		out[key] = fv.Interface()
	}
}

// EnvName is the environment variable that overrides key (e.g. model.lr →
// TRAINERD_MODEL_LR).
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Keys lists every config key in the order Print writes them.
func Keys() []string {
	var out []string
	for _, l := range leaves(reflect.TypeOf(Config{}), "") {
		out = append(out, l.key)
	}
	return out
}

// Load builds the effective configuration: the defaults, then the YAML file
// at path (skipped when path is ""), then TRAINERD_* environment variables,
// then sets, each "dotted.key=value" with value parsed as YAML (so
// "curriculum.lr.values=[[0, 1e-3], [10, 5e-4]]" works). The result is
// validated. Errors are *KeyError naming the full key where one is at fault.
func Load(path string, sets []string) (*Config, error) {
	v := viper.New()
	def := Default()
	defs := map[string]any{}
	flatten(reflect.ValueOf(def), "", defs)
	known := map[string]bool{}
	for k, val := range defs {
		known[k] = true
		v.SetDefault(k, val)
		// Explicit bindings (not AutomaticEnv): a variable named after a
		// section, such as TRAINERD_DATA, must not shadow its keys.
		if err := v.BindEnv(k, EnvName(k)); err != nil {
			return nil, fmt.Errorf("config: bind %s: %w", k, err)
		}
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		v.SetConfigType("yaml")
		if err := v.ReadConfig(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	for _, s := range sets {
		k, val, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("config: --set %q: want key=value", s)
		}
		if !known[k] {
			return nil, &KeyError{Key: k, Msg: "unknown key", Kind: ErrUnknownKey}
		}
		var parsed any
		if err := yaml.Unmarshal([]byte(val), &parsed); err != nil {
			return nil, &KeyError{Key: k, Msg: fmt.Sprintf("--set value %q is not YAML: %v", val, err), Kind: ErrType}
		}
		if parsed == nil {
			parsed = ""
		}
		v.Set(k, parsed)
	}
	if err := checkTree(v.AllSettings(), reflect.TypeOf(def), ""); err != nil {
		if path != "" {
			if ke, ok := err.(*KeyError); ok {
				ke.Msg += " (file " + path + ", environment or --set)"
			}
		}
		return nil, err
	}
	var cfg Config
	if err := v.UnmarshalExact(&cfg, func(dc *mapstructure.DecoderConfig) { dc.ErrorUnused = true }); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	normalize(reflect.ValueOf(&cfg).Elem())
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// normalize turns empty slices into nil so a printed `[]` loads back equal.
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			normalize(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := range v.Len() {
			normalize(v.Index(i))
		}
	}
}

// checkTree checks val against t, naming unknown keys and wrong types.
func checkTree(val any, t reflect.Type, key string) error {
	if val == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := val.(map[string]any)
		if !ok {
			return typeErr(key, "a mapping", val)
		}
		fields := map[string]reflect.Type{}
		for _, f := range fieldsOf(t) {
			fields[f.name] = f.typ
		}
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			full := k
			if key != "" {
				full = key + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				return &KeyError{Key: full, Msg: "unknown key", Kind: ErrUnknownKey}
			}
			if err := checkTree(m[k], ft, full); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		rv := reflect.ValueOf(val)
		if rv.Kind() != reflect.Slice {
			return typeErr(key, "a list", val)
		}
		for i := range rv.Len() {
			if err := checkTree(rv.Index(i).Interface(), t.Elem(), fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, ok := asInt(val); !ok {
			return typeErr(key, "an integer", val)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, ok := val.(uint64); ok {
			break
		}
		if n, ok := asInt(val); !ok || n < 0 {
			return typeErr(key, "a non-negative integer", val)
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := asFloat(val); !ok {
			return typeErr(key, "a number", val)
		}
	case reflect.Bool:
		switch x := val.(type) {
		case bool:
		case string:
			if _, err := strconv.ParseBool(x); err != nil {
				return typeErr(key, "true or false", val)
			}
		default:
			return typeErr(key, "true or false", val)
		}
	case reflect.String:
		if _, ok := val.(string); !ok {
			return typeErr(key, "a string", val)
		}
	}
	return nil
}

func typeErr(key, want string, got any) error {
	var g string
	switch x := got.(type) {
	case string:
		g = strconv.Quote(x)
	case map[string]any:
		g = "a mapping"
	case []any:
		g = "a list"
	default:
		g = fmt.Sprint(x)
	}
	return &KeyError{Key: key, Msg: "want " + want + ", got " + g, Kind: ErrType}
}

func asInt(val any) (int64, bool) {
	switch x := val.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case float64:
		return int64(x), x == math.Trunc(x) && math.Abs(x) < 1<<53
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			if _, uerr := strconv.ParseUint(strings.TrimSpace(x), 10, 64); uerr == nil {
				return math.MaxInt64, true // fits a uint64 field; int fields overflow in decoding
			}
		}
		return n, err == nil
	}
	return 0, false
}

func asFloat(val any) (float64, bool) {
	switch x := val.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	n, ok := asInt(val)
	return float64(n), ok
}

// Print writes cfg as YAML with every key, in Config's field order. Loading
// the output gives back an identical Config.
func Print(w io.Writer, cfg *Config) error {
	doc := encodeNode(reflect.ValueOf(*cfg))
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("config: print: %w", err)
	}
	return enc.Close()
}

func encodeNode(v reflect.Value) *yaml.Node {
	switch v.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range fieldsOf(v.Type()) {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.name}, encodeNode(v.FieldByIndex(f.index)))
		}
		return n
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := range v.Len() {
			n.Content = append(n.Content, encodeNode(v.Index(i)))
		}
		return n
	case reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String(), Style: yaml.DoubleQuotedStyle}
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(v.Uint(), 10)}
	case reflect.Float32, reflect.Float64:
		s := strconv.FormatFloat(v.Float(), 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") { // keep it a float in YAML
			s += ".0"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(v.Interface())}
}

// HashExcluded lists the keys Hash ignores: those that may change across a
// resume without changing a single bit of the training trajectory.
//   - dataset.store: where the data lives; its identity is the dataset
//     fingerprint checked separately.
//   - producer.workers, producer.queue: batches are identical for any number
//     of producers and any queue depth.
//   - train.epochs: extending (or shortening) a run continues the same
//     trajectory; schedules depend on their own `over`, never on epochs.
//   - train.eval_every, train.eval_k: evaluation reads the model, never
//     changes it.
//   - train.cuda_binary: a path, not a behaviour.
//   - checkpoint.*, http.*: when state is saved and where metrics are served.
//
// train.device stays in the hash: CPU and CUDA arithmetic differ in the last
// bits, so switching device breaks bit-exactness. model.threads stays too,
// conservatively, in case a kernel's reduction order depends on it.
var HashExcluded = []string{
	"dataset.store", "producer.workers", "producer.queue", "train.epochs",
	"train.eval_every", "train.eval_k", "train.cuda_binary",
	"checkpoint.", "http.",
}

// Hash returns the hex sha256 of cfg's canonical form (sorted key=value JSON)
// without the HashExcluded keys. Two configs with equal hashes train
// identically from the same checkpoint.
func Hash(cfg *Config) string {
	flat := map[string]any{}
	flatten(reflect.ValueOf(*cfg), "", flat)
	for k := range flat {
		for _, ex := range HashExcluded {
			if k == ex || (strings.HasSuffix(ex, ".") && strings.HasPrefix(k, ex)) {
				delete(flat, k)
			}
		}
	}
	b, err := json.Marshal(flat) // map keys are sorted; floats print shortest round-trip
	if err != nil {
		panic(fmt.Sprintf("config: hash: %v", err)) // only plain values: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
