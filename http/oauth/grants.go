package oauth

import (
	"context"
	"errors"
	"fmt"
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
	// Delete removes key; removing an absent key is no error.
	Delete(ctx context.Context, life Life, key string) error
}

// Life is how long the entries of one kind are kept at most (their own
// expiry, inside the value, is checked on use).
type Life int

// The lives of grant entries.
const (
	// LifeFlow keeps authorization flows, codes and their PKCE and
	// OpenID Connect parts: an hour (a code lives at most 10 minutes).
	LifeFlow Life = iota
	// LifeToken keeps what names an access token: a day and an hour (an
	// access token lives at most a day).
	LifeToken
	// LifeGrant keeps refresh tokens, their families and login
	// sessions: a year and a day (a refresh token lives at most a year).
	LifeGrant
)

var lifeTTL = [...]time.Duration{LifeFlow: time.Hour, LifeToken: 25 * time.Hour, LifeGrant: 366 * 24 * time.Hour}

var lifeName = [...]string{LifeFlow: "FLOWS", LifeToken: "TOKENS", LifeGrant: "GRANTS"}

// Errors of a [Grants] store.
var (
	ErrGrantExists   = errors.New("oauth: grant key exists")
	ErrGrantNotFound = errors.New("oauth: grant not found")
	ErrGrantConflict = errors.New("oauth: grant changed concurrently")
)

// WithGrants serves the authorization endpoint, the authorization_code
// and refresh_token grants, OpenID Connect and logout, remembering flows
// and grants in g.
func WithGrants(g Grants) Option {
	return func(p *Provider) error {
		if g == nil {
			return errors.New("oauth: nil grants")
		}
		p.grants = g
		return nil
	}
}

// maxGrantSize bounds one entry: a flow keeps at most 8 KiB of request
// and 16 KiB of claims, a code or refresh token its request and session.
const maxGrantSize = 128 << 10

// natsGrants keeps grants in three JetStream key-value buckets, one per
// [Life], named {prefix}_FLOWS, {prefix}_TOKENS and {prefix}_GRANTS. The
// buckets are opened on first use (NATS may be away when a node starts).
type natsGrants struct {
	js       jetstream.JetStream
	prefix   string
	replicas int

	mu      sync.Mutex
	buckets [len(lifeTTL)]jetstream.KeyValue
}

// NATSGrants keeps grants in buckets named after prefix.
func NATSGrants(js jetstream.JetStream, prefix string, replicas int) Grants {
	return &natsGrants{js: js, prefix: prefix, replicas: max(replicas, 1)}
}

func (g *natsGrants) bucket(ctx context.Context, life Life) (jetstream.KeyValue, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if kv := g.buckets[life]; kv != nil {
		return kv, nil
	}
	name := g.prefix + "_" + lifeName[life]
	kv, err := g.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name, TTL: lifeTTL[life], History: 1, Replicas: g.replicas, MaxValueSize: maxGrantSize,
		Description: "Clavis authorization flows and grants",
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: grant bucket %s: %w", name, err)
	}
	g.buckets[life] = kv
	return kv, nil
}

func (g *natsGrants) Create(ctx context.Context, life Life, key string, value []byte) error {
	kv, err := g.bucket(ctx, life)
	if err != nil {
		return err
	}
	if _, err = kv.Create(ctx, key, value); errors.Is(err, jetstream.ErrKeyExists) {
		return ErrGrantExists
	}
	return err
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
	return err
}

func (g *natsGrants) Delete(ctx context.Context, life Life, key string) error {
	kv, err := g.bucket(ctx, life)
	if err != nil {
		return err
	}
	if err = kv.Delete(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}
