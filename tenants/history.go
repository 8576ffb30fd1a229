package tenants

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/aggregates"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
)

// RedactedHash stands in for a secret's hash, and for the pairwise
// subject salt, in a client's history ([client.Redacted]).
const RedactedHash = client.Redacted

// HistoryEntry is one event of a client's history, as an auditor reads
// it: what happened, to which version, when, who did it, in answer to
// what and why, and the event's data with every secret hash and the
// pairwise subject salt replaced by [RedactedHash] ([client.Redact] at [domain.RedactHistory]).
type HistoryEntry struct {
	EventID       string
	Type          string
	Version       int64
	Time          time.Time // when the command was decided
	RecordedAt    time.Time // when the store committed it
	Actor         string
	CorrelationID string
	CausationID   string
	Reason        string
	Source        string // the network address the request came from, if any
	UserAgent     string // the request's User-Agent, if any
	Data          json.RawMessage
	// Position is the event's place in the store's order: the client
	// right after the event is [Clients.At] [AtPosition] of it.
	Position eventstore.Position
}

// History returns every event of client id of tenant, oldest first,
// deleted clients included: history outlives the client. It reads the
// event store. A client that never existed in the tenant fails with an
// error matching [domain.ErrNotFound]. Suspended tenants may be read.
func (c *Clients) History(ctx context.Context, tenant, id string) ([]HistoryEntry, error) {
	if _, err := loadTenant(ctx, c.store, tenant); err != nil {
		return nil, fmt.Errorf("client history: %w", err)
	}
	if !validClientID(id) {
		return nil, fmt.Errorf("client history: %w", notFound("client", id))
	}
	stream := ClientStream(tenant, id)
	stored, err := c.store.ReadStream(ctx, stream, 0)
	if err != nil {
		return nil, fmt.Errorf("client history: %w", err)
	}
	if len(stored) == 0 {
		return nil, fmt.Errorf("client history: %w", notFound("client", id))
	}
	out := make([]HistoryEntry, 0, len(stored))
	for _, e := range stored {
		payload, err := aggregates.Redact(stream.Type, e.Type, e.Schema, e.Data, domain.RedactHistory)
		if err != nil {
			return nil, &aggregate.LoadError{Stream: stream, Version: e.Version, EventID: e.ID, Type: e.Type, Err: err}
		}
		data, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("client history: encode %s: %w", e.Type, err)
		}
		out = append(out, HistoryEntry{
			EventID:       e.ID,
			Type:          e.Type,
			Version:       e.Version,
			Time:          e.Meta.OccurredAt,
			RecordedAt:    e.RecordedAt,
			Actor:         e.Meta.Actor,
			CorrelationID: e.Meta.CorrelationID,
			CausationID:   e.Meta.CausationID,
			Reason:        e.Meta.Reason,
			Source:        e.Meta.Source,
			UserAgent:     e.Meta.UserAgent,
			Data:          data,
			Position:      e.Position,
		})
	}
	return out, nil
}
