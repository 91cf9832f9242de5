package config

//go:generate go test -run ^TestReferenceYAML$ -update .

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/trainerd/trainerd/modelspec"
)

// ReferencePath is where the reference configuration lives, relative to
// the repository root. TestReferenceYAML fails when the file there differs
// from what WriteReference writes; `go generate ./config/` rewrites it.
const ReferencePath = "configs/reference.yaml"

// refDoc is the documentation of one key in the reference configuration.
type refDoc struct {
	// before are comment lines written above the key, at its indentation.
	before []string
	// doc are the comment lines of the key: the first on the key's line at
	// the comment column, the others on their own lines below it.
	doc []string
	// bare marks a section whose keys are written without comments.
	bare bool
}

// referenceHeader is the comment block that opens the reference
// configuration.
func referenceHeader() []string {
	return []string{
		"trainerd reference configuration: every key with its default value.",
		"",
		"Load order (later wins): these defaults < a YAML file (--config) <",
		"environment TRAINERD_<KEY> (dots become underscores: TRAINERD_MODEL_LR,",
		"TRAINERD_PRODUCER_WALK_STEPS) < --set key=value (dotted keys, value",
		"parsed as YAML). Unknown keys (and TRAINERD_* variables that name none),",
		"wrong types, non-finite numbers (inf, .inf, nan) and out-of-range values are",
		"refused, each with its full key path, all of them at once. `trainerd config",
		"print` shows the effective configuration; loading this file gives exactly",
		"the defaults.",
	}
}

