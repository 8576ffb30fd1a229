package httpapi_test

// Attacks on the browser flows (the authorization endpoint, the login
// application's API, codes, refresh tokens, login sessions, userinfo,
// logout), each test asserting the secure behaviour.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/http/oauth"
)

const testLoginURL = "https://login.example.com/signin"

// withLoginApp gives tenant a login application (the test plays it).
func (h *adminHarness) withLoginApp(t *testing.T, tenant string) {
	t.Helper()
	h.call(t, "PUT", "/t/"+tenant+"/admin/login-app", map[string]string{"login_url": testLoginURL}).want(t, 200)
}

// clientConfig is the oauth2 configuration of client c of tenant.
func clientConfig(tenant string, c map[string]any, scopes ...string) oauth2.Config {
	secret, _ := c["client_secret"].(string)
	redirect := webCallback
	if uris, _ := c["redirect_uris"].([]any); len(uris) > 0 {
		redirect = uris[0].(string)
	}
	cfg := oauth2.Config{ClientID: c["client_id"].(string), ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: testIssuer + tenant + "/oauth2/auth", TokenURL: testIssuer + tenant + "/oauth2/token"}}
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if secret == "" {
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	return cfg
}

// acceptChallenge answers a login or consent challenge of tenant as the login
// application and returns where the browser goes next.
func (h *adminHarness) acceptChallenge(t *testing.T, tenant, kind, challenge string, body any) string {
	t.Helper()
	return h.call(t, "POST", "/t/"+tenant+"/admin/"+kind+"-requests/"+url.PathEscape(challenge)+"/accept", body).
		want(t, 200).object(t)["redirect_to"].(string)
}

// loginThroughApp runs an authorization request of cfg up to the login
// application, logs user in there (body), and returns the answer the
// browser got at the end (for a client without consent: the redirect to
// the client).
func (h *adminHarness) loginThroughApp(t *testing.T, b *browser, tenant string, authURL string, body map[string]any) *http.Response {
	t.Helper()
	res, _ := b.get(authURL)
	lc := location(t, res).Query().Get("login_challenge")
	if lc == "" {
		t.Fatalf("no login challenge: %s", res.Header.Get("Location"))
	}
	res, _ = b.get(h.acceptChallenge(t, tenant, "login", lc, body))
	return res
}

// firstPartyWithLoginApp makes tenant acme, with a login application,
// and a first-party client of it that asks for openid.
func (h *adminHarness) firstPartyWithLoginApp(t *testing.T) oauth2.Config {
	t.Helper()
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	body := webClient("urn:acme/own")
	body["first_party"] = true
	return clientConfig("acme", h.createClient(t, "acme", body), "openid")
}

// testClock is the system's clock, moved on by what a test adds: what the
// provider judges by it ages without the test waiting.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func isRedirectTo(res *http.Response, prefix string) bool {
	return res.StatusCode/100 == 3 && strings.HasPrefix(res.Header.Get("Location"), prefix)
}

// The development login page is documented as served "only for tenants
// without a login application". It must not let anyone answer the
// challenges of a tenant that has one.
func TestFlowAttackDevLoginOnlyWithoutLoginApp(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	cfg := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/web")), "openid")
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)

	res, _ := b.get(cfg.AuthCodeURL("state-at01", oauth2.S256ChallengeOption(verifier)))
	u := location(t, res)
	if u.Host != "login.example.com" {
		t.Fatalf("the tenant's login application is not used: %s", u)
	}
	lc := u.Query().Get("login_challenge")

	// The attacker skips the login application and answers the challenge
	// on the development page instead, as whoever they like.
	if page, _ := b.get(testIssuer + "acme/dev/login?login_challenge=" + url.QueryEscape(lc)); page.StatusCode != 404 {
		t.Errorf("the development login page is served for a tenant with a login application: %d", page.StatusCode)
	}
	res, _ = b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"ceo@acme.example"}, "action": {"accept"}})
	if isRedirectTo(res, webCallback) {
		code := arrived(t, res, webCallback).Get("code")
		tok, err := cfg.Exchange(h.oauthContext(t), code, oauth2.VerifierOption(verifier))
		if err == nil {
			claims, _ := h.verify(t, "acme", tok.AccessToken)
			t.Errorf("login application bypassed through /dev/login: got a token for sub=%v", claims["sub"])
		} else {
			t.Errorf("login application bypassed through /dev/login: got a code (%v)", err)
		}
	}
}

