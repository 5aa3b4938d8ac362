package harness

import (
	"context"
	"errors"
)

// Contender is one way of using SQLite from Go, run cell by cell.
type Contender interface {
	// Name is the contender's row label in tables.
	Name() string
	// Run sets up for spec, runs the warm-up and the measured phase, tears
	// down and returns what was measured.
	Run(ctx context.Context, spec Spec) (*Round, error)
}

// Session is a contender set up for one cell: its pool or shared state.
type Session interface {
	// NewWorker returns the worker of one goroutine.
	NewWorker() (Worker, error)
	// Close tears the session down; the runner closes the workers first.
	Close() error
}

// Local is an in-process contender: Open sets up a session per cell, and
// the runner drives its workers in this process.
type Local struct {
	Label string
	Open  func(ctx context.Context, spec Spec) (Session, error)
}

// Name implements Contender.
func (l Local) Name() string { return l.Label }

// Run implements Contender.
func (l Local) Run(ctx context.Context, spec Spec) (r *Round, err error) {
	s, err := l.Open(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	workers := make([]Worker, 0, spec.Concurrency)
	defer func() {
		for _, w := range workers {
			err = errors.Join(err, w.Close())
		}
	}()
	for range spec.Concurrency {
		w, err := s.NewWorker()
		if err != nil {
			return nil, err
		}
		workers = append(workers, w)
	}
	return RunWorkers(ctx, spec, workers), nil
}
