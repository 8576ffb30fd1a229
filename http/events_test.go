package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain/eventtype"
	"github.com/clavisiam/clavis/eventstore"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/node"
)

// readerClient is an m2m client whose only scope is clavis:events:read.
func readerClient(code string) map[string]any {
	return map[string]any{"type": "m2m", "client_name": "Reader " + code, "code": code,
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:events:read"}}
}

// eventsTenant is a tenant of an events test: its admin token and the
// token of a client that may only read its events.
type eventsTenant struct {
	slug          string
	admin, reader string
}

// startEvents starts a harness whose events API is adjusted by adjust.
func startEvents(t *testing.T, adjust func(*httpapi.Events)) *adminHarness {
	t.Helper()
	return startAdminNode(t, func(*node.Config) {}, node.WithEvents(adjust))
}

// eventsTenant creates a tenant with a reader client.
func (h *adminHarness) eventsTenant(t *testing.T, slug string) eventsTenant {
	t.Helper()
	id, secret := h.tenantAdmin(t, slug)
	admin := h.accessToken(t, slug, id, secret)
	r, _ := h.newClient(t, slug, readerClient("urn:"+slug+"/reader"), token(admin))
	return eventsTenant{slug: slug, admin: admin, reader: h.accessToken(t, slug, r.ClientID, r.ClientSecret)}
}

// churn makes n clients at tenant and changes each: registered,
// updated, secret rotated, deactivated, one in three deleted.
func (h *adminHarness) churn(t *testing.T, tn eventsTenant, n int) {
	t.Helper()
	for i := range n {
		c, _ := h.newClient(t, tn.slug, webClient(fmt.Sprintf("urn:%s/web-%d", tn.slug, i)), token(tn.admin))
		one := "/t/" + tn.slug + "/admin/clients/" + c.ClientID
		h.call(t, "PATCH", one, `{"client_name":"Renamed"}`, token(tn.admin)).want(t, 200)
		h.call(t, "POST", one+"/secrets/rotate", map[string]any{}, token(tn.admin)).want(t, 200)
		h.call(t, "POST", one+"/deactivate", map[string]string{"reason": "test"}, token(tn.admin)).want(t, 200)
		if i%3 == 0 {
			h.call(t, "DELETE", one, nil, token(tn.admin)).want(t, 204)
		}
	}
}

// storeEvents is what the store holds of tenant after the position,
// that f matches.
func (h *adminHarness) storeEvents(t *testing.T, tenant string, after eventstore.Position, f eventtype.Filter) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for {
		page, err := h.store.ReadTenant(t.Context(), tenant, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if f.Match(e.Type) {
				out = append(out, e)
			}
			after = e.Position
		}
		if len(page) < 1000 {
			return out
		}
	}
}

// cloudEvent is what the tests read of a CloudEvent.
type cloudEvent struct {
	ID       string          `json:"id"`
	Source   string          `json:"source"`
	Type     string          `json:"type"`
	Tenant   string          `json:"clavistenant"`
	Position string          `json:"clavisposition"`
	Data     json.RawMessage `json:"data"`
}

type eventsPage struct {
	Events []cloudEvent `json:"events"`
	Next   string       `json:"next"`
}

// pageThrough reads the feed at path (with its query) page by page from
// after, until an empty page; it returns the events and the last next.
func (h *adminHarness) pageThrough(t *testing.T, path, after string, opts ...callOpt) ([]cloudEvent, string) {
	t.Helper()
	var all []cloudEvent
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for range 1000 {
		q := path
		if after != "" {
			q += sep + "after=" + after
		}
		p := decodeAs[eventsPage](t, h.call(t, "GET", q, nil, opts...).want(t, 200))
		if after != "" && p.Next != after {
			if next, _ := eventstore.ParsePosition(p.Next); !must(eventstore.ParsePosition(after)).Less(next) {
				t.Fatalf("%s: next %s is not after %s", q, p.Next, after)
			}
		}
		if len(p.Events) == 0 {
			if after != "" && p.Next != after {
				// A page may end empty having only skipped events the
				// filter left out; the next then moves on.
				after = p.Next
				continue
			}
			return all, p.Next
		}
		all = append(all, p.Events...)
		after = p.Next
	}
	t.Fatal("the feed never ends")
	return nil, ""
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// ids lists the CloudEvent ids of events, and the positions.
func ids(events []cloudEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID + "@" + e.Position
	}
	return out
}

