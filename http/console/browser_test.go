package console_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserSignInAndOut signs in through the development login in a
// real browser, sees the clients, signs out, and finds the console
// closed afterwards.
func TestBrowserSignInAndOut(t *testing.T) {
	h := start(t)
	h.tenant(t, "acme")
	b := h.browse(t)
	b.signIn("acme", "alice")
	b.see("Clients", "urn:clavis/admin", "urn:clavis/console")
	if who := b.text(".who"); who != "alice" {
		t.Fatalf("the header names %q, want alice", who)
	}
	b.checkAccessibility()
	b.signOut()
	b.checkAccessibility()
	b.open("/t/acme/console/clients")
	if !b.has(`input[name=subject]`) {
		t.Fatalf("after signing out the console still opens: %s", b.path())
	}
}

// TestBrowserAccessibilityCheckFinds makes sure the accessibility check
// sees what it is there to see: a page with an unlabelled input and
// unreadable text breaks serious or critical rules.
func TestBrowserAccessibilityCheckFinds(t *testing.T) {
	b := (&harness{}).browse(t) // no node: the page is a data: URL
	b.do("open a bad page", chromedp.Navigate(`data:text/html,<!doctype html><html lang="en"><title>Bad</title><main><h1>Bad</h1><input type="text"><p style="color:%23eee;background:%23fff">faint</p></main>`))
	bad := strings.Join(b.axe(), "\n")
	for _, rule := range []string{"label", "color-contrast"} {
		if !strings.Contains(bad, rule+" (") {
			t.Errorf("axe-core does not report %s on a page that breaks it; it reports:\n%s", rule, bad)
		}
	}
}
