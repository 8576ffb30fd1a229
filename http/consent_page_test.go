package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// wantPageHeaders fails unless res is an HTML page that no cache keeps
// and no other site can frame (clickjacking) or script.
func wantPageHeaders(t *testing.T, what string, res *http.Response) {
	t.Helper()
	wantDiff(t, what+": headers", pageHeaders{HTML: true, CacheControl: "no-store", FrameOptions: "DENY", ReferrerPolicy: "no-referrer",
		FrameAncestorsNone: true, DefaultSrcNone: true}, pageHeadersOf(res))
}

// pageHeaders are what a page's headers say about who may keep, frame
// or script it.
type pageHeaders struct {
	HTML               bool // Content-Type text/html
	CacheControl       string
	FrameOptions       string
	ReferrerPolicy     string
	FrameAncestorsNone bool // the policy's frame-ancestors 'none'
	DefaultSrcNone     bool // the policy's default-src 'none'
	ScriptSrc          bool // the policy has a script-src
}

func pageHeadersOf(res *http.Response) pageHeaders {
	h := res.Header
	csp := h.Get("Content-Security-Policy")
	return pageHeaders{
		HTML: strings.HasPrefix(h.Get("Content-Type"), "text/html"), CacheControl: h.Get("Cache-Control"),
		FrameOptions: h.Get("X-Frame-Options"), ReferrerPolicy: h.Get("Referrer-Policy"),
		FrameAncestorsNone: strings.Contains(csp, "frame-ancestors 'none'"), DefaultSrcNone: strings.Contains(csp, "default-src 'none'"),
		ScriptSrc: strings.Contains(csp, "script-src"),
	}
}

// The development consent page shows the client's logo (https only),
// privacy policy and terms of service, and the scopes' descriptions
// from the tenant's catalogue (the name where there is none), all
// escaped; like the login page, it is never cached or framed.
func TestConsentPageShowsClientAndScopes(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Orders", "code": "urn:acme/orders", "api_scopes": []string{"read"}})
	body := webClient("urn:acme/partner")
	body["client_name"] = `Partner <b>"Co"</b>`
	body["consent_required"] = true
	body["optional_scopes"] = []string{"email", "urn:acme/orders:read"}
	body["logo_uri"] = "https://cdn.example.com/logo.png?size=64&fmt=png"
	body["policy_uri"] = "https://partner.example.com/privacy?lang=en&v=2"
	body["tos_uri"] = "https://partner.example.com/terms"
	partner := clientConfig("acme", h.createClient(t, "acme", body), "openid", "email", "urn:acme/orders:read")
	body = webClient("urn:acme/plain")
	body["consent_required"] = true
	body["logo_uri"] = "http://cdn.example.com/plain.png"
	plain := clientConfig("acme", h.createClient(t, "acme", body), "openid")

	// consentPage logs user in through the development login page and
	// returns the consent page the browser comes to.
	consentPage := func(t *testing.T, cfg oauth2.Config) (*http.Response, string) {
		t.Helper()
		b := h.browser(t)
		res, page := b.get(cfg.AuthCodeURL("state-cp01", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if res.StatusCode != http.StatusOK || !strings.Contains(page, "Sign in to") {
			t.Fatalf("login page: %d %s", res.StatusCode, page)
		}
		wantPageHeaders(t, "login page", res)
		lc := res.Request.URL.Query().Get("login_challenge")
		res, page = b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"bob"}, "action": {"accept"}})
		if res.StatusCode != 200 || res.Request.URL.Query().Get("consent_challenge") == "" {
			t.Fatalf("consent page: %d %s %s", res.StatusCode, res.Request.URL, page)
		}
		return res, page
	}

	t.Run("a client's page shows its logo, links, name and scopes, escaped, in a page no one keeps or frames", func(t *testing.T) {
		res, page := consentPage(t, partner)
		wantPageHeaders(t, "consent page", res)
		wanted := []string{
			`<img src="https://cdn.example.com/logo.png?size=64&amp;fmt=png"`,
			`<a href="https://partner.example.com/privacy?lang=en&amp;v=2" rel="noopener noreferrer"`,
			`<a href="https://partner.example.com/terms" rel="noopener noreferrer"`,
			`Partner &lt;b&gt;&#34;Co&#34;&lt;/b&gt; asks for access`,
			"See your email address",
			"Sign you in and know who you are",
			`value="urn:acme/orders:read" checked> urn:acme/orders:read</label>`,
		}
		var missing []string
		for _, want := range wanted {
			if !strings.Contains(page, want) {
				missing = append(missing, want)
			}
		}
		wantDiff(t, "what the consent page lacks\n"+page, []string(nil), missing)
		if strings.Contains(page, "Partner <b>") {
			t.Errorf("unescaped markup on the consent page:\n%s", page)
		}
	})
	t.Run("a logo from http is not shown", func(t *testing.T) {
		_, page := consentPage(t, plain)
		if strings.Contains(page, "<img") || strings.Contains(page, "plain.png") {
			t.Errorf("a logo from http is shown:\n%s", page)
		}
	})
}
