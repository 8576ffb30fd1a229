package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A session is its tenant's alone: the cookie, sent by hand to another
// tenant's console, opens nothing there.
func TestSessionOfAnotherTenantReachesNothing(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	h.tenant(t, "beta")
	a := h.signIn(t, "acme", "alice")
	acme, _ := url.Parse(h.url + "/t/acme/console/")
	beta, _ := url.Parse(h.url + "/t/beta/console/")
	for _, ck := range a.client.Jar.Cookies(acme) {
		a.client.Jar.SetCookies(beta, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/t/beta/console/"}})
	}
	a.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	status, _ := a.get(t, "/t/beta/console/clients")
	if status != http.StatusSeeOther {
		t.Fatalf("acme's session cookie at beta's console answers %d, want 303 to sign in", status)
	}
	status, body := a.post(t, "/t/beta/console/logout", nil)
	if status != http.StatusUnauthorized {
		t.Fatalf("acme's session posting at beta's console answers %d: %s", status, excerpt(body))
	}
}

// Every form post needs the session's CSRF token, and a browser's word
// that it came from the console's own origin.
func TestFormsNeedTheCSRFToken(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	for name, form := range map[string]url.Values{
		"missing": {"_csrf": {""}},
		"wrong":   {"_csrf": {strings.Repeat("A", len(a.csrf))}},
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		status, body := a.postURL(t, h.url+"/t/acme/console/logout", f)
		if status != http.StatusForbidden || !strings.Contains(body, "Form refused") {
			t.Errorf("%s CSRF token: %d %s", name, status, excerpt(body))
		}
	}
	req, _ := http.NewRequest(http.MethodPost, h.url+"/t/acme/console/logout", strings.NewReader(url.Values{"_csrf": {a.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site post with the right token answers %d", res.StatusCode)
	}
	// The session is still open: nothing above signed it out.
	if status, body := a.get(t, "/t/acme/console/clients"); status != http.StatusOK || !strings.Contains(body, "alice") {
		t.Fatalf("the session ended: %d", status)
	}
}

// A person the login application granted none of the console's scopes
// gets the "not allowed" page, not the console.
func TestPersonWithoutPowersIsNotAllowed(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.newAgent(t)
	status, body := a.get(t, "/t/acme/console/")
	m := challengeInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no login page: %d", status)
	}
	_, body = a.postURL(t, a.last, url.Values{"login_challenge": {m[2]}, "subject": {"mallory"}, "action": {"accept"}})
	m = challengeInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no consent page: %s", excerpt(body))
	}
	status, body = a.postURL(t, a.last, url.Values{"consent_challenge": {m[2]}, "action": {"accept"}, "grant_scope": {"openid"}})
	if status != http.StatusForbidden {
		t.Fatalf("a person with no console scope gets %d: %s", status, excerpt(body))
	}
	mustContain(t, body, "Not allowed")
}

// The pages carry the policy that keeps script out: no inline script,
// no framing.
func TestPagesCarryTheSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	res, err := a.client.Get(h.url + "/t/acme/console/clients")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q allows inline code", csp)
	}
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers: %v", res.Header)
	}
	u, _ := url.Parse(h.url + "/t/acme/console/")
	for _, ck := range a.client.Jar.Cookies(u) {
		if ck.Name == "clavis_console" {
			return
		}
	}
	t.Fatal("no session cookie at the console's path")
}
