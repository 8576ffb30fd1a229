package tenants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
)

// ErrNoAuditKey is returned by [Tenants.AuditSigner] and
// [Tenants.AuditVerifiers] for a tenant that has no audit key yet: one
// created before audit keys existed, until [Tenants.EnsureAuditKey] gives
// it one.
var ErrNoAuditKey = errors.New("tenants: the tenant has no audit key")

// DefaultPublicURL is the base of issuer URLs that names audit keys when
// no [WithPublicURL] says otherwise: where `clavis serve` listens by
// default.
const DefaultPublicURL = "http://localhost:8080"

// auditKeySuffix follows a tenant's issuer (without its scheme) in the
// name of its audit key, which is its audit log's origin.
const auditKeySuffix = "/audit"

// maxEnsureAttempts bounds how often [Tenants.EnsureAuditKey] reloads a
// tenant that changed under it.
const maxEnsureAttempts = 5

// WithPublicURL sets the base of the issuer URLs, {publicURL}/t/{slug},
// from which tenants' audit keys are named: "{issuer without
// scheme}/audit", e.g. "id.example.com/t/acme/audit". It must be an
// absolute http or https URL with a host and no query or fragment, short
// enough and free of spaces and '+' so that every name is a valid
// signed-note key name. The default is [DefaultPublicURL]. [Clients]
// ignores it.
func WithPublicURL(publicURL string) Option {
	return func(c *config) error {
		base, err := auditNameBase(publicURL)
		if err != nil {
			return fmt.Errorf("%w: WithPublicURL: %v", ErrInvalidOption, err)
		}
		c.auditBase = base
		return nil
	}
}

// CheckPublicURL reports why publicURL cannot be the base of issuer URLs
// that name audit keys (see [WithPublicURL]), or nil when it can.
func CheckPublicURL(publicURL string) error {
	_, err := auditNameBase(publicURL)
	return err
}

// auditNameBase is publicURL without its scheme and trailing slashes.
func auditNameBase(publicURL string) (string, error) {
	u, err := url.Parse(publicURL)
	switch {
	case err != nil:
		return "", fmt.Errorf("%q is not a URL", publicURL)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return "", fmt.Errorf("%q is not an absolute http or https URL", publicURL)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.ContainsAny(publicURL, "?#"):
		return "", fmt.Errorf("%q has a query, a fragment or user information", publicURL)
	}
	base := strings.TrimRight(strings.TrimPrefix(publicURL, u.Scheme+"://"), "/")
	longest := base + "/t/" + strings.Repeat("a", tenant.MaxSlugLength) + auditKeySuffix
	if !tenant.ValidAuditKeyName(longest) {
		return "", fmt.Errorf("%q cannot name audit keys: at most %d bytes of host and path, without spaces or '+'",
			publicURL, tenant.MaxAuditKeyNameLength-len(longest)+len(base))
	}
	return base, nil
}

// AuditKeyName is the name of tenant slug's audit keys, the origin of its
// audit log: its issuer without the scheme, then "/audit".
func (t *Tenants) AuditKeyName(slug string) string {
	return t.cfg.auditBase + "/t/" + slug + auditKeySuffix
}

// TenantViews reads tenants as the read model holds them
// (projections.ReadModel is one).
type TenantViews interface {
	// Tenant returns a tenant, or an error matching
	// projections.ErrNotFound.
	Tenant(ctx context.Context, slug string) (projections.TenantView, error)
}

// WithTenantViews makes [Tenants.AuditSigner] and [Tenants.AuditVerifiers]
// read tenants from v, typically the read model, which answers from one
// query; they fall back to the event store for a tenant v does not hold
// or holds without audit keys (a read model that has not caught up). The
// default reads every tenant from the event store. [Clients] ignores it.
func WithTenantViews(v TenantViews) Option {
	return func(c *config) error {
		if v == nil {
			return fmt.Errorf("%w: WithTenantViews: nil tenant views", ErrInvalidOption)
		}
		c.views = v
		return nil
	}
}

// newAuditKey makes a new audit key for tenant slug.
func (t *Tenants) newAuditKey(slug string) (tenant.NewAuditKey, error) {
	k, err := t.keys.GenerateAuditKey(slug, t.AuditKeyName(slug))
	if err != nil {
		return tenant.NewAuditKey{}, fmt.Errorf("generate audit key: %w", err)
	}
	return k, nil
}

// RotateAuditKey gives tenant slug a new audit key, which signs its audit
// log's checkpoints from now on; the earlier keys stay among its verifier
// keys, so that the checkpoints they signed keep verifying. A suspended
// tenant may rotate.
func (t *Tenants) RotateAuditKey(ctx context.Context, req Request, slug string) (TenantResult, error) {
	if !tenant.ValidSlug(slug) {
		return TenantResult{}, fmt.Errorf("rotate audit key: %w", notFound("tenant", slug))
	}
	key, err := t.newAuditKey(slug)
	if err != nil {
		return TenantResult{}, fmt.Errorf("rotate audit key: %w", err)
	}
	res, err := t.run(ctx, req, "rotate audit key", slug, func(a *tenant.Tenant, now time.Time) ([]domain.Event, error) {
		return a.AddAuditKey(key, now)
	})
	if err == nil {
		t.cfg.log.LogAttrs(ctx, slog.LevelInfo, "audit key rotated", slog.String("tenant", slug), slog.String("verifier", key.Verifier))
	}
	return res, err
}

