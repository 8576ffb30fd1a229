package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

// TestTokensDieOnEveryNode gets a token at node B, then deactivates its
// client (and later suspends its tenant) through node A, and measures how
// long node B keeps accepting the token: the event has to reach B's read
// model and evict B's token-path cache, through NATS.
func TestTokensDieOnEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	ns := startNATS(t)
	env := []string{postgresEnv(t), "CLAVIS_NATS_URL=" + ns.url()}
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

	tok := token()
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
	t.Logf("node A's write → node B refuses the token: deactivation %s, suspension %s", deactivated, suspended)
}
