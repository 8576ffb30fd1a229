package httpapi_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	httpapi "github.com/clavisiam/clavis/http"
)

// refusedWith fails unless r is a 400 problem of type typ whose field is
// field.
func refusedWith(t *testing.T, what string, r response, typ, field string) map[string]any {
	t.Helper()
	if r.status != 400 || r.header.Get("Content-Type") != httpapi.ContentTypeProblem {
		t.Errorf("%s: %d %s %s, want a 400 problem", what, r.status, r.header.Get("Content-Type"), r.body)
		return nil
	}
	p := r.object(t)
	if f, _ := p["field"].(string); p["type"] != typ || f != field {
		t.Errorf("%s: problem %s, want type %s naming %q", what, r.body, typ, field)
	}
	return p
}

// TestAdminQueryParameters sends, to every operation of the platform and
// tenant admin APIs that openapi.json lists, a parameter it does not
// take, and each parameter it takes with a value that is not UTF-8 text,
// that holds NUL or another control character, that is too long, or
// given twice: each is a 400 problem naming the parameter, and nothing
// changes. OAuth endpoints ignore unknown parameters instead (RFC 6749
// §3.1); TestRepeatedOAuthParameters covers them.
func TestAdminQueryParameters(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	id := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)
	values := map[string]string{"slug": "acme", "tenant": "acme", "client_id": id, "secret_id": "sec", "challenge": "ch"}
	param := regexp.MustCompile(`\{([a-z_]+)\}`)

	checked := 0
	for tpl, item := range h.k.doc["paths"].(map[string]any) {
		if !strings.HasPrefix(tpl, "/admin/") && !strings.HasPrefix(tpl, "/t/{tenant}/admin/") {
			continue
		}
		path := param.ReplaceAllStringFunc(tpl, func(m string) string { return values[m[1:len(m)-1]] })
		for method, op := range item.(map[string]any) {
			method = strings.ToUpper(method)
			before := h.head(t)
			what := method + " " + tpl

			// ?as_of= was ignored, and answered with the current state.
			r := h.call(t, method, path+"?as_of=&zz%00=1", nil)
			if p := refusedWith(t, what+"?as_of", r, httpapi.ProblemUnknownParameter, "as_of"); p != nil {
				if errs, _ := p["errors"].([]any); len(errs) != 2 || !strings.Contains(p["detail"].(string), `"as_of"`) {
					t.Errorf("%s: problem %s, want both unknown parameters named", what, r.body)
				}
			}

			var takes []string
			refs, _ := op.(map[string]any)["parameters"].([]any)
			for _, ref := range refs {
				resolved, _ := h.k.resolve(ref.(map[string]any))
				if resolved["in"] == "query" {
					takes = append(takes, resolved["name"].(string))
				}
			}
			for _, name := range takes {
				for _, bad := range []string{"%ff", "%00", "a%00b", "a%0Ab", "%7F", "%C2%85", strings.Repeat("a", 513)} {
					refusedWith(t, what+"?"+name+"="+bad, h.call(t, method, path+"?"+name+"="+bad, nil), httpapi.ProblemInvalidParameter, name)
				}
				refusedWith(t, what+" "+name+" twice", h.call(t, method, path+"?"+name+"=1&"+name+"=1", nil), httpapi.ProblemInvalidParameter, name)
			}
			h.unchanged(t, before, what)
			checked++
		}
	}
	if checked < 25 {
		t.Errorf("only %d admin operations checked", checked)
	}

	// What the routes take still works, empty values included.
	list := h.call(t, "GET", "/t/acme/admin/clients?type=confidential&active=true&q=web&after=&limit=1", nil).want(t, 200).object(t)
	if got := list["clients"].([]any); len(got) != 1 {
		t.Errorf("clients = %v", got)
	}
	h.call(t, "GET", "/admin/tenants?limit=2&after=", nil).want(t, 200)
	// A search in any script is text.
	h.call(t, "GET", "/t/acme/admin/clients?q="+url.QueryEscape("Café 東京"), nil).want(t, 200)
}

// TestJSONBodiesMustBeUTF8 sends JSON that is not UTF-8, or holds a \u
// escape of half a surrogate pair, which encoding/json would store as
// U+FFFD: to create and patch a client, and to RFC 7591 registration.
// Each is a 400 problem and nothing is stored; a whole pair is text.
func TestJSONBodiesMustBeUTF8(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	id := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)

	bad := map[string]string{
		"Latin-1 byte":       "Caf\xe9",
		"cut sequence":       "Caf\xc3",
		"encoded surrogate":  "\xed\xa0\x80",
		"lone high":          `\ud800`,
		"lone low":           `\udc00`,
		"high then text":     `\ud83dx`,
		"high then non-low":  `\ud83d\u0041`,
		"two highs":          `\ud83d\ud83d`,
		"pair, reversed":     `\ude00\ud83d`,
		"high at the end":    `ok \uD800`,
		"after an escape":    `\\\ud800`,
		"high then escape n": `\ud800\n`,
	}
	for name, s := range bad {
		before := h.head(t)
		create := `{"type":"m2m","client_name":"` + s + `","code":"urn:acme/bad","grant_types":["client_credentials"]}`
		refusedWith(t, "create: "+name, h.call(t, "POST", "/t/acme/admin/clients", create), httpapi.ProblemMalformedJSON, "")
		refusedWith(t, "patch: "+name, h.call(t, "PATCH", "/t/acme/admin/clients/"+id, `{"client_name":"`+s+`"}`, contentType("application/merge-patch+json")), httpapi.ProblemMalformedJSON, "")
		// Registration answers as RFC 7591 §3.2.2 says.
		register := `{"client_name":"` + s + `","redirect_uris":["https://app.example.com/cb"]}`
		if r := h.call(t, "POST", "/t/acme/oauth2/register", register); r.status != 400 || r.object(t)["error"] != "invalid_client_metadata" {
			t.Errorf("register: %s: %d %s, want invalid_client_metadata", name, r.status, r.body)
		}
		h.unchanged(t, before, name)
	}
	if got := h.call(t, "GET", "/t/acme/admin/clients/"+id, nil).want(t, 200).object(t)["client_name"]; got != "Web urn:acme/web" {
		t.Errorf("client_name = %q after refused patches", got)
	}

	// A whole pair, an escaped backslash before a u, and plain UTF-8 are
	// text, stored as sent.
	for body, want := range map[string]string{
		`{"client_name":"Smile \ud83d\ude00"}`:  "Smile 😀",
		`{"client_name":"Back\\u slash"}`:       `Back\u slash`,
		`{"client_name":"Caf` + "\u00e9" + `"}`: "Café",
	} {
		got := h.call(t, "PATCH", "/t/acme/admin/clients/"+id, body, contentType("application/merge-patch+json")).want(t, 200).object(t)
		if got["client_name"] != want {
			t.Errorf("patch %s: client_name = %q, want %q", body, got["client_name"], want)
		}
	}
}
