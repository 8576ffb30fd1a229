package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/http/jsonbody"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/tenants"
)

// WebhookReads is the read side of the webhook endpoints: their state,
// where their deliveries stand and the attempt log. webhooks.Store is one.
type WebhookReads interface {
	// Endpoint returns one endpoint of tenant, or an error matching
	// webhooks.ErrNotFound (deleted ones included).
	Endpoint(ctx context.Context, tenant, id string) (webhooks.Endpoint, error)
	// Endpoints returns tenant's live endpoints in the order of creation.
	Endpoints(ctx context.Context, tenant string) ([]webhooks.Endpoint, error)
	// Attempts returns up to limit of an endpoint's attempts with an ID
	// below before (0: the newest), newest first.
	Attempts(ctx context.Context, tenant, id string, before int64, limit int) ([]webhooks.Attempt, error)
}

// WebhookDeliverer makes the attempts an administrator asks for, outside
// the endpoint's ordered deliveries, and logs them.
type WebhookDeliverer interface {
	// Ping sends a test message to endpoint id of tenant and returns the
	// attempt.
	Ping(ctx context.Context, tenant, id string) (webhooks.Attempt, error)
	// Resend sends the tenant's event at cursor to the endpoint again and
	// returns the attempt.
	Resend(ctx context.Context, tenant, id, cursor string) (webhooks.Attempt, error)
}

// Webhooks is what the webhook management routes need. Give it to [New]
// with [WithWebhooks].
type Webhooks struct {
	// Commands runs the commands. Required.
	Commands *tenants.Webhooks
	// Reads answers the reads. Required.
	Reads WebhookReads
	// Waiter, when set, is the webhook projection: a write waits for it
	// (bounded by the admin API's WaitTimeout) so that the caller's next
	// read sees the write.
	Waiter Waiter
	// Deliverer makes pings and resends; without it those routes answer
	// 503.
	Deliverer WebhookDeliverer
}

// WithWebhooks serves the webhook management routes under
// /t/{tenant}/admin/webhooks over w. It needs [WithAdmin].
func WithWebhooks(w Webhooks) Option {
	return func(o *options) error {
		if w.Commands == nil || w.Reads == nil {
			return fmt.Errorf("%w: WithWebhooks: Commands and Reads are required", ErrInvalidOption)
		}
		o.webhooks = &w
		return nil
	}
}

// Page sizes of the attempt log.
const defaultAttemptPage = 50

// The query parameters of the webhook routes.
var (
	attemptLimitParam  = intParam("limit", 1, webhooks.MaxLimit)
	attemptBeforeParam = int64Param("before", 1)
)

// webhookRoutes registers the webhook management routes. They need
// clavis:admin (or the root token): an endpoint receives every event of
// the tenant that its types match, so a token that may only manage
// clients must not be able to open such a feed.
func (s *Server) webhookRoutes() {
	t := s.app.Group("/t/:tenant/admin/webhooks")
	admin := s.authenticate(tenantAdmin)
	t.Post("", admin, noQuery, s.createWebhook)
	t.Get("", admin, noQuery, s.listWebhooks)
	t.Get("/:webhook_id", admin, noQuery, s.getWebhook)
	t.Patch("/:webhook_id", admin, noQuery, s.patchWebhook)
	t.Delete("/:webhook_id", admin, noQuery, s.deleteWebhook)
	t.Post("/:webhook_id/secret/rotate", admin, noQuery, s.rotateWebhookSecret)
	t.Post("/:webhook_id/activate", admin, noQuery, s.activateWebhook)
	t.Post("/:webhook_id/deactivate", admin, noQuery, s.deactivateWebhook)
	t.Get("/:webhook_id/deliveries", admin, acceptQuery(attemptBeforeParam, attemptLimitParam), s.webhookDeliveries)
	t.Post("/:webhook_id/replay", admin, noQuery, s.replayWebhook)
	t.Post("/:webhook_id/resend", admin, noQuery, s.resendWebhook)
	t.Post("/:webhook_id/ping", admin, noQuery, s.pingWebhook)
}

// webhookID returns the {webhook_id} path parameter, or a 404 when it cannot be
// an endpoint's id.
func webhookID(c *fiber.Ctx) (string, error) {
	id := param(c, "webhook_id")
	if !tenants.ValidWebhookID(id) {
		return "", notFound()
	}
	return id, nil
}

// ---- writes

