package httpapi_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/projections/webhooks/deliver"
)

// TestWebhookPingsOfOneTenantDoNotStarveAnother: acme's administrator
// points an endpoint at a path of a receiver host that answers slowly
// and asks for many pings at once; beta's endpoint is on the same host
// (a shared receiving service). Pings are not limited, and every
// tenant's requests share the deliverer's per-host connections, so
// today beta's ping waits for acme's to time out (about 15 s). Beta's
// attempt must not depend on what acme asks for.
func TestWebhookPingsOfOneTenantDoNotStarveAnother(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free)
	h := startWebhooks(t)
	aid, asecret := h.tenantAdmin(t, "acme")
	acme := h.accessToken(t, "acme", aid, asecret)
	bid, bsecret := h.tenantAdmin(t, "beta")
	beta := h.accessToken(t, "beta", bid, bsecret)
	slow := h.createWebhook(t, "acme", map[string]any{"url": srv.URL + "/slow", "types": []string{"client.*"}}, token(acme))
	fast := h.createWebhook(t, "beta", map[string]any{"url": srv.URL + "/fast", "types": []string{"client.*"}}, token(beta))

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", h.url+"/t/acme/admin/webhooks/"+slow.ID+"/ping", nil)
			req.Header.Set("Authorization", "Bearer "+acme)
			if res, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
	time.Sleep(time.Second) // acme's pings are under way
	start := time.Now()
	a := decodeAs[attemptResponse](t, h.call(t, "POST", "/t/beta/admin/webhooks/"+fast.ID+"/ping", nil, token(beta)).want(t, 200))
	if d := time.Since(start); !a.Succeeded || d > 5*time.Second {
		t.Errorf("beta's ping: succeeded %v after %s (%.0f ms to the receiver's headers), while acme's pings hold the host's connections", a.Succeeded, d, a.LatencyMS)
	}
	free()
	wg.Wait()
}

// TestWebhookAttemptLogHoldsNothingOfTheAnswer: the documentation says
// nothing of a response is stored, but an answer that is not HTTP (a
// database, NATS, SSH, any TCP service's banner) ends up in the attempt's
// error, quoted by the HTTP client (NATS's INFO line, for one: what
// follows its first word is quoted as a "malformed HTTP status code"),
// in the ping's answer and the
// delivery log: whoever may create an endpoint reads the first bytes
// other services send.
func TestWebhookAttemptLogHoldsNothingOfTheAnswer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	const banner = "INFO {\"server_id\":\"INTERNAL-BANNER-7f3a\",\"secret\":\"hunter2\"}"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte(banner + "\r\n"))
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	h := startWebhooks(t)
	h.createTenant(t, "acme")
	wh := h.createWebhook(t, "acme", map[string]any{"url": "http://" + ln.Addr().String() + "/"})
	path := "/t/acme/admin/webhooks/" + wh.ID
	ping := h.call(t, "POST", path+"/ping", nil).want(t, 200)
	log := h.call(t, "GET", path+"/deliveries", nil).want(t, 200)
	for what, r := range map[string]response{"the ping's answer": ping, "the delivery log": log} {
		if strings.Contains(string(r.body), "INTERNAL-BANNER") || strings.Contains(string(r.body), "hunter2") {
			t.Errorf("%s holds what the service answered: %s", what, r.body)
		}
	}
}

