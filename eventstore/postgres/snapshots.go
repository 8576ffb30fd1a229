package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres/pgerr"
)

var _ eventstore.Snapshots = (*Store)(nil)

// SaveSnapshot implements [eventstore.Snapshots].
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	st := snap.Stream
	_, err := s.pool.Exec(ctx, `INSERT INTO snapshots
(tenant, stream_type, stream_id, version, event_id, commit_id, position, recorded_at, data)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant, stream_type, stream_id, version) DO UPDATE SET
event_id = excluded.event_id, commit_id = excluded.commit_id, position = excluded.position,
recorded_at = excluded.recorded_at, data = excluded.data`,
		st.Tenant, st.Type, st.ID, snap.Version, snap.EventID, int64(snap.Position.Commit), snap.Position.Seq,
		snap.RecordedAt.UTC(), snap.Data)
	if err != nil {
		return fmt.Errorf("save snapshot of %s at %d: %w", st, snap.Version, pgerr.Classify(err))
	}
	return nil
}

// LatestSnapshot implements [eventstore.Snapshots].
func (s *Store) LatestSnapshot(ctx context.Context, stream eventstore.StreamID, usable func(eventstore.Snapshot) bool) (eventstore.Snapshot, bool, error) {
	type found struct {
		snap eventstore.Snapshot
		ok   bool
	}
	f, err := pgerr.Retry(ctx, s.pool, func() (found, error) {
		snap, ok, err := s.latestSnapshot(ctx, stream, usable)
		return found{snap, ok}, err
	})
	snap, ok := f.snap, f.ok
	if err != nil {
		return eventstore.Snapshot{}, false, fmt.Errorf("read snapshots of %s: %w", stream, err)
	}
	return snap, ok, nil
}

func (s *Store) latestSnapshot(ctx context.Context, stream eventstore.StreamID, usable func(eventstore.Snapshot) bool) (eventstore.Snapshot, bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT version, event_id, commit_id, position, recorded_at FROM snapshots
WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3 ORDER BY version DESC`, stream.Tenant, stream.Type, stream.ID)
	if err != nil {
		return eventstore.Snapshot{}, false, err
	}
	defer rows.Close()
	var found eventstore.Snapshot
	ok := false
	for rows.Next() {
		snap := eventstore.Snapshot{Stream: stream}
		var commit int64
		if err := rows.Scan(&snap.Version, &snap.EventID, &commit, &snap.Position.Seq, &snap.RecordedAt); err != nil {
			return eventstore.Snapshot{}, false, err
		}
		snap.Position.Commit = uint64(commit)
		snap.RecordedAt = snap.RecordedAt.UTC()
		if usable(snap) {
			found, ok = snap, true
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return eventstore.Snapshot{}, false, err
	}
	if !ok {
		return eventstore.Snapshot{}, false, nil
	}
	err = s.pool.QueryRow(ctx, `SELECT data FROM snapshots WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3 AND version = $4`,
		stream.Tenant, stream.Type, stream.ID, found.Version).Scan(&found.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Snapshot{}, false, nil
	}
	if err != nil {
		return eventstore.Snapshot{}, false, err
	}
	return found, true, nil
}
