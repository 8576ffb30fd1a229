package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clavisiam/clavis/http/oauth"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
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

// The code flow end to end, as a relying party library runs it, and
// what each of its tokens allows afterwards. The steps share the client
// and the browser; each names the behaviour it checks.
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

	provider, err := oidc.NewProvider(oidc.InsecureIssuerURLContext(ctx, testIssuer+"acme"), h.url+"/t/acme")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	t.Run("discovery names the endpoints and what they support", func(t *testing.T) {
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
		type shown struct {
			AuthURL, Userinfo, EndSession                        string
			S256, ES256, CodeGrant, RefreshGrant, CodeType, None bool
		}
		wantDiff(t, "discovery", shown{
			AuthURL: testIssuer + "acme/oauth2/auth", Userinfo: testIssuer + "acme/oauth2/userinfo", EndSession: testIssuer + "acme/oauth2/logout",
			S256: true, ES256: true, CodeGrant: true, RefreshGrant: true, CodeType: true, None: true,
		}, shown{
			AuthURL: provider.Endpoint().AuthURL, Userinfo: meta.Userinfo, EndSession: meta.EndSession,
			S256: slices.Contains(meta.CodeChallenge, "S256"), ES256: slices.Contains(meta.IDTokenAlgs, "ES256"),
			CodeGrant: slices.Contains(meta.GrantTypes, "authorization_code"), RefreshGrant: slices.Contains(meta.GrantTypes, "refresh_token"),
			CodeType: slices.Contains(meta.ResponseTypes, "code"), None: slices.Contains(meta.TokenAuthMethod, "none"),
		})
	})

	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: webCallback,
		Scopes: []string{oidc.ScopeOpenID, "email"}}
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)

	var code string
	if !t.Run("the login page gives the client a code with its state", func(t *testing.T) {
		res, page := b.get(cfg.AuthCodeURL("state-0001", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-0001")))
		wantDiff(t, "login page", answer{Status: 200}, answerOf(res))
		if !strings.Contains(page, "Sign in to Web urn:acme/web") {
			t.Fatalf("the login page does not name the client: %s", page)
		}
		challenge := challengeOf(t, res.Request.Response, "login")
		res, _ = b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {challenge}, "subject": {"alice"}, "action": {"accept"}})
		got := landed(t, res, webCallback)
		if diff := cmp.Diff(authResponse{Code: set, State: "state-0001", Iss: testIssuer + "acme"}, got.shape()); diff != "" {
			t.Fatalf("callback (-want +got):\n%s", diff)
		}
		code = got.Code
	}) {
		t.FailNow()
	}

	var tok *oauth2.Token
	var rawID string
	if !t.Run("the code with its verifier gets tokens", func(t *testing.T) {
		tok, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		rawID, _ = tok.Extra("id_token").(string)
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
	}) {
		t.FailNow()
	}
	t.Run("the ID token names the user and the nonce and hashes the access token", func(t *testing.T) {
		idt, err := provider.Verifier(&oidc.Config{ClientID: id}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		type shown struct {
			Subject, Nonce string
			HasATHash      bool
		}
		wantDiff(t, "ID token", shown{"alice", "nonce-0001", true}, shown{idt.Subject, idt.Nonce, idt.AccessTokenHash != ""})
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Errorf("at_hash: %v", err)
		}
	})
	first := h.claimsOf(t, "acme", tok.AccessToken)
	t.Run("the access token names the user, the client and the scopes", func(t *testing.T) {
		wantDiff(t, "access token claims", jwtClaims{Sub: "alice", ClientID: id, Scope: "openid profile email"},
			jwtClaims{Sub: first.Sub, ClientID: first.ClientID, Scope: first.Scope})
	})
	t.Run("userinfo names the user", func(t *testing.T) {
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var user userinfo
		if err := info.Claims(&user); err != nil {
			t.Fatal(err)
		}
		wantDiff(t, "userinfo", userinfo{Sub: "alice", PreferredUsername: "alice"}, userinfo{Sub: info.Subject, PreferredUsername: user.PreferredUsername})
	})

	refresh := func(t *testing.T, rt string) response {
		return h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, secret)
	}
	active := func(t *testing.T, at string) bool {
		return decodeAs[introspection](t, h.introspect(t, "acme", at, id, secret)).Active
	}
	t.Run("a code used twice fails and revokes what the first exchange got", func(t *testing.T) {
		_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		wantDiff(t, fmt.Sprintf("second exchange (%v)", err), "invalid_grant", retrieveCode(err))
		if active(t, tok.AccessToken) {
			t.Error("the first exchange's access token is still active after the code's reuse")
		}
		wantOAuthError(t, refresh(t, tok.RefreshToken), 400, "invalid_grant")
	})

	t.Run("refresh tokens rotate, and a reused one revokes its family", func(t *testing.T) {
		tok := h.codeFlow(t, b, cfg, "alice")
		refreshed := decodeAs[tokenAnswer](t, refresh(t, tok.RefreshToken).want(t, 200))
		type shown struct {
			NewRefresh, HasIDToken bool
		}
		if diff := cmp.Diff(shown{true, true},
			shown{refreshed.RefreshToken != "" && refreshed.RefreshToken != tok.RefreshToken, refreshed.IDToken != ""}); diff != "" {
			t.Fatalf("refresh answer %+v (-want +got):\n%s", refreshed, diff)
		}
		c := h.claimsOf(t, "acme", refreshed.AccessToken)
		type claims struct {
			Sub    string
			NewJTI bool
		}
		wantDiff(t, "refreshed access token", claims{"alice", true}, claims{c.Sub, c.JTI != first.JTI})
		if !active(t, refreshed.AccessToken) {
			t.Fatal("refreshed access token inactive")
		}
		t.Run("the old refresh token again", func(t *testing.T) {
			wantOAuthError(t, refresh(t, tok.RefreshToken), 400, "invalid_grant")
		})
		t.Run("the family's access token is revoked", func(t *testing.T) {
			if active(t, refreshed.AccessToken) {
				t.Error("reuse of a refresh token left its family's access token active")
			}
		})
		t.Run("the family's new refresh token is revoked", func(t *testing.T) {
			wantOAuthError(t, refresh(t, refreshed.RefreshToken), 400, "invalid_grant")
		})
	})

	t.Run("PKCE", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			opts []oauth2.AuthCodeOption
		}{
			{"a wrong verifier", []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}},
			{"no verifier", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := cfg.Exchange(ctx, h.codeOnly(t, b, cfg, verifier), tc.opts...)
				wantDiff(t, fmt.Sprintf("exchange (%v)", err), "invalid_grant", retrieveCode(err))
			})
		}
	})

	other := h.createClient(t, "acme", webClient("urn:acme/other"))
	for _, tc := range []struct {
		name       string
		tenant     string
		redirect   string
		id, secret string
		status     int
		want       string
	}{
		{"a code of one client is nothing to another", "acme", webCallback, other["client_id"].(string), other["client_secret"].(string), 400, "invalid_grant"},
		{"a code is nothing at another tenant", "beta", webCallback, id, secret, 401, "invalid_client"},
		{"a redirect_uri other than the request's fails the exchange", "acme", "https://app.example.com/other", id, secret, 400, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"authorization_code"}, "code": {h.codeOnly(t, b, cfg, verifier)}, "redirect_uri": {tc.redirect},
				"code_verifier": {verifier}}
			wantOAuthError(t, h.tokenCall(t, tc.tenant, form, tc.id, tc.secret), tc.status, tc.want)
		})
	}

	t.Run("RP-initiated logout refuses an unregistered post-logout URI", func(t *testing.T) {
		res, _ := b.get(testIssuer + "acme/oauth2/logout?post_logout_redirect_uri=" + url.QueryEscape("https://evil.example.com/") + "&id_token_hint=" + rawID)
		wantDiff(t, "logout to an unregistered URI", http.StatusBadRequest, res.StatusCode)
	})
	t.Run("RP-initiated logout goes to a registered post-logout URI with the state", func(t *testing.T) {
		res, _ := b.get(testIssuer + "acme/oauth2/logout?post_logout_redirect_uri=" + url.QueryEscape("https://app.example.com/bye") + "&state=state-9999&id_token_hint=" + rawID)
		wantDiff(t, "logout redirect", "state-9999", landed(t, res, "https://app.example.com/bye").State)
	})
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
	return landed(t, res, cfg.RedirectURL).Code
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
	const spaCallback = "https://spa.example.com/cb"
	base := func(id, redirect string) url.Values {
		q := url.Values{"client_id": {id}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"state-0004"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		if redirect != webCallback {
			q.Del("scope") // the SPA has no scopes
		}
		return q
	}
	webID, spaID := web["client_id"].(string), spa["client_id"].(string)

	t.Run("a redirect URI the client did not register exactly gets no redirect", func(t *testing.T) {
		for _, bad := range []string{"https://evil.example.com/callback", webCallback + "/", webCallback + "?x=1", "https://APP.example.com/callback"} {
			wantDiff(t, "redirect_uri "+bad, refusedInPlace, answerOf(auth(base(webID, bad))))
		}
	})
	t.Run("an unknown client gets no redirect", func(t *testing.T) {
		if res := auth(base("no-such-client", webCallback)); res.StatusCode/100 == 3 {
			t.Errorf("unknown client redirected: %s", res.Header.Get("Location"))
		}
	})
	for _, tc := range []struct {
		name   string
		change func(url.Values)
		spa    bool
		want   string
	}{
		{"an unknown scope goes to the redirect URI", func(q url.Values) { q.Set("scope", "openid admin") }, false, "invalid_scope"},
		{"the implicit flow not enabled goes to the redirect URI", func(q url.Values) { q.Set("response_type", "token") }, false, "unsupported_response_type"},
		{"a hybrid flow not registered goes to the redirect URI", func(q url.Values) { q.Set("response_type", "code id_token"); q.Set("nonce", "nonce-0004") },
			false, "unsupported_response_type"},
		{"a public client without PKCE goes to the redirect URI", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, true, "invalid_request"},
		{"a public client with plain PKCE goes to the redirect URI", func(q url.Values) {
			q.Set("code_challenge_method", "plain")
			q.Set("code_challenge", strings.Repeat("a", 43))
		}, true, "invalid_request"},
		{"a confidential client without PKCE goes to the redirect URI", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") },
			false, "invalid_request"},
		{"an audience goes to the redirect URI", func(q url.Values) { q.Set("audience", "https://api") }, false, "invalid_request"},
		{"a short state goes to the redirect URI", func(q url.Values) { q.Set("state", "abc") }, false, "invalid_state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, redirect := webID, webCallback
			if tc.spa {
				id, redirect = spaID, spaCallback
			}
			q := base(id, redirect)
			tc.change(q)
			wantDiff(t, "error", tc.want, landed(t, auth(q), redirect).Error)
		})
	}
	t.Run("a public client uses PKCE S256 and no secret at the token endpoint", func(t *testing.T) {
		cfg := oauth2.Config{ClientID: spaID, Endpoint: oauth2.Endpoint{AuthURL: testIssuer + "acme/oauth2/auth", TokenURL: testIssuer + "acme/oauth2/token",
			AuthStyle: oauth2.AuthStyleInParams}, RedirectURL: spaCallback}
		c := h.claimsOf(t, "acme", h.codeFlow(t, b, cfg, "carol").AccessToken)
		wantDiff(t, "public client's token", jwtClaims{Sub: "carol", ClientID: spaID}, jwtClaims{Sub: c.Sub, ClientID: c.ClientID})
	})
}

