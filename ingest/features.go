package ingest

import (
	"math"
	"slices"

	"github.com/trainerd/trainerd/dataset"
)

// Column derivations written into dataset.Column.Derivation.
const (
	DerivNumeric  = "numeric"
	DerivOneHot   = "onehot"
	DerivMultiHot = "multihot"
)

// block is one feature column while it is built: n rows of col.Dim values.
type block struct {
	col  dataset.Column
	vals []float32 // row-major, n × col.Dim
}

// assemble interleaves the blocks into one row-major feature matrix.
func assemble(n int, blocks []block) *dataset.Features {
	if len(blocks) == 0 {
		return nil
	}
	f := &dataset.Features{}
	for _, b := range blocks {
		f.Schema = append(f.Schema, b.col)
	}
	dim := f.Schema.Dim()
	f.Data = make([]float32, n*dim)
	off := 0
	for _, b := range blocks {
		d := b.col.Dim
		for i := 0; i < n; i++ {
			copy(f.Data[i*dim+off:i*dim+off+d], b.vals[i*d:i*d+d])
		}
		off += d
	}
	return f
}

// numericBlock builds a one-value column; present[i] false leaves row i 0.
// With normalise the present values are z-scored (mean 0, std 1; a constant
// column becomes all 0).
func numericBlock(name string, vals []float64, present []bool, normalise bool) block {
	out := make([]float32, len(vals))
	mean, std := 0.0, 1.0
	if normalise {
		var sum, sq float64
		k := 0
		for i, v := range vals {
			if present[i] {
				sum += v
				k++
			}
		}
		if k > 0 {
			mean = sum / float64(k)
			for i, v := range vals {
				if present[i] {
					sq += (v - mean) * (v - mean)
				}
			}
			std = math.Sqrt(sq / float64(k))
		}
		if std == 0 {
			std = 1
		}
	}
	for i, v := range vals {
		if present[i] {
			out[i] = float32((v - mean) / std)
		}
	}
	return block{col: dataset.Column{Name: name, Dim: 1, Derivation: DerivNumeric}, vals: out}
}

// missingBlock is a 0/1 numeric column that is 1 where present is false.
func missingBlock(name string, present []bool) block {
	out := make([]float32, len(present))
	for i, p := range present {
		if !p {
			out[i] = 1
		}
	}
	return block{col: dataset.Column{Name: name, Dim: 1, Derivation: DerivNumeric}, vals: out}
}

// hotBlock builds a one-hot or multi-hot column over labels: sets[i] lists
// the label indices of row i.
func hotBlock(name, deriv string, labels []string, sets [][]int) block {
	d := len(labels)
	out := make([]float32, len(sets)*d)
	for i, s := range sets {
		for _, l := range s {
			out[i*d+l] = 1
		}
	}
	return block{col: dataset.Column{Name: name, Dim: d, Derivation: deriv, Labels: slices.Clone(labels)}, vals: out}
}

// oneHotLabels returns the sorted distinct non-empty values and, per row,
// the index of its value (an empty value gets no label).
func oneHotLabels(vals []string) ([]string, [][]int) {
	var labels []string
	for _, v := range vals {
		if v != "" {
			labels = append(labels, v)
		}
	}
	slices.Sort(labels)
	labels = slices.Compact(labels)
	sets := make([][]int, len(vals))
	for i, v := range vals {
		if v == "" {
			continue
		}
		j, _ := slices.BinarySearch(labels, v)
		sets[i] = []int{j}
	}
	return labels, sets
}