// The verifier that brings the browser back from the login application
// must work only in the browser that started the flow (Hydra binds it
// with a CSRF cookie). Otherwise an attacker logs in as himself, with
// remember, and sends the redirect_to link to a victim: the victim's
// browser gets the attacker's login session cookie, and every later
// authorization at any client of the tenant silently logs the victim in
// as the attacker (login CSRF and session fixation).
func TestFlowAttackVerifierBoundToBrowser(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	cfg := h.firstPartyWithLoginApp(t)
	verifier := oauth2.GenerateVerifier()
	authURL := func(opts ...oauth2.AuthCodeOption) string {
		return cfg.AuthCodeURL("state-at02", append(opts, oauth2.S256ChallengeOption(verifier))...)
	}

	attacker, victim := h.browser(t), h.browser(t)
	res, _ := attacker.get(authURL())
	lc := location(t, res).Query().Get("login_challenge")
	link := h.acceptChallenge(t, "acme", "login", lc, map[string]any{"subject": "mallory", "remember": true})

	// The victim follows the attacker's link.
	res, _ = victim.get(link)
	if isRedirectTo(res, webCallback) && arrived(t, res, webCallback).Get("code") != "" {
		t.Errorf("a login verifier was accepted in a browser that did not start the flow")
	}
	// Later the victim signs in at the client: no login is asked, the
	// victim is mallory.
	res, _ = victim.get(authURL(oauth2.SetAuthURLParam("prompt", "none")))
	if isRedirectTo(res, webCallback) {
		if code := arrived(t, res, webCallback).Get("code"); code != "" {
			tok, err := cfg.Exchange(h.oauthContext(t), code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			claims, _ := h.verify(t, "acme", tok.AccessToken)
			t.Errorf("session fixation: the victim's browser got the attacker's login session (sub=%v, without logging in)", claims["sub"])
		}
	}
}

// A user who refuses a scope at consent must not have the claims of
// that scope handed to the client anyway (OpenID Connect Core §5.4).
// The login application gives its claims at login, before consent, so
// it cannot filter them itself.
func TestFlowAttackUserinfoOnlyConsentedClaims(t *testing.T) {
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

// prompt=login makes the user log in again; after a fresh login at the
// login application the client must get its code and tokens. fosite
// refuses an auth_time before the request's requested_at, and the
// request is parsed anew (requested_at = now) when the browser comes
// back, after the login.
func TestFlowAttackPromptLoginCompletes(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	cfg := h.firstPartyWithLoginApp(t)
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)

	for _, extra := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
		res := h.loginThroughApp(t, b, "acme", cfg.AuthCodeURL("state-at04", extra, oauth2.S256ChallengeOption(verifier)), map[string]any{"subject": "bob"})
		q := arrived(t, res, webCallback)
		if q.Get("code") == "" {
			t.Errorf("%v after a fresh login: %v", extra, q)
			continue
		}
		if _, err := cfg.Exchange(h.oauthContext(t), q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Errorf("%v: exchange: %v", extra, err)
		}
	}
}

