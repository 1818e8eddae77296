package parallel

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEachCallsEveryIndexOnceAndReportsTheLowestError(t *testing.T) {
	var calls [1000]atomic.Int32
	err := Each(len(calls), func(i int) error {
		calls[i].Add(1)
		if i%300 == 299 {
			return fmt.Errorf("item %d", i)
		}
		return nil
	})
	assert.EqualError(t, err, "item 299")
	for i := range calls {
		assert.Equal(t, int32(1), calls[i].Load(), "index %d", i)
	}
	assert.NoError(t, Each(0, func(int) error { return errors.New("never called") }))
}
