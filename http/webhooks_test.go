package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/eventstore"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/projections/webhooks/deliver"
	"github.com/clavisiam/clavis/tenants/signing"
)

// webhookResponse is an endpoint as the admin API answers it.
type webhookResponse struct {
	ID                    string   `json:"id"`
	URL                   string   `json:"url"`
	Types                 []string `json:"types"`
	Description           string   `json:"description"`
	Active                bool     `json:"active"`
	DisabledReason        *string  `json:"disabled_reason"`
	DisabledAutomatically *bool    `json:"disabled_automatically"`
	Secrets               []struct {
		ID        string     `json:"id"`
		CreatedAt time.Time  `json:"created_at"`
		Until     *time.Time `json:"until"`
	} `json:"secrets"`
	Version  int64 `json:"version"`
	Delivery struct {
		Cursor      string     `json:"cursor"`
		Failures    int        `json:"failures"`
		LastAttempt *time.Time `json:"last_attempt"`
		LastStatus  *int       `json:"last_status"`
	} `json:"delivery"`
	Secret string `json:"secret"`
}

type attemptResponse struct {
	ID        int64   `json:"id"`
	MessageID string  `json:"message_id"`
	EventType string  `json:"event_type"`
	Cursor    string  `json:"cursor"`
	Trigger   string  `json:"trigger"`
	Status    int     `json:"status"`
	Succeeded bool    `json:"succeeded"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error"`
}

type attemptListResponse struct {
	Deliveries []attemptResponse `json:"deliveries"`
	Next       *string           `json:"next"`
}

// receiver is a webhook receiver on 127.0.0.1 that answers 200 and
// keeps what it got.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []http.Header
	paths []string
}

// count is how many messages the receiver got at path.
func (r *receiver) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.paths {
		if p == path {
			n++
		}
	}
	return n
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.got = append(r.got, req.Header.Clone())
		r.paths = append(r.paths, req.URL.Path)
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

// startWebhooks starts the harness with a node that may deliver to
// 127.0.0.1, where the tests' receivers listen.
func startWebhooks(t *testing.T) *adminHarness {
	t.Helper()
	return startAdminWith(t, func(cfg *node.Config) { cfg.WebhooksAllowPrivate = true })
}

func (h *adminHarness) createWebhook(t *testing.T, tenant string, body map[string]any, opts ...callOpt) webhookResponse {
	t.Helper()
	return decodeAs[webhookResponse](t, h.call(t, "POST", "/t/"+tenant+"/admin/webhooks", body, opts...).want(t, 201))
}

// noWebhookSecrets fails when an answer holds a sealed secret, or one of
// the plaintexts.
func noWebhookSecrets(t *testing.T, what string, r response, plaintexts ...string) {
	t.Helper()
	body := string(r.body)
	for _, bad := range append([]string{signing.SealedSecretPrefix, "whsec_"}, plaintexts...) {
		if strings.Contains(body, bad) {
			t.Errorf("%s shows secret material %q: %s", what, bad, body)
		}
	}
}

