package oauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Grants keeps what the browser flows remember between requests, shared
// by every node: authorization flows waiting for the login application,
// authorization codes, grants (which refresh tokens name), and login
// sessions. Every key starts with the tenant's slug. Values are opaque
// to the store; Update is a compare-and-set, so that a code or a refresh
// token is used once however many nodes race for it.
//
// Each write says when its entry expires (expires, by the system's
// clock; zero for the life's TTL): a store keeps the entry at most until
// then, so that what has expired costs it nothing, or, when it cannot do
// better, until the life's TTL after the write; never longer than that
// TTL. An entry may be gone a little after its expiry, never before it:
// what needs an exact end checks its own expiry, kept in the value.
type Grants interface {
	// Create stores value under key until expires (see above), returning
	// its revision; it fails with [ErrGrantExists] when the key is taken.
	Create(ctx context.Context, life Life, key string, value []byte, expires time.Time) (uint64, error)
	// Get reads key, with its revision for Update; [ErrGrantNotFound]
	// when absent or expired.
	Get(ctx context.Context, life Life, key string) ([]byte, uint64, error)
	// Update replaces key's value if its revision is still rev, the
	// entry then kept until expires (see above), returning the new
	// revision; it fails with [ErrGrantConflict] when someone changed it
	// since, or when it is gone (expired or deleted).
	Update(ctx context.Context, life Life, key string, value []byte, rev uint64, expires time.Time) (uint64, error)
	// Delete removes key, leaving nothing of it behind; removing an
	// absent key is no error.
	Delete(ctx context.Context, life Life, key string) error
}

// Life is a kind of entries, and how long they are kept at most: each
// entry is kept until its own expiry, which the writer gives (see
// [Grants]) and which is checked again, inside the value, on use.
type Life int

// The lives of grant entries.
const (
	// LifeFlow keeps authorization codes and their PKCE and OpenID
	// Connect parts, each until the code expires: at most an hour (a
	// code lives a quarter of an hour, fosite's lifespan for codes).
	LifeFlow Life = iota
	// LifeToken keeps what names an access token: at most a day and an
	// hour (an access token lives at most a day).
	LifeToken
	// LifeGrant keeps grants (until their refresh tokens end) and login
	// sessions (until they end): at most a year and a day (a refresh
	// token lives at most a year).
	LifeGrant
	// LifeRequest keeps authorization requests waiting for the user
	// (flows), which anyone may make: at most as long as a flow lives.
	// They are kept apart from codes and grants, so that however many of
	// them fill their store, the users who logged in keep their codes
	// and tokens working.
	LifeRequest
)

// TTL is the longest a store keeps an entry of life l, whatever its
// expiry.
func (l Life) TTL() time.Duration {
	switch l {
	case LifeFlow:
		return time.Hour
	case LifeToken:
		return 25 * time.Hour
	case LifeRequest:
		return flowLifetime
	default:
		return 366 * 24 * time.Hour
	}
}

// MaxSize is the most bytes one entry of life l holds: a code or
// refresh token keeps its request and session (maxGrantSize); a flow
// (LifeRequest) keeps at most maxFlowQuery bytes of request and
// maxLoginSize of login answer (maxFlowSize). A store may refuse a
// larger entry with [ErrGrantTooLarge].
func (l Life) MaxSize() int {
	if l == LifeRequest {
		return maxFlowSize
	}
	return maxGrantSize
}

// The bounds of one entry (see [Life.MaxSize]).
const (
	maxGrantSize = 128 << 10
	maxFlowSize  = 32 << 10
)

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
	// ErrUnavailable wraps a failure to reach a store of the provider
	// ([Grants], [Assertions], [Revocations]): its servers are away,
	// electing a leader, or did not answer in time, or a record was
	// changed by others at each attempt to change it. Nothing is wrong with
	// the request, which may be sent again later; the endpoints answer
	// temporarily_unavailable (503) with Retry-After.
	ErrUnavailable = errors.New("oauth: the grant store cannot be reached")
)

