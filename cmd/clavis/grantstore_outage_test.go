package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/internal/poll"
)

// browserFlow runs the steps of the authorization code flow of one
// tenant's web client at one node, with the development login page, one
// request at a time: the test sees every answer.
type browserFlow struct {
	t       *testing.T
	n       *serveProc
	slug    string
	issuer  string
	cfg     oauth2.Config
	browser *http.Client
}

// newBrowserFlow makes tenant slug and its web client at n; consent
// says whether the client asks the user's consent.
func newBrowserFlow(t *testing.T, n *serveProc, slug string, consent bool) *browserFlow {
	t.Helper()
	n.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Flow"}, http.StatusCreated)
	web := n.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", map[string]any{"type": "confidential", "client_name": "Web",
		"code": "urn:" + slug + "/web", "redirect_uris": []string{"https://app.example.test/cb"}, "default_scopes": []string{"openid"},
		"consent_required": consent}, http.StatusCreated)
	issuer := "https://id.example.test/t/" + slug
	f := &browserFlow{t: t, n: n, slug: slug, issuer: issuer,
		cfg: oauth2.Config{ClientID: web["client_id"].(string), ClientSecret: web["client_secret"].(string), RedirectURL: "https://app.example.test/cb",
			Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/auth", TokenURL: issuer + "/oauth2/token"}, Scopes: []string{"openid"}}}
	f.browser = f.newBrowser()
	return f
}

// newBrowser is a browser of its own (its own cookies) that follows no
// redirect.
func (f *browserFlow) newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil) // the flow is bound to its browser by a cookie
	return &http.Client{Transport: toNode{f.n.addr}, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// answer is an HTTP answer the test looks at, and how long it took.
type answer struct {
	code     int
	header   http.Header
	body     string
	location *url.URL
	took     time.Duration
}

func (f *browserFlow) send(req *http.Request) answer {
	f.t.Helper()
	start := time.Now()
	res, err := f.browser.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	a := answer{code: res.StatusCode, header: res.Header, body: string(body), took: time.Since(start)}
	a.location, _ = res.Location()
	return a
}

func (f *browserFlow) get(target string) answer {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.send(req)
}

func (f *browserFlow) post(target string, form url.Values) answer {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.send(req)
}

// authorize sends a new authorization request, with PKCE verifier v.
func (f *browserFlow) authorize(state, v string) answer {
	f.t.Helper()
	return f.get(f.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(v)))
}

// challenge begins a flow and returns its login challenge.
func (f *browserFlow) challenge(v string) string {
	f.t.Helper()
	a := f.authorize("state-"+v[:8], v)
	if a.code != http.StatusFound || a.location == nil || a.location.Path != "/t/"+f.slug+"/dev/login" {
		f.t.Fatalf("authorization request = %d %s %s, want a redirect to the login page", a.code, a.location, a.body)
	}
	return a.location.Query().Get("login_challenge")
}

// login accepts a login challenge at the development login page and
// returns where the browser goes: the authorization endpoint, with a
// verifier.
func (f *browserFlow) login(ch string) *url.URL {
	f.t.Helper()
	a := f.post(f.issuer+"/dev/login", url.Values{"login_challenge": {ch}, "subject": {"erin"}, "action": {"accept"}})
	if a.code != http.StatusSeeOther || a.location == nil || a.location.Query().Get("login_verifier") == "" {
		f.t.Fatalf("login = %d %s %s, want a redirect with a verifier", a.code, a.location, a.body)
	}
	return a.location
}

// code runs a flow to its code (the client asks no consent).
func (f *browserFlow) code(v string) string {
	f.t.Helper()
	a := f.get(f.login(f.challenge(v)).String())
	if a.location == nil || a.location.Host != "app.example.test" || a.location.Query().Get("code") == "" {
		f.t.Fatalf("back from the login = %d %s %s, want a code", a.code, a.location, a.body)
	}
	return a.location.Query().Get("code")
}

// token posts form to the token endpoint as the web client.
func (f *browserFlow) token(form url.Values) answer {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
	return f.send(req)
}

// userinfo asks the userinfo endpoint with access token at.
func (f *browserFlow) userinfo(at string) answer {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.issuer+"/oauth2/userinfo", nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+at)
	return f.send(req)
}

func (f *browserFlow) exchange(code, v string) answer {
	return f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {f.cfg.RedirectURL}})
}

// loginAPI calls the login and consent API with the root token.
func (f *browserFlow) loginAPI(method, path string, body any) answer {
	f.t.Helper()
	start := time.Now()
	code, h, b, err := f.n.try(method, "/t/"+f.slug+"/admin/"+path, body)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	return answer{code: code, header: h, body: string(b), took: time.Since(start)}
}

// nodeRequestTimeout is the node's own bound on a request: an answer
// that takes as long hung until the node gave up.
const nodeRequestTimeout = 5 * time.Second

