package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/traced"
	"github.com/clavisiam/clavis/http/jsonbody"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// DefaultWaitTimeout bounds how long a write waits for the read model to
// reach its events before answering from the command's result anyway.
const DefaultWaitTimeout = 2 * time.Second

// Page sizes of the list routes.
const (
	defaultPage = 50
	maxSearch   = 200
)

// The query parameters of the admin and platform routes (see
// [acceptQuery]); a route that declares none takes none.
var (
	limitParam  = intParam("limit", 1, projections.MaxPage)
	afterParam  = queryParam{name: "after"} // a cursor: any text
	searchParam = textParam("q", maxSearch)
	activeParam = boolParam("active")
	typeParam   = enumParam("type", string(client.TypePublic), string(client.TypeConfidential), string(client.TypeM2M))
	dryRunParam = boolParam("dry_run")
)

// noQuery is the middleware of a route that takes no query parameter.
var noQuery = acceptQuery()

// defaultRotationOverlap is how long old secrets keep working after a
// rotation that does not say (the CLI's default too).
const defaultRotationOverlap = 24 * time.Hour

// Waiter is the read-your-writes seam: it blocks until the read model has
// applied every event up to a position. projections.Projector implements
// it.
type Waiter interface {
	// WaitFor returns once the read model has reached pos, or with the
	// context's error.
	WaitFor(ctx context.Context, pos eventstore.Position) error
}

// Admin is what the platform and tenant admin APIs need. Give it to [New]
// with [WithAdmin].
type Admin struct {
	// Tenants and Clients run the commands. Required.
	Tenants *tenants.Tenants
	Clients *tenants.Clients
	// ReadModel answers the reads (GET). Required.
	ReadModel projections.ReadModel
	// Waiter, when set, gives read-your-writes: after a write the API waits
	// up to WaitTimeout for the read model to reach the write's position,
	// so that the caller's next GET sees it. The write's own answer comes
	// from the command's result either way.
	Waiter Waiter
	// WaitTimeout bounds that wait (default [DefaultWaitTimeout]).
	WaitTimeout time.Duration
	// Auth decides who a bearer token is. Required; [RootToken] accepts
	// the platform operator's token.
	Auth Authenticator
	// PublicURL is the base of issuer URLs, without a trailing slash: the
	// issuer of tenant acme is {PublicURL}/t/acme. Required.
	PublicURL string
}

// WithAdmin serves the platform API under /admin and each tenant's admin
// API under /t/{tenant}/admin (see openapi.json), over a.
func WithAdmin(a Admin) Option {
	return func(o *options) error {
		var missing []string
		if a.Tenants == nil {
			missing = append(missing, "Tenants")
		}
		if a.Clients == nil {
			missing = append(missing, "Clients")
		}
		if a.ReadModel == nil {
			missing = append(missing, "ReadModel")
		}
		if a.Auth == nil {
			missing = append(missing, "Auth")
		}
		if a.PublicURL == "" {
			missing = append(missing, "PublicURL")
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: WithAdmin: missing %s", ErrInvalidOption, strings.Join(missing, ", "))
		}
		if a.WaitTimeout < 0 {
			return fmt.Errorf("%w: WithAdmin: wait timeout %s is negative", ErrInvalidOption, a.WaitTimeout)
		}
		if a.WaitTimeout == 0 {
			a.WaitTimeout = DefaultWaitTimeout
		}
		a.PublicURL = strings.TrimRight(a.PublicURL, "/")
		o.admin = &a
		return nil
	}
}

