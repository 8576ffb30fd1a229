package bucket

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/http/oauth"
)

// Grants keeps grants ([oauth.Grants]) in four key-value buckets, one
// per [oauth.Life], named {prefix}_FLOWS, {prefix}_TOKENS,
// {prefix}_GRANTS and {prefix}_REQUESTS, each of at most maxBytes, whose
// entries live the life's TTL and hold at most its MaxSize. It is safe
// for concurrent use.
type Grants struct {
	js       jetstream.JetStream
	prefix   string
	replicas int
	maxBytes int64

	mu      sync.Mutex
	buckets map[oauth.Life]jetstream.KeyValue
	// streams are the buckets' streams, which Delete purges.
	streams map[oauth.Life]jetstream.Stream
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
		buckets: map[oauth.Life]jetstream.KeyValue{}, streams: map[oauth.Life]jetstream.Stream{}}
}

func (g *Grants) bucket(ctx context.Context, life oauth.Life) (jetstream.KeyValue, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if kv := g.buckets[life]; kv != nil {
		return kv, nil
	}
	suffix, ok := lifeName[life]
	if !ok {
		return nil, fmt.Errorf("bucket: no grant bucket for life %d", life)
	}
	name := g.prefix + "_" + suffix
	kv, err := openKV(ctx, g.js, jetstream.KeyValueConfig{
		Bucket: name, TTL: life.TTL(), History: 1, Replicas: g.replicas, MaxValueSize: int32(life.MaxSize()), MaxBytes: g.maxBytes,
		Description: "Clavis authorization flows and grants",
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("bucket: grant bucket %s: %w", name, err))
	}
	g.buckets[life] = kv
	return kv, nil
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

// Create stores value under key and returns its revision;
// [oauth.ErrGrantExists] when the key is taken.
func (g *Grants) Create(ctx context.Context, life oauth.Life, key string, value []byte) (uint64, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	kv, err := g.bucket(ctx, life)
	if err != nil {
		return 0, err
	}
	rev, err := kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, oauth.ErrGrantExists
	}
	return rev, unavailable(full(err))
}

// Get reads key with its revision; [oauth.ErrGrantNotFound] when absent
// or expired.
func (g *Grants) Get(ctx context.Context, life oauth.Life, key string) ([]byte, uint64, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	kv, err := g.bucket(ctx, life)
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, oauth.ErrGrantNotFound
	}
	if err != nil {
		return nil, 0, unavailable(err)
	}
	return e.Value(), e.Revision(), nil
}

// Update replaces key's value if its revision is still rev and returns
// the new revision; [oauth.ErrGrantConflict] when it changed since.
func (g *Grants) Update(ctx context.Context, life oauth.Life, key string, value []byte, rev uint64) (uint64, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	kv, err := g.bucket(ctx, life)
	if err != nil {
		return 0, err
	}
	next, err := kv.Update(ctx, key, value, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, oauth.ErrGrantConflict
	}
	return next, unavailable(full(err))
}

// Delete purges key's subject from the bucket's stream: a key-value
// delete would leave a marker for as long as the bucket keeps entries (a
// year for grants), so that deleting would fill the bucket too.
func (g *Grants) Delete(ctx context.Context, life oauth.Life, key string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	kv, err := g.bucket(ctx, life)
	if err != nil {
		return err
	}
	s, err := g.stream(ctx, life, kv)
	if err != nil {
		return err
	}
	return unavailable(s.Purge(ctx, jetstream.WithPurgeSubject("$KV."+kv.Bucket()+"."+key)))
}
