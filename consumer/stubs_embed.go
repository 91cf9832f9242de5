package consumer

import "errors"

// Placeholders replaced by the embedding-model files (mf.go, deepwalk.go, lightgcn.go, ngcf.go).

func newMF(Config, Info) (Model, error)       { return nil, errors.New("mf: not built yet") }
func newDeepWalk(Config, Info) (Model, error) { return nil, errors.New("deepwalk: not built yet") }
func newLightGCN(Config, Info) (Model, error) { return nil, errors.New("lightgcn: not built yet") }
func newNGCF(Config, Info) (Model, error)     { return nil, errors.New("ngcf: not built yet") }