func storeIDs(events []eventstore.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID + "@" + e.Position.String()
	}
	return out
}

// TestEventsPages: a reader pages through its tenant's feed, with each
// kind of filter, and gets exactly the store's events of that tenant in
// store order, as public CloudEvents.
func TestEventsPages(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	acme, beta := h.eventsTenant(t, "acme"), h.eventsTenant(t, "beta")
	h.churn(t, acme, 4)
	h.churn(t, beta, 3)
	for _, tn := range []eventsTenant{acme, beta} {
		for _, tc := range []struct {
			name  string
			types []string
			limit int
		}{
			{"everything, two at a time", nil, 2},
			{"everything, default page", nil, 0},
			{"star", []string{"*"}, 3},
			{"one type", []string{"client.registered"}, 2},
			{"one type as a CloudEvent type", []string{"dev.clavis.client.secret_rotated"}, 1},
			{"an aggregate", []string{"client.*"}, 5},
			{"two types", []string{"client.deleted", "client.deactivated"}, 2},
			{"the tenant's own events", []string{"tenant.*"}, 1},
			{"a type that never happens", []string{"client.activated"}, 1},
		} {
			t.Run(tn.slug+"/"+tc.name, func(t *testing.T) {
				q := url.Values{}
				for _, p := range tc.types {
					q.Add("type", p)
				}
				if tc.limit > 0 {
					q.Set("limit", fmt.Sprint(tc.limit))
				}
				path := "/t/" + tn.slug + "/events"
				if len(q) > 0 {
					path += "?" + q.Encode()
				}
				got, _ := h.pageThrough(t, path, "", token(tn.reader))
				f := must(eventtype.Parse(tc.types))
				want := h.storeEvents(t, tn.slug, eventstore.Position{}, f)
				if diff := cmp.Diff(storeIDs(want), ids(got)); diff != "" {
					t.Fatalf("the feed differs from the store (-store +feed):\n%s", diff)
				}
				for _, e := range got {
					if e.Tenant != tn.slug || e.Source != "/t/"+tn.slug || !f.Match(strings.TrimPrefix(e.Type, eventtype.CloudEventPrefix)) {
						t.Errorf("event %s: tenant %q, source %q, type %q", e.ID, e.Tenant, e.Source, e.Type)
					}
					for _, bad := range []string{`"hash"`, "cls_", `"client_secret"`} {
						if strings.Contains(string(e.Data), bad) {
							t.Errorf("event %s shows secret material %s: %s", e.ID, bad, e.Data)
						}
					}
				}
				if tc.types == nil && len(got) < 15 {
					t.Errorf("only %d events", len(got))
				}
			})
		}
	}
	t.Run("a page from the middle, and the end", func(t *testing.T) {
		all := h.storeEvents(t, "acme", eventstore.Position{}, eventtype.Filter{})
		mid := all[len(all)/2].Position.String()
		p := decodeAs[eventsPage](t, h.call(t, "GET", "/t/acme/events?limit=3&after="+mid, nil, token(acme.reader)).want(t, 200))
		if diff := cmp.Diff(storeIDs(all[len(all)/2+1:len(all)/2+4]), ids(p.Events)); diff != "" {
			t.Errorf("page after %s (-store +feed):\n%s", mid, diff)
		}
		last := all[len(all)-1].Position.String()
		r := h.call(t, "GET", "/t/acme/events?after="+last, nil, token(acme.reader)).want(t, 200)
		if p := decodeAs[eventsPage](t, r); len(p.Events) != 0 || p.Next != last {
			t.Errorf("at the end: %d events, next %s, want none and %s", len(p.Events), p.Next, last)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
		}
	})
	t.Run("next skips what the filter left out", func(t *testing.T) {
		all := h.storeEvents(t, "acme", eventstore.Position{}, eventtype.Filter{})
		p := decodeAs[eventsPage](t, h.call(t, "GET", "/t/acme/events?type=client.activated", nil, token(acme.reader)).want(t, 200))
		if len(p.Events) != 0 || p.Next != all[len(all)-1].Position.String() {
			t.Errorf("no match: %d events, next %s, want none and the last event's %s", len(p.Events), p.Next, all[len(all)-1].Position)
		}
	})
	t.Run("the admin token and the root token read it too", func(t *testing.T) {
		want := len(h.storeEvents(t, "acme", eventstore.Position{}, eventtype.Filter{}))
		for _, opt := range []callOpt{token(acme.admin), token(rootToken)} {
			if got, _ := h.pageThrough(t, "/t/acme/events?limit=1000", "", opt); len(got) != want {
				t.Errorf("%d events, want %d", len(got), want)
			}
		}
	})
}

