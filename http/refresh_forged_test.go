package httpapi_test

import (
	"net/url"
	"testing"
)

// A refresh token is proved by its MAC, whatever form it takes: a
// token made up from what is not secret (a grant's id is in every
// access token it issues, grant_id) must not be taken for a used token
// of that grant, which would revoke the grant. Here
// ory_rt_{any}.{grant}~0~{any}, the form of a legacy token whose
// signature reads as this form's, is presented by another client of the
// tenant, or by anyone with only a public client's id.
func TestForgedRefreshTokenRevokesNoGrant(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	cfg := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/web")), "openid")
	other := h.createClient(t, "acme", webClient("urn:acme/other"))
	spa := h.createClient(t, "acme", spaClient("urn:acme/spa"))
	b := h.browser(t)
	for name, attacker := range map[string][]string{
		"another confidential client": {other["client_id"].(string), other["client_secret"].(string)},
		"a public client's id alone":  {spa["client_id"].(string)},
	} {
		t.Run(name, func(t *testing.T) {
			tok := h.codeFlow(t, b, cfg, "alice")
			claims, _ := verifyAs[struct {
				GrantID string `json:"grant_id"`
			}](t, h, "acme", tok.AccessToken)
			if claims.GrantID == "" {
				t.Fatal("the access token names no grant")
			}
			for _, gen := range []string{"0", "1"} {
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ory_rt_x." + claims.GrantID + "~" + gen + "~x"}}
				if len(attacker) == 1 {
					form.Set("client_id", attacker[0])
				}
				wantOAuthError(t, h.tokenCall(t, "acme", form, attacker...), 400, "invalid_grant")
			}
			if !h.introspected(t, tok.AccessToken, cfg.ClientID, cfg.ClientSecret).Active {
				t.Error("a forged refresh token revoked the grant: its access token is inactive")
			}
			h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret).want(t, 200)
		})
	}
}

// The current refresh token written another way (a line break in its
// MAC, which a lenient decoder skips) is no token: it must not read as
// one used before, which would revoke the grant of whoever sent it.
func TestRespelledRefreshTokenRevokesNoGrant(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	cfg := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/web")), "openid")
	tok := h.codeFlow(t, h.browser(t), cfg, "alice")
	respelled := tok.RefreshToken[:len(tok.RefreshToken)-4] + "\n" + tok.RefreshToken[len(tok.RefreshToken)-4:]
	wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {respelled}}, cfg.ClientID, cfg.ClientSecret), 400, "invalid_grant")
	if !h.introspected(t, tok.AccessToken, cfg.ClientID, cfg.ClientSecret).Active {
		t.Error("the respelled refresh token revoked the grant: its access token is inactive")
	}
	h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret).want(t, 200)
}