// checkUnavailableAnswer fails t unless a is 503 with a Retry-After of
// whole seconds (at least one), in less than the node's request timeout,
// with the body of its kind: "oauth" (an RFC 6749 error), "problem" or
// "page".
func checkUnavailableAnswer(t *testing.T, name, kind string, a answer) {
	t.Helper()
	t.Logf("%s: %d in %s, Retry-After %q, %.200s", name, a.code, a.took.Round(time.Millisecond), a.header.Get("Retry-After"), a.body)
	if a.took >= nodeRequestTimeout {
		t.Errorf("%s took %s: it waited for the node's request timeout instead of answering at once", name, a.took)
	}
	if a.code != http.StatusServiceUnavailable {
		t.Errorf("%s = %d %s, want 503", name, a.code, a.body)
		return
	}
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("%s: Retry-After %q, want whole seconds ≥ 1", name, a.header.Get("Retry-After"))
	}
	var got struct {
		Type  string `json:"type"`
		Error string `json:"error"`
	}
	switch kind {
	case "oauth":
		if err := json.Unmarshal([]byte(a.body), &got); err != nil || got.Error != "temporarily_unavailable" {
			t.Errorf("%s: %s, want error temporarily_unavailable", name, a.body)
		}
	case "problem":
		if err := json.Unmarshal([]byte(a.body), &got); err != nil || got.Type != "https://clavis.dev/problems/unavailable" {
			t.Errorf("%s: %s, want an unavailable problem", name, a.body)
		}
	case "page":
		if !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %s %s, want a page", name, a.header.Get("Content-Type"), a.body)
		}
	}
}

// TestGrantStoreOutage stops the NATS server under a node, with flows at
// each of their steps: every request that needs the grant store answers
// at once and honestly (503 temporarily_unavailable with Retry-After at
// the token endpoint and the login API, the error at the client's
// redirect URI from the authorization endpoint; an answer to a flow the
// node holds needs no store), and once NATS is back the flows go on
// where they were.
func TestGrantStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	t.Parallel()
	ns := startNATS(t)
	n := startServe(t, "natsdown", postgresEnv(t), "CLAVIS_NATS_URL="+ns.url(), "CLAVIS_PUBLIC_URL=https://id.example.test", "CLAVIS_DEV_LOGIN=true")
	f := newBrowserFlow(t, n, uniqueSlug("natsdown"), false)

	// Flows at each step, before the outage.
	vA, vB, vC, vD := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	chA := f.challenge(vA)
	backB := f.login(f.challenge(vB))
	code := f.code(vC)
	a := f.exchange(code, vC)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(a.body), &tok); a.code != http.StatusOK || err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange before the outage = %d %s", a.code, a.body)
	}
	codeD := f.code(vD)

	ns.stop()
	t.Log("NATS stopped")

	a = f.authorize("state-new", oauth2.GenerateVerifier())
	t.Logf("new authorization request: %d in %s → %s", a.code, a.took.Round(time.Millisecond), a.location)
	switch {
	case a.took >= nodeRequestTimeout:
		t.Errorf("new authorization request took %s: it waited for the node's request timeout", a.took)
	case a.location == nil || a.location.Host != "app.example.test":
		t.Errorf("new authorization request = %d %s %s, want the client's redirect URI", a.code, a.location, a.body)
	case a.location.Query().Get("error") != "temporarily_unavailable" || a.location.Query().Get("state") != "state-new":
		t.Errorf("new authorization request sent the client %s, want error=temporarily_unavailable with its state", a.location)
	}
	checkUnavailableAnswer(t, "login page", "problem", f.get(f.issuer+"/dev/login?login_challenge="+url.QueryEscape(chA)))
	checkUnavailableAnswer(t, "login API read", "problem", f.loginAPI(http.MethodGet, "login-requests/"+chA, nil))
	// An answer writes nothing (the verifier carries it), and the node
	// holds the flow it wrote: the login page and the login API answer
	// without the store, and what they give works once NATS is back.
	if a := f.post(f.issuer+"/dev/login", url.Values{"login_challenge": {chA}, "subject": {"erin"}, "action": {"accept"}}); a.code != http.StatusSeeOther || a.location == nil || a.location.Query().Get("login_verifier") == "" {
		t.Errorf("login page's answer = %d %s %s, want a redirect with a verifier", a.code, a.location, a.body)
	}
	var answered struct {
		RedirectTo string `json:"redirect_to"`
	}
	if a := f.loginAPI(http.MethodPost, "login-requests/"+chA+"/accept", map[string]any{"subject": "erin"}); a.code != http.StatusOK || json.Unmarshal([]byte(a.body), &answered) != nil {
		t.Errorf("login API accept = %d %s, want 200 with where the browser goes", a.code, a.body)
	}
	// The browser back from the login: the node has the flow (it wrote
	// it last), so the redirect URI is known, and the client hears
	// temporarily_unavailable there; the flow is still where it was (see
	// below).
	a = f.get(backB.String())
	t.Logf("browser back from the login: %d in %s → %s", a.code, a.took.Round(time.Millisecond), a.location)
	switch {
	case a.took >= nodeRequestTimeout:
		t.Errorf("browser back from the login took %s: it waited for the node's request timeout", a.took)
	case a.location == nil || a.location.Host != "app.example.test" || a.location.Query().Get("error") != "temporarily_unavailable":
		t.Errorf("browser back from the login = %d %s %s, want the client's redirect URI with error=temporarily_unavailable", a.code, a.location, a.body)
	}
	checkUnavailableAnswer(t, "code exchange", "oauth", f.exchange(codeD, vD))
	checkUnavailableAnswer(t, "refresh", "oauth", f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}))
	// userinfo needs nothing of NATS: the token carries the user's claims.
	if a := f.userinfo(tok.AccessToken); a.code != http.StatusOK {
		t.Errorf("userinfo during the outage = %d %s, want 200", a.code, a.body)
	}

	ns.start()
	t.Log("NATS started")
	// The node reconnects: the flows go on where the outage found them.
	poll.Until(t, 30*time.Second, "a new authorization request reaching the login page", func() bool {
		a := f.authorize("state-again", oauth2.GenerateVerifier())
		return a.code == http.StatusFound && a.location != nil && a.location.Path == "/t/"+f.slug+"/dev/login"
	})
	if a := f.exchange(codeD, vD); a.code != http.StatusOK {
		t.Errorf("exchange of a code the outage found unused = %d %s, want 200", a.code, a.body)
	}
	if a := f.userinfo(tok.AccessToken); a.code != http.StatusOK {
		t.Errorf("userinfo after the outage = %d %s, want 200", a.code, a.body)
	}
	if a := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); a.code != http.StatusOK {
		t.Errorf("refresh after the outage = %d %s, want 200", a.code, a.body)
	}
	if a := f.get(answered.RedirectTo); a.location == nil || a.location.Query().Get("code") == "" {
		t.Errorf("the flow the outage found at the login page, answered during it, after it = %d %s %s, want a code", a.code, a.location, a.body)
	}
	if a := f.get(backB.String()); a.location == nil || a.location.Query().Get("code") == "" {
		t.Errorf("the flow the outage found on its way back from the login, after it = %d %s %s, want a code", a.code, a.location, a.body)
	}
}