// The hybrid and implicit flows return an ID token for a pairwise
// subject, with the request's nonce and state and the hash of what
// comes with it.
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
	subjects := map[string]bool{}
	for _, tc := range []struct {
		responseType string
		want         authResponse
		hashes       []string // the hashes the ID token has
	}{
		{"code id_token", authResponse{Code: set, IDToken: set, State: "state-0005", Iss: testIssuer + "acme"}, []string{"c_hash"}},
		{"id_token token", authResponse{AccessToken: set, IDToken: set, State: "state-0005", Iss: testIssuer + "acme"}, []string{"at_hash"}},
	} {
		t.Run(tc.responseType, func(t *testing.T) {
			q := url.Values{"client_id": {id}, "redirect_uri": {webCallback}, "response_type": {tc.responseType}, "scope": {"openid"},
				"state": {"state-0005"}, "nonce": {"nonce-0005"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
				"code_challenge_method": {"S256"}}
			res, _ := b.stopAtLogin().get(testIssuer + "acme/oauth2/auth?" + q.Encode())
			lc := challengeOf(t, res, "login")
			res, _ = b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"dave"}, "action": {"accept"}})
			got := landed(t, res, webCallback)
			wantDiff(t, "the client got", tc.want, got.shape())
			idc := h.claimsOf(t, "acme", got.IDToken)
			subjects[idc.Sub] = true
			var hashes []string
			if idc.CHash != "" {
				hashes = append(hashes, "c_hash")
			}
			if idc.ATHash != "" {
				hashes = append(hashes, "at_hash")
			}
			type shown struct {
				Nonce       string
				UsersOwnSub bool
				Hashes      []string
			}
			wantDiff(t, "ID token", shown{"nonce-0005", false, tc.hashes}, shown{idc.Nonce, idc.Sub == "dave", hashes})
		})
	}
	t.Run("the pairwise subject is the same every time", func(t *testing.T) {
		if len(subjects) != 1 {
			t.Errorf("pairwise subjects %v", subjects)
		}
	})
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
	r := h.call(t, "POST", challengePath(tenant, kind, challenge)+"/accept", body).want(t, 200)
	return decodeAs[redirectAnswer](t, r).RedirectTo
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
	link := h.acceptChallenge(t, "acme", "login", challengeIn(t, res, "login"), map[string]any{"subject": "mallory", "remember": true})

	t.Run("the victim following the attacker's link gets no code", func(t *testing.T) {
		res, _ := victim.get(link)
		if isRedirectTo(res, webCallback) && landed(t, res, webCallback).Code != "" {
			t.Errorf("a login verifier was accepted in a browser that did not start the flow")
		}
	})
	t.Run("the victim's browser has no login session of the attacker's", func(t *testing.T) {
		res, _ := victim.get(authURL(oauth2.SetAuthURLParam("prompt", "none")))
		if !isRedirectTo(res, webCallback) {
			return
		}
		if code := landed(t, res, webCallback).Code; code != "" {
			tok, err := cfg.Exchange(h.oauthContext(t), code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			t.Errorf("session fixation: the victim's browser got the attacker's login session (sub=%v, without logging in)",
				h.claimsOf(t, "acme", tok.AccessToken).Sub)
		}
	})
}