// TestEventsIsolation: nothing of beta ever reaches acme's reader, and
// acme's reader reads nothing at beta, whatever the path, cursor or
// filter.
func TestEventsIsolation(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	acme, beta := h.eventsTenant(t, "acme"), h.eventsTenant(t, "beta")
	h.churn(t, acme, 2)
	h.churn(t, beta, 2)
	h.churn(t, acme, 1)
	betaIDs := map[string]bool{}
	for _, e := range h.storeEvents(t, "beta", eventstore.Position{}, eventtype.Filter{}) {
		betaIDs[e.ID] = true
	}
	noBeta := func(t *testing.T, what string, events []cloudEvent) {
		t.Helper()
		for _, e := range events {
			if betaIDs[e.ID] || e.Tenant != "acme" {
				t.Errorf("%s: beta's event %s (%s) reached acme's reader", what, e.ID, e.Tenant)
			}
		}
	}

	t.Run("another tenant's token: not found, on the feed and the stream", func(t *testing.T) {
		for _, path := range []string{"/t/beta/events", "/t/beta/events?wait=1", "/t/beta/events/stream", "/t/beta/events?type=*&after=0.0"} {
			checkProblem(t, h.call(t, "GET", path, nil, token(acme.reader)), 404, httpapi.ProblemNotFound, "")
			checkProblem(t, h.call(t, "GET", path, nil, token(acme.admin)), 404, httpapi.ProblemNotFound, "")
		}
		r := h.call(t, "GET", "/t/beta/events/stream?access_token="+url.QueryEscape(acme.reader), nil, noAuth)
		checkProblem(t, r, 404, httpapi.ProblemNotFound, "")
	})
	t.Run("a cursor taken from beta used at acme", func(t *testing.T) {
		betaEvents := h.storeEvents(t, "beta", eventstore.Position{}, eventtype.Filter{})
		for _, e := range betaEvents {
			got, _ := h.pageThrough(t, "/t/acme/events", e.Position.String(), token(acme.reader))
			noBeta(t, "after beta's "+e.Position.String(), got)
			want := h.storeEvents(t, "acme", e.Position, eventtype.Filter{})
			if diff := cmp.Diff(storeIDs(want), ids(got)); diff != "" {
				t.Errorf("after beta's %s (-acme's events after it +feed):\n%s", e.Position, diff)
			}
		}
	})
	t.Run("type filter tricks", func(t *testing.T) {
		for _, q := range []string{"type=*", "type=client.*&type=tenant.*", "type=dev.clavis.*", "type=beta.*", "type=client.registered&type=*"} {
			r := h.call(t, "GET", "/t/acme/events?limit=1000&"+q, nil, token(acme.reader))
			if r.status == 200 {
				noBeta(t, q, decodeAs[eventsPage](t, r).Events)
			} else {
				checkProblem(t, r, 400, httpapi.ProblemInvalidParameter, "type")
			}
		}
		for _, q := range []string{"type=beta/*", "type=*.*", "type=client.registered%00", "type=CLIENT.*", "type=dev.clavis.", "type=clavistenant", "type=client.registered,beta"} {
			checkProblem(t, h.call(t, "GET", "/t/acme/events?"+q, nil, token(acme.reader)), 400, httpapi.ProblemInvalidParameter, "type")
		}
	})
	t.Run("tenant path tricks", func(t *testing.T) {
		for _, path := range []string{"/t/ACME/events", "/t/acme%2F..%2Fbeta/events", "/t/acme/../beta/events", "/t/beta%00/events", "/t//events", "/t/acme,beta/events", "/t/nope/events"} {
			r := h.call(t, "GET", path, nil, token(acme.reader))
			if r.status == 200 {
				noBeta(t, path, decodeAs[eventsPage](t, r).Events)
				continue
			}
			if r.status != 404 && r.status != 400 {
				t.Errorf("%s: status %d: %s", path, r.status, r.body)
			}
		}
		checkProblem(t, h.call(t, "GET", "/t/nope/events", nil), 404, httpapi.ProblemNotFound, "")
	})
	t.Run("wrong, expired or missing token: 401; a token without the scope: 403", func(t *testing.T) {
		for _, path := range []string{"/t/acme/events", "/t/acme/events/stream"} {
			checkProblem(t, h.call(t, "GET", path, nil, noAuth), 401, httpapi.ProblemUnauthorized, "")
			checkProblem(t, h.call(t, "GET", path, nil, token("not-a-token")), 401, httpapi.ProblemUnauthorized, "")
			checkProblem(t, h.call(t, "GET", path, nil, token(acme.reader[:len(acme.reader)-2]+"xx")), 401, httpapi.ProblemUnauthorized, "")
		}
		checkProblem(t, h.call(t, "GET", "/t/acme/events/stream?access_token=nope", nil, noAuth), 401, httpapi.ProblemUnauthorized, "")
		checkProblem(t, h.call(t, "GET", "/t/acme/events?access_token="+url.QueryEscape(acme.reader), nil, noAuth), 401, httpapi.ProblemUnauthorized, "")
		auditor, _ := h.newClient(t, "acme", auditorClient("urn:acme/auditor"), token(acme.admin))
		audits := token(h.accessToken(t, "acme", auditor.ClientID, auditor.ClientSecret))
		for _, path := range []string{"/t/acme/events", "/t/acme/events/stream"} {
			checkProblem(t, h.call(t, "GET", path, nil, audits), 403, httpapi.ProblemForbidden, "")
		}
	})
	t.Run("the reader's token opens nothing else", func(t *testing.T) {
		for _, path := range []string{"/t/acme/admin/clients", "/t/acme/audit/clients", "/t/acme/audit/checkpoint", "/admin/tenants"} {
			checkProblem(t, h.call(t, "GET", path, nil, token(acme.reader)), 403, httpapi.ProblemForbidden, "")
		}
	})
}

