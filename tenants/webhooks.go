package tenants

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/tenants/signing"
)

// Webhook ids and limits.
const (
	// WebhookIDPrefix starts every webhook endpoint id: "wh_" and
	// [webhookIDChars] random lowercase base32 characters.
	WebhookIDPrefix = "wh_"
	webhookIDChars  = 20
	// maxWebhookIDLength bounds what a path segment may be to be looked
	// up at all.
	maxWebhookIDLength = 64
	// DefaultMaxWebhooks is how many endpoints a tenant may have unless
	// [WithMaxWebhooks] says otherwise.
	DefaultMaxWebhooks = 50
	// DefaultWebhookOverlap is how long a rotated webhook secret keeps
	// signing beside its successor when the caller does not say.
	DefaultWebhookOverlap = 24 * time.Hour
)

// ErrWebhookLimit: the tenant has as many webhook endpoints as it may.
var ErrWebhookLimit = &domain.Error{Code: "webhook_limit", Message: "the tenant has the most webhook endpoints it may have; delete one first"}

// WebhookSealer seals webhook signing secrets for one tenant and
// endpoint; signing.Keyring is one.
type WebhookSealer interface {
	SealWebhookSecret(tenant, webhookID, secret string) (string, error)
}

// WebhookEndpoints is the read side of the endpoints, which
// [Webhooks.Create] counts against the limit; webhooks.Store is one.
type WebhookEndpoints interface {
	// Endpoints returns tenant's endpoints, deleted ones left out.
	Endpoints(ctx context.Context, tenant string) ([]webhooks.Endpoint, error)
}

// WebhookSecret is a webhook signing secret just generated: its id and its
// plaintext ("whsec_…"), which the caller shows exactly once. Only its
// sealed form is stored. String and LogValue redact the plaintext.
type WebhookSecret struct {
	ID    string
	Value string
}

// String describes the secret without its value.
func (s WebhookSecret) String() string { return "WebhookSecret{ID:" + s.ID + " Value:[REDACTED]}" }

// GoString keeps %#v from printing the value.
func (s WebhookSecret) GoString() string { return s.String() }

// LogValue implements [slog.LogValuer], logging the secret's id only.
func (s WebhookSecret) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("value", "[REDACTED]"))
}

// WebhookResult is the outcome of a webhook command: the endpoint as the
// command left it, the secret the command made, if any, to be shown
// exactly once, and the position of the last event appended (zero when
// the command changed nothing), for the caller to wait for the
// projection.
type WebhookResult struct {
	Webhook  webhook.State
	Secret   *WebhookSecret
	Position eventstore.Position
}

// WebhookPatch is a partial update of an endpoint's settings: nil fields
// keep their value.
type WebhookPatch struct {
	URL         *string
	Types       *[]string
	Description *string
}

// Webhooks is the command service of the webhook endpoint aggregate, per
// tenant. Like [Clients], every command first reads the tenant's stream:
// an unknown tenant fails with an error matching [domain.ErrNotFound], a
// suspended one with [domain.ErrTenantSuspended], and the append checks
// the suspension again, so no command commits after one. An endpoint id
// that does not exist in the tenant (one of another tenant included)
// fails with [domain.ErrNotFound], a deleted one with [domain.ErrDeleted].
// Bad input fails with a *[domain.ValidationError]; whatever fails,
// nothing is appended.
//
// Webhooks is safe for concurrent use.
type Webhooks struct {
	store     eventstore.Store
	sealer    WebhookSealer
	endpoints WebhookEndpoints
	cfg       config
	max       int
}

