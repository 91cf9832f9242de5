// Package embedding holds the embedding-table models: one id table over
// every node (users, then items) trained with sparse row updates: matrix
// factorisation (MF, optionally with SimpleX's user tower of behaviour
// aggregation and dropout) and DeepWalk-style skip-gram over random-walk
// pairs. Package consumer builds them by model name.
package embedding
