package httpapi_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/time/rate"

	"github.com/clavisiam/clavis/http/oauth"
)

// introspect posts a token to a tenant's introspection endpoint.
func (h *adminHarness) introspect(t *testing.T, tenant, tok string, basic ...string) response {
	t.Helper()
	return h.formCall(t, tenant, "introspect", url.Values{"token": {tok}}, basic...)
}

// introspected introspects a token at acme, wanting an answer, and
// decodes it.
func (h *adminHarness) introspected(t *testing.T, tok string, basic ...string) introspection {
	t.Helper()
	return decodeAs[introspection](t, h.introspect(t, "acme", tok, basic...).want(t, 200))
}

// wantInactive fails unless r is an introspection that says nothing but
// that the token is not active.
func wantInactive(t *testing.T, what string, r response) {
	t.Helper()
	if diff := cmp.Diff(`200 {"active":false}`, strconv.Itoa(r.status)+" "+string(bytes.TrimSpace(r.body))); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

func TestIntrospection(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	betaID, betaSecret := h.tenantAdmin(t, "beta")
	rs, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Resource server", "code": "urn:acme/rs",
		"grant_types": []string{"client_credentials"}})
	as := []string{rs.ClientID, rs.ClientSecret}
	spa, _ := h.newClient(t, "acme", spaClient("urn:acme/spa"))
	tok := h.accessToken(t, "acme", adminID, adminSecret)
	betaTok := h.accessToken(t, "beta", betaID, betaSecret)

	t.Run("an active token shows its client, subject, scope, issuer and type", func(t *testing.T) {
		got := h.introspected(t, tok, as...)
		want := introspection{Active: true, Scope: "clavis:admin", ClientID: adminID, TokenType: "Bearer", Sub: adminID,
			Aud: []string{testIssuer + "acme"}, Iss: testIssuer + "acme"}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(introspection{}, "Exp", "Iat", "JTI")); diff != "" {
			t.Errorf("introspection (-want +got):\n%s", diff)
		}
		type shown struct{ HasExp, HasJTI bool }
		if diff := cmp.Diff(shown{true, true}, shown{got.Exp != 0, got.JTI != ""}); diff != "" {
			t.Errorf("introspection (-want +got):\n%s", diff)
		}
	})
	// They say nothing but active: false.
	for _, c := range []struct {
		name, tenant, tok string
		caller            []string
	}{
		{"garbage is inactive", "acme", "not-a-token", as},
		{"another tenant's token is inactive", "acme", betaTok, as},
		{"a truncated token is inactive", "acme", tok[:len(tok)-4], as},
		{"a token at another tenant's endpoint is inactive", "beta", tok, []string{betaID, betaSecret}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantInactive(t, c.name, h.introspect(t, c.tenant, c.tok, c.caller...).want(t, 200))
		})
	}

	// Who may ask: an authenticated, non-public client of the tenant.
	t.Run("a public client may not introspect", func(t *testing.T) {
		r := h.formCall(t, "acme", "introspect", url.Values{"token": {tok}, "client_id": {spa.ClientID}})
		if r.status != 401 {
			t.Errorf("a public client introspects: %d %s", r.status, r.body)
		}
	})
	for _, c := range []struct {
		name   string
		tenant string
		tok    string
		caller []string
		status int
		code   string
	}{
		{"a caller that does not authenticate is invalid_client", "acme", tok, nil, 401, "invalid_client"},
		{"a wrong secret is invalid_client", "acme", tok, []string{as[0], "cls_wrong"}, 401, "invalid_client"},
		{"another tenant's client is invalid_client", "acme", tok, []string{betaID, betaSecret}, 401, "invalid_client"},
		{"no token is invalid_request", "acme", "", as, 400, "invalid_request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantOAuthError(t, h.introspect(t, c.tenant, c.tok, c.caller...), c.status, c.code)
		})
	}
	t.Run("an unknown tenant has no introspection endpoint", func(t *testing.T) {
		h.introspect(t, "nope", tok, as...).want(t, 404)
	})

	t.Run("a scope taken from a client stops counting for its tokens at once", func(t *testing.T) {
		tok := h.accessToken(t, "acme", adminID, adminSecret)
		h.call(t, "GET", "/t/acme/admin/clients", nil, token(tok)).want(t, 200)
		h.call(t, "PATCH", "/t/acme/admin/clients/"+adminID, map[string]any{"default_scopes": []string{"clavis:clients:read"}}, contentType("application/merge-patch+json")).want(t, 200)
		h.call(t, "GET", "/t/acme/admin/clients", nil, token(tok)).want(t, 403)
		got := h.introspected(t, tok, as...)
		type shown struct {
			Active bool
			Scope  string
		}
		if diff := cmp.Diff(shown{Active: true}, shown{got.Active, got.Scope}); diff != "" {
			t.Errorf("introspection after the scope was taken (-want +got):\n%s", diff)
		}
	})
	t.Run("a deactivated client's token is inactive at once", func(t *testing.T) {
		h.call(t, "POST", "/t/acme/admin/clients/"+adminID+"/deactivate", map[string]any{"reason": "test"}).want(t, 200)
		wantInactive(t, "a deactivated client's token", h.introspect(t, "acme", tok, as...).want(t, 200))
	})
}

func TestReferenceTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	betaID, betaSecret := h.tenantAdmin(t, "beta")
	ops, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Ops", "code": "urn:acme/ops",
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:clients:read"},
		"access_token_type": "reference", "access_token_lifetime": 300})
	rs, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Resource server", "code": "urn:acme/rs",
		"grant_types": []string{"client_credentials"}})
	as := []string{rs.ClientID, rs.ClientSecret}
	tok := h.accessToken(t, "acme", ops.ClientID, ops.ClientSecret)

	t.Run("a reference token shows nothing of its content", func(t *testing.T) {
		type shown struct {
			TenantPrefix   bool
			Dots           int
			NamesItsClient bool
		}
		got := shown{strings.HasPrefix(tok, "clv_acme."), strings.Count(tok, "."), strings.Contains(tok, ops.ClientID)}
		if diff := cmp.Diff(shown{TenantPrefix: true, Dots: 1}, got); diff != "" {
			t.Fatalf("reference token %s (-want +got):\n%s", tok, diff)
		}
	})
	t.Run("introspection shows its client, scope, issuer and lifetime", func(t *testing.T) {
		got := h.introspected(t, tok, as...)
		type shown struct {
			Active          bool
			ClientID, Scope string
			Iss             string
			Lifetime        int64
		}
		want := shown{true, ops.ClientID, "clavis:clients:read", testIssuer + "acme", 300}
		if diff := cmp.Diff(want, shown{got.Active, got.ClientID, got.Scope, got.Iss, got.Exp - got.Iat}); diff != "" {
			t.Errorf("introspection (-want +got):\n%s", diff)
		}
	})
	t.Run("it is an admin credential like a JWT", func(t *testing.T) {
		h.call(t, "GET", "/t/acme/admin/clients", nil, token(tok)).want(t, 200)
	})

	flipped := []byte(tok)
	flipped[len(flipped)-5] ^= 1
	for _, c := range []struct {
		name, tenant, tok string
	}{
		{"an altered one is inactive", "acme", string(flipped)},
		{"one renamed to another tenant is inactive", "acme", strings.Replace(tok, "clv_acme.", "clv_beta.", 1)},
		{"one at another tenant is inactive", "beta", tok},
		{"one with an unknown tenant's prefix is inactive", "acme", "clv_nope." + strings.SplitN(tok, ".", 2)[1]},
	} {
		t.Run(c.name, func(t *testing.T) {
			caller := as
			if c.tenant == "beta" {
				caller = []string{betaID, betaSecret}
			}
			wantInactive(t, c.name, h.introspect(t, c.tenant, c.tok, caller...).want(t, 200))
		})
	}
	t.Run("an altered one is no credential", func(t *testing.T) {
		h.call(t, "GET", "/t/acme/admin/clients", nil, token(string(flipped))).want(t, 401)
	})
	t.Run("deactivating its client makes it inactive at once", func(t *testing.T) {
		h.call(t, "POST", "/t/acme/admin/clients/"+ops.ClientID+"/deactivate", map[string]any{"reason": "test"}).want(t, 200)
		wantInactive(t, "a deactivated client's reference token", h.introspect(t, "acme", tok, as...).want(t, 200))
	})
}