// newWebhookIn is the body of an endpoint's creation.
type newWebhookIn struct {
	URL         string   `json:"url"`
	Types       []string `json:"types"`
	Description string   `json:"description"`
}

func (s *Server) createWebhook(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, jsonBody[newWebhookIn], func(ctx context.Context, r tenants.Request, slug string, in newWebhookIn) (tenants.WebhookResult, error) {
		return s.webhooks.Commands.Create(ctx, r, slug, webhook.Settings{URL: in.URL, Types: in.Types, Description: in.Description})
	}, s.answerNewWebhook)
}

// webhookPatchIn is an endpoint's update: the patch, and the version it
// expects (0: any).
type webhookPatchIn struct {
	patch    tenants.WebhookPatch
	expected int64
	// ifMatch says the version came from If-Match (412 on a mismatch),
	// not from the body (409).
	ifMatch bool
}

// readWebhookPatch reads If-Match and a JSON merge patch of "url",
// "types" (null: every type), "description" (null: none) and an optional
// "version".
func readWebhookPatch(c *fiber.Ctx, in *webhookPatchIn) error {
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	raw, err := body(c, mediaMergePatch, mediaJSON)
	if err != nil {
		return err
	}
	var p struct {
		URL         patchString  `json:"url"`
		Types       patchStrings `json:"types"`
		Description patchString  `json:"description"`
		Version     *int64       `json:"version"`
	}
	if err := jsonbody.Decode(raw, &p); err != nil {
		return err
	}
	if p.Version != nil && *p.Version < 1 {
		return &jsonbody.Error{Field: "version", Err: errors.New("version must be a positive integer")}
	}
	*in = webhookPatchIn{patch: tenants.WebhookPatch{URL: p.URL.value(), Types: p.Types.value(), Description: p.Description.value()},
		expected: expected, ifMatch: expected != 0}
	if !in.ifMatch && p.Version != nil {
		in.expected = *p.Version
	}
	return nil
}

// patchStrings is a list member of a JSON merge patch: absent changes
// nothing, null is the empty list.
type patchStrings struct {
	set bool
	v   []string
}

// UnmarshalJSON records that the member is present, and its value.
func (p *patchStrings) UnmarshalJSON(data []byte) error {
	p.set = true
	if string(data) == "null" {
		p.v = []string{}
		return nil
	}
	return jsonbody.Decode(data, &p.v)
}

func (p patchStrings) value() *[]string {
	if !p.set {
		return nil
	}
	v := p.v
	if v == nil {
		v = []string{}
	}
	return &v
}

func (s *Server) patchWebhook(c *fiber.Ctx) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	return handle(s, c, adminTenant, readWebhookPatch, func(ctx context.Context, r tenants.Request, slug string, in webhookPatchIn) (tenants.WebhookResult, error) {
		res, err := s.webhooks.Commands.Update(ctx, r, slug, id, in.patch, in.expected)
		if in.ifMatch && errors.Is(err, eventstore.ErrConflict) {
			return res, preconditionFailed()
		}
		return res, err
	}, s.answerWebhook)
}

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	return handle(s, c, adminTenant, noBody[none], func(ctx context.Context, r tenants.Request, slug string, _ none) (tenants.WebhookResult, error) {
		return s.webhooks.Commands.Delete(ctx, r, slug, id)
	}, func(c *fiber.Ctx, _ string, res tenants.WebhookResult) error {
		s.settleWebhook(c, res.Position)
		return c.SendStatus(fiber.StatusNoContent)
	})
}

// webhookRotationIn is the body of a webhook secret's rotation.
type webhookRotationIn struct {
	OverlapSeconds *int64 `json:"overlap_seconds"`
}

// overlap is how long the current secret keeps signing: the default when
// the body does not say. Out of range values are the domain's to refuse;
// only what would overflow a Duration is clamped.
func (in webhookRotationIn) overlap() time.Duration {
	if in.OverlapSeconds == nil {
		return tenants.DefaultWebhookOverlap
	}
	return time.Duration(max(-1, min(*in.OverlapSeconds, int64(webhook.MaxOverlap/time.Second)+1))) * time.Second
}

func (s *Server) rotateWebhookSecret(c *fiber.Ctx) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	return handle(s, c, adminTenant, optionalJSON[webhookRotationIn], func(ctx context.Context, r tenants.Request, slug string, in webhookRotationIn) (tenants.WebhookResult, error) {
		res, err := s.webhooks.Commands.RotateSecret(ctx, r, slug, id, in.overlap())
		return res, renameField(err, "overlap", "overlap_seconds")
	}, s.answerWebhook)
}