// WithGrants serves the authorization endpoint, the authorization_code
// and refresh_token grants, OpenID Connect and logout, remembering flows
// and grants in g.
func WithGrants(g Grants) Option {
	return func(o *options) error {
		if g == nil {
			return fmt.Errorf("%w: nil grants", ErrInvalidOption)
		}
		o.grants = g
		return nil
	}
}

// readOnce reads each record of g once per request: a request that reads
// a key again gets what it read first, or what it wrote since, with its
// revision (fosite reads an authorization code three times in one
// exchange). Nothing is lost by it: a request decides as it would have at
// its first read, and what it writes is still a compare-and-set against
// the revision it knows, which fails if another request changed the
// record meanwhile; after a failed write (which a caller may retry on),
// or a delete, the request reads the key from g again. Outside a
// request (no tenant in the context) every read goes to g. A value read
// twice is the same bytes: readers decode it and never change it.
type readOnce struct{ Grants }

// readOnceGrants is g read once per request; nil stays nil.
func readOnceGrants(g Grants) Grants {
	if g == nil {
		return nil
	}
	return readOnce{g}
}

// readRecords are the records a request read, by life and key.
type readRecords struct {
	mu sync.Mutex
	m  map[readKey]readRecord
}

type readKey struct {
	life Life
	key  string
}

type readRecord struct {
	value []byte
	rev   uint64
}

func (g readOnce) Get(ctx context.Context, life Life, key string) ([]byte, uint64, error) {
	r, err := requestOf(ctx)
	if err != nil {
		return g.Grants.Get(ctx, life, key)
	}
	k := readKey{life, key}
	r.read.mu.Lock()
	rec, ok := r.read.m[k]
	r.read.mu.Unlock()
	if ok {
		return rec.value, rec.rev, nil
	}
	value, rev, err := g.Grants.Get(ctx, life, key)
	if err != nil {
		return nil, 0, err
	}
	g.remember(ctx, life, key, value, rev)
	return value, rev, nil
}

// remember keeps value at rev as what the request reads of key.
func (g readOnce) remember(ctx context.Context, life Life, key string, value []byte, rev uint64) {
	r, err := requestOf(ctx)
	if err != nil {
		return
	}
	r.read.mu.Lock()
	if r.read.m == nil {
		r.read.m = map[readKey]readRecord{}
	}
	r.read.m[readKey{life, key}] = readRecord{value: value, rev: rev}
	r.read.mu.Unlock()
}

func (g readOnce) Create(ctx context.Context, life Life, key string, value []byte, expires time.Time) (uint64, error) {
	rev, err := g.Grants.Create(ctx, life, key, value, expires)
	g.wrote(ctx, life, key, value, rev, err)
	return rev, err
}

func (g readOnce) Update(ctx context.Context, life Life, key string, value []byte, rev uint64, expires time.Time) (uint64, error) {
	rev, err := g.Grants.Update(ctx, life, key, value, rev, expires)
	g.wrote(ctx, life, key, value, rev, err)
	return rev, err
}

func (g readOnce) Delete(ctx context.Context, life Life, key string) error {
	defer g.forget(ctx, life, key)
	return g.Grants.Delete(ctx, life, key)
}

// wrote notes the request's write of value under key: what a read of it
// would now give, at revision rev; after a failed write (err), the next
// read goes to the store.
func (g readOnce) wrote(ctx context.Context, life Life, key string, value []byte, rev uint64, err error) {
	if err != nil {
		g.forget(ctx, life, key)
		return
	}
	g.remember(ctx, life, key, value, rev)
}

// forget makes the request's next read of key go to the store.
func (g readOnce) forget(ctx context.Context, life Life, key string) {
	if r, err := requestOf(ctx); err == nil {
		r.read.mu.Lock()
		delete(r.read.m, readKey{life, key})
		r.read.mu.Unlock()
	}
}
