package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"strconv"
)

// Digest returns SHA-256 over prev and a canonical encoding of everything
// the event says: id, stream, version, type, schema version, the data
// bytes and every metadata field. Chaining it per tenant in store order,
// digest(n) = Digest(digest(n-1), event n), gives auditors a tamper-evident
// history without changing the stored schema: every input is kept byte for
// byte by both backends (times to the microsecond). Position and RecordedAt
// are left out because they are the store's, not the event's.
func Digest(prev []byte, e Event) []byte {
	h := sha256.New()
	field(h, prev)
	for _, s := range []string{
		e.ID, e.Stream.Tenant, e.Stream.Type, e.Stream.ID,
		strconv.FormatInt(e.Version, 10), e.Type, strconv.Itoa(e.Schema),
	} {
		field(h, []byte(s))
	}
	field(h, e.Data)
	m := e.Meta
	for _, s := range []string{
		m.Actor, m.CorrelationID, m.CausationID,
		m.OccurredAt.UTC().Format("2006-01-02T15:04:05.000000Z"),
		m.TraceParent, m.Reason,
	} {
		field(h, []byte(s))
	}
	return h.Sum(nil)
}

// field writes b length-prefixed, so that no two different events encode
// alike.
func field(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
