package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// The page that answers response_mode=form_post holds a code (or an
// error) for the client: it is never stored by a cache, never shown in
// a frame (another site framing it could have it submitted under its
// overlay), and its policy allows its own script, which submits the
// form, and no other. Success and error answers alike.
func TestFormPostPageHeaders(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", webClient("urn:acme/web"))
	b := h.browser(t)
	authorize := func(extra url.Values) (*http.Response, string) {
		q := url.Values{"client_id": {c["client_id"].(string)}, "redirect_uri": {webCallback}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"state-fp01"}, "nonce": {"nonce-fp01"}, "response_mode": {"form_post"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		for k, v := range extra {
			q[k] = v
		}
		res, page := b.stopAtLogin().get(testIssuer + "acme/oauth2/auth?" + q.Encode())
		if res.StatusCode/100 != 3 || !strings.Contains(res.Header.Get("Location"), "/dev/login") {
			return res, page
		}
		lc := challengeOf(t, res, "login")
		return b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"dave"}, "action": {"accept"}})
	}
	check := func(what string, res *http.Response, page, param string) {
		t.Helper()
		if res.StatusCode != 200 || !strings.Contains(page, `action="`+webCallback+`"`) || !strings.Contains(page, `name="`+param+`"`) {
			t.Fatalf("%s: %d %.500s", what, res.StatusCode, page)
		}
		hd := res.Header
		csp := hd.Get("Content-Security-Policy")
		if hd.Get("Cache-Control") != "no-store" || hd.Get("X-Frame-Options") != "DENY" || !strings.Contains(csp, "frame-ancestors 'none'") ||
			!strings.HasPrefix(hd.Get("Content-Type"), "text/html") {
			t.Errorf("%s: headers %v", what, hd)
		}
		scripts := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(page, -1)
		if len(scripts) != 1 || strings.Contains(page, "onload") {
			t.Fatalf("%s: want one script element and no handler: %s", what, page)
		}
		sum := sha256.Sum256([]byte(scripts[0][1]))
		if !strings.Contains(csp, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Errorf("%s: the policy %q does not allow the page's script %q", what, csp, scripts[0][1])
		}
	}
	res, page := authorize(url.Values{"prompt": {"none"}})
	check("an error", res, page, "error")
	res, page = authorize(nil)
	check("a code", res, page, "code")
}