// referenceDocs documents every key of Config for the reference
// configuration, by full dotted key (sections included). Keep it next to
// the defaults: WriteReference refuses a key without a doc, and a doc
// without a key.
func referenceDocs() map[string]refDoc {
	return map[string]refDoc{
		"dataset.store":    {doc: []string{"Badger feature store dir (trainerd ingest / trainerd gen)"}},
		"model":            {doc: []string{"model.Config"}},
		"model.name":       {doc: []string{strings.Join(modelspec.Names(), " | ")}},
		"model.dim":        {doc: []string{"embedding / output dimension, in [1,16384]"}},
		"model.layers":     {doc: []string{"propagation/convolution layers, in [0,8]; 0 = model default (3 lightgcn/ngcf, else 2)"}},
		"model.hidden":     {doc: []string{"hidden width of GNN layers, in [0,16384]; 0 = 2*dim"}},
		"model.aggregator": {doc: []string{strings.Join(modelspec.Aggregators(), " | ") + "; \"\" = " + defaultAggregators()}},
		"model.inputs":     {doc: []string{"id | features | both; \"\" = id without store features, else both"}},
		"model.normalize":  {doc: []string{"L2-normalise output embeddings (cosine scoring)"}},
		"model.residual": {doc: []string{
			"add each node's input (id embedding and/or projected features) to the",
			"network's output: the layers learn a correction to an embedding table (pinsage; CPU only)",
		}},
		"model.loss": {doc: []string{
			"bpr | margin | softmax (sampled softmax over the shared pool) |",
			"ccl (SimpleX's cosine contrastive loss; use with normalize: true; CPU only)",
		}},
		"model.margin":      {doc: []string{"Δ of the max-margin loss, m of ccl (≥ 0); may be scheduled by curriculum.margin"}},
		"model.neg_weight":  {doc: []string{"w of ccl, weight of its mean negative term (> 0)"}},
		"model.temperature": {doc: []string{"sampled-softmax temperature (> 0)"}},
		"model.history":     {doc: []string{"SimpleX behaviour aggregation (mf only, user_item examples); weight 0 turns it off"}},
		"model.history.weight": {doc: []string{
			"w: the user vector is",
			"(1-w)·e_u + w·mean(e_j of its train items)·M, w in [0,1]; 0 = plain MF",
		}},
		"model.history.max":          {doc: []string{"train items averaged per user per step (uniform sample), ≤ 1048576; 0 = all"}},
		"model.history.linear":       {doc: []string{"learn the d×d M (initialised to identity); false keeps M = I"}},
		"model.history.degree_power": {doc: []string{"β ≥ 0: weight history item j by deg_j^-β (a weighted mean); 0 = plain mean"}},
		"model.history.embed_only":   {doc: []string{"apply the aggregation only to exported/evaluated user vectors: trains as plain MF"}},
		"model.dropout":              {doc: []string{"dropout on MF user vectors in training, in [0,1) (mf only)"}},
		"model.l2":                   {doc: []string{"L2 weight on the embeddings a batch uses (≥ 0)"}},
		"model.optimizer":            {doc: []string{"adam | sgd | adagrad"}},
		"model.lr":                   {doc: []string{"base learning rate (> 0), the peak of model.lr_schedule"}},
		"model.seed":                 {doc: []string{"parameter initialisation seed"}},
		"model.threads":              {doc: []string{"goroutines per step, ≤ 1024; 0 = GOMAXPROCS"}},
		"model.in_batch":             {doc: []string{"other examples' positives as extra negatives"}},
		"model.lr_schedule": {doc: []string{
			"constant | step | cosine: the one learning-rate schedule (warm-up and decay",
			"in epochs of the run below, or in steps)",
		}},
		"model.warmup_epochs": {doc: []string{
			"warm-up in epochs of the run (× batches per epoch); not with warmup_steps",
		}},
		"model.decay_epochs": {doc: []string{
			"decay period / cosine length in epochs; not with decay_steps. Neither set: a cosine",
			"spans the whole run (train.epochs less the warm-up)",
		}},
		"model.lr_unit": {doc: []string{
			"step | epoch: the rate changes every step, or is held for each epoch at the",
			"schedule's value at the epoch's first step",
		}},
		"model.warmup_steps": {doc: []string{"linear learning-rate warm-up steps"}},
		"model.decay_steps":  {doc: []string{"step-decay period, or cosine length"}},
		"model.decay_rate":   {doc: []string{"step-decay factor"}},
		"model.min_lr":       {doc: []string{"floor of the cosine schedule"}},
		"model.init_std":     {doc: []string{"std of the normal init of id-embedding tables (> 0)"}},
		"producer":           {doc: []string{"producer.Config (package producer) plus workers and queue"}},
		"producer.workers":   {doc: []string{"producer goroutines, ≤ 1024; 0 = GOMAXPROCS (batches are identical for any value; not hashed)"}},
		"producer.queue":     {doc: []string{"batches buffered between producers and consumer, in [1,1024] (not hashed)"}},
		"producer.seed":      {doc: []string{"sampling seed; 0 = train.seed (the trainer substitutes it)"}},
		"producer.batch_size": {doc: []string{
			"examples per minibatch, in [1,131072]; the last batch of an epoch holds the",
			"remainder; batch_size × (pool_size, + batch_size with model.in_batch) ≤ 2^30",
		}},
		"producer.layers": {doc: []string{
			"K, hops of the computation graph, in [0,8]; 0 = derived: model.layers (0 there",
			"= 2) for pinsage/graphsage, which must equal it when set; mf, lightgcn, ngcf,",
			"deepwalk build none, so it must stay 0 for them",
		}},
		"producer.examples":                {doc: []string{"the training examples"}},
		"producer.examples.kind":           {doc: []string{"user_item (train edges) | item_item (related item pairs) | walks (DeepWalk pairs)"}},
		"producer.examples.item_item":      {doc: []string{"how item_item pairs are made: cooccur (two items of one user) | walk (Pixie walk)"}},
		"producer.examples.walk_length":    {doc: []string{"nodes per DeepWalk walk, in [2,4096]"}},
		"producer.examples.window":         {doc: []string{"skip-gram window, in [1,1024]"}},
		"producer.examples.walks_per_node": {doc: []string{"DeepWalk walks per node per epoch, in [1,1024]"}},
		"producer.walk":                    {doc: []string{"Pixie random walks with early stopping (PinSage Algorithm 2)"}},
		"producer.walk.alpha":              {doc: []string{"restart probability per step, in (0,1); mean walk length 1/alpha"}},
		"producer.walk.steps": {doc: []string{
			"N, step budget per query node, in [1,1048576] (a step is two hops; the mean,",
			"walks are complete)",
		}},
		"producer.walk.min_visits": {doc: []string{"n_v: visits that make a node \"high visited\", in [1,1048576]"}},
		"producer.walk.stop_nodes": {doc: []string{"n_p: stop once more than n_p nodes are high visited; 0 = neighbors.t; -1 = never"}},
		"producer.walk.count":      {doc: []string{"whose visits count: same (the query's side) | opposite (the middle hop)"}},
		"producer.neighbors":       {doc: []string{"neighborhood sampling"}},
		"producer.neighbors.mode":  {doc: []string{"pixie (top-T by visit count, importance weights) | uniform (GraphSAGE) | full"}},
		"producer.neighbors.t":     {doc: []string{"T, neighbour slots per node, in [1,1024]"}},
		"producer.neighbors.pad":   {doc: []string{"uniform mode: pad low-degree nodes with empty slots instead of resampling"}},
		"producer.neighbors.cache": {doc: []string{"keep each node's neighborhood for the whole epoch"}},
		"producer.neighbors.drop_items": {doc: []string{
			"probability in [0,1) that a training batch empties an item's neighbourhood, as a",
			"cold item's is: the network learns to embed items from their features alone",
		}},
		"producer.negatives": {doc: []string{"the shared negative pool of a minibatch"}},
		"producer.negatives.pool_size": {doc: []string{
			"items per batch, in [1,131072] (0 = none, only with model.in_batch: true);",
			"base of curriculum.pool_size",
		}},
		"producer.negatives.dist":  {doc: []string{"uniform (over items with train edges) | degree (∝ degree^power);", "sampled softmax has no logQ correction, so degree skews it"}},
		"producer.negatives.power": {doc: []string{"degree exponent, in (0,4]"}},
		"producer.hard": {doc: []string{
			"hard negatives from personalized-PageRank ranks [rank_lo, rank_hi);",
			"how many per example is curriculum.hard_negatives (none by default)",
		}},
		"producer.hard.steps":   {doc: []string{"Monte-Carlo PPR walk steps per query, ≤ 2^28; 0 = 4 × the epoch's rank_hi"}},
		"producer.hard.rank_lo": {doc: []string{"(≥ 0) base of curriculum.rank_window"}},
		"producer.hard.rank_hi": {doc: []string{"(> rank_lo, ≤ 2^24)"}},
		"producer.hard.candidates": {doc: []string{
			"window items kept per query and epoch, ≤ 65536 (one PPR walk per query and epoch);",
			"-1 = walk for every example and sample the whole window",
		}},
		"train.epochs":              {doc: []string{"epochs to train (> 0)"}},
		"train.eval_every":          {doc: []string{"evaluate every N epochs; 0 = only after the last"}},
		"train.eval_k":              {doc: []string{"K of recall@K / NDCG@K, in [1,10000]"}},
		"train.seed":                {doc: []string{"sampling seed of the producers when producer.seed is 0"}},
		"train.device":              {doc: []string{"auto | cpu | cuda | cuda:N"}},
		"train.cuda_binary":         {doc: []string{"CUDA-enabled trainerd binary; \"\" = trainerd-cuda beside this executable"}},
		"train.validation":          {doc: []string{"held-out validation split that evaluations during training score"}},
		"train.validation.fraction": {doc: []string{"of each user's train edges, in [0,0.5]; 0 = none (evaluate on test, keep the last epoch)"}},
		"train.validation.seed":     {doc: []string{"picks the held-out edges; 0 = train.seed"}},
		"train.select":              {doc: []string{"validation metric picking the best checkpoint: recall|ndcg|precision|hit|mrr@K, or mrr"}},
		"train.patience":            {doc: []string{"stop after N evaluations without a new best; 0 = never stop early"}},
		"train.tune": {doc: []string{
			"choose one numeric key on validation: a pilot run per value, train.tune.epochs long under",
			"the run's own schedule (RUN/tune/KEY=VALUE); the best train.select wins, then the run trains with it",
		}},
		"train.tune.key":            {doc: []string{"key chosen, e.g. model.neg_weight; \"\" = no tuning (values and epochs unused)"}},
		"train.tune.values":         {doc: []string{"candidates (≥ 2, distinct); the first wins a tie"}},
		"train.tune.epochs":         {doc: []string{"epochs each pilot trains and is scored at, in [1, train.epochs)"}},
		"checkpoint.every_steps":    {doc: []string{"checkpoint every N steps; 0 = off"}},
		"checkpoint.every_minutes":  {doc: []string{"checkpoint every N minutes; 0 = off (one is always written at each epoch end)"}},
		"checkpoint.keep_last":      {doc: []string{"checkpoints kept (> 0)"}},
		"curriculum":                {doc: []string{"schedules; an unset kind (\"\") keeps the base value above"}},
		"curriculum.unit":           {doc: []string{"epoch (position p = epoch−1) | step (p = global step)"}},
		"curriculum.hard_negatives": {bare: true, before: []string{"kinds: constant {value} | linear {start, slope, cap} | cosine {start, end, over} | steps {values: [[at, v], ...]}", "pool_size and hard_negatives are sizes: their largest value over the run (train.epochs in unit epoch,", "unbounded in unit step, so a growing linear schedule needs a cap) must be ≤ 131072 and ≤ 1024."}, doc: []string{"hard negatives per example; PinSage: {kind: linear, start: 0, slope: 1, cap: 6}"}},
		"curriculum.rank_window": {bare: true, doc: []string{
			"constant {lo, hi} | linear {lo, hi, slope, min_lo} | steps {values: [[at, lo, hi], ...]}",
			"unset: producer.hard.rank_lo/rank_hi",
		}},
		"curriculum.pool_size": {bare: true, doc: []string{"shared pool size; unset: producer.negatives.pool_size"}},
		"curriculum.margin":    {bare: true, doc: []string{"max-margin Δ; unset: model.margin"}},
		"http.addr":            {doc: []string{"metrics/status server; 127.0.0.1:0 = loopback, free port (logged); \"\" = off"}},
	}
}

