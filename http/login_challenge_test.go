package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"

	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/http/oauth"
)

// loginAppClients are tenant acme, whose login application's URL has a
// query of its own, tenant beta, and two clients of acme: a partner
// that must ask for consent and may ask for email, and a first-party
// client.
type loginAppClients struct {
	partner, own oauth2.Config
	verifier     string
}

func (h *adminHarness) loginAppClients(t *testing.T) loginAppClients {
	t.Helper()
	h.createTenant(t, "acme")
	h.createTenant(t, "beta")
	h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": "https://login.example.com/signin?app=1"}).want(t, 200)
	body := webClient("urn:acme/partner")
	body["consent_required"] = true
	body["optional_scopes"] = []string{"email"}
	partner := clientConfig("acme", h.createClient(t, "acme", body), "openid", "email")
	body = webClient("urn:acme/own")
	body["first_party"] = true
	own := clientConfig("acme", h.createClient(t, "acme", body), "openid")
	return loginAppClients{partner: partner, own: own, verifier: oauth2.GenerateVerifier()}
}

// authURL is an authorization request of c, with state-0003 and PKCE.
func (w loginAppClients) authURL(c oauth2.Config, extra ...oauth2.AuthCodeOption) string {
	return c.AuthCodeURL("state-0003", append(extra, oauth2.S256ChallengeOption(w.verifier))...)
}

// challengeIn reads the challenge of kind that res sends the browser to
// the login application with; it fails unless there is one.
func challengeIn(t *testing.T, res *http.Response, kind string) string {
	t.Helper()
	c := location(t, res).Query().Get(kind + "_challenge")
	if c == "" {
		t.Fatalf("no %s challenge: %s", kind, res.Header.Get("Location"))
	}
	return c
}