// adminRoutes registers the platform and tenant admin routes.
func (s *Server) adminRoutes() {
	auth := s.authenticate(platformOnly)
	s.app.Post("/admin/tenants", auth, noQuery, s.createTenant)
	s.app.Get("/admin/tenants", auth, acceptQuery(afterParam, limitParam), s.listTenants)
	s.app.Get("/admin/tenants/:slug", auth, noQuery, s.getTenant)
	s.app.Patch("/admin/tenants/:slug", auth, noQuery, s.patchTenant)
	s.app.Post("/admin/tenants/:slug/suspend", auth, noQuery, s.suspendTenant)
	s.app.Post("/admin/tenants/:slug/resume", auth, noQuery, s.resumeTenant)

	t := s.app.Group("/t/:tenant/admin")
	read, write := s.authenticate(tenantRead), s.authenticate(tenantWrite)
	t.Post("/clients", write, noQuery, s.createClient)
	t.Get("/clients", read, acceptQuery(typeParam, activeParam, searchParam, afterParam, limitParam), s.listClients)
	t.Get("/clients/:client_id", read, acceptQuery(atParam), s.getClient)
	t.Patch("/clients/:client_id", write, noQuery, s.patchClient)
	t.Delete("/clients/:client_id", write, noQuery, s.deleteClient)
	t.Post("/clients/:client_id/secrets", write, noQuery, s.addSecret)
	t.Post("/clients/:client_id/secrets/rotate", write, noQuery, s.rotateSecret)
	t.Delete("/clients/:client_id/secrets/:secret_id", write, noQuery, s.revokeSecret)
	t.Post("/clients/:client_id/activate", write, noQuery, s.activateClient)
	t.Post("/clients/:client_id/deactivate", write, noQuery, s.deactivateClient)
	t.Post("/clients/:client_id/clone", write, noQuery, s.cloneClient)
	t.Get("/clients/:client_id/history", read, noQuery, s.clientHistory)
	t.Get("/export", read, noQuery, s.exportClients)
	t.Post("/import", write, acceptQuery(dryRunParam), s.importClients)
	// The tenant's settings. Only tenant credentials that may write reach
	// PUT; there is no level above tenantWrite for tenant settings yet.
	t.Get("/login-app", read, noQuery, s.getLoginApp)
	t.Put("/login-app", write, noQuery, s.putLoginApp)
}

// param returns a path parameter as a string of its own: fasthttp reuses
// the request's buffers once the handler returns.
func param(c *fiber.Ctx, name string) string { return strings.Clone(c.Params(name)) }

// tenantParam returns the {tenant} (or {slug}) path parameter, or a 404
// when it cannot be a slug at all.
func tenantParam(c *fiber.Ctx, name string) (string, error) {
	slug := param(c, name)
	if !tenant.ValidSlug(slug) {
		return "", notFound()
	}
	return slug, nil
}

