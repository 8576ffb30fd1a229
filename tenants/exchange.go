package tenants

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/client/secret"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
)

// PackageFormat names the export format of [Package].
const PackageFormat = "clavis.clients/v1"

// FormatIdentityServer names the other format an import is read from: a
// JSON array of Duende IdentityServer Client objects.
const FormatIdentityServer = "identityserver"

// Package is a tenant's clients as [Clients.Export] writes them and
// [Clients.Import] reads them back: their settings and whether they are
// active, never any secret material (no secret, no hash). Its JSON is
// the "clavis.clients/v1" format.
type Package struct {
	Format     string          `json:"format"`
	Tenant     string          `json:"tenant"`
	ExportedAt time.Time       `json:"exported_at"`
	Clients    []PackageClient `json:"clients"`
}

// PackageClient is one client of a [Package].
type PackageClient struct {
	ClientID string          `json:"client_id"`
	Settings client.Settings `json:"settings"`
	Active   bool            `json:"active"`
}

// Import actions.
const (
	ActionCreate    = "create"
	ActionUpdate    = "update"
	ActionUnchanged = "unchanged"
	// ActionSkipped: a platform-managed client (a code in
	// [client.PlatformCodePrefix], such as the admin client's), which no
	// import creates or changes.
	ActionSkipped = "skipped"
)

// ImportReport says what [Clients.Import] did, or would do in a dry run,
// client by client in the order of the package.
type ImportReport struct {
	// Format is the format read: [PackageFormat] or [FormatIdentityServer].
	Format string
	// DryRun is true when nothing was written.
	DryRun bool
	// Clients has one entry per client of the package.
	Clients []ImportResult
	// Position is that of the last event appended (zero when none was).
	Position eventstore.Position
}

// ImportResult is what happened to one client of an import.
type ImportResult struct {
	// Code is the client's code, by which it was matched.
	Code string
	// SourceID is the client's id in the package: its client_id, or the
	// IdentityServer ClientId.
	SourceID string
	// ClientID is the client's id in the tenant (empty for a client a dry
	// run would create).
	ClientID string
	// Action is [ActionCreate], [ActionUpdate], [ActionUnchanged] or
	// [ActionSkipped].
	Action string
	// Changed lists the settings an update changes, by JSON name, and
	// "active" when the import activates or deactivates the client.
	Changed []string
	// Version is the client's version afterwards (0 in a dry run create).
	Version int64
	// Secret is the new secret of a created client that needs one, or of
	// an updated client that now needs one and had none: shown once.
	Secret *Secret
}

// Export returns every live client of tenant, in registration order, as
// a [Package], but the platform-managed clients (codes in
// [client.PlatformCodePrefix], such as the admin client's): they belong
// to the tenant, not to what moves between tenants. It reads the event store, not a read model, so the export is
// exact as of the call; it holds no secret material. Suspended tenants
// may be exported.
func (c *Clients) Export(ctx context.Context, tenant string) (Package, error) {
	if _, err := loadTenant(ctx, c.store, tenant); err != nil {
		return Package{}, fmt.Errorf("export clients: %w", err)
	}
	ix, err := scanTenant(ctx, c.store, tenant)
	if err != nil {
		return Package{}, fmt.Errorf("export clients: %w", err)
	}
	pkg := Package{
		Format:     PackageFormat,
		Tenant:     tenant,
		ExportedAt: c.cfg.now().UTC().Truncate(time.Microsecond),
		Clients:    []PackageClient{},
	}
	for _, cl := range ix.live() {
		if client.PlatformCode(cl.Settings().Code) {
			continue
		}
		pkg.Clients = append(pkg.Clients, PackageClient{ClientID: cl.ID(), Settings: cl.Settings().Redact(), Active: cl.Active()})
	}
	return pkg, nil
}

// ImportBatch is what [Clients.Import] brings into a tenant: clients read
// from an import, in Clavis terms. The HTTP layer reads it from either
// format.
type ImportBatch struct {
	// Format is the format the clients were read from, [PackageFormat] or
	// [FormatIdentityServer]; the report repeats it.
	Format string
	// Clients are the clients, in the order of the source.
	Clients []ImportClient
}

// ImportClient is one client of an [ImportBatch].
type ImportClient struct {
	// SourceID is the client's id in the source: its client_id, or the
	// IdentityServer ClientId.
	SourceID string
	// Settings are the client's settings, not yet validated; their code
	// matches the client to one of the tenant's.
	Settings client.Settings
	// Active is whether the client is to be active.
	Active bool
}