// TestEventsBadInput: every malformed request is a 400 naming what is
// wrong.
func TestEventsBadInput(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	acme := h.eventsTenant(t, "acme")
	for _, tc := range []struct{ query, typ, field string }{
		{"nope=1", httpapi.ProblemUnknownParameter, "nope"},
		{"after=abc", httpapi.ProblemInvalidParameter, "after"},
		{"after=1", httpapi.ProblemInvalidParameter, "after"},
		{"after=-1.2", httpapi.ProblemInvalidParameter, "after"},
		{"after=1.2&after=1.3", httpapi.ProblemInvalidParameter, "after"},
		{"limit=0", httpapi.ProblemInvalidParameter, "limit"},
		{"limit=1001", httpapi.ProblemInvalidParameter, "limit"},
		{"limit=ten", httpapi.ProblemInvalidParameter, "limit"},
		{"wait=61", httpapi.ProblemInvalidParameter, "wait"},
		{"wait=-1", httpapi.ProblemInvalidParameter, "wait"},
		{"type=Client.Registered", httpapi.ProblemInvalidParameter, "type"},
		{"type=" + strings.Repeat("a", 101) + ".*", httpapi.ProblemInvalidParameter, "type"},
		{strings.Repeat("type=client.*&", 51), httpapi.ProblemInvalidParameter, "type"},
		{"access_token=x", httpapi.ProblemUnknownParameter, "access_token"},
	} {
		checkProblem(t, h.call(t, "GET", "/t/acme/events?"+tc.query, nil, token(acme.reader)), 400, tc.typ, tc.field)
	}
	for _, tc := range []struct{ query, typ, field string }{
		{"limit=5", httpapi.ProblemUnknownParameter, "limit"},
		{"wait=5", httpapi.ProblemUnknownParameter, "wait"},
		{"after=x", httpapi.ProblemInvalidParameter, "after"},
		{"type=x", httpapi.ProblemInvalidParameter, "type"},
	} {
		checkProblem(t, h.call(t, "GET", "/t/acme/events/stream?"+tc.query, nil, token(acme.reader)), 400, tc.typ, tc.field)
	}
	checkProblem(t, h.call(t, "GET", "/t/acme/events/stream", nil, token(acme.reader), header("Last-Event-ID", "not-a-cursor")), 400, httpapi.ProblemBadRequest, "")
	checkProblem(t, h.call(t, "GET", "/t/acme/events/stream?access_token="+url.QueryEscape(acme.reader), nil, token(acme.reader)), 400, httpapi.ProblemBadRequest, "")
}