var traceParent = regexp.MustCompile(`^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// request is the event metadata of c: who (the principal), why (the
// X-Clavis-Reason header), from where (the source address and the
// User-Agent), in answer to which request (its id), in which trace: the
// request's server span, so the relay's and the projections' spans
// continue it; without a span, a valid W3C traceparent the caller sent.
// A malformed reason is a problem (400), before anything changes.
func (s *Server) request(c *fiber.Ctx) (tenants.Request, error) {
	why, bad := reason(c)
	if bad != nil {
		return tenants.Request{}, bad
	}
	r := s.requestAs(c, principal(c).Actor, principal(c).authority(), why)
	if r.TraceParent == "" {
		if tp := strings.ToLower(strings.TrimSpace(c.Get("traceparent"))); traceParent.MatchString(tp) {
			r.TraceParent = strings.Clone(tp) // fasthttp reuses the header's buffer
		}
	}
	return r, nil
}

// requestAs is the event metadata of a command c runs for actor with
// authority and the reason why (already checked): the request's id,
// source address, User-Agent and server span.
func (s *Server) requestAs(c *fiber.Ctx, actor string, authority tenants.Authority, why string) tenants.Request {
	id := requestID(c)
	r := tenants.Request{Actor: actor, Authority: authority, CorrelationID: id, CausationID: id,
		Reason: why, Source: s.source(c), UserAgent: string(c.Request().Header.UserAgent())}
	r.TraceParent = traced.TraceParent(c.UserContext())
	return r
}

// settle gives read-your-writes: it waits, bounded, for the read model to
// reach pos. Running out of time is not an error: the caller gets the
// command's result, and the read model catches up on its own.
func (s *Server) settle(c *fiber.Ctx, pos eventstore.Position) {
	if s.admin.Waiter == nil || pos.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.admin.WaitTimeout)
	defer cancel()
	if err := s.admin.Waiter.WaitFor(ctx, pos); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "the read model did not reach a write in time; answering from the command result",
			slog.String("request_id", requestID(c)), slog.String("position", pos.String()), slog.Any("error", err))
	}
}

// sendJSON writes v with status.
func sendJSON(c *fiber.Ctx, status int, v any) error {
	c.Status(status)
	return c.JSON(v)
}

// sendClient writes a client, with its ETag.
func sendClient(c *fiber.Ctx, status int, v projections.ClientView, secret *tenants.Secret) error {
	c.Set(fiber.HeaderETag, etag(v.Version))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, status, newClientJSON(v, secret))
}

// ---- platform API

func (s *Server) createTenant(c *fiber.Ctx) error {
	return handle(s, c, noTenant, jsonBody[newTenantIn], func(ctx context.Context, r tenants.Request, _ string, in newTenantIn) (tenants.CreatedTenant, error) {
		return s.admin.Tenants.Create(ctx, r, in.Slug, in.Name)
	}, s.answerCreatedTenant)
}

// newTenantIn is the body of a tenant's creation.
type newTenantIn struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// answerCreatedTenant answers a tenant's creation: 201, with the admin
// client's secret shown this once.
func (s *Server) answerCreatedTenant(c *fiber.Ctx, _ string, out tenants.CreatedTenant) error {
	s.settle(c, out.Position)
	var res createdTenantJSON
	res.Slug, res.Name, res.Issuer = out.Tenant.Slug, out.Tenant.Name, s.issuer(out.Tenant.Slug)
	res.AdminClient.ClientID, res.AdminClient.ClientSecret = out.AdminClient.ClientID, out.AdminSecret.Value
	c.Set(fiber.HeaderLocation, "/admin/tenants/"+out.Tenant.Slug)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusCreated, res)
}

func (s *Server) listTenants(c *fiber.Ctx) error {
	limit, after := queryInt(c, "limit", defaultPage), queryText(c, "after")
	// One more than asked tells whether there is a next page; at the
	// largest page a full page gets a cursor, which may lead to an empty
	// page.
	page, err := s.admin.ReadModel.Tenants(c.UserContext(), after, min(limit+1, projections.MaxPage))
	if err != nil {
		return fmt.Errorf("list tenants: %w", err)
	}
	var next *string
	if len(page) > limit || len(page) == projections.MaxPage {
		page = page[:limit]
		cursor := page[limit-1].Slug
		next = &cursor
	}
	out := struct {
		Tenants    []tenantJSON `json:"tenants"`
		NextCursor *string      `json:"next_cursor"`
	}{Tenants: make([]tenantJSON, 0, len(page)), NextCursor: next}
	for _, t := range page {
		out.Tenants = append(out.Tenants, s.newTenantJSON(t))
	}
	return sendJSON(c, http.StatusOK, out)
}

func (s *Server) getTenant(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "slug")
	if err != nil {
		return err
	}
	v, err := s.admin.ReadModel.Tenant(c.UserContext(), slug)
	if err != nil {
		return fmt.Errorf("get tenant: %w", err)
	}
	return sendJSON(c, http.StatusOK, s.newTenantJSON(v))
}

// patchTenant renames a tenant and sets or clears its login URL, from a
// JSON merge patch of "name" and "login_url" in one command: both change
// or neither does. A patch with neither member is refused, as a rename
// without a name.
func (s *Server) patchTenant(c *fiber.Ctx) error {
	return handle(s, c, platformTenant, readTenantPatch, s.admin.Tenants.Update, s.answerTenant)
}

// readTenantPatch reads a JSON merge patch of "name" and "login_url".
func readTenantPatch(c *fiber.Ctx, p *tenants.TenantPatch) error {
	raw, err := body(c, mediaMergePatch, mediaJSON)
	if err != nil {
		return err
	}
	var in struct {
		Name     patchString `json:"name"`
		LoginURL patchString `json:"login_url"`
	}
	if err := jsonbody.Decode(raw, &in); err != nil {
		return err
	}
	*p = tenants.TenantPatch{Name: in.Name.value(), LoginURL: in.LoginURL.value()}
	if p.Name == nil && p.LoginURL == nil {
		p.Name = new(string)
	}
	return nil
}

// reasonIn is the body of a write that may say why.
type reasonIn struct {
	Reason string `json:"reason"`
}

func (s *Server) suspendTenant(c *fiber.Ctx) error {
	return handle(s, c, platformTenant, optionalJSON[reasonIn], func(ctx context.Context, r tenants.Request, slug string, in reasonIn) (tenants.TenantResult, error) {
		why, err := bodyReason(&r, in.Reason)
		if err != nil {
			return tenants.TenantResult{}, err
		}
		return s.admin.Tenants.Suspend(ctx, r, slug, why)
	}, s.answerTenant)
}

func (s *Server) resumeTenant(c *fiber.Ctx) error {
	return handle(s, c, platformTenant, optionalJSON[none], func(ctx context.Context, r tenants.Request, slug string, _ none) (tenants.TenantResult, error) {
		return s.admin.Tenants.Resume(ctx, r, slug)
	}, s.answerTenant)
}

// ---- tenant admin API

func (s *Server) createClient(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, readSettings, s.admin.Clients.Register, s.answerNewClient)
}

// readSettings reads a client's settings (see [jsonbody.Settings]).
func readSettings(c *fiber.Ctx, settings *client.Settings) error {
	raw, err := body(c, mediaJSON)
	if err != nil {
		return err
	}
	*settings, err = jsonbody.Settings(raw)
	return err
}

func (s *Server) listClients(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	f := projections.ClientFilter{
		After: queryText(c, "after"), Search: queryText(c, "q"), Limit: queryInt(c, "limit", defaultPage),
		Active: queryBool(c, "active"), Type: client.Type(queryText(c, "type")),
	}
	// The tenant must exist: an unknown one is 404, not an empty list.
	if _, err := s.admin.ReadModel.Tenant(c.UserContext(), slug); err != nil {
		return fmt.Errorf("list clients: %w", err)
	}
	page, next, err := s.admin.ReadModel.Clients(c.UserContext(), slug, f)
	if err != nil {
		return fmt.Errorf("list clients: %w", err)
	}
	out := struct {
		Clients    []clientJSON `json:"clients"`
		NextCursor *string      `json:"next_cursor"`
	}{Clients: make([]clientJSON, 0, len(page))}
	if next != "" {
		out.NextCursor = &next
	}
	for _, v := range page {
		out.Clients = append(out.Clients, newClientJSON(v, nil))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, out)
}

// getClient shows a client from the read model; with at, as it was then
// (see [Server.clientAt]).
func (s *Server) getClient(c *fiber.Ctx) error {
	if c.Query("at") != "" {
		return s.clientAt(c)
	}
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	v, err := s.admin.ReadModel.Client(c.UserContext(), slug, param(c, "client_id"))
	if err != nil {
		return fmt.Errorf("get client: %w", err)
	}
	return sendClient(c, http.StatusOK, v, nil)
}

func (s *Server) patchClient(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, readClientPatch, func(ctx context.Context, r tenants.Request, slug string, in clientPatchIn) (tenants.ClientResult, error) {
		res, err := s.admin.Clients.Update(ctx, r, slug, param(c, "client_id"), in.patch, in.expected)
		if in.ifMatch && errors.Is(err, eventstore.ErrConflict) {
			return res, preconditionFailed()
		}
		return res, err
	}, s.answerClient)
}

// clientPatchIn is a client's update: the patch, and the version it
// expects (0: any).
type clientPatchIn struct {
	patch    client.Patch
	expected int64
	// ifMatch says the version came from If-Match, a precondition (412),
	// not from the body, the body's own optimistic lock (409).
	ifMatch bool
}

// readClientPatch reads If-Match and a JSON merge patch of a client's
// settings with an optional "version" member. If-Match wins when both
// give a version.
func readClientPatch(c *fiber.Ctx, in *clientPatchIn) error {
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	raw, err := body(c, mediaMergePatch, mediaJSON)
	if err != nil {
		return err
	}
	patch, bodyVersion, err := decodeClientPatch(raw)
	if err != nil {
		return err
	}
	*in = clientPatchIn{patch: patch, expected: expected, ifMatch: expected != 0}
	if !in.ifMatch {
		in.expected = bodyVersion
	}
	return nil
}

// decodeClientPatch reads a JSON merge patch of a client's settings, and
// the optional "version" member next to them.
func decodeClientPatch(raw []byte) (client.Patch, int64, error) {
	var members map[string]json.RawMessage
	if err := jsonbody.Decode(raw, &members); err != nil {
		return client.Patch{}, 0, err
	}
	if members == nil {
		return client.Patch{}, 0, &jsonbody.Error{Err: errors.New("a merge patch must be a JSON object")}
	}
	var version int64
	if v, ok := members["version"]; ok {
		if err := json.Unmarshal(v, &version); err != nil || version < 1 {
			return client.Patch{}, 0, &jsonbody.Error{Field: "version", Err: errors.New("version must be a positive integer")}
		}
		delete(members, "version")
	}
	rest, err := json.Marshal(members)
	if err != nil {
		return client.Patch{}, 0, fmt.Errorf("re-encode the patch: %w", err)
	}
	var p client.Patch
	if err := jsonbody.Decode(rest, &p); err != nil {
		return client.Patch{}, 0, err
	}
	return p, version, nil
}

func (s *Server) deleteClient(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, noBody[none], func(ctx context.Context, r tenants.Request, slug string, _ none) (tenants.ClientResult, error) {
		return s.admin.Clients.Delete(ctx, r, slug, param(c, "client_id"))
	}, s.answerDeleted)
}

// newSecretIn is the body of a request for a new secret.
type newSecretIn struct {
	Description string     `json:"description"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

func (s *Server) addSecret(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, optionalJSON[newSecretIn], func(ctx context.Context, r tenants.Request, slug string, in newSecretIn) (tenants.ClientResult, error) {
		return s.admin.Clients.AddSecret(ctx, r, slug, param(c, "client_id"), in.Description, in.ExpiresAt)
	}, s.answerNewSecret)
}

