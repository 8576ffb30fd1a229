package auditlog

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/aggregates"
	"github.com/clavisiam/clavis/eventstore"
)

// Entry is one leaf of a tenant's audit log as an auditor reads it: the
// stored event with its data redacted for history ([domain.RedactHistory]:
// every secret value replaced by a placeholder) and the digest of the
// data bytes as stored. Its leaf hash ([Entry.LeafHash]) commits to every
// field but Index and Position, and through DataDigest to every stored
// byte of the data.
type Entry struct {
	// Index is the leaf's place in the tenant's log: 0, 1, 2, …
	Index int64 `json:"index"`
	// ID, Stream, Version, Type and Schema are the stored event's.
	ID      string              `json:"id"`
	Stream  eventstore.StreamID `json:"stream"`
	Version int64               `json:"version"`
	Type    string              `json:"type"`
	Schema  int                 `json:"schema"`
	// Data is the event's data as auditors read it, as JSON.
	Data json.RawMessage `json:"data"`
	// DataDigest is the SHA-256 digest of the stored data bytes, secret
	// material included.
	DataDigest tlog.Hash `json:"data_digest"`
	// Meta is the stored metadata: who, in answer to what, when, why,
	// from where.
	Meta eventstore.Metadata `json:"meta"`
	// RecordedAt is when the store committed the event.
	RecordedAt time.Time `json:"recorded_at"`
	// Position is the event's place in the store's global order. It is
	// the store's, not the event's, and outside the leaf: the leaf's
	// index says the order.
	Position eventstore.Position `json:"position"`
}

// NewEntry returns the entry of the stored event e at leaf index. It
// fails for an event whose aggregate or type this version cannot decode:
// the log never guesses what an event holds.
func NewEntry(index int64, e eventstore.Event) (Entry, error) {
	payload, err := aggregates.Redact(e.Stream.Type, e.Type, e.Schema, e.Data, domain.RedactHistory)
	if err != nil {
		return Entry{}, fmt.Errorf("auditlog: event %s: %w", e.ID, err)
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return Entry{}, fmt.Errorf("auditlog: event %s: encode its redacted data: %w", e.ID, err)
	}
	return Entry{
		Index:      index,
		ID:         e.ID,
		Stream:     e.Stream,
		Version:    e.Version,
		Type:       e.Type,
		Schema:     e.Schema,
		Data:       data,
		DataDigest: sha256.Sum256(e.Data),
		Meta:       e.Meta,
		RecordedAt: e.RecordedAt,
		Position:   e.Position,
	}, nil
}

// leafPrefix starts every leaf's data: it names the encoding, so that a
// later one can never be read as this one.
const leafPrefix = "clavis audit leaf v1\n"

// timeFormat writes times as both backends store them: UTC, to the
// microsecond.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// LeafData is what the leaf hash is computed over: leafPrefix, then each
// of these fields as an 8-byte big-endian length and its bytes, in this
// order: id, tenant, stream type, stream id, version (decimal), type,
// schema (decimal), occurred_at, recorded_at (both UTC, microseconds,
// "2006-01-02T15:04:05.000000Z"), actor, correlation id, causation id,
// traceparent, reason, source, user agent, the redacted data bytes, and
// the 32 bytes of the data digest. docs/audit.md spells it out for
// verifiers written elsewhere.
func (e Entry) LeafData() []byte {
	fields := [...][]byte{
		[]byte(e.ID),
		[]byte(e.Stream.Tenant), []byte(e.Stream.Type), []byte(e.Stream.ID),
		strconv.AppendInt(nil, e.Version, 10),
		[]byte(e.Type),
		strconv.AppendInt(nil, int64(e.Schema), 10),
		e.Meta.OccurredAt.UTC().AppendFormat(nil, timeFormat),
		e.RecordedAt.UTC().AppendFormat(nil, timeFormat),
		[]byte(e.Meta.Actor), []byte(e.Meta.CorrelationID), []byte(e.Meta.CausationID),
		[]byte(e.Meta.TraceParent), []byte(e.Meta.Reason),
		[]byte(e.Meta.Source), []byte(e.Meta.UserAgent),
		e.Data,
		e.DataDigest[:],
	}
	n := len(leafPrefix)
	for _, f := range fields {
		n += 8 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, leafPrefix...)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// LeafHash is the RFC 6962 leaf hash of the entry, SHA-256(0x00 ||
// LeafData).
func (e Entry) LeafHash() tlog.Hash { return tlog.RecordHash(e.LeafData()) }