// revoke posts a token to a tenant's revocation endpoint.
func (h *adminHarness) revoke(t *testing.T, tenant, tok string, basic ...string) response {
	t.Helper()
	return h.formCall(t, tenant, "revoke", url.Values{"token": {tok}}, basic...)
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	owner := []string{adminID, adminSecret}
	rs, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Resource server", "code": "urn:acme/rs",
		"grant_types": []string{"client_credentials"}, "access_token_type": "reference"})
	other := []string{rs.ClientID, rs.ClientSecret}
	active := func(t *testing.T, tok string) bool {
		t.Helper()
		return h.introspected(t, tok, other...).Active
	}
	jwt, kept := h.accessToken(t, "acme", owner[0], owner[1]), h.accessToken(t, "acme", owner[0], owner[1])
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(jwt)).want(t, 200) // verified once, remembered

	t.Run("refusals revoke nothing", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			tok    string
			caller []string
			status int
			code   string
		}{
			{"another client's token is unauthorized_client", jwt, other, 400, "unauthorized_client"},
			{"a caller that does not authenticate is invalid_client", jwt, nil, 401, "invalid_client"},
			{"a wrong secret is invalid_client", jwt, []string{owner[0], "cls_wrong"}, 401, "invalid_client"},
			{"no token is invalid_request", "", owner, 400, "invalid_request"},
		} {
			t.Run(c.name, func(t *testing.T) {
				wantOAuthError(t, h.revoke(t, "acme", c.tok, c.caller...), c.status, c.code)
			})
		}
		t.Run("an unknown tenant has no revocation endpoint", func(t *testing.T) {
			h.revoke(t, "nope", jwt, owner...).want(t, 404)
		})
		if !active(t, jwt) {
			t.Fatal("a refused revocation revoked the token")
		}
	})
	t.Run("the owner's revocation makes a JWT inactive at once, for introspection and as a credential", func(t *testing.T) {
		h.revoke(t, "acme", jwt, owner...).want(t, 200)
		if active(t, jwt) {
			t.Error("a revoked JWT is still active")
		}
		h.call(t, "GET", "/t/acme/admin/clients", nil, token(jwt)).want(t, 401)
	})
	t.Run("revoking one token leaves the client's others active", func(t *testing.T) {
		if !active(t, kept) {
			t.Error("revoking one token revoked another")
		}
	})
	ref := h.accessToken(t, "acme", other[0], other[1])
	t.Run("a revoked reference token is inactive at once", func(t *testing.T) {
		h.revoke(t, "acme", ref, other...).want(t, 200)
		if active(t, ref) {
			t.Error("a revoked reference token is still active")
		}
	})
	t.Run("revoking again, or revoking garbage, is fine", func(t *testing.T) {
		h.revoke(t, "acme", ref, other...).want(t, 200)
		h.revoke(t, "acme", "not-a-token", other...).want(t, 200)
	})
	t.Run("the metadata names the revocation endpoint", func(t *testing.T) {
		m := decodeAs[serverMetadata](t, h.call(t, "GET", "/t/acme/.well-known/oauth-authorization-server", nil, noAuth).want(t, 200))
		if diff := cmp.Diff(testIssuer+"acme/oauth2/revoke", m.RevocationEndpoint); diff != "" {
			t.Errorf("revocation_endpoint (-want +got):\n%s", diff)
		}
	})
}

// TestRevocationRateLimit: every revocation is kept in memory by every
// node until its token would have expired, so a client may not revoke
// without bound. The bucket here refills once an hour, so what the test
// sees does not depend on how fast the machine revokes.
func TestRevocationRateLimit(t *testing.T) {
	t.Parallel()
	const burst = 5
	h := startAdmin(t, oauth.WithRevocationLimit(oauth.RevocationLimit{PerClient: rate.Every(time.Hour), Burst: burst}))
	id, secret := h.tenantAdmin(t, "acme")
	tokens := make([]string, burst+1)
	for i := range tokens {
		tokens[i] = h.accessToken(t, "acme", id, secret)
	}
	limited := tokens[burst]

	t.Run("revocations within the burst are answered", func(t *testing.T) {
		for i, tok := range tokens[:burst] {
			if r := h.revoke(t, "acme", tok, id, secret); r.status != http.StatusOK {
				t.Fatalf("revocation %d within the burst: %d %s", i, r.status, r.body)
			}
		}
	})
	t.Run("a revocation past the burst is temporarily_unavailable, with Retry-After", func(t *testing.T) {
		r := h.revoke(t, "acme", limited, id, secret)
		type shown struct {
			Status        int
			Error         string
			HasRetryAfter bool
		}
		got := shown{r.status, decodeAs[oauthError](t, r).Error, r.header.Get("Retry-After") != ""}
		if diff := cmp.Diff(shown{http.StatusTooManyRequests, "temporarily_unavailable", true}, got); diff != "" {
			t.Fatalf("revocation past the burst %v %s (-want +got):\n%s", r.header, r.body, diff)
		}
	})
	// The refused revocation changed nothing.
	t.Run("the token whose revocation was refused still works", func(t *testing.T) {
		if got := h.introspected(t, limited, id, secret); !got.Active {
			t.Errorf("a token whose revocation was refused: %+v", got)
		}
	})
	t.Run("the tokens revoked before stay revoked", func(t *testing.T) {
		if got := h.introspected(t, tokens[0], id, secret); got.Active {
			t.Errorf("a revoked token: %+v", got)
		}
	})
}