func (s *Server) revokeSecret(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, noBody[none], func(ctx context.Context, r tenants.Request, slug string, _ none) (tenants.ClientResult, error) {
		return s.admin.Clients.RevokeSecret(ctx, r, slug, param(c, "client_id"), param(c, "secret_id"))
	}, s.answerClient)
}

// rotationIn is the body of a rotation.
type rotationIn struct {
	OverlapSeconds *int64 `json:"overlap_seconds"`
}

func (s *Server) rotateSecret(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, optionalJSON[rotationIn], func(ctx context.Context, r tenants.Request, slug string, in rotationIn) (tenants.ClientResult, error) {
		return s.admin.Clients.RotateSecret(ctx, r, slug, param(c, "client_id"), in.overlap())
	}, s.answerClient)
}

// overlap is how long the old secrets keep working: the default when the
// body does not say. Out of range values are the domain's to refuse; only
// what would overflow a Duration is clamped.
func (in rotationIn) overlap() time.Duration {
	if in.OverlapSeconds == nil {
		return defaultRotationOverlap
	}
	return time.Duration(max(-1, min(*in.OverlapSeconds, int64(client.MaxRotationOverlap/time.Second)+1))) * time.Second
}

func (s *Server) activateClient(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, optionalJSON[none], func(ctx context.Context, r tenants.Request, slug string, _ none) (tenants.ClientResult, error) {
		return s.admin.Clients.Activate(ctx, r, slug, param(c, "client_id"))
	}, s.answerClient)
}