func (s *Server) activateWebhook(c *fiber.Ctx) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	return handle(s, c, adminTenant, optionalJSON[none], func(ctx context.Context, r tenants.Request, slug string, _ none) (tenants.WebhookResult, error) {
		return s.webhooks.Commands.Activate(ctx, r, slug, id)
	}, s.answerWebhook)
}

func (s *Server) deactivateWebhook(c *fiber.Ctx) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	return handle(s, c, adminTenant, optionalJSON[reasonIn], func(ctx context.Context, r tenants.Request, slug string, in reasonIn) (tenants.WebhookResult, error) {
		why, err := bodyReason(&r, in.Reason)
		if err != nil {
			return tenants.WebhookResult{}, err
		}
		return s.webhooks.Commands.Deactivate(ctx, r, slug, id, why)
	}, s.answerWebhook)
}

// replayIn is the body of a replay: the cursor deliveries go on after
// ("" for the tenant's first event). It is required, so that replaying
// everything is never an accident of an empty body.
type replayIn struct {
	From *string `json:"from"`
}

func (s *Server) replayWebhook(c *fiber.Ctx) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	return handle(s, c, adminTenant, jsonBody[replayIn], func(ctx context.Context, r tenants.Request, slug string, in replayIn) (tenants.WebhookResult, error) {
		if in.From == nil {
			return tenants.WebhookResult{}, fieldProblem("from", "required", `from is required: an events API cursor, or "" for the tenant's first event`)
		}
		return s.webhooks.Commands.Replay(ctx, r, slug, id, *in.From)
	}, s.answerWebhook)
}

// resendIn is the body of a resend: the cursor of the event to send.
type resendIn struct {
	Event string `json:"event"`
}

func (s *Server) resendWebhook(c *fiber.Ctx) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	return handle(s, c, adminTenant, jsonBody[resendIn], func(ctx context.Context, _ tenants.Request, slug string, in resendIn) (webhooks.Attempt, error) {
		if _, err := eventstore.ParsePosition(in.Event); err != nil || in.Event == "0.0" {
			return webhooks.Attempt{}, fieldProblem("event", "invalid_value", "event must be the events API cursor of one of the tenant's events")
		}
		d, err := s.deliverable(ctx, slug, id)
		if err != nil {
			return webhooks.Attempt{}, err
		}
		a, err := d.Resend(ctx, slug, id, in.Event)
		return a, tooMany(c, err)
	}, s.answerAttempt)
}

func (s *Server) pingWebhook(c *fiber.Ctx) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	return handle(s, c, adminTenant, optionalJSON[none], func(ctx context.Context, _ tenants.Request, slug string, _ none) (webhooks.Attempt, error) {
		d, err := s.deliverable(ctx, slug, id)
		if err != nil {
			return webhooks.Attempt{}, err
		}
		a, err := d.Ping(ctx, slug, id)
		return a, tooMany(c, err)
	}, s.answerAttempt)
}

// tooMany answers a ping or resend refused by the deliverer's per-tenant
// limits with 429 and when to try again; other errors pass.
func tooMany(c *fiber.Ctx, err error) error {
	var limit *webhooks.LimitError
	if !errors.As(err, &limit) {
		return err
	}
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, int(math.Ceil(limit.RetryAfter.Seconds())))))
	return &Problem{Type: ProblemTooManyRequests, Title: "Too many requests", Status: http.StatusTooManyRequests,
		Detail: "Too many pings and resends: " + limit.Reason + "; try again later."}
}

// deliverable returns the deliverer once endpoint id is known to be
// tenant's: a deliverer is never asked about another tenant's endpoint.
func (s *Server) deliverable(ctx context.Context, tenant, id string) (WebhookDeliverer, error) {
	if _, err := s.webhooks.Reads.Endpoint(ctx, tenant, id); err != nil {
		return nil, fmt.Errorf("read webhook: %w", err)
	}
	if s.webhooks.Deliverer == nil {
		return nil, &Problem{Type: ProblemNotReady, Title: "Not ready", Status: http.StatusServiceUnavailable,
			Detail: "This node does not deliver webhooks."}
	}
	return s.webhooks.Deliverer, nil
}

// fieldProblem is the validation problem (422) of one body field.
func fieldProblem(field, code, msg string) *Problem {
	return &Problem{Type: ProblemValidation, Title: "Validation failed", Status: http.StatusUnprocessableEntity,
		Detail: "1 field(s) are invalid; see errors.", Errors: []*domain.FieldError{{Field: field, Code: code, Message: msg}}}
}

