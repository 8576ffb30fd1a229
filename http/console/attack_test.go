package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// These tests are attacks on the console from outside, over HTTP: each
// is a request an attacker can make, and what the console must answer.

// withCookie returns a fresh agent whose jar holds only the console
// session cookie value at path: a copy of a cookie taken from another
// browser.
func (h *harness) withCookie(t *testing.T, path, value string) *agent {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(h.url + path)
	if err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(u, []*http.Cookie{{Name: "clavis_console", Value: value, Path: path}})
	return &agent{h: h, client: &http.Client{Jar: jar}}
}

// sessionCookieOf returns the value of the agent's console session
// cookie at path.
func sessionCookieOf(t *testing.T, a *agent, path string) string {
	t.Helper()
	u, err := url.Parse(a.h.url + path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range a.client.Jar.Cookies(u) {
		if c.Name == "clavis_console" {
			return c.Value
		}
	}
	t.Fatalf("no session cookie at %s", path)
	return ""
}

// TestAttackOperatorSessionEndsAtSignOut: a copy of the operator's
// session cookie, taken before the operator signed out, must open
// nothing afterwards (the issue: "sessions that end with logout").
func TestAttackOperatorSessionEndsAtSignOut(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "globex")
	op := h.operator(t)
	stolen := sessionCookieOf(t, op, "/console/")
	csrf := op.csrf

	status, body := op.post(t, "/console/logout", nil)
	if status != http.StatusOK || !strings.HasSuffix(op.last, "/console/login") {
		t.Fatalf("sign-out: %d at %s %s", status, op.last, excerpt(body))
	}

	thief := h.withCookie(t, "/console/", stolen)
	status, body = thief.get(t, "/console/tenants")
	if strings.HasSuffix(thief.last, "/console/tenants") {
		t.Errorf("the operator's session cookie still opens the tenants page after sign-out: %d %s", status, excerpt(body))
	}
	thief.csrf = csrf
	noFollow := noRedirects(t, thief)
	status, body = thief.post(t, "/console/tenants/globex/suspend", url.Values{"reason": {"replayed after sign-out"}})
	noFollow()
	if status != http.StatusUnauthorized {
		t.Errorf("a replayed operator session suspended a tenant after sign-out: %d %s", status, excerpt(body))
	}
	v, err := h.node.Admin.ReadModel.Tenant(context.Background(), "globex")
	if err != nil {
		t.Fatal(err)
	}
	if v.Suspended {
		t.Errorf("globex was suspended by a session that had signed out")
	}
}

// TestAttackSuspendedTenantSignInIsNotAFailure: an anonymous visitor
// opens the console of a tenant that was suspended before anyone opened
// its console. The console client cannot be registered there; the page
// must say the tenant is suspended, not fail with a 500 (which logs an
// error for every anonymous request).
func TestAttackSuspendedTenantSignInIsNotAFailure(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "frozen")
	res, err := h.node.Admin.Tenants.Suspend(context.Background(), rootRequest, "frozen", "unpaid")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.node.Projector.WaitFor(context.Background(), res.Position); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/t/frozen/console/login", "/t/frozen/console/", "/t/frozen/console/callback?state=x&code=y"} {
		a := h.newAgent(t)
		status, body := a.get(t, path)
		if status >= http.StatusInternalServerError {
			t.Errorf("GET %s of a suspended tenant: %d %s", path, status, excerpt(body))
		}
		if strings.HasSuffix(path, "login") && status != http.StatusForbidden {
			t.Errorf("GET %s of a suspended tenant: %d, want 403: %s", path, status, excerpt(body))
		}
	}
}

