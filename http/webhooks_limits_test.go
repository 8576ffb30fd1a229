package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestWebhookReplayBeyondTheHeadIsRefused: a replay "from" a cursor the
// store has not reached (a typo, or another node's garbage) is taken
// today: the endpoint's cursor jumps past every event yet to come, and
// its deliveries stop without an error until the store catches up with
// a number that may never come. It must be a 422 that changes nothing.
func TestWebhookReplayBeyondTheHeadIsRefused(t *testing.T) {
	t.Parallel()
	h := startWebhooks(t)
	id, secret := h.tenantAdmin(t, "acme")
	admin := h.accessToken(t, "acme", id, secret)
	rcv := newReceiver(t)
	wh := h.createWebhook(t, "acme", map[string]any{"url": rcv.URL + "/hook"}, token(admin))
	path := "/t/acme/admin/webhooks/" + wh.ID
	before := decodeAs[webhookResponse](t, h.call(t, "GET", path, nil, token(admin)).want(t, 200))
	h.call(t, "POST", path+"/replay", map[string]string{"from": "99999999.99999999"}, token(admin)).want(t, 422)
	after := decodeAs[webhookResponse](t, h.call(t, "GET", path, nil, token(admin)).want(t, 200))
	if after.Delivery.Cursor != before.Delivery.Cursor || after.Version != before.Version {
		t.Errorf("the refused replay moved the endpoint: cursor %s -> %s, version %d -> %d",
			before.Delivery.Cursor, after.Delivery.Cursor, before.Version, after.Version)
	}
}

// TestWebhookLimitUnderConcurrentCreations: the limit of 50 live
// endpoints is read from the read side before each append, so creations
// sent together all pass: 150 at once make 150 live endpoints (each
// with a consumer and deliveries of its own). The documentation allows
// "two creations racing"; the overshoot should stay of that order, not
// grow with the caller's parallelism.
func TestWebhookLimitUnderConcurrentCreations(t *testing.T) {
	t.Parallel()
	h := startWebhooks(t)
	h.createTenant(t, "acme")
	var wg sync.WaitGroup
	for i := range 150 {
		wg.Go(func() {
			body := strings.NewReader(fmt.Sprintf(`{"url":"https://hooks.example.com/%d"}`, i))
			req, _ := http.NewRequestWithContext(t.Context(), "POST", h.url+"/t/acme/admin/webhooks", body)
			req.Header.Set("Authorization", "Bearer "+rootToken)
			req.Header.Set("Content-Type", "application/json")
			if res, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	var list struct {
		Webhooks []json.RawMessage `json:"webhooks"`
	}
	if err := json.Unmarshal(h.call(t, "GET", "/t/acme/admin/webhooks", nil).want(t, 200).body, &list); err != nil {
		t.Fatal(err)
	}
	if n := len(list.Webhooks); n > 55 {
		t.Errorf("%d live endpoints after 150 creations at once; the limit is 50", n)
	}
}

// TestWebhookAttemptLogHoldsNothingOfTheAnswer: the documentation says
// nothing of a response is stored, but an answer that is not HTTP (a
// database, NATS, SSH, any TCP service's banner) ends up in the attempt's
// error, quoted by the HTTP client (NATS's INFO line, for one: what
// follows its first word is quoted as a "malformed HTTP status code"),
// in the ping's answer and the
// delivery log: whoever may create an endpoint reads the first bytes

// TestWebhookURLPortOutOfRangeRefused: a port outside 1-65535 cannot be
// dialled; such a URL is taken today (201), and the endpoint then
// fails every attempt for three days until it is disabled. It must be a
// 422 like any other URL that cannot work, and nothing appended.
func TestWebhookURLPortOutOfRangeRefused(t *testing.T) {
	t.Parallel()
	h := startWebhooks(t)
	h.createTenant(t, "acme")
	for _, u := range []string{"https://hooks.example.com:0/", "https://hooks.example.com:99999/", "https://hooks.example.com:65536/"} {
		before := h.head(t)
		r := h.call(t, "POST", "/t/acme/admin/webhooks", map[string]any{"url": u})
		if r.status != 422 {
			t.Errorf("url %s: status %d, want 422: %s", u, r.status, r.body)
		}
		h.unchanged(t, before, "url "+u)
	}
}
