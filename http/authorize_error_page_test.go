package httpapi_test

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// An error of the authorization endpoint that may not go to the
// client's redirect URI is shown to the person as a page, not as
// fosite's JSON; what the request said is escaped.
func TestAuthorizeErrorPage(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	web := h.createClient(t, "acme", webClient("urn:acme/web"))
	b := h.browser(t).stopAtLogin()
	request := func(id, redirect string) url.Values {
		return url.Values{"client_id": {id}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"state-ep01"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	}
	cases := []struct {
		name   string
		query  url.Values
		status int
		code   string
	}{
		{"unknown client", request(`<script>alert("id")</script>`, webCallback), 400, "invalid_client"},
		{"unregistered redirect URI", request(web["client_id"].(string), `https://evil.example.com/"><script>alert(1)</script>`), 400, "invalid_request"},
		{"used verifier", url.Values{"login_verifier": {"00000000-0000-0000-0000-000000000000.<script>"}}, 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, page := b.get(testIssuer + "acme/oauth2/auth?" + c.query.Encode())
			if res.StatusCode != c.status || res.Header.Get("Location") != "" {
				t.Fatalf("%d %s: %s", res.StatusCode, res.Header.Get("Location"), page)
			}
			wantPageHeaders(t, c.name, res)
			if !strings.Contains(page, "<!doctype html>") || !strings.Contains(page, "Error: "+c.code) || strings.Contains(page, `{"error"`) {
				t.Errorf("not an error page for %s:\n%s", c.code, page)
			}
			if strings.Contains(page, "<script>") {
				t.Errorf("unescaped markup:\n%s", page)
			}
		})
	}
}

// An error goes only to a redirect URI the client registered exactly:
// fosite matches loopback redirect URIs on any port, and an error must
// not go to such a variant, whatever the error.
func TestAuthorizeErrorsOnlyToTheRegisteredLoopbackPort(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/loop")
	body["redirect_uris"] = []string{"http://127.0.0.1/cb"}
	loop := h.createClient(t, "acme", body)
	b := h.browser(t).stopAtLogin()

	for _, tc := range []struct {
		name   string
		change func(url.Values)
	}{
		{"a scope the client may not ask for", func(q url.Values) { q.Set("scope", "openid admin") }},
		{"prompt=none without a login session", func(q url.Values) { q.Set("prompt", "none") }},
		{"a valid request", func(q url.Values) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"client_id": {loop["client_id"].(string)}, "redirect_uri": {"http://127.0.0.1:4444/cb"}, "response_type": {"code"},
				"scope": {"openid"}, "state": {"state-at10"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
				"code_challenge_method": {"S256"}}
			tc.change(q)
			res, _ := b.get(testIssuer + "acme/oauth2/auth?" + q.Encode())
			if loc := res.Header.Get("Location"); strings.Contains(loc, "4444") {
				t.Errorf("%v: redirected to an unregistered port: %s", q, loc)
			}
		})
	}
}
