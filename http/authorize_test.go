package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/http/oauth"
)

// toServer sends requests for the test issuer's host to the harness's
// server: the issuer is https://id.example.com, the server listens on
// 127.0.0.1.
type toServer struct{ base *url.URL }

func (t toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "id.example.com" {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, t.base.Host
	}
	return http.DefaultTransport.RoundTrip(r)
}

// browser is a user agent with cookies that stops at the clients'
// redirect URIs (any host but the issuer's).
type browser struct {
	t *testing.T
	c *http.Client
}

func (h *adminHarness) browser(t *testing.T) *browser {
	base, _ := url.Parse(h.url)
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Transport: toServer{base}, Jar: jar,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host != "id.example.com" {
				return http.ErrUseLastResponse
			}
			return nil
		}}}
}

// ctx carries the rewriting client for golang.org/x/oauth2 and go-oidc.
func (h *adminHarness) oauthContext(t *testing.T) context.Context {
	base, _ := url.Parse(h.url)
	c := &http.Client{Transport: toServer{base}}
	return oidc.ClientContext(context.WithValue(t.Context(), oauth2.HTTPClient, c), c)
}

// get loads u and follows redirects within the issuer; it returns the
// last answer and its body.
func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.PostForm(u, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// arrived reads the query (or fragment) the browser brought to the
// client's redirect URI.
func arrived(t *testing.T, res *http.Response, redirectURI string) url.Values {
	t.Helper()
	loc := res.Header.Get("Location")
	if res.StatusCode/100 != 3 || !strings.HasPrefix(loc, redirectURI) {
		t.Fatalf("answer %d, Location %q; want a redirect to %s", res.StatusCode, loc, redirectURI)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	if u.Fragment != "" {
		q, _ := url.ParseQuery(u.Fragment)
		return q
	}
	return u.Query()
}

// challengeOf reads a challenge from the Location of a redirect to the
// login application.
func challengeOf(t *testing.T, res *http.Response, kind string) string {
	t.Helper()
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil || u.Query().Get(kind+"_challenge") == "" {
		t.Fatalf("answer %d, Location %q: no %s_challenge", res.StatusCode, res.Header.Get("Location"), kind)
	}
	return u.Query().Get(kind + "_challenge")
}

// stopAtLogin is a browser that does not follow redirects to the login
// application either: the test plays the login application.
func (b *browser) stopAtLogin() *browser {
	c := *b.c
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != "id.example.com" || strings.Contains(req.URL.Path, "/dev/login") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &browser{t: b.t, c: &c}
}

const webCallback = "https://app.example.com/callback"

func TestAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createTenant(t, "beta")
	body := webClient("urn:acme/web")
	body["post_logout_redirect_uris"] = []string{"https://app.example.com/bye"}
	body["optional_scopes"] = []string{"email"}
	web := h.createClient(t, "acme", body)
	id, secret := web["client_id"].(string), web["client_secret"].(string)
	ctx := h.oauthContext(t)

	// Discovery with go-oidc: the issuer's openid-configuration.
	provider, err := oidc.NewProvider(oidc.InsecureIssuerURLContext(ctx, testIssuer+"acme"), h.url+"/t/acme")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var meta struct {
		Userinfo        string   `json:"userinfo_endpoint"`
		EndSession      string   `json:"end_session_endpoint"`
		ResponseTypes   []string `json:"response_types_supported"`
		CodeChallenge   []string `json:"code_challenge_methods_supported"`
		IDTokenAlgs     []string `json:"id_token_signing_alg_values_supported"`
		GrantTypes      []string `json:"grant_types_supported"`
		TokenAuthMethod []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	if provider.Endpoint().AuthURL != testIssuer+"acme/oauth2/auth" || meta.Userinfo != testIssuer+"acme/oauth2/userinfo" ||
		meta.EndSession != testIssuer+"acme/oauth2/logout" || !contains(meta.CodeChallenge, "S256") ||
		!contains(meta.IDTokenAlgs, "ES256") || !contains(meta.GrantTypes, "authorization_code") ||
		!contains(meta.GrantTypes, "refresh_token") || !contains(meta.ResponseTypes, "code") || !contains(meta.TokenAuthMethod, "none") {
		t.Errorf("discovery = %+v, endpoint %+v", meta, provider.Endpoint())
	}

	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: webCallback,
		Scopes: []string{oidc.ScopeOpenID, "email"}}
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)

	// The code flow with PKCE, through the development login page.
	res, page := b.get(cfg.AuthCodeURL("state-0001", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-0001")))
	if res.StatusCode != 200 || !strings.Contains(page, "Sign in to Web urn:acme/web") {
		t.Fatalf("login page: %d %s %s", res.StatusCode, res.Header.Get("Location"), page)
	}
	challenge := challengeOf(t, res.Request.Response, "login")
	res, _ = b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {challenge}, "subject": {"alice"}, "action": {"accept"}})
	q := arrived(t, res, webCallback)
	if q.Get("state") != "state-0001" || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	code := q.Get("code")
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: id}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Subject != "alice" || idt.Nonce != "nonce-0001" || idt.AccessTokenHash == "" {
		t.Errorf("ID token %+v", idt)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	claims, _ := h.verify(t, "acme", tok.AccessToken)
	if claims["sub"] != "alice" || claims["client_id"] != id || claims["scope"] != "openid profile email" {
		t.Errorf("access token claims %v", claims)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var user map[string]any
	_ = info.Claims(&user)
	if info.Subject != "alice" || user["preferred_username"] != "alice" {
		t.Errorf("userinfo %v", user)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}

	// The code once only: a second exchange fails and revokes what the
	// first one got.
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); retrieveCode(err) != "invalid_grant" {
		t.Errorf("second exchange: %v", err)
	}
	if h.introspect(t, "acme", tok.AccessToken, id, secret).object(t)["active"] != false {
		t.Error("the first exchange's access token is still active after the code's reuse")
	}
	r := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, id, secret)
	wantOAuthError(t, r, 400, "invalid_grant")

	// Refresh tokens rotate; a reused one revokes its family.
	tok = h.codeFlow(t, b, cfg, "alice")
	r = h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, id, secret).want(t, 200)
	refreshed := r.object(t)
	newRefresh, newAccess := refreshed["refresh_token"].(string), refreshed["access_token"].(string)
	if newRefresh == "" || newRefresh == tok.RefreshToken || refreshed["id_token"] == nil {
		t.Fatalf("refresh answer %v", refreshed)
	}
	if c, _ := h.verify(t, "acme", newAccess); c["sub"] != "alice" || c["jti"] == claims["jti"] {
		t.Errorf("refreshed claims %v", c)
	}
	if h.introspect(t, "acme", newAccess, id, secret).object(t)["active"] != true {
		t.Fatal("refreshed access token inactive")
	}
	r = h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, id, secret)
	wantOAuthError(t, r, 400, "invalid_grant")
	if h.introspect(t, "acme", newAccess, id, secret).object(t)["active"] != false {
		t.Error("reuse of a refresh token left its family's access token active")
	}
	r = h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {newRefresh}}, id, secret)
	wantOAuthError(t, r, 400, "invalid_grant")

	// PKCE: a wrong verifier, or none, fails.
	tok2Code := h.codeOnly(t, b, cfg, verifier)
	if _, err := cfg.Exchange(ctx, tok2Code, oauth2.VerifierOption(oauth2.GenerateVerifier())); retrieveCode(err) != "invalid_grant" {
		t.Errorf("wrong verifier: %v", err)
	}
	tok2Code = h.codeOnly(t, b, cfg, verifier)
	if _, err := cfg.Exchange(ctx, tok2Code); retrieveCode(err) != "invalid_grant" {
		t.Errorf("no verifier: %v", err)
	}
	// A code of one client is nothing to another, nor at another tenant.
	other := h.createClient(t, "acme", webClient("urn:acme/other"))
	tok2Code = h.codeOnly(t, b, cfg, verifier)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {tok2Code}, "redirect_uri": {webCallback}, "code_verifier": {verifier}}
	wantOAuthError(t, h.tokenCall(t, "acme", form, other["client_id"].(string), other["client_secret"].(string)), 400, "invalid_grant")
	wantOAuthError(t, h.tokenCall(t, "beta", form, id, secret), 401, "invalid_client")
	// ... and a redirect_uri other than the request's fails the exchange.
	tok2Code = h.codeOnly(t, b, cfg, verifier)
	form = url.Values{"grant_type": {"authorization_code"}, "code": {tok2Code}, "redirect_uri": {"https://app.example.com/other"}, "code_verifier": {verifier}}
	wantOAuthError(t, h.tokenCall(t, "acme", form, id, secret), 400, "invalid_grant")

	// RP-initiated logout: to a registered post-logout URI only; it ends
	// the login session (dev login remembers none, so log in with
	// remember first).
	res, _ = b.get(testIssuer + "acme/oauth2/logout?post_logout_redirect_uri=" + url.QueryEscape("https://evil.example.com/") + "&id_token_hint=" + rawID)
	if res.StatusCode != 400 {
		t.Errorf("logout to an unregistered URI: %d", res.StatusCode)
	}
	res, _ = b.get(testIssuer + "acme/oauth2/logout?post_logout_redirect_uri=" + url.QueryEscape("https://app.example.com/bye") + "&state=state-9999&id_token_hint=" + rawID)
	if q := arrived(t, res, "https://app.example.com/bye"); q.Get("state") != "state-9999" {
		t.Errorf("logout redirect %v", q)
	}
}

