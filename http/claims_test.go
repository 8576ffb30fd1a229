package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// A user who refuses a scope at consent does not have the claims of
// that scope handed to the client anyway (OpenID Connect Core §5.4):
// the login application gives its claims at login, before consent, so
// it cannot filter them itself.
func TestUserinfoHasOnlyConsentedClaims(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	body := webClient("urn:acme/partner")
	body["consent_required"] = true
	body["optional_scopes"] = []string{"email", "phone"}
	cfg := clientConfig("acme", h.createClient(t, "acme", body), "openid", "email", "phone")
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)

	res, _ := b.get(cfg.AuthCodeURL("state-at03", oauth2.S256ChallengeOption(verifier)))
	lc := location(t, res).Query().Get("login_challenge")
	next := h.acceptChallenge(t, "acme", "login", lc, map[string]any{"subject": "bob",
		"claims": map[string]any{"email": "bob@example.com", "email_verified": true, "phone_number": "+41 79 000 00 00", "name": "Bob"}})
	res, _ = b.get(next)
	cc := location(t, res).Query().Get("consent_challenge")
	// Bob allows openid only: neither email nor phone.
	res, _ = b.get(h.acceptChallenge(t, "acme", "consent", cc, map[string]any{"grant_scope": []string{"openid"}}))
	tok, err := cfg.Exchange(h.oauthContext(t), arrived(t, res, webCallback).Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if claims, _ := h.verify(t, "acme", tok.AccessToken); strings.Contains(claims["scope"].(string), "email") {
		t.Fatalf("email granted: %v", claims["scope"])
	}
	ui := h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok.AccessToken)).want(t, 200).object(t)
	for _, refused := range []string{"email", "email_verified", "phone_number"} {
		if v, ok := ui[refused]; ok {
			t.Errorf("userinfo discloses %s=%v although the user refused its scope", refused, v)
		}
	}
}

// The login application cannot set the server's own claims, even in the
// ID token of a client that always gets user claims.
func TestLoginAppCannotSetServerClaims(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	body := webClient("urn:acme/own")
	body["first_party"] = true
	body["always_include_user_claims_in_id_token"] = true
	c := h.createClient(t, "acme", body)
	cfg := clientConfig("acme", c, "openid")
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)
	res := h.loginThroughApp(t, b, "acme", cfg.AuthCodeURL("state-at08", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-rv08")),
		map[string]any{"subject": "bob", "claims": map[string]any{
			"iss": "https://evil.example.com", "sub": "root", "aud": "other", "exp": 9999999999, "iat": 1, "nbf": 1, "nonce": "evil",
			"sid": "evil", "at_hash": "evil", "azp": "evil", "auth_time": 1, "acr": "evil", "amr": []string{"evil"}, "jti": "evil",
			"client_id": "evil", "scope": "clavis:admin", "department": "sales"}})
	tok, err := cfg.Exchange(h.oauthContext(t), arrived(t, res, webCallback).Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idc, _ := h.verify(t, "acme", tok.Extra("id_token").(string))
	if idc["iss"] != testIssuer+"acme" || idc["sub"] != "bob" || strings.Join(anyStrings(idc["aud"]), " ") != cfg.ClientID ||
		idc["nonce"] != "nonce-rv08" || idc["sid"] != nil || idc["at_hash"] == "evil" || idc["azp"] == "evil" || idc["acr"] != nil ||
		idc["amr"] != nil || idc["jti"] == "evil" || idc["client_id"] != nil || idc["scope"] != nil || idc["department"] != "sales" ||
		idc["exp"].(float64) > float64(time.Now().Add(time.Hour).Unix()) {
		t.Errorf("ID token %v", idc)
	}
	at, _ := h.verify(t, "acme", tok.AccessToken)
	if at["sub"] != "bob" || at["client_id"] != cfg.ClientID || at["scope"] != "openid profile" || at["department"] != nil {
		t.Errorf("access token %v", at)
	}
	ui := h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok.AccessToken)).want(t, 200).object(t)
	if ui["sub"] != "bob" || ui["iss"] != nil || ui["aud"] != nil {
		t.Errorf("userinfo %v", ui)
	}
}

// Userinfo answers only for access tokens of a user's grant.
func TestUserinfoRefusesClientCredentialsTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	m2m := h.call(t, "POST", "/t/acme/admin/clients", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"default_scopes": []string{"openid"}})
	if m2m.status != 201 {
		t.Fatalf("an m2m client with openid: %d %s", m2m.status, m2m.body)
	}
	w := m2m.object(t)
	tok, err := h.clientCredentials(t, "acme", w["client_id"].(string), w["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	if claims, _ := h.verify(t, "acme", tok.AccessToken); claims["scope"] != "openid" {
		t.Fatalf("claims %v", claims)
	}
	if r := h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok.AccessToken)); r.status != 401 {
		t.Errorf("userinfo for a client_credentials token: %d %s", r.status, r.body)
	}
}
