package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

// TestTokensDieOnEveryNode gets tokens at node B, then revokes one, and
// deactivates their client and suspends their tenant, through node A, and
// measures how long node B keeps accepting them: the revocation has to
// reach B through the NATS bucket, the events B's read model and B's
// token-path cache.
func TestTokensDieOnEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	ns := startNATS(t)
	// The nodes of a cluster share one public URL: the tenants' issuers.
	env := []string{postgresEnv(t), "CLAVIS_NATS_URL=" + ns.url(), "CLAVIS_PUBLIC_URL=https://id.example.test"}
	a := startServe(t, "a", env...)
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false")...)

	slug := uniqueSlug("tok")
	a.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Tokens"}, http.StatusCreated)
	body := newClientBody("urn:" + slug + "/reader")
	body["default_scopes"] = []string{"clavis:clients:read"}
	reader := a.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", body, http.StatusCreated)
	id := reader["client_id"].(string)

	token := func() string {
		cfg := clientcredentials.Config{ClientID: id, ClientSecret: reader["client_secret"].(string),
			TokenURL: "http://" + b.addr + "/t/" + slug + "/oauth2/token"}
		tok, err := cfg.Token(context.Background())
		if err != nil {
			t.Fatalf("token from node B: %v", err)
		}
		return tok.AccessToken
	}
	// status is what node B answers a tenant admin read with tok.
	status := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+b.addr+"/t/"+slug+"/admin/clients?limit=1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	// Revoked at node A (RFC 7009): refused at node B.
	tok := token()
	if got := status(tok); got != http.StatusOK {
		t.Fatalf("node B answers %d to a fresh token", got)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.addr+"/t/"+slug+"/oauth2/revoke", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(reader["client_secret"].(string)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revoke at node A: %d", res.StatusCode)
	}
	revoked := eventually(t, time.Second, "node B refusing the revoked token", func() bool { return status(tok) == http.StatusUnauthorized })

	tok = token()
	if got := status(tok); got != http.StatusOK {
		t.Fatalf("node B answers %d to a fresh token", got)
	}
	a.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients/"+id+"/deactivate", map[string]any{"reason": "test"}, http.StatusOK)
	deactivated := eventually(t, time.Second, "node B refusing the deactivated client's token", func() bool { return status(tok) == http.StatusUnauthorized })

	a.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients/"+id+"/activate", nil, http.StatusOK)
	eventually(t, time.Second, "node B accepting the reactivated client's token", func() bool { return status(tok) == http.StatusOK })
	tok = token()
	a.mustCall(http.MethodPost, "/admin/tenants/"+slug+"/suspend", map[string]any{"reason": "test"}, http.StatusOK)
	suspended := eventually(t, time.Second, "node B refusing a suspended tenant's token", func() bool { return status(tok) == http.StatusUnauthorized })
	t.Logf("node A's write → node B refuses the token: revocation %s, deactivation %s, suspension %s", revoked, deactivated, suspended)
}