// codeFlow runs the code flow for user through the development login
// page and exchanges the code.
func (h *adminHarness) codeFlow(t *testing.T, b *browser, cfg oauth2.Config, user string) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	code := h.loginCode(t, b, cfg, verifier, user)
	tok, err := cfg.Exchange(h.oauthContext(t), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// codeOnly gets a code for verifier, for alice.
func (h *adminHarness) codeOnly(t *testing.T, b *browser, cfg oauth2.Config, verifier string) string {
	t.Helper()
	return h.loginCode(t, b, cfg, verifier, "alice")
}

func (h *adminHarness) loginCode(t *testing.T, b *browser, cfg oauth2.Config, verifier, user string) string {
	t.Helper()
	res, _ := b.stopAtLogin().get(cfg.AuthCodeURL("state-0002", oauth2.S256ChallengeOption(verifier)))
	challenge := challengeOf(t, res, "login")
	res, _ = b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {challenge}, "subject": {user}, "action": {"accept"}})
	return arrived(t, res, cfg.RedirectURL).Get("code")
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// location is the redirect target of res, parsed.
func location(t *testing.T, res *http.Response) *url.URL {
	t.Helper()
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode/100 != 3 {
		t.Fatalf("answer %d, Location %q: not a redirect", res.StatusCode, res.Header.Get("Location"))
	}
	return u
}