func TestWebhookRoutes(t *testing.T) {
	t.Parallel()
	h := startWebhooks(t)
	h.createTenant(t, "acme")
	rcv := newReceiver(t)
	base := "/t/acme/admin/webhooks"

	created := h.call(t, "POST", base, map[string]any{"url": rcv.URL + "/hook", "types": []string{"client.*"}, "description": " ci "},
		header(httpapi.ReasonHeader, "ticket 42")).want(t, 201)
	wh := decodeAs[webhookResponse](t, created)
	if !strings.HasPrefix(wh.Secret, "whsec_") || !strings.HasPrefix(wh.ID, "wh_") || wh.Version != 1 || !wh.Active ||
		wh.Description != "ci" || !cmp.Equal(wh.Types, []string{"client.*"}) || len(wh.Secrets) != 1 || wh.Secrets[0].Until != nil {
		t.Fatalf("created %s", created.body)
	}
	if strings.Contains(string(created.body), signing.SealedSecretPrefix) {
		t.Errorf("the creation shows the sealed secret: %s", created.body)
	}
	if created.header.Get("Location") != base+"/"+wh.ID || created.header.Get("ETag") != `"1"` || created.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", created.header)
	}
	if wh.Delivery.Cursor == "" {
		t.Errorf("a new endpoint's deliveries start at its creation: %s", created.body)
	}
	if wh.DisabledReason != nil || wh.DisabledAutomatically != nil {
		t.Errorf("an active endpoint shows a disabled reason: %s", created.body)
	}
	first := wh.Secret
	path := base + "/" + wh.ID

	t.Run("the secret is shown once", func(t *testing.T) {
		got := h.call(t, "GET", path, nil).want(t, 200)
		noWebhookSecrets(t, "GET", got, first)
		if strings.Contains(string(got.body), `"secret"`) {
			t.Errorf("GET shows a secret member: %s", got.body)
		}
		list := h.call(t, "GET", base, nil).want(t, 200)
		noWebhookSecrets(t, "list", list, first)
		var l struct {
			Webhooks []webhookResponse `json:"webhooks"`
		}
		if err := json.Unmarshal(list.body, &l); err != nil || len(l.Webhooks) != 1 || l.Webhooks[0].ID != wh.ID {
			t.Errorf("list %s", list.body)
		}
	})

	t.Run("patch changes what it names", func(t *testing.T) {
		got := decodeAs[webhookResponse](t, h.call(t, "PATCH", path, map[string]any{"description": "nightly"}, contentType("application/merge-patch+json")).want(t, 200))
		if got.Description != "nightly" || got.URL != rcv.URL+"/hook" || got.Version != 2 || got.Secret != "" {
			t.Errorf("patched %+v", got)
		}
		got = decodeAs[webhookResponse](t, h.call(t, "PATCH", path, map[string]any{"types": nil}).want(t, 200))
		if !cmp.Equal(got.Types, []string{"*"}) || got.Version != 3 {
			t.Errorf("types null: %+v", got)
		}
		checkProblem(t, h.call(t, "PATCH", path, map[string]any{"description": "x"}, header("If-Match", `"1"`)), 412, httpapi.ProblemPreconditionFailed, "")
		checkProblem(t, h.call(t, "PATCH", path, map[string]any{"description": "x", "version": 1}), 409, httpapi.ProblemConflict, "")
		h.call(t, "PATCH", path, map[string]any{"description": "x"}, header("If-Match", `"3"`)).want(t, 200)
	})

	t.Run("rotation shows the new secret once and keeps the old one signing for the overlap", func(t *testing.T) {
		r := h.call(t, "POST", path+"/secret/rotate", map[string]any{"overlap_seconds": 3600}).want(t, 200)
		if strings.Contains(string(r.body), signing.SealedSecretPrefix) || strings.Contains(string(r.body), first) {
			t.Errorf("the rotation shows a sealed or the previous secret: %s", r.body)
		}
		got := decodeAs[webhookResponse](t, r)
		if !strings.HasPrefix(got.Secret, "whsec_") || got.Secret == first || len(got.Secrets) != 2 || got.Secrets[0].Until == nil || got.Secrets[1].Until != nil {
			t.Fatalf("rotated %s", r.body)
		}
		if d := got.Secrets[0].Until.Sub(got.Secrets[1].CreatedAt); d != time.Hour {
			t.Errorf("overlap %s", d)
		}
		noWebhookSecrets(t, "GET after rotation", h.call(t, "GET", path, nil).want(t, 200), first, got.Secret)
		// No body: the default overlap.
		got = decodeAs[webhookResponse](t, h.call(t, "POST", path+"/secret/rotate", nil).want(t, 200))
		if d := got.Secrets[len(got.Secrets)-2].Until.Sub(got.Secrets[len(got.Secrets)-1].CreatedAt); d != 24*time.Hour {
			t.Errorf("default overlap %s", d)
		}
	})

	t.Run("deactivate and activate", func(t *testing.T) {
		got := decodeAs[webhookResponse](t, h.call(t, "POST", path+"/deactivate", map[string]any{"reason": "maintenance"}).want(t, 200))
		if got.Active || got.DisabledReason == nil || *got.DisabledReason != "maintenance" || got.DisabledAutomatically == nil || *got.DisabledAutomatically {
			t.Errorf("deactivated %+v", got)
		}
		got = decodeAs[webhookResponse](t, h.call(t, "GET", path, nil).want(t, 200))
		if got.Active {
			t.Errorf("GET after deactivate: %+v", got)
		}
		got = decodeAs[webhookResponse](t, h.call(t, "POST", path+"/activate", nil).want(t, 200))
		if !got.Active || got.DisabledReason != nil {
			t.Errorf("activated %+v", got)
		}
	})

	t.Run("ping, resend and the delivery log", func(t *testing.T) {
		ping := decodeAs[attemptResponse](t, h.call(t, "POST", path+"/ping", nil).want(t, 200))
		if ping.Trigger != "ping" || ping.Status != 200 || !ping.Succeeded || ping.MessageID == "" || ping.Cursor != "" {
			t.Errorf("ping %+v", ping)
		}
		events, err := h.store.ReadTenant(t.Context(), "acme", eventstore.Position{}, 1)
		if err != nil || len(events) == 0 {
			t.Fatal(err)
		}
		cursor := events[0].Position.String()
		resend := decodeAs[attemptResponse](t, h.call(t, "POST", path+"/resend", map[string]any{"event": cursor}).want(t, 200))
		if resend.Trigger != "resend" || resend.Cursor != cursor || resend.MessageID != events[0].ID || !resend.Succeeded {
			t.Errorf("resend %+v", resend)
		}
		checkProblem(t, h.call(t, "POST", path+"/resend", map[string]any{"event": "999999999.0"}), 404, httpapi.ProblemNotFound, "")

		logged := h.call(t, "GET", path+"/deliveries", nil).want(t, 200)
		noWebhookSecrets(t, "the delivery log", logged, first)
		log := decodeAs[attemptListResponse](t, logged)
		var triggers []string
		for _, a := range log.Deliveries {
			if a.Trigger != "delivery" {
				triggers = append(triggers, a.Trigger)
			}
		}
		if len(triggers) < 2 || triggers[0] != "resend" || triggers[1] != "ping" {
			t.Errorf("log, newest first: %+v", log)
		}
		// Paging: one at a time, following next.
		page := decodeAs[attemptListResponse](t, h.call(t, "GET", path+"/deliveries?limit=1", nil).want(t, 200))
		if len(page.Deliveries) != 1 || page.Next == nil {
			t.Fatalf("page %+v", page)
		}
		second := decodeAs[attemptListResponse](t, h.call(t, "GET", path+"/deliveries?limit=1&before="+*page.Next, nil).want(t, 200))
		if len(second.Deliveries) != 1 || second.Deliveries[0].ID >= page.Deliveries[0].ID {
			t.Errorf("second page %+v after %+v", second, page)
		}
		rcv.mu.Lock()
		got := slices.Clone(rcv.got)
		rcv.mu.Unlock()
		if len(got) < 2 {
			t.Errorf("the receiver got %d messages", len(got))
		}
		for _, hd := range got {
			if hd.Get("webhook-id") == "" || !strings.HasPrefix(hd.Get("webhook-signature"), "v1,") {
				t.Errorf("a message without Standard Webhooks headers: %v", hd)
			}
		}
	})

	t.Run("replay", func(t *testing.T) {
		got := decodeAs[webhookResponse](t, h.call(t, "POST", path+"/replay", map[string]any{"from": ""}).want(t, 200))
		if got.Version < 2 {
			t.Errorf("replay %+v", got)
		}
		h.call(t, "POST", path+"/replay", map[string]any{"from": wh.Delivery.Cursor}).want(t, 200)
	})

	t.Run("delete", func(t *testing.T) {
		r := h.call(t, "DELETE", path, nil).want(t, 204)
		if len(r.body) != 0 {
			t.Errorf("204 with a body: %s", r.body)
		}
		checkProblem(t, h.call(t, "GET", path, nil), 404, httpapi.ProblemNotFound, "")
		checkProblem(t, h.call(t, "DELETE", path, nil), 404, httpapi.ProblemNotFound, "")
		checkProblem(t, h.call(t, "POST", path+"/ping", nil), 404, httpapi.ProblemNotFound, "")
		var l struct {
			Webhooks []webhookResponse `json:"webhooks"`
		}
		if err := json.Unmarshal(h.call(t, "GET", base, nil).want(t, 200).body, &l); err != nil || len(l.Webhooks) != 0 {
			t.Errorf("list after delete: %+v", l)
		}
	})

	t.Run("the audit log has every change, redacted, with who and why", func(t *testing.T) {
		var events []struct {
			Type   string          `json:"type"`
			Actor  string          `json:"actor"`
			Reason string          `json:"reason"`
			Data   json.RawMessage `json:"data"`
		}
		var last response
		poll.UntilNil(t, 20*time.Second, func() error {
			last = h.call(t, "GET", "/t/acme/audit/events?aggregate=webhook", nil).want(t, 200)
			var page struct {
				Events json.RawMessage `json:"events"`
			}
			if err := json.Unmarshal(last.body, &page); err != nil {
				return err
			}
			if err := json.Unmarshal(page.Events, &events); err != nil {
				return err
			}
			if len(events) == 0 || events[len(events)-1].Type != "webhook.deleted" {
				return fmt.Errorf("the audit log has %d webhook events so far", len(events))
			}
			return nil
		})
		noWebhookSecrets(t, "the audit log", last, first)
		if events[0].Type != "webhook.created" || events[0].Actor != "root" || events[0].Reason != "ticket 42" {
			t.Errorf("first audit event %+v", events[0])
		}
		if !strings.Contains(string(events[0].Data), `"sealed":"[REDACTED]"`) {
			t.Errorf("created event data: %s", events[0].Data)
		}
	})
}

