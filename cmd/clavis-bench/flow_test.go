package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/testnode"
)

// These tests run flow and refresh against a whole node, started in
// process as `clavis serve` runs it, with a tenant made through the
// admin API.

// flowTenant is a node and what bench flow needs of its tenant acme: a
// web client that asks consent, and the login application's client.
type flowTenant struct {
	url                    string
	webID, webSecret       string
	loginID, loginSecret   string
	redirectURI, publicURL string
}

// startFlowTenant starts a node whose public URL names another host,
// so that the bench must follow redirects at its endpoint, with rate
// limits far above what a test sends (the defaults hold a client to 20
// flows and 10 refreshes a second).
func startFlowTenant(t *testing.T) flowTenant {
	t.Helper()
	cfg := testnode.Config(t, "")
	cfg.PublicURL = "https://id.example.test"
	n := testnode.Start(t, cfg, node.WithOAuth(
		oauth.WithFlowLimits(oauth.FlowLimits{PerClient: 1e6, ClientBurst: 1e6, PerAddress: 1e6, AddressBurst: 1e6}),
		oauth.WithRefreshLimit(oauth.RefreshLimit{PerClient: 1e6, Burst: 1e6, Tokens: 256})))
	admin := func(method, path string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(t.Context(), method, n.URL+path, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+n.RootToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, res.StatusCode, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return m
	}
	ft := flowTenant{url: n.URL, redirectURI: "https://app.example.test/cb", publicURL: cfg.PublicURL}
	admin("POST", "/admin/tenants", map[string]any{"slug": "acme", "name": "Acme"})
	// The login application is never visited: the bench reads the
	// challenge from the redirect to it.
	admin("PUT", "/t/acme/admin/login-app", map[string]any{"login_url": "https://login.example.test/signin"})
	web := admin("POST", "/t/acme/admin/clients", map[string]any{"type": "confidential", "client_name": "Web", "code": "urn:acme/web",
		"redirect_uris": []string{ft.redirectURI}, "default_scopes": []string{"openid"}, "optional_scopes": []string{"email"},
		"consent_required": true})
	login := admin("POST", "/t/acme/admin/clients", map[string]any{"type": "m2m", "client_name": "Login", "code": "urn:acme/login",
		"default_scopes": []string{"clavis:login"}})
	ft.webID, ft.webSecret = web["client_id"].(string), web["client_secret"].(string)
	ft.loginID, ft.loginSecret = login["client_id"].(string), login["client_secret"].(string)
	return ft
}

// args are the flags of a bench flow or refresh run against ft, then
// extra.
func (ft flowTenant) args(cmd string, extra ...string) []string {
	return slices.Concat([]string{cmd, "--endpoint", ft.url, "--tenant", "acme",
		"--client-id", ft.webID, "--client-secret", ft.webSecret, "--redirect-uri", ft.redirectURI,
		"--login-client-id", ft.loginID, "--login-client-secret", ft.loginSecret,
		"--concurrency", "2", "--warmup", "0s", "--duration", "1s"}, extra)
}

// benchJSON runs the bench with args and decodes its --json report.
func benchJSON(t *testing.T, wantCode int, args ...string) loadReport {
	t.Helper()
	code, stdout, stderr := benchRun(t, nil, append(args, "--json")...)
	if code != wantCode {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, stdout, stderr)
	}
	var rep loadReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report %q: %v", stdout, err)
	}
	return rep
}