func TestLoginApplication(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	h := startAdmin(t, oauth.WithClock(clock.now))
	h.createTenant(t, "acme")
	h.createTenant(t, "beta")
	h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": "https://login.example.com/signin?app=1"}).want(t, 200)
	body := webClient("urn:acme/partner")
	body["consent_required"] = true
	body["optional_scopes"] = []string{"email"}
	partner := h.createClient(t, "acme", body)
	pid, psecret := partner["client_id"].(string), partner["client_secret"].(string)
	body = webClient("urn:acme/own")
	body["first_party"] = true
	own := h.createClient(t, "acme", body)
	ctx := h.oauthContext(t)
	endpoint := oauth2.Endpoint{AuthURL: testIssuer + "acme/oauth2/auth", TokenURL: testIssuer + "acme/oauth2/token"}
	cfg := oauth2.Config{ClientID: pid, ClientSecret: psecret, Endpoint: endpoint, RedirectURL: webCallback, Scopes: []string{"openid", "email"}}
	ownCfg := oauth2.Config{ClientID: own["client_id"].(string), ClientSecret: own["client_secret"].(string), Endpoint: endpoint,
		RedirectURL: webCallback, Scopes: []string{"openid"}}
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)
	authURL := func(c oauth2.Config, extra ...oauth2.AuthCodeOption) string {
		return c.AuthCodeURL("state-0003", append(extra, oauth2.S256ChallengeOption(verifier))...)
	}

	// The browser goes to the tenant's login application, with the
	// application's own query kept.
	res, _ := b.get(authURL(cfg, oauth2.SetAuthURLParam("login_hint", "bob@example.com")))
	u := location(t, res)
	if u.Host != "login.example.com" || u.Query().Get("app") != "1" {
		t.Fatalf("login redirect %s", u)
	}
	lc := u.Query().Get("login_challenge")
	lr := h.call(t, "GET", "/t/acme/admin/login-requests/"+url.PathEscape(lc), nil).want(t, 200).object(t)
	if lr["client"].(map[string]any)["client_id"] != pid || lr["skip"] != false ||
		strings.Join(anyStrings(lr["requested_scope"]), " ") != "openid email" ||
		lr["oidc_context"].(map[string]any)["login_hint"] != "bob@example.com" {
		t.Errorf("login request %v", lr)
	}
	// A challenge is the tenant's and the kind's; a forged one is nothing.
	h.call(t, "GET", "/t/beta/admin/login-requests/"+url.PathEscape(lc), nil).want(t, 404)
	h.call(t, "GET", "/t/acme/admin/consent-requests/"+url.PathEscape(lc), nil).want(t, 404)
	h.call(t, "GET", "/t/acme/admin/login-requests/"+url.PathEscape(lc+"x"), nil).want(t, 404)
	h.call(t, "GET", "/t/acme/admin/login-requests/nonsense", nil).want(t, 404)
	// Bad answers change nothing.
	h.call(t, "POST", "/t/acme/admin/login-requests/"+url.PathEscape(lc)+"/accept", map[string]any{}).want(t, 422)
	h.call(t, "POST", "/t/acme/admin/login-requests/"+url.PathEscape(lc)+"/accept", map[string]any{"subject": "bob", "admin": true}).want(t, 400)
	h.call(t, "POST", "/t/acme/admin/login-requests/"+url.PathEscape(lc)+"/accept", map[string]any{"subject": "bob", "remember_for": -1}).want(t, 422)
	h.call(t, "POST", "/t/acme/admin/login-requests/"+url.PathEscape(lc)+"/reject", map[string]any{"error": "server_error"}).want(t, 422)
	accepted := h.call(t, "POST", "/t/acme/admin/login-requests/"+url.PathEscape(lc)+"/accept",
		map[string]any{"subject": "bob", "remember": true, "acr": "urn:acme:mfa", "amr": []string{"pwd", "otp"},
			"claims": map[string]any{"email": "bob@example.com", "sub": "mallory"}}).want(t, 200).object(t)
	// Once only.
	h.call(t, "POST", "/t/acme/admin/login-requests/"+url.PathEscape(lc)+"/accept", map[string]any{"subject": "eve"}).want(t, 409)

	// Back at the authorization endpoint: a consent_challenge next.
	res, _ = b.get(accepted["redirect_to"].(string))
	cc := location(t, res).Query().Get("consent_challenge")
	if cc == "" {
		t.Fatalf("no consent challenge: %s", res.Header.Get("Location"))
	}
	// The verifier was used: bringing it again fails.
	res, _ = b.get(accepted["redirect_to"].(string))
	if res.StatusCode != 400 || res.Header.Get("Location") != "" {
		t.Errorf("verifier used twice: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	cr := h.call(t, "GET", "/t/acme/admin/consent-requests/"+url.PathEscape(cc), nil).want(t, 200).object(t)
	if cr["subject"] != "bob" {
		t.Errorf("consent request %v", cr)
	}
	h.call(t, "POST", "/t/acme/admin/consent-requests/"+url.PathEscape(cc)+"/accept", map[string]any{"grant_scope": []string{"openid", "address"}}).want(t, 422)
	consented := h.call(t, "POST", "/t/acme/admin/consent-requests/"+url.PathEscape(cc)+"/accept", map[string]any{"grant_scope": []string{"openid"}}).want(t, 200).object(t)
	res, _ = b.get(consented["redirect_to"].(string))
	q := arrived(t, res, webCallback)
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := h.verify(t, "acme", tok.AccessToken)
	if claims["sub"] != "bob" || claims["scope"] != "openid profile" {
		t.Errorf("access token: email was not consented to; claims %v", claims)
	}
	idc, _ := h.verify(t, "acme", tok.Extra("id_token").(string))
	if idc["acr"] != "urn:acme:mfa" || strings.Join(anyStrings(idc["amr"]), " ") != "pwd otp" || idc["sid"] == nil ||
		idc["auth_time"] == nil || strings.Join(anyStrings(idc["aud"]), " ") != pid || idc["email"] != nil {
		t.Errorf("ID token %v", idc)
	}
	ui := h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok.AccessToken)).want(t, 200).object(t)
	if ui["sub"] != "bob" || ui["email"] != nil {
		t.Errorf("userinfo %v: the email scope was not consented to", ui)
	}
	// Userinfo refuses tokens without openid, and tokens of another tenant.
	admin := h.createTenant(t, "gamma")["admin_client"].(map[string]any)
	cc2, err := h.clientCredentials(t, "gamma", admin["client_id"].(string), admin["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.call(t, "GET", "/t/gamma/oauth2/userinfo", nil, token(cc2.AccessToken)); r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("userinfo without openid: %d %v", r.status, r.header)
	}
	if r := h.call(t, "GET", "/t/beta/oauth2/userinfo", nil, token(tok.AccessToken)); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("userinfo at another tenant: %d %v", r.status, r.header)
	}

	// The login session (remember) skips the login application; consent
	// is still asked of a client that requires it; a first-party client
	// gets its code at once, even with prompt=none.
	res, _ = b.get(authURL(cfg))
	cc = location(t, res).Query().Get("consent_challenge")
	if cc == "" {
		t.Fatalf("logged-in user: %s", res.Header.Get("Location"))
	}
	if cr := h.call(t, "GET", "/t/acme/admin/consent-requests/"+url.PathEscape(cc), nil).want(t, 200).object(t); cr["subject"] != "bob" || cr["skip"] != true {
		t.Errorf("consent request %v", cr)
	}
	rejected := h.call(t, "POST", "/t/acme/admin/consent-requests/"+url.PathEscape(cc)+"/reject", map[string]any{"error_description": "No thanks."}).want(t, 200).object(t)
	res, _ = b.get(rejected["redirect_to"].(string))
	if q := arrived(t, res, webCallback); q.Get("error") != "access_denied" || !strings.Contains(q.Get("error_description"), "No thanks.") || q.Get("state") != "state-0003" {
		t.Errorf("rejected consent %v", q)
	}
	res, _ = b.get(authURL(ownCfg, oauth2.SetAuthURLParam("prompt", "none")))
	if q := arrived(t, res, webCallback); q.Get("code") == "" {
		t.Errorf("first-party with a login session: %v", q)
	}
	res, _ = b.get(authURL(cfg, oauth2.SetAuthURLParam("prompt", "none")))
	if q := arrived(t, res, webCallback); q.Get("error") != "consent_required" {
		t.Errorf("prompt=none needing consent: %v", q)
	}
	// prompt=login and a max_age the session is too old for ask again.
	res, _ = b.get(authURL(ownCfg, oauth2.SetAuthURLParam("prompt", "login")))
	if location(t, res).Query().Get("login_challenge") == "" {
		t.Errorf("prompt=login: %s", res.Header.Get("Location"))
	}
	clock.advance(1100 * time.Millisecond)
	res, _ = b.get(authURL(ownCfg, oauth2.SetAuthURLParam("max_age", "1")))
	if location(t, res).Query().Get("login_challenge") == "" {
		t.Errorf("max_age=1: %s", res.Header.Get("Location"))
	}

	// Logout ends the login session: prompt=none then needs a login.
	// Without an id_token_hint the user is asked first.
	res, page := b.get(testIssuer + "acme/oauth2/logout?client_id=" + ownCfg.ClientID)
	confirm := regexp.MustCompile(`name="confirm" value="([^"]+)"`).FindStringSubmatch(page)
	if res.StatusCode != 200 || confirm == nil {
		t.Fatalf("logout without a hint: %d %s", res.StatusCode, page)
	}
	if res, _ = b.post(testIssuer+"acme/oauth2/logout", url.Values{"client_id": {ownCfg.ClientID}, "confirm": {"forged"}}); res.StatusCode != 200 {
		t.Errorf("logout with a forged confirmation: %d", res.StatusCode)
	}
	if res, page = b.post(testIssuer+"acme/oauth2/logout", url.Values{"client_id": {ownCfg.ClientID}, "confirm": {confirm[1]}}); !strings.Contains(page, "logged out") {
		t.Errorf("confirmed logout: %d %s", res.StatusCode, page)
	}
	res, _ = b.get(authURL(ownCfg, oauth2.SetAuthURLParam("prompt", "none")))
	if q := arrived(t, res, webCallback); q.Get("error") != "login_required" {
		t.Errorf("prompt=none after logout: %v", q)
	}

	// A rejected login reaches the client as access_denied.
	res, _ = b.get(authURL(ownCfg))
	lc = location(t, res).Query().Get("login_challenge")
	rejected = h.call(t, "POST", "/t/acme/admin/login-requests/"+url.PathEscape(lc)+"/reject", nil).want(t, 200).object(t)
	res, _ = b.get(rejected["redirect_to"].(string))
	if q := arrived(t, res, webCallback); q.Get("error") != "access_denied" {
		t.Errorf("rejected login %v", q)
	}
	// A read-only token may not answer challenges.
	ro := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "RO", "code": "urn:acme/ro", "default_scopes": []string{"clavis:clients:read"}})
	rot, err := h.clientCredentials(t, "acme", ro["client_id"].(string), ro["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	res, _ = b.get(authURL(ownCfg))
	lc = location(t, res).Query().Get("login_challenge")
	h.call(t, "POST", "/t/acme/admin/login-requests/"+url.PathEscape(lc)+"/accept", map[string]any{"subject": "bob"}, token(rot.AccessToken)).want(t, 403)

	// A login application's own token, with clavis:login, answers
	// challenges and does nothing else.
	app := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Login app", "code": "urn:acme/login",
		"default_scopes": []string{"clavis:login"}})
	apt, err := h.clientCredentials(t, "acme", app["client_id"].(string), app["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	h.call(t, "GET", "/t/acme/admin/login-requests/"+url.PathEscape(lc), nil, token(apt.AccessToken)).want(t, 200)
	before := h.head(t)
	for _, c := range []struct{ method, path string }{
		{"GET", "/t/acme/admin/clients"},
		{"GET", "/t/acme/admin/login-app"},
		{"PUT", "/t/acme/admin/login-app"},
		{"POST", "/t/acme/oauth2/register"},
	} {
		if r := h.call(t, c.method, c.path, map[string]any{"login_url": "https://evil.example.com", "client_name": "x"}, token(apt.AccessToken)); r.status != 403 {
			t.Errorf("%s %s with clavis:login: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	h.unchanged(t, before, "clavis:login outside the login API")
	h.call(t, "GET", "/t/beta/admin/login-requests/"+url.PathEscape(lc), nil, token(apt.AccessToken)).want(t, 404)
	h.call(t, "POST", "/t/acme/admin/login-requests/"+url.PathEscape(lc)+"/accept", map[string]any{"subject": "bob"}, token(apt.AccessToken)).want(t, 200)
}

func TestAuthorizationRequestErrors(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	web := h.createClient(t, "acme", webClient("urn:acme/web"))
	spa := h.createClient(t, "acme", spaClient("urn:acme/spa"))
	b := h.browser(t)
	auth := func(q url.Values) *http.Response {
		res, _ := b.stopAtLogin().get(testIssuer + "acme/oauth2/auth?" + q.Encode())
		return res
	}
	base := func(id, redirect string) url.Values {
		q := url.Values{"client_id": {id}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"state-0004"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		if redirect != webCallback {
			q.Del("scope") // the SPA has no scopes
		}
		return q
	}
	webID, spaID := web["client_id"].(string), spa["client_id"].(string)

	// A redirect URI the client did not register, exactly, gets no redirect.
	for _, bad := range []string{"https://evil.example.com/callback", webCallback + "/", webCallback + "?x=1", "https://APP.example.com/callback"} {
		res := auth(base(webID, bad))
		if res.StatusCode != 400 || res.Header.Get("Location") != "" {
			t.Errorf("redirect_uri %s: %d %s", bad, res.StatusCode, res.Header.Get("Location"))
		}
	}
	// Unknown client, or another tenant's: no redirect either.
	if res := auth(base("no-such-client", webCallback)); res.StatusCode/100 == 3 {
		t.Errorf("unknown client redirected: %s", res.Header.Get("Location"))
	}
	// Other errors go to the registered redirect URI.
	cases := map[string]struct {
		change func(url.Values)
		id     string
		want   string
	}{
		"unknown scope":         {func(q url.Values) { q.Set("scope", "openid admin") }, webID, "invalid_scope"},
		"implicit not enabled":  {func(q url.Values) { q.Set("response_type", "token") }, webID, "unsupported_response_type"},
		"hybrid not registered": {func(q url.Values) { q.Set("response_type", "code id_token"); q.Set("nonce", "nonce-0004") }, webID, "unsupported_response_type"},
		"public without PKCE":   {func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, spaID, "invalid_request"},
		"public with plain": {func(q url.Values) {
			q.Set("code_challenge_method", "plain")
			q.Set("code_challenge", strings.Repeat("a", 43))
		}, spaID, "invalid_request"},
		"confidential no PKCE": {func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, webID, "invalid_request"},
		"audience":             {func(q url.Values) { q.Set("audience", "https://api") }, webID, "invalid_request"},
		"short state":          {func(q url.Values) { q.Set("state", "abc") }, webID, "invalid_state"},
	}
	for name, c := range cases {
		redirect := webCallback
		if c.id == spaID {
			redirect = "https://spa.example.com/cb"
		}
		q := base(c.id, redirect)
		c.change(q)
		res := auth(q)
		if got := arrived(t, res, redirect); got.Get("error") != c.want {
			t.Errorf("%s: %v, want %s", name, got, c.want)
		}
	}
	// A public client: PKCE S256 and no secret at the token endpoint.
	cfg := oauth2.Config{ClientID: spaID, Endpoint: oauth2.Endpoint{AuthURL: testIssuer + "acme/oauth2/auth", TokenURL: testIssuer + "acme/oauth2/token",
		AuthStyle: oauth2.AuthStyleInParams}, RedirectURL: "https://spa.example.com/cb"}
	tok := h.codeFlow(t, b, cfg, "carol")
	if c, _ := h.verify(t, "acme", tok.AccessToken); c["sub"] != "carol" || c["client_id"] != spaID {
		t.Errorf("public client's token %v", c)
	}
}

func TestImplicitAndHybrid(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/hybrid")
	body["grant_types"] = []string{"authorization_code", "implicit"}
	body["response_types"] = []string{"code id_token", "id_token token"}
	body["allow_access_tokens_via_browser"] = true
	body["pairwise_subject_salt"] = "pairwise-salt-0123456789abcdef"
	c := h.createClient(t, "acme", body)
	id := c["client_id"].(string)
	b := h.browser(t)
	subjects := map[any]bool{}
	for _, rt := range []string{"code id_token", "id_token token"} {
		q := url.Values{"client_id": {id}, "redirect_uri": {webCallback}, "response_type": {rt}, "scope": {"openid"},
			"state": {"state-0005"}, "nonce": {"nonce-0005"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
			"code_challenge_method": {"S256"}}
		res, _ := b.stopAtLogin().get(testIssuer + "acme/oauth2/auth?" + q.Encode())
		lc := challengeOf(t, res, "login")
		res, _ = b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"dave"}, "action": {"accept"}})
		got := arrived(t, res, webCallback)
		idc, _ := h.verify(t, "acme", got.Get("id_token"))
		subjects[idc["sub"]] = true
		if idc["sub"] == "dave" || idc["nonce"] != "nonce-0005" || got.Get("state") != "state-0005" {
			t.Errorf("%s: %v; ID token %v", rt, got, idc)
		}
		if rt == "code id_token" && (got.Get("code") == "" || idc["c_hash"] == nil || got.Get("access_token") != "") {
			t.Errorf("%s: %v", rt, got)
		}
		if rt == "id_token token" && (got.Get("access_token") == "" || idc["at_hash"] == nil || got.Get("code") != "") {
			t.Errorf("%s: %v", rt, got)
		}
	}
	// A pairwise subject: not the user's own, the same every time.
	if len(subjects) != 1 {
		t.Errorf("pairwise subjects %v", subjects)
	}
}

func TestRefreshTokenReuseSetting(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/web")
	body["refresh_token_usage"] = "reuse"
	c := h.createClient(t, "acme", body)
	id, secret := c["client_id"].(string), c["client_secret"].(string)
	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: webCallback, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: testIssuer + "acme/oauth2/auth", TokenURL: testIssuer + "acme/oauth2/token"}}
	tok := h.codeFlow(t, h.browser(t), cfg, "alice")
	// A client that reuses refresh tokens may present one again and
	// again: nothing is revoked.
	for range 3 {
		h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, id, secret).want(t, 200)
	}
}

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

