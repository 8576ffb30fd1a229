package oauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Grants keeps what the browser flows remember between requests, shared
// by every node: authorization flows waiting for the login application,
// authorization codes, refresh tokens and their families, and login
// sessions. Every key starts with the tenant's slug. Values are opaque
// to the store; Update is a compare-and-set, so that a code or a refresh
// token is used once however many nodes race for it.
type Grants interface {
	// Create stores value under key for as long as life keeps entries;
	// it fails with [ErrGrantExists] when the key is taken.
	Create(ctx context.Context, life Life, key string, value []byte) error
	// Get reads key, with its revision for Update; [ErrGrantNotFound]
	// when absent or expired.
	Get(ctx context.Context, life Life, key string) ([]byte, uint64, error)
	// Update replaces key's value if its revision is still rev; it
	// fails with [ErrGrantConflict] when someone changed it since.
	Update(ctx context.Context, life Life, key string, value []byte, rev uint64) error
	// Delete removes key, leaving nothing of it behind; removing an
	// absent key is no error.
	Delete(ctx context.Context, life Life, key string) error
}

// Life is how long the entries of one kind are kept at most (their own
// expiry, inside the value, is checked on use).
type Life int

// The lives of grant entries.
const (
	// LifeFlow keeps authorization codes and their PKCE and OpenID
	// Connect parts: an hour (a code lives at most 10 minutes).
	LifeFlow Life = iota
	// LifeToken keeps what names an access token: a day and an hour (an
	// access token lives at most a day).
	LifeToken
	// LifeGrant keeps refresh tokens, their families and login
	// sessions: a year and a day (a refresh token lives at most a year).
	LifeGrant
	// LifeRequest keeps authorization requests waiting for the user
	// (flows), which anyone may make: as long as a flow lives. They are
	// kept apart from codes and grants, so that however many of them
	// fill their store, the users who logged in keep their codes and
	// tokens working.
	LifeRequest
)

var lifeTTL = [...]time.Duration{LifeFlow: time.Hour, LifeToken: 25 * time.Hour, LifeGrant: 366 * 24 * time.Hour,
	LifeRequest: flowLifetime}

var lifeName = [...]string{LifeFlow: "FLOWS", LifeToken: "TOKENS", LifeGrant: "GRANTS", LifeRequest: "REQUESTS"}

// Errors of a [Grants] store.
var (
	ErrGrantExists   = errors.New("oauth: grant key exists")
	ErrGrantNotFound = errors.New("oauth: grant not found")
	ErrGrantConflict = errors.New("oauth: grant changed concurrently")
	// ErrGrantsFull is a store that holds as much as it may: nothing
	// new fits until entries expire.
	ErrGrantsFull = errors.New("oauth: the grant store is full")
	// ErrGrantTooLarge is an entry over the store's size for one.
	ErrGrantTooLarge = errors.New("oauth: the grant entry is too large")
)

// WithGrants serves the authorization endpoint, the authorization_code
// and refresh_token grants, OpenID Connect and logout, remembering flows
// and grants in g.
func WithGrants(g Grants) Option {
	return func(p *Provider) error {
		if g == nil {
			return fmt.Errorf("%w: nil grants", ErrInvalidOption)
		}
		p.grants = g
		return nil
	}
}

// maxGrantSize bounds one entry: a code or refresh token keeps its
// request and session; maxFlowSize bounds a flow, which keeps at most
// maxFlowQuery bytes of request and maxLoginSize of login answer;
// maxSmallEntry bounds an entry of the revocation and assertion
// buckets: an expiry, or nothing.
const (
	maxGrantSize  = 128 << 10
	maxFlowSize   = 32 << 10
	maxSmallEntry = 256
)

// DefaultBucketBytes is the most each key-value bucket of this package
// holds, unless told otherwise: a full bucket refuses what is new (the
// authorization endpoint answers 503) until its entries expire, and
// never takes the storage of NATS's other streams, the events' first.
const DefaultBucketBytes = 256 << 20

