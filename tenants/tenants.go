package tenants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections"
)

// Stream types: the Type of every tenant's and client's [eventstore.StreamID].
const (
	StreamTypeTenant = "tenant"
	StreamTypeClient = "client"
)

// TenantStream is the stream of the tenant slug: {slug, "tenant", slug}.
func TenantStream(slug string) eventstore.StreamID {
	return eventstore.StreamID{Tenant: slug, Type: StreamTypeTenant, ID: slug}
}

// ClientStream is the stream of client clientID of tenant:
// {tenant, "client", clientID}.
func ClientStream(tenant, clientID string) eventstore.StreamID {
	return eventstore.StreamID{Tenant: tenant, Type: StreamTypeClient, ID: clientID}
}

// The admin client every tenant is created with.
const (
	// AdminClientCode is the code of a tenant's admin client, which the
	// platform creates with the tenant; codes in its namespace
	// ([client.PlatformCodePrefix]) are the platform's alone.
	AdminClientCode = client.PlatformCodePrefix + "admin"
	// adminNameSuffix follows the tenant's name in the admin client's name.
	adminNameSuffix = " admin"
)

// Tenants is the command service of the tenant aggregate. It is safe for
// concurrent use.
type Tenants struct {
	store   eventstore.Store
	keys    KeyMaker
	cfg     config
	signers signerCache
}

// KeyMaker makes tenants' signing and audit keys, sealing their private
// halves, and opens sealed audit keys (signing.Keyring is one).
type KeyMaker interface {
	Generate(slug, alg string) (tenant.NewKey, error)
	// GenerateAuditKey makes an audit key named name for tenant slug.
	GenerateAuditKey(slug, name string) (tenant.NewAuditKey, error)
	// OpenAuditKey opens tenant slug's sealed audit key.
	OpenAuditKey(slug string, key tenant.AuditKey) (note.Signer, error)
}