// The login application's API, in the order a login takes: the browser
// goes to the application with a challenge, the application reads the
// login request and answers it, the browser brings the verifier back,
// and the same for consent; the client's tokens carry what the answers
// said. Each step is named for what it checks.
func TestLoginAndConsentChallenges(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	w := h.loginAppClients(t)
	b := h.browser(t)

	var lc string
	if !t.Run("the browser goes to the login application, whose own query is kept", func(t *testing.T) {
		res, _ := b.get(w.authURL(w.partner, oauth2.SetAuthURLParam("login_hint", "bob@example.com")))
		u := location(t, res)
		lc = u.Query().Get("login_challenge")
		type shown struct {
			Host, App    string
			HasChallenge bool
		}
		if diff := cmp.Diff(shown{"login.example.com", "1", true}, shown{u.Host, u.Query().Get("app"), lc != ""}); diff != "" {
			t.Fatalf("login redirect %s (-want +got):\n%s", u, diff)
		}
	}) {
		t.FailNow()
	}
	login := challengePath("acme", "login", lc)

	t.Run("the login request shows the client, the scopes and the hints", func(t *testing.T) {
		wantDiff(t, "login request", challengeRequest{
			Challenge:      lc,
			Client:         challengeClient{ClientID: w.partner.ClientID, ClientName: "Web urn:acme/partner"},
			RequestedScope: []string{"openid", "email"},
			OIDCContext:    oidcContext{LoginHint: "bob@example.com"},
		}, h.challengeView(t, "acme", "login", lc), cmpopts.IgnoreFields(challengeRequest{}, "RequestURL"))
	})

	t.Run("a challenge is its tenant's and its kind's; a forged one is nothing", func(t *testing.T) {
		for _, path := range []string{
			challengePath("beta", "login", lc),
			challengePath("acme", "consent", lc),
			challengePath("acme", "login", lc+"x"),
			"/t/acme/admin/login-requests/nonsense",
		} {
			if r := h.call(t, "GET", path, nil); r.status != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, r.status)
			}
		}
	})

	t.Run("answers that are not valid are refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			body       any
			status     int
		}{
			{"no subject", login + "/accept", map[string]any{}, 422},
			{"an unknown member", login + "/accept", map[string]any{"subject": "bob", "admin": true}, 400},
			{"a negative remember_for", login + "/accept", map[string]any{"subject": "bob", "remember_for": -1}, 422},
			{"a rejection with an error a login application may not send", login + "/reject", map[string]any{"error": "server_error"}, 422},
		} {
			if r := h.call(t, "POST", tc.path, tc.body); r.status != tc.status {
				t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
			}
		}
	})

	var accepted, again redirectAnswer
	if !t.Run("the login application may answer until the browser comes back", func(t *testing.T) {
		accepted = decodeAs[redirectAnswer](t, h.call(t, "POST", login+"/accept",
			map[string]any{"subject": "bob", "remember": true, "acr": "urn:acme:mfa", "amr": []string{"pwd", "otp"},
				"claims": map[string]any{"email": "bob@example.com", "sub": "mallory"}}).want(t, 200))
		again = decodeAs[redirectAnswer](t, h.call(t, "POST", login+"/accept", map[string]any{"subject": "eve"}).want(t, 200))
	}) {
		t.FailNow()
	}

	var cc string
	if !t.Run("the login verifier brings the browser to consent", func(t *testing.T) {
		res, _ := b.get(accepted.RedirectTo)
		cc = challengeIn(t, res, "consent")
	}) {
		t.FailNow()
	}
	t.Run("the login verifier works once, and the first brought back counts", func(t *testing.T) {
		res, _ := b.get(accepted.RedirectTo)
		wantDiff(t, "verifier used twice", refusedInPlace, answerOf(res))
		res, _ = b.get(again.RedirectTo)
		wantDiff(t, "the second answer's verifier after the first", refusedInPlace, answerOf(res))
	})
	t.Run("a challenge whose browser came back is answered", func(t *testing.T) {
		if r := h.call(t, "POST", login+"/accept", map[string]any{"subject": "eve"}); r.status != http.StatusConflict {
			t.Errorf("an answer after the browser came back: %d %s, want 409", r.status, r.body)
		}
	})
	t.Run("the consent request names the user who logged in", func(t *testing.T) {
		wantDiff(t, "consent request", "bob", h.challengeView(t, "acme", "consent", cc).Subject)
	})
	consent := challengePath("acme", "consent", cc)
	t.Run("consent to a scope not requested is refused", func(t *testing.T) {
		h.call(t, "POST", consent+"/accept", map[string]any{"grant_scope": []string{"openid", "address"}}).want(t, 422)
	})

	var tok *oauth2.Token
	if !t.Run("consent to openid alone gets the client a code", func(t *testing.T) {
		consented := decodeAs[redirectAnswer](t, h.call(t, "POST", consent+"/accept", map[string]any{"grant_scope": []string{"openid"}}).want(t, 200))
		res, _ := b.get(consented.RedirectTo)
		var err error
		if tok, err = w.partner.Exchange(h.oauthContext(t), landed(t, res, webCallback).Code, oauth2.VerifierOption(w.verifier)); err != nil {
			t.Fatal(err)
		}
	}) {
		t.FailNow()
	}
	t.Run("the access token has the consented scopes and the default ones, not email", func(t *testing.T) {
		c := h.claimsOf(t, "acme", tok.AccessToken)
		wantDiff(t, "access token", jwtClaims{Sub: "bob", Scope: "openid profile"}, jwtClaims{Sub: c.Sub, Scope: c.Scope})
	})
	t.Run("the ID token has what the login application said, and no claim of a scope not consented to", func(t *testing.T) {
		idToken, _ := tok.Extra("id_token").(string)
		c := h.claimsOf(t, "acme", idToken)
		type shown struct {
			ACR                 string
			AMR                 []string
			Aud                 stringList
			Email               *string
			HasSID, HasAuthTime bool
		}
		wantDiff(t, "ID token", shown{"urn:acme:mfa", []string{"pwd", "otp"}, stringList{w.partner.ClientID}, nil, true, true},
			shown{c.ACR, c.AMR, c.Aud, c.Email, c.SID != "", c.AuthTime != 0})
	})
	t.Run("userinfo has no email: its scope was not consented to", func(t *testing.T) {
		ui := decodeAs[userinfo](t, h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok.AccessToken)).want(t, 200))
		wantDiff(t, "userinfo", userinfo{Sub: "bob"}, userinfo{Sub: ui.Sub, Email: ui.Email})
	})

	type refusal struct {
		Status int
		Error  string
	}
	t.Run("userinfo refuses a token without openid", func(t *testing.T) {
		admin := decodeAs[createdTenantResponse](t, h.call(t, "POST", "/admin/tenants", map[string]string{"slug": "gamma", "name": "GAMMA"}).want(t, 201)).AdminClient
		cc, err := h.clientCredentials(t, "gamma", admin.ClientID, admin.ClientSecret, oauth2.AuthStyleInHeader)
		if err != nil {
			t.Fatal(err)
		}
		r := h.call(t, "GET", "/t/gamma/oauth2/userinfo", nil, token(cc.AccessToken))
		wantDiff(t, "userinfo without openid", refusal{403, "insufficient_scope"}, refusal{r.status, wwwAuthenticateError(r)})
	})
	t.Run("userinfo refuses a token of another tenant", func(t *testing.T) {
		r := h.call(t, "GET", "/t/beta/oauth2/userinfo", nil, token(tok.AccessToken))
		wantDiff(t, "userinfo at another tenant", refusal{401, "invalid_token"}, refusal{r.status, wwwAuthenticateError(r)})
	})

	// In a browser of its own: a new login challenge each.
	newChallenge := func(t *testing.T) (*browser, string) {
		t.Helper()
		b := h.browser(t)
		res, _ := b.get(w.authURL(w.own))
		return b, challengeIn(t, res, "login")
	}
	t.Run("a rejected login reaches the client as access_denied", func(t *testing.T) {
		b, lc := newChallenge(t)
		rejected := decodeAs[redirectAnswer](t, h.call(t, "POST", challengePath("acme", "login", lc)+"/reject", nil).want(t, 200))
		res, _ := b.get(rejected.RedirectTo)
		wantDiff(t, "rejected login", authResponse{Error: "access_denied", State: "state-0003", Iss: testIssuer + "acme"}, landed(t, res, webCallback).shape())
	})
	t.Run("a read-only token may not answer challenges", func(t *testing.T) {
		_, lc := newChallenge(t)
		ro := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "RO", "code": "urn:acme/ro", "default_scopes": []string{"clavis:clients:read"}})
		rot, err := h.clientCredentials(t, "acme", ro["client_id"].(string), ro["client_secret"].(string), oauth2.AuthStyleInHeader)
		if err != nil {
			t.Fatal(err)
		}
		h.call(t, "POST", challengePath("acme", "login", lc)+"/accept", map[string]any{"subject": "bob"}, token(rot.AccessToken)).want(t, 403)
	})
	t.Run("a login application's token with clavis:login answers challenges and does nothing else", func(t *testing.T) {
		_, lc := newChallenge(t)
		app := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Login app", "code": "urn:acme/login",
			"default_scopes": []string{"clavis:login"}})
		apt, err := h.clientCredentials(t, "acme", app["client_id"].(string), app["client_secret"].(string), oauth2.AuthStyleInHeader)
		if err != nil {
			t.Fatal(err)
		}
		as := token(apt.AccessToken)
		h.challengeView(t, "acme", "login", lc, as)
		before := h.head(t)
		for _, c := range []struct{ method, path string }{
			{"GET", "/t/acme/admin/clients"},
			{"GET", "/t/acme/admin/login-app"},
			{"PUT", "/t/acme/admin/login-app"},
			{"POST", "/t/acme/oauth2/register"},
		} {
			if r := h.call(t, c.method, c.path, map[string]any{"login_url": "https://evil.example.com", "client_name": "x"}, as); r.status != 403 {
				t.Errorf("%s %s with clavis:login: %d %s", c.method, c.path, r.status, r.body)
			}
		}
		h.unchanged(t, before, "clavis:login outside the login API")
		h.call(t, "GET", challengePath("beta", "login", lc), nil, as).want(t, 404)
		h.call(t, "POST", challengePath("acme", "login", lc)+"/accept", map[string]any{"subject": "bob"}, as).want(t, 200)
	})
}