// TestAttackForeignSessionsAndTokensAreRefused: what held when tried.
// A session of tenant B at tenant A's console, a CSRF token of another
// session, a cross-site form with a valid token, and a session cookie
// replayed after its person signed out: none of them changes anything.
func TestAttackForeignSessionsAndTokensAreRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	h.tenant(t, "bravo")
	victim := h.register(t, "acme", m2m("Victim", "urn:acme/victim"))
	alice := h.signIn(t, "acme", "alice")
	mallory := h.signIn(t, "acme", "mallory")
	bob := h.signIn(t, "bravo", "bob")

	// Bob's cookie, re-scoped to acme's console path.
	moved := h.withCookie(t, "/t/acme/console/", sessionCookieOf(t, bob, "/t/bravo/console/"))
	moved.csrf = bob.csrf
	noFollow := noRedirects(t, moved)
	if status, body := moved.post(t, "/t/acme/console/clients/"+victim.Client.ClientID+"/deactivate", url.Values{"reason": {"x"}}); status != http.StatusUnauthorized {
		t.Errorf("bravo's session at acme: %d %s", status, excerpt(body))
	}
	noFollow()

	// Mallory's CSRF token in Alice's form.
	if status, body := alice.post(t, "/t/acme/console/clients/"+victim.Client.ClientID+"/deactivate",
		url.Values{"reason": {"x"}, "_csrf": {mallory.csrf}}); status != http.StatusForbidden {
		t.Errorf("another session's CSRF token: %d %s", status, excerpt(body))
	}

	// A cross-site form carrying Alice's own token.
	req, err := http.NewRequest(http.MethodPost, h.url+"/t/acme/console/clients/"+victim.Client.ClientID+"/deactivate",
		strings.NewReader(url.Values{"reason": {"x"}, "_csrf": {alice.csrf}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := alice.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site form: %d", res.StatusCode)
	}

	// Alice's cookie, copied, then Alice signs out.
	copied := h.withCookie(t, "/t/acme/console/", sessionCookieOf(t, alice, "/t/acme/console/"))
	copied.csrf = alice.csrf
	if status, body := alice.post(t, "/t/acme/console/logout", nil); status != http.StatusOK {
		t.Fatalf("sign-out: %d %s", status, excerpt(body))
	}
	noFollow = noRedirects(t, copied)
	if status, body := copied.post(t, "/t/acme/console/clients/"+victim.Client.ClientID+"/deactivate", url.Values{"reason": {"x"}}); status != http.StatusUnauthorized {
		t.Errorf("a session replayed after sign-out: %d %s", status, excerpt(body))
	}
	noFollow()

	if !h.readClient(t, "acme", victim.Client.ClientID).Active {
		t.Errorf("the victim client was deactivated")
	}
}

// TestAttackPlatformClientsStayOutOfAWritersReach: what held when tried.
// A person with clavis:clients:write but not clavis:admin cannot change
// the console client nor the admin client, nor import a client with a
// platform scope, nor reach the webhooks or rotate keys.
func TestAttackPlatformClientsStayOutOfAWritersReach(t *testing.T) {
	t.Parallel()
	h := start(t)
	created := h.tenant(t, "acme")
	walt := h.signIn(t, "acme", "walt", "clavis:clients:read", "clavis:clients:write")
	console, ok := h.clientByCode(t, "acme", tenants.ConsoleClientCode)
	if !ok {
		t.Fatal("no console client after a sign-in")
	}
	for _, id := range []string{console.ClientID, created.AdminClient.ClientID} {
		for path, form := range map[string]url.Values{
			"/secrets":        nil,
			"/secrets/rotate": {"overlap": {"0"}},
			"/deactivate":     {"reason": {"x"}},
		} {
			if status, body := walt.post(t, "/t/acme/console/clients/"+id+path, form); status != http.StatusForbidden {
				t.Errorf("writer POST %s%s: %d %s", id, path, status, excerpt(body))
			}
		}
	}
	for _, path := range []string{"/t/acme/console/settings/webhooks/new", "/t/acme/console/settings/keys/rotate"} {
		if status, body := walt.post(t, path, nil); status != http.StatusForbidden {
			t.Errorf("writer POST %s: %d %s", path, status, excerpt(body))
		}
	}
	pkg := `{"format":"clavis.clients/v1","clients":[{"settings":{"client_name":"Esc","code":"urn:acme/esc","type":"confidential",` +
		`"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","default_scopes":["clavis:admin"]}}]}`
	status, body := walt.post(t, "/t/acme/console/import", url.Values{"package_json": {pkg}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "clavis:admin") {
		t.Errorf("writer imports a client with clavis:admin: %d %s", status, excerpt(body))
	}
	if _, ok := h.clientByCode(t, "acme", "urn:acme/esc"); ok {
		t.Errorf("the escalating client was imported")
	}
}

// TestAttackOperatorSignInRefusesLargeForms: the operator's sign-in is
// the console's only form an anonymous visitor can post that is parsed
// before anything else is checked. A body of tens of thousands of fields
// (half a megabyte, under the server's limit) cost tens of milliseconds
// of parsing per request; it must be refused before it is parsed, as the
// OAuth endpoints refuse theirs.
func TestAttackOperatorSignInRefusesLargeForms(t *testing.T) {
	t.Parallel()
	h := start(t)
	var b strings.Builder
	b.WriteString("root_token=" + rootToken)
	for i := 0; b.Len() < 512<<10; i++ {
		b.WriteString("&f=x")
	}
	a := h.newAgent(t)
	status, body := a.do(t, http.MethodPost, h.url+"/console/login", strings.NewReader(b.String()), "application/x-www-form-urlencoded")
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("a half-megabyte sign-in form: %d, want 413: %s", status, excerpt(body))
	}
	// The ordinary form still signs in.
	h.operator(t)
}

// TestAttackAWriterCannotSignInAsAdmin: a person with
// clavis:clients:write (and no clavis:admin) must not get a console
// session with clavis:admin. clavis:clients:write holds clavis:login, the
// login application's scope, so the writer registers an m2m client with
// clavis:login, points the tenant's login application at a host of
// their own (which clavis:clients:write may do), starts a console
// sign-in, and answers its login and consent challenges with the m2m
// client's token, granting the console client clavis:admin, which it
// requests of every login application. The console then opens a session
// with clavis:admin, under any subject the writer names.
func TestAttackAWriterCannotSignInAsAdmin(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	walt := h.signIn(t, "acme", "walt", "clavis:clients:read", "clavis:clients:write")
	status, id, body := createThroughForm(t, walt, "m2m", url.Values{
		"client_name": {"Login helper"}, "code": {"urn:acme/login-helper"}, "default_scopes": {"clavis:login"}})
	if id == "" || status >= 300 && status != http.StatusSeeOther {
		t.Fatalf("the writer registers an m2m client with clavis:login: %d %s", status, excerpt(body))
	}
	secret := secretOn(t, body)
	if status, body := walt.post(t, "/t/acme/console/settings/login-app", url.Values{"login_url": {"https://login.attacker.example/"}}); status != http.StatusOK {
		t.Fatalf("the writer sets the login application: %d %s", status, excerpt(body))
	}

	// The m2m client's token.
	req, err := http.NewRequest(http.MethodPost, h.url+"/t/acme/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("client credentials: %d %v", res.StatusCode, err)
	}

	// A browser that stops where the node sends it elsewhere (the login
	// application, which the writer plays).
	node, err := url.Parse(h.url)
	if err != nil {
		t.Fatal(err)
	}
	b := h.newAgent(t)
	b.client.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if r.URL.Host != node.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}
	away := func(u string) url.Values {
		t.Helper()
		res, err := b.client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil || loc.Host != "login.attacker.example" {
			t.Fatalf("GET %s: %d, Location %q", u, res.StatusCode, res.Header.Get("Location"))
		}
		return loc.Query()
	}
	answer := func(kind, challenge, body string) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, h.url+"/t/acme/admin/"+kind+"-requests/"+url.PathEscape(challenge)+"/accept", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r struct {
			RedirectTo string `json:"redirect_to"`
		}
		if res.StatusCode == http.StatusForbidden && kind == "consent" {
			return ""
		}
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("accept %s: %d %v", kind, res.StatusCode, err)
		}
		return r.RedirectTo
	}
	q := away(h.url + "/t/acme/console/login")
	next := answer("login", q.Get("login_challenge"), `{"subject":"the-real-admin"}`)
	q = away(next)
	// The login application's token holds clavis:login (through
	// clavis:clients:write), not clavis:admin: it may not grant it.
	next = answer("consent", q.Get("consent_challenge"), `{"grant_scope":["openid","clavis:admin","clavis:clients:read","clavis:clients:write","clavis:audit"]}`)
	if next != "" {
		status, body = b.get(t, strings.TrimPrefix(next, h.url))
		if status, body = b.get(t, "/t/acme/console/settings/webhooks"); status == http.StatusOK {
			t.Errorf("a clavis:clients:write person signed in to the console with clavis:admin (the webhooks page opens): %s", excerpt(body))
		}
		t.Fatalf("the consent granting clavis:admin was accepted for a clavis:login token")
	}
}

