package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ory/fosite"
)

// Revocations keeps the access tokens revoked before they expired,
// shared by every node. A token is named by its tenant and its jti.
type Revocations interface {
	// Revoke records that the token stops working; until is when it
	// would have expired anyway.
	Revoke(ctx context.Context, tenant, jti string, until time.Time) error
	// Revoked reports whether the token was revoked, without I/O: it is
	// on the token path.
	Revoked(tenant, jti string) bool
}

// WithRevocations serves the revocation endpoint (RFC 7009), keeping
// revoked tokens in r, which every verification consults.
func WithRevocations(r Revocations) Option {
	return func(p *Provider) error {
		if r == nil {
			return fmt.Errorf("%w: nil revocations", ErrInvalidOption)
		}
		p.revoked = r
		return nil
	}
}

// revocationTTL is how long a revocation is kept: the longest an access
// token lives (client.MaxAccessTokenLifetime, a day), and a margin.
const revocationTTL = 25 * time.Hour

// RevocationBucket keeps revocations in a JetStream key-value bucket
// (key {tenant}.{jti}, value the token's expiry in Unix seconds) whose
// entries expire after revocationTTL, and mirrors it in memory through a
// watch, so that a revocation made at any node applies at every node as
// soon as NATS delivers it. While NATS is away, revoking fails (the
// endpoint answers temporarily_unavailable) and the revocations already
// known still apply; the watch resumes when NATS is back.
type RevocationBucket struct {
	js       jetstream.JetStream
	bucket   string
	replicas int
	log      *slog.Logger
	now      func() time.Time

	mu      sync.RWMutex
	kv      jetstream.KeyValue // nil until the bucket is open
	revoked map[string]time.Time
	loaded  bool // the entries present when the watch began are in revoked
}

// Loaded reports whether the revocations recorded before this node
// started are known: until then a revoked token could pass, so a node
// is not ready to serve (readiness checks ask this).
func (r *RevocationBucket) Loaded() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.loaded
}

// NATSRevocations keeps revocations in bucket, which it creates if need
// be, and follows it until ctx ends. It waits up to a few seconds for the
// bucket's current entries, then goes on in the background (NATS may be
// away at start).
func NATSRevocations(ctx context.Context, js jetstream.JetStream, bucket string, replicas int, log *slog.Logger) *RevocationBucket {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &RevocationBucket{js: js, bucket: bucket, replicas: max(replicas, 1), log: log, now: time.Now, revoked: map[string]time.Time{}}
	loaded := make(chan struct{})
	go r.run(ctx, loaded)
	select {
	case <-loaded:
	case <-time.After(5 * time.Second):
		log.Warn("revocations: NATS not reachable yet; following the bucket in the background")
	case <-ctx.Done():
	}
	return r
}

// run opens the bucket and follows it, again after any failure, until
// ctx ends; it closes loaded once the entries present are read.
func (r *RevocationBucket) run(ctx context.Context, loaded chan struct{}) {
	var once sync.Once
	done := func() {
		once.Do(func() {
			r.mu.Lock()
			r.loaded = true
			r.mu.Unlock()
			close(loaded)
		})
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.follow(ctx, done)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("revocations: following the bucket", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// follow applies the bucket's entries as they come; a nil update marks
// the end of those present when the watch began.
func (r *RevocationBucket) follow(ctx context.Context, loaded func()) error {
	kv, err := r.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: r.bucket, TTL: revocationTTL, History: 1, Replicas: r.replicas,
		MaxBytes: DefaultBucketBytes, MaxValueSize: maxSmallEntry,
		Description: "Clavis revoked access tokens",
	})
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", r.bucket, err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("watch bucket %s: %w", r.bucket, err)
	}
	defer w.Stop()
	r.mu.Lock()
	r.kv = kv
	r.mu.Unlock()
	for e := range w.Updates() {
		if e == nil {
			loaded()
			continue
		}
		exp, err := strconv.ParseInt(string(e.Value()), 10, 64)
		if err != nil {
			r.log.Warn("revocations: unreadable entry", "key", e.Key())
			continue
		}
		r.remember(e.Key(), time.Unix(exp, 0))
	}
	return errors.New("the watch ended")
}

func (r *RevocationBucket) remember(key string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked[key] = until
	if len(r.revoked)%1024 == 0 { // now and then, forget what expired
		now := r.now()
		for k, t := range r.revoked {
			if !now.Before(t) {
				delete(r.revoked, k)
			}
		}
	}
}

func revocationKey(tenant, jti string) string { return tenant + "." + jti }

