package bucket

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/http/oauth"
)

// Grants keeps grants ([oauth.Grants]) in four key-value buckets, one
// per [oauth.Life], named {prefix}_FLOWS, {prefix}_TOKENS,
// {prefix}_GRANTS and {prefix}_REQUESTS, each of at most maxBytes, whose
// entries hold at most the life's MaxSize and live until their own
// expiry, at most the life's TTL (the bucket's). An entry's own expiry
// is a per-message TTL, which NATS servers of JetStream API level 1
// (2.11) and later have: an entry then costs nothing once it expired,
// where it would otherwise stay, in the bucket's bytes and in the
// subject index an embedded server keeps in the node's heap, for the
// rest of the life's TTL. On an older server every entry lives the
// life's TTL, as the [oauth.Grants] contract allows. It is safe for
// concurrent use.
type Grants struct {
	js       jetstream.JetStream
	prefix   string
	replicas int
	maxBytes int64

	mu      sync.Mutex
	buckets map[oauth.Life]grantBucket
	// streams are the buckets' streams, which Delete purges.
	streams map[oauth.Life]jetstream.Stream
}

// grantBucket is the bucket of one life.
type grantBucket struct {
	kv jetstream.KeyValue
	// ownTTL says that the bucket's stream allows per-message TTLs:
	// entries are written with their own.
	ownTTL bool
}

var _ oauth.Grants = (*Grants)(nil)

// lifeName names the bucket of each life, after the prefix.
var lifeName = map[oauth.Life]string{oauth.LifeFlow: "FLOWS", oauth.LifeToken: "TOKENS", oauth.LifeGrant: "GRANTS",
	oauth.LifeRequest: "REQUESTS"}

// NewGrants keeps grants in buckets named after prefix, each holding at
// most maxBytes (0 or less: [DefaultBucketBytes]) on replicas servers
// (at least one).
func NewGrants(js jetstream.JetStream, prefix string, replicas int, maxBytes int64) *Grants {
	if maxBytes <= 0 {
		maxBytes = DefaultBucketBytes
	}
	return &Grants{js: js, prefix: prefix, replicas: max(replicas, 1), maxBytes: maxBytes,
		buckets: map[oauth.Life]grantBucket{}, streams: map[oauth.Life]jetstream.Stream{}}
}

func (g *Grants) bucket(ctx context.Context, life oauth.Life) (grantBucket, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b := g.buckets[life]; b.kv != nil {
		return b, nil
	}
	suffix, ok := lifeName[life]
	if !ok {
		return grantBucket{}, fmt.Errorf("bucket: no grant bucket for life %d", life)
	}
	name := g.prefix + "_" + suffix
	kv, ownTTL, err := openKV(ctx, g.js, jetstream.KeyValueConfig{
		Bucket: name, TTL: life.TTL(), History: 1, Replicas: g.replicas, MaxValueSize: int32(life.MaxSize()), MaxBytes: g.maxBytes,
		Description: "Clavis authorization flows and grants",
	}, ownTTLs)
	if err != nil {
		return grantBucket{}, unavailable(fmt.Errorf("bucket: grant bucket %s: %w", name, err))
	}
	b := grantBucket{kv: kv, ownTTL: ownTTL}
	g.buckets[life] = b
	return b, nil
}

// ttl is the per-message TTL of an entry of life that expires at
// expires, written now: the time until then, rounded up to a second
// (JetStream counts TTLs in whole seconds) and at least one; 0, for the
// bucket's TTL, when the bucket has no per-message TTLs or the expiry is
// zero or no sooner than the life's TTL.
func (b grantBucket) ttl(life oauth.Life, expires, now time.Time) time.Duration {
	if !b.ownTTL || expires.IsZero() {
		return 0
	}
	d := expires.Sub(now)
	if d >= life.TTL() {
		return 0
	}
	d = (d + time.Second - 1).Truncate(time.Second)
	return max(d, time.Second)
}

// stream is the stream of life's bucket, which Delete purges. It is
// looked up apart from the bucket, on first need: right after a bucket
// is created, a server that has not learnt of its stream yet answers
// "stream not found", which then says the grant store is unavailable
// for now, not that the bucket cannot be used.
func (g *Grants) stream(ctx context.Context, life oauth.Life, kv jetstream.KeyValue) (jetstream.Stream, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.streams[life]; s != nil {
		return s, nil
	}
	s, err := g.js.Stream(ctx, "KV_"+kv.Bucket())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: bucket: grant bucket %s: %w", oauth.ErrUnavailable, kv.Bucket(), err)
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("bucket: grant bucket %s: %w", kv.Bucket(), err))
	}
	g.streams[life] = s
	return s, nil
}

