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
	"slices"
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

// NonConfigEnv lists the TRAINERD_* environment variables that are not
// config keys and that Load therefore accepts without reading them:
// TRAINERD_DATA (the tests' data directory), TRAINERD_LONG (long tests),
// TRAINERD_GOWALLA, TRAINERD_BENCH_CPU and TRAINERD_EXPECT_GPU (test and
// benchmark switches), TRAINERD_SCREENSHOT and TRAINERD_PAGE_OUT (where the
// status page's tests leave a screenshot and the page), TRAINERD_CUDA_BINARY
// and TRAINERD_CUDA_HANDOVER (the CPU binary's hand-over to trainerd-cuda),
// TRAINERD_PROGRESS (the progress display's mode, obs.ProgressEnv),
// TRAINERD_BLAS (the BLAS backend, linalg) and TRAINERD_SAGEREF (the CPU
// reference results the GPU PinSage test compares against, cuda/sageref).
// Any other TRAINERD_* variable that names no key is refused; a test
// (TestEnvNamesKnown) finds the variables the code reads and checks that each
// is a key's or listed here. It returns a new slice on each call.
func NonConfigEnv() []string {
	return []string{
		"TRAINERD_DATA", "TRAINERD_LONG", "TRAINERD_GOWALLA", "TRAINERD_BENCH_CPU",
		"TRAINERD_EXPECT_GPU", "TRAINERD_SCREENSHOT", "TRAINERD_PAGE_OUT", "TRAINERD_CUDA_BINARY",
		"TRAINERD_CUDA_HANDOVER", "TRAINERD_PROGRESS", "TRAINERD_BLAS", "TRAINERD_SAGEREF",
	}
}

// Load builds the effective configuration: the defaults, then the YAML file
// at path (skipped when path is ""; merged over the file its `base:` key
// names, see BaseKey), then TRAINERD_* environment variables,
// then sets, each "dotted.key=value" with value parsed as YAML (so
// "curriculum.margin.values=[[0, 0.1], [10, 0.2]]" works). The result is
// resolved (Resolve) and validated (Validate). Errors are *KeyError naming
// the full key (or, for an environment variable that names no key, the
// variable) where one is at fault; every unknown key, wrong type and invalid
// value is reported at once, joined with errors.Join.
func Load(path string, sets []string) (*Config, error) {
	var raw []byte
	if path != "" {
		var err error
		if raw, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if raw, err = withBase(path, raw); err != nil { // a `base:` file's keys first
			return nil, err
		}
	}
	return load(path, raw, os.Environ(), sets)
}