// renameField renames field from to to in a validation error, so that it
// names the body's member.
func renameField(err error, from, to string) error {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		for _, f := range ve.Fields {
			if f.Field == from {
				f.Field = to
			}
		}
	}
	return err
}

// settleWebhook gives read-your-writes: it waits, bounded, for the
// webhook projection to reach pos.
func (s *Server) settleWebhook(c *fiber.Ctx, pos eventstore.Position) {
	if s.webhooks.Waiter == nil || pos.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.admin.WaitTimeout)
	defer cancel()
	if err := s.webhooks.Waiter.WaitFor(ctx, pos); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "the webhook projection did not reach a write in time; answering from the command result",
			slog.String("request_id", requestID(c)), slog.String("position", pos.String()), slog.Any("error", err))
	}
}

// answerWebhook answers with the endpoint as the command left it, its
// deliveries as the read side has them, and the secret the command made,
// shown this once.
func (s *Server) answerWebhook(c *fiber.Ctx, slug string, res tenants.WebhookResult) error {
	return s.sendWebhookResult(c, http.StatusOK, slug, res)
}

// answerNewWebhook is [Server.answerWebhook] for a creation: 201, with
// its address.
func (s *Server) answerNewWebhook(c *fiber.Ctx, slug string, res tenants.WebhookResult) error {
	c.Set(fiber.HeaderLocation, "/t/"+slug+"/admin/webhooks/"+res.Webhook.ID)
	return s.sendWebhookResult(c, http.StatusCreated, slug, res)
}

func (s *Server) sendWebhookResult(c *fiber.Ctx, status int, slug string, res tenants.WebhookResult) error {
	s.settleWebhook(c, res.Position)
	ep := webhooks.Endpoint{Tenant: slug, State: res.Webhook}
	// The deliveries are operational state, not in the command's result:
	// they come from the read side once it holds this version.
	if got, err := s.webhooks.Reads.Endpoint(c.UserContext(), slug, res.Webhook.ID); err == nil && got.State.Version >= res.Webhook.Version {
		ep.Delivery = got.Delivery
	}
	out := newWebhookJSON(ep)
	if res.Secret != nil {
		out.Secret = res.Secret.Value
	}
	return sendWebhook(c, status, out)
}

// sendWebhook writes an endpoint, with its ETag, never to be cached.
func sendWebhook(c *fiber.Ctx, status int, v webhookJSON) error {
	c.Set(fiber.HeaderETag, etag(v.Version))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, status, v)
}

// answerAttempt answers with an attempt made on request.
func (s *Server) answerAttempt(c *fiber.Ctx, _ string, a webhooks.Attempt) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, newAttemptJSON(a))
}

// ---- reads

func (s *Server) listWebhooks(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	// The tenant must exist: an unknown one is 404, not an empty list.
	if _, err := s.admin.ReadModel.Tenant(c.UserContext(), slug); err != nil {
		return fmt.Errorf("list webhooks: %w", err)
	}
	list, err := s.webhooks.Reads.Endpoints(c.UserContext(), slug)
	if err != nil {
		return fmt.Errorf("list webhooks: %w", err)
	}
	out := struct {
		Webhooks []webhookJSON `json:"webhooks"`
	}{Webhooks: make([]webhookJSON, 0, len(list))}
	for _, ep := range list {
		out.Webhooks = append(out.Webhooks, newWebhookJSON(ep))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, out)
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	ep, err := s.webhooks.Reads.Endpoint(c.UserContext(), slug, id)
	if err != nil {
		return fmt.Errorf("get webhook: %w", err)
	}
	return sendWebhook(c, http.StatusOK, newWebhookJSON(ep))
}

func (s *Server) webhookDeliveries(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := s.webhooks.Reads.Endpoint(ctx, slug, id); err != nil {
		return fmt.Errorf("webhook deliveries: %w", err)
	}
	limit := queryInt(c, "limit", defaultAttemptPage)
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	page, err := s.webhooks.Reads.Attempts(ctx, slug, id, before, limit)
	if err != nil {
		return fmt.Errorf("webhook deliveries: %w", err)
	}
	out := struct {
		Deliveries []attemptJSON `json:"deliveries"`
		Next       *string       `json:"next"`
	}{Deliveries: make([]attemptJSON, 0, len(page))}
	for _, a := range page {
		out.Deliveries = append(out.Deliveries, newAttemptJSON(a))
	}
	// A full page may have more after it; the next page may then be
	// empty.
	if len(page) == limit && limit > 0 {
		next := strconv.FormatInt(page[len(page)-1].ID, 10)
		out.Next = &next
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, out)
}

