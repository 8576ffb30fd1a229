package tenants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections"
)

// Catalogues gives the scope catalogue of a tenant: the identity and
// platform scopes plus the API scopes its live clients define.
// projections.ReadModel implements it; so does [StoreCatalogues].
type Catalogues interface {
	// Catalogue returns tenant's catalogue. An error matching
	// projections.ErrNotFound makes [Clients] fall back to the event
	// store (a read model that has not seen a new tenant yet).
	Catalogue(ctx context.Context, tenant string) (scope.Catalogue, error)
}

// Clients is the command service of the client aggregate, per tenant. Every
// command first reads the tenant's stream: an unknown tenant fails with an
// error matching [domain.ErrNotFound], a suspended one with
// [domain.ErrTenantSuspended] (reads of a suspended tenant work). A client
// id that does not exist in the tenant, including one that exists in
// another tenant, fails with [domain.ErrNotFound]; a deleted client with
// [domain.ErrDeleted]. Bad input fails with a *[domain.ValidationError]
// and other rule violations with a *[domain.Error]; a command on a client
// with, or giving it, a platform scope beyond the [Request]'s [Authority]
// fails with an *[AuthorityError]. The append itself checks that the
// tenant is not suspended, so no command commits after a suspension.
// Whatever fails, nothing is appended.
//
// Clients is safe for concurrent use.
type Clients struct {
	store eventstore.Store
	cfg   config
}

