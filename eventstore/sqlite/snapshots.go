package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clavisiam/clavis/eventstore"
)

var _ eventstore.Snapshots = (*Store)(nil)

// SaveSnapshot implements [eventstore.Snapshots]. It writes outside the
// append loop, on the writer's one connection.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	st := snap.Stream
	_, err := s.write.ExecContext(ctx, `INSERT INTO snapshots
(tenant, stream_type, stream_id, version, event_id, commit_id, position, recorded_at, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant, stream_type, stream_id, version) DO UPDATE SET
event_id = excluded.event_id, commit_id = excluded.commit_id, position = excluded.position,
recorded_at = excluded.recorded_at, data = excluded.data`,
		st.Tenant, st.Type, st.ID, snap.Version, snap.EventID, int64(snap.Position.Commit), snap.Position.Seq,
		snap.RecordedAt.UTC().Format(timeFormat), snap.Data)
	if err != nil {
		return fmt.Errorf("save snapshot of %s at %d: %w", st, snap.Version, err)
	}
	return nil
}

// LatestSnapshot implements [eventstore.Snapshots].
func (s *Store) LatestSnapshot(ctx context.Context, stream eventstore.StreamID, usable func(eventstore.Snapshot) bool) (eventstore.Snapshot, bool, error) {
	snap, ok, err := s.latestSnapshot(ctx, stream, usable)
	if err != nil {
		return eventstore.Snapshot{}, false, fmt.Errorf("read snapshots of %s: %w", stream, err)
	}
	return snap, ok, nil
}

func (s *Store) latestSnapshot(ctx context.Context, stream eventstore.StreamID, usable func(eventstore.Snapshot) bool) (eventstore.Snapshot, bool, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT version, event_id, commit_id, position, recorded_at FROM snapshots
WHERE tenant = ? AND stream_type = ? AND stream_id = ? ORDER BY version DESC`, stream.Tenant, stream.Type, stream.ID)
	if err != nil {
		return eventstore.Snapshot{}, false, err
	}
	defer rows.Close()
	var found eventstore.Snapshot
	ok := false
	for rows.Next() {
		snap := eventstore.Snapshot{Stream: stream}
		var commit int64
		var recorded string
		if err := rows.Scan(&snap.Version, &snap.EventID, &commit, &snap.Position.Seq, &recorded); err != nil {
			return eventstore.Snapshot{}, false, err
		}
		snap.Position.Commit = uint64(commit)
		if snap.RecordedAt, err = time.Parse(timeFormat, recorded); err != nil {
			continue // a corrupt row is no snapshot
		}
		if usable(snap) {
			found, ok = snap, true
			break
		}
	}
	if err := rows.Err(); err != nil {
		return eventstore.Snapshot{}, false, err
	}
	rows.Close()
	if !ok {
		return eventstore.Snapshot{}, false, nil
	}
	err = s.read.QueryRowContext(ctx, `SELECT data FROM snapshots WHERE tenant = ? AND stream_type = ? AND stream_id = ? AND version = ?`,
		stream.Tenant, stream.Type, stream.ID, found.Version).Scan(&found.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.Snapshot{}, false, nil
	}
	if err != nil {
		return eventstore.Snapshot{}, false, err
	}
	return found, true, nil
}
