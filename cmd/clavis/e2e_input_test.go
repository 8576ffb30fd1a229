package main

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestBadInputOnBothBackends sends the admin and platform APIs query
// strings that PostgreSQL cannot store or compare (NUL, bytes that are
// not UTF-8), where they were 500s, parameters the routes do not take,
// which were ignored, and JSON bodies that are not UTF-8 or hold half a
// surrogate pair, which were stored as U+FFFD, on a node over SQLite and
// one over PostgreSQL: each is a 400 problem naming what is wrong, and
// nothing changes.
func TestBadInputOnBothBackends(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var env []string
			if backend == "postgres" {
				env = append(env, postgresEnv(t))
			}
			n := startServe(t, backend, env...)
			slug := uniqueSlug("input")
			n.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Input"}, http.StatusCreated)
			id := n.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", newClientBody("urn:"+slug+"/c"), http.StatusCreated)["client_id"].(string)
			clients, client := "/t/"+slug+"/admin/clients", "/t/"+slug+"/admin/clients/"+id
			state := func() []any {
				return []any{n.mustCall(http.MethodGet, "/admin/tenants?limit=500", nil, http.StatusOK),
					n.mustCall(http.MethodGet, clients+"?limit=500", nil, http.StatusOK),
					n.mustCall(http.MethodGet, client+"/history", nil, http.StatusOK)}
			}
			before := state()

			for _, c := range []struct {
				method, path, body, typ, field string
			}{
				{"GET", "/admin/tenants?after=%ff", "", "invalid-parameter", "after"},
				{"GET", "/admin/tenants?after=%00", "", "invalid-parameter", "after"},
				{"GET", clients + "?after=%ff", "", "invalid-parameter", "after"},
				{"GET", clients + "?after=%00", "", "invalid-parameter", "after"},
				{"GET", clients + "?q=a%00b", "", "invalid-parameter", "q"},
				{"GET", clients + "?q=%ff", "", "invalid-parameter", "q"},
				{"GET", clients + "?limit=1&limit=2", "", "invalid-parameter", "limit"},
				{"GET", "/admin/tenants/" + slug + "?as_of=2020-01-01T00:00:00Z", "", "unknown-parameter", "as_of"},
				{"GET", client + "?as_of=", "", "unknown-parameter", "as_of"},
				{"GET", client + "/history?as_of=1", "", "unknown-parameter", "as_of"},
				{"POST", client + "/deactivate?force=true", "", "unknown-parameter", "force"},
				{"DELETE", client + "?hard=1", "", "unknown-parameter", "hard"},
				{"PATCH", client + "?x=1", `{"client_name":"Renamed"}`, "unknown-parameter", "x"},
				{"POST", clients, "{\"type\":\"m2m\",\"client_name\":\"Bad \xff\",\"code\":\"urn:" + slug + "/bad\",\"grant_types\":[\"client_credentials\"]}", "malformed-json", ""},
				{"POST", clients, `{"type":"m2m","client_name":"Bad \ud800","code":"urn:` + slug + `/bad","grant_types":["client_credentials"]}`, "malformed-json", ""},
				{"POST", clients, `{"type":"m2m","client_name":"Bad \u0000","code":"urn:` + slug + `/bad","grant_types":["client_credentials"]}`, "", ""},
				{"PATCH", client, "{\"client_name\":\"Bad \xc3\"}", "malformed-json", ""},
				{"PATCH", client, `{"client_name":"Bad \udfff"}`, "malformed-json", ""},
				{"PATCH", "/admin/tenants/" + slug, "{\"name\":\"Bad \xed\xa0\x80\"}", "malformed-json", ""},
			} {
				status, ct, body := rawCall(t, n, c.method, c.path, c.body)
				var p struct{ Type, Field string }
				_ = json.Unmarshal(body, &p)
				switch {
				case c.typ == "" && (status < 400 || status >= 500):
					// A NUL escape is text JSON allows: the rules refuse it.
					t.Errorf("%s %s = %d %s, want a 4xx", c.method, c.path, status, body)
				case c.typ != "" && (status != http.StatusBadRequest || ct != "application/problem+json" ||
					p.Type != "https://clavis.dev/problems/"+c.typ || p.Field != c.field):
					t.Errorf("%s %s = %d %s %s, want a 400 %s problem naming %q", c.method, c.path, status, ct, body, c.typ, c.field)
				}
			}
			if after := state(); !reflect.DeepEqual(after, before) {
				t.Errorf("refused requests changed the state:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// rawCall sends body as is, with the root token, and returns the status,
// the media type and the body of the answer.
func rawCall(t *testing.T, n *serveProc, method, path, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+n.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e2eHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	ct, _, _ := strings.Cut(res.Header.Get("Content-Type"), ";")
	return res.StatusCode, ct, b
}
