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
