package httpapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/http/jsonbody"
)

// FuzzRegistrationSettings checks the reading of RFC 7591 client
// metadata (the registration endpoint's POST and PUT bodies): nothing
// panics, no body registers a client with a platform scope (only
// administrators grant those), a client that names no code gets one
// (one that names an empty code is refused by the commands), and the
// settings read, given back as the full document a client is shown
// in, are a merge patch the admin API takes.
func FuzzRegistrationSettings(f *testing.F) {
	for _, s := range []string{
		`{"client_name":"Worker","grant_types":["client_credentials"]}`,
		`{"client_name":"Web","redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none","scope":"openid profile"}`,
		`{"client_name":"X","redirect_uris":["http://evil.example.com/cb"]}`,
		`{"client_name":"X","grant_types":["client_credentials"],"scope":"urn:x/y:z"}`,
		`{"client_name":"X","grant_types":["client_credentials"],"scope":"clavis:admin"}`,
		`{"client_name":"X","scope":["a"]}`,
		`{"client_name":"X","default_scopes":["clavis:admin"],"optional_scopes":["clavis:admin"],"client_secret":"s"}`,
		`{"type":"m2m","code":"urn:acme/w","jwks":{"keys":[]},"jwks_uri":"https://keys.example.com/jwks.json"}`,
		`{"client_id":"c1","client_name":"Renamed worker","type":"confidential","code":"urn:acme/w"}`,
		`null`,
		`[]`,
		`{"client_name":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := registrationSettings("acme", raw)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("registrationSettings(%q): an empty error", raw)
			}
			return
		}
		for _, sc := range append(append([]string(nil), s.DefaultScopes...), s.OptionalScopes...) {
			if scope.IsPlatform(sc) {
				t.Fatalf("registrationSettings(%q) registers platform scope %q", raw, sc)
			}
		}
		var members map[string]json.RawMessage
		if _ = json.Unmarshal(raw, &members); s.Code == "" && members["code"] == nil {
			t.Fatalf("registrationSettings(%q): no code", raw)
		}
		full, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("registrationSettings(%q): settings that do not encode: %v", raw, err)
		}
		if _, _, err := decodeClientPatch(full); err != nil {
			t.Fatalf("registrationSettings(%q): the settings %s are not a merge patch: %v", raw, full, err)
		}
	})
}

// FuzzClientPatch checks the admin API's PATCH body (a JSON merge patch
// of a client's settings and an optional version): a refusal is a
// *jsonbody.Error naming no secret, the version taken is positive, and a
// patch it accepts, encoded again, is the same patch.
func FuzzClientPatch(f *testing.F) {
	for _, s := range []string{
		`{"client_name":"Renamed"}`,
		`{"client_name":"Renamed","version":3}`,
		`{"redirect_uris":null,"jwks":null,"metadata":{"team":"a"}}`,
		`{"jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}`,
		`{"type":"public","token_endpoint_auth_method":"none","grant_types":["authorization_code"],"require_pkce":true}`,
		`{"access_token_lifetime":3600,"client_claims":[{"type":"dau","value":"wf"}]}`,
		`{"version":0}`,
		`{"version":"3"}`,
		`{"version":1.5}`,
		`{"CLIENT_NAME":"x"}`,
		`{"client_secret":"x"}`,
		`{"client_name":1}`,
		`{} {}`,
		`null`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, version, err := decodeClientPatch(raw)
		if err != nil {
			var je *jsonbody.Error
			if !errors.As(err, &je) {
				t.Fatalf("decodeClientPatch(%q) = %T %v, want a *jsonbody.Error", raw, err, err)
			}
			return
		}
		if version < 0 {
			t.Fatalf("decodeClientPatch(%q): version %d", raw, version)
		}
		first, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("decodeClientPatch(%q): a patch that does not encode: %v", raw, err)
		}
		again, _, err := decodeClientPatch(first)
		if err != nil {
			t.Fatalf("decodeClientPatch(%q) accepted, its encoding %s refused: %v", raw, first, err)
		}
		if second, _ := json.Marshal(again); !bytes.Equal(first, second) {
			t.Fatalf("decodeClientPatch(%q) does not survive encoding:\n%s\n%s", raw, first, second)
		}
	})
}