// NewTenants returns the tenant service over store, making signing keys
// with keys.
func NewTenants(store eventstore.Store, keys KeyMaker, opts ...Option) (*Tenants, error) {
	if store == nil {
		return nil, errors.New("tenants: nil store")
	}
	if keys == nil {
		return nil, errors.New("tenants: nil key maker")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Tenants{store: store, keys: keys, cfg: cfg}, nil
}

// Key rotation timing.
const (
	// DefaultKeyLead is how long a new key is published before it signs
	// when a rotation names no lead: longer than verifiers cache the
	// JWKS (its responses allow 5 minutes).
	DefaultKeyLead = 10 * time.Minute
	// KeyTokenLifetime is how long a retired key stays published after it
	// stopped signing: the longest lifetime of a token a key signs (access
	// and ID tokens).
	KeyTokenLifetime = time.Duration(max(client.MaxAccessTokenLifetime, client.MaxIDTokenLifetime)) * time.Second
)

// TenantResult is the outcome of a tenant command: the tenant as the
// command left it, and the position of the last event appended (zero when
// the command changed nothing).
type TenantResult struct {
	Tenant   projections.TenantView
	Position eventstore.Position
}

// CreatedTenant is the outcome of [Tenants.Create].
type CreatedTenant struct {
	// Tenant is the new tenant.
	Tenant projections.TenantView
	// AdminClient is its first admin client: m2m, client_credentials,
	// client_secret_basic, code [AdminClientCode], default scope
	// clavis:admin.
	AdminClient projections.ClientView
	// AdminSecret is the admin client's secret, to be shown exactly once.
	AdminSecret Secret
	// Position is that of the admin client's registration, the last event
	// appended.
	Position eventstore.Position
}

// Create creates tenant slug with the display name name, a new signing
// key (ES256) and a new audit key (see [Tenants.AuditKeyName]), all in
// one append, and registers its first admin client with a new secret.
//
// Invalid input is a *[domain.ValidationError] (fields "slug", "name").
// A slug that is taken, including by an earlier attempt of the same
// request, is an *[AlreadyExistsError]: Create never makes two tenants.
// When the tenant was created but the admin client could not be
// registered, Create returns the tenant in the result and an
// *[IncompleteTenantError].
func (t *Tenants) Create(ctx context.Context, req Request, slug, name string) (CreatedTenant, error) {
	now := t.cfg.now()
	meta, err := req.metadata(now)
	if err != nil {
		return CreatedTenant{}, err
	}
	key, err := t.keys.Generate(slug, tenant.AlgES256)
	if err != nil {
		return CreatedTenant{}, fmt.Errorf("create tenant: %w", err)
	}
	if !tenant.ValidSlug(slug) {
		// Refused before the store is asked: an invalid slug names no stream.
		_, err := tenant.Create(slug, name, key, now)
		return CreatedTenant{}, fmt.Errorf("create tenant: %w", err)
	}
	auditKey, err := t.newAuditKey(slug)
	if err != nil {
		return CreatedTenant{}, fmt.Errorf("create tenant: %w", err)
	}
	var agg *tenant.Tenant
	res, err := aggregate.Execute(ctx, t.store, aggregate.Command[*tenant.Tenant]{
		Stream: TenantStream(slug),
		Decode: tenant.Decode,
		Replay: tenant.Replay,
		Decide: func(a *tenant.Tenant) ([]domain.Event, error) {
			agg = a
			if a.Version() != 0 {
				return nil, &AlreadyExistsError{Kind: "tenant", Field: "slug", Value: slug}
			}
			return createWithAuditKey(slug, name, key, auditKey, now)
		},
		Meta:  meta,
		NewID: t.cfg.eventID,
	})
	if err != nil && (errors.Is(err, eventstore.ErrClaimTaken) || errors.Is(err, eventstore.ErrConflict)) {
		// A concurrent Create won the race for the stream or the slug.
		return CreatedTenant{}, &AlreadyExistsError{Kind: "tenant", Field: "slug", Value: slug, Err: err}
	}
	if err != nil {
		return CreatedTenant{}, fmt.Errorf("create tenant: %w", err)
	}
	if err := applyAll(agg, res.Events, tenant.Decode); err != nil {
		return CreatedTenant{}, fmt.Errorf("create tenant: %w", err)
	}
	out := CreatedTenant{Tenant: projections.NewTenantView(agg), Position: res.Position}

	settings := AdminClientSettings(agg.Name())
	reg, err := register(ctx, t.store, t.cfg, req, slug, settings, scope.NewCatalogue(), client.RegisterPlatform, nil)
	if err != nil {
		return out, &IncompleteTenantError{Slug: slug, Err: err}
	}
	out.AdminClient = reg.Client
	out.AdminSecret = *reg.Secret
	out.Position = reg.Position
	t.cfg.log.LogAttrs(ctx, slog.LevelInfo, "tenant created", slog.String("tenant", slug), slog.String("client_id", reg.Client.ClientID))
	return out, nil
}

// createWithAuditKey decides a new tenant's events: those of
// tenant.Create, then the audit key's, decided on the tenant they create.
func createWithAuditKey(slug, name string, key tenant.NewKey, auditKey tenant.NewAuditKey, now time.Time) ([]domain.Event, error) {
	events, err := tenant.Create(slug, name, key, now)
	if err != nil {
		return nil, err
	}
	a, err := tenant.Replay(events)
	if err != nil {
		return nil, err
	}
	added, err := a.AddAuditKey(auditKey, now)
	if err != nil {
		return nil, err
	}
	return append(events, added...), nil
}

// AdminClientSettings are the settings of the admin client a tenant named
// tenantName is created with: m2m, client_credentials with
// client_secret_basic, code [AdminClientCode], named "{tenantName} admin"
// (the tenant name shortened to fit), default scope clavis:admin.
func AdminClientSettings(tenantName string) client.Settings {
	s := client.DefaultSettings(client.TypeM2M)
	if max := client.MaxNameLength - utf8.RuneCountInString(adminNameSuffix); utf8.RuneCountInString(tenantName) > max {
		tenantName = string([]rune(tenantName)[:max])
	}
	s.ClientName = tenantName + adminNameSuffix
	s.Description = "Created with the tenant; manages the tenant's clients."
	s.Code = AdminClientCode
	s.DefaultScopes = []string{scope.Admin}
	return s
}

// SetLoginURL sets the login application URL of tenant slug: the page the
// authorization endpoint sends browsers to with a login_challenge or
// consent_challenge. An empty URL clears it; setting the current URL
// changes nothing. A URL that is not https (http only on a loopback host)
// or otherwise unfit is a *[domain.ValidationError] on "login_url" (see
// tenant.Tenant.SetLoginURL). A suspended tenant may change it.
func (t *Tenants) SetLoginURL(ctx context.Context, req Request, slug, loginURL string) (TenantResult, error) {
	return t.run(ctx, req, "set login URL", slug, func(a *tenant.Tenant, now time.Time) ([]domain.Event, error) {
		return a.SetLoginURL(loginURL, now)
	})
}

// TenantPatch is a change of a tenant's settings for [Tenants.Update]; a
// nil field leaves its setting as it is.
type TenantPatch struct {
	// Name is the new display name.
	Name *string
	// LoginURL is the new login application URL; "" clears it.
	LoginURL *string
}

// Update applies p to tenant slug in one command: its events are appended
// together or not at all, and invalid input is one
// *[domain.ValidationError] listing every bad field ("name", "login_url").
// Fields equal to the current settings change nothing; so does an empty
// patch. A suspended tenant may be updated.
func (t *Tenants) Update(ctx context.Context, req Request, slug string, p TenantPatch) (TenantResult, error) {
	return t.run(ctx, req, "update tenant", slug, func(a *tenant.Tenant, now time.Time) ([]domain.Event, error) {
		var (
			events   []domain.Event
			problems domain.Problems
		)
		if p.Name != nil {
			e, err := a.Rename(*p.Name, now)
			if err != nil && !problems.Merge("", err) {
				return nil, err
			}
			events = append(events, e...)
		}
		if p.LoginURL != nil {
			e, err := a.SetLoginURL(*p.LoginURL, now)
			if err != nil && !problems.Merge("", err) {
				return nil, err
			}
			events = append(events, e...)
		}
		if err := problems.Err(); err != nil {
			return nil, err
		}
		return events, nil
	})
}

// Suspend suspends tenant slug for reason (optional; it also becomes the
// events' metadata reason when req has none). Its clients then get no
// tokens and every client command of the tenant fails with
// [domain.ErrTenantSuspended]. Suspending a suspended tenant changes
// nothing.
func (t *Tenants) Suspend(ctx context.Context, req Request, slug, reason string) (TenantResult, error) {
	if req.Reason == "" {
		req.Reason = reason
	}
	return t.run(ctx, req, "suspend tenant", slug, func(a *tenant.Tenant, now time.Time) ([]domain.Event, error) {
		return a.Suspend(reason, now)
	})
}

// Resume lifts the suspension of tenant slug. Resuming an active tenant
// changes nothing.
func (t *Tenants) Resume(ctx context.Context, req Request, slug string) (TenantResult, error) {
	return t.run(ctx, req, "resume tenant", slug, func(a *tenant.Tenant, now time.Time) ([]domain.Event, error) {
		return a.Resume(now)
	})
}

// RotateKey gives tenant slug a new signing key with algorithm alg (one of
// tenant.AlgES256, AlgRS256, AlgEdDSA; empty means ES256), published at
// once and signing from lead on (negative means [DefaultKeyLead]); the
// keys it replaces sign until then and stay published for
// [KeyTokenLifetime] more, so that every token they signed verifies until
// it expires. A suspended tenant may rotate.
func (t *Tenants) RotateKey(ctx context.Context, req Request, slug, alg string, lead time.Duration) (TenantResult, error) {
	if alg == "" {
		alg = tenant.AlgES256
	}
	if lead < 0 {
		lead = DefaultKeyLead
	}
	if !tenant.ValidAlg(alg) {
		var p domain.Problems
		p.Add("signing_key.alg", "invalid_value", "alg must be %s, %s or %s", tenant.AlgES256, tenant.AlgRS256, tenant.AlgEdDSA)
		return TenantResult{}, fmt.Errorf("rotate key: %w", p.Err())
	}
	key, err := t.keys.Generate(slug, alg)
	if err != nil {
		return TenantResult{}, fmt.Errorf("rotate key: %w", err)
	}
	return t.run(ctx, req, "rotate key", slug, func(a *tenant.Tenant, now time.Time) ([]domain.Event, error) {
		return a.RotateKey(key, lead, KeyTokenLifetime, now)
	})
}

// run executes one command on an existing tenant.
func (t *Tenants) run(ctx context.Context, req Request, action, slug string, decide func(*tenant.Tenant, time.Time) ([]domain.Event, error)) (TenantResult, error) {
	if !tenant.ValidSlug(slug) {
		return TenantResult{}, fmt.Errorf("%s: %w", action, notFound("tenant", slug))
	}
	now := t.cfg.now()
	meta, err := req.metadata(now)
	if err != nil {
		return TenantResult{}, err
	}
	var agg *tenant.Tenant
	res, err := aggregate.Execute(ctx, t.store, aggregate.Command[*tenant.Tenant]{
		Stream: TenantStream(slug),
		Decode: tenant.Decode,
		Replay: tenant.Replay,
		Decide: func(a *tenant.Tenant) ([]domain.Event, error) {
			agg = a
			if a.Version() == 0 {
				return nil, notFound("tenant", slug)
			}
			return decide(a, now)
		},
		Meta:  meta,
		NewID: t.cfg.eventID,
	})
	if err != nil {
		return TenantResult{}, fmt.Errorf("%s: %w", action, err)
	}
	if err := applyAll(agg, res.Events, tenant.Decode); err != nil {
		return TenantResult{}, fmt.Errorf("%s: %w", action, err)
	}
	return TenantResult{Tenant: projections.NewTenantView(agg), Position: res.Position}, nil
}

// loadTenant reads tenant slug from its stream, or fails with an error
// matching [domain.ErrNotFound].
func loadTenant(ctx context.Context, store eventstore.Store, slug string) (*tenant.Tenant, error) {
	if !tenant.ValidSlug(slug) {
		return nil, notFound("tenant", slug)
	}
	history, _, err := aggregate.Load(ctx, store, TenantStream(slug), tenant.Decode)
	if err != nil {
		return nil, err
	}
	agg, err := tenant.Replay(history)
	if err != nil {
		return nil, fmt.Errorf("replay tenant %q: %w", slug, err)
	}
	if agg.Version() == 0 {
		return nil, notFound("tenant", slug)
	}
	return agg, nil
}

// applier is an aggregate that changes by applying events.
type applier interface{ Apply(domain.Event) error }

// applyAll applies appended envelopes to the aggregate they were decided
// on, decoding each back from the JSON that was stored, so that the
// result is exactly what a replay of the stream gives.
func applyAll(agg applier, events []eventstore.Event, decode aggregate.Decoder) error {
	for _, e := range events {
		d, err := decode(e.Type, e.Schema, e.Data)
		if err != nil {
			return fmt.Errorf("decode appended %s: %w", e.Type, err)
		}
		if err := agg.Apply(d); err != nil {
			return fmt.Errorf("apply appended %s: %w", e.Type, err)
		}
	}
	return nil
}
