package eval_test

import (
	"context"
	"fmt"

	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/graph"
)

// Two users, three items, dim 1: user 0 trained on item 0 and holds item 2
// out for test; scores rank items 0, 1, 2.
func ExampleEvaluate() {
	users := []float32{1, 1}
	items := []float32{3, 2, 1}
	train, _ := graph.Build(2, 3, []graph.Edge{{User: 0, Item: 0}})
	test, _ := graph.Build(2, 3, []graph.Edge{{User: 0, Item: 2}})
	m, err := eval.Evaluate(context.Background(), users, items, 1, train, test, eval.Options{K: 1, Ks: []int{2}})
	if err != nil {
		panic(err)
	}
	// Top-2 after removing item 0 is [1, 2]: the hit is at rank 2.
	fmt.Printf("users=%d recall@1=%.2f recall@2=%.2f mrr=%.2f\n", m.Users(), m.Recall(1), m.Recall(2), m.MRR())
	// Output: users=1 recall@1=0.00 recall@2=1.00 mrr=0.50
}

func ExampleTopK() {
	top := eval.TopK(nil, []float32{0.5, 2, 2, -1}, 2)
	fmt.Println(top)
	// Output: [{1 2} {2 2}]
}
