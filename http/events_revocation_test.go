package httpapi_test

import (
	"net/url"
	"testing"
	"time"

	httpapi "github.com/clavisiam/clavis/http"
)

// TestEventsStreamEndsWhenItsTokenDoes: a stream was opened with a token
// that is then revoked, whose client is deleted, or whose tenant is
// suspended. The feed refuses the token at once (401); the stream must
// end within a bounded time too, not keep sending the tenant's events
// for as long as the connection lives.
func TestEventsStreamEndsWhenItsTokenDoes(t *testing.T) {
	t.Parallel()
	h := startEvents(t, func(e *httpapi.Events) { e.Heartbeat = 100 * time.Millisecond })
	id, secret := h.tenantAdmin(t, "acme")
	admin := h.accessToken(t, "acme", id, secret)
	ends := func(t *testing.T, s *sseStream) {
		t.Helper()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Fatal("the stream is still open 30s after its token stopped working")
		}
	}
	t.Run("token revoked", func(t *testing.T) {
		r, _ := h.newClient(t, "acme", readerClient("urn:acme/revoked"), token(admin))
		reader := h.accessToken(t, "acme", r.ClientID, r.ClientSecret)
		s := h.openStream(t, "/t/acme/events/stream?access_token="+url.QueryEscape(reader), nil)
		h.formCall(t, "acme", "revoke", url.Values{"token": {reader}}, r.ClientID, r.ClientSecret).want(t, 200)
		h.call(t, "GET", "/t/acme/events", nil, token(reader)).want(t, 401)
		h.newClient(t, "acme", webClient("urn:acme/after-revoke"), token(admin))
		ends(t, s)
	})
	t.Run("client deleted", func(t *testing.T) {
		r, _ := h.newClient(t, "acme", readerClient("urn:acme/deleted"), token(admin))
		reader := h.accessToken(t, "acme", r.ClientID, r.ClientSecret)
		s := h.openStream(t, "/t/acme/events/stream", map[string]string{"Authorization": "Bearer " + reader})
		h.call(t, "DELETE", "/t/acme/admin/clients/"+r.ClientID, nil, token(admin)).want(t, 204)
		h.call(t, "GET", "/t/acme/events", nil, token(reader)).want(t, 401)
		h.newClient(t, "acme", webClient("urn:acme/after-delete"), token(admin))
		ends(t, s)
	})
	t.Run("tenant suspended", func(t *testing.T) {
		r, _ := h.newClient(t, "acme", readerClient("urn:acme/suspended"), token(admin))
		reader := h.accessToken(t, "acme", r.ClientID, r.ClientSecret)
		s := h.openStream(t, "/t/acme/events/stream", map[string]string{"Authorization": "Bearer " + reader})
		h.call(t, "POST", "/admin/tenants/acme/suspend", map[string]any{}).want(t, 200)
		h.call(t, "GET", "/t/acme/events", nil, token(reader)).want(t, 401)
		ends(t, s)
	})
}

// TestEventsStreamEndsAtItsTokensExpiry: with heartbeats and re-checks
// far apart, a stream still ends when its token expires (a minute, the
// shortest lifetime), telling its client why, and gives back its place;
// until then it keeps sending.
func TestEventsStreamEndsAtItsTokensExpiry(t *testing.T) {
	t.Parallel()
	// The events' clock runs ahead by skew, so that the stream of a
	// 1-minute token (the shortest a client may have) ends after
	// seconds, not a minute; the provider that verifies the token keeps
	// the real time.
	const skew = 50 * time.Second
	h := startEvents(t, func(e *httpapi.Events) {
		e.Heartbeat, e.Recheck = time.Hour, time.Hour
		e.MaxReadersPerTenant = 1
		e.Now = func() time.Time { return time.Now().Add(skew) }
	})
	id, secret := h.tenantAdmin(t, "acme")
	admin := h.accessToken(t, "acme", id, secret)
	reader := readerClient("urn:acme/short-lived")
	reader["access_token_lifetime"] = 60
	r, _ := h.newClient(t, "acme", reader, token(admin))
	opened := time.Now()
	short := h.accessToken(t, "acme", r.ClientID, r.ClientSecret)
	s := h.openStream(t, "/t/acme/events/stream", map[string]string{"Authorization": "Bearer " + short})
	h.newClient(t, "acme", webClient("urn:acme/while-valid"), token(admin))
	if e := s.next(t); e.event != "dev.clavis.client.registered" {
		t.Fatalf("event %+v", e)
	}
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		t.Fatal("the stream is still open 40 s after its 1-minute token was issued, the events' clock 50 s ahead")
	}
	// The token's expiry is to the second: at most a second before
	// opened plus its minute.
	if took := time.Since(opened); took+skew < 58*time.Second {
		t.Fatalf("the stream ended after %v, %v by the events' clock, before its token expired", took, took+skew)
	}
	if last := lastComment(s); last != ": token expired" {
		t.Fatalf("last comment %q", last)
	}
	// Its place is free again: the tenant's one stream opens.
	r2, _ := h.newClient(t, "acme", readerClient("urn:acme/next"), token(admin))
	next := h.accessToken(t, "acme", r2.ClientID, r2.ClientSecret)
	s2 := h.openStream(t, "/t/acme/events/stream", map[string]string{"Authorization": "Bearer " + next})
	s2.res.Body.Close()
}

// TestEventsStreamSaysWhyItEnds: a stream whose token is refused ends
// with a comment saying so, after the events sent while it was valid.
func TestEventsStreamSaysWhyItEnds(t *testing.T) {
	t.Parallel()
	h := startEvents(t, func(e *httpapi.Events) { e.Heartbeat = time.Hour; e.Recheck = 100 * time.Millisecond })
	id, secret := h.tenantAdmin(t, "acme")
	admin := h.accessToken(t, "acme", id, secret)
	r, _ := h.newClient(t, "acme", readerClient("urn:acme/deactivated"), token(admin))
	reader := h.accessToken(t, "acme", r.ClientID, r.ClientSecret)
	s := h.openStream(t, "/t/acme/events/stream", map[string]string{"Authorization": "Bearer " + reader})
	h.newClient(t, "acme", webClient("urn:acme/before"), token(admin))
	if e := s.next(t); e.event != "dev.clavis.client.registered" {
		t.Fatalf("event %+v", e)
	}
	h.call(t, "POST", "/t/acme/admin/clients/"+r.ClientID+"/deactivate", map[string]string{"reason": "test"}, token(admin)).want(t, 200)
	h.call(t, "GET", "/t/acme/events", nil, token(reader)).want(t, 401)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream is still open 30s after its client was deactivated")
	}
	if last := lastComment(s); last != ": token no longer accepted" {
		t.Fatalf("last comment %q", last)
	}
}

// lastComment is the last comment line a finished stream sent.
func lastComment(s *sseStream) string {
	last := ""
	for {
		select {
		case c := <-s.comments:
			last = c
		default:
			return last
		}
	}
}
