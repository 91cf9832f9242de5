// Package propagation holds the models that propagate an id table over the
// whole normalised training graph every step, LightGCN and NGCF, and the
// balanced parallel SpMM (with its AVX kernel, vec.Gather64) both run.
// Package consumer builds them by model name.
package propagation
