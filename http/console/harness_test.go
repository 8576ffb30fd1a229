package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/tenants"
)

// rootToken is the platform operator's token in these tests.
const rootToken = "console-test-root-token-0123456789-abcdefghij"

// harness is a whole node, as `clavis serve --dev-login` runs it, on a
// free loopback port that is also its public URL, so that a browser (or
// an agent) follows its redirects: SQLite, a NATS server of the test's
// own.
type harness struct {
	node *testnode.Server
	url  string
}

// start starts the harness.
func start(t testing.TB) *harness {
	t.Helper()
	ns := testnode.StartNATS(t)
	cfg := testnode.Config(t, "")
	cfg.PublicURL = ""
	cfg.RootToken = rootToken
	cfg.DevLogin = true
	cfg.NATSURL, cfg.NATSPrefix = ns.URL, "test"
	n := testnode.Start(t, cfg)
	return &harness{node: n, url: n.URL}
}

// rootRequest is the metadata of a command the test runs as the
// operator.
var rootRequest = tenants.Request{Actor: "root"}

// tenant creates tenant slug and waits until the read model has it.
func (h *harness) tenant(t testing.TB, slug string) tenants.CreatedTenant {
	t.Helper()
	created, err := h.node.Admin.Tenants.Create(context.Background(), rootRequest, slug, strings.ToUpper(slug[:1])+slug[1:])
	if err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	if err := h.node.Projector.WaitFor(context.Background(), created.Position); err != nil {
		t.Fatalf("wait for tenant %s: %v", slug, err)
	}
	return created
}

// agent is a browser without JavaScript: a cookie jar, redirects
// followed, and the session's CSRF token once signed in.
type agent struct {
	h      *harness
	client *http.Client
	csrf   string
	// last is the URL of the last page fetched (after redirects).
	last string
}

// newAgent returns an agent with an empty cookie jar.
func (h *harness) newAgent(t testing.TB) *agent {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &agent{h: h, client: &http.Client{Jar: jar}}
}

// signIn signs subject in to tenant slug's console through the
// development login, granting scopes at consent (every scope the console
// asks for when none are given), and returns the agent, on the clients
// page.
func (h *harness) signIn(t testing.TB, slug, subject string, scopes ...string) *agent {
	t.Helper()
	a := h.newAgent(t)
	a.signIn(t, slug, subject, scopes...)
	return a
}

var (
	challengeInput = regexp.MustCompile(`name="(login_challenge|consent_challenge)" value="([^"]+)"`)
	csrfInput      = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
)

// signIn signs the agent in (see harness.signIn).
func (a *agent) signIn(t testing.TB, slug, subject string, scopes ...string) {
	t.Helper()
	if len(scopes) == 0 {
		scopes = tenants.ConsoleScopes
	}
	body := a.signInAt(t, "/t/"+slug+"/console/", subject, scopes...)
	cm := csrfInput.FindStringSubmatch(body)
	if cm == nil {
		t.Fatalf("sign in: no CSRF token on %s: %.500s", a.last, body)
	}
	a.csrf = cm[1]
}

// signInAt opens path, a page of a tenant's console, and signs subject
// in through the development login, granting scopes at consent; it
// returns the page the console then shows (and keeps its CSRF token,
// when it has one).
func (a *agent) signInAt(t testing.TB, path, subject string, scopes ...string) string {
	t.Helper()
	status, body := a.get(t, path)
	m := challengeInput.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil || m[1] != "login_challenge" {
		t.Fatalf("sign in: no login page (%d at %s): %.500s", status, a.last, body)
	}
	status, body = a.postURL(t, a.last, url.Values{"login_challenge": {m[2]}, "subject": {subject}, "action": {"accept"}})
	m = challengeInput.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil || m[1] != "consent_challenge" {
		t.Fatalf("sign in: no consent page (%d at %s): %.500s", status, a.last, body)
	}
	form := url.Values{"consent_challenge": {m[2]}, "action": {"accept"}, "grant_scope": append([]string{"openid"}, scopes...)}
	status, body = a.postURL(t, a.last, form)
	if status != http.StatusOK {
		t.Fatalf("sign in: %d at %s: %.500s", status, a.last, body)
	}
	if cm := csrfInput.FindStringSubmatch(body); cm != nil {
		a.csrf = cm[1]
	}
	return body
}

// get fetches path (on the node) and returns the final status and body.
func (a *agent) get(t testing.TB, path string) (int, string) {
	t.Helper()
	return a.do(t, http.MethodGet, a.h.url+path, nil, "")
}

// post posts form to path with the session's CSRF token, and returns
// the final status and body after redirects.
func (a *agent) post(t testing.TB, path string, form url.Values) (int, string) {
	t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if f.Get("_csrf") == "" && a.csrf != "" {
		f.Set("_csrf", a.csrf)
	}
	return a.postURL(t, a.h.url+path, f)
}

// postURL posts form, as it is, to the absolute URL u.
func (a *agent) postURL(t testing.TB, u string, form url.Values) (int, string) {
	t.Helper()
	return a.do(t, http.MethodPost, u, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

// do makes a request and follows its redirects.
func (a *agent) do(t testing.TB, method, u string, body io.Reader, contentType string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	a.last = res.Request.URL.String()
	return res.StatusCode, string(b)
}

// mustContain fails t unless body contains each of want.
func mustContain(t testing.TB, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("the page lacks %q:\n%s", w, excerpt(body))
		}
	}
}

// excerpt is the page's main element, or its start.
func excerpt(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if len(body) > 4000 {
		body = body[:4000] + "…"
	}
	return body
}

var _ = fmt.Sprintf

// startWith starts the harness with the node's configuration changed by
// adjust first (to deliver webhooks to loopback receivers, say).
func startWith(t *testing.T, adjust func(*node.Config)) *harness {
	t.Helper()
	ns := testnode.StartNATS(t)
	cfg := testnode.Config(t, "")
	cfg.PublicURL = ""
	cfg.RootToken = rootToken
	cfg.DevLogin = true
	cfg.NATSURL, cfg.NATSPrefix = ns.URL, "test"
	adjust(&cfg)
	n := testnode.Start(t, cfg)
	return &harness{node: n, url: n.URL}
}