// planned is what the import decided for one client.
type planned struct {
	in       ImportClient
	existing *client.Client // nil for a create
	result   ImportResult
}

// Import brings the clients of b into tenant.
//
// Clients are matched to the tenant's live clients by code: a client
// with a new code is created (with a new id, and a new secret when its
// auth method needs one, returned once in the report); one whose settings
// or active state differ is updated; the others are unchanged. Importing
// the same batch twice therefore changes nothing the second time. Secrets
// are never imported: no secret or hash travels in either format. A
// client with a code in [client.PlatformCodePrefix] is skipped
// ([ActionSkipped]): the tenant's platform-managed clients (its admin
// client) are never created, renamed or rewritten by an import, so its
// administrators keep their access.
//
// The whole batch is checked first, against the tenant's catalogue plus
// the API scopes the batch itself defines; any problem fails the import
// with one *[domain.ValidationError] whose fields are prefixed
// "clients[i].", and nothing is written. Then Import appends client by
// client; a failure then returns an *[ImportError] holding what was
// applied.
func (c *Clients) Import(ctx context.Context, req Request, tenant string, b ImportBatch) (ImportReport, error) {
	if _, err := req.metadata(time.Time{}); err != nil {
		return ImportReport{}, err
	}
	if err := c.writable(ctx, tenant); err != nil {
		return ImportReport{}, fmt.Errorf("import clients: %w", err)
	}
	cat, plan, err := c.planImport(ctx, tenant, req.Authority, b.Clients)
	if err != nil {
		return ImportReport{}, fmt.Errorf("import clients: %w", err)
	}
	report := ImportReport{Format: b.Format, Clients: make([]ImportResult, 0, len(plan))}
	for i, p := range plan {
		r, pos, err := c.applyImport(ctx, req, tenant, cat, p)
		if err != nil {
			return report, &ImportError{Report: report, Index: i, Err: err}
		}
		report.Clients = append(report.Clients, r)
		if !pos.IsZero() {
			report.Position = pos
		}
	}
	return report, nil
}

// DryRunImport checks b as [Clients.Import] does and reports what Import
// would do, writing nothing. The tenant may be suspended.
func (c *Clients) DryRunImport(ctx context.Context, req Request, tenant string, b ImportBatch) (ImportReport, error) {
	if _, err := req.metadata(time.Time{}); err != nil {
		return ImportReport{}, err
	}
	if _, err := loadTenant(ctx, c.store, tenant); err != nil {
		return ImportReport{}, fmt.Errorf("import clients: %w", err)
	}
	_, plan, err := c.planImport(ctx, tenant, req.Authority, b.Clients)
	if err != nil {
		return ImportReport{}, fmt.Errorf("import clients: %w", err)
	}
	report := ImportReport{Format: b.Format, DryRun: true, Clients: make([]ImportResult, 0, len(plan))}
	for _, p := range plan {
		report.Clients = append(report.Clients, p.result)
	}
	return report, nil
}