// A failed PKCE verification must not remove the code's challenge while
// the code stays usable: fosite's PKCE handler deletes the challenge
// before comparing, so a second exchange without code_verifier passes
// for a client that does not require PKCE although the request used it.
func TestFlowAttackPKCEFailedVerifierKeepsChallenge(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/web")
	body["require_pkce"] = false
	c := h.createClient(t, "acme", body)
	id, secret := c["client_id"].(string), c["client_secret"].(string)
	cfg := clientConfig("acme", c, "openid")
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)
	code := h.loginCode(t, b, cfg, verifier, "alice")

	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCallback},
		"code_verifier": {oauth2.GenerateVerifier()}}
	wantOAuthError(t, h.tokenCall(t, "acme", form, id, secret), 400, "invalid_grant")
	form.Del("code_verifier")
	if r := h.tokenCall(t, "acme", form, id, secret); r.status == 200 {
		t.Errorf("PKCE bypassed: after a wrong code_verifier the code was exchanged without any: %s", r.body)
	}
}

// Tokens and codes come from the client; what fosite takes for their
// signature becomes part of a NATS key. Malformed ones are invalid
// grants (400), not server errors, and revoking one answers 200
// (RFC 7009 §2.2).
func TestFlowAttackMalformedTokensAreInvalidGrants(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", webClient("urn:acme/web"))
	id, secret := c["client_id"].(string), c["client_secret"].(string)

	for _, code := range []string{"garbage", "ory_ac_abc.", "ory_ac_abc.*", "ory_ac_abc.a>b", "ory_ac_abc.a b"} {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCallback},
			"code_verifier": {oauth2.GenerateVerifier()}}
		if r := h.tokenCall(t, "acme", form, id, secret); r.status != 400 || r.object(t)["error"] != "invalid_grant" {
			t.Errorf("code %q: %d %s, want 400 invalid_grant", code, r.status, r.body)
		}
	}
	for _, rt := range []string{"garbage", "ory_rt_abc.", "ory_rt_abc.*", "ory_rt_abc.a>b"} {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if r := h.tokenCall(t, "acme", form, id, secret); r.status != 400 || r.object(t)["error"] != "invalid_grant" {
			t.Errorf("refresh token %q: %d %s, want 400 invalid_grant", rt, r.status, r.body)
		}
	}
	for _, rt := range []string{"ory_rt_abc.", "ory_rt_abc.*", "ory_rt_abc.a b"} {
		if r := h.revoke(t, "acme", rt, id, secret); r.status != 200 {
			t.Errorf("revoke %q: %d %s, want 200", rt, r.status, r.body)
		}
	}
}

// The authorization endpoint is unauthenticated, and every request that
// reaches the login application is stored (a flow, for up to an hour)
// in the flow store. A GET is bounded by the
// server's header buffer (4 KiB); a POST carries up to the body limit
// (1 MiB by default) of arbitrary parameters, all stored. The stored
// request must be bounded.
func TestFlowAttackAuthorizeRequestSizeBounded(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	cfg := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/web")), "openid")
	b := h.browser(t).stopAtLogin()

	form := url.Values{"client_id": {cfg.ClientID}, "redirect_uri": {webCallback}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"state-at06"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}, "padding": {strings.Repeat("A", 48<<10)}}
	res, _ := b.post(testIssuer+"acme/oauth2/auth", form)
	if !isRedirectTo(res, testLoginURL) {
		return // refused: fine
	}
	lc := location(t, res).Query().Get("login_challenge")
	lr := h.call(t, "GET", "/t/acme/admin/login-requests/"+url.PathEscape(lc), nil).want(t, 200).object(t)
	if n := len(lr["request_url"].(string)); n > 8<<10 {
		t.Errorf("an anonymous authorization request stored %d bytes in the flow store", n)
	}
}

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
	c := h.createClient(t, "acme", body)
	if c["refresh_token_expiration"] != "sliding" || c["refresh_token_sliding_lifetime"] != 60.0 {
		t.Fatalf("client %v", c)
	}
	cfg := clientConfig("acme", c, "openid")
	b := h.browser(t)
	used, unused := h.codeFlow(t, b, cfg, "alice"), h.codeFlow(t, b, cfg, "alice")
	refresh := func(tok *oauth2.Token) response {
		return h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret)
	}
	clock.advance(30 * time.Second)
	if r := refresh(used); r.status != 200 {
		t.Errorf("a refresh token unused for half its sliding lifetime: %d %s", r.status, r.body)
	}
	clock.advance(32 * time.Second)
	if r := refresh(unused); r.status == 200 {
		t.Errorf("a refresh token unused for longer than its sliding lifetime (60 s) still works")
	}
}

