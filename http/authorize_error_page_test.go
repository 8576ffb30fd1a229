package httpapi_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
			if diff := cmp.Diff(answer{c.status, ""}, answerOf(res)); diff != "" {
				t.Fatalf("answer (-want +got):\n%s\n%s", diff, page)
			}
			wantPageHeaders(t, c.name, res)
			type shown struct {
				HTML, NamesError, JSON, UnescapedMarkup bool
			}
			wantDiff(t, "error page\n"+page, shown{HTML: true, NamesError: true},
				shown{strings.Contains(page, "<!doctype html>"), strings.Contains(page, "Error: "+c.code), strings.Contains(page, `{"error"`),
					strings.Contains(page, "<script>")})
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
			if u, err := url.Parse(res.Header.Get("Location")); err != nil || u.Host == "127.0.0.1:4444" {
				t.Errorf("%v: redirected to an unregistered port: %s (%v)", q, res.Header.Get("Location"), err)
			}
		})
	}
}
