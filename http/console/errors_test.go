package console_test

import (
	"net/http"
	"testing"
)

func TestUnknownConsolePagesAreNotFoundPages(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	status, body := a.get(t, "/t/acme/console/no-such-page")
	if status != http.StatusNotFound {
		t.Fatalf("an unknown page answers %d", status)
	}
	mustContain(t, body, "<h1>Not found</h1>")

	// A tenant that does not exist is not found either, before any
	// sign-in: the console tells no more about tenants than the API.
	status, body = h.newAgent(t).get(t, "/t/nobody/console/")
	if status != http.StatusNotFound {
		t.Fatalf("another tenant's console answers %d", status)
	}
	mustContain(t, body, "<h1>Not found</h1>")
}
