package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/tenants"
)

// WebhookDeliverer makes the attempts an administrator asks for outside
// an endpoint's ordered deliveries, and logs them; the node's deliverer
// is one.
type WebhookDeliverer interface {
	// Ping sends a test message to endpoint id of tenant and returns the
	// attempt; past the tenant's limits it fails with a
	// *webhooks.LimitError.
	Ping(ctx context.Context, tenant, id string) (webhooks.Attempt, error)
}

// The webhook pages' sizes and bounds.
const (
	// webhookLogPageSize is how many attempts a page of the delivery log
	// shows.
	webhookLogPageSize = 50
	// webhookLogLookback is how many older attempts the log reads beyond a
	// page to number the page's attempts of one message.
	webhookLogLookback = 200
	// webhookMaxOverlapHours bounds the overlap the rotation form passes on (the
	// domain refuses more than webhook.MaxOverlap anyway).
	webhookMaxOverlapHours = 10000
	// webhookStaleEntries bounds the audit entries a stale edit reads to say
	// what changed meanwhile.
	webhookStaleEntries = 500
)

// webhookActions are the forms posted to an endpoint's page, by the last
// segment of their path.
var webhookActions = []string{"edit", "activate", "deactivate", "rotate-secret", "replay", "ping", "delete"}

// webhookFlash maps the done= code of a redirect after a webhook form to
// the sentence the page shows: the URL never carries free text.
var webhookFlash = map[string]string{
	"updated":     "The endpoint's settings are saved.",
	"unchanged":   "Nothing changed: the endpoint already had these settings.",
	"activated":   "The endpoint is active: deliveries go on from where they stopped.",
	"deactivated": "The endpoint is deactivated: nothing is delivered to it until it is activated again.",
	"replayed":    "Deliveries go on with the events after the cursor you gave.",
	"deleted":     "The endpoint is deleted: nothing more is delivered to it.",
}

// webhookRoutes registers the webhook pages of the tenant's settings:
// they need clavis:admin, as the API's webhook routes do, for an
// endpoint receives every event of the tenant its types match.
func (c *Console) webhookRoutes(r fiber.Router) {
	g := r.Group("/settings/webhooks", c.webhooksOnly)
	g.Get("", c.listWebhooks)
	g.Get("/new", c.newWebhookPage)
	g.Post("/new", c.createWebhook)
	g.Get("/:webhook_id", c.showWebhook)
	g.Post("/:webhook_id/edit", c.editWebhook)
	g.Post("/:webhook_id/activate", c.activateWebhook)
	g.Post("/:webhook_id/deactivate", c.deactivateWebhook)
	g.Post("/:webhook_id/rotate-secret", c.rotateWebhookSecret)
	g.Post("/:webhook_id/replay", c.replayWebhook)
	g.Post("/:webhook_id/ping", c.pingWebhook)
	g.Post("/:webhook_id/delete", c.deleteWebhook)
	// The forms' addresses, opened (a reload after an answer), lead to
	// the endpoint's page.
	g.Get("/:webhook_id/:action", func(ctx *fiber.Ctx) error {
		if !slices.Contains(webhookActions, ctx.Params("action")) || !tenants.ValidWebhookID(ctx.Params("webhook_id")) {
			return c.notFound(ctx)
		}
		return ctx.Redirect(c.webhookPath(session(ctx).Tenant, ctx.Params("webhook_id")), fiber.StatusSeeOther)
	})
}

// webhooksOnly admits to the webhook pages a session that may administer
// the tenant, on a node that serves webhooks.
func (c *Console) webhooksOnly(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanAdmin() {
		return c.forbidden(ctx, s, "The webhooks need clavis:admin: an endpoint receives every event of the tenant that its types match.")
	}
	if c.cfg.WebhookCommands == nil || c.cfg.WebhookReads == nil {
		status := http.StatusNotFound
		if ctx.Method() == fiber.MethodGet && strings.TrimSuffix(ctx.Path(), "/") == strings.TrimSuffix(c.webhooksPath(s.Tenant), "/") {
			status = http.StatusOK
		}
		return c.render(ctx, status, "webhooks", view{Title: "Webhooks", Nav: "settings", Data: webhookList{NotServed: true}})
	}
	return ctx.Next()
}