// TestEventsLongPoll: with wait, a request at the end of the feed waits
// for the next event, or answers an empty page with the same cursor.
func TestEventsLongPoll(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	acme, beta := h.eventsTenant(t, "acme"), h.eventsTenant(t, "beta")
	end := func() string {
		all := h.storeEvents(t, "acme", eventstore.Position{}, eventtype.Filter{})
		return all[len(all)-1].Position.String()
	}
	t.Run("times out with an empty page and the same cursor", func(t *testing.T) {
		at := end()
		start := time.Now()
		p := decodeAs[eventsPage](t, h.call(t, "GET", "/t/acme/events?wait=1&after="+at, nil, token(acme.reader)).want(t, 200))
		if len(p.Events) != 0 || p.Next != at {
			t.Errorf("%d events, next %s; want none and %s", len(p.Events), p.Next, at)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("answered after %s, before the wait of 1s", d)
		}
	})
	t.Run("an event of another tenant does not end it; its own does", func(t *testing.T) {
		at := end()
		got := make(chan eventsPage, 1)
		// The longest wait, so that the poll is still open when the
		// writes below land on a loaded machine.
		go func() {
			got <- decodeAs[eventsPage](t, h.call(t, "GET", "/t/acme/events?wait=60&type=client.registered&after="+at, nil, token(acme.reader)).want(t, 200))
		}()
		h.churn(t, beta, 1)
		// An acme event the filter leaves out, then one it takes.
		h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": "https://login.acme.example/signin"}, token(acme.admin)).want(t, 200)
		c, _ := h.newClient(t, "acme", webClient("urn:acme/late"), token(acme.admin))
		select {
		case p := <-got:
			if len(p.Events) != 1 || p.Events[0].Type != "dev.clavis.client.registered" || !strings.Contains(string(p.Events[0].Data), c.ClientID) {
				t.Fatalf("woken with %+v", p)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the long poll was not woken by the tenant's event")
		}
	})
}

// sseEvent is one event of a stream.
type sseEvent struct{ id, event, data string }

// sseStream reads a Server-Sent Events answer.
type sseStream struct {
	res      *http.Response
	events   chan sseEvent
	comments chan string
	done     chan struct{}
}

// openStream opens path as a stream, with headers, and checks the
// answer is one.
func (h *adminHarness) openStream(t *testing.T, path string, hdr map[string]string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, "GET", h.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); res.Body.Close() })
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream answer %d %v", res.StatusCode, res.Header)
	}
	s := &sseStream{res: res, events: make(chan sseEvent, 1000), comments: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.data != "" {
					s.events <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, ":"):
				s.comments <- line
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			}
		}
	}()
	return s
}

// next returns the stream's next event, failing after a while.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case <-s.done:
		t.Fatal("the stream ended")
	case <-time.After(20 * time.Second):
		t.Fatal("no event in 20s")
	}
	return sseEvent{}
}