// defaultAggregators says what model.aggregator "" means for each model
// with aggregators, e.g. "importance (pinsage), mean (graphsage)", the
// last model first as modelspec.Aggregators lists them.
func defaultAggregators() string {
	var out []string
	all := modelspec.All()
	for i := len(all) - 1; i >= 0; i-- {
		if s := all[i]; s.DefaultAggregator != "" {
			out = append(out, fmt.Sprintf("%s (%s)", s.DefaultAggregator, s.Name))
		}
	}
	return strings.Join(out, ", ")
}

// refCommentCol is the column of the comments in the reference
// configuration.
const refCommentCol = 29

// WriteReference writes the reference configuration: the defaults as YAML
// (producer.layers 0, which Resolve derives from the model), every key with
// its documentation as a comment. Loading it gives exactly Default(). It fails on a key that has no documentation or a
// documentation entry that names no key.
func WriteReference(w io.Writer) error { return writeReference(w, referenceDocs()) }

// writeReference is WriteReference with the documentation table docs.
func writeReference(w io.Writer, docs map[string]refDoc) error {
	var b bytes.Buffer
	for _, l := range referenceHeader() {
		b.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
	used := map[string]bool{}
	v := reflect.ValueOf(unresolvedDefault()) // producer.layers 0: derived from the model
	for _, f := range fieldsOf(v.Type()) {
		b.WriteString("\n")
		if err := writeRefKey(&b, v.FieldByIndex(f.index), f.name, f.name, 0, docs, used, false); err != nil {
			return err
		}
	}
	for k := range docs {
		if !used[k] {
			return fmt.Errorf("config: reference: documentation for %s, which is not a key", k)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeRefKey writes key (full dotted path) with value v at indentation
// depth, and, for a section, its keys.
func writeRefKey(b *bytes.Buffer, v reflect.Value, key, name string, depth int, docs map[string]refDoc, used map[string]bool, bare bool) error {
	ind := strings.Repeat("  ", depth)
	d, ok := docs[key]
	used[key] = ok
	for _, l := range d.before {
		b.WriteString(ind + "# " + l + "\n")
	}
	line := ind + name + ":"
	isSection := v.Kind() == reflect.Struct
	if !isSection {
		val, err := refValue(v)
		if err != nil {
			return fmt.Errorf("config: reference: %s: %w", key, err)
		}
		line += " " + val
		if !ok && !bare {
			return fmt.Errorf("config: reference: key %s has no documentation (add it to referenceDocs)", key)
		}
	}
	for i, l := range d.doc {
		if i > 0 {
			line = ""
		}
		pad := max(refCommentCol-len([]rune(line)), 1)
		b.WriteString(line + strings.Repeat(" ", pad) + "# " + l + "\n")
	}
	if len(d.doc) == 0 {
		b.WriteString(line + "\n")
	}
	if !isSection {
		return nil
	}
	for _, f := range fieldsOf(v.Type()) {
		if err := writeRefKey(b, v.FieldByIndex(f.index), key+"."+f.name, f.name, depth+1, docs, used, bare || d.bare); err != nil {
			return err
		}
	}
	return nil
}

// refValue is v in YAML, as Print writes it.
func refValue(v reflect.Value) (string, error) {
	out, err := yaml.Marshal(encodeNode(v))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}