// A refresh issues a new access token; what it says of the client's
// authorization (the permissions of its scopes, the client's claims)
// must be the client's now, not what it was at login: otherwise a
// permission an administrator withdrew stays in every refreshed token
// for the grant's whole life (30 days by default).
func TestFlowAttackRefreshRecomputesPermissions(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/web")
	body["scope_permissions"] = map[string][]string{"profile": {"read", "delete"}}
	c := h.createClient(t, "acme", body)
	cfg := clientConfig("acme", c, "openid")
	tok := h.codeFlow(t, h.browser(t), cfg, "alice")
	if claims, _ := h.verify(t, "acme", tok.AccessToken); !slices.Equal(anyStrings(claims["permissions"]), []string{"profile:read", "profile:delete"}) {
		t.Fatalf("permissions %v", claims["permissions"])
	}

	h.call(t, "PATCH", "/t/acme/admin/clients/"+cfg.ClientID, map[string]any{"version": 1,
		"scope_permissions": map[string][]string{"profile": {"read"}}}).want(t, 200)
	r := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret).want(t, 200)
	claims, _ := h.verify(t, "acme", r.object(t)["access_token"].(string))
	if perms := anyStrings(claims["permissions"]); slices.Contains(perms, "profile:delete") {
		t.Errorf("the refreshed access token keeps the withdrawn permission: %v", perms)
	}
}

