package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
)

// outageRequest is one request of a kind that needs the store.
type outageRequest struct {
	name string
	// oauth: answered with an OAuth error, not a problem.
	oauth bool
	// send sends the request and returns the answer.
	send func() (int, http.Header, []byte, error)
}

// TestStoreOutage cuts a node off PostgreSQL, as a restart does: every
// request that needs the store answers 503 with Retry-After (a problem at
// the admin API, temporarily_unavailable at the OAuth endpoints), never
// 500; once PostgreSQL is back the very first request of each kind
// succeeds, also when the connections the node held broke under it and
// nothing noticed before.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	proxy := pgtest.StartProxy(t, dbURL)
	n := startServe(t, "outage", "CLAVIS_DATABASE_URL="+proxy.URL(pgtest.Schema(t, dbURL)))

	slug := uniqueSlug("pgdown")
	tn, _ := n.do(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "PG down"}, http.StatusCreated)
	admin := tn["admin_client"].(map[string]any)
	adminToken := clientToken(t, n, slug, admin["client_id"].(string), admin["client_secret"].(string))
	c, _ := n.do(http.MethodPost, "/t/"+slug+"/admin/clients", newClientBody("urn:"+slug+"/c"), http.StatusCreated)
	id := c["client_id"].(string)
	// Clients no token request has seen yet: their lookups miss the cache
	// and read the read model.
	cold := make([][2]string, 3)
	for i := range cold {
		cc, _ := n.do(http.MethodPost, "/t/"+slug+"/admin/clients", newClientBody(fmt.Sprintf("urn:%s/cold%d", slug, i)), http.StatusCreated)
		cold[i] = [2]string{cc["client_id"].(string), cc["client_secret"].(string)}
	}

	round := 0
	requests := func() []outageRequest {
		round++
		r := round
		root := func(method, path string, body any) func() (int, http.Header, []byte, error) {
			return func() (int, http.Header, []byte, error) { return n.try(method, path, body) }
		}
		return []outageRequest{
			{name: "create tenant", send: root(http.MethodPost, "/admin/tenants", map[string]any{"slug": fmt.Sprintf("%s-%d", slug, r), "name": "Another"})},
			{name: "create client", send: root(http.MethodPost, "/t/"+slug+"/admin/clients", newClientBody(fmt.Sprintf("urn:%s/new%d", slug, r)))},
			{name: "patch client", send: root(http.MethodPatch, "/t/"+slug+"/admin/clients/"+id, map[string]any{"client_name": fmt.Sprintf("Renamed %d", r)})},
			{name: "rotate secret", send: root(http.MethodPost, "/t/"+slug+"/admin/clients/"+id+"/secrets/rotate", map[string]any{})},
			{name: "get client", send: root(http.MethodGet, "/t/"+slug+"/admin/clients/"+id, nil)},
			{name: "list clients", send: root(http.MethodGet, "/t/"+slug+"/admin/clients", nil)},
			{name: "list tenants", send: root(http.MethodGet, "/admin/tenants", nil)},
			{name: "client history", send: root(http.MethodGet, "/t/"+slug+"/admin/clients/"+id+"/history", nil)},
			{name: "list webhooks", send: root(http.MethodGet, "/t/"+slug+"/admin/webhooks", nil)},
			{name: "events feed", send: root(http.MethodGet, "/t/"+slug+"/events", nil)},
			{name: "audit events", send: root(http.MethodGet, "/t/"+slug+"/audit/events", nil)},
			{name: "client at an instant", send: root(http.MethodGet, "/t/"+slug+"/audit/clients/"+id, nil)},
			{name: "register client", oauth: true, send: func() (int, http.Header, []byte, error) {
				return sendJSON(http.MethodPost, "http://"+n.addr+"/t/"+slug+"/oauth2/register", adminToken, map[string]any{
					"client_name": fmt.Sprintf("Registered %d", r), "token_endpoint_auth_method": "none",
					"redirect_uris": []string{"https://app.example.com/cb"},
				})
			}},
			{name: "token for a client not in the cache", oauth: true, send: func() (int, http.Header, []byte, error) {
				return tokenRequest(n, slug, cold[r-1][0], cold[r-1][1])
			}},
		}
	}
	answer := func(req outageRequest) (int, http.Header, []byte) {
		t.Helper()
		code, h, body, err := req.send()
		if err != nil {
			t.Fatalf("%s: %v", req.name, err)
		}
		return code, h, body
	}

	// Cut: every request that needs the store is refused for now.
	proxy.Cut()
	for _, req := range append(requests(), outageRequest{name: "readyz", send: func() (int, http.Header, []byte, error) {
		return sendJSON(http.MethodGet, "http://"+n.addr+"/readyz", "", nil)
	}}) {
		code, h, body := answer(req)
		t.Logf("cut: %s = %d Retry-After %q %s", req.name, code, h.Get("Retry-After"), body)
		checkUnavailable(t, req, code, h, body)
	}

	// Restored: the first request of each kind succeeds.
	proxy.Restore()
	for _, req := range requests() {
		if code, _, body := answer(req); code >= 300 {
			t.Errorf("restored: %s = %d %s, want success on the first try", req.name, code, body)
		}
	}

	// A restart the node did not see: its connections break while idle
	// and PostgreSQL is back before the next request. No request fails
	// on a connection the restart broke.
	for _, req := range requests() {
		proxy.Cut()
		proxy.Restore()
		if code, _, body := answer(req); code >= 300 {
			t.Errorf("after an unseen restart: %s = %d %s, want success on the first try", req.name, code, body)
		}
	}
}