func TestWebhookIsolationAndScopes(t *testing.T) {
	t.Parallel()
	h := startWebhooks(t)
	acmeID, acmeSecret := h.tenantAdmin(t, "acme")
	betaID, betaSecret := h.tenantAdmin(t, "beta")
	acmeAdmin := token(h.accessToken(t, "acme", acmeID, acmeSecret))
	betaAdmin := token(h.accessToken(t, "beta", betaID, betaSecret))
	rcv := newReceiver(t)
	mine := h.createWebhook(t, "acme", map[string]any{"url": rcv.URL + "/acme"}, acmeAdmin)
	theirs := h.createWebhook(t, "beta", map[string]any{"url": rcv.URL + "/beta"}, betaAdmin)
	if mine.Secret == "" || theirs.Secret == "" {
		t.Fatal("no secrets")
	}
	m2m := func(code string, scopes ...string) callOpt {
		c, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": code, "code": "urn:acme/" + code,
			"grant_types": []string{"client_credentials"}, "default_scopes": scopes})
		return token(h.accessToken(t, "acme", c.ClientID, c.ClientSecret))
	}
	writer, reader, events := m2m("writer", "clavis:clients:write"), m2m("reader", "clavis:clients:read"), m2m("events", "clavis:events:read")

	routes := func(tenant, id string) []struct {
		method, path string
		body         any
	} {
		base := "/t/" + tenant + "/admin/webhooks"
		p := base + "/" + id
		return []struct {
			method, path string
			body         any
		}{
			{"POST", base, map[string]any{"url": "https://example.com/x"}},
			{"GET", base, nil},
			{"GET", p, nil},
			{"PATCH", p, map[string]any{"description": "x"}},
			{"POST", p + "/secret/rotate", nil},
			{"POST", p + "/deactivate", nil},
			{"POST", p + "/activate", nil},
			{"GET", p + "/deliveries", nil},
			{"POST", p + "/replay", map[string]any{"from": ""}},
			{"POST", p + "/resend", map[string]any{"event": "1.0"}},
			{"POST", p + "/ping", nil},
			{"DELETE", p, nil},
		}
	}

	t.Run("another tenant's admin token finds nothing", func(t *testing.T) {
		before := h.head(t)
		// Acme's own endpoint may be delivering acme's events meanwhile;
		// nothing may reach beta's.
		pings := rcv.count("/beta")
		for _, r := range routes("beta", theirs.ID) {
			res := h.call(t, r.method, r.path, r.body, acmeAdmin)
			checkProblem(t, res, 404, httpapi.ProblemNotFound, "")
			noWebhookSecrets(t, r.method+" "+r.path, res, theirs.Secret)
		}
		// Beta's endpoint under acme's path: not found either.
		for _, r := range routes("acme", theirs.ID)[2:] {
			checkProblem(t, h.call(t, r.method, r.path, r.body, acmeAdmin), 404, httpapi.ProblemNotFound, "")
		}
		h.unchanged(t, before, "acme's token at beta's endpoints")
		if rcv.count("/beta") != pings {
			t.Errorf("a cross-tenant request reached beta's receiver")
		}
		got := decodeAs[webhookResponse](t, h.call(t, "GET", "/t/beta/admin/webhooks/"+theirs.ID, nil, betaAdmin).want(t, 200))
		if got.Version != 1 || !got.Active {
			t.Errorf("beta's endpoint changed: %+v", got)
		}
	})

	t.Run("only clavis:admin opens webhooks", func(t *testing.T) {
		before := h.head(t)
		for name, tok := range map[string]callOpt{"clavis:clients:write": writer, "clavis:clients:read": reader, "clavis:events:read": events} {
			for _, r := range routes("acme", mine.ID) {
				res := h.call(t, r.method, r.path, r.body, tok)
				checkProblem(t, res, 403, httpapi.ProblemForbidden, "")
				if !strings.Contains(res.header.Get("WWW-Authenticate"), "insufficient_scope") {
					t.Errorf("%s %s with %s: no insufficient_scope", r.method, r.path, name)
				}
			}
		}
		for _, r := range routes("acme", mine.ID) {
			res := h.call(t, r.method, r.path, r.body, noAuth)
			if res.status != 401 {
				t.Errorf("%s %s without a token = %d", r.method, r.path, res.status)
			}
		}
		h.unchanged(t, before, "tokens without clavis:admin")
		// The admin token works, and the root token.
		h.call(t, "GET", "/t/acme/admin/webhooks/"+mine.ID, nil, acmeAdmin).want(t, 200)
		h.call(t, "GET", "/t/acme/admin/webhooks/"+mine.ID, nil).want(t, 200)
	})

	t.Run("a suspended tenant's endpoints cannot change", func(t *testing.T) {
		h.call(t, "POST", "/admin/tenants/beta/suspend", nil).want(t, 200)
		before := h.head(t)
		checkProblem(t, h.call(t, "POST", "/t/beta/admin/webhooks/"+theirs.ID+"/deactivate", nil), 403, httpapi.ProblemTenantSuspended, "")
		checkProblem(t, h.call(t, "POST", "/t/beta/admin/webhooks", map[string]any{"url": "https://example.com/"}), 403, httpapi.ProblemTenantSuspended, "")
		h.unchanged(t, before, "writes of a suspended tenant")
		h.call(t, "GET", "/t/beta/admin/webhooks/"+theirs.ID, nil).want(t, 200)
	})
}

