package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSignInThroughTheTenantAndOut(t *testing.T) {
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	if !strings.HasSuffix(a.last, "/t/acme/console/clients") {
		t.Fatalf("after signing in the console shows %s, want its clients", a.last)
	}
	_, body := a.get(t, "/t/acme/console/clients")
	mustContain(t, body, "alice", "urn:clavis/admin", "urn:clavis/console")

	// Signing out revokes the session's token: a copy of the cookie
	// opens nothing afterwards.
	u, _ := url.Parse(h.url + "/t/acme/console/")
	saved := a.client.Jar.Cookies(u)
	status, body := a.post(t, "/t/acme/console/logout", nil)
	if status != http.StatusOK || !strings.Contains(body, "signed out") {
		t.Fatalf("sign out: %d %s", status, excerpt(body))
	}
	b := h.newAgent(t)
	b.client.Jar.SetCookies(u, saved)
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	status, _ = b.get(t, "/t/acme/console/clients")
	if status != http.StatusSeeOther {
		t.Fatalf("the cookie of a signed-out session still opens the console: %d", status)
	}
}