// Challenges, verifiers and login session cookies are
// their tenant's.
func TestFlowAttackFlowsStayInTheirTenant(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createTenant(t, "beta")
	h.withLoginApp(t, "acme")
	h.withLoginApp(t, "beta")
	body := webClient("urn:acme/own")
	body["first_party"] = true
	acme := clientConfig("acme", h.createClient(t, "acme", body), "openid")
	beta := clientConfig("beta", h.createClient(t, "beta", body), "openid")
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)

	res, _ := b.get(acme.AuthCodeURL("state-at07", oauth2.S256ChallengeOption(verifier)))
	lc := location(t, res).Query().Get("login_challenge")
	h.call(t, "GET", "/t/beta/admin/login-requests/"+url.PathEscape(lc), nil).want(t, 404)
	h.call(t, "POST", "/t/beta/admin/login-requests/"+url.PathEscape(lc)+"/accept", map[string]any{"subject": "x"}).want(t, 404)
	h.call(t, "POST", "/t/acme/admin/consent-requests/"+url.PathEscape(lc)+"/accept", map[string]any{}).want(t, 404)
	beTA := h.createTenant(t, "gamma")["admin_client"].(map[string]any)
	gammaTok, err := h.clientCredentials(t, "gamma", beTA["client_id"].(string), beTA["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	// Another tenant's admin may not answer.
	if r := h.call(t, "POST", "/t/acme/admin/login-requests/"+url.PathEscape(lc)+"/accept", map[string]any{"subject": "x"}, token(gammaTok.AccessToken)); r.status/100 == 2 {
		t.Fatalf("another tenant's admin answered a challenge: %d", r.status)
	}
	next := h.acceptChallenge(t, "acme", "login", lc, map[string]any{"subject": "bob", "remember": true})

	// The verifier at another tenant: refused, no redirect, not used up.
	res, _ = b.get(strings.Replace(next, "/t/acme/", "/t/beta/", 1))
	if res.StatusCode != 400 || res.Header.Get("Location") != "" {
		t.Errorf("acme's verifier at beta: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// As a consent_verifier: the flow's stage decides.
	res, _ = b.get(strings.Replace(next, "login_verifier", "consent_verifier", 1))
	if q := arrived(t, res, webCallback); q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	// Used.
	if res, _ = b.get(next); res.StatusCode != 400 || res.Header.Get("Location") != "" {
		t.Errorf("verifier used twice: %d %s", res.StatusCode, res.Header.Get("Location"))
	}

	// acme's login session cookie, presented to beta under beta's name.
	base, _ := url.Parse(testIssuer + "acme/")
	var sess *http.Cookie
	for _, ck := range b.c.Jar.Cookies(base) {
		if strings.HasPrefix(ck.Name, "clavis_login") {
			sess = ck
		}
	}
	if sess == nil {
		t.Fatal("no login session cookie")
	}
	bu, _ := url.Parse(testIssuer + "beta/")
	b.c.Jar.SetCookies(bu, []*http.Cookie{{Name: "clavis_login_beta", Value: sess.Value, Path: "/t/beta/"}})
	res, _ = b.get(beta.AuthCodeURL("state-at07", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption(verifier)))
	if q := arrived(t, res, webCallback); q.Get("error") != "login_required" {
		t.Errorf("acme's login session at beta: %v", q)
	}
	// A forged cookie at acme: a login is asked.
	b2 := h.browser(t)
	b2.c.Jar.SetCookies(base, []*http.Cookie{{Name: sess.Name, Value: strings.Split(sess.Value, ".")[0] + ".AAAAAAAAAAAAAAAAAAAAAA", Path: "/t/acme/"}})
	res, _ = b2.get(acme.AuthCodeURL("state-at07", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption(verifier)))
	if q := arrived(t, res, webCallback); q.Get("error") != "login_required" {
		t.Errorf("forged login session cookie: %v", q)
	}
}

// The login application cannot set the server's own
// claims, even in the ID token of a client that always gets user claims.
func TestFlowAttackLoginAppCannotSetProtectedClaims(t *testing.T) {
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

// The development login page escapes what it shows.
func TestFlowAttackDevLoginPageEscapes(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/web")
	body["client_name"] = `<script>alert("name")</script>`
	cfg := clientConfig("acme", h.createClient(t, "acme", body), "openid")
	b := h.browser(t)
	res, page := b.get(cfg.AuthCodeURL("state-at09", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("login_hint", `"><script>alert("hint")</script>`)))
	if res.StatusCode != 200 || !strings.Contains(page, "Sign in to") {
		t.Fatalf("login page %d %s", res.StatusCode, page)
	}
	if strings.Contains(page, "<script>") {
		t.Errorf("unescaped markup on the development login page:\n%s", page)
	}
}

// A refresh fails once the client is deactivated, its
// tenant suspended, or a granted scope taken from the client.
func TestFlowAttackRefreshAfterChanges(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/web")
	body["optional_scopes"] = []string{"email"}
	c := h.createClient(t, "acme", body)
	cfg := clientConfig("acme", c, "openid", "email")
	b := h.browser(t)
	refresh := func(tok *oauth2.Token) response {
		return h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret)
	}

	tok := h.codeFlow(t, b, cfg, "alice")
	h.call(t, "PATCH", "/t/acme/admin/clients/"+cfg.ClientID, map[string]any{"version": 1, "optional_scopes": []string{}}).want(t, 200)
	if r := refresh(tok); r.status == 200 {
		t.Errorf("refresh after the email scope was taken from the client: %s", r.body)
	}

	tok = h.codeFlow(t, b, clientConfig("acme", c, "openid"), "alice")
	h.call(t, "POST", "/admin/tenants/acme/suspend", map[string]string{"reason": "test"}).want(t, 200)
	if r := refresh(tok); r.status == 200 {
		t.Errorf("refresh at a suspended tenant: %s", r.body)
	}
	h.call(t, "POST", "/admin/tenants/acme/resume", nil).want(t, 200)
	h.call(t, "POST", "/t/acme/admin/clients/"+cfg.ClientID+"/deactivate", map[string]string{"reason": "test"}).want(t, 200)
	if r := refresh(tok); r.status == 200 {
		t.Errorf("refresh of a deactivated client: %s", r.body)
	}
}

// Revoking a refresh token revokes its grant (its
// access tokens too); another client cannot revoke it.
func TestFlowAttackRevokeRefreshTokenRevokesGrant(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", webClient("urn:acme/web"))
	other := h.createClient(t, "acme", webClient("urn:acme/other"))
	cfg := clientConfig("acme", c, "openid")
	tok := h.codeFlow(t, h.browser(t), cfg, "alice")

	wantOAuthError(t, h.revoke(t, "acme", tok.RefreshToken, other["client_id"].(string), other["client_secret"].(string)), 400, "unauthorized_client")
	h.revoke(t, "acme", tok.RefreshToken, cfg.ClientID, cfg.ClientSecret).want(t, 200)
	if h.introspect(t, "acme", tok.AccessToken, cfg.ClientID, cfg.ClientSecret).object(t)["active"] != false {
		t.Error("the grant's access token is active after its refresh token was revoked")
	}
	r := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret)
	wantOAuthError(t, r, 400, "invalid_grant")
	h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok.AccessToken)).want(t, 401)
}