// What a login session (the user logged in with remember) skips and
// what it does not, and how it ends. The steps run in order on one
// browser, each on the session the one before left.
func TestLoginSession(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	h := startAdmin(t, oauth.WithClock(clock.now))
	w := h.loginAppClients(t)
	b := h.browser(t)
	if !t.Run("bob logs in with remember", func(t *testing.T) {
		res := h.loginThroughApp(t, b, "acme", w.authURL(w.own), map[string]any{"subject": "bob", "remember": true})
		wantDiff(t, "after the login", authResponse{Code: set, State: "state-0003", Iss: testIssuer + "acme"}, landed(t, res, webCallback).shape())
	}) {
		t.FailNow()
	}

	t.Run("the login application is skipped, consent is still asked of a client that requires it", func(t *testing.T) {
		res, _ := b.get(w.authURL(w.partner))
		cc := challengeIn(t, res, "consent")
		cr := h.challengeView(t, "acme", "consent", cc)
		type shown struct {
			Subject string
			Skip    bool
		}
		wantDiff(t, "consent request", shown{"bob", true}, shown{cr.Subject, cr.Skip})

		t.Run("a rejected consent reaches the client as access_denied with its description and state", func(t *testing.T) {
			rejected := decodeAs[redirectAnswer](t, h.call(t, "POST", challengePath("acme", "consent", cc)+"/reject",
				map[string]any{"error_description": "No thanks."}).want(t, 200))
			res, _ := b.get(rejected.RedirectTo)
			got := landed(t, res, webCallback)
			wantDiff(t, "rejected consent", authResponse{Error: "access_denied", State: "state-0003", Iss: testIssuer + "acme"}, got.shape())
			if !strings.Contains(got.ErrorDescription, "No thanks.") {
				t.Errorf("error_description %q does not say the login application's %q", got.ErrorDescription, "No thanks.")
			}
		})
	})

	for _, tc := range []struct {
		name string
		c    oauth2.Config
		want authResponse
	}{
		{"a first-party client gets its code at once, even with prompt=none", w.own,
			authResponse{Code: set, State: "state-0003", Iss: testIssuer + "acme"}},
		{"prompt=none at a client that needs consent is consent_required", w.partner,
			authResponse{Error: "consent_required", State: "state-0003", Iss: testIssuer + "acme"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := b.get(w.authURL(tc.c, oauth2.SetAuthURLParam("prompt", "none")))
			wantDiff(t, "prompt=none", tc.want, landed(t, res, webCallback).shape())
		})
	}
	t.Run("prompt=login asks for a login again", func(t *testing.T) {
		res, _ := b.get(w.authURL(w.own, oauth2.SetAuthURLParam("prompt", "login")))
		challengeIn(t, res, "login")
	})
	t.Run("a max_age the session is too old for asks for a login again", func(t *testing.T) {
		clock.advance(1100 * time.Millisecond)
		res, _ := b.get(w.authURL(w.own, oauth2.SetAuthURLParam("max_age", "1")))
		challengeIn(t, res, "login")
	})

	var confirm string
	if !t.Run("logout without an id_token_hint asks the user first", func(t *testing.T) {
		res, page := b.get(testIssuer + "acme/oauth2/logout?client_id=" + w.own.ClientID)
		m := regexp.MustCompile(`name="confirm" value="([^"]+)"`).FindStringSubmatch(page)
		if res.StatusCode != 200 || m == nil {
			t.Fatalf("logout without a hint: %d %s", res.StatusCode, page)
		}
		confirm = m[1]
	}) {
		t.FailNow()
	}
	t.Run("a forged confirmation asks again", func(t *testing.T) {
		res, _ := b.post(testIssuer+"acme/oauth2/logout", url.Values{"client_id": {w.own.ClientID}, "confirm": {"forged"}})
		wantDiff(t, "logout with a forged confirmation", http.StatusOK, res.StatusCode)
	})
	t.Run("the confirmed logout logs out", func(t *testing.T) {
		res, page := b.post(testIssuer+"acme/oauth2/logout", url.Values{"client_id": {w.own.ClientID}, "confirm": {confirm}})
		if !strings.Contains(page, "logged out") {
			t.Errorf("confirmed logout: %d %s", res.StatusCode, page)
		}
	})
	t.Run("after logout prompt=none is login_required", func(t *testing.T) {
		res, _ := b.get(w.authURL(w.own, oauth2.SetAuthURLParam("prompt", "none")))
		wantDiff(t, "prompt=none after logout", authResponse{Error: "login_required", State: "state-0003", Iss: testIssuer + "acme"},
			landed(t, res, webCallback).shape())
	})
}

