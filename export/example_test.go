package export_test

import (
	"bytes"
	"fmt"

	"github.com/trainerd/trainerd/export"
)

func ExampleWriteNPY() {
	var buf bytes.Buffer
	if err := export.WriteNPY(&buf, []float32{1, 2, 3, 4, 5, 6}, 2, 3); err != nil {
		panic(err)
	}
	data, rows, cols, err := export.ReadNPY(&buf)
	fmt.Println(rows, cols, data, err)
	// Output: 2 3 [1 2 3 4 5 6] <nil>
}