// Challenges, verifiers and login session cookies are their tenant's.
// The steps run in order: a login at acme, then its verifier and its
// session's cookie elsewhere.
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
	lc := challengeIn(t, res, "login")
	t.Run("another tenant's or kind's API does not know the challenge", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", challengePath("beta", "login", lc), nil},
			{"POST", challengePath("beta", "login", lc) + "/accept", map[string]any{"subject": "x"}},
			{"POST", challengePath("acme", "consent", lc) + "/accept", map[string]any{}},
		} {
			if r := h.call(t, c.method, c.path, c.body); r.status != http.StatusNotFound {
				t.Errorf("%s %s: %d %s, want 404", c.method, c.path, r.status, r.body)
			}
		}
	})
	t.Run("another tenant's admin may not answer", func(t *testing.T) {
		gamma := decodeAs[createdTenantResponse](t, h.call(t, "POST", "/admin/tenants", map[string]string{"slug": "gamma", "name": "GAMMA"}).want(t, 201)).AdminClient
		gammaTok, err := h.clientCredentials(t, "gamma", gamma.ClientID, gamma.ClientSecret, oauth2.AuthStyleInHeader)
		if err != nil {
			t.Fatal(err)
		}
		if r := h.call(t, "POST", challengePath("acme", "login", lc)+"/accept", map[string]any{"subject": "x"}, token(gammaTok.AccessToken)); r.status/100 == 2 {
			t.Fatalf("another tenant's admin answered a challenge: %d", r.status)
		}
	})
	next := h.acceptChallenge(t, "acme", "login", lc, map[string]any{"subject": "bob", "remember": true})

	t.Run("the verifier at another tenant is refused, with no redirect", func(t *testing.T) {
		res, _ := b.get(strings.Replace(next, "/t/acme/", "/t/beta/", 1))
		wantDiff(t, "acme's verifier at beta", refusedInPlace, answerOf(res))
	})
	t.Run("a login verifier is no consent verifier", func(t *testing.T) {
		res, _ := b.get(strings.Replace(next, "login_verifier", "consent_verifier", 1))
		wantDiff(t, "acme's login verifier as a consent verifier", refusedInPlace, answerOf(res))
	})
	if !t.Run("the verifier was not used up there", func(t *testing.T) {
		res, _ := b.get(next)
		if diff := cmp.Diff(authResponse{Code: set, State: "state-at07", Iss: testIssuer + "acme"}, landed(t, res, webCallback).shape()); diff != "" {
			t.Fatalf("callback (-want +got):\n%s", diff)
		}
	}) {
		t.FailNow()
	}
	t.Run("the verifier works once", func(t *testing.T) {
		res, _ := b.get(next)
		wantDiff(t, "verifier used twice", refusedInPlace, answerOf(res))
	})

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
	promptNone := func(t *testing.T, b *browser, c oauth2.Config) authResponse {
		t.Helper()
		res, _ := b.get(c.AuthCodeURL("state-at07", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption(verifier)))
		return landed(t, res, webCallback).shape()
	}
	t.Run("acme's login session cookie under beta's name is no session at beta", func(t *testing.T) {
		bu, _ := url.Parse(testIssuer + "beta/")
		b.c.Jar.SetCookies(bu, []*http.Cookie{{Name: "clavis_login_beta", Value: sess.Value, Path: "/t/beta/"}})
		wantDiff(t, "acme's login session at beta", authResponse{Error: "login_required", State: "state-at07", Iss: testIssuer + "beta"}, promptNone(t, b, beta))
	})
	t.Run("a forged login session cookie is no session", func(t *testing.T) {
		b2 := h.browser(t)
		b2.c.Jar.SetCookies(base, []*http.Cookie{{Name: sess.Name, Value: strings.Split(sess.Value, ".")[0] + ".AAAAAAAAAAAAAAAAAAAAAA", Path: "/t/acme/"}})
		wantDiff(t, "forged login session cookie", authResponse{Error: "login_required", State: "state-at07", Iss: testIssuer + "acme"}, promptNone(t, b2, acme))
	})
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
			got := landed(t, res, webCallback)
			if diff := cmp.Diff(authResponse{Code: set, State: "state-at04", Iss: testIssuer + "acme"}, got.shape()); diff != "" {
				t.Fatalf("after a fresh login (-want +got):\n%s", diff)
			}
			if _, err := cfg.Exchange(h.oauthContext(t), got.Code, oauth2.VerifierOption(verifier)); err != nil {
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
			tok := decodeAs[tokenAnswer](t, ok[0])
			if decodeAs[introspection](t, h.introspect(t, "acme", tok.AccessToken, cfg.ClientID, cfg.ClientSecret)).Active {
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
			got := landed(t, res, webCallback)
			want := authResponse{Code: set, AccessToken: set, State: "state-at11", Iss: testIssuer + "acme"}
			if strings.Contains(rt, "id_token") {
				want.IDToken = set
			}
			if diff := cmp.Diff(want, got.shape()); diff != "" {
				t.Fatalf("the client got (-want +got):\n%s", diff)
			}
			front := h.claimsOf(t, "acme", got.AccessToken)
			tok, err := cfg.Exchange(h.oauthContext(t), got.Code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("the code's exchange fails: %v", err)
			}
			if back := h.claimsOf(t, "acme", tok.AccessToken); back.JTI == front.JTI {
				t.Errorf("both access tokens have jti %v", back.JTI)
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
	meta := decodeAs[struct {
		ResponseModes []string `json:"response_modes_supported"`
	}](t, h.call(t, "GET", "/t/acme/.well-known/openid-configuration", nil, noAuth).want(t, 200))
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
	t.Run("tokens in a query are refused", func(t *testing.T) {
		res, _ := run(t, "id_token token", "query")
		u, err := url.Parse(res.Header.Get("Location"))
		if err != nil {
			return
		}
		got := authResponseOf(u.Query()).shape()
		wantDiff(t, "tokens in the query "+u.String(), authResponse{}, authResponse{AccessToken: got.AccessToken, IDToken: got.IDToken})
	})
	for _, mode := range meta.ResponseModes {
		t.Run("advertised mode "+mode+" works", func(t *testing.T) {
			res, page := run(t, "code", mode)
			var got authResponse
			if mode == "form_post" {
				got = authResponseOf(formPosted(t, res, page, webCallback))
			} else {
				got = landed(t, res, webCallback)
			}
			wantDiff(t, "response_mode="+mode, authResponse{Code: set, State: "state-at13", Iss: testIssuer + "acme"}, got.shape())
		})
	}
}

// A browser that runs many flows (a single-page application renewing
// its tokens through the login application) keeps no cookie of a
// finished one: each flow's cookie was kept 30 minutes, and some fifty
// flows later the browser's requests were too large for the server
// (431) until they expired.
func TestFinishedFlowsLeaveNoCookie(t *testing.T) {
	t.Parallel()
	h := startAdmin(t, oauth.WithFlowLimits(oauth.FlowLimits{PerClient: 1000, ClientBurst: 1000, PerAddress: 1000, AddressBurst: 1000}))
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", webClient("urn:acme/web"))
	cfg := clientConfig("acme", c, "openid")
	b := h.browser(t)
	for range 120 {
		h.codeOnly(t, b, cfg, oauth2.GenerateVerifier())
	}
	issuer, _ := url.Parse(testIssuer + "acme/oauth2/auth")
	var flows []string
	for _, ck := range b.c.Jar.Cookies(issuer) {
		if strings.HasPrefix(ck.Name, "clavis_flow_") {
			flows = append(flows, ck.Name)
		}
	}
	if len(flows) > 0 {
		t.Errorf("after 120 finished flows the browser keeps %d flow cookies", len(flows))
	}
}
