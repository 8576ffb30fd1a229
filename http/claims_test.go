package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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
	t.Run("the access token has only the scope allowed", func(t *testing.T) {
		if claims, _ := verifyAs[accessClaims](t, h, "acme", tok.AccessToken); strings.Contains(claims.Scope, "email") {
			t.Fatalf("email granted: %v", claims.Scope)
		}
	})
	t.Run("userinfo has none of the refused scopes' claims", func(t *testing.T) {
		// Present at all, even as null, they would say something.
		type refused struct {
			Email         json.RawMessage `json:"email"`
			EmailVerified json.RawMessage `json:"email_verified"`
			PhoneNumber   json.RawMessage `json:"phone_number"`
		}
		ui := decodeAs[refused](t, h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok.AccessToken)).want(t, 200))
		if diff := cmp.Diff(refused{}, ui); diff != "" {
			t.Errorf("userinfo discloses claims although the user refused their scope (-want +got):\n%s", diff)
		}
	})
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
	t.Run("the ID token has the server's claims and the application's own", func(t *testing.T) {
		type withDepartment struct {
			idClaims
			Department string `json:"department"`
		}
		got, _ := verifyAs[withDepartment](t, h, "acme", tok.Extra("id_token").(string))
		want := idClaims{Iss: testIssuer + "acme", Sub: "bob", Aud: stringList{cfg.ClientID}, Nonce: "nonce-rv08"}
		// What differs from token to token is compared below.
		if diff := cmp.Diff(want, got.idClaims, cmpopts.IgnoreFields(idClaims{}, "Exp", "AtHash", "Azp", "JTI")); diff != "" {
			t.Errorf("ID token claims (-want +got):\n%s", diff)
		}
		type shown struct {
			Department                   string
			EvilAtHash, EvilAzp, EvilJTI bool
			ExpiresWithinTheHour         bool
		}
		if diff := cmp.Diff(shown{Department: "sales", ExpiresWithinTheHour: true}, shown{got.Department, got.AtHash == "evil", got.Azp == "evil",
			got.JTI == "evil", got.Exp <= time.Now().Add(time.Hour).Unix()}); diff != "" {
			t.Errorf("ID token claims (-want +got):\n%s", diff)
		}
	})
	t.Run("the access token has the server's claims only", func(t *testing.T) {
		type withDepartment struct {
			accessClaims
			Department *string `json:"department"`
		}
		got, _ := verifyAs[withDepartment](t, h, "acme", tok.AccessToken)
		type shown struct {
			Sub, ClientID, Scope string
			Department           *string
		}
		if diff := cmp.Diff(shown{"bob", cfg.ClientID, "openid profile", nil}, shown{got.Sub, got.ClientID, got.Scope, got.Department}); diff != "" {
			t.Errorf("access token claims (-want +got):\n%s", diff)
		}
	})
	t.Run("userinfo has the subject, and neither issuer nor audience", func(t *testing.T) {
		type userinfoAnswer struct {
			Sub string `json:"sub"`
			Iss any    `json:"iss"`
			Aud any    `json:"aud"`
		}
		ui := decodeAs[userinfoAnswer](t, h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok.AccessToken)).want(t, 200))
		if diff := cmp.Diff(userinfoAnswer{Sub: "bob"}, ui); diff != "" {
			t.Errorf("userinfo (-want +got):\n%s", diff)
		}
	})
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
	w := decodeAs[clientResponse](t, m2m)
	tok := h.accessToken(t, "acme", w.ClientID, w.ClientSecret)
	if claims, _ := verifyAs[accessClaims](t, h, "acme", tok); claims.Scope != "openid" {
		t.Fatalf("claims %+v", claims)
	}
	wantStatus(t, "userinfo for a client_credentials token", h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok)), 401, "")
}