// EnsureAuditKey gives tenant slug an audit key if it has none, as a
// tenant created before audit keys existed; a tenant that has one is left
// as it is (the result's Position is then zero). It is safe to call
// concurrently, from any number of nodes: a tenant changed meanwhile is
// reloaded, and gets one key however many callers race.
func (t *Tenants) EnsureAuditKey(ctx context.Context, req Request, slug string) (TenantResult, error) {
	if !tenant.ValidSlug(slug) {
		return TenantResult{}, fmt.Errorf("ensure audit key: %w", notFound("tenant", slug))
	}
	var key *tenant.NewAuditKey
	for attempt := 1; ; attempt++ {
		res, err := t.run(ctx, req, "ensure audit key", slug, func(a *tenant.Tenant, now time.Time) ([]domain.Event, error) {
			if len(a.AuditKeys()) > 0 {
				return nil, nil
			}
			if key == nil {
				k, err := t.newAuditKey(slug)
				if err != nil {
					return nil, err
				}
				key = &k
			}
			return a.AddAuditKey(*key, now)
		})
		if errors.Is(err, eventstore.ErrConflict) && attempt < maxEnsureAttempts {
			continue
		}
		if err == nil && res.Position != (eventstore.Position{}) {
			t.cfg.log.LogAttrs(ctx, slog.LevelInfo, "audit key added", slog.String("tenant", slug), slog.String("verifier", key.Verifier))
		}
		return res, err
	}
}

// auditKeys reads tenant slug's audit keys: from the tenant views when
// configured and they hold some, else from the event store.
func (t *Tenants) auditKeys(ctx context.Context, slug string) ([]tenant.AuditKey, error) {
	if !tenant.ValidSlug(slug) {
		return nil, notFound("tenant", slug)
	}
	if t.cfg.views != nil {
		v, err := t.cfg.views.Tenant(ctx, slug)
		if err == nil && len(v.AuditKeys) > 0 {
			return v.AuditKeys, nil
		}
		if err != nil && !errors.Is(err, projections.ErrNotFound) {
			return nil, err
		}
	}
	a, err := loadTenant(ctx, t.store, slug)
	if err != nil {
		return nil, err
	}
	keys := a.AuditKeys()
	if len(keys) == 0 {
		return nil, fmt.Errorf("tenant %q: %w", slug, ErrNoAuditKey)
	}
	return keys, nil
}

// AuditVerifiers returns the verifier keys of tenant slug's audit log, in
// the signed-note format ("name+hash+base64"): the active key first, then
// the earlier ones, newest first. They are public. A suspended tenant's
// keys are returned too: auditors verify its log. An unknown tenant is an
// error matching domain.ErrNotFound; one without keys [ErrNoAuditKey].
func (t *Tenants) AuditVerifiers(ctx context.Context, slug string) ([]string, error) {
	keys, err := t.auditKeys(ctx, slug)
	if err != nil {
		return nil, fmt.Errorf("audit verifiers: %w", err)
	}
	return tenant.AuditVerifiers(keys), nil
}

// AuditSigner returns the signer of tenant slug's active audit key,
// opened from its sealed form. Opened signers are kept, one per tenant,
// until the tenant's active key changes, so that signing often opens
// each key once. Errors are those of [Tenants.AuditVerifiers], and one
// wrapping signing.ErrSealed when the key does not open on this node.
func (t *Tenants) AuditSigner(ctx context.Context, slug string) (note.Signer, error) {
	keys, err := t.auditKeys(ctx, slug)
	if err != nil {
		return nil, fmt.Errorf("audit signer: %w", err)
	}
	active, _ := tenant.ActiveAuditKey(keys)
	if s, ok := t.signers.get(slug, active.Verifier); ok {
		return s, nil
	}
	s, err := t.keys.OpenAuditKey(slug, active)
	if err != nil {
		return nil, fmt.Errorf("audit signer: %w", err)
	}
	t.signers.put(slug, active.Verifier, s)
	return s, nil
}

// signerCache holds the opened signer of each tenant's active audit key,
// by its verifier key. It is safe for concurrent use.
type signerCache struct {
	mu sync.Mutex
	m  map[string]openedSigner
}

type openedSigner struct {
	verifier string
	signer   note.Signer
}

func (c *signerCache) get(slug, verifier string) (note.Signer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[slug]
	if !ok || s.verifier != verifier {
		return nil, false
	}
	return s.signer, true
}

func (c *signerCache) put(slug, verifier string, s note.Signer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]openedSigner{}
	}
	c.m[slug] = openedSigner{verifier: verifier, signer: s}
}