// race posts form to acme's token endpoint n times at once and
// returns the answers.
func (h *adminHarness) race(t *testing.T, n int, form url.Values, id, secret string) []response {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []response
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.tokenCall(t, "acme", form, id, secret)
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// A code used twice at once: one exchange at most gets tokens, and, as
// for a code used twice one after the other (and as grantstore.go says
// of racing requests), the grant it got is revoked. The loser often
// fails in fosite's PKCE handler instead ("Unable to find initial PKCE
// data": the winner deleted the challenge), or re-reads the code as
// used in PopulateTokenEndpointResponse (server_error); neither revokes.
func TestFlowAttackConcurrentCodeReuseRevokesGrant(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", webClient("urn:acme/web"))
	cfg := clientConfig("acme", c, "openid")
	b := h.browser(t)
	missed := 0
	for range 20 {
		verifier := oauth2.GenerateVerifier()
		code := h.loginCode(t, b, cfg, verifier, "alice")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCallback}, "code_verifier": {verifier}}
		var ok []response
		for _, r := range h.race(t, 2, form, cfg.ClientID, cfg.ClientSecret) {
			if r.status == 200 {
				ok = append(ok, r)
			}
		}
		if len(ok) > 1 {
			t.Fatalf("one code exchanged %d times", len(ok))
		}
		if len(ok) == 1 {
			tok := ok[0].object(t)
			if h.introspect(t, "acme", tok["access_token"].(string), cfg.ClientID, cfg.ClientSecret).object(t)["active"] != false {
				missed++
			}
		}
	}
	if missed > 0 {
		t.Errorf("in %d of 20 concurrent double uses of a code, the grant the winner got stayed active", missed)
	}
}

// Of concurrent refreshes with one refresh token, at
// most one succeeds, and the reuse revokes the family.
func TestFlowAttackConcurrentRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", webClient("urn:acme/web"))
	cfg := clientConfig("acme", c, "openid")
	b := h.browser(t)
	for range 5 {
		tok := h.codeFlow(t, b, cfg, "alice")
		var ok []response
		for _, r := range h.race(t, 4, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret) {
			if r.status == 200 {
				ok = append(ok, r)
			}
		}
		if len(ok) > 1 {
			t.Fatalf("one refresh token used %d times", len(ok))
		}
		for _, r := range ok {
			next := r.object(t)
			rr := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next["refresh_token"].(string)}}, cfg.ClientID, cfg.ClientSecret)
			wantOAuthError(t, rr, 400, "invalid_grant")
			if h.introspect(t, "acme", next["access_token"].(string), cfg.ClientID, cfg.ClientSecret).object(t)["active"] != false {
				t.Error("access token of a family whose refresh token was reused is active")
			}
		}
	}
}