// NewWebhooks returns the webhook service over store, sealing secrets
// with sealer and counting a tenant's endpoints on endpoints. It takes
// [WithClock], [WithEventIDs], [WithLogger] and [WithMaxWebhooks].
func NewWebhooks(store eventstore.Store, sealer WebhookSealer, endpoints WebhookEndpoints, opts ...Option) (*Webhooks, error) {
	switch {
	case store == nil:
		return nil, errors.New("tenants: nil store")
	case sealer == nil:
		return nil, errors.New("tenants: nil webhook sealer")
	case endpoints == nil:
		return nil, errors.New("tenants: nil webhook endpoints")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	max := cfg.maxWebhooks
	if max == 0 {
		max = DefaultMaxWebhooks
	}
	return &Webhooks{store: store, sealer: sealer, endpoints: endpoints, cfg: cfg, max: max}, nil
}

// WithMaxWebhooks makes [Webhooks] refuse to create more than n endpoints
// per tenant (default [DefaultMaxWebhooks]); n must be positive. The
// other services ignore it.
func WithMaxWebhooks(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: WithMaxWebhooks: %d is not positive", ErrInvalidOption, n)
		}
		c.maxWebhooks = n
		return nil
	}
}

// Create creates a new, active endpoint of tenant with settings s (see
// webhook.Normalize) and a new id, "wh_…", and its first signing secret,
// returned once. A tenant that has its limit of endpoints already fails
// with [ErrWebhookLimit].
//
// The limit is exact whatever the concurrency: each endpoint claims one
// of the tenant's slots, 1 to the limit ([webhook.ClaimKindSlot]), in the
// append that creates it, and its deletion releases it. Create tries the
// slots the read side shows free, in random order so that concurrent
// creations seldom collide, and moves to another when the store says one
// is taken. A slot freed so recently that the read side does not show it
// yet is not tried: the answer is then [ErrWebhookLimit] for a moment.
func (w *Webhooks) Create(ctx context.Context, req Request, tenant string, s webhook.Settings) (WebhookResult, error) {
	const action = "create webhook"
	now := w.cfg.now()
	meta, err := req.metadata(now)
	if err != nil {
		return WebhookResult{}, err
	}
	if err := w.writable(ctx, tenant); err != nil {
		return WebhookResult{}, fmt.Errorf("%s: %w", action, err)
	}
	// Bad settings are reported before the limit: they are the caller's
	// to fix either way.
	if _, err := webhook.Normalize(s); err != nil {
		return WebhookResult{}, fmt.Errorf("%s: %w", action, err)
	}
	existing, err := w.endpoints.Endpoints(ctx, tenant)
	if err != nil {
		return WebhookResult{}, fmt.Errorf("%s: count endpoints: %w", action, err)
	}
	if len(existing) >= w.max {
		return WebhookResult{}, fmt.Errorf("%s: %w", action, ErrWebhookLimit)
	}
	id := newWebhookID()
	secret, sealed, err := w.newSecret(tenant, id)
	if err != nil {
		return WebhookResult{}, fmt.Errorf("%s: %w", action, err)
	}
	for _, slot := range freeSlots(existing, w.max) {
		res, err := w.exec(ctx, meta, action, tenant, id, func(a *webhook.Webhook) ([]domain.Event, error) {
			if a.Version() != 0 {
				return nil, fmt.Errorf("webhook id %q is taken: %w", id, domain.ErrAlreadyExists)
			}
			return webhook.CreateInSlot(id, slot, s, sealed, now)
		})
		var taken *eventstore.ClaimError
		if errors.As(err, &taken) && taken.Kind == webhook.ClaimKindSlot {
			continue
		}
		if err != nil {
			return WebhookResult{}, err
		}
		res.Secret = &secret
		return res, nil
	}
	return WebhookResult{}, fmt.Errorf("%s: %w", action, ErrWebhookLimit)
}

// freeSlots returns the slots from 1 to max that none of existing holds,
// shuffled.
func freeSlots(existing []webhooks.Endpoint, max int) []int {
	held := make(map[int]bool, len(existing))
	for _, e := range existing {
		held[e.State.Slot] = true
	}
	free := make([]int, 0, max)
	for slot := 1; slot <= max; slot++ {
		if !held[slot] {
			free = append(free, slot)
		}
	}
	mrand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	return free
}