func TestWebhookBadInput(t *testing.T) {
	t.Parallel()
	h := startWebhooks(t)
	h.createTenant(t, "acme")
	wh := h.createWebhook(t, "acme", map[string]any{"url": "https://hooks.example.com/x"})
	base := "/t/acme/admin/webhooks"
	p := base + "/" + wh.ID
	before := h.head(t)

	bodies := []struct {
		method, path string
		required     bool
	}{
		{"POST", base, true},
		{"PATCH", p, true},
		{"POST", p + "/secret/rotate", false},
		{"POST", p + "/activate", false},
		{"POST", p + "/deactivate", false},
		{"POST", p + "/replay", true},
		{"POST", p + "/resend", true},
		{"POST", p + "/ping", false},
	}
	for _, b := range bodies {
		what := b.method + " " + b.path
		checkProblem(t, h.call(t, b.method, b.path, `{"url":`), 400, httpapi.ProblemMalformedJSON, "")
		checkProblem(t, h.call(t, b.method, b.path, `{"nope":1}`), 400, httpapi.ProblemUnknownField, "nope")
		checkProblem(t, h.call(t, b.method, b.path, "{\"description\":\"\xff\"}"), 400, httpapi.ProblemMalformedJSON, "")
		checkProblem(t, h.call(t, b.method, b.path, `{}{}`), 400, httpapi.ProblemMalformedJSON, "")
		checkProblem(t, h.call(t, b.method, b.path, `{}`, contentType("text/plain")), 415, httpapi.ProblemUnsupportedMediaType, "")
		if r := h.call(t, b.method, b.path, oversized{}); r.status != 413 {
			t.Errorf("%s oversized = %d", what, r.status)
		}
		if b.required {
			checkProblem(t, h.call(t, b.method, b.path, nil), 400, httpapi.ProblemMalformedJSON, "")
		}
		refusedWith(t, what+" ?x=1", h.call(t, b.method, b.path+"?x=1", nil), httpapi.ProblemUnknownParameter, "x")
		refusedWith(t, what+" bad reason", h.call(t, b.method, b.path, `{}`, header(httpapi.ReasonHeader, strings.Repeat("a", 1001))), httpapi.ProblemInvalidParameter, httpapi.ReasonHeader)
	}
	invalid := []struct {
		method, path string
		body         any
		field        string
	}{
		{"POST", base, map[string]any{"url": "http://example.com/"}, "url"},
		{"POST", base, map[string]any{"url": "https://u:p@example.com/"}, "url"},
		{"POST", base, map[string]any{"url": ""}, "url"},
		{"POST", base, map[string]any{"url": "https://example.com/", "types": []string{"not a type"}}, "types"},
		{"POST", base, map[string]any{"url": "https://example.com/", "description": "a\u202eb"}, "description"},
		{"PATCH", p, map[string]any{"url": "ftp://example.com/"}, "url"},
		{"POST", p + "/secret/rotate", map[string]any{"overlap_seconds": 8 * 24 * 3600}, "overlap_seconds"},
		{"POST", p + "/secret/rotate", map[string]any{"overlap_seconds": -1}, "overlap_seconds"},
		{"POST", p + "/deactivate", map[string]any{"reason": "a\nb"}, "reason"},
		{"POST", p + "/replay", map[string]any{"from": "yesterday"}, "from"},
		{"POST", p + "/replay", map[string]any{}, "from"},
		{"POST", p + "/resend", map[string]any{"event": "x"}, "event"},
		{"POST", p + "/resend", map[string]any{}, "event"},
	}
	for _, c := range invalid {
		r := h.call(t, c.method, c.path, c.body)
		p := decodeAs[httpapi.Problem](t, r)
		if r.status != 422 || p.Type != httpapi.ProblemValidation || len(p.Errors) == 0 || p.Errors[0].Field != c.field {
			t.Errorf("%s %s %v = %d %s, want 422 naming %s", c.method, c.path, c.body, r.status, r.body, c.field)
		}
	}
	checkProblem(t, h.call(t, "PATCH", p, map[string]any{"version": 0}), 400, httpapi.ProblemMalformedJSON, "version")
	checkProblem(t, h.call(t, "PATCH", p, map[string]any{"types": "client.*"}), 400, httpapi.ProblemMalformedJSON, "")
	checkProblem(t, h.call(t, "PATCH", p, map[string]any{"description": "x"}, header("If-Match", "W/\"1\"")), 412, httpapi.ProblemPreconditionFailed, "")

	for _, q := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=x", "limit"}, {"before=0", "before"}, {"before=-1", "before"},
		{"before=1x", "before"}, {"before=1&before=2", "before"}, {"limit=%00", "limit"}, {"after=1", "after"},
	} {
		typ := httpapi.ProblemInvalidParameter
		if q.field == "after" {
			typ = httpapi.ProblemUnknownParameter
		}
		refusedWith(t, "deliveries?"+q.query, h.call(t, "GET", p+"/deliveries?"+q.query, nil), typ, q.field)
	}
	refusedWith(t, "list?limit", h.call(t, "GET", base+"?limit=1", nil), httpapi.ProblemUnknownParameter, "limit")

	for _, id := range []string{"nope", "wh_", "wh_UPPER", "wh_" + strings.Repeat("a", 80), "wh_a%2Fb", "wh_nothere"} {
		checkProblem(t, h.call(t, "GET", base+"/"+id, nil), 404, httpapi.ProblemNotFound, "")
		checkProblem(t, h.call(t, "POST", base+"/"+id+"/activate", nil), 404, httpapi.ProblemNotFound, "")
	}
	checkProblem(t, h.call(t, "GET", "/t/nope/admin/webhooks", nil), 404, httpapi.ProblemNotFound, "")
	checkProblem(t, h.call(t, "POST", "/t/nope/admin/webhooks", map[string]any{"url": "https://example.com/"}), 404, httpapi.ProblemNotFound, "")
	h.unchanged(t, before, "bad input")
}

