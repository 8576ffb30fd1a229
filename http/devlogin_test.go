package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// The development login page is served only for tenants without a
// login application: it lets anyone in as whoever they say, so it must
// not answer the challenges of a tenant that has one.
func TestDevLoginOnlyWithoutLoginApp(t *testing.T) {
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

	// Answered on the development page instead, as whoever one likes.
	t.Run("the page is not served", func(t *testing.T) {
		res, _ := b.get(testIssuer + "acme/dev/login?login_challenge=" + url.QueryEscape(lc))
		wantDiff(t, "the development login page for a tenant with a login application", http.StatusNotFound, res.StatusCode)
	})
	t.Run("a login posted to it gets no code", func(t *testing.T) {
		res, _ := b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"ceo@acme.example"}, "action": {"accept"}})
		if !isRedirectTo(res, webCallback) {
			return
		}
		tok, err := cfg.Exchange(h.oauthContext(t), landed(t, res, webCallback).Code, oauth2.VerifierOption(verifier))
		if err == nil {
			t.Errorf("login application bypassed through /dev/login: got a token for sub=%v", h.claimsOf(t, "acme", tok.AccessToken).Sub)
		} else {
			t.Errorf("login application bypassed through /dev/login: got a code (%v)", err)
		}
	})
}

// The development login page escapes what it shows.
func TestDevLoginPageEscapes(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/web")
	body["client_name"] = `<script>alert("name")</script>`
	cfg := clientConfig("acme", h.createClient(t, "acme", body), "openid")
	b := h.browser(t)
	res, page := b.get(cfg.AuthCodeURL("state-at09", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("login_hint", `"><script>alert("hint")</script>`)))
	type shown struct {
		Status          int
		SignIn          bool
		UnescapedMarkup bool
	}
	wantDiff(t, "the development login page\n"+page, shown{Status: http.StatusOK, SignIn: true},
		shown{res.StatusCode, strings.Contains(page, "Sign in to"), strings.Contains(page, "<script>")})
}