// planImport decides, without writing, what to do with every client, and
// collects every problem of every client in one validation error. It
// returns the catalogue the clients are checked against: the tenant's,
// plus the API scopes the clients define.
//
// A client whose settings, or whose match in the tenant, have a platform
// scope beyond auth fails the import with an *[AuthorityError].
func (c *Clients) planImport(ctx context.Context, tenant string, auth Authority, in []ImportClient) (scope.Catalogue, []planned, error) {
	ix, err := scanTenant(ctx, c.store, tenant)
	if err != nil {
		return scope.Catalogue{}, nil, err
	}
	cat := ix.catalogue()
	for _, ic := range in {
		n := ic.Settings.Normalize()
		cat = cat.With(scope.Resource{Code: n.Code, Scopes: n.APIScopes})
	}
	now := c.cfg.now()
	placeholder := &client.Secret{ID: "sec_placeholder", Hash: secret.HashPrefix + "placeholder"}
	var problems domain.Problems
	seen := make(map[string]int)
	plan := make([]planned, 0, len(in))
	for i, ic := range in {
		prefix := fmt.Sprintf("clients[%d]", i)
		code := ic.Settings.Normalize().Code
		p := planned{in: ic, result: ImportResult{Code: code, SourceID: ic.SourceID}}
		if j, dup := seen[code]; dup && code != "" {
			problems.Add(prefix+".code", "duplicate", "code %q is also the code of clients[%d]", code, j)
		}
		seen[code] = i
		if client.PlatformCode(code) {
			if admin := ix.byCode(code); admin != nil {
				p.result.ClientID, p.result.Version = admin.ID(), admin.Version()
			}
			p.result.Action = ActionSkipped
			plan = append(plan, p)
			continue
		}
		p.existing = ix.byCode(code)
		check := []client.Settings{ic.Settings}
		if p.existing != nil {
			check = append(check, p.existing.Settings())
		}
		for _, s := range check {
			var ae *AuthorityError
			if err := auth.allowsClient(s); errors.As(err, &ae) {
				return scope.Catalogue{}, nil, &AuthorityError{Field: prefix + "." + ae.Field, Scope: ae.Scope}
			}
		}
		if p.existing == nil {
			var initial *client.Secret
			if wantsSecret(ic.Settings) {
				initial = placeholder
			}
			if _, err := client.Register("import-check", withOwnSalt(ic.Settings), cat, initial, now); err != nil {
				if !problems.Merge(prefix, err) {
					return scope.Catalogue{}, nil, err
				}
			}
			p.result.Action = ActionCreate
			plan = append(plan, p)
			continue
		}
		p.result.ClientID = p.existing.ID()
		p.result.Version = p.existing.Version()
		patch := withOwnSaltPatch(p.existing, patchOf(ic.Settings))
		events, err := p.existing.Update(patch, cat, now)
		if needsSecret(err) {
			patch.NewSecret = placeholder
			events, err = p.existing.Update(patch, cat, now)
		}
		if err != nil {
			if !problems.Merge(prefix, err) {
				return scope.Catalogue{}, nil, err
			}
		}
		for _, e := range events {
			if u, ok := e.(client.ClientUpdated); ok {
				p.result.Changed = append(p.result.Changed, u.Changed...)
			}
		}
		if ic.Active != p.existing.Active() {
			p.result.Changed = append(p.result.Changed, "active")
		}
		if len(events) > 0 || ic.Active != p.existing.Active() {
			p.result.Action = ActionUpdate
		} else {
			p.result.Action = ActionUnchanged
		}
		plan = append(plan, p)
	}
	if err := problems.Err(); err != nil {
		return scope.Catalogue{}, nil, err
	}
	return cat, plan, nil
}

// applyImport carries out one planned action, re-deciding it against the
// client's current state.
func (c *Clients) applyImport(ctx context.Context, req Request, tenant string, cat scope.Catalogue, p planned) (ImportResult, eventstore.Position, error) {
	r := p.result
	activation := func(a *client.Client, now time.Time) ([]domain.Event, error) {
		switch {
		case p.in.Active && !a.Active():
			return a.Activate(now)
		case !p.in.Active && a.Active():
			return a.Deactivate("import", now)
		}
		return nil, nil
	}
	switch r.Action {
	case ActionUnchanged, ActionSkipped:
		return r, eventstore.Position{}, nil
	case ActionCreate:
		res, err := register(ctx, c.store, c.cfg, req, tenant, p.in.Settings, cat, client.Register, activation)
		if err != nil {
			return r, eventstore.Position{}, err
		}
		r.ClientID, r.Version, r.Secret = res.Client.ClientID, res.Client.Version, res.Secret
		return r, res.Position, nil
	}
	res, err := c.command(ctx, req, "import client", tenant, r.ClientID, func(a *client.Client, now time.Time) ([]domain.Event, *Secret, error) {
		events, secret, err := c.update(tenant, a, patchOf(p.in.Settings), cat, now)
		if err != nil {
			return nil, nil, err
		}
		// An update never changes whether the client is active, so the
		// activation is decided on the state before it; the events go in
		// one append, update first.
		more, err := activation(a, now)
		if err != nil {
			return nil, nil, err
		}
		return append(events, more...), secret, nil
	})
	if err != nil {
		return r, eventstore.Position{}, err
	}
	r.Version, r.Secret = res.Client.Version, res.Secret
	return r, res.Position, nil
}

// patchOf is the patch that makes a client's settings equal s: every
// field set.
func patchOf(s client.Settings) client.Patch {
	var p client.Patch
	pv := reflect.ValueOf(&p).Elem()
	sv := reflect.ValueOf(s)
	for i := range pv.NumField() {
		f := pv.Type().Field(i)
		src := sv.FieldByName(f.Name)
		if !src.IsValid() || f.Type.Kind() != reflect.Pointer || f.Type.Elem() != src.Type() {
			continue
		}
		ptr := reflect.New(src.Type())
		ptr.Elem().Set(src)
		pv.Field(i).Set(ptr)
	}
	return p
}