// NewClients returns the client service over store. Give it the read
// model with [WithCatalogues]; without it, scope catalogues are read from
// the event store.
func NewClients(store eventstore.Store, opts ...Option) (*Clients, error) {
	if store == nil {
		return nil, errors.New("tenants: nil store")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Clients{store: store, cfg: cfg}, nil
}

// ClientResult is the outcome of a client command: the client as the
// command left it (built from the command's result, as the read model
// will hold it), the secret the command generated, if any, to be shown
// exactly once, and the position of the last event appended (zero when
// the command changed nothing).
type ClientResult struct {
	Client   projections.ClientView
	Secret   *Secret
	Position eventstore.Position
}

// Register registers a new client of tenant with settings s and a new,
// server-generated client id. When its auth method uses a secret, the
// client gets its first secret, returned once in the result. Scopes are
// checked against the tenant's catalogue plus the client's own
// api_scopes. A code that is taken in the tenant fails with an error
// matching [eventstore.ErrClaimTaken] (an *[eventstore.ClaimError] of kind
// [client.ClaimKindClientCode]).
func (c *Clients) Register(ctx context.Context, req Request, tenant string, s client.Settings) (ClientResult, error) {
	if _, err := req.metadata(time.Time{}); err != nil {
		return ClientResult{}, err
	}
	if err := c.writable(ctx, tenant); err != nil {
		return ClientResult{}, fmt.Errorf("register client: %w", err)
	}
	cat, err := c.catalogue(ctx, tenant)
	if err != nil {
		return ClientResult{}, fmt.Errorf("register client: %w", err)
	}
	res, err := register(ctx, c.store, c.cfg, req, tenant, s, cat, client.Register, nil)
	if err != nil {
		return ClientResult{}, fmt.Errorf("register client: %w", err)
	}
	return res, nil
}

// registration is the domain's decision that registers a client:
// [client.Register], or [client.RegisterPlatform] for a client the
// platform manages (a tenant's admin client), the only kind that may have
// a code in [client.PlatformCodePrefix].
type registration func(id string, s client.Settings, cat scope.Catalogue, initial *client.Secret, now time.Time) ([]domain.Event, error)

// register appends a new client's registration, decided by decide, and
// the extra steps after it (a deactivation, for an import), in one
// append.
func register(ctx context.Context, store eventstore.Store, cfg config, req Request, tenant string, s client.Settings, cat scope.Catalogue, decide registration, after func(*client.Client, time.Time) ([]domain.Event, error)) (ClientResult, error) {
	now := cfg.now()
	meta, err := req.metadata(now)
	if err != nil {
		return ClientResult{}, err
	}
	id := cfg.clientID()
	s = withOwnSalt(s)
	var secret *Secret
	var initial *client.Secret
	if wantsSecret(s) {
		sec := cfg.newSecret()
		stored, err := cfg.storedSecret(tenant, id, s.TokenEndpointAuthMethod, sec.Value)
		if err != nil {
			return ClientResult{}, err
		}
		secret = &sec
		initial = &client.Secret{ID: sec.ID, Hash: stored}
	}
	steps := []step{func(a *client.Client) ([]domain.Event, error) {
		if a.Version() != 0 {
			return nil, fmt.Errorf("client id %q is taken: %w", id, domain.ErrAlreadyExists)
		}
		return decide(id, s, cat, initial, now)
	}}
	if after != nil {
		steps = append(steps, func(a *client.Client) ([]domain.Event, error) { return after(a, now) })
	}
	agg, res, err := execClient(ctx, store, cfg, meta, req.Authority, ClientStream(tenant, id), steps...)
	if err != nil {
		return ClientResult{}, err
	}
	cfg.log.LogAttrs(ctx, slogDebug, "client registered", attrs(tenant, id, res)...)
	return result(tenant, agg, secret, res), nil
}

// withOwnSalt returns s for a new client: a redacted pairwise subject salt
// (an export's, a read's) asks for pairwise subjects, so the client gets a
// salt of its own, never another client's.
func withOwnSalt(s client.Settings) client.Settings {
	if s.PairwiseSubjectSalt == client.Redacted {
		s.PairwiseSubjectSalt = newPairwiseSalt()
	}
	return s
}

// withOwnSaltPatch returns p for client a: a redacted salt keeps a's salt
// (the domain sees to that), and gives a client without one a salt of its
// own.
func withOwnSaltPatch(a *client.Client, p client.Patch) client.Patch {
	if p.PairwiseSubjectSalt != nil && *p.PairwiseSubjectSalt == client.Redacted && a.Settings().PairwiseSubjectSalt == "" {
		salt := newPairwiseSalt()
		p.PairwiseSubjectSalt = &salt
	}
	return p
}

// Update applies the merge patch p to client id of tenant.
// expectedVersion is the version the caller last saw; a client at another
// version fails with an *[eventstore.ConflictError] (errors.Is
// [eventstore.ErrConflict]) and nothing changes. 0 updates whatever the
// version. A patch that changes nothing appends nothing.
//
// When the patched client needs a secret it does not have (a public client
// turned confidential), Update generates one and returns it once. p's
// NewSecret is ignored: secrets are always generated here.
func (c *Clients) Update(ctx context.Context, req Request, tenant, id string, p client.Patch, expectedVersion int64) (ClientResult, error) {
	if expectedVersion < 0 {
		return ClientResult{}, fmt.Errorf("update client: expected version %d: %w", expectedVersion, eventstore.ErrInvalid)
	}
	p.NewSecret = nil
	const action = "update client"
	if err := c.commandable(ctx, req, action, tenant, id); err != nil {
		return ClientResult{}, err
	}
	cat, err := c.catalogue(ctx, tenant)
	if err != nil {
		return ClientResult{}, fmt.Errorf("%s: %w", action, err)
	}
	return c.exec(ctx, req, action, tenant, id, func(a *client.Client, now time.Time) ([]domain.Event, *Secret, error) {
		if expectedVersion != 0 && a.Version() != 0 && !a.Deleted() && a.Version() != expectedVersion {
			return nil, nil, &eventstore.ConflictError{Stream: ClientStream(tenant, id), Expected: expectedVersion, Actual: a.Version()}
		}
		return c.update(tenant, a, p, cat, now)
	})
}

// update decides a patch, adding a new secret when the result needs one
// that the client lacks.
func (c *Clients) update(tenant string, a *client.Client, p client.Patch, cat scope.Catalogue, now time.Time) ([]domain.Event, *Secret, error) {
	p = withOwnSaltPatch(a, p)
	events, err := a.Update(p, cat, now)
	if !needsSecret(err) {
		return events, nil, err
	}
	sec := c.cfg.newSecret()
	method := a.Settings().TokenEndpointAuthMethod
	if p.TokenEndpointAuthMethod != nil {
		method = *p.TokenEndpointAuthMethod
	}
	stored, err := c.cfg.storedSecret(tenant, a.ID(), method, sec.Value)
	if err != nil {
		return nil, nil, err
	}
	p.NewSecret = &client.Secret{ID: sec.ID, Hash: stored}
	events, err = a.Update(p, cat, now)
	if err != nil {
		return nil, nil, err
	}
	return events, &sec, nil
}

// AddSecret gives client id of tenant a new secret, described by
// description (optional) and expiring at expiresAt (nil: never), and
// returns it once. Public clients cannot hold secrets; a client holds at
// most [client.MaxSecrets].
func (c *Clients) AddSecret(ctx context.Context, req Request, tenant, id, description string, expiresAt *time.Time) (ClientResult, error) {
	return c.command(ctx, req, "add secret", tenant, id, func(a *client.Client, now time.Time) ([]domain.Event, *Secret, error) {
		sec := c.cfg.newSecret()
		stored, err := c.cfg.storedSecret(tenant, a.ID(), a.Settings().TokenEndpointAuthMethod, sec.Value)
		if err != nil {
			return nil, nil, err
		}
		events, err := a.AddSecret(client.Secret{ID: sec.ID, Hash: stored, ExpiresAt: expiresAt, Description: description}, now)
		if err != nil {
			return nil, nil, err
		}
		return events, &sec, nil
	})
}

// RevokeSecret removes secret secretID from client id of tenant. It fails
// with [domain.ErrSecretNotFound] for a secret the client does not hold
// and [domain.ErrLastSecret] for the last usable secret of a client that
// authenticates with one: rotate it instead.
func (c *Clients) RevokeSecret(ctx context.Context, req Request, tenant, id, secretID string) (ClientResult, error) {
	return c.command(ctx, req, "revoke secret", tenant, id, func(a *client.Client, now time.Time) ([]domain.Event, *Secret, error) {
		events, err := a.RevokeSecret(secretID, now)
		return events, nil, err
	})
}

// RotateSecret gives client id of tenant a new secret, returned once, and
// makes every other usable secret expire after overlap (0 to
// [client.MaxRotationOverlap]; 0 stops them at once).
func (c *Clients) RotateSecret(ctx context.Context, req Request, tenant, id string, overlap time.Duration) (ClientResult, error) {
	return c.command(ctx, req, "rotate secret", tenant, id, func(a *client.Client, now time.Time) ([]domain.Event, *Secret, error) {
		sec := c.cfg.newSecret()
		stored, err := c.cfg.storedSecret(tenant, a.ID(), a.Settings().TokenEndpointAuthMethod, sec.Value)
		if err != nil {
			return nil, nil, err
		}
		events, err := a.RotateSecret(client.Secret{ID: sec.ID, Hash: stored}, overlap, now)
		if err != nil {
			return nil, nil, err
		}
		return events, &sec, nil
	})
}

// Activate lets client id of tenant get tokens again. Activating an active
// client changes nothing.
func (c *Clients) Activate(ctx context.Context, req Request, tenant, id string) (ClientResult, error) {
	return c.command(ctx, req, "activate client", tenant, id, func(a *client.Client, now time.Time) ([]domain.Event, *Secret, error) {
		events, err := a.Activate(now)
		return events, nil, err
	})
}

// Deactivate stops client id of tenant from getting tokens, for reason
// (optional; it also becomes the events' metadata reason when req has
// none). Deactivating an inactive client changes nothing.
func (c *Clients) Deactivate(ctx context.Context, req Request, tenant, id, reason string) (ClientResult, error) {
	if req.Reason == "" {
		req.Reason = reason
	}
	return c.command(ctx, req, "deactivate client", tenant, id, func(a *client.Client, now time.Time) ([]domain.Event, *Secret, error) {
		events, err := a.Deactivate(reason, now)
		return events, nil, err
	})
}

// Delete deletes client id of tenant. Its code becomes free; its id is
// never reused. The result holds the deleted client.
func (c *Clients) Delete(ctx context.Context, req Request, tenant, id string) (ClientResult, error) {
	return c.command(ctx, req, "delete client", tenant, id, func(a *client.Client, now time.Time) ([]domain.Event, *Secret, error) {
		events, err := a.Delete(now)
		return events, nil, err
	})
}

// Clone registers a new client of tenant with every setting of client id
// but the name and the code, which are given, and without its secrets:
// the copy gets a new id and, when its auth method uses one, a new secret,
// returned once. The copy is active and validated like a registration.
func (c *Clients) Clone(ctx context.Context, req Request, tenant, id, name, code string) (ClientResult, error) {
	if _, err := req.metadata(time.Time{}); err != nil {
		return ClientResult{}, err
	}
	if err := c.writable(ctx, tenant); err != nil {
		return ClientResult{}, fmt.Errorf("clone client: %w", err)
	}
	src, err := loadClient(ctx, c.store, tenant, id)
	if err != nil {
		return ClientResult{}, fmt.Errorf("clone client %q: %w", id, err)
	}
	cat, err := c.catalogue(ctx, tenant)
	if err != nil {
		return ClientResult{}, fmt.Errorf("clone client %q: %w", id, err)
	}
	now := c.cfg.now()
	meta, err := req.metadata(now)
	if err != nil {
		return ClientResult{}, err
	}
	newID := c.cfg.clientID()
	// A clone never shares its source's pairwise subjects.
	salt := ""
	if src.Settings().PairwiseSubjectSalt != "" {
		salt = newPairwiseSalt()
	}
	var secret *Secret
	var initial *client.Secret
	if wantsSecret(src.Settings()) {
		sec := c.cfg.newSecret()
		stored, err := c.cfg.storedSecret(tenant, newID, src.Settings().TokenEndpointAuthMethod, sec.Value)
		if err != nil {
			return ClientResult{}, err
		}
		secret = &sec
		initial = &client.Secret{ID: sec.ID, Hash: stored}
	}
	agg, res, err := execClient(ctx, c.store, c.cfg, meta, req.Authority, ClientStream(tenant, newID), func(a *client.Client) ([]domain.Event, error) {
		if a.Version() != 0 {
			return nil, fmt.Errorf("client id %q is taken: %w", newID, domain.ErrAlreadyExists)
		}
		return src.Clone(newID, name, code, salt, cat, initial, now)
	})
	if err != nil {
		return ClientResult{}, fmt.Errorf("clone client %q: %w", id, err)
	}
	return result(tenant, agg, secret, res), nil
}

// Get reads client id of tenant from the event store: exact, unlike a
// read model. A deleted client fails with [domain.ErrDeleted], a client
// that does not exist in the tenant with [domain.ErrNotFound].
func (c *Clients) Get(ctx context.Context, tenant, id string) (projections.ClientView, error) {
	if _, err := loadTenant(ctx, c.store, tenant); err != nil {
		return projections.ClientView{}, fmt.Errorf("get client: %w", err)
	}
	agg, err := loadClient(ctx, c.store, tenant, id)
	if err != nil {
		return projections.ClientView{}, fmt.Errorf("get client %q: %w", id, err)
	}
	return projections.NewClientView(tenant, agg), nil
}

// step is one decision of a command; see execClient.
type step func(*client.Client) ([]domain.Event, error)

// decision decides a command on client a at now: the events, and the
// secret the command made, if any, to show once.
type decision func(a *client.Client, now time.Time) ([]domain.Event, *Secret, error)

// command runs one command on an existing client of a writable tenant.
func (c *Clients) command(ctx context.Context, req Request, action, tenant, id string, decide decision) (ClientResult, error) {
	if err := c.commandable(ctx, req, action, tenant, id); err != nil {
		return ClientResult{}, err
	}
	return c.exec(ctx, req, action, tenant, id, decide)
}

// commandable refuses, before anything is loaded, a command without an
// actor, on a tenant that cannot be written, or on an id that cannot be
// a client's.
func (c *Clients) commandable(ctx context.Context, req Request, action, tenant, id string) error {
	if _, err := req.metadata(time.Time{}); err != nil {
		return err
	}
	if err := c.writable(ctx, tenant); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if !validClientID(id) {
		return fmt.Errorf("%s: %w", action, notFound("client", id))
	}
	return nil
}

// exec decides and appends a command that [Clients.commandable] let
// through.
func (c *Clients) exec(ctx context.Context, req Request, action, tenant, id string, decide decision) (ClientResult, error) {
	now := c.cfg.now()
	meta, err := req.metadata(now)
	if err != nil {
		return ClientResult{}, err
	}
	var secret *Secret
	agg, res, err := execClient(ctx, c.store, c.cfg, meta, req.Authority, ClientStream(tenant, id), func(a *client.Client) ([]domain.Event, error) {
		events, s, err := decide(a, now)
		secret = s
		return events, err
	})
	if err != nil {
		return ClientResult{}, fmt.Errorf("%s %q: %w", action, id, err)
	}
	if len(res.Events) == 0 {
		secret = nil
	}
	c.cfg.log.LogAttrs(ctx, slogDebug, action, attrs(tenant, id, res)...)
	return result(tenant, agg, secret, res), nil
}

// execClient runs a command on one client stream with aggregate.Execute.
// The steps decide in turn, each seeing the aggregate with the events of
// the steps before it applied, and all their events are appended in one
// append. It returns the aggregate as the appended events left it.
//
// The append checks that the tenant is not suspended
// (tenant.ClaimKindSuspended), in its own transaction: a command racing
// a suspension either commits before it or fails with
// [domain.ErrTenantSuspended].
//
// The client must be within auth before the command and after it: a
// command on a client with a platform scope the caller does not hold, or
// one that would give it one, fails with an *[AuthorityError].
//
// After an append that reaches a multiple of the snapshot interval, it
// saves the client's snapshot there (see snapshot.go).
func execClient(ctx context.Context, store eventstore.Store, cfg config, meta eventstore.Metadata, auth Authority, stream eventstore.StreamID, steps ...step) (*client.Client, aggregate.Result, error) {
	var agg *client.Client
	res, err := aggregate.Execute(ctx, store, aggregate.Command[*client.Client]{
		Stream: stream,
		Decode: client.Decode,
		Replay: client.Replay,
		Decide: func(a *client.Client) ([]domain.Event, error) {
			agg = a
			if err := auth.allowsClient(a.Settings()); err != nil {
				return nil, err
			}
			var all []domain.Event
			for _, s := range steps {
				events, err := s(a)
				if err != nil {
					return nil, err
				}
				for _, e := range events {
					if err := a.Apply(e); err != nil {
						return nil, fmt.Errorf("apply decided %s: %w", e.EventType(), err)
					}
				}
				all = append(all, events...)
			}
			if err := auth.allowsClient(a.Settings()); err != nil {
				return nil, err
			}
			return all, nil
		},
		Meta:       meta,
		NewID:      cfg.eventID,
		Conditions: []eventstore.Claim{{Kind: tenant.ClaimKindSuspended, Value: tenant.ClaimSuspended, Check: true}},
	})
	var taken *eventstore.ClaimError
	if errors.As(err, &taken) && taken.Kind == tenant.ClaimKindSuspended {
		return nil, aggregate.Result{}, fmt.Errorf("tenant %q: %w", stream.Tenant, domain.ErrTenantSuspended)
	}
	if err == nil {
		snapshotAfter(ctx, store, cfg, stream, res.Version, len(res.Events))
	}
	return agg, res, err
}

// result is the ClientResult of a command that left agg behind.
func result(tenant string, agg *client.Client, secret *Secret, res aggregate.Result) ClientResult {
	out := ClientResult{Client: projections.NewClientView(tenant, agg), Position: res.Position}
	if secret != nil {
		s := *secret
		for _, v := range out.Client.Secrets {
			if v.ID == s.ID {
				s.ExpiresAt = v.ExpiresAt
			}
		}
		out.Secret = &s
	}
	return out
}

// writable checks, on the tenant's own stream, that tenant exists and is
// not suspended.
func (c *Clients) writable(ctx context.Context, tenant string) error {
	t, err := loadTenant(ctx, c.store, tenant)
	if err != nil {
		return err
	}
	if t.Suspended() {
		return fmt.Errorf("tenant %q: %w", tenant, domain.ErrTenantSuspended)
	}
	return nil
}

// catalogue returns tenant's scope catalogue from the configured source,
// falling back to the event store when that source does not know the
// tenant yet.
func (c *Clients) catalogue(ctx context.Context, tenant string) (scope.Catalogue, error) {
	if c.cfg.catalogues != nil {
		cat, err := c.cfg.catalogues.Catalogue(ctx, tenant)
		if err == nil {
			return cat, nil
		}
		if !errors.Is(err, projections.ErrNotFound) {
			return scope.Catalogue{}, fmt.Errorf("read scope catalogue: %w", err)
		}
	}
	return StoreCatalogues(c.store).Catalogue(ctx, tenant)
}

// loadClient reads client id of tenant from its stream; a client without
// history fails with [domain.ErrNotFound], a deleted one with
// [domain.ErrDeleted].
func loadClient(ctx context.Context, store eventstore.Store, tenant, id string) (*client.Client, error) {
	if !validClientID(id) {
		return nil, notFound("client", id)
	}
	history, _, err := aggregate.Load(ctx, store, ClientStream(tenant, id), client.Decode)
	if err != nil {
		return nil, err
	}
	agg, err := client.Replay(history)
	if err != nil {
		return nil, fmt.Errorf("replay client %q: %w", id, err)
	}
	switch {
	case agg.Version() == 0:
		return nil, domain.ErrNotFound
	case agg.Deleted():
		return nil, domain.ErrDeleted
	}
	return agg, nil
}

// validClientID reports whether id could be a client id at all, so that a
// garbage path segment never reaches the store.
func validClientID(id string) bool {
	return id != "" && len(id) <= client.MaxClientIDLength && scope.ValidToken(id)
}

// wantsSecret reports whether a client with settings s starts with a
// secret: it is not public and its auth method uses one.
func wantsSecret(s client.Settings) bool {
	n := s.Normalize()
	return n.Type != client.TypePublic && n.TokenEndpointAuthMethod.UsesSecret()
}

// needsSecret reports whether err is the domain's complaint that the
// client needs a usable secret it does not have.
func needsSecret(err error) bool {
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	for _, f := range ve.Fields {
		if f.Field == "client_secret" && f.Code == "required" {
			return true
		}
	}
	return false
}