// load is Load with the file's contents (used when path != "") and the
// environment ("NAME=value" entries, as os.Environ) given.
func load(path string, raw []byte, environ []string, sets []string) (*Config, error) {
	v := viper.New()
	defs := map[string]any{}
	flatten(reflect.ValueOf(unresolvedDefault()), "", defs)
	known := map[string]bool{}
	byEnv := map[string]string{}
	for k, val := range defs {
		known[k] = true
		byEnv[EnvName(k)] = k
		v.SetDefault(k, val)
	}
	var errs errList
	if path != "" {
		v.SetConfigType("yaml")
		if err := v.ReadConfig(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	// The environment, in a fixed order so errors are too. Empty values are
	// ignored (as unset), like viper's own environment binding.
	fromEnv := map[string]bool{}
	other := map[string]bool{}
	for _, name := range NonConfigEnv() {
		other[name] = true
	}
	env := slices.Clone(environ)
	sort.Strings(env)
	for _, kv := range env {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || other[name] {
			continue
		}
		k, ok := byEnv[name]
		if !ok {
			errs.add(&KeyError{Key: name, Msg: unknownEnvMsg(name, "environment variable names no config key"+suggest(name, byEnv)), Kind: ErrUnknownKey})
			continue
		}
		if val != "" {
			v.Set(k, val)
			fromEnv[k] = true
		}
	}
	fromSet := map[string]bool{}
	for _, s := range sets {
		k, val, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			errs.add(fmt.Errorf("config: --set %q: want key=value", s))
			continue
		}
		if !known[k] {
			errs.add(&KeyError{Key: k, Msg: unknownKeyMsg(k, "unknown key") + " (--set)", Kind: ErrUnknownKey})
			continue
		}
		var parsed any
		if err := yaml.Unmarshal([]byte(val), &parsed); err != nil {
			errs.add(&KeyError{Key: k, Msg: fmt.Sprintf("--set value %q is not YAML: %v", val, err), Kind: ErrType})
			continue
		}
		if parsed == nil {
			parsed = ""
		}
		v.Set(k, parsed)
		fromSet[k] = true
	}
	// Where a key's value came from, for type errors: the highest layer
	// that set it.
	origin := func(key string) string {
		base, _, _ := strings.Cut(key, "[")
		switch {
		case fromSet[base]:
			return "--set"
		case fromEnv[base]:
			return "environment " + EnvName(base)
		case path != "":
			return "file " + path
		}
		return ""
	}
	for _, err := range checkTree(v.AllSettings(), reflect.TypeOf(Config{}), "") {
		if ke, ok := err.(*KeyError); ok {
			if o := origin(ke.Key); o != "" {
				ke.Msg += " (" + o + ")"
			}
		}
		errs.add(err)
		errs.blocking = true
	}
	if errs.blocking {
		return nil, errs.err()
	}
	// Unknown variables and --set keys were never set, so the rest decodes
	// and is validated too, all problems reported together.
	var cfg Config
	if err := v.UnmarshalExact(&cfg, func(dc *mapstructure.DecoderConfig) { dc.ErrorUnused = true }); err != nil {
		errs.add(fmt.Errorf("config: %w", err))
		return nil, errs.err()
	}
	normalize(reflect.ValueOf(&cfg).Elem())
	cfg.Resolve()
	errs.add(cfg.Validate())
	if err := errs.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// suggest returns " (did you mean NAME?)" for the known variable closest to
// name by edit distance, when one is close (at most a third of its length
// away), else "".
func suggest(name string, byEnv map[string]string) string {
	best, bestD := "", len(name)/3+1
	for known := range byEnv {
		if d := editDistance(name, known); d < bestD || (d == bestD && best != "" && known < best) {
			best, bestD = known, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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

// checkTree checks val against t and returns every unknown key and wrong
// type under it, in key order.
func checkTree(val any, t reflect.Type, key string) []error {
	if val == nil {
		return nil
	}
	one := func(err error) []error { return []error{err} }
	switch t.Kind() {
	case reflect.Struct:
		m, ok := val.(map[string]any)
		if !ok {
			return one(typeErr(key, "a mapping", val))
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
		var errs []error
		for _, k := range names {
			full := k
			if key != "" {
				full = key + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				errs = append(errs, &KeyError{Key: full, Msg: unknownKeyMsg(full, "unknown key"), Kind: ErrUnknownKey})
				continue
			}
			errs = append(errs, checkTree(m[k], ft, full)...)
		}
		return errs
	case reflect.Slice:
		rv := reflect.ValueOf(val)
		if rv.Kind() != reflect.Slice {
			return one(typeErr(key, "a list", val))
		}
		var errs []error
		for i := range rv.Len() {
			errs = append(errs, checkTree(rv.Index(i).Interface(), t.Elem(), fmt.Sprintf("%s[%d]", key, i))...)
		}
		return errs
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, ok := asInt(val); !ok {
			return one(typeErr(key, "an integer", val))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, ok := val.(uint64); ok {
			break
		}
		if n, ok := asInt(val); !ok || n < 0 {
			return one(typeErr(key, "a non-negative integer", val))
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := asFloat(val); !ok {
			return one(typeErr(key, "a number", val))
		}
	case reflect.Bool:
		switch x := val.(type) {
		case bool:
		case string:
			if _, err := strconv.ParseBool(x); err != nil {
				return one(typeErr(key, "true or false", val))
			}
		default:
			return one(typeErr(key, "true or false", val))
		}
	case reflect.String:
		if _, ok := val.(string); !ok {
			return one(typeErr(key, "a string", val))
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
//     trajectory; curriculum schedules depend on their own `over`, never on
//     epochs. (A model.lr_schedule given in run-relative units does; the
//     trainer hashes its resolved steps, so a change there is refused.)
//   - train.eval_every, train.eval_k: evaluation reads the model, never
//     changes it.
//   - train.patience: when training stops, not what it computes.
//   - train.cuda_binary: a path, not a behaviour.
//   - checkpoint.*, http.*: when state is saved and where metrics are served.
//   - train.tune.*: it picks a value of another key, and that value is
//     hashed; a run's own config has the chosen value and no tune section.
//
// train.device stays in the hash: CPU and CUDA arithmetic differ in the last
// bits, so switching device breaks bit-exactness. model.threads stays too,
// conservatively, in case a kernel's reduction order depends on it.
var HashExcluded = []string{
	"dataset.store", "producer.workers", "producer.queue", "train.epochs",
	"train.eval_every", "train.eval_k", "train.cuda_binary", "train.patience",
	"checkpoint.", "http.", "train.tune.",
}

// Hash returns the hex sha256 of cfg's canonical form (sorted key=value JSON)
// without the HashExcluded keys and without the keys at their type's zero
// value ("", 0, false, an empty list). Two configs with equal hashes train
// identically from the same checkpoint. Leaving zeros out loses nothing (the
// key set is fixed, so a missing key means zero), and it keeps the hashes of
// existing configs when trainerd gains a key whose default is zero: a run
// checkpointed by an older trainerd resumes under a newer one. cfg must be
// valid (Validate: every float finite), as Load's result always is; a NaN or
// ±Inf panics.
func Hash(cfg *Config) string {
	flat := map[string]any{}
	flatten(reflect.ValueOf(*cfg), "", flat)
	return hashFlat(flat)
}

// keyIn reports whether key is one of keys, where a key ending in "." stands
// for every key under it.
func keyIn(key string, keys []string) bool {
	for _, k := range keys {
		if key == k || (strings.HasSuffix(k, ".") && strings.HasPrefix(key, k)) {
			return true
		}
	}
	return false
}

// hashFlat is Hash of a flattened config (dotted key → value); it deletes
// the keys it leaves out from flat.
func hashFlat(flat map[string]any) string {
	for k, v := range flat {
		if rv := reflect.ValueOf(v); !rv.IsValid() || rv.IsZero() || (rv.Kind() == reflect.Slice && rv.Len() == 0) {
			delete(flat, k)
			continue
		}
		if keyIn(k, HashExcluded) {
			delete(flat, k)
		}
	}
	b, err := json.Marshal(flat) // map keys are sorted; floats print shortest round-trip
	if err != nil {
		panic(fmt.Sprintf("config: hash: %v (Validate refuses non-finite floats)", err)) // only plain finite values: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