// TestEventsStream: the stream starts at the end of the feed, or after a
// cursor, or after Last-Event-ID; sends heartbeats; takes its token in
// access_token without logging it; and ends at once on shutdown.
func TestEventsStream(t *testing.T) {
	t.Parallel()
	h := startEvents(t, func(e *httpapi.Events) { e.Heartbeat = 100 * time.Millisecond })
	acme, beta := h.eventsTenant(t, "acme"), h.eventsTenant(t, "beta")
	h.churn(t, acme, 1)
	q := "?access_token=" + url.QueryEscape(acme.reader)

	live := h.openStream(t, "/t/acme/events/stream"+q, nil)
	typed := h.openStream(t, "/t/acme/events/stream"+q+"&type=client.deleted", nil)
	betaLive := h.openStream(t, "/t/beta/events/stream", map[string]string{"Authorization": "Bearer " + beta.reader})
	before := h.storeEvents(t, "acme", eventstore.Position{}, eventtype.Filter{})
	h.churn(t, acme, 1) // makes a deleted client
	want := h.storeEvents(t, "acme", before[len(before)-1].Position, eventtype.Filter{})

	t.Run("from now on, in store order, each with its cursor as id", func(t *testing.T) {
		for _, w := range want {
			e := live.next(t)
			var ce cloudEvent
			if err := json.Unmarshal([]byte(e.data), &ce); err != nil {
				t.Fatal(err)
			}
			if e.id != w.Position.String() || ce.ID != w.ID || e.event != "dev.clavis."+w.Type || ce.Type != e.event || ce.Tenant != "acme" {
				t.Fatalf("got id %s event %s %+v, want %s %s", e.id, e.event, ce, w.Position, w.ID)
			}
		}
	})
	t.Run("filtered", func(t *testing.T) {
		e := typed.next(t)
		if e.event != "dev.clavis.client.deleted" {
			t.Errorf("event %s", e.event)
		}
	})
	t.Run("heartbeats", func(t *testing.T) {
		for range 2 {
			select {
			case c := <-live.comments:
				_ = c
			case <-time.After(10 * time.Second):
				t.Fatal("no heartbeat")
			}
		}
	})
	t.Run("beta's stream sees none of it", func(t *testing.T) {
		select {
		case e := <-betaLive.events:
			t.Fatalf("beta's stream got %+v", e)
		case <-time.After(300 * time.Millisecond):
		}
	})
	t.Run("resumes after Last-Event-ID, which wins over after", func(t *testing.T) {
		mid := before[len(before)/2]
		s := h.openStream(t, "/t/acme/events/stream?after=0.0", map[string]string{"Authorization": "Bearer " + acme.reader, "Last-Event-ID": mid.Position.String()})
		rest := h.storeEvents(t, "acme", mid.Position, eventtype.Filter{})
		for _, w := range rest {
			if e := s.next(t); e.id != w.Position.String() {
				t.Fatalf("id %s, want %s", e.id, w.Position)
			}
		}
		s2 := h.openStream(t, "/t/acme/events/stream?after="+mid.Position.String(), map[string]string{"Authorization": "Bearer " + acme.admin})
		if e := s2.next(t); e.id != rest[0].Position.String() {
			t.Fatalf("after: id %s, want %s", e.id, rest[0].Position)
		}
	})
	t.Run("the access token is never logged", func(t *testing.T) {
		if strings.Contains(h.logs.String(), acme.reader) {
			t.Error("the logs hold the access token")
		}
		if !strings.Contains(h.logs.String(), "/t/acme/events/stream") {
			t.Error("the stream requests are not logged at all")
		}
	})
	t.Run("shutdown ends the streams at once", func(t *testing.T) {
		start := time.Now()
		if err := h.node.Stop(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("stopping took %s with streams open", d)
		}
		for _, s := range []*sseStream{live, typed, betaLive} {
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
				t.Fatal("a stream is still open after shutdown")
			}
		}
	})
}

