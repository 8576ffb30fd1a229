package httpapi_test

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
)

// A client whose refresh tokens slide (refresh_token_expiration
// sliding) sees an unused refresh token expire after
// refresh_token_sliding_lifetime, long before its absolute lifetime.
func TestSlidingRefreshTokenExpiresUnused(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	h := startAdmin(t, oauth.WithClock(clock.now))
	h.createTenant(t, "acme")
	body := webClient("urn:acme/web")
	body["refresh_token_expiration"] = "sliding"
	body["refresh_token_sliding_lifetime"] = 60
	body["refresh_token_absolute_lifetime"] = 3600
	created, r := h.newClient(t, "acme", body)
	type shown struct {
		Expiration      client.RefreshTokenExpiration
		SlidingLifetime int
	}
	if diff := cmp.Diff(shown{"sliding", 60}, shown{created.RefreshTokenExpiration, created.RefreshTokenSlidingLifetime}); diff != "" {
		t.Fatalf("client (-want +got):\n%s", diff)
	}
	cfg := clientConfig("acme", r.object(t), "openid")
	b := h.browser(t)
	used, unused := h.codeFlow(t, b, cfg, "alice"), h.codeFlow(t, b, cfg, "alice")
	refresh := func(t *testing.T, tok *oauth2.Token) response {
		t.Helper()
		return h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret)
	}
	t.Run("a refresh token unused for half its sliding lifetime works", func(t *testing.T) {
		clock.advance(30 * time.Second)
		wantStatus(t, "refresh", refresh(t, used), 200, "")
	})
	t.Run("a refresh token unused for longer than its sliding lifetime is refused", func(t *testing.T) {
		clock.advance(32 * time.Second)
		if r := refresh(t, unused); r.status == 200 {
			t.Errorf("a refresh token unused for longer than its sliding lifetime (60 s) still works")
		}
	})
}

// A refresh issues a new access token; what it says of the client's
// authorization (the permissions of its scopes, the client's claims) is
// the client's now, not what it was at login: a permission an
// administrator withdrew must not stay in every refreshed token for the
// grant's whole life (30 days by default).
func TestRefreshRecomputesPermissions(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/web")
	body["scope_permissions"] = map[string][]string{"profile": {"read", "delete"}}
	c := h.createClient(t, "acme", body)
	cfg := clientConfig("acme", c, "openid")
	tok := h.codeFlow(t, h.browser(t), cfg, "alice")
	t.Run("the first access token has the permissions of the login", func(t *testing.T) {
		claims, _ := verifyAs[accessClaims](t, h, "acme", tok.AccessToken)
		if diff := cmp.Diff([]string{"profile:read", "profile:delete"}, claims.Permissions); diff != "" {
			t.Fatalf("permissions (-want +got):\n%s", diff)
		}
	})
	t.Run("a refreshed access token has the client's permissions now", func(t *testing.T) {
		h.call(t, "PATCH", "/t/acme/admin/clients/"+cfg.ClientID, map[string]any{"version": 1,
			"scope_permissions": map[string][]string{"profile": {"read"}}}).want(t, 200)
		r := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret).want(t, 200)
		claims, _ := verifyAs[accessClaims](t, h, "acme", decodeAs[tokenAnswer](t, r).AccessToken)
		if slices.Contains(claims.Permissions, "profile:delete") {
			t.Errorf("the refreshed access token keeps the withdrawn permission: %v", claims.Permissions)
		}
	})
}