// TestAttackInvalidUTF8IsRefusedNotRewritten: a form value that is not
// UTF-8 is refused, as the admin API refuses it, rather than stored with
// its bytes replaced by U+FFFD (a name other than the one typed).
func TestAttackInvalidUTF8IsRefusedNotRewritten(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	status, id, body := createThroughForm(t, a, "m2m", url.Values{"client_name": {"bad\xffname"}, "code": {"urn:acme/bad-utf8"}})
	if status != http.StatusBadRequest {
		t.Errorf("a client name that is not UTF-8: %d, want 400: %s", status, excerpt(body))
	}
	if id != "" {
		t.Errorf("the client was registered as %s: %q", id, h.readClient(t, "acme", id).Settings.ClientName)
	}
}

// TestAttackImportFileNotUTF8IsRefused: a package file that is not UTF-8
// is refused, as the admin API's import refuses it, rather than previewed
// and imported with its bytes replaced.
func TestAttackImportFileNotUTF8IsRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	pkg := []byte(`{"format":"clavis.clients/v1","clients":[{"settings":{"client_name":"bad` + "\xff" + `name","code":"urn:acme/bad-utf8",` +
		`"type":"confidential","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}}]}`)
	status, body := a.postMultipart(t, "/t/acme/console/import", nil, pkg)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "not UTF-8") {
		t.Errorf("a package file that is not UTF-8: %d %s", status, excerpt(body))
	}
}