func (r *RevocationBucket) Revoke(ctx context.Context, tenant, jti string, until time.Time) error {
	key := revocationKey(tenant, jti)
	r.mu.RLock()
	kv := r.kv
	r.mu.RUnlock()
	if kv == nil {
		return errors.New("oauth: the revocation bucket is not open yet")
	}
	if _, err := kv.Put(ctx, key, []byte(strconv.FormatInt(until.Unix(), 10))); err != nil {
		return fmt.Errorf("oauth: record revocation: %w", err)
	}
	r.remember(key, until) // this node knows at once, before the watch says so
	return nil
}

func (r *RevocationBucket) Revoked(tenant, jti string) bool {
	r.mu.RLock()
	until, ok := r.revoked[revocationKey(tenant, jti)]
	r.mu.RUnlock()
	return ok && r.now().Before(until)
}

// ServeRevoke is tenant slug's revocation endpoint (RFC 7009): a client
// of the tenant (public ones identify themselves with client_id) revokes
// one of its own access tokens, on every node. A token that is invalid,
// expired or unknown answers 200 as the RFC wants; a valid token of
// another client is refused (unauthorized_client). For a tenant that does
// not exist it writes nothing and returns [ErrUnknownTenant].
func (p *Provider) ServeRevoke(w http.ResponseWriter, r *http.Request, slug string) error {
	ctx, c, ar, err := p.clientRequest(w, r, slug)
	if c == nil {
		return err
	}
	token := r.PostForm.Get("token")
	if token == "" {
		p.writeError(ctx, w, r, ar, fosite.ErrInvalidRequest.WithHint("The token parameter is missing."))
		return nil
	}
	// token_type_hint is only a hint (RFC 7009 §2.1): the token's form
	// tells a refresh token from an access token.
	if p.grants != nil && strings.HasPrefix(token, refreshTokenPrefix) {
		p.revokeRefreshToken(ctx, w, r, ar, c.GetID(), token)
		return nil
	}
	at, err := p.VerifyAccessToken(ctx, token)
	switch {
	case errors.Is(err, ErrInvalidToken):
	case err != nil:
		p.writeError(ctx, w, r, ar, fosite.ErrServerError.WithWrap(err))
		return nil
	case at.Tenant != slug:
	case at.ClientID != c.GetID():
		p.writeError(ctx, w, r, ar, fosite.ErrUnauthorizedClient.WithHint("The token was issued to another client."))
		return nil
	case !p.revocations.allow(slug + "\x00" + at.ClientID):
		p.writeError(ctx, w, r, ar, errTooManyRevocations())
		return nil
	default:
		if err := p.revoked.Revoke(ctx, slug, at.ID, at.Expiry); err != nil {
			p.log.ErrorContext(ctx, "revoke", "tenant", slug, "error", err)
			p.writeError(ctx, w, r, ar, fosite.ErrTemporarilyUnavailable.WithHint("Revocations cannot be recorded right now; try again."))
			return nil
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

// refreshTokenPrefix starts every refresh token (fosite's HMAC strategy).
const refreshTokenPrefix = "ory_rt_"

// revokeRefreshToken revokes a refresh token of client clientID and, as
// RFC 7009 §2.1 suggests, its whole grant: the refresh tokens and the
// access tokens issued from the same authorization.
func (p *Provider) revokeRefreshToken(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, clientID, token string) {
	s := p.store
	req, _ := requestOf(ctx)
	var rec codeRecord
	_, err := s.get(ctx, LifeGrant, "rt", p.tokens.RefreshTokenSignature(ctx, token), &rec)
	switch {
	case errors.Is(err, fosite.ErrNotFound):
	case err != nil:
		p.writeError(ctx, w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err))
		return
	case rec.Request.ClientID != clientID:
		p.writeError(ctx, w, r, ar, fosite.ErrUnauthorizedClient.WithHint("The token was issued to another client."))
		return
	case !p.revocations.allow(req.tenant.Slug + "\x00" + clientID):
		p.writeError(ctx, w, r, ar, errTooManyRevocations())
		return
	default:
		if err := s.revokeFamily(ctx, rec.Request.ID); err != nil {
			p.log.ErrorContext(ctx, "revoke", "error", err)
			p.writeError(ctx, w, r, ar, fosite.ErrTemporarilyUnavailable.WithHint("Revocations cannot be recorded right now; try again."))
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// errTooManyRevocations answers a client over its revocation rate.
func errTooManyRevocations() error {
	err := fosite.ErrTemporarilyUnavailable.WithHint("Too many revocations from this client; retry in a second.")
	err.CodeField = http.StatusTooManyRequests
	return err
}
