package httpapi

import (
	"bytes"
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
	t.Get("/clients/:client_id", read, noQuery, s.getClient)
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

// request is the event metadata of c: who (the principal), in answer to
// which request (its id), in which trace: the request's server span, so
// the relay's and the projections' spans continue it; without a span, a
// valid W3C traceparent the caller sent.
func request(c *fiber.Ctx) tenants.Request {
	id := requestID(c)
	r := tenants.Request{Actor: principal(c).Actor, Authority: principal(c).authority(), CorrelationID: id, CausationID: id}
	if tp := traced.TraceParent(c.UserContext()); tp != "" {
		r.TraceParent = tp
	} else if tp := strings.ToLower(strings.TrimSpace(c.Get("traceparent"))); traceParent.MatchString(tp) {
		r.TraceParent = strings.Clone(tp) // fasthttp reuses the header's buffer
	}
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
	var in struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
	}
	if err := decode(c, &in, false); err != nil {
		return err
	}
	out, err := s.admin.Tenants.Create(c.UserContext(), request(c), in.Slug, in.Name)
	if err != nil {
		return err
	}
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
	slug, err := tenantParam(c, "slug")
	if err != nil {
		return err
	}
	raw, err := body(c, false, mediaMergePatch, mediaJSON)
	if err != nil {
		return err
	}
	var in struct {
		Name     patchString `json:"name"`
		LoginURL patchString `json:"login_url"`
	}
	if err := tenants.DecodeJSON(raw, &in); err != nil {
		return err
	}
	p := tenants.TenantPatch{Name: in.Name.value(), LoginURL: in.LoginURL.value()}
	if p.Name == nil && p.LoginURL == nil {
		p.Name = new(string)
	}
	res, err := s.admin.Tenants.Update(c.UserContext(), request(c), slug, p)
	return s.tenantResult(c, res, err)
}

func (s *Server) suspendTenant(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "slug")
	if err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decode(c, &in, true); err != nil {
		return err
	}
	res, err := s.admin.Tenants.Suspend(c.UserContext(), request(c), slug, in.Reason)
	return s.tenantResult(c, res, err)
}

func (s *Server) resumeTenant(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "slug")
	if err != nil {
		return err
	}
	if err := decode(c, &struct{}{}, true); err != nil {
		return err
	}
	res, err := s.admin.Tenants.Resume(c.UserContext(), request(c), slug)
	return s.tenantResult(c, res, err)
}

func (s *Server) tenantResult(c *fiber.Ctx, res tenants.TenantResult, err error) error {
	if err != nil {
		return err
	}
	s.settle(c, res.Position)
	return sendJSON(c, http.StatusOK, s.newTenantJSON(res.Tenant))
}

// ---- tenant admin API

// clientResult answers a client command with the client as the command
// left it, after waiting for the read model.
func (s *Server) clientResult(c *fiber.Ctx, status int, res tenants.ClientResult, err error) error {
	if err != nil {
		return err
	}
	s.settle(c, res.Position)
	return sendClient(c, status, res.Client, res.Secret)
}

func (s *Server) createClient(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	raw, err := body(c, false, mediaJSON)
	if err != nil {
		return err
	}
	settings, err := tenants.DecodeSettings(raw)
	if err != nil {
		return err
	}
	res, err := s.admin.Clients.Register(c.UserContext(), request(c), slug, settings)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, "/t/"+slug+"/admin/clients/"+res.Client.ClientID)
	return s.clientResult(c, http.StatusCreated, res, nil)
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

func (s *Server) getClient(c *fiber.Ctx) error {
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
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	raw, err := body(c, false, mediaMergePatch, mediaJSON)
	if err != nil {
		return err
	}
	patch, bodyVersion, err := decodeClientPatch(raw)
	if err != nil {
		return err
	}
	// If-Match is a precondition (412); a version in the body is the
	// body's own optimistic lock (409). If-Match wins when both are given.
	fromHeader := expected != 0
	if !fromHeader {
		expected = bodyVersion
	}
	res, err := s.admin.Clients.Update(c.UserContext(), request(c), slug, param(c, "client_id"), patch, expected)
	if fromHeader && errors.Is(err, eventstore.ErrConflict) {
		return preconditionFailed()
	}
	return s.clientResult(c, http.StatusOK, res, err)
}

