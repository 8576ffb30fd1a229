package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/clavisiam/clavis/eventstore"
)

// maxGroup bounds how many appends share one transaction.
const maxGroup = 256

// job is one unit of work for the writer: an append, or (in tests) a
// function that runs alone in its own transaction.
type job struct {
	ctx      context.Context
	stream   eventstore.StreamID
	expected int64
	events   []eventstore.Event
	claims   []eventstore.Claim
	alone    func(tx *sql.Tx) error
	done     chan result
}

type result struct {
	pos eventstore.Position
	err error
}

// writeLoop is the store's only writer. It takes the appends that queued
// up while the previous transaction ran and commits them together (group
// commit): each runs inside a savepoint, so one that fails is undone alone,
// and all of them share one BEGIN and one COMMIT. It returns when the
// store closes.
func (s *Store) writeLoop() {
	defer close(s.stopped)
	for {
		var first *job
		select {
		case first = <-s.jobs:
		case <-s.stop:
			return
		}
		group := []*job{first}
		var alone *job // runs in its own transaction, after the group
		if first.alone == nil {
		drain:
			for len(group) < maxGroup {
				select {
				case j := <-s.jobs:
					if j.alone != nil {
						alone = j
						break drain
					}
					group = append(group, j)
				default:
					break drain
				}
			}
		}
		s.commit(group)
		if alone != nil {
			s.commit([]*job{alone})
		}
	}
}

// commit runs a group of jobs in one transaction and answers each.
func (s *Store) commit(group []*job) {
	ctx := context.Background()
	results := make([]result, len(group))
	writes := make([]written, len(group))
	answer := func() {
		for i, j := range group {
			j.done <- results[i]
		}
	}
	if err := s.prepare(ctx); err != nil {
		for i := range results {
			results[i].err = err
		}
		answer()
		return
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		for i := range results {
			results[i].err = fmt.Errorf("append: begin: %w", err)
		}
		answer()
		return
	}
	ok := 0
	for i, j := range group {
		if j.alone != nil {
			results[i].err = j.alone(tx)
			if results[i].err == nil {
				ok++
			}
			continue
		}
		if err := j.ctx.Err(); err != nil {
			results[i].err = fmt.Errorf("append to %s: %w", j.stream, err)
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT append"); err != nil {
			results[i].err = fmt.Errorf("append to %s: %w", j.stream, err)
			continue
		}
		w, err := s.appendTx(ctx, tx, j.stream, j.expected, j.events, j.claims)
		if err == nil {
			if _, rerr := tx.ExecContext(ctx, "RELEASE append"); rerr != nil {
				err = fmt.Errorf("append to %s: %w", j.stream, rerr)
			}
		}
		if err != nil {
			results[i].err = err
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO append; RELEASE append"); rerr != nil {
				// The transaction is in an unknown state: give up on all.
				_ = tx.Rollback()
				for k := range results {
					if results[k].err == nil {
						results[k] = result{err: fmt.Errorf("append: undo savepoint: %w", rerr)}
					}
				}
				answer()
				return
			}
			continue
		}
		writes[i] = w
		ok++
	}
	if ok == 0 {
		_ = tx.Rollback()
		answer()
		return
	}
	if err := tx.Commit(); err != nil {
		for i := range results {
			if results[i].err == nil {
				results[i] = result{err: fmt.Errorf("append: commit: %w", err)}
			}
		}
		answer()
		return
	}
	for i, j := range group {
		if j.alone == nil && results[i].err == nil {
			results[i].pos = writes[i].apply(j.events)
		}
	}
	answer()
}

// submit hands a job to the writer and waits for its answer. The hand-off
// is unbuffered: a job is either taken by the running writer or refused,
// never left in a queue that nobody reads after Close. Once the
// writer has the job, the caller waits for the outcome even if its context
// ends meanwhile, so an append never has an unknown outcome.
func (s *Store) submit(ctx context.Context, j *job) (eventstore.Position, error) {
	j.done = make(chan result, 1)
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		return eventstore.Position{}, ctx.Err()
	case <-s.stop:
		return eventstore.Position{}, eventstore.ErrClosed
	}
	r := <-j.done
	return r.pos, r.err
}