// full maps the answer of a bucket at its byte limit to
// [oauth.ErrGrantsFull], and that to an entry over its size limit to
// [oauth.ErrGrantTooLarge].
func full(err error) error {
	var api *jetstream.APIError
	switch {
	case !errors.As(err, &api):
	case api.ErrorCode == jsErrCodeStoreFailed && strings.Contains(api.Description, "maximum bytes"):
		return fmt.Errorf("%w: %w", oauth.ErrGrantsFull, err)
	case api.ErrorCode == jsErrCodeMessageTooLarge:
		return fmt.Errorf("%w: %w", oauth.ErrGrantTooLarge, err)
	}
	return err
}

// jsErrCodeStoreFailed is JetStream's "storing a message failed", the
// answer to a message over a stream's limits; jsErrCodeMessageTooLarge
// its "message size exceeds maximum allowed".
const (
	jsErrCodeStoreFailed     jetstream.ErrorCode = 10077
	jsErrCodeMessageTooLarge jetstream.ErrorCode = 10054
)

// Each operation takes at most [OpTimeout]; one that NATS cannot serve
// fails with [oauth.ErrUnavailable].

// Create stores value under key until expires and returns its revision;
// [oauth.ErrGrantExists] when the key is taken.
func (g *Grants) Create(ctx context.Context, life oauth.Life, key string, value []byte, expires time.Time) (uint64, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	b, err := g.bucket(ctx, life)
	if err != nil {
		return 0, err
	}
	rev, err := g.write(ctx, b.kv, key, value, 0, b.ttl(life, expires, time.Now()))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		// As nats.go's Create: a key whose last entry is a delete
		// marker (which earlier versions left) is free.
		if marker := g.deleteMarker(ctx, life, b.kv, key); marker > 0 {
			rev, err = g.write(ctx, b.kv, key, value, marker, b.ttl(life, expires, time.Now()))
		}
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, oauth.ErrGrantExists
	}
	return rev, unavailable(full(err))
}

// deleteMarker is the revision of key's last entry if that is a delete
// or purge marker, and 0 otherwise.
func (g *Grants) deleteMarker(ctx context.Context, life oauth.Life, kv jetstream.KeyValue, key string) uint64 {
	s, err := g.stream(ctx, life, kv)
	if err != nil {
		return 0
	}
	m, err := s.GetLastMsgForSubject(ctx, "$KV."+kv.Bucket()+"."+key)
	if err != nil {
		return 0
	}
	switch m.Header.Get("KV-Operation") {
	case "DEL", "PURGE":
		return m.Sequence
	}
	return 0
}

// Get reads key with its revision; [oauth.ErrGrantNotFound] when absent
// or expired.
func (g *Grants) Get(ctx context.Context, life oauth.Life, key string) ([]byte, uint64, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	b, err := g.bucket(ctx, life)
	if err != nil {
		return nil, 0, err
	}
	e, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, oauth.ErrGrantNotFound
	}
	if err != nil {
		return nil, 0, unavailable(err)
	}
	return e.Value(), e.Revision(), nil
}

// Update replaces key's value if its revision is still rev, to be kept
// until expires, and returns the new revision; [oauth.ErrGrantConflict]
// when it changed since, expired or was deleted.
func (g *Grants) Update(ctx context.Context, life oauth.Life, key string, value []byte, rev uint64, expires time.Time) (uint64, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	b, err := g.bucket(ctx, life)
	if err != nil {
		return 0, err
	}
	next, err := g.write(ctx, b.kv, key, value, rev, b.ttl(life, expires, time.Now()))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, oauth.ErrGrantConflict
	}
	return next, unavailable(full(err))
}

// keyValid reports whether key is a valid key-value key, as nats.go
// checks it before it writes: dot-separated tokens of letters, digits
// and -/_=, no wildcard. (A loop: a regular expression took more CPU
// than the rest of the check.)
func keyValid(key string) bool {
	if key == "" || key[0] == '.' || key[len(key)-1] == '.' {
		return false
	}
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c == '.':
			if key[i-1] == '.' {
				return false
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '/', c == '_', c == '=':
		default:
			return false
		}
	}
	return true
}

// Delete purges key's subject from the bucket's stream: a key-value
// delete would leave a marker for as long as the bucket keeps entries (a
// year for grants), so that deleting would fill the bucket too.
func (g *Grants) Delete(ctx context.Context, life oauth.Life, key string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	b, err := g.bucket(ctx, life)
	if err != nil {
		return err
	}
	s, err := g.stream(ctx, life, b.kv)
	if err != nil {
		return err
	}
	return unavailable(s.Purge(ctx, jetstream.WithPurgeSubject("$KV."+b.kv.Bucket()+"."+key)))
}
