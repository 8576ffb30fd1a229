package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/clavisiam/clavis/internal/poll"
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
	revoked := poll.Until(t, time.Second, "node B refusing the revoked token", func() bool { return status(tok) == http.StatusUnauthorized })

	tok = token()
	if got := status(tok); got != http.StatusOK {
		t.Fatalf("node B answers %d to a fresh token", got)
	}
	a.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients/"+id+"/deactivate", map[string]any{"reason": "test"}, http.StatusOK)
	deactivated := poll.Until(t, time.Second, "node B refusing the deactivated client's token", func() bool { return status(tok) == http.StatusUnauthorized })

	a.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients/"+id+"/activate", nil, http.StatusOK)
	poll.Until(t, time.Second, "node B accepting the reactivated client's token", func() bool { return status(tok) == http.StatusOK })
	tok = token()
	a.mustCall(http.MethodPost, "/admin/tenants/"+slug+"/suspend", map[string]any{"reason": "test"}, http.StatusOK)
	suspended := poll.Until(t, time.Second, "node B refusing a suspended tenant's token", func() bool { return status(tok) == http.StatusUnauthorized })
	t.Logf("node A's write → node B refuses the token: revocation %s, deactivation %s, suspension %s", revoked, deactivated, suspended)
}

// toNode sends the requests a browser or client makes to the cluster's
// public host to one node.
type toNode struct{ addr string }

func (n toNode) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "id.example.test" {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = "http", n.addr, n.addr
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestCodeFlowAcrossNodes runs the authorization code flow with the
// development login page (--dev-login, as make run serves it) at node
// A, exchanges the code and refreshes at node B, and reuses the old
// refresh token at node A: the grant's flows, codes and refresh tokens
// live in NATS, so every node sees them, and the reuse kills the
// family's access token at node B.
func TestCodeFlowAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	ns := startNATS(t)
	env := []string{postgresEnv(t), "CLAVIS_NATS_URL=" + ns.url(), "CLAVIS_PUBLIC_URL=https://id.example.test", "CLAVIS_DEV_LOGIN=true"}
	a := startServe(t, "a", env...)
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false")...)

	slug := uniqueSlug("code")
	a.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Code"}, http.StatusCreated)
	web := a.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", map[string]any{"type": "confidential", "client_name": "Web",
		"code": "urn:" + slug + "/web", "redirect_uris": []string{"https://app.example.test/cb"}, "default_scopes": []string{"openid"}}, http.StatusCreated)
	issuer := "https://id.example.test/t/" + slug
	cfg := oauth2.Config{ClientID: web["client_id"].(string), ClientSecret: web["client_secret"].(string), RedirectURL: "https://app.example.test/cb",
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/auth", TokenURL: issuer + "/oauth2/token"}, Scopes: []string{"openid"}}

	jar, _ := cookiejar.New(nil) // the flow is bound to the browser by a cookie
	browser := &http.Client{Transport: toNode{a.addr}, Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Host != "id.example.test" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	verifier := oauth2.GenerateVerifier()
	res, err := browser.Get(cfg.AuthCodeURL("state-0001", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasSuffix(res.Request.URL.Path, "/dev/login") {
		t.Fatalf("authorization request at node A: %d at %s", res.StatusCode, res.Request.URL)
	}
	res, err = browser.PostForm(issuer+"/dev/login", url.Values{"login_challenge": {res.Request.URL.Query().Get("login_challenge")},
		"subject": {"erin"}, "action": {"accept"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if loc == nil || loc.Host != "app.example.test" || loc.Query().Get("code") == "" {
		t.Fatalf("after login: %d %s", res.StatusCode, res.Header.Get("Location"))
	}

	atNode := func(n *serveProc) context.Context {
		return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: toNode{n.addr}})
	}
	tok, err := cfg.Exchange(atNode(b), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange at node B: %v", err)
	}
	if tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("token %+v", tok)
	}
	refresh := func(n *serveProc, rt string) (*oauth2.Token, error) {
		return cfg.TokenSource(atNode(n), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
	}
	next, err := refresh(b, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh at node B: %v", err)
	}
	active := func(n *serveProc, at string) bool {
		req, _ := http.NewRequest(http.MethodPost, "http://"+n.addr+"/t/"+slug+"/oauth2/introspect", strings.NewReader(url.Values{"token": {at}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(cfg.ClientID, cfg.ClientSecret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct{ Active bool }
		_ = json.NewDecoder(res.Body).Decode(&out)
		return out.Active
	}
	if !active(b, next.AccessToken) {
		t.Fatal("the refreshed access token is not active at node B")
	}
	if _, err := refresh(a, tok.RefreshToken); err == nil {
		t.Fatal("node A accepted a refresh token node B had rotated")
	}
	killed := poll.Until(t, time.Second, "node B refusing the reused family's access token", func() bool { return !active(b, next.AccessToken) })
	if _, err := refresh(a, next.RefreshToken); err == nil {
		t.Fatal("the family's newest refresh token still works after the reuse")
	}
	t.Logf("refresh token reused at node A → the family's access token refused at node B after %s", killed)
}
