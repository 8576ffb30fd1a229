package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSignInThroughTheTenantAndOut(t *testing.T) {
	t.Parallel()
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

// A console client registered under another public URL (the operator
// moved the platform) is pointed at the node's own before the sign-in,
// which would otherwise fail at the authorization endpoint.
func TestConsoleClientFollowsThePublicURL(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	res, err := h.node.Admin.Clients.RegisterConsole(t.Context(), rootRequest, "acme", "https://old.example.com/t/acme/console/callback", "https://old.example.com/t/acme/console/signed-out")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.node.Projector.WaitFor(t.Context(), res.Position); err != nil {
		t.Fatal(err)
	}
	h.signIn(t, "acme", "alice")
	v, err := h.node.Admin.ReadModel.Client(t.Context(), "acme", res.Client.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if want := h.url + "/t/acme/console/callback"; len(v.Settings.RedirectURIs) != 1 || v.Settings.RedirectURIs[0] != want {
		t.Fatalf("the console client's redirect URIs are %q, want [%s]", v.Settings.RedirectURIs, want)
	}
}