// natsGrants keeps grants in four JetStream key-value buckets, one per
// [Life], named {prefix}_FLOWS, {prefix}_TOKENS, {prefix}_GRANTS and
// {prefix}_REQUESTS, each of at most maxBytes. The buckets are opened on
// first use (NATS may be away when a node starts).
type natsGrants struct {
	js       jetstream.JetStream
	prefix   string
	replicas int
	maxBytes int64

	mu      sync.Mutex
	buckets [len(lifeTTL)]jetstream.KeyValue
	// streams are the buckets' streams, which Delete purges.
	streams [len(lifeTTL)]jetstream.Stream
}

// NATSGrants keeps grants in buckets named after prefix, each holding at
// most maxBytes (0 or less: [DefaultBucketBytes]).
func NATSGrants(js jetstream.JetStream, prefix string, replicas int, maxBytes int64) Grants {
	if maxBytes <= 0 {
		maxBytes = DefaultBucketBytes
	}
	return &natsGrants{js: js, prefix: prefix, replicas: max(replicas, 1), maxBytes: maxBytes}
}

func (g *natsGrants) bucket(ctx context.Context, life Life) (jetstream.KeyValue, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if kv := g.buckets[life]; kv != nil {
		return kv, nil
	}
	name := g.prefix + "_" + lifeName[life]
	size := int32(maxGrantSize)
	if life == LifeRequest {
		size = maxFlowSize
	}
	kv, err := g.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name, TTL: lifeTTL[life], History: 1, Replicas: g.replicas, MaxValueSize: size, MaxBytes: g.maxBytes,
		Description: "Clavis authorization flows and grants",
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: grant bucket %s: %w", name, err)
	}
	s, err := g.js.Stream(ctx, "KV_"+name)
	if err != nil {
		return nil, fmt.Errorf("oauth: grant bucket %s: %w", name, err)
	}
	g.buckets[life], g.streams[life] = kv, s
	return kv, nil
}

// full maps the answer of a bucket at its byte limit to ErrGrantsFull,
// and that to an entry over its size limit to ErrGrantTooLarge.
func full(err error) error {
	var api *jetstream.APIError
	switch {
	case !errors.As(err, &api):
	case api.ErrorCode == jsErrCodeStoreFailed && strings.Contains(api.Description, "maximum bytes"):
		return fmt.Errorf("%w: %w", ErrGrantsFull, err)
	case api.ErrorCode == jsErrCodeMessageTooLarge:
		return fmt.Errorf("%w: %w", ErrGrantTooLarge, err)
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

func (g *natsGrants) Create(ctx context.Context, life Life, key string, value []byte) error {
	kv, err := g.bucket(ctx, life)
	if err != nil {
		return err
	}
	if _, err = kv.Create(ctx, key, value); errors.Is(err, jetstream.ErrKeyExists) {
		return ErrGrantExists
	}
	return full(err)
}

func (g *natsGrants) Get(ctx context.Context, life Life, key string) ([]byte, uint64, error) {
	kv, err := g.bucket(ctx, life)
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrGrantNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return e.Value(), e.Revision(), nil
}

func (g *natsGrants) Update(ctx context.Context, life Life, key string, value []byte, rev uint64) error {
	kv, err := g.bucket(ctx, life)
	if err != nil {
		return err
	}
	if _, err = kv.Update(ctx, key, value, rev); errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return ErrGrantConflict
	}
	return full(err)
}

// Delete purges key's subject from the bucket's stream: a key-value
// delete would leave a marker for as long as the bucket keeps entries (a
// year for grants), so that deleting would fill the bucket too.
func (g *natsGrants) Delete(ctx context.Context, life Life, key string) error {
	kv, err := g.bucket(ctx, life)
	if err != nil {
		return err
	}
	g.mu.Lock()
	s := g.streams[life]
	g.mu.Unlock()
	return s.Purge(ctx, jetstream.WithPurgeSubject("$KV."+kv.Bucket()+"."+key))
}