// A login application grants a person only the platform scopes its own
// token holds: a token with clavis:login (which clavis:clients:write
// implies) answers challenges, but cannot sign anyone in with
// clavis:admin, at consent nor, for a client that asks no consent, at
// login. Before, a client writer signed in to the console as an
// administrator this way.
func TestLoginAppGrantsOnlyWhatItHolds(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	body := webClient("urn:acme/staff")
	body["consent_required"] = true
	body["optional_scopes"] = []string{"clavis:admin"}
	consenting := clientConfig("acme", h.createClient(t, "acme", body), "openid", "clavis:admin")
	body = webClient("urn:acme/staff-direct")
	body["first_party"] = true
	body["optional_scopes"] = []string{"clavis:admin"}
	direct := clientConfig("acme", h.createClient(t, "acme", body), "openid", "clavis:admin")
	app, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Login app", "code": "urn:acme/login",
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:clients:write"}})
	tok, err := h.clientCredentials(t, "acme", app.ClientID, app.ClientSecret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	as := token(tok.AccessToken)
	verifier := oauth2.GenerateVerifier()
	start := func(c oauth2.Config) (*browser, string) {
		b := h.browser(t)
		res, _ := b.get(c.AuthCodeURL("state-0004", oauth2.S256ChallengeOption(verifier)))
		return b, challengeIn(t, res, "login")
	}

	// Consent: refused with clavis:admin, accepted without it.
	b, lc := start(consenting)
	r := h.call(t, "POST", challengePath("acme", "login", lc)+"/accept", map[string]any{"subject": "mallory"}, as).want(t, 200)
	res, _ := b.get(decodeAs[redirectAnswer](t, r).RedirectTo)
	cc := challengeIn(t, res, "consent")
	checkProblem(t, h.call(t, "POST", challengePath("acme", "consent", cc)+"/accept", map[string]any{"grant_scope": []string{"openid", "clavis:admin"}}, as),
		403, httpapi.ProblemForbidden, "")
	checkProblem(t, h.call(t, "POST", challengePath("acme", "consent", cc)+"/accept", map[string]any{}, as), 403, httpapi.ProblemForbidden, "")
	h.call(t, "POST", challengePath("acme", "consent", cc)+"/accept", map[string]any{"grant_scope": []string{"openid"}}, as).want(t, 200)

	// No consent: the login itself would grant clavis:admin.
	_, lc = start(direct)
	checkProblem(t, h.call(t, "POST", challengePath("acme", "login", lc)+"/accept", map[string]any{"subject": "mallory"}, as), 403, httpapi.ProblemForbidden, "")
	// The root token holds everything.
	h.call(t, "POST", challengePath("acme", "login", lc)+"/accept", map[string]any{"subject": "mallory"}).want(t, 200)
}
