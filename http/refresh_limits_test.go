package httpapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/clavisiam/clavis/http/oauth"
)

// unlimitedRefreshes lets a client refresh as fast as it likes, keeping
// tokens per grant.
func unlimitedRefreshes(tokens int) oauth.Option {
	return oauth.WithRefreshLimit(oauth.RefreshLimit{PerClient: rate.Inf, Burst: 1, Tokens: tokens})
}

// messages is how many messages (entries and deletion markers) the
// node's grant bucket name holds (none when it was never opened).
func (h *adminHarness) messages(t *testing.T, name string) uint64 {
	t.Helper()
	s, err := h.js.Stream(t.Context(), "KV_TEST_"+name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// refresh refreshes with rt, wanting 200, and returns the new access and
// refresh tokens.
func (h *adminHarness) refresh(t *testing.T, id, secret, rt string) (string, string) {
	t.Helper()
	a := decodeAs[tokenAnswer](t, h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, secret).want(t, 200))
	return a.AccessToken, a.RefreshToken
}

// A grant refreshed many times goes on working, and what it keeps does
// not grow: one record, rewritten at each refresh. Every access token
// it issued stays active until a reuse of a refresh token revokes the
// grant, which leaves no token of it alive.
func TestRefreshManyTimesStaysBounded(t *testing.T) {
	t.Parallel()
	const keep, rounds = 3, 40
	h := startAdmin(t, unlimitedRefreshes(keep))
	h.createTenant(t, "acme")
	cfg := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/web")), "openid")
	id, secret := cfg.ClientID, cfg.ClientSecret
	tok := h.codeFlow(t, h.browser(t), cfg, "alice")
	grants, tokens := h.messages(t, "GRANTS"), h.messages(t, "TOKENS")

	access, refresh := []string{tok.AccessToken}, []string{tok.RefreshToken}
	refused := func(t *testing.T, rt string) {
		t.Helper()
		wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, secret), 400, "invalid_grant")
	}
	// actives lists which of the access tokens introspect as active.
	actives := func(t *testing.T) []bool {
		t.Helper()
		out := make([]bool, len(access))
		for i, at := range access {
			out[i] = h.introspected(t, at, id, secret).Active
		}
		return out
	}
	t.Run("the grant refreshes on", func(t *testing.T) {
		for range rounds {
			at, rt := h.refresh(t, id, secret, refresh[len(refresh)-1])
			access, refresh = append(access, at), append(refresh, rt)
		}
	})
	t.Run("the grant buckets hold no more than after the code exchange", func(t *testing.T) {
		if n := h.messages(t, "GRANTS"); n > grants {
			t.Errorf("after %d refreshes the grant bucket holds %d messages, %d before", rounds, n, grants)
		}
		if n := h.messages(t, "TOKENS"); n > tokens {
			t.Errorf("after %d refreshes the token bucket holds %d messages, %d before", rounds, n, tokens)
		}
	})
	t.Run("every access token of the grant is active", func(t *testing.T) {
		want := make([]bool, len(access))
		for i := range want {
			want[i] = true
		}
		if diff := cmp.Diff(want, actives(t)); diff != "" {
			t.Errorf("active access tokens, oldest first (-want +got):\n%s", diff)
		}
	})

	// A refresh token used before revokes the grant: every access token
	// is inactive, the latest refresh token too.
	t.Run("the reuse of a refresh token is invalid_grant", func(t *testing.T) {
		refused(t, refresh[len(refresh)-2])
	})
	t.Run("after the reuse no access token is active", func(t *testing.T) {
		if diff := cmp.Diff(make([]bool, len(access)), actives(t)); diff != "" {
			t.Errorf("active access tokens, oldest first (-want +got):\n%s", diff)
		}
	})
	t.Run("after the reuse the latest refresh token is refused", func(t *testing.T) {
		refused(t, refresh[len(refresh)-1])
	})
	t.Run("the grant's first refresh token is refused", func(t *testing.T) {
		refused(t, refresh[0])
	})
}