// isRedirectTo reports whether res redirects to a URL that starts with
// prefix.
func isRedirectTo(res *http.Response, prefix string) bool {
	return res.StatusCode/100 == 3 && strings.HasPrefix(res.Header.Get("Location"), prefix)
}

// testClock is the system's clock, moved on by what a test adds: what the
// provider judges by it ages without the test waiting.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// The verifier that brings the browser back from the login application
// works only in the browser that began the flow (as Hydra binds it with
// a CSRF cookie). Otherwise an attacker logs in as himself, with
// remember, and sends the redirect_to link to a victim: the victim's
// browser gets the attacker's login session, and every later
// authorization at any client of the tenant silently logs the victim in
// as the attacker (login CSRF and session fixation).
func TestLoginVerifierOnlyInTheBrowserThatBegan(t *testing.T) {
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

// Challenges, verifiers and login session cookies are their tenant's.
func TestFlowsStayInTheirTenant(t *testing.T) {
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

// prompt=login and max_age=0 make the user log in again; after a fresh
// login at the login application the client gets its code and tokens.
// fosite refuses an auth_time before the request's requested_at, so the
// flow keeps when its request came (the request is read anew when the
// browser comes back).
func TestFreshLoginCompletes(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	cfg := h.firstPartyWithLoginApp(t)
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)

	for _, tc := range []struct {
		name  string
		extra oauth2.AuthCodeOption
	}{
		{"prompt=login", oauth2.SetAuthURLParam("prompt", "login")},
		{"max_age=0", oauth2.SetAuthURLParam("max_age", "0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := h.loginThroughApp(t, b, "acme", cfg.AuthCodeURL("state-at04", tc.extra, oauth2.S256ChallengeOption(verifier)), map[string]any{"subject": "bob"})
			q := arrived(t, res, webCallback)
			if q.Get("code") == "" {
				t.Fatalf("after a fresh login: %v", q)
			}
			if _, err := cfg.Exchange(h.oauthContext(t), q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
				t.Errorf("exchange: %v", err)
			}
		})
	}
}

// A failed PKCE verification keeps the code's challenge while the code
// stays usable: fosite's PKCE handler deletes the challenge before it
// compares, and without the challenge a second exchange without any
// code_verifier would pass for a client that does not require PKCE.
func TestWrongCodeVerifierKeepsTheChallenge(t *testing.T) {
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
// for a code used twice one after the other, the grant it got is
// revoked. The race runs many times because the loser fails at
// different steps (the PKCE check, the code's invalidation, the token
// response), and each of them must revoke.
func TestConcurrentCodeReuseRevokesGrant(t *testing.T) {
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

// In the hybrid flows that return an access token from the
// authorization endpoint, the code's exchange works and its access
// token has a jti of its own: the jti names a token in revocations and
// in the grant store.
func TestHybridCodeExchangeGetsItsOwnToken(t *testing.T) {
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
		t.Run(rt, func(t *testing.T) {
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
				t.Fatalf("%s: the code's exchange fails: %v", rt, err)
			}
			back, _ := h.verify(t, "acme", tok.AccessToken)
			if back["jti"] == front["jti"] {
				t.Errorf("%s: both access tokens have jti %v", rt, back["jti"])
			}
		})
	}
}

// Tokens never travel in a query, and every response mode discovery
// advertises (query, fragment, form_post) works: fosite refuses any
// response_mode for a client that does not say which it may use.
func TestResponseModes(t *testing.T) {
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
	run := func(t *testing.T, rt, mode string) (*http.Response, string) {
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
	res, _ := run(t, "id_token token", "query")
	if u, err := url.Parse(res.Header.Get("Location")); err == nil && (u.Query().Get("access_token") != "" || u.Query().Get("id_token") != "") {
		t.Errorf("tokens in the query: %s", u)
	}
	// What discovery advertises works.
	for _, mode := range advertised {
		t.Run(mode, func(t *testing.T) {
			res, page := run(t, "code", mode)
			ok := (mode == "form_post" && res.StatusCode == 200 && strings.Contains(page, webCallback) && strings.Contains(page, "code")) ||
				(mode != "form_post" && isRedirectTo(res, webCallback) && res.Header.Get("Location") != "" && !strings.Contains(res.Header.Get("Location"), "error="))
			if !ok {
				t.Errorf("response_mode=%s (advertised): %d %s %.300s", mode, res.StatusCode, res.Header.Get("Location"), page)
			}
		})
	}
}
