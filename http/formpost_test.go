package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
	authorize := func(t *testing.T, extra url.Values) (*http.Response, string) {
		q := url.Values{"client_id": {c["client_id"].(string)}, "redirect_uri": {webCallback}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"state-fp01"}, "nonce": {"nonce-fp01"}, "response_mode": {"form_post"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		for k, v := range extra {
			q[k] = v
		}
		b := h.browser(t)
		res, page := b.stopAtLogin().get(testIssuer + "acme/oauth2/auth?" + q.Encode())
		if res.StatusCode/100 != 3 || !strings.Contains(res.Header.Get("Location"), "/dev/login") {
			return res, page
		}
		lc := challengeOf(t, res, "login")
		return b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"dave"}, "action": {"accept"}})
	}
	for _, tc := range []struct {
		name  string
		extra url.Values
		want  authResponse
	}{
		{"an error", url.Values{"prompt": {"none"}}, authResponse{Error: "login_required", State: "state-fp01", Iss: testIssuer + "acme"}},
		{"a code", nil, authResponse{Code: set, State: "state-fp01", Iss: testIssuer + "acme"}},
	} {
		t.Run(tc.name+" is posted by a page no one keeps or frames, whose one script the policy allows", func(t *testing.T) {
			res, page := authorize(t, tc.extra)
			wantDiff(t, "the client got", tc.want, authResponseOf(formPosted(t, res, page, webCallback)).shape())
			type headers struct {
				HTML               bool
				CacheControl       string
				FrameOptions       string
				FrameAncestorsNone bool
			}
			p := pageHeadersOf(res)
			wantDiff(t, "headers", headers{true, "no-store", "DENY", true}, headers{p.HTML, p.CacheControl, p.FrameOptions, p.FrameAncestorsNone})
			scripts := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(page, -1)
			type shown struct {
				Scripts int
				OnLoad  bool
			}
			if diff := cmp.Diff(shown{Scripts: 1}, shown{len(scripts), strings.Contains(page, "onload")}); diff != "" {
				t.Fatalf("want one script element and no handler (-want +got):\n%s\n%s", diff, page)
			}
			sum := sha256.Sum256([]byte(scripts[0][1]))
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
				t.Errorf("the policy %q does not allow the page's script %q", csp, scripts[0][1])
			}
		})
	}
}