// checkUnavailable fails t unless the answer is 503 with a Retry-After
// of whole seconds, at least one, and the error body of its kind.
func checkUnavailable(t *testing.T, req outageRequest, code int, h http.Header, body []byte) {
	t.Helper()
	if code != http.StatusServiceUnavailable {
		t.Errorf("%s while the store is cut = %d %s, want 503", req.name, code, body)
		return
	}
	if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("%s while the store is cut: Retry-After %q, want whole seconds ≥ 1", req.name, h.Get("Retry-After"))
	}
	if req.name == "readyz" {
		return
	}
	var got struct {
		Type  string `json:"type"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Errorf("%s while the store is cut: body %s: %v", req.name, body, err)
	}
	switch {
	case req.oauth && got.Error != "temporarily_unavailable":
		t.Errorf("%s while the store is cut: error %q, want temporarily_unavailable", req.name, got.Error)
	case !req.oauth && (got.Type != "https://clavis.dev/problems/unavailable" || h.Get("Content-Type") != "application/problem+json"):
		t.Errorf("%s while the store is cut: %s %s, want an unavailable problem", req.name, h.Get("Content-Type"), body)
	}
}

// sendJSON sends body as JSON (none when nil) with bearer token tok
// (none when empty).
func sendJSON(method, target, tok string, body any) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return roundTrip(req)
}

func roundTrip(req *http.Request) (int, http.Header, []byte, error) {
	resp, err := e2eHTTP.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

// tokenRequest asks n for a client_credentials token of client id.
func tokenRequest(n *serveProc, slug, id, secret string) (int, http.Header, []byte, error) {
	return roundTrip(clientCredentials(n.addr, slug, id, secret))
}

// clientCredentials is a client_credentials request of client id to the
// node at addr, authenticated with HTTP Basic.
func clientCredentials(addr, slug, id, secret string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/t/"+slug+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// clientToken is an access token of client id, which must be granted.
func clientToken(t *testing.T, n *serveProc, slug, id, secret string) string {
	t.Helper()
	code, _, body, err := tokenRequest(n, slug, id, secret)
	if err == nil && code != http.StatusOK {
		err = errors.New(string(body))
	}
	if err != nil {
		t.Fatalf("token of %s: %d %v", id, code, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token of %s: %s %v", id, body, err)
	}
	return tok.AccessToken
}