// webhooksPath is the path of tenant's webhook list.
func (c *Console) webhooksPath(tenant string) string { return tenantPath(tenant) + "settings/webhooks" }

// webhookPath is the path of endpoint id's page.
func (c *Console) webhookPath(tenant, id string) string { return c.webhooksPath(tenant) + "/" + id }

// ---- the list

// webhookList is what the webhook list shows.
type webhookList struct {
	// NotServed: this node serves no webhooks.
	NotServed bool
	Endpoints []webhooks.Endpoint
}

// listWebhooks shows the tenant's endpoints.
func (c *Console) listWebhooks(ctx *fiber.Ctx) error {
	s := session(ctx)
	if err := onlyQuery(ctx, "done"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	list, err := c.cfg.WebhookReads.Endpoints(ctx.UserContext(), s.Tenant)
	if err != nil {
		return fmt.Errorf("console: list webhooks: %w", err)
	}
	return c.render(ctx, http.StatusOK, "webhooks", view{Title: "Webhooks", Nav: "settings", Flash: webhookFlash[ctx.Query("done")],
		Data: webhookList{Endpoints: list}})
}

// ---- creation

// webhookForm is an endpoint's settings as the forms hold them.
type webhookForm struct {
	URL string
	// Types are the patterns, one a line.
	Types       string
	Description string
	// Version is the version the edit form was made from.
	Version int64
}

// webhookFormOf is the form of settings s at version.
func webhookFormOf(s webhook.Settings, version int64) webhookForm {
	return webhookForm{URL: s.URL, Types: strings.Join(s.Types, "\n"), Description: s.Description, Version: version}
}

// settings are the form's settings: the types as eventtype patterns,
// split at commas, spaces and line ends (none: every type).
func (f webhookForm) settings() webhook.Settings {
	types := strings.FieldsFunc(f.Types, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if types == nil {
		types = []string{}
	}
	return webhook.Settings{URL: f.URL, Types: types, Description: f.Description}
}

// postedWebhookForm reads the settings fields of a posted form.
func postedWebhookForm(ctx *fiber.Ctx) webhookForm {
	return webhookForm{URL: ctx.FormValue("url"), Types: ctx.FormValue("types"), Description: ctx.FormValue("description")}
}

// webhookNew is what the creation page shows: the form, or the endpoint
// it created with its secret, shown once.
type webhookNew struct {
	Form   webhookForm
	Errors formErrors
	// Problem is what went wrong that is no field's.
	Problem string
	// Created is the endpoint made, and Secret its signing secret.
	Created *webhook.State
	Secret  *shownSecret
}

// newWebhookPage shows the creation form.
func (c *Console) newWebhookPage(ctx *fiber.Ctx) error {
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	return c.render(ctx, http.StatusOK, "webhook_new", view{Title: "New webhook endpoint", Nav: "settings", Data: webhookNew{}})
}

// createWebhook creates an endpoint and answers with its signing secret,
// shown this once.
func (c *Console) createWebhook(ctx *fiber.Ctx) error {
	s := session(ctx)
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	if err := checkForm(ctx, []string{"url", "types", "description"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	in := webhookNew{Form: postedWebhookForm(ctx)}
	again := func(status int) error {
		return c.render(ctx, status, "webhook_new", view{Title: "New webhook endpoint", Nav: "settings", Data: in})
	}
	req, err := c.cfg.Request(ctx, s.Actor, s.Authority(), ctx.FormValue("reason"))
	if err != nil {
		in.Errors.add("reason", "invalid_value", err.Error())
		return again(http.StatusUnprocessableEntity)
	}
	res, err := c.cfg.WebhookCommands.Create(ctx.UserContext(), req, s.Tenant, in.Form.settings())
	if err != nil {
		if fe, ok := fieldErrors(err); ok {
			in.Errors = fe
			return again(http.StatusUnprocessableEntity)
		}
		if errors.Is(err, tenants.ErrWebhookLimit) {
			in.Problem = "The tenant has as many webhook endpoints as it may: delete one first."
			return again(http.StatusConflict)
		}
		return c.webhookFailure(ctx, err)
	}
	c.settleWebhook(ctx.UserContext(), res.Position)
	st := res.Webhook
	in.Created = &st
	in.Secret = &shownSecret{Value: res.Secret.Value, ID: res.Secret.ID,
		Back: c.webhookPath(s.Tenant, st.ID), BackText: "Go to the endpoint"}
	return c.render(ctx, http.StatusOK, "webhook_new", view{Title: "Webhook endpoint created", Nav: "settings",
		Flash: "The endpoint is created and active: the tenant's events after now are delivered to it.", Data: in})
}

// ---- an endpoint's page

// webhookPage is what an endpoint's page shows.
type webhookPage struct {
	Endpoint webhooks.Endpoint
	// Host is the host of its URL, which deleting it asks to type.
	Host string
	// Form is the edit form's content.
	Form webhookForm
	// Errors are those of the form that was posted.
	Errors formErrors
	// Stale says what changed since the posted edit form was made.
	Stale *webhookStale
	// Secret is the secret a rotation made, shown once.
	Secret *shownSecret
	// Ping is the attempt a ping made; PingProblem why none was made.
	Ping        *webhookAttemptRow
	PingProblem string
	// Delivers: this node can ping.
	Delivers bool
	// Overlap (hours), From and Confirm are what the rotation, replay
	// and deletion forms hold.
	Overlap, From, Confirm string
	// Log is a page of the delivery log, newest first; Before is where
	// it starts (0: the newest), Next where the next page does (0: none).
	Log          []webhookAttemptRow
	Before, Next int64
}

// webhookStale is what changed an endpoint since an edit form was made from
// it.
type webhookStale struct {
	// Yours is the version the form was made from; Now the endpoint's.
	Yours, Now int64
	// Changes are the changes in between, as the audit log has them
	// (none when it has not caught up, or is not served).
	Changes []auditlog.Entry
	// Current are the endpoint's settings now.
	Current webhook.Settings
}

// webhookAttemptRow is one attempt of the delivery log, numbered among the
// attempts of its message.
type webhookAttemptRow struct {
	webhooks.Attempt
	// Number is how many times the message was sent, this one included;
	// AtLeast: the log was not read far enough back to be sure.
	Number  int
	AtLeast bool
}

// Duration is how long the attempt took, in milliseconds.
func (a webhookAttemptRow) Duration() string {
	return strconv.FormatFloat(float64(a.Latency.Microseconds())/1000, 'f', 1, 64) + " ms"
}

// loadWebhook reads the endpoint of the path; ok is false when it
// answered (not found).
func (c *Console) loadWebhook(ctx *fiber.Ctx) (webhooks.Endpoint, bool, error) {
	id := strings.Clone(ctx.Params("webhook_id"))
	if !tenants.ValidWebhookID(id) {
		return webhooks.Endpoint{}, false, c.notFound(ctx)
	}
	ep, err := c.cfg.WebhookReads.Endpoint(ctx.UserContext(), session(ctx).Tenant, id)
	if errors.Is(err, webhooks.ErrNotFound) {
		return webhooks.Endpoint{}, false, c.notFound(ctx)
	}
	if err != nil {
		return webhooks.Endpoint{}, false, fmt.Errorf("console: read webhook %s: %w", id, err)
	}
	return ep, true, nil
}

// webhookPageOf returns the page of ep with its forms fresh and the
// newest page of its log.
func (c *Console) webhookPageOf(ep webhooks.Endpoint) webhookPage {
	p := webhookPage{Endpoint: ep, Form: webhookFormOf(ep.State.Settings, ep.State.Version), Delivers: c.cfg.WebhookDeliverer != nil,
		Overlap: strconv.Itoa(int(tenants.DefaultWebhookOverlap / time.Hour))}
	if u, err := url.Parse(ep.State.Settings.URL); err == nil {
		p.Host = u.Hostname()
	}
	if !ep.Delivery.Cursor.IsZero() {
		p.From = ep.Delivery.Cursor.String()
	}
	return p
}

// showWebhook shows an endpoint: its settings, state, deliveries and a
// page of its delivery log.
func (c *Console) showWebhook(ctx *fiber.Ctx) error {
	if err := onlyQuery(ctx, "before", "done"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	var before int64
	if b := ctx.Query("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			return c.badRequest(ctx, "before is the id of an attempt of the log.")
		}
		before = n
	}
	ep, ok, err := c.loadWebhook(ctx)
	if !ok {
		return err
	}
	p := c.webhookPageOf(ep)
	p.Before = before
	return c.renderWebhook(ctx, http.StatusOK, webhookFlash[ctx.Query("done")], p)
}

// renderWebhook answers endpoint page p, with its log from p.Before.
func (c *Console) renderWebhook(ctx *fiber.Ctx, status int, flash string, p webhookPage) error {
	log, next, err := c.webhookLog(ctx.UserContext(), p.Endpoint, p.Before)
	if err != nil {
		return err
	}
	p.Log, p.Next = log, next
	return c.render(ctx, status, "webhook", view{Title: "Webhook endpoint", Nav: "settings", Flash: flash, Data: p})
}

// webhookLog reads the page of ep's delivery log before before (0: the
// newest), numbering each attempt among those of its message, and the
// id the next page starts before (0: none).
func (c *Console) webhookLog(ctx context.Context, ep webhooks.Endpoint, before int64) ([]webhookAttemptRow, int64, error) {
	page, err := c.cfg.WebhookReads.Attempts(ctx, ep.Tenant, ep.State.ID, before, webhookLogPageSize+1)
	if err != nil {
		return nil, 0, fmt.Errorf("console: read the delivery log of %s: %w", ep.State.ID, err)
	}
	var next int64
	if len(page) > webhookLogPageSize {
		page = page[:webhookLogPageSize]
		next = page[len(page)-1].ID
	}
	if len(page) == 0 {
		return nil, 0, nil
	}
	// The attempts before the page, to count the earlier sends of its
	// messages.
	window := page
	exhausted := next == 0
	if !exhausted {
		older, err := c.cfg.WebhookReads.Attempts(ctx, ep.Tenant, ep.State.ID, next, webhookLogLookback)
		if err != nil {
			return nil, 0, fmt.Errorf("console: read the delivery log of %s: %w", ep.State.ID, err)
		}
		window = append(append([]webhooks.Attempt(nil), page...), older...)
		exhausted = len(older) < webhookLogLookback
	}
	oldest := window[len(window)-1]
	rows := make([]webhookAttemptRow, len(page))
	for i, a := range page {
		n := 1
		for _, b := range window {
			if b.ID < a.ID && b.MessageID == a.MessageID {
				n++
			}
		}
		rows[i] = webhookAttemptRow{Attempt: a, Number: n, AtLeast: !exhausted && oldest.MessageID == a.MessageID}
	}
	return rows, next, nil
}

// ---- the endpoint's forms

// webhookReasonIDs are the ids of the reason inputs of an endpoint's
// small forms, by form (the edit form's is "reason"): one page, one id
// each.
var webhookReasonIDs = map[string]string{"activate": "activate-reason", "deactivate": "deactivate-reason",
	"rotate-secret": "rotate-reason", "replay": "replay-reason", "delete": "delete-reason"}

// webhookAction is what every form of an endpoint's page starts with: the
// endpoint, its page, the command's metadata. ok is false when it
// answered (not found, bad form, a reason refused).
func (c *Console) webhookAction(ctx *fiber.Ctx, form string, fields ...string) (webhooks.Endpoint, webhookPage, tenants.Request, bool, error) {
	s := session(ctx)
	fail := func(err error) (webhooks.Endpoint, webhookPage, tenants.Request, bool, error) {
		return webhooks.Endpoint{}, webhookPage{}, tenants.Request{}, false, err
	}
	if err := onlyQuery(ctx); err != nil {
		return fail(c.badRequest(ctx, err.Error()))
	}
	ep, ok, err := c.loadWebhook(ctx)
	if !ok {
		return fail(err)
	}
	if err := checkForm(ctx, fields, nil); err != nil {
		return fail(c.badRequest(ctx, err.Error()))
	}
	p := c.webhookPageOf(ep)
	req, err := c.cfg.Request(ctx, s.Actor, s.Authority(), ctx.FormValue("reason"))
	if err != nil {
		p.Errors.add(webhookReasonField(form), "invalid_value", err.Error())
		return fail(c.renderWebhook(ctx, http.StatusUnprocessableEntity, "", p))
	}
	return ep, p, req, true, nil
}

// webhookReasonField is the name, and input id, of form's reason on the
// endpoint's page.
func webhookReasonField(form string) string {
	if id, ok := webhookReasonIDs[form]; ok {
		return id
	}
	return "reason"
}

// webhookRefused answers a command's refusal on the endpoint's page: errors of
// its input next to their fields (the reason's renamed to form's reason
// input) with 422; anything else as [Console.webhookFailure].
func (c *Console) webhookRefused(ctx *fiber.Ctx, form string, p webhookPage, err error) error {
	fe, ok := fieldErrors(err)
	if !ok {
		return c.webhookFailure(ctx, err)
	}
	for _, f := range fe.List {
		if f.Field == "reason" {
			f.Field = webhookReasonField(form)
		}
	}
	p.Errors = fe
	return c.renderWebhook(ctx, http.StatusUnprocessableEntity, "", p)
}

// webhookDoneRedirect waits for the webhook projection to hold res and goes to the
// endpoint's page saying code (or "unchanged" when nothing was written).
func (c *Console) webhookDoneRedirect(ctx *fiber.Ctx, id string, res tenants.WebhookResult, code string) error {
	if res.Position.IsZero() && code == "updated" {
		code = "unchanged"
	}
	c.settleWebhook(ctx.UserContext(), res.Position)
	return ctx.Redirect(c.webhookPath(session(ctx).Tenant, id)+"?done="+code, fiber.StatusSeeOther)
}

// editWebhook changes an endpoint's settings, unless it changed since
// the form was made (the hidden version): then the page says what
// changed meanwhile, with the person's input kept.
func (c *Console) editWebhook(ctx *fiber.Ctx) error {
	ep, p, req, ok, err := c.webhookAction(ctx, "edit", "url", "types", "description", "version")
	if !ok {
		return err
	}
	version, verr := strconv.ParseInt(ctx.FormValue("version"), 10, 64)
	if verr != nil || version < 1 {
		return c.badRequest(ctx, "The form has no valid version: reload the endpoint's page.")
	}
	p.Form = postedWebhookForm(ctx)
	p.Form.Version = version
	st := p.Form.settings()
	patch := tenants.WebhookPatch{URL: &st.URL, Types: &st.Types, Description: &st.Description}
	res, err := c.cfg.WebhookCommands.Update(ctx.UserContext(), req, ep.Tenant, ep.State.ID, patch, version)
	var conflict *eventstore.ConflictError
	if errors.As(err, &conflict) {
		if cur, rerr := c.webhookAt(ctx.UserContext(), ep, conflict.Actual); rerr == nil {
			p.Endpoint = cur
		}
		p.Stale = c.webhookStale(ctx.UserContext(), p.Endpoint, version, conflict.Actual)
		// The form now stands on the current version: posting it again
		// replaces what changed, knowingly.
		p.Form.Version = conflict.Actual
		return c.renderWebhook(ctx, http.StatusConflict, "", p)
	}
	if err != nil {
		return c.webhookRefused(ctx, "edit", p, err)
	}
	return c.webhookDoneRedirect(ctx, ep.State.ID, res, "updated")
}

// webhookAt reads ep again until the read side holds its version
// (bounded): the change that made an edit stale may be newer than the
// read side was when the page was read.
func (c *Console) webhookAt(ctx context.Context, ep webhooks.Endpoint, version int64) (webhooks.Endpoint, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		cur, err := c.cfg.WebhookReads.Endpoint(ctx, ep.Tenant, ep.State.ID)
		if err != nil || cur.State.Version >= version || time.Now().After(deadline) {
			return cur, err
		}
		select {
		case <-ctx.Done():
			return cur, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// webhookStale says what changed ep since version yours: the audit log's
// entries of its stream after it, when the log is served.
func (c *Console) webhookStale(ctx context.Context, ep webhooks.Endpoint, yours, now int64) *webhookStale {
	st := &webhookStale{Yours: yours, Now: now, Current: ep.State.Settings}
	if c.cfg.AuditLog == nil {
		return st
	}
	f := auditlog.Filter{StreamType: webhooks.StreamType, StreamID: ep.State.ID}
	for after := int64(-1); len(st.Changes) < webhookStaleEntries; {
		list, err := c.cfg.AuditLog.Entries(ctx, ep.Tenant, f, after, 100)
		if err != nil {
			c.cfg.Log.Warn("console: read the audit log for a stale edit", "tenant", ep.Tenant, "error", err)
			return st
		}
		for _, e := range list {
			if e.Version > yours {
				st.Changes = append(st.Changes, e)
			}
		}
		if len(list) < 100 {
			break
		}
		after = list[len(list)-1].Index
	}
	return st
}

// activateWebhook turns an endpoint's deliveries on again.
func (c *Console) activateWebhook(ctx *fiber.Ctx) error {
	ep, p, req, ok, err := c.webhookAction(ctx, "activate")
	if !ok {
		return err
	}
	res, err := c.cfg.WebhookCommands.Activate(ctx.UserContext(), req, ep.Tenant, ep.State.ID)
	if err != nil {
		return c.webhookRefused(ctx, "activate", p, err)
	}
	return c.webhookDoneRedirect(ctx, ep.State.ID, res, "activated")
}

// deactivateWebhook stops an endpoint's deliveries, for the reason
// given, which is required.
func (c *Console) deactivateWebhook(ctx *fiber.Ctx) error {
	ep, p, req, ok, err := c.webhookAction(ctx, "deactivate")
	if !ok {
		return err
	}
	reason := strings.TrimSpace(ctx.FormValue("reason"))
	if reason == "" {
		p.Errors.add(webhookReasonField("deactivate"), "required", "Say why: the reason is shown as why the endpoint is off.")
		return c.renderWebhook(ctx, http.StatusUnprocessableEntity, "", p)
	}
	res, err := c.cfg.WebhookCommands.Deactivate(ctx.UserContext(), req, ep.Tenant, ep.State.ID, reason)
	if err != nil {
		return c.webhookRefused(ctx, "deactivate", p, err)
	}
	return c.webhookDoneRedirect(ctx, ep.State.ID, res, "deactivated")
}

// rotateWebhookSecret gives an endpoint a new signing secret and answers
// with it, shown this once; the current one keeps signing for the
// overlap, in hours.
func (c *Console) rotateWebhookSecret(ctx *fiber.Ctx) error {
	ep, p, req, ok, err := c.webhookAction(ctx, "rotate-secret", "overlap")
	if !ok {
		return err
	}
	p.Overlap = ctx.FormValue("overlap")
	hours, herr := strconv.ParseInt(strings.TrimSpace(p.Overlap), 10, 64)
	if herr != nil {
		p.Errors.add("overlap", "invalid_value", "The overlap is a whole number of hours, from 0 to "+
			strconv.Itoa(int(webhook.MaxOverlap/time.Hour))+".")
		return c.renderWebhook(ctx, http.StatusUnprocessableEntity, "", p)
	}
	overlap := time.Duration(max(-1, min(hours, webhookMaxOverlapHours))) * time.Hour
	res, err := c.cfg.WebhookCommands.RotateSecret(ctx.UserContext(), req, ep.Tenant, ep.State.ID, overlap)
	if err != nil {
		return c.webhookRefused(ctx, "rotate-secret", p, err)
	}
	c.settleWebhook(ctx.UserContext(), res.Position)
	if cur, rerr := c.cfg.WebhookReads.Endpoint(ctx.UserContext(), ep.Tenant, ep.State.ID); rerr == nil {
		ep = cur
	} else {
		ep.State = res.Webhook
	}
	p = c.webhookPageOf(ep)
	until := ""
	if hours > 0 {
		until = c.now().Add(overlap).UTC().Format("2006-01-02 15:04:05 UTC")
	}
	p.Secret = &shownSecret{Value: res.Secret.Value, ID: res.Secret.ID, Back: c.webhookPath(ep.Tenant, ep.State.ID), BackText: "Done"}
	flash := "The new secret signs every delivery from now on."
	if until != "" {
		flash += " The previous one signs beside it until " + until + "."
	} else {
		flash += " The previous one no longer signs."
	}
	return c.renderWebhook(ctx, http.StatusOK, flash, p)
}

// replayWebhook sends an endpoint's deliveries back (or forward) to the
// events after a cursor ("" for the tenant's first event).
func (c *Console) replayWebhook(ctx *fiber.Ctx) error {
	ep, p, req, ok, err := c.webhookAction(ctx, "replay", "from")
	if !ok {
		return err
	}
	p.From = strings.TrimSpace(ctx.FormValue("from"))
	res, err := c.cfg.WebhookCommands.Replay(ctx.UserContext(), req, ep.Tenant, ep.State.ID, p.From)
	if err != nil {
		return c.webhookRefused(ctx, "replay", p, err)
	}
	return c.webhookDoneRedirect(ctx, ep.State.ID, res, "replayed")
}

// pingWebhook sends an endpoint a test message and shows the attempt.
func (c *Console) pingWebhook(ctx *fiber.Ctx) error {
	ep, p, _, ok, err := c.webhookAction(ctx, "ping")
	if !ok {
		return err
	}
	if c.cfg.WebhookDeliverer == nil {
		p.PingProblem = "This node does not deliver webhooks, so it cannot ping."
		return c.renderWebhook(ctx, http.StatusServiceUnavailable, "", p)
	}
	a, err := c.cfg.WebhookDeliverer.Ping(ctx.UserContext(), ep.Tenant, ep.State.ID)
	var limit *webhooks.LimitError
	switch {
	case errors.As(err, &limit):
		ctx.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, int(limit.RetryAfter.Seconds()+0.999))))
		p.PingProblem = "Too many pings and resends: " + limit.Reason + "; try again later."
		return c.renderWebhook(ctx, http.StatusTooManyRequests, "", p)
	case err != nil:
		return c.webhookFailure(ctx, err)
	}
	p.Ping = &webhookAttemptRow{Attempt: a, Number: 1}
	return c.renderWebhook(ctx, http.StatusOK, "", p)
}

// deleteWebhook deletes an endpoint once the host of its URL is typed
// in confirm.
func (c *Console) deleteWebhook(ctx *fiber.Ctx) error {
	ep, p, req, ok, err := c.webhookAction(ctx, "delete", "confirm")
	if !ok {
		return err
	}
	p.Confirm = ctx.FormValue("confirm")
	if strings.TrimSpace(p.Confirm) != p.Host {
		p.Errors.add("confirm", "mismatch", "Type the host of the endpoint's URL, "+p.Host+", to delete it.")
		return c.renderWebhook(ctx, http.StatusUnprocessableEntity, "", p)
	}
	res, err := c.cfg.WebhookCommands.Delete(ctx.UserContext(), req, ep.Tenant, ep.State.ID)
	if err != nil {
		return c.webhookRefused(ctx, "delete", p, err)
	}
	c.settleWebhook(ctx.UserContext(), res.Position)
	return ctx.Redirect(c.webhooksPath(ep.Tenant)+"?done=deleted", fiber.StatusSeeOther)
}

// ---- shared

// webhookFailure answers what a webhook command failed with that is not
// its input's fault: gone, a suspended tenant; anything else is an error.
func (c *Console) webhookFailure(ctx *fiber.Ctx, err error) error {
	s := session(ctx)
	switch {
	case errors.Is(err, domain.ErrNotFound), errors.Is(err, domain.ErrDeleted), errors.Is(err, webhooks.ErrNotFound):
		return c.notFound(ctx)
	case errors.Is(err, domain.ErrTenantSuspended):
		return c.render(ctx, http.StatusConflict, "error", view{Title: "Tenant suspended", Session: &s,
			Data: errorData{Message: "The tenant is suspended: nothing of it can change until the platform resumes it."}})
	}
	return fmt.Errorf("console: webhook command: %w", err)
}

// settleWebhook waits, bounded, for the webhook projection to reach pos
// (to catch up, for the zero position), so that the page shown after a
// write holds it.
func (c *Console) settleWebhook(ctx context.Context, pos eventstore.Position) {
	if c.cfg.WebhookWaiter == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.cfg.WebhookWaiter.WaitFor(ctx, pos); err != nil {
		c.cfg.Log.Warn("console: the webhook projection did not reach a write in time", "position", pos.String(), "error", err)
	}
}