// decodeClientPatch reads a JSON merge patch of a client's settings, and
// the optional "version" member next to them.
func decodeClientPatch(raw []byte) (client.Patch, int64, error) {
	var members map[string]json.RawMessage
	if err := tenants.DecodeJSON(raw, &members); err != nil {
		return client.Patch{}, 0, err
	}
	if members == nil {
		return client.Patch{}, 0, &tenants.JSONError{Err: errors.New("a merge patch must be a JSON object")}
	}
	var version int64
	if v, ok := members["version"]; ok {
		if err := json.Unmarshal(v, &version); err != nil || version < 1 {
			return client.Patch{}, 0, &tenants.JSONError{Field: "version", Err: errors.New("version must be a positive integer")}
		}
		delete(members, "version")
	}
	rest, err := json.Marshal(members)
	if err != nil {
		return client.Patch{}, 0, fmt.Errorf("re-encode the patch: %w", err)
	}
	var p client.Patch
	if err := tenants.DecodeJSON(rest, &p); err != nil {
		return client.Patch{}, 0, err
	}
	return p, version, nil
}

func (s *Server) deleteClient(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	res, err := s.admin.Clients.Delete(c.UserContext(), request(c), slug, param(c, "client_id"))
	if err != nil {
		return err
	}
	s.settle(c, res.Position)
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) addSecret(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	var in struct {
		Description string     `json:"description"`
		ExpiresAt   *time.Time `json:"expires_at"`
	}
	if err := decode(c, &in, true); err != nil {
		return err
	}
	res, err := s.admin.Clients.AddSecret(c.UserContext(), request(c), slug, param(c, "client_id"), in.Description, in.ExpiresAt)
	return s.clientResult(c, http.StatusCreated, res, err)
}

func (s *Server) revokeSecret(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	res, err := s.admin.Clients.RevokeSecret(c.UserContext(), request(c), slug, param(c, "client_id"), param(c, "secret_id"))
	return s.clientResult(c, http.StatusOK, res, err)
}

func (s *Server) rotateSecret(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	var in struct {
		OverlapSeconds *int64 `json:"overlap_seconds"`
	}
	if err := decode(c, &in, true); err != nil {
		return err
	}
	overlap := defaultRotationOverlap
	if in.OverlapSeconds != nil {
		// Out of range values are the domain's to refuse; clamp only what
		// would overflow a Duration.
		overlap = time.Duration(max(-1, min(*in.OverlapSeconds, int64(client.MaxRotationOverlap/time.Second)+1))) * time.Second
	}
	res, err := s.admin.Clients.RotateSecret(c.UserContext(), request(c), slug, param(c, "client_id"), overlap)
	return s.clientResult(c, http.StatusOK, res, err)
}

func (s *Server) activateClient(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	if err := decode(c, &struct{}{}, true); err != nil {
		return err
	}
	res, err := s.admin.Clients.Activate(c.UserContext(), request(c), slug, param(c, "client_id"))
	return s.clientResult(c, http.StatusOK, res, err)
}

func (s *Server) deactivateClient(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decode(c, &in, true); err != nil {
		return err
	}
	res, err := s.admin.Clients.Deactivate(c.UserContext(), request(c), slug, param(c, "client_id"), in.Reason)
	return s.clientResult(c, http.StatusOK, res, err)
}

func (s *Server) cloneClient(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	var in struct {
		ClientName string `json:"client_name"`
		Code       string `json:"code"`
	}
	if err := decode(c, &in, false); err != nil {
		return err
	}
	res, err := s.admin.Clients.Clone(c.UserContext(), request(c), slug, param(c, "client_id"), in.ClientName, in.Code)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, "/t/"+slug+"/admin/clients/"+res.Client.ClientID)
	return s.clientResult(c, http.StatusCreated, res, nil)
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
			Actor: e.Actor, CorrelationID: e.CorrelationID, CausationID: e.CausationID, Reason: e.Reason, Data: e.Data,
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
	for i := range pkg.Clients {
		pkg.Clients[i].Settings = emptyNotNull(pkg.Clients[i].Settings)
	}
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-clients.json"`, slug))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, pkg)
}

func (s *Server) importClients(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	dry := queryBool(c, "dry_run")
	raw, err := body(c, false, mediaJSON)
	if err != nil {
		return err
	}
	rep, err := s.admin.Clients.Import(c.UserContext(), request(c), slug, bytes.TrimSpace(raw), dry != nil && *dry)
	if err != nil {
		return err
	}
	s.settle(c, rep.Position)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, importReportJSON(rep))
}
