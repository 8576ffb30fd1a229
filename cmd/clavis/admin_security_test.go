package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// Tests of what the tenant admin API and the registration endpoints let a
// token do, over HTTP against a node built as serve builds it, on both
// backends.

// apiCaller sends JSON requests to a node.
type apiCaller struct {
	t   *testing.T
	url string
}

// send sends body (JSON, unless it is url.Values: a form) to path with
// bearer token tok ("" for none) and returns the status and the body.
func (a apiCaller) send(method, path, tok string, body any) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
		if method == http.MethodPatch {
			ct = "application/merge-patch+json"
		}
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ct)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, data
}

// call is send that fails the test unless the status is want, and
// decodes the body (nil when empty).
func (a apiCaller) call(method, path, tok string, body any, want int) map[string]any {
	a.t.Helper()
	status, data := a.send(method, path, tok, body)
	if status != want {
		a.t.Fatalf("%s %s = %d %s, want %d", method, path, status, data, want)
	}
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			a.t.Fatalf("%s %s: %s: %v", method, path, data, err)
		}
	}
	return out
}

// token gets an access token of client id of tenant slug through the
// client_credentials grant, with scopes (none: the client's defaults).
func (a apiCaller) token(slug, id, secret string, scopes ...string) string {
	a.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	req, err := http.NewRequestWithContext(a.t.Context(), http.MethodPost, a.url+"/t/"+slug+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || json.Unmarshal(data, &tok) != nil || tok.AccessToken == "" {
		a.t.Fatalf("token of %s at %s = %d %s", id, slug, res.StatusCode, data)
	}
	return tok.AccessToken
}

// tenant creates tenant slug with the root token and returns its admin
// client's id and a token of it.
func (a apiCaller) tenant(root, slug string) (adminID, adminToken string) {
	a.t.Helper()
	created := a.call(http.MethodPost, "/admin/tenants", root, map[string]any{"slug": slug, "name": strings.ToUpper(slug)}, http.StatusCreated)
	admin := created["admin_client"].(map[string]any)
	id, secret := admin["client_id"].(string), admin["client_secret"].(string)
	return id, a.token(slug, id, secret)
}

// TestRegistrationUpdateKeepsAdminSettings: an RFC 7592 replacement by
// the client itself sets its registration metadata only; what the
// tenant's administrators set survives it. A deactivated client's
// registration access token is refused like an invalid one.
func TestRegistrationUpdateKeepsAdminSettings(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			n := startNode(t, testConfig(t, backend))
			api := apiCaller{t: t, url: n.url}
			_, admin := api.tenant(n.app.rootToken, "acme")

			reg := api.call(http.MethodPost, "/t/acme/oauth2/register", admin, map[string]any{
				"client_name": "Shop", "token_endpoint_auth_method": "none",
				"redirect_uris": []string{"https://shop.example.com/cb"},
			}, http.StatusCreated)
			id, rat := reg["client_id"].(string), reg["registration_access_token"].(string)
			mgmt := "/t/acme/oauth2/register/" + id

			// The administrators decide what registration cannot.
			adminSettings := map[string]any{
				"consent_required":      false,
				"first_party":           true,
				"access_token_lifetime": 120.0,
				"id_token_lifetime":     240.0,
				"client_claims":         []any{map[string]any{"type": "tier", "value": "gold"}},
				"description":           "Checked by the security team.",
			}
			api.call(http.MethodPatch, "/t/acme/admin/clients/"+id, admin, adminSettings, http.StatusOK)

			// The client replaces its registration.
			replaced := api.call(http.MethodPut, mgmt, rat, map[string]any{
				"client_id": id, "client_name": "Shop v2", "token_endpoint_auth_method": "none",
				"redirect_uris": []string{"https://shop.example.com/v2/cb"},
			}, http.StatusOK)
			if replaced["client_name"] != "Shop v2" {
				t.Errorf("replacement answered %v", replaced)
			}
			got := api.call(http.MethodGet, "/t/acme/admin/clients/"+id, admin, nil, http.StatusOK)
			for k, want := range adminSettings {
				if g, _ := json.Marshal(got[k]); string(g) != string(must(json.Marshal(want))) {
					t.Errorf("after the client's replacement, %s = %s, want %s as its administrators set it", k, g, must(json.Marshal(want)))
				}
			}
			if got["client_name"] != "Shop v2" || !slices.Equal(strs(got["redirect_uris"]), []string{"https://shop.example.com/v2/cb"}) {
				t.Errorf("the replacement's metadata were not taken: %v", got)
			}

			// Deactivated, the client has no say over its registration.
			api.call(http.MethodPost, "/t/acme/admin/clients/"+id+"/deactivate", admin, map[string]any{"reason": "abuse"}, http.StatusOK)
			before := api.call(http.MethodGet, "/t/acme/admin/clients/"+id, admin, nil, http.StatusOK)
			for _, m := range []string{http.MethodPut, http.MethodGet, http.MethodDelete} {
				var body any
				if m == http.MethodPut {
					body = map[string]any{"client_name": "Evil", "token_endpoint_auth_method": "none", "redirect_uris": []string{"https://evil.example.com/cb"}}
				}
				status, data := api.send(m, mgmt, rat, body)
				var e struct{ Error string }
				if status != http.StatusUnauthorized || json.Unmarshal(data, &e) != nil || e.Error != "invalid_token" {
					t.Errorf("%s with a deactivated client's registration token = %d %s, want 401 invalid_token", m, status, data)
				}
			}
			after := api.call(http.MethodGet, "/t/acme/admin/clients/"+id, admin, nil, http.StatusOK)
			if after["version"] != before["version"] || !slices.Equal(strs(after["redirect_uris"]), []string{"https://shop.example.com/v2/cb"}) {
				t.Errorf("a deactivated client changed its registration: %v", after)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// strs reads a JSON array of strings.
func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}
