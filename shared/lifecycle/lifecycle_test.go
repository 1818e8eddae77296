package lifecycle_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"function/shared/lifecycle"
)

func TestState(t *testing.T) {
	ctx := context.Background()
	s := lifecycle.New[int]("test")
	ready, _ := s.Ready(ctx)
	alive, _ := s.Alive(ctx)
	assert.False(t, ready, "not ready before Start")
	assert.True(t, alive, "alive while starting")
	assert.Nil(t, s.Load())

	n := 7
	s.Store(&n)
	ready, _ = s.Ready(ctx)
	assert.True(t, ready)
	assert.Same(t, &n, s.Load())

	assert.Same(t, &n, s.Swap(nil), "Stop gets the state")
	assert.Nil(t, s.Swap(nil), "and only once")
	ready, _ = s.Ready(ctx)
	assert.False(t, ready, "not ready after Stop")
	assert.NotNil(t, s.Registry())
	assert.NotNil(t, s.Log)
}

func TestCode(t *testing.T) {
	for status, want := range map[int]string{200: "200", 404: "404", 503: "503", 599: "599", 600: "600", 999: "999"} {
		assert.Equal(t, want, lifecycle.Code(status))
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = lifecycle.Code(200) }), "the request path allocates no label")
}
