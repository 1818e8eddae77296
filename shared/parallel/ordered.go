package parallel

import (
	"context"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// Ordered runs produce on one goroutine, work on every item it emits on one
// goroutine per CPU, and consume on the items in the order they were
// emitted. At most a few items per CPU are in flight, so memory stays
// bounded; the first error stops everything.
func Ordered[T any](ctx context.Context, produce func(ctx context.Context, emit func(T) error) error,
	work func(T) error, consume func(T) error) error {
	type item struct {
		v    T
		done chan error
	}
	workers := runtime.GOMAXPROCS(0)
	g, gctx := errgroup.WithContext(ctx)
	todo := make(chan *item, workers)
	inOrder := make(chan *item, 2*workers)
	g.Go(func() error {
		defer close(todo)
		defer close(inOrder)
		return produce(gctx, func(v T) error {
			it := &item{v: v, done: make(chan error, 1)}
			for _, ch := range []chan *item{inOrder, todo} {
				select {
				case ch <- it:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	})
	for range workers {
		g.Go(func() error {
			for it := range todo {
				it.done <- work(it.v)
			}
			return nil
		})
	}
	g.Go(func() error {
		for it := range inOrder {
			select {
			case err := <-it.done:
				if err != nil {
					return err
				}
			case <-gctx.Done():
				return gctx.Err()
			}
			if err := consume(it.v); err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
}