// Errors reach only an exactly registered redirect
// URI; logout redirects only to the named client's registered URIs.
func TestFlowAttackNoOpenRedirects(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createTenant(t, "beta")
	body := webClient("urn:acme/loop")
	body["redirect_uris"] = []string{"http://127.0.0.1/cb"}
	body["post_logout_redirect_uris"] = []string{"https://app.example.com/bye"}
	loop := h.createClient(t, "acme", body)
	bbody := webClient("urn:beta/web")
	bbody["post_logout_redirect_uris"] = []string{"https://evil.example.com/bye"}
	betaWeb := h.createClient(t, "beta", bbody)
	b := h.browser(t).stopAtLogin()

	// fosite matches loopback redirect URIs on any port; errors must not
	// go to such a variant.
	for _, change := range []func(url.Values){
		func(q url.Values) { q.Set("scope", "openid admin") },
		func(q url.Values) { q.Set("prompt", "none") },
		func(q url.Values) {},
	} {
		q := url.Values{"client_id": {loop["client_id"].(string)}, "redirect_uri": {"http://127.0.0.1:4444/cb"}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"state-at10"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
			"code_challenge_method": {"S256"}}
		change(q)
		res, _ := b.get(testIssuer + "acme/oauth2/auth?" + q.Encode())
		if loc := res.Header.Get("Location"); strings.Contains(loc, "4444") {
			t.Errorf("%v: redirected to an unregistered port: %s", q, loc)
		}
	}
	// Logout: another tenant's client, a URI of another client, an
	// unregistered URI.
	for _, q := range []url.Values{
		{"client_id": {betaWeb["client_id"].(string)}, "post_logout_redirect_uri": {"https://evil.example.com/bye"}},
		{"client_id": {loop["client_id"].(string)}, "post_logout_redirect_uri": {"https://evil.example.com/bye"}},
		{"post_logout_redirect_uri": {"https://app.example.com/bye"}},
		{"client_id": {loop["client_id"].(string)}, "post_logout_redirect_uri": {"https://app.example.com/bye/../x"}},
	} {
		res, _ := b.get(testIssuer + "acme/oauth2/logout?" + q.Encode())
		if res.StatusCode != 400 || res.Header.Get("Location") != "" {
			t.Errorf("logout %v: %d %s", q, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

// Userinfo answers only for access tokens of a user's
// grant, at their own tenant.
func TestFlowAttackUserinfoRefusesClientTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	m2m := h.call(t, "POST", "/t/acme/admin/clients", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"default_scopes": []string{"openid"}})
	if m2m.status != 201 {
		t.Skipf("an m2m client cannot have openid: %d %s", m2m.status, m2m.body)
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

// The hybrid flow code token: the code's exchange must work, and its
// access token must not share the jti of the access token the
// authorization endpoint returned (the jti names a token in revocations
// and in the grant store). The token endpoint renews the session's jti,
// but fosite's code handler decodes the stored session again over it.
func TestFlowAttackHybridCodeTokenExchange(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/hybrid")
	body["grant_types"] = []string{"authorization_code", "implicit", "refresh_token"}
	body["response_types"] = []string{"code token", "code id_token token"}
	body["allow_access_tokens_via_browser"] = true
	c := h.createClient(t, "acme", body)
	cfg := clientConfig("acme", c, "openid")
	b := h.browser(t)
	for _, rt := range []string{"code token", "code id_token token"} {
		verifier := oauth2.GenerateVerifier()
		q := url.Values{"client_id": {cfg.ClientID}, "redirect_uri": {webCallback}, "response_type": {rt}, "scope": {"openid"},
			"state": {"state-at11"}, "nonce": {"nonce-rv11"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
			"code_challenge_method": {"S256"}}
		res, _ := b.stopAtLogin().get(testIssuer + "acme/oauth2/auth?" + q.Encode())
		lc := challengeOf(t, res, "login")
		res, _ = b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"dave"}, "action": {"accept"}})
		got := arrived(t, res, webCallback)
		if got.Get("code") == "" || got.Get("access_token") == "" {
			t.Fatalf("%s: %v", rt, got)
		}
		front, _ := h.verify(t, "acme", got.Get("access_token"))
		tok, err := cfg.Exchange(h.oauthContext(t), got.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Errorf("%s: the code's exchange fails: %v", rt, err)
			continue
		}
		back, _ := h.verify(t, "acme", tok.AccessToken)
		if back["jti"] == front["jti"] {
			t.Errorf("%s: both access tokens have jti %v", rt, back["jti"])
		}
	}
}

// RP-initiated logout without an id_token_hint must ask the user
// (OpenID Connect RP-Initiated Logout 1.0 §2: the OP MUST ask when no
// id_token_hint was given) rather than end the session on a bare GET,
// which any site can trigger with a link or a redirect (the Lax cookie
// goes along with a top-level navigation).
func TestFlowAttackLogoutWithoutHintAsksUser(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	cfg := h.firstPartyWithLoginApp(t)
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)
	res := h.loginThroughApp(t, b, "acme", cfg.AuthCodeURL("state-at12", oauth2.S256ChallengeOption(verifier)), map[string]any{"subject": "bob", "remember": true})
	arrived(t, res, webCallback)

	// A page elsewhere sends the browser to the logout endpoint.
	b.get(testIssuer + "acme/oauth2/logout")
	res, _ = b.get(cfg.AuthCodeURL("state-at12", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption(verifier)))
	if q := arrived(t, res, webCallback); q.Get("code") == "" {
		t.Errorf("a bare GET of the logout endpoint ended the login session without asking the user: %v", q)
	}
}

// Discovery advertises response_modes_supported query, fragment and
// form_post; fosite refuses any response_mode for a client that does
// not implement fosite.ResponseModeClient (fositeClient does not).
// Tokens must never travel in a query.
func TestFlowAttackResponseModes(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/hybrid")
	body["grant_types"] = []string{"authorization_code", "implicit"}
	body["response_types"] = []string{"code", "id_token token"}
	body["allow_access_tokens_via_browser"] = true
	c := h.createClient(t, "acme", body)
	b := h.browser(t)
	meta := h.call(t, "GET", "/t/acme/.well-known/openid-configuration", nil, noAuth).want(t, 200).object(t)
	advertised := anyStrings(meta["response_modes_supported"])
	run := func(rt, mode string) (*http.Response, string) {
		q := url.Values{"client_id": {c["client_id"].(string)}, "redirect_uri": {webCallback}, "response_type": {rt}, "scope": {"openid"},
			"state": {"state-at13"}, "nonce": {"nonce-rv13"}, "response_mode": {mode},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		res, page := b.stopAtLogin().get(testIssuer + "acme/oauth2/auth?" + q.Encode())
		if res.StatusCode/100 != 3 || !strings.Contains(res.Header.Get("Location"), "/dev/login") {
			return res, page
		}
		lc := challengeOf(t, res, "login")
		return b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"dave"}, "action": {"accept"}})
	}
	// Tokens in a query: refused.
	res, _ := run("id_token token", "query")
	if u, err := url.Parse(res.Header.Get("Location")); err == nil && (u.Query().Get("access_token") != "" || u.Query().Get("id_token") != "") {
		t.Errorf("tokens in the query: %s", u)
	}
	// What discovery advertises works.
	for _, mode := range advertised {
		res, page := run("code", mode)
		ok := (mode == "form_post" && res.StatusCode == 200 && strings.Contains(page, webCallback) && strings.Contains(page, "code")) ||
			(mode != "form_post" && isRedirectTo(res, webCallback) && res.Header.Get("Location") != "" && !strings.Contains(res.Header.Get("Location"), "error="))
		if !ok {
			t.Errorf("response_mode=%s (advertised): %d %s %.300s", mode, res.StatusCode, res.Header.Get("Location"), page)
		}
	}
}