// Update applies p to endpoint id of tenant: the fields p sets replace
// the endpoint's, the others stay. A patch that changes nothing appends
// nothing. expectedVersion is the version the caller last saw; an
// endpoint at another version fails with an *[eventstore.ConflictError]
// (errors.Is [eventstore.ErrConflict]). 0 updates whatever the version.
func (w *Webhooks) Update(ctx context.Context, req Request, tenant, id string, p WebhookPatch, expectedVersion int64) (WebhookResult, error) {
	if expectedVersion < 0 {
		return WebhookResult{}, fmt.Errorf("update webhook: expected version %d: %w", expectedVersion, eventstore.ErrInvalid)
	}
	return w.command(ctx, req, "update webhook", tenant, id, func(a *webhook.Webhook, now time.Time) ([]domain.Event, error) {
		if expectedVersion != 0 && a.Version() != 0 && !a.Deleted() && a.Version() != expectedVersion {
			return nil, &eventstore.ConflictError{Stream: webhooks.Stream(tenant, id), Expected: expectedVersion, Actual: a.Version()}
		}
		s := a.Settings()
		if p.URL != nil {
			s.URL = *p.URL
		}
		if p.Types != nil {
			s.Types = *p.Types
		}
		if p.Description != nil {
			s.Description = *p.Description
		}
		return a.Update(s, now)
	})
}

// RotateSecret gives endpoint id of tenant a new signing secret, returned
// once; the current one keeps signing beside it for overlap (0 to
// webhook.MaxOverlap), so that receivers can switch without losing a
// delivery.
func (w *Webhooks) RotateSecret(ctx context.Context, req Request, tenant, id string, overlap time.Duration) (WebhookResult, error) {
	var secret WebhookSecret
	res, err := w.command(ctx, req, "rotate webhook secret", tenant, id, func(a *webhook.Webhook, now time.Time) ([]domain.Event, error) {
		s, sealed, err := w.newSecret(tenant, id)
		if err != nil {
			return nil, err
		}
		secret = s
		return a.RotateSecret(sealed, overlap, now)
	})
	if err != nil {
		return WebhookResult{}, err
	}
	res.Secret = &secret
	return res, nil
}

// Activate turns deliveries of endpoint id of tenant on again: they go on
// from where they stopped. Activating an active endpoint changes nothing.
func (w *Webhooks) Activate(ctx context.Context, req Request, tenant, id string) (WebhookResult, error) {
	return w.command(ctx, req, "activate webhook", tenant, id, func(a *webhook.Webhook, now time.Time) ([]domain.Event, error) {
		return a.Activate(now)
	})
}

// Deactivate stops deliveries to endpoint id of tenant, for reason
// (optional; it also becomes the event's metadata reason when req has
// none). Deactivating an inactive endpoint changes nothing.
func (w *Webhooks) Deactivate(ctx context.Context, req Request, tenant, id, reason string) (WebhookResult, error) {
	return w.deactivate(ctx, req, tenant, id, reason, false)
}

func (w *Webhooks) deactivate(ctx context.Context, req Request, tenant, id, reason string, automatic bool) (WebhookResult, error) {
	if req.Reason == "" {
		req.Reason = reason
	}
	return w.command(ctx, req, "deactivate webhook", tenant, id, func(a *webhook.Webhook, now time.Time) ([]domain.Event, error) {
		return a.Deactivate(reason, automatic, now)
	})
}

// Replay sends the deliveries of endpoint id of tenant back (or forward)
// to the events after the events API cursor from ("" for the tenant's
// first event). A cursor need not be an event's position: it means "after
// that point". One after the store's head fails with a
// *[domain.ValidationError] on "from": the endpoint would wait, without
// an error, for positions that may never come.
func (w *Webhooks) Replay(ctx context.Context, req Request, tenant, id, from string) (WebhookResult, error) {
	return w.command(ctx, req, "replay webhook", tenant, id, func(a *webhook.Webhook, now time.Time) ([]domain.Event, error) {
		evs, err := a.Replay(from, now)
		if err != nil || from == "" {
			return evs, err
		}
		if err := w.reached(ctx, from); err != nil {
			return nil, err
		}
		return evs, nil
	})
}

