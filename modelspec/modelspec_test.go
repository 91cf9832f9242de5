package modelspec

import (
	"go/build"
	"slices"
	"strings"
	"testing"
)

func TestParseStringRoundTrip(t *testing.T) {
	for _, l := range []Loss{LossBPR, LossMargin, LossSoftmax, LossSGNS, LossCCL} {
		got, err := ParseLoss(l.String())
		if err != nil || got != l {
			t.Errorf("ParseLoss(%q) = %v, %v; want %v", l.String(), got, err, l)
		}
	}
	for _, k := range []ExampleKind{UserItem, ItemItem, Walks} {
		got, err := ParseExampleKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseExampleKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	for _, s := range []Schedule{ScheduleConstant, ScheduleStep, ScheduleCosine} {
		got, err := ParseSchedule(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSchedule(%q) = %v, %v; want %v", s.String(), got, err, s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"loss", func() error { _, err := ParseLoss("hinge"); return err }, `unknown loss "hinge" (want bpr, margin, softmax, sgns or ccl)`},
		{"loss empty", func() error { _, err := ParseLoss(""); return err }, `unknown loss ""`},
		{"example", func() error { _, err := ParseExampleKind("pairs"); return err }, `unknown example kind "pairs" (want user_item, item_item or walks)`},
		{"schedule", func() error { _, err := ParseSchedule("linear"); return err }, `unknown lr schedule "linear" (want constant, step or cosine)`},
	} {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
	if s, err := ParseSchedule(""); err != nil || s != ScheduleConstant {
		t.Errorf(`ParseSchedule("") = %v, %v; want constant`, s, err)
	}
	if got := Loss(9).String(); got != "Loss(9)" {
		t.Errorf("Loss(9).String() = %q", got)
	}
}

// TestSpecsConsistent checks the invariants the rest of trainerd relies on.
func TestSpecsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range All() {
		if s.Name == "" || seen[s.Name] {
			t.Errorf("spec name %q empty or repeated", s.Name)
		}
		seen[s.Name] = true
		if s.DefaultLayers < 1 {
			t.Errorf("%s: DefaultLayers %d", s.Name, s.DefaultLayers)
		}
		if s.Convolves != (s.Arch == ArchConv) {
			t.Errorf("%s: Convolves %v but Arch %d", s.Name, s.Convolves, s.Arch)
		}
		if (s.DefaultAggregator == "") != (len(s.Aggregators) == 0) || (s.DefaultAggregator != "" && !slices.Contains(s.Aggregators, s.DefaultAggregator)) {
			t.Errorf("%s: default aggregator %q not among %q", s.Name, s.DefaultAggregator, s.Aggregators)
		}
		if len(s.Losses) == 0 {
			t.Errorf("%s: no losses", s.Name)
		}
		for _, l := range s.Losses {
			if !slices.Contains(ConfigLosses(), l) {
				t.Errorf("%s: loss %v is not a config loss", s.Name, l)
			}
		}
		if s.CUDA && !slices.Contains(CUDALosses(), s.DefaultLoss) {
			t.Errorf("%s: CUDA model whose default loss %v has no CUDA kernel", s.Name, s.DefaultLoss)
		}
		got, ok := Lookup(s.Name)
		if !ok || got.Name != s.Name {
			t.Errorf("Lookup(%q) = %v, %v", s.Name, got.Name, ok)
		}
	}
	if _, ok := Lookup("pinsage2"); ok {
		t.Error("Lookup of an unknown name succeeded")
	}
}

// TestFreshValues checks that callers cannot change the registry through
// what it returns.
func TestFreshValues(t *testing.T) {
	s, _ := Lookup(PinSage)
	s.Aggregators[0] = "changed"
	s.Losses[0] = LossCCL
	again, _ := Lookup(PinSage)
	if again.Aggregators[0] != "importance" || again.Losses[0] != LossBPR {
		t.Errorf("registry changed through a returned spec: %v %v", again.Aggregators, again.Losses)
	}
}

func TestQueries(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  any
		want any
	}{
		{"Names", strings.Join(Names(), ","), "mf,deepwalk,lightgcn,ngcf,graphsage,pinsage"},
		{"NameList", NameList(), "mf, deepwalk, lightgcn, ngcf, graphsage or pinsage"},
		{"CUDANames", strings.Join(CUDANames(), ","), "mf,lightgcn,pinsage"},
		{"Aggregators", strings.Join(Aggregators(), ","), "importance,mean,max,pool,gcn,gat"},
		{"Convolves pinsage", Convolves(PinSage), true},
		{"Convolves lightgcn", Convolves(LightGCN), false},
		{"Convolves unknown", Convolves("x"), false},
		{"deepwalk examples", mustLookup(DeepWalk).ExampleKind(ItemItem), Walks},
		{"mf examples", mustLookup(MF).ExampleKind(ItemItem), ItemItem},
		{"pinsage features id", mustLookup(PinSage).ReadsFeatures("id"), false},
		{"pinsage features default", mustLookup(PinSage).ReadsFeatures(""), true},
		{"mf features", mustLookup(MF).ReadsFeatures("both"), false},
		{"lightgcn layers 0", mustLookup(LightGCN).Layers(0), 3},
		{"graphsage layers 0", mustLookup(GraphSAGE).Layers(0), 2},
		{"graphsage layers 4", mustLookup(GraphSAGE).Layers(4), 4},
		{"allows ccl", mustLookup(MF).AllowsLoss(LossCCL), true},
		{"allows sgns", mustLookup(MF).AllowsLoss(LossSGNS), false},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func mustLookup(name string) Spec {
	s, ok := Lookup(name)
	if !ok {
		panic(name)
	}
	return s
}

// TestLeaf keeps the package a leaf: it imports nothing of trainerd.
func TestLeaf(t *testing.T) {
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range p.Imports {
		if strings.HasPrefix(imp, "github.com/trainerd/") {
			t.Errorf("modelspec imports %s; it must stay a leaf", imp)
		}
	}
}