// TestBenchFlow runs whole flows with consent: every one succeeds, and
// each took all six steps.
func TestBenchFlow(t *testing.T) {
	t.Parallel()
	ft := startFlowTenant(t)
	rep := benchJSON(t, exitOK, ft.args("flow", "--steps", "--scope", "openid email")...)
	if rep.Requests < 2 || len(rep.Errors) != 0 || rep.Endpoint != ft.url+"/t/acme" {
		t.Fatalf("report %+v", rep)
	}
	for _, step := range flowSteps {
		if s := rep.Steps[step]; s.Count != rep.Requests || s.P50MS <= 0 || s.MaxMS < s.P50MS {
			t.Errorf("step %s: %+v, want %d of them", step, s, rep.Requests)
		}
	}

	t.Run("table", func(t *testing.T) {
		code, stdout, stderr := benchRun(t, nil, ft.args("flow", "--steps")...)
		if code != exitOK || stderr != "" {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		for _, want := range append([]string{"endpoint     " + ft.url + "/t/acme\n", "errors       0\n"}, flowSteps...) {
			if !strings.Contains(stdout, want) {
				t.Errorf("table has no %q:\n%s", want, stdout)
			}
		}
	})
}

// TestBenchRefresh follows chains of three refreshes: every refresh
// rotates (a token used twice would revoke the chain and fail), and a
// chain starts every third.
func TestBenchRefresh(t *testing.T) {
	t.Parallel()
	ft := startFlowTenant(t)
	rep := benchJSON(t, exitOK, ft.args("refresh", "--chain", "3")...)
	if rep.Requests < 6 || len(rep.Errors) != 0 || rep.Chains == nil || rep.Steps != nil {
		t.Fatalf("report %+v", rep)
	}
	// Each worker starts ⌈its refreshes / 3⌉ chains, and no more than
	// one that the end cut off.
	if n, c := rep.Requests, rep.Chains.Started; 3*c < n || 3*(c-2) >= n {
		t.Errorf("%d chains started for %d refreshes of chains of 3", c, n)
	}
	if rep.Chains.Seconds <= 0 || rep.Chains.RefreshingPerSecond <= rep.RequestsPerSecond {
		t.Errorf("chains %+v, %v refreshes/s", *rep.Chains, rep.RequestsPerSecond)
	}

	t.Run("one chain", func(t *testing.T) {
		// Each worker starts one chain, in the warm-up unless the
		// machine is slow.
		rep := benchJSON(t, exitOK, ft.args("refresh", "--warmup", "500ms")...)
		if rep.Requests < 2 || len(rep.Errors) != 0 || rep.Chains.Started > 2 || rep.Chains.RefreshingPerSecond < rep.RequestsPerSecond {
			t.Errorf("report %+v, chains %+v, want at most one chain per worker", rep, rep.Chains)
		}
	})
}

// TestBenchFlowFailures: a flow that fails at any step is counted by
// the step and the answer, and a run in which none succeeded exits 1.
func TestBenchFlowFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args func(ft flowTenant) []string
		kind string // every failure's kind begins with it
		body string // the first failure shows it
	}{
		{"a wrong login application secret", func(ft flowTenant) []string {
			return ft.args("flow", "--login-client-secret", "wrong")
		}, "login-token ", "invalid_client"},
		{"a wrong web client secret", func(ft flowTenant) []string {
			return ft.args("flow", "--client-secret", "wrong")
		}, "token ", "invalid_client"},
		{"a redirect URI the client did not register", func(ft flowTenant) []string {
			return ft.args("flow", "--redirect-uri", "https://elsewhere.example.test/cb")
		}, "authorize 400", "authorize: 400 Bad Request"},
		{"a scope the client may not ask", func(ft flowTenant) []string {
			return ft.args("flow", "--scope", "openid admin")
		}, "authorize error=invalid_scope", "invalid_scope"},
		{"refresh: no chain can start", func(ft flowTenant) []string {
			return ft.args("refresh", "--login-client-secret", "wrong")
		}, "chain login-token ", "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ft := startFlowTenant(t) // the guessing limits of one leave the next alone
			args := tc.args(ft)
			code, stdout, stderr := benchRun(t, nil, args...)
			if code != exitFailure {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailure, stdout, stderr)
			}
			if !strings.Contains(stderr, "not one request succeeded") || !strings.Contains(stderr, tc.body) {
				t.Errorf("stderr has no %q:\n%s", tc.body, stderr)
			}
			rep := benchJSON(t, exitFailure, args...)
			failed := 0
			for kind, n := range rep.Errors {
				if !strings.HasPrefix(kind, tc.kind) {
					t.Errorf("failure %q, want %q…", kind, tc.kind)
				}
				failed += n
			}
			if failed == 0 || failed != rep.Requests {
				t.Errorf("%d failures of %d flows: %v", failed, rep.Requests, rep.Errors)
			}
			if !strings.Contains(stdout, "("+tc.kind) {
				t.Errorf("the table does not report the failures:\n%s", stdout)
			}
		})
	}
}

// TestPathMatch: a cookie goes with requests for its path and below it,
// as RFC 6265 §5.1.4 says.
func TestPathMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, cookie string
		want         bool
	}{
		{"/t/acme/oauth2/auth", "/t/acme/oauth2/auth", true},
		{"/t/acme/oauth2/auth/x", "/t/acme/oauth2/auth", true},
		{"/t/acme/oauth2/auth", "/t/acme/", true},
		{"/t/acme/oauth2/auth", "/", true},
		{"/t/acme/oauth2/authx", "/t/acme/oauth2/auth", false},
		{"/t/acme/oauth2/token", "/t/acme/oauth2/auth", false},
		{"/t/acme2/oauth2/auth", "/t/acme", false},
	} {
		if got := pathMatch(tc.path, tc.cookie); got != tc.want {
			t.Errorf("pathMatch(%q, %q) = %v, want %v", tc.path, tc.cookie, got, tc.want)
		}
	}
}