// TestEventsLimits: beyond the streams and long polls a tenant or the
// node may hold, 429 with Retry-After; places come back when streams
// end.
func TestEventsLimits(t *testing.T) {
	t.Parallel()
	h := startEvents(t, func(e *httpapi.Events) { e.MaxReadersPerTenant, e.MaxReaders = 2, 3 })
	acme, beta, gamma := h.eventsTenant(t, "acme"), h.eventsTenant(t, "beta"), h.eventsTenant(t, "gamma")
	auth := func(tn eventsTenant) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tn.reader}
	}
	a1 := h.openStream(t, "/t/acme/events/stream", auth(acme))
	h.openStream(t, "/t/acme/events/stream", auth(acme))
	r := h.call(t, "GET", "/t/acme/events/stream", nil, token(acme.reader))
	checkProblem(t, r, 429, httpapi.ProblemTooManyRequests, "")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	all := h.storeEvents(t, "acme", eventstore.Position{}, eventtype.Filter{})
	end := all[len(all)-1].Position.String()
	checkProblem(t, h.call(t, "GET", "/t/acme/events?wait=5&after="+end, nil, token(acme.reader)), 429, httpapi.ProblemTooManyRequests, "")
	// A page that needs no wait is no long poll.
	h.call(t, "GET", "/t/acme/events?wait=5", nil, token(acme.reader)).want(t, 200)
	h.openStream(t, "/t/beta/events/stream", auth(beta))
	checkProblem(t, h.call(t, "GET", "/t/gamma/events/stream", nil, token(gamma.reader)), 429, httpapi.ProblemTooManyRequests, "")
	h.call(t, "GET", "/t/gamma/events", nil, token(gamma.reader)).want(t, 200)
	// The client goes: its place comes back once the server notices
	// (at the next heartbeat or event).
	a1.res.Body.Close()
	h.churn(t, acme, 1)
	gammaAll := h.storeEvents(t, "gamma", eventstore.Position{}, eventtype.Filter{})
	gammaEnd := gammaAll[len(gammaAll)-1].Position.String()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := h.call(t, "GET", "/t/gamma/events?wait=1&after="+gammaEnd, nil, token(gamma.reader))
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closed stream's place never came back: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEventsCORS: an EventSource from an origin a client of the tenant
// allows is let in; from another origin it is not.
func TestEventsCORS(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	acme := h.eventsTenant(t, "acme")
	h.newClient(t, "acme", spaClient("urn:acme/spa"), token(acme.admin))
	q := "?access_token=" + url.QueryEscape(acme.reader)
	ok := h.openStream(t, "/t/acme/events/stream"+q, map[string]string{"Origin": "https://spa.example.com"})
	if got := ok.res.Header.Get("Access-Control-Allow-Origin"); got != "https://spa.example.com" {
		t.Errorf("allowed origin: Access-Control-Allow-Origin = %q", got)
	}
	other := h.openStream(t, "/t/acme/events/stream"+q, map[string]string{"Origin": "https://evil.example"})
	if got := other.res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin: Access-Control-Allow-Origin = %q", got)
	}
	r := h.call(t, "GET", "/t/acme/events", nil, token(acme.reader), header("Origin", "https://spa.example.com")).want(t, 200)
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "https://spa.example.com" {
		t.Errorf("feed: Access-Control-Allow-Origin = %q", got)
	}
	for _, path := range []string{"/t/acme/events", "/t/acme/events/stream"} {
		r := h.call(t, "OPTIONS", path, nil, noAuth, header("Origin", "https://spa.example.com"),
			header("Access-Control-Request-Method", "GET"), header("Access-Control-Request-Headers", "last-event-id")).want(t, 204)
		if r.header.Get("Access-Control-Allow-Origin") != "https://spa.example.com" || !slices.Contains(strings.Split(r.header.Get("Access-Control-Allow-Headers"), ", "), "Last-Event-ID") {
			t.Errorf("%s preflight: %v", path, r.header)
		}
	}
}

// TestEventsStreamBehindTheTail: a stream whose cursor lies before where
// the tenant's shared tail began (another tenant's events moved the
// store's head in between) still gets each new event, once.
func TestEventsStreamBehindTheTail(t *testing.T) {
	t.Parallel()
	h := startEvents(t, func(e *httpapi.Events) { e.Heartbeat = 50 * time.Millisecond })
	acme, beta := h.eventsTenant(t, "acme"), h.eventsTenant(t, "beta")
	all := h.storeEvents(t, "acme", eventstore.Position{}, eventtype.Filter{})
	last := all[len(all)-1].Position.String()
	h.churn(t, beta, 1) // the store's head moves past acme's last event
	auth := map[string]string{"Authorization": "Bearer " + acme.reader}
	ahead := h.openStream(t, "/t/acme/events/stream", auth) // from now: the tail starts here
	time.Sleep(200 * time.Millisecond)
	behind := h.openStream(t, "/t/acme/events/stream?after="+last, auth)
	time.Sleep(200 * time.Millisecond)
	c, _ := h.newClient(t, "acme", webClient("urn:acme/new"), token(acme.admin))
	for _, s := range []*sseStream{ahead, behind} {
		e := s.next(t)
		if e.event != "dev.clavis.client.registered" || !strings.Contains(e.data, c.ClientID) {
			t.Fatalf("got %+v", e)
		}
		select {
		case e := <-s.events:
			t.Fatalf("a second event %+v", e)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestEventsStreamAge: a stream ends after MaxStreamAge, so that its
// client comes back with the token it holds then.
func TestEventsStreamAge(t *testing.T) {
	t.Parallel()
	h := startEvents(t, func(e *httpapi.Events) { e.MaxStreamAge = 300 * time.Millisecond; e.Heartbeat = 100 * time.Millisecond })
	acme := h.eventsTenant(t, "acme")
	s := h.openStream(t, "/t/acme/events/stream", map[string]string{"Authorization": "Bearer " + acme.reader})
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its age")
	}
}