// TestWebhookPingsAndResendsAreLimited: a tenant's pings and resends are
// bounded (2 under way at once, a burst of 5, then 10 a minute); past a
// bound the answer is 429 with Retry-After, nothing is sent and nothing
// logged, and another tenant is not affected.
func TestWebhookPingsAndResendsAreLimited(t *testing.T) {
	t.Parallel()
	// hits counts every request, pings only the pings. The slow
	// endpoint takes only client events, of which there are none from
	// here on: else it would be sent the fast one's creation, and hold
	// it, before or after the pings.
	var hits, pings atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hits.Add(1)
		if bytes.Contains(body, []byte(deliver.PingType)) {
			pings.Add(1)
		}
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free)
	h := startWebhooks(t)
	h.createTenant(t, "acme")
	h.createTenant(t, "beta")
	slow := h.createWebhook(t, "acme", map[string]any{"url": srv.URL + "/slow", "types": []string{"client.*"}})
	fast := h.createWebhook(t, "acme", map[string]any{"url": srv.URL + "/fast"})
	other := h.createWebhook(t, "beta", map[string]any{"url": srv.URL + "/fast"})
	tooMany := func(r response, what string) {
		t.Helper()
		checkProblem(t, r, 429, httpapi.ProblemTooManyRequests, "")
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Errorf("%s: Retry-After %q", what, r.header.Get("Retry-After"))
		}
	}
	logged := func(id string) int {
		t.Helper()
		return len(decodeAs[attemptListResponse](t, h.call(t, "GET", "/t/acme/admin/webhooks/"+id+"/deliveries", nil).want(t, 200)).Deliveries)
	}

	// Two pings held by the slow receiver: a third is refused at once.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if r := h.call(t, "POST", "/t/acme/admin/webhooks/"+slow.ID+"/ping", nil); r.status != 200 {
				t.Errorf("a held ping: %d %s", r.status, r.body)
			}
		})
	}
	poll.Until(t, 10*time.Second, "two pings under way", func() bool { return pings.Load() == 2 })
	tooMany(h.call(t, "POST", "/t/acme/admin/webhooks/"+fast.ID+"/ping", nil), "in flight")
	h.call(t, "POST", "/t/beta/admin/webhooks/"+other.ID+"/ping", nil).want(t, 200)
	free()
	wg.Wait()

	// Two of acme's burst of 5 are spent: three more, then a 429, for
	// pings and resends alike.
	for range 3 {
		h.call(t, "POST", "/t/acme/admin/webhooks/"+fast.ID+"/ping", nil).want(t, 200)
	}
	before := hits.Load()
	tooMany(h.call(t, "POST", "/t/acme/admin/webhooks/"+fast.ID+"/ping", nil), "ping past the burst")
	events, err := h.store.ReadTenant(t.Context(), "acme", eventstore.Position{}, 1)
	if err != nil || len(events) == 0 {
		t.Fatal(err)
	}
	tooMany(h.call(t, "POST", "/t/acme/admin/webhooks/"+fast.ID+"/resend", map[string]any{"event": events[0].Position.String()}), "resend past the burst")
	if n := hits.Load(); n != before {
		t.Errorf("%d sends made past the limit", n-before)
	}
	if n := logged(fast.ID); n != 3 {
		t.Errorf("%d attempts logged for the fast endpoint, want the 3 pings sent", n)
	}
	h.call(t, "POST", "/t/beta/admin/webhooks/"+other.ID+"/ping", nil).want(t, 200)
}

// TestWebhookResendMatchesTypesAndAnswersTheLoggedID: a resend sends only
// an event the endpoint's types match (else 404, as for a missing one,
// and nothing sent); a ping's and a resend's answers carry the ID the
// delivery log shows.
func TestWebhookResendMatchesTypesAndAnswersTheLoggedID(t *testing.T) {
	t.Parallel()
	h := startWebhooks(t)
	h.createTenant(t, "acme")
	rcv := newReceiver(t)
	wh := h.createWebhook(t, "acme", map[string]any{"url": rcv.URL + "/hook", "types": []string{"client.*"}})
	path := "/t/acme/admin/webhooks/" + wh.ID
	events, err := h.store.ReadTenant(t.Context(), "acme", eventstore.Position{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var client, other string
	for _, e := range events {
		switch {
		case strings.HasPrefix(e.Type, "client.") && client == "":
			client = e.Position.String()
		case !strings.HasPrefix(e.Type, "client.") && other == "":
			other = e.Position.String()
		}
	}
	if client == "" || other == "" {
		t.Fatalf("no client event and other event among %d", len(events))
	}
	newest := func() int64 {
		t.Helper()
		log := decodeAs[attemptListResponse](t, h.call(t, "GET", path+"/deliveries?limit=1", nil).want(t, 200))
		if len(log.Deliveries) != 1 {
			t.Fatalf("log %+v", log)
		}
		return log.Deliveries[0].ID
	}
	ping := decodeAs[attemptResponse](t, h.call(t, "POST", path+"/ping", nil).want(t, 200))
	if id := newest(); ping.ID == 0 || ping.ID != id {
		t.Errorf("ping answered id %d, the log's newest is %d", ping.ID, id)
	}
	rcv.mu.Lock()
	sent := len(rcv.got)
	rcv.mu.Unlock()
	checkProblem(t, h.call(t, "POST", path+"/resend", map[string]any{"event": other}), 404, httpapi.ProblemNotFound, "")
	rcv.mu.Lock()
	if len(rcv.got) != sent {
		t.Errorf("an event the endpoint's types do not match was sent")
	}
	rcv.mu.Unlock()
	resend := decodeAs[attemptResponse](t, h.call(t, "POST", path+"/resend", map[string]any{"event": client}).want(t, 200))
	if id := newest(); !resend.Succeeded || resend.ID == 0 || resend.ID != id {
		t.Errorf("resend answered %+v, the log's newest is %d", resend, id)
	}
}
