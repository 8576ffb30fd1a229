package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	httpapi "github.com/clavisiam/clavis/http"
)

// refusedWith fails unless r is a 400 problem of type typ whose field is
// field, and returns the problem (nil when r is no 400 problem).
func refusedWith(t *testing.T, what string, r response, typ, field string) *httpapi.Problem {
	t.Helper()
	type shown struct {
		Status      int
		ContentType string
		Type, Field string
	}
	got := shown{Status: r.status, ContentType: r.header.Get("Content-Type")}
	var p *httpapi.Problem
	if got.Status == 400 && got.ContentType == httpapi.ContentTypeProblem {
		d := decodeAs[httpapi.Problem](t, r)
		p, got.Type, got.Field = &d, d.Type, d.Field
	}
	if diff := cmp.Diff(shown{400, httpapi.ContentTypeProblem, typ, field}, got); diff != "" {
		t.Errorf("%s: %s (-want +got):\n%s", what, r.body, diff)
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
	web, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	values := map[string]string{"slug": "acme", "tenant": "acme", "client_id": web.ClientID, "secret_id": "sec", "challenge": "ch", "webhook_id": "wh_none"}
	param := regexp.MustCompile(`\{([a-z_]+)\}`)

	checked := 0
	for tpl, item := range h.k.doc["paths"].(map[string]any) {
		if !strings.HasPrefix(tpl, "/admin/") && !strings.HasPrefix(tpl, "/t/{tenant}/admin/") && !strings.HasPrefix(tpl, "/t/{tenant}/audit/") {
			continue
		}
		path := param.ReplaceAllStringFunc(tpl, func(m string) string { return values[m[1:len(m)-1]] })
		for method, op := range item.(map[string]any) {
			method = strings.ToUpper(method)
			checked++
			t.Run(method+" "+tpl+" refuses parameters it does not take and bad values of those it takes", func(t *testing.T) {
				before := h.head(t)
				what := method + " " + tpl

				// Unknown parameters are named, both of them.
				r := h.call(t, method, path+"?as_of=&zz%00=1", nil)
				if p := refusedWith(t, what+"?as_of", r, httpapi.ProblemUnknownParameter, "as_of"); p != nil {
					type shown struct {
						Errors    int
						NamesAsOf bool
					}
					if diff := cmp.Diff(shown{2, true}, shown{len(p.Errors), strings.Contains(p.Detail, `"as_of"`)}); diff != "" {
						t.Errorf("%s: problem %s, want both unknown parameters named (-want +got):\n%s", what, r.body, diff)
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
			})
		}
	}
	if checked < 25 {
		t.Errorf("only %d admin operations checked", checked)
	}

	t.Run("what the routes take still works, empty values included", func(t *testing.T) {
		list := decodeAs[clientListResponse](t, h.call(t, "GET", "/t/acme/admin/clients?type=confidential&active=true&q=web&after=&limit=1", nil).want(t, 200))
		if len(list.Clients) != 1 {
			t.Errorf("clients = %+v", list.Clients)
		}
		h.call(t, "GET", "/admin/tenants?limit=2&after=", nil).want(t, 200)
		h.call(t, "GET", "/t/acme/admin/clients/"+web.ClientID+"?at=", nil).want(t, 200)
		h.call(t, "GET", "/t/acme/audit/clients?at=&after=&limit=1", nil).want(t, 200)
		h.call(t, "GET", "/t/acme/audit/clients/"+web.ClientID+"?at=2999-01-01T00:00:00%2B01:00", nil).want(t, 200)
	})
	t.Run("a search in any script is text", func(t *testing.T) {
		h.call(t, "GET", "/t/acme/admin/clients?q="+url.QueryEscape("Café 東京"), nil).want(t, 200)
	})
}

// TestJSONBodiesMustBeUTF8 sends JSON that is not UTF-8, or holds a \u
// escape of half a surrogate pair, which encoding/json would store as
// U+FFFD: to create and patch a client, and to RFC 7591 registration.
// Each is a 400 problem and nothing is stored; a whole pair is text.
func TestJSONBodiesMustBeUTF8(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	web, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	id := web.ClientID

	for name, s := range map[string]string{
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
	} {
		t.Run(name+" is refused and changes nothing", func(t *testing.T) {
			before := h.head(t)
			create := `{"type":"m2m","client_name":"` + s + `","code":"urn:acme/bad","grant_types":["client_credentials"]}`
			refusedWith(t, "create", h.call(t, "POST", "/t/acme/admin/clients", create), httpapi.ProblemMalformedJSON, "")
			refusedWith(t, "patch", h.call(t, "PATCH", "/t/acme/admin/clients/"+id, `{"client_name":"`+s+`"}`, contentType("application/merge-patch+json")), httpapi.ProblemMalformedJSON, "")
			// Registration answers as RFC 7591 §3.2.2 says.
			register := `{"client_name":"` + s + `","redirect_uris":["https://app.example.com/cb"]}`
			wantStatus(t, "register", h.call(t, "POST", "/t/acme/oauth2/register", register), 400, "invalid_client_metadata")
			h.unchanged(t, before, name)
		})
	}
	t.Run("the refused patches left the name as it was", func(t *testing.T) {
		got := decodeAs[clientResponse](t, h.call(t, "GET", "/t/acme/admin/clients/"+id, nil).want(t, 200))
		if diff := cmp.Diff("Web urn:acme/web", got.ClientName); diff != "" {
			t.Errorf("client_name after refused patches (-want +got):\n%s", diff)
		}
	})

	// A whole pair, an escaped backslash before a u, and plain UTF-8 are
	// text, stored as sent.
	for body, want := range map[string]string{
		`{"client_name":"Smile \ud83d\ude00"}`:  "Smile 😀",
		`{"client_name":"Back\\u slash"}`:       `Back\u slash`,
		`{"client_name":"Caf` + "\u00e9" + `"}`: "Café",
	} {
		t.Run(want+" is text, stored as sent", func(t *testing.T) {
			got := decodeAs[clientResponse](t, h.call(t, "PATCH", "/t/acme/admin/clients/"+id, body, contentType("application/merge-patch+json")).want(t, 200))
			if diff := cmp.Diff(want, got.ClientName); diff != "" {
				t.Errorf("patch %s: client_name (-want +got):\n%s", body, diff)
			}
		})
	}
}

// A key member written in another case is read as that member by
// case-insensitive JSON readers (go-jose among them): a private "D" is
// private key material all the same, and a public "N" would be a modulus
// the size check never saw. Both are refused, naming the member, and
// nothing is stored or exported.
func TestJWKMembersInAnotherCaseAreRefused(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	const x, y = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
	before := h.head(t)
	for name, tt := range map[string]struct {
		key   map[string]any
		field string
	}{
		"a private d as D":   {map[string]any{"kty": "EC", "crv": "P-256", "x": x, "y": y, "D": "abc"}, "jwks.keys[0].D"},
		"a symmetric k as K": {map[string]any{"kty": "oct", "K": "c2VjcmV0"}, "jwks.keys[0].K"},
		"a modulus n as N":   {map[string]any{"kty": "RSA", "e": "AQAB", "N": "AQAB"}, "jwks.keys[0].N"},
		"a kty as KTY":       {map[string]any{"kty": "EC", "KTY": "oct", "crv": "P-256", "x": x, "y": y}, "jwks.keys[0].KTY"},
	} {
		t.Run(name, func(t *testing.T) {
			r := h.call(t, "POST", "/t/acme/admin/clients", map[string]any{"type": "m2m", "client_name": "Keys", "code": "urn:acme/" + strings.ReplaceAll(name, " ", "-"),
				"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
				"jwks": map[string]any{"keys": []any{tt.key}}})
			checkProblem(t, r, http.StatusUnprocessableEntity, httpapi.ProblemValidation, tt.field)
		})
	}
	h.unchanged(t, before, "keys with members in another case")
}