// queryRoutes are the query parameters of the lists and reads that take
// the most: the admin API's client list, the events API, the audit
// log's events and past states.
var queryRoutes = [][]queryParam{
	{typeParam, activeParam, searchParam, afterParam, limitParam},
	{cursorParam, eventTypesParam, eventsLimitParam, eventsWaitParam},
	{clientParam, aggregateParam, eventTypeParam, actorParam, sinceParam, untilParam, indexAfterParam, auditLimitParam},
	{atParam, afterParam, limitParam},
	{fromInstantParam, toInstantParam},
}

// FuzzQuery sends query strings to routes guarded by acceptQuery, in
// process, through fiber and the server's error handler: a query is
// refused with 400 and an unknown-parameter or invalid-parameter
// problem, never anything else; a query let through holds only the
// route's parameters, none repeated that may not be, each value UTF-8
// text without control characters, within its bound and of its kind, so
// that the handlers' readers (queryInt, queryBool) may trust it.
func FuzzQuery(f *testing.F) {
	for _, s := range []struct {
		route uint8
		query string
	}{
		{0, "type=m2m&active=true&q=orders&after=cl_01J8&limit=50"},
		{0, "after=name%20bm9uZQ&limit=500"},
		{0, "limit=0"},
		{0, "limit=501&limit=2"},
		{0, "colour=blue&size=9"},
		{0, "q=%00"},
		{0, "q=%ff%fe"},
		{0, "active=maybe&type=M2M"},
		{1, "after=7.12&type=client.*&type=dev.clavis.tenant.created&limit=100&wait=30"},
		{1, "after=x"},
		{1, "type=client"},
		{2, "client=cl_1&aggregate=client&type=client.updated&actor=root&since=2030-01-02T03:04:05Z&until=2030-01-03T00:00:00%2B02:00&after=3&limit=10"},
		{2, "after=03"},
		{3, "at=2030-01-02T03:04:05Z&after=cl_1&limit=1"},
		{3, "at=7.12"},
		{4, "from=1.1&to=2030-01-02T03:04:05.123Z"},
		{4, "from=&to="},
		{0, "&&=&a"},
	} {
		f.Add(s.route, s.query)
	}
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler(slog.New(slog.DiscardHandler))})
	var passed func(c *fiber.Ctx, params []queryParam) error
	for i, params := range queryRoutes {
		app.Get("/r/"+strconv.Itoa(i), acceptQuery(params...), func(c *fiber.Ctx) error { return passed(c, params) })
	}
	handler := app.Handler()
	f.Fuzz(func(t *testing.T, route uint8, query string) {
		// A request line holds no space, control character or '#': a
		// client percent-encodes them.
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }) {
			return
		}
		passed = func(c *fiber.Ctx, params []queryParam) error {
			seen := map[string]int{}
			var bad string
			c.Context().QueryArgs().VisitAll(func(k, v []byte) {
				i := -1
				for j, p := range params {
					if p.name == string(k) {
						i = j
					}
				}
				if i < 0 {
					bad = "parameter " + strconv.Quote(string(k)) + " is not the route's"
					return
				}
				p := params[i]
				seen[p.name]++
				switch max := cmp.Or(p.maxLen, maxQueryValue); {
				case seen[p.name] > 1 && !p.repeats:
					bad = p.name + " repeated"
				case len(v) > max, !plainText(v):
					bad = p.name + " is no plain text within its bound: " + strconv.Quote(string(v))
				case len(v) > 0 && p.valid != nil && !p.valid(string(v)):
					bad = p.name + " is not of its kind: " + strconv.Quote(string(v))
				}
			})
			if bad != "" {
				t.Errorf("%q let through: %s", query, bad)
			}
			for _, p := range params {
				if p.name == "limit" && c.Query("limit") != "" {
					if n := queryInt(c, "limit", -1); n < 1 {
						t.Errorf("%q let through: limit reads as %d", query, n)
					}
				}
			}
			return c.SendStatus(http.StatusNoContent)
		}
		var rc fasthttp.RequestCtx
		rc.Request.Header.SetMethod(http.MethodGet)
		rc.Request.SetRequestURI("/r/" + strconv.Itoa(int(route)%len(queryRoutes)) + "?" + query)
		handler(&rc)
		switch status := rc.Response.StatusCode(); status {
		case http.StatusNoContent:
		case http.StatusBadRequest:
			var p struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(rc.Response.Body(), &p); err != nil || p.Type != ProblemUnknownParameter && p.Type != ProblemInvalidParameter {
				t.Fatalf("%q: 400 %s", query, rc.Response.Body())
			}
		default:
			t.Fatalf("%q: %d %s", query, status, rc.Response.Body())
		}
	})
}