// replayHeadWait bounds how long a replay waits for readers to see a
// cursor beyond the store's head. On PostgreSQL the head stops below the
// oldest transaction in flight, so the position of an event that has just
// committed can be ahead of it for as long as an earlier append takes to
// commit: a moment, not seconds.
const replayHeadWait = 2 * time.Second

// reached returns nil once the store's head has reached the cursor from
// (well formed, as the domain checked), and a validation error on "from"
// when it has not within [replayHeadWait]. A cursor too large for a
// position is beyond any head.
func (w *Webhooks) reached(ctx context.Context, from string) error {
	beyond := func() error {
		var p domain.Problems
		p.Add("from", "invalid_value", "from is after the newest event; use a cursor the events API gave, or none for the first event")
		return p.Err()
	}
	pos, err := eventstore.ParsePosition(from)
	if err != nil {
		return beyond()
	}
	deadline := time.Now().Add(replayHeadWait)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		head, err := w.store.Head(ctx)
		if err != nil {
			return fmt.Errorf("read the store's head: %w", err)
		}
		if !head.Less(pos) {
			return nil
		}
		if time.Now().Add(pause).After(deadline) {
			return beyond()
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// Delete deletes endpoint id of tenant: nothing more is delivered to it.
// The result holds the deleted endpoint.
func (w *Webhooks) Delete(ctx context.Context, req Request, tenant, id string) (WebhookResult, error) {
	return w.command(ctx, req, "delete webhook", tenant, id, func(a *webhook.Webhook, now time.Time) ([]domain.Event, error) {
		return a.Delete(now)
	})
}

// SystemActor is the actor of what the platform decides on its own, such
// as disabling an endpoint that failed for too long.
const SystemActor = "system"

// WebhookDisabler lets the deliverer disable an endpoint that failed for
// too long, as the platform (actor [SystemActor]); get one from
// [Webhooks.Disabler].
type WebhookDisabler struct{ w *Webhooks }

// Disabler returns the [WebhookDisabler] of w.
func (w *Webhooks) Disabler() WebhookDisabler { return WebhookDisabler{w} }

// Deactivate deactivates endpoint id of tenant for reason, as the
// platform; automatic says that the platform decided it (an endpoint
// failing for too long), not an administrator through it. An inactive
// endpoint stays as it is, and one that is gone (deleted meanwhile, or
// never there) needs nothing: both return nil. Like every command it
// fails on a suspended tenant, with [domain.ErrTenantSuspended].
func (d WebhookDisabler) Deactivate(ctx context.Context, tenant, id, reason string, automatic bool) error {
	_, err := d.w.deactivate(ctx, Request{Actor: SystemActor, Reason: reason}, tenant, id, reason, automatic)
	if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrDeleted) {
		return nil
	}
	return err
}

// webhookDecision decides a command on endpoint a at now.
type webhookDecision func(a *webhook.Webhook, now time.Time) ([]domain.Event, error)

// command runs one command on an existing endpoint of a writable tenant.
func (w *Webhooks) command(ctx context.Context, req Request, action, tenant, id string, decide webhookDecision) (WebhookResult, error) {
	now := w.cfg.now()
	meta, err := req.metadata(now)
	if err != nil {
		return WebhookResult{}, err
	}
	if err := w.writable(ctx, tenant); err != nil {
		return WebhookResult{}, fmt.Errorf("%s: %w", action, err)
	}
	if !plausibleWebhookID(id) {
		return WebhookResult{}, fmt.Errorf("%s: %w", action, notFound("webhook", id))
	}
	return w.exec(ctx, meta, action, tenant, id, func(a *webhook.Webhook) ([]domain.Event, error) {
		return decide(a, now)
	})
}

// exec decides and appends one command on the stream of endpoint id,
// on condition that the tenant is not suspended.
func (w *Webhooks) exec(ctx context.Context, meta eventstore.Metadata, action, tenantSlug, id string, decide func(*webhook.Webhook) ([]domain.Event, error)) (WebhookResult, error) {
	var agg *webhook.Webhook
	res, err := aggregate.Execute(ctx, w.store, aggregate.Command[*webhook.Webhook]{
		Stream: webhooks.Stream(tenantSlug, id),
		Decode: webhook.Decode,
		Replay: webhook.Replay,
		Decide: func(a *webhook.Webhook) ([]domain.Event, error) {
			agg = a
			return decide(a)
		},
		Meta:       meta,
		NewID:      w.cfg.eventID,
		Conditions: []eventstore.Claim{{Kind: tenant.ClaimKindSuspended, Value: tenant.ClaimSuspended, Check: true}},
	})
	var taken *eventstore.ClaimError
	if errors.As(err, &taken) && taken.Kind == tenant.ClaimKindSuspended {
		err = fmt.Errorf("tenant %q: %w", tenantSlug, domain.ErrTenantSuspended)
	}
	if err != nil {
		return WebhookResult{}, fmt.Errorf("%s %q: %w", action, id, err)
	}
	if err := applyAll(agg, res.Events, webhook.Decode); err != nil {
		return WebhookResult{}, fmt.Errorf("%s %q: %w", action, id, err)
	}
	w.cfg.log.LogAttrs(ctx, slogDebug, action, slog.String("tenant", tenantSlug), slog.String("webhook", id),
		slog.Int64("version", res.Version), slog.String("position", res.Position.String()))
	return WebhookResult{Webhook: agg.State(), Position: res.Position}, nil
}

// writable checks, on the tenant's own stream, that tenant exists and is
// not suspended.
func (w *Webhooks) writable(ctx context.Context, slug string) error {
	t, err := loadTenant(ctx, w.store, slug)
	if err != nil {
		return err
	}
	if t.Suspended() {
		return fmt.Errorf("tenant %q: %w", slug, domain.ErrTenantSuspended)
	}
	return nil
}

// newSecret makes a signing secret for endpoint id of tenant and seals it.
func (w *Webhooks) newSecret(tenant, id string) (WebhookSecret, webhook.NewSecret, error) {
	s := WebhookSecret{ID: w.cfg.secretID(), Value: signing.NewWebhookSecret()}
	sealed, err := w.sealer.SealWebhookSecret(tenant, id, s.Value)
	if err != nil {
		return WebhookSecret{}, webhook.NewSecret{}, fmt.Errorf("seal webhook secret: %w", err)
	}
	return s, webhook.NewSecret{ID: s.ID, Sealed: sealed}, nil
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newWebhookID is "wh_" and 20 random lowercase base32 characters (100
// bits): unguessable, so an id says nothing of other endpoints.
func newWebhookID() string {
	var b [13]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return WebhookIDPrefix + lowerBase32.EncodeToString(b[:])[:webhookIDChars]
}

// ValidWebhookID reports whether id could be an endpoint's id at all
// ("wh_" and lowercase letters and digits), so that a garbage path
// segment never reaches a store.
func ValidWebhookID(id string) bool {
	rest, ok := strings.CutPrefix(id, WebhookIDPrefix)
	if !ok || rest == "" || len(id) > maxWebhookIDLength {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// plausibleWebhookID reports whether id could name an endpoint's stream
// at all: ASCII letters, digits, '_' and '-', at most 64 bytes. It is
// looser than [ValidWebhookID], the form the API gives out, for the
// domain takes any id and the platform acts on every endpoint the store
// holds.
func plausibleWebhookID(id string) bool {
	if id == "" || len(id) > maxWebhookIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}
