package sage

import (
	"fmt"
	"github.com/trainerd/trainerd/model"
	"strings"
)

// GrowIDTable adapts the State of a convolutional model (PinSage,
// GraphSAGE) with an id table, saved over oldUsers+oldItems nodes, to a
// store grown to newUsers+newItems nodes whose first oldUsers users and
// oldItems items are the old ones (featurestore.Append). The id table
// "param/emb" and its optimiser state ("opt/emb/...") are indexed by global
// node id (users, then items), so their rows are rearranged to old users,
// zero rows for the new users, old items, zero rows for the new items; every
// other tensor is returned as is. A new node's id row is then zero: with
// model.inputs both its embedding comes from its features and its
// neighbourhood alone. A state without an id table is returned unchanged.
// The input is not modified.
func GrowIDTable(state []model.Tensor, oldUsers, oldItems, newUsers, newItems int) ([]model.Tensor, error) {
	if newUsers < oldUsers || newItems < oldItems {
		return nil, fmt.Errorf("grow id table: %d users, %d items is not a growth of %d users, %d items", newUsers, newItems, oldUsers, oldItems)
	}
	oldN := oldUsers + oldItems
	out := make([]model.Tensor, len(state))
	for i, t := range state {
		out[i] = t
		if t.Name != "param/emb" && !strings.HasPrefix(t.Name, "opt/emb/") {
			continue
		}
		if len(t.Shape) == 0 || t.Shape[0] != oldN || len(t.Data)%oldN != 0 {
			return nil, fmt.Errorf("grow id table: %s has shape %v (%d values), want %d rows for %d users + %d items",
				t.Name, t.Shape, len(t.Data), oldN, oldUsers, oldItems)
		}
		w := len(t.Data) / oldN
		data := make([]float32, (newUsers+newItems)*w)
		copy(data, t.Data[:oldUsers*w])
		copy(data[newUsers*w:], t.Data[oldUsers*w:])
		shape := append([]int{newUsers + newItems}, t.Shape[1:]...)
		out[i] = model.Tensor{Name: t.Name, Shape: shape, Data: data}
	}
	return out, nil
}