// ---- JSON

// webhookJSON is an endpoint as the API shows it: never a secret, but
// the one a creation or rotation made, once.
type webhookJSON struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Types       []string `json:"types"`
	Description string   `json:"description"`
	Active      bool     `json:"active"`
	// DisabledReason and DisabledAutomatically say why, and whether the
	// platform decided it, while the endpoint is inactive.
	DisabledReason        *string             `json:"disabled_reason,omitempty"`
	DisabledAutomatically *bool               `json:"disabled_automatically,omitempty"`
	Secrets               []webhookSecretJSON `json:"secrets"`
	CreatedAt             time.Time           `json:"created_at"`
	UpdatedAt             time.Time           `json:"updated_at"`
	Version               int64               `json:"version"`
	Delivery              deliveryJSON        `json:"delivery"`
	// Secret is the plaintext signing secret, shown once.
	Secret string `json:"secret,omitempty"`
}

// webhookSecretJSON names a signing secret, never its value.
type webhookSecretJSON struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	Until     *time.Time `json:"until,omitempty"`
}

// deliveryJSON is where an endpoint's deliveries stand.
type deliveryJSON struct {
	// Cursor: every event up to it was delivered or did not match.
	Cursor       string     `json:"cursor"`
	Failures     int        `json:"failures"`
	FailingSince *time.Time `json:"failing_since"`
	NextAttempt  *time.Time `json:"next_attempt"`
	LastAttempt  *time.Time `json:"last_attempt"`
	LastStatus   *int       `json:"last_status"`
	LastError    *string    `json:"last_error"`
}

func newWebhookJSON(ep webhooks.Endpoint) webhookJSON {
	st := ep.State
	out := webhookJSON{
		ID: st.ID, URL: st.Settings.URL, Types: st.Settings.Types, Description: st.Settings.Description, Active: st.Active,
		Secrets: make([]webhookSecretJSON, 0, len(st.Secrets)), CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt, Version: st.Version,
	}
	if out.Types == nil {
		out.Types = []string{}
	}
	if !st.Active {
		reason, auto := st.Reason, st.Automatic
		out.DisabledReason, out.DisabledAutomatically = &reason, &auto
	}
	for _, sec := range st.Secrets {
		out.Secrets = append(out.Secrets, webhookSecretJSON{ID: sec.ID, CreatedAt: sec.CreatedAt, Until: timePtr(sec.Until)})
	}
	d := ep.Delivery
	out.Delivery = deliveryJSON{Failures: d.Failures, FailingSince: timePtr(d.FailingSince), NextAttempt: timePtr(d.NextAttempt),
		LastAttempt: timePtr(d.LastAttempt)}
	if !d.Cursor.IsZero() {
		out.Delivery.Cursor = d.Cursor.String()
	}
	if !d.LastAttempt.IsZero() {
		status, msg := d.LastStatus, d.LastError
		out.Delivery.LastStatus = &status
		if msg != "" {
			out.Delivery.LastError = &msg
		}
	}
	return out
}

// attemptJSON is one entry of the delivery log.
type attemptJSON struct {
	ID        int64      `json:"id"`
	MessageID string     `json:"message_id"`
	EventType string     `json:"event_type"`
	Cursor    string     `json:"cursor"`
	Trigger   string     `json:"trigger"`
	At        time.Time  `json:"at"`
	Status    int        `json:"status"`
	LatencyMS float64    `json:"latency_ms"`
	Succeeded bool       `json:"succeeded"`
	Error     string     `json:"error"`
	NextRetry *time.Time `json:"next_retry"`
}

func newAttemptJSON(a webhooks.Attempt) attemptJSON {
	return attemptJSON{ID: a.ID, MessageID: a.MessageID, EventType: a.EventType, Cursor: a.Cursor, Trigger: string(a.Trigger),
		At: a.At, Status: a.Status, LatencyMS: float64(a.Latency.Microseconds()) / 1000, Succeeded: a.Succeeded(), Error: a.Error,
		NextRetry: timePtr(a.NextRetry)}
}

// timePtr is nil for the zero time, so that JSON shows null, not year 1.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
