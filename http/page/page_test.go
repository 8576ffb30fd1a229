package page_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/http/page"
)

// Every page renders, and its stylesheet is the one the content
// security policy allows by hash (else browsers drop it).
func TestPagesMatchTheirPolicy(t *testing.T) {
	t.Parallel()
	headers := map[string]string{}
	page.SetHeaders(func(k, v string) { headers[k] = v })
	client := page.Client{Name: "App", LogoURI: "https://cdn.example.com/l.png", PolicyURI: "https://app.example.com/p"}
	for name, p := range map[string]page.Page{
		"login":   page.Login{Challenge: "c", Client: client},
		"consent": page.Consent{Challenge: "c", Client: client, Subject: "bob", Scopes: []page.Scope{{Name: "openid"}}},
		"error":   page.Error{Code: "invalid_request", Description: "Bad."},
		"logout":  page.LogoutConfirmation{Tenant: "acme", Action: "https://id.example.com/t/acme/oauth2/logout", Form: url.Values{"state": {"s"}}, Confirm: "x"},
		"message": page.Message{Title: "Logout", Text: "You are logged out."},
	} {
		var b bytes.Buffer
		if err := page.Render(&b, p); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		_, rest, ok := strings.Cut(b.String(), "<style>")
		style, _, ok2 := strings.Cut(rest, "</style>")
		if !ok || !ok2 {
			t.Errorf("%s: no stylesheet:\n%s", name, b.String())
			continue
		}
		sum := sha256.Sum256([]byte(style))
		if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(headers["Content-Security-Policy"], want) {
			t.Errorf("%s: the policy %q does not allow the page's stylesheet (%s)", name, headers["Content-Security-Policy"], want)
		}
	}
}

func TestClientLogoAndLinks(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		uri  string
		logo bool
		link bool
	}{
		{"https://cdn.example.com/l.png", true, true},
		{"http://cdn.example.com/l.png", false, true},
		{"javascript:alert(1)", false, false},
		{"data:image/png;base64,AAAA", false, false},
		{"//cdn.example.com/l.png", false, false},
		{"", false, false},
	} {
		cl := page.Client{Name: "App", LogoURI: c.uri, TOSURI: c.uri}
		if got := cl.Logo() != ""; got != c.logo {
			t.Errorf("logo %q shown: %v, want %v", c.uri, got, c.logo)
		}
		if got := len(cl.Links()) == 1; got != c.link {
			t.Errorf("link %q shown: %v, want %v", c.uri, got, c.link)
		}
	}
}