// A refresh fails once a granted scope is taken from the client, its
// tenant is suspended, or the client is deactivated.
func TestRefreshFailsAfterChanges(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/web")
	body["optional_scopes"] = []string{"email"}
	c := h.createClient(t, "acme", body)
	cfg := clientConfig("acme", c, "openid", "email")
	b := h.browser(t)
	refresh := func(t *testing.T, tok *oauth2.Token) response {
		return h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret)
	}

	// The cases run in order, each on a grant of its own: the first
	// takes email from the client, so the others ask for openid only.
	for _, tc := range []struct {
		name   string
		scopes []string
		change func(t *testing.T)
		undo   func(t *testing.T)
	}{
		{"the email scope was taken from the client", []string{"openid", "email"}, func(t *testing.T) {
			h.call(t, "PATCH", "/t/acme/admin/clients/"+cfg.ClientID, map[string]any{"version": 1, "optional_scopes": []string{}}).want(t, 200)
		}, nil},
		{"the tenant is suspended", []string{"openid"}, func(t *testing.T) {
			h.call(t, "POST", "/admin/tenants/acme/suspend", map[string]string{"reason": "test"}).want(t, 200)
		}, func(t *testing.T) {
			h.call(t, "POST", "/admin/tenants/acme/resume", nil).want(t, 200)
		}},
		{"the client is deactivated", []string{"openid"}, func(t *testing.T) {
			h.call(t, "POST", "/t/acme/admin/clients/"+cfg.ClientID+"/deactivate", map[string]string{"reason": "test"}).want(t, 200)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := h.codeFlow(t, b, clientConfig("acme", c, tc.scopes...), "alice")
			tc.change(t)
			if tc.undo != nil {
				defer tc.undo(t)
			}
			if r := refresh(t, tok); r.status == 200 {
				t.Errorf("refresh after %s: %s", tc.name, r.body)
			}
		})
	}
}

// Revoking a refresh token revokes its grant (its access tokens too);
// another client cannot revoke it.
func TestRevokingRefreshTokenRevokesGrant(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", webClient("urn:acme/web"))
	other := h.createClient(t, "acme", webClient("urn:acme/other"))
	cfg := clientConfig("acme", c, "openid")
	tok := h.codeFlow(t, h.browser(t), cfg, "alice")

	t.Run("another client cannot revoke it", func(t *testing.T) {
		wantOAuthError(t, h.revoke(t, "acme", tok.RefreshToken, other["client_id"].(string), other["client_secret"].(string)), 400, "unauthorized_client")
	})
	h.revoke(t, "acme", tok.RefreshToken, cfg.ClientID, cfg.ClientSecret).want(t, 200)
	t.Run("the grant's access token is inactive", func(t *testing.T) {
		if got := h.introspected(t, tok.AccessToken, cfg.ClientID, cfg.ClientSecret); got.Active {
			t.Errorf("the grant's access token is active after its refresh token was revoked: %+v", got)
		}
	})
	t.Run("the refresh token refreshes no more", func(t *testing.T) {
		r := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret)
		wantOAuthError(t, r, 400, "invalid_grant")
	})
	t.Run("the grant's access token gets no userinfo", func(t *testing.T) {
		h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok.AccessToken)).want(t, 401)
	})
}

// Of concurrent refreshes with one refresh token, at most one succeeds,
// the others are refused as reuse (or, when the grant is too busy to
// change, asked to come back), never a server error, and the reuse
// revokes the family.
func TestConcurrentRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", webClient("urn:acme/web"))
	cfg := clientConfig("acme", c, "openid")
	b := h.browser(t)
	for range 5 {
		tok := h.codeFlow(t, b, cfg, "alice")
		var ok []response
		for _, r := range h.race(t, 16, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret) {
			switch r.status {
			case 200:
				ok = append(ok, r)
			case 400:
				wantOAuthError(t, r, 400, "invalid_grant")
			case 503:
				wantOAuthError(t, r, 503, "temporarily_unavailable")
			default:
				t.Errorf("a refresh racing others: %d %s", r.status, r.body)
			}
		}
		if len(ok) > 1 {
			t.Fatalf("one refresh token used %d times", len(ok))
		}
		for _, r := range ok {
			next := decodeAs[tokenAnswer](t, r)
			rr := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}}, cfg.ClientID, cfg.ClientSecret)
			wantOAuthError(t, rr, 400, "invalid_grant")
			if h.introspected(t, next.AccessToken, cfg.ClientID, cfg.ClientSecret).Active {
				t.Error("access token of a family whose refresh token was reused is active")
			}
		}
	}
}