func (s *Server) deactivateClient(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, optionalJSON[reasonIn], func(ctx context.Context, r tenants.Request, slug string, in reasonIn) (tenants.ClientResult, error) {
		why, err := bodyReason(&r, in.Reason)
		if err != nil {
			return tenants.ClientResult{}, err
		}
		return s.admin.Clients.Deactivate(ctx, r, slug, param(c, "client_id"), why)
	}, s.answerClient)
}

// cloneIn is the body of a clone: what the copy differs in.
type cloneIn struct {
	ClientName string `json:"client_name"`
	Code       string `json:"code"`
}

func (s *Server) cloneClient(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, jsonBody[cloneIn], func(ctx context.Context, r tenants.Request, slug string, in cloneIn) (tenants.ClientResult, error) {
		return s.admin.Clients.Clone(ctx, r, slug, param(c, "client_id"), in.ClientName, in.Code)
	}, s.answerNewClient)
}

func (s *Server) clientHistory(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	id := param(c, "client_id")
	entries, err := s.admin.Clients.History(c.UserContext(), slug, id)
	if err != nil {
		return err
	}
	out := struct {
		ClientID string             `json:"client_id"`
		Events   []historyEventJSON `json:"events"`
	}{ClientID: id, Events: make([]historyEventJSON, 0, len(entries))}
	for _, e := range entries {
		out.Events = append(out.Events, historyEventJSON{
			ID: e.EventID, Type: e.Type, Version: e.Version, Time: e.Time, RecordedAt: e.RecordedAt,
			Actor: e.Actor, CorrelationID: e.CorrelationID, CausationID: e.CausationID, Reason: e.Reason,
			Source: e.Source, UserAgent: e.UserAgent, Data: e.Data,
		})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, out)
}

func (s *Server) exportClients(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	pkg, err := s.admin.Clients.Export(c.UserContext(), slug)
	if err != nil {
		return err
	}
	body, err := jsonbody.EncodePackage(pkg)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-clients.json"`, slug))
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(http.StatusOK).Send(body)
}

func (s *Server) importClients(c *fiber.Ctx) error {
	run := s.admin.Clients.Import
	if dry := queryBool(c, "dry_run"); dry != nil && *dry {
		run = s.admin.Clients.DryRunImport
	}
	return handle(s, c, adminTenant, rawJSON, func(ctx context.Context, r tenants.Request, slug string, raw []byte) (tenants.ImportReport, error) {
		batch, err := jsonbody.Import(slug, raw)
		if err != nil {
			return tenants.ImportReport{}, fmt.Errorf("import clients: %w", err)
		}
		return run(ctx, r, slug, batch)
	}, s.answerImport)
}

// answerImport answers with what an import did, or would do.
func (s *Server) answerImport(c *fiber.Ctx, _ string, rep tenants.ImportReport) error {
	s.settle(c, rep.Position)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, importReportJSON(rep))
}