// A client refreshing faster than its limit is answered 429
// temporarily_unavailable with Retry-After, and nothing is issued or
// stored; other clients refresh on.
func TestRefreshRateLimited(t *testing.T) {
	t.Parallel()
	h := startAdmin(t, oauth.WithRefreshLimit(oauth.RefreshLimit{PerClient: rate.Every(time.Hour), Burst: 2, Tokens: 256}))
	h.createTenant(t, "acme")
	cfg := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/web")), "openid")
	id, secret := cfg.ClientID, cfg.ClientSecret
	tok := h.codeFlow(t, h.browser(t), cfg, "alice")
	at, rt := h.refresh(t, id, secret, tok.RefreshToken)
	at, rt = h.refresh(t, id, secret, rt)

	type stored struct{ Grants, Tokens uint64 }
	before := stored{h.messages(t, "GRANTS"), h.messages(t, "TOKENS")}
	t.Run("a refresh past the limit is temporarily_unavailable, with Retry-After", func(t *testing.T) {
		r := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, secret)
		wantOAuthError(t, r, http.StatusTooManyRequests, "temporarily_unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After: %v", r.header)
		}
	})
	t.Run("the refused refresh stored nothing", func(t *testing.T) {
		if diff := cmp.Diff(before, stored{h.messages(t, "GRANTS"), h.messages(t, "TOKENS")}); diff != "" {
			t.Errorf("messages in the grant buckets (-want +got):\n%s", diff)
		}
	})
	t.Run("the refused refresh revoked nothing", func(t *testing.T) {
		if !h.introspected(t, at, id, secret).Active {
			t.Error("a refused refresh revoked the grant's access token")
		}
	})
	t.Run("other clients refresh on", func(t *testing.T) {
		other := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/other")), "openid")
		tok := h.codeFlow(t, h.browser(t), other, "bob")
		h.refresh(t, other.ClientID, other.ClientSecret, tok.RefreshToken)
	})
}

// When the grant store is full, refreshes go on: a refresh rewrites its
// grant's record in place, which NATS takes while the replacement is no
// larger than the entry it replaces. One that finds no room after all
// answers 503 temporarily_unavailable and leaves the refresh token
// usable: once there is room again, it refreshes.
func TestRefreshOnFullGrantStoreKeepsToken(t *testing.T) {
	t.Parallel()
	h := startAdminGrants(t, 128<<10, unlimitedRefreshes(256))
	h.createTenant(t, "acme")
	cfg := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/web")), "openid")
	id, secret := cfg.ClientID, cfg.ClientSecret
	tok := h.codeFlow(t, h.browser(t), cfg, "alice")
	_, rt := h.refresh(t, id, secret, tok.RefreshToken)

	// Fill the grant bucket, with big entries then small ones.
	kv, err := h.js.KeyValue(t.Context(), "TEST_GRANTS")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, size := range []int{4 << 10, 512, 64} {
		for ; n < 10_000; n++ {
			if _, err := kv.Create(t.Context(), fmt.Sprintf("fill.%d", n), []byte(strings.Repeat("x", size))); err != nil {
				if !strings.Contains(err.Error(), "maximum bytes") {
					t.Fatalf("fill: %v", err)
				}
				break
			}
		}
	}

	t.Run("a refresh while the store is full refreshes, or is temporarily_unavailable and keeps the token", func(t *testing.T) {
		for range 5 {
			r := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, secret)
			if r.status == http.StatusOK {
				rt = decodeAs[tokenAnswer](t, r).RefreshToken
				continue
			}
			wantOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
		}
	})

	s, err := h.js.Stream(t.Context(), "KV_TEST_GRANTS")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(t.Context(), jetstream.WithPurgeSubject("$KV.TEST_GRANTS.fill.>")); err != nil {
		t.Fatal(err)
	}
	t.Run("once there is room the refresh token refreshes", func(t *testing.T) {
		_, rt = h.refresh(t, id, secret, rt)
		h.refresh(t, id, secret, rt)
	})
}