// TestAttackDecoysDoNotHideTheConsoleClient: a writer registers clients
// whose names contain the console client's code. A node that has not yet
// seen the console client (restarted, or new in the cluster, while
// another registered it) looks it up by searching for its code, and read
// only the first page of the search: with enough decoys ahead of it in
// client_id order, it was not found, its registration failed (the code
// is taken) and every sign-in to the tenant's console answered 500.
func TestAttackDecoysDoNotHideTheConsoleClient(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()
	// The console client, as another node registers it, in a tenant
	// where its id sorts late (first hex digit e or f), so that most
	// decoys sort ahead of it and a little over a page of them hides it:
	// a tenant is much cheaper than the thousands of decoys an early id
	// would need.
	var slug string
	var real tenants.ClientResult
	for i := 0; ; i++ {
		if i == 64 {
			t.Fatal("64 console clients, and not one id sorts after d")
		}
		slug = fmt.Sprintf("acme%d", i)
		h.tenant(t, slug)
		c, err := h.node.Admin.Clients.RegisterConsole(ctx, tenants.Request{Actor: tenants.SystemActor}, slug,
			h.url+"/t/"+slug+"/console/callback", h.url+"/t/"+slug+"/console/signed-out")
		if err != nil {
			t.Fatal(err)
		}
		if c.Client.ClientID >= "e" {
			real = c
			break
		}
	}
	if err := h.node.Projector.WaitFor(ctx, real.Position); err != nil {
		t.Fatal(err)
	}
	hidden := func() bool {
		list, _, err := h.node.Admin.ReadModel.Clients(ctx, slug, projections.ClientFilter{Search: tenants.ConsoleClientCode, Limit: projections.MaxPage})
		if err != nil {
			t.Fatal(err)
		}
		return !slices.ContainsFunc(list, func(v projections.ClientView) bool { return v.ClientID == real.Client.ClientID })
	}
	// A page of decoys, then a tenth of a page at a time until the
	// console client is off the first page.
	n := 0
	for step := projections.MaxPage; !hidden(); step = projections.MaxPage / 10 {
		if n >= 4*projections.MaxPage {
			t.Fatalf("%d decoys, and the console client (%s) is still on the first page", n, real.Client.ClientID)
		}
		var wg sync.WaitGroup
		var last eventstore.Position
		var mu sync.Mutex
		for w := range 4 {
			wg.Go(func() {
				for i := n + w; i < n+step; i += 4 {
					s := m2m(fmt.Sprintf("%s decoy %d", tenants.ConsoleClientCode, i), fmt.Sprintf("urn:%s/decoy-%d", slug, i))
					res, err := h.node.Admin.Clients.Register(ctx, rootRequest, slug, s)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if last.Less(res.Position) {
						last = res.Position
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		if err := h.node.Projector.WaitFor(ctx, last); err != nil {
			t.Fatal(err)
		}
		n += step
	}
	a := h.newAgent(t)
	status, body := a.get(t, "/t/"+slug+"/console/login")
	if status >= http.StatusInternalServerError {
		t.Errorf("sign-in with %d decoys ahead of the console client: %d %s", n, status, excerpt(body))
	}
}