func TestWebhookLimit(t *testing.T) {
	t.Parallel()
	h := startWebhooks(t)
	h.createTenant(t, "acme")
	for i := range 50 {
		h.createWebhook(t, "acme", map[string]any{"url": fmt.Sprintf("https://hooks.example.com/%d", i)})
	}
	before := h.head(t)
	checkProblem(t, h.call(t, "POST", "/t/acme/admin/webhooks", map[string]any{"url": "https://hooks.example.com/51"}), 409, httpapi.ProblemWebhookLimit, "")
	h.unchanged(t, before, "over the limit")
}

// TestWebhookDisabledAutomatically: an endpoint whose receiver keeps
// failing is disabled by the platform, through the command service: the
// API shows why and that the platform did it, the audit log has the
// deactivation by the actor system, and an administrator turns it on
// again.
func TestWebhookDisabledAutomatically(t *testing.T) {
	t.Parallel()
	h := startAdminNode(t, func(cfg *node.Config) { cfg.WebhooksAllowPrivate = true }, node.WithWebhookDelivery(
		deliver.WithPoll(100*time.Millisecond), deliver.WithFailurePeriod(time.Second),
		deliver.WithRetrySchedule(func(int) time.Duration { return 100 * time.Millisecond })))
	h.createTenant(t, "acme")
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	t.Cleanup(failing.Close)
	wh := h.createWebhook(t, "acme", map[string]any{"url": failing.URL + "/hook"})
	h.createClient(t, "acme", webClient("urn:acme/web"))

	path := "/t/acme/admin/webhooks/" + wh.ID
	var got webhookResponse
	poll.Until(t, 20*time.Second, "the endpoint disabled", func() bool {
		got = decodeAs[webhookResponse](t, h.call(t, "GET", path, nil).want(t, 200))
		return !got.Active
	})
	if got.DisabledAutomatically == nil || !*got.DisabledAutomatically || got.DisabledReason == nil || *got.DisabledReason == "" {
		t.Errorf("disabled %+v", got)
	}
	if got.Delivery.LastStatus == nil || *got.Delivery.LastStatus != http.StatusBadGateway {
		t.Errorf("delivery %+v", got.Delivery)
	}
	log := decodeAs[attemptListResponse](t, h.call(t, "GET", path+"/deliveries", nil).want(t, 200))
	if len(log.Deliveries) == 0 || log.Deliveries[0].Trigger != "delivery" || log.Deliveries[0].Status != http.StatusBadGateway || log.Deliveries[0].Succeeded {
		t.Errorf("log %+v", log)
	}
	stream, err := h.store.ReadStream(t.Context(), eventstore.StreamID{Tenant: "acme", Type: "webhook", ID: wh.ID}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := stream[len(stream)-1]; last.Type != "webhook.deactivated" || last.Meta.Actor != "system" || last.Meta.Reason == "" {
		t.Errorf("last event %s by %q for %q", last.Type, last.Meta.Actor, last.Meta.Reason)
	}
	on := decodeAs[webhookResponse](t, h.call(t, "POST", path+"/activate", nil).want(t, 200))
	if !on.Active || on.DisabledReason != nil || on.DisabledAutomatically != nil {
		t.Errorf("activated %+v", on)
	}
}