// TestLoginPagesDuringStoreOutage cuts a node off PostgreSQL with flows
// waiting at the login and at the consent: the login and consent pages
// and API answer 503 with Retry-After, never 404 (a store that cannot be
// reached says nothing of a challenge or its client).
func TestLoginPagesDuringStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	t.Parallel()
	ns := startNATS(t)
	proxy := pgtest.StartProxy(t, dbURL)
	n := startServe(t, "pgdown-login", "CLAVIS_DATABASE_URL="+proxy.URL(pgtest.Schema(t, dbURL)), "CLAVIS_NATS_URL="+ns.url(),
		"CLAVIS_PUBLIC_URL=https://id.example.test", "CLAVIS_DEV_LOGIN=true")
	f := newBrowserFlow(t, n, uniqueSlug("pglogin"), true)

	chLogin := f.challenge(oauth2.GenerateVerifier())
	a := f.get(f.login(f.challenge(oauth2.GenerateVerifier())).String())
	if a.location == nil || a.location.Query().Get("consent_challenge") == "" {
		t.Fatalf("back from the login = %d %s %s, want the consent page", a.code, a.location, a.body)
	}
	chConsent := a.location.Query().Get("consent_challenge")

	proxy.Cut()
	t.Log("PostgreSQL cut")
	checkUnavailableAnswer(t, "login page", "problem", f.get(f.issuer+"/dev/login?login_challenge="+url.QueryEscape(chLogin)))
	checkUnavailableAnswer(t, "consent page", "problem", f.get(f.issuer+"/dev/login?consent_challenge="+url.QueryEscape(chConsent)))
	// The login API reads the tenant and the client through the node's
	// cache, whose entries live 10 s: the answer changes once they are
	// gone, and must then be 503.
	for _, path := range []string{"login-requests/" + chLogin, "consent-requests/" + chConsent} {
		var last answer
		poll.Until(t, 30*time.Second, path+" no longer answered from the cache", func() bool {
			last = f.loginAPI(http.MethodGet, path, nil)
			return last.code != http.StatusOK
		})
		checkUnavailableAnswer(t, "GET "+path, "problem", last)
	}
	checkUnavailableAnswer(t, "login API accept", "problem",
		f.loginAPI(http.MethodPost, "login-requests/"+chLogin+"/accept", map[string]any{"subject": "erin"}))
	checkUnavailableAnswer(t, "consent API accept", "problem",
		f.loginAPI(http.MethodPost, "consent-requests/"+chConsent+"/accept", map[string]any{"grant_scope": []string{"openid"}}))

	proxy.Restore()
	t.Log("PostgreSQL restored")
	if a := f.loginAPI(http.MethodGet, "login-requests/"+chLogin, nil); a.code != http.StatusOK {
		t.Errorf("login API after the outage = %d %s, want 200", a.code, a.body)
	}
	if a := f.loginAPI(http.MethodGet, "consent-requests/"+chConsent, nil); a.code != http.StatusOK {
		t.Errorf("consent API after the outage = %d %s, want 200", a.code, a.body)
	}
}
