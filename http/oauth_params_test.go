package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestRepeatedOAuthParameters gives a parameter twice, in the form body
// or in it and the query string, to the token endpoint (on the quick
// path's requests and fosite's), introspection, revocation and the
// authorization endpoint: RFC 6749 §3.1 says "Request and response
// parameters MUST NOT be included more than once", so each is
// invalid_request naming the parameter. Unknown parameters are still
// ignored there, as §3.1 says too.
func TestRepeatedOAuthParameters(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	worker := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_post"})
	id, secret := worker["client_id"].(string), worker["client_secret"].(string)
	post := func(endpoint, query, body string) response {
		t.Helper()
		path := "/t/acme/oauth2/" + endpoint
		if query != "" {
			path += "?" + query
		}
		req, err := http.NewRequestWithContext(t.Context(), "POST", h.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		r := response{status: res.StatusCode, header: res.Header, body: b}
		h.k.checkResponse(t, "POST", path, r)
		return r
	}
	creds := "client_id=" + url.QueryEscape(id) + "&client_secret=" + url.QueryEscape(secret)
	refused := func(what string, r response, name string) {
		t.Helper()
		if r.status != 400 || r.object(t)["error"] != "invalid_request" || !strings.Contains(r.object(t)["error_description"].(string), "'"+name+"'") {
			t.Errorf("%s: %d %s, want invalid_request naming %s", what, r.status, r.body, name)
		}
	}

	// The quick path's request, and the same with an unknown parameter
	// (fosite's path), are answered.
	token := post("token", "", "grant_type=client_credentials&"+creds).want(t, 200).object(t)["access_token"].(string)
	post("token", "", "grant_type=client_credentials&"+creds+"&unknown=1").want(t, 200)

	for what, c := range map[string]struct{ query, body, name string }{
		"grant_type twice":             {"", "grant_type=client_credentials&grant_type=client_credentials&" + creds, "grant_type"},
		"grant_type, two values":       {"", "grant_type=client_credentials&grant_type=authorization_code&" + creds, "grant_type"},
		"client_id twice":              {"", "grant_type=client_credentials&" + creds + "&client_id=" + url.QueryEscape(id), "client_id"},
		"scope twice":                  {"", "grant_type=client_credentials&scope=&scope=&" + creds, "scope"},
		"grant_type in query and body": {"grant_type=client_credentials", "grant_type=client_credentials&" + creds, "grant_type"},
		"unknown parameter twice":      {"", "grant_type=client_credentials&" + creds + "&x=1&x=2", "x"},
	} {
		refused("token: "+what, post("token", c.query, c.body), c.name)
	}
	refused("introspect", post("introspect", "", "token="+token+"&token="+token+"&"+creds), "token")
	refused("introspect, query", post("introspect", "token="+token, "token="+token+"&"+creds), "token")
	refused("revoke", post("revoke", "", "token="+token+"&token="+token+"&"+creds), "token")
	// Nothing was revoked: the token still introspects as active.
	if got := post("introspect", "", "token="+token+"&"+creds).want(t, 200).object(t); got["active"] != true {
		t.Errorf("introspection after refused revocations = %v", got)
	}

	// The authorization endpoint: a repeated parameter goes back to the
	// client as invalid_request; a repeated client_id or redirect_uri
	// gets no redirect at all.
	web := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)
	b := h.browser(t)
	auth := func(extra string) *http.Response {
		q := url.Values{"client_id": {web}, "redirect_uri": {webCallback}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"state-0004"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		res, _ := b.stopAtLogin().get(testIssuer + "acme/oauth2/auth?" + q.Encode() + extra)
		return res
	}
	if res := auth(""); res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther || strings.HasPrefix(res.Header.Get("Location"), webCallback) {
		t.Fatalf("a good request: %d %s, want a redirect to the login", res.StatusCode, res.Header.Get("Location"))
	}
	for _, name := range []string{"scope", "state", "response_type", "code_challenge"} {
		got := arrived(t, auth("&"+name+"=x"), webCallback)
		if got.Get("error") != "invalid_request" || !strings.Contains(got.Get("error_description"), "'"+name+"'") {
			t.Errorf("authorize with %s twice: %v", name, got)
		}
	}
	for _, extra := range []string{"&client_id=" + url.QueryEscape(web), "&redirect_uri=" + url.QueryEscape(webCallback), "&redirect_uri=https://evil.example.com/cb"} {
		if res := auth(extra); res.StatusCode != 400 || res.Header.Get("Location") != "" {
			t.Errorf("authorize with %s: %d %s, want 400 without a redirect", extra, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

// An unauthenticated 1 MiB form of "a&a&a..." cost the token endpoint
// ~78 ms of CPU to parse. The OAuth form endpoints refuse a body over
// 32 KiB, or more than 64 parameters, with invalid_request before
// parsing it, and nothing changes; a request within the bounds, however
// padded with unknown parameters, is still answered.
func TestOAuthFormBounded(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	worker := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_post"})
	id, secret := worker["client_id"].(string), worker["client_secret"].(string)
	web := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)
	creds := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	padded := func(form url.Values, params int) url.Values {
		out := url.Values{}
		for k, v := range form {
			out[k] = v
		}
		for i := len(out); i < params; i++ {
			out.Set(fmt.Sprintf("x%d", i), "")
		}
		return out
	}
	long := func(form url.Values) url.Values {
		out := padded(form, 0)
		out.Set("x", strings.Repeat("a", 33<<10))
		return out
	}
	refused := func(what string, r response) {
		t.Helper()
		if r.status != 400 || r.object(t)["error"] != "invalid_request" {
			t.Errorf("%s: %d %.300s, want 400 invalid_request", what, r.status, r.body)
		}
	}

	tok := h.tokenCall(t, "acme", padded(creds, 64)).want(t, 200).object(t)["access_token"].(string)
	refused("a token request of 65 parameters", h.tokenCall(t, "acme", padded(creds, 65)))
	refused("a token request of 33 KiB", h.tokenCall(t, "acme", long(creds)))
	refused("60 KiB of a=&a=&a at the token endpoint", h.formCall(t, "acme", "token", url.Values{"a": make([]string, 20<<10)}))
	revocation := url.Values{"token": {tok}, "client_id": {id}, "client_secret": {secret}}
	refused("an introspection of 65 parameters", h.formCall(t, "acme", "introspect", padded(revocation, 65)))
	refused("a revocation of 65 parameters", h.formCall(t, "acme", "revoke", padded(revocation, 65)))
	refused("a revocation of 33 KiB", h.formCall(t, "acme", "revoke", long(revocation)))
	if r := h.formCall(t, "acme", "introspect", revocation).want(t, 200).object(t); r["active"] != true {
		t.Errorf("the refused revocations revoked the token: %v", r)
	}

	// The authorization endpoint shows the person a page, and stores no
	// flow.
	b := h.browser(t).stopAtLogin()
	for what, form := range map[string]url.Values{"65 parameters": padded(authorizeForm(web), 65), "33 KiB": long(authorizeForm(web))} {
		res, page := b.post(testIssuer+"acme/oauth2/auth", form)
		if res.StatusCode != 400 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, "invalid_request") {
			t.Errorf("an authorization request of %s: %d %s %.300s; want a 400 page", what, res.StatusCode, res.Header.Get("Location"), page)
		}
	}
	if flows := h.storedFlows(t); len(flows) != 0 {
		t.Errorf("refused authorization requests stored flows: %v", flows)
	}
	if res, _ := b.post(testIssuer+"acme/oauth2/auth", padded(authorizeForm(web), 64)); !isRedirectTo(res, testLoginURL) {
		t.Errorf("an authorization request of 64 parameters: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

// Codes and tokens come from the client, and what fosite takes for
// their signature becomes part of a store's key: malformed ones are
// invalid grants (400), not server errors, and revoking one answers 200
// (RFC 7009 §2.2).
func TestMalformedCodesAndTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", webClient("urn:acme/web"))
	id, secret := c["client_id"].(string), c["client_secret"].(string)

	exchange := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCallback},
			"code_verifier": {oauth2.GenerateVerifier()}}
	}
	refresh := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	}
	type tokenCase struct {
		name string
		form url.Values
	}
	var cases []tokenCase
	for _, code := range []string{"garbage", "ory_ac_abc.", "ory_ac_abc.*", "ory_ac_abc.a>b", "ory_ac_abc.a b"} {
		cases = append(cases, tokenCase{"code " + code, exchange(code)})
	}
	for _, rt := range []string{"garbage", "ory_rt_abc.", "ory_rt_abc.*", "ory_rt_abc.a>b"} {
		cases = append(cases, tokenCase{"refresh token " + rt, refresh(rt)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := h.tokenCall(t, "acme", tc.form, id, secret); r.status != 400 || r.object(t)["error"] != "invalid_grant" {
				t.Errorf("%d %s, want 400 invalid_grant", r.status, r.body)
			}
		})
	}
	for _, rt := range []string{"ory_rt_abc.", "ory_rt_abc.*", "ory_rt_abc.a b"} {
		t.Run("revoke "+rt, func(t *testing.T) {
			if r := h.revoke(t, "acme", rt, id, secret); r.status != 200 {
				t.Errorf("%d %s, want 200", r.status, r.body)
			}
		})
	}
}
