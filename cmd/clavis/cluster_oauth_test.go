package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/clavisiam/clavis/internal/poll"
)

// The OAuth part of the cluster workload: token requests of every grant
// spread over the nodes while faults are injected, deliberate replays of
// codes and refresh tokens, and the invariants they must keep (a code or
// refresh token is accepted once across all nodes; presenting a used one
// revokes its grant everywhere), plus a probe measuring how long a
// deactivated client and a revoked token take to be refused on every
// node.

// clusterNodes is what a cluster workload needs of the cluster.
type clusterNodes interface {
	size() int
	node(i int) *serveProc // i in [0, size()); it may be down (requests then fail to connect)
	alive(i int) bool      // whether node i runs now (safe for concurrent use)
}

// The kinds of requests the OAuth load sends.
const (
	kindClientCredentials = "client_credentials"
	kindAuthorize         = "authorize"      // the authorization request: to the login page
	kindLogin             = "login"          // the login page accepts: back to the authorization endpoint
	kindLoginReturn       = "login_return"   // the authorization endpoint after login: to consent
	kindConsent           = "consent"        // the consent page accepts: back to the authorization endpoint
	kindConsentReturn     = "consent_return" // the authorization endpoint after consent: the code
	kindCode              = "code"           // the code exchanged
	kindRefresh           = "refresh"        // a refresh token rotated
	kindReplayCode        = "replay_code"    // a used code, at another node: must be refused
	kindReplayRefresh     = "replay_refresh" // a used refresh token, at another node: must be refused
	kindRaceRefresh       = "race_refresh"   // one refresh token at two nodes at once: at most one wins
	kindRevokedRefresh    = "revoked_refresh"
	// kindRevokedRefresh: a refresh token of a grant a replay revoked, at
	// every node: must be refused.
)

// Phrases of the token endpoint's error_description that say a reuse was
// detected, after which the grant must be revoked everywhere (fosite's
// and Clavis's own words: http/oauth).
var reuseHints = []string{"already been used", "already used"}

// revocationFailedHint is what fosite adds when revoking a reused code's
// grant failed.
const revocationFailedHint = "an error occurred during processing"

// oauthOutcome is one request of the OAuth load.
type oauthOutcome struct {
	Sent, Done time.Time
	Node       int
	Kind       string
	// OK is whether the answer was the one expected: a token, the next
	// step of the flow, or, for replays and revoked grants, a refusal
	// (invalid_grant).
	OK bool
	// NodeDown is a failure to reach a node that was down when the
	// request was sent or answered.
	NodeDown bool
	Status   int    // the HTTP status, 0 without an answer
	Err      string // what went wrong, when not OK
}

// oauthClient is a client the load uses and its secret.
type oauthClient struct{ id, secret string }

// oauthLoad is the OAuth workload over a cluster's nodes.
type oauthLoad struct {
	c       clusterNodes
	slug    string
	issuer  string // the tenant's issuer, at the cluster's public URL
	public  string // the public URL's host, which requests are sent to
	m2m     oauthClient
	webs    []oauthClient // confidential clients of the code flow, taken in turn
	tr      *http.Transport
	timeout time.Duration
	pace    time.Duration // between two requests of a worker

	flows   atomic.Uint64 // code flows begun, which picks their client and source address
	stop    chan struct{}
	workers sync.WaitGroup

	mu         sync.Mutex
	outs       []oauthOutcome
	accepted   map[string]int // code or refresh token → answers that accepted it
	violations []string
	notes      []string // reuses whose revocation the server said failed
	families   int      // grants checked revoked on every node after a reuse
	probes     []oauthClient
	probed     int
}

// webRedirect is the web clients' redirect URI; the browser stops there.
const webRedirect = "https://app.example.test/cb"

// Enough web clients that the per-client limits of each node (10
// refreshes and 20 authorization requests a second) are not what the
// load measures.
const (
	webClients   = 16
	probeClients = 24
)

// setupOAuth registers, through node 0 with the root token, the clients the
// OAuth load uses in tenant slug (which exists): an m2m client for
// client_credentials, a confidential web client for the code flow with
// PKCE, consent and refresh_token (offline_access), and the clients the
// propagation probe deactivates. Fatal on failure.
//
// The web clients are webClients alike, the flows taking them in turn,
// and the probe clients probeClients (more are registered when the probe
// has used them up).
func setupOAuth(t *testing.T, c clusterNodes, slug string) *oauthLoad {
	t.Helper()
	n := c.node(0)
	l := &oauthLoad{c: c, slug: slug, timeout: 10 * time.Second, pace: 2 * time.Millisecond,
		stop: make(chan struct{}), accepted: map[string]int{},
		tr: &http.Transport{DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second}}
	t.Cleanup(l.tr.CloseIdleConnections)

	// The issuer is at the cluster's public URL: the browser and the
	// clients address it, and each request goes to the node of its turn.
	disc, _ := n.do(http.MethodGet, "/t/"+slug+"/.well-known/openid-configuration", nil, http.StatusOK)
	issuer, _ := disc["issuer"].(string)
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		t.Fatalf("the discovery document of %s names the issuer %q", slug, issuer)
	}
	l.issuer, l.public = issuer, u.Host

	create := func(body map[string]any) oauthClient {
		out, _ := n.do(http.MethodPost, "/t/"+slug+"/admin/clients", body, http.StatusCreated)
		return oauthClient{id: out["client_id"].(string), secret: out["client_secret"].(string)}
	}
	l.m2m = create(newClientBody("urn:" + slug + "/oauth-m2m"))
	for i := range webClients {
		l.webs = append(l.webs, create(map[string]any{"type": "confidential", "client_name": fmt.Sprintf("Web %d", i),
			"code": fmt.Sprintf("urn:%s/oauth-web-%d", slug, i), "redirect_uris": []string{webRedirect},
			"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"default_scopes": []string{"openid"}, "optional_scopes": []string{"offline_access"},
			"allow_offline_access": true, "consent_required": true, "require_pkce": true}))
	}
	for i := range probeClients {
		l.probes = append(l.probes, create(newClientBody(fmt.Sprintf("urn:%s/oauth-probe-%d", slug, i))))
	}
	return l
}

// start runs workers goroutines until halt: client_credentials token
// requests and code flows followed by refresh chains, each request to the
// next node in turn, skipping those down (a flow's steps, authorize → dev
// login accept → consent accept → token → refreshes, each at a different
// node), plus
// deliberate replays: a used code at another node, a used refresh token at
// another node (must be refused, and reuse revokes the family: the chain's
// current refresh token is refused afterwards on every node), and the same
// refresh token sent to two nodes at once (at most one may succeed).
func (l *oauthLoad) start(workers int) {
	for w := range workers {
		l.workers.Go(func() { l.run(w) })
	}
}

// halt stops the workers and waits for their last requests.
func (l *oauthLoad) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.workers.Wait()
}

// outcomes returns every request's outcome so far: when it was sent and
// answered, the node, the kind (client_credentials, authorize, login,
// consent, code, refresh, replay…), and whether it succeeded (or failed
// because the node was down: a dial error while !alive).
func (l *oauthLoad) outcomes() []oauthOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.outs)
}

// check fails t on any broken OAuth invariant seen so far: a code or
// refresh token accepted twice, on the same or different nodes; a replay
// that did not revoke the family on every node.
func (l *oauthLoad) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var twice []string
	for cred, n := range l.accepted {
		if n > 1 {
			twice = append(twice, fmt.Sprintf("%s… accepted %d times", cred[:min(len(cred), 12)], n))
		}
	}
	sort.Strings(twice)
	bad := append(twice, l.violations...)
	for i, v := range bad {
		if i == 20 {
			t.Errorf("… and %d more", len(bad)-i)
			break
		}
		t.Errorf("OAuth invariant broken: %s", v)
	}
	if len(l.accepted) == 0 || l.families == 0 {
		t.Errorf("the load had %d codes and refresh tokens accepted and %d grants checked revoked after a reuse: it proved nothing", len(l.accepted), l.families)
	}
	for _, n := range l.notes {
		t.Logf("note: %s", n)
	}
	t.Logf("OAuth invariants: %d codes and refresh tokens accepted, %d of them twice; %d violations in all; %d grants checked revoked on every node after a reuse",
		len(l.accepted), len(twice), len(bad), l.families)
}

// violation records a broken invariant.
func (l *oauthLoad) violation(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.violations = append(l.violations, fmt.Sprintf(format, args...))
}

func (l *oauthLoad) record(o oauthOutcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outs = append(l.outs, o)
}

// accept notes that a node accepted cred (a code or refresh token).
func (l *oauthLoad) accept(cred string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepted[cred]++
}

// pause waits the pacing between two requests; false once halted.
func (l *oauthLoad) pause() bool {
	select {
	case <-l.stop:
		return false
	case <-time.After(l.pace):
		return true
	}
}

// run is one worker: client_credentials requests, one every ccPace, and
// code flows, one after the other, side by side (a flow stuck at a node
// that does not answer does not hold up the token requests), every
// request at the next node that runs (as a load balancer's health checks
// would have it: a node that dies in the middle of a request, or between
// the choice and the request, still gets it). Flows take turns at what
// follows the exchange: a replay of the code; refreshes then a replay of
// a used refresh token; a refresh then a race of the current refresh
// token at two nodes; refreshes only.
func (l *oauthLoad) run(w int) {
	var cc sync.WaitGroup
	defer cc.Wait()
	cc.Go(func() {
		next := l.turns(w)
		tick := time.NewTicker(ccPace)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			l.clientCredentials(next())
		}
	})
	next := l.turns(w)
	for i := 0; l.pause(); i++ {
		l.codeFlow(w, i, next)
	}
}

// ccPace is how often each worker asks for a client_credentials token.
const ccPace = 20 * time.Millisecond

// turns returns the node picker of a worker: the next node that runs,
// starting at node w (all down: the next one).
func (l *oauthLoad) turns(w int) func() int {
	turn := w
	return func() int {
		n := l.c.size()
		for range n - 1 {
			if l.c.alive(turn % n) {
				break
			}
			turn++
		}
		turn++
		return (turn - 1) % n
	}
}

// outcome makes the outcome of a request sent at sent to node, up when
// sent, that ended with status or err.
func (l *oauthLoad) outcome(kind string, node int, sent time.Time, up bool, status int, err error, ok bool, detail string) oauthOutcome {
	o := oauthOutcome{Sent: sent, Done: time.Now(), Node: node, Kind: kind, OK: ok, Status: status}
	if !ok {
		o.Err = detail
		if err != nil {
			o.Err = err.Error()
			o.NodeDown = !up || !l.c.alive(node)
		}
	}
	return o
}

// routed sends the requests addressed to the cluster's public host to
// one node.
type routed struct {
	public, addr string
	base         http.RoundTripper
}

func (r routed) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == r.public {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = "http", r.addr, r.addr
	}
	return r.base.RoundTrip(req)
}

// httpAt is a client whose requests to the public URL go to node, over
// base (the shared transport when nil), keeping cookies in jar (none
// when nil) and following no redirect.
func (l *oauthLoad) httpAt(node int, base http.RoundTripper, jar http.CookieJar) *http.Client {
	if base == nil {
		base = l.tr
	}
	return &http.Client{Transport: routed{public: l.public, addr: l.c.node(node).addr, base: base}, Jar: jar, Timeout: l.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// ctxAt is a context whose OAuth2 calls go to node.
func (l *oauthLoad) ctxAt(node int) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, l.httpAt(node, nil, nil))
}

// tokenError reads what an x/oauth2 call's error says: the status and
// the error with its description, or the transport error (err).
func tokenError(err error) (status int, detail string, transport error) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return status, strings.TrimSpace(re.ErrorCode + ": " + re.ErrorDescription), nil
	}
	return 0, "", err
}

// clientCredentials asks node for a token of the m2m client.
func (l *oauthLoad) clientCredentials(node int) {
	cfg := clientcredentials.Config{ClientID: l.m2m.id, ClientSecret: l.m2m.secret, TokenURL: l.issuer + "/oauth2/token",
		AuthStyle: oauth2.AuthStyleInHeader}
	up, sent := l.c.alive(node), time.Now()
	tok, err := cfg.Token(l.ctxAt(node))
	if err == nil && tok.AccessToken != "" {
		l.record(l.outcome(kindClientCredentials, node, sent, up, http.StatusOK, nil, true, ""))
		return
	}
	status, detail, terr := tokenError(err)
	l.record(l.outcome(kindClientCredentials, node, sent, up, status, terr, false, detail))
}

// webConfig is the code flow's configuration for web client c.
func (l *oauthLoad) webConfig(c oauthClient) oauth2.Config {
	return oauth2.Config{ClientID: c.id, ClientSecret: c.secret, RedirectURL: webRedirect, Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: l.issuer + "/oauth2/auth", TokenURL: l.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
}

// sourceTransport is a transport whose connections come from a loopback
// address of their own, one per flow: the nodes limit authorization
// requests per source address (2 a second), as they would a browser, and
// the load stands for many browsers behind the cluster's load balancer.
func sourceTransport(n uint64) *http.Transport {
	ip := net.IPv4(127, byte(1+n>>16%254), byte(n>>8), byte(n))
	return &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}).DialContext}
}

// browse sends one request of the browser's flow to node and checks that
// the answer redirects (status 302 or 303) to where want says; it
// returns the redirect's target, or nil when the step failed (recorded).
func (l *oauthLoad) browse(kind string, node int, client *http.Client, req *http.Request, want func(*url.URL) bool) *url.URL {
	up, sent := l.c.alive(node), time.Now()
	res, err := client.Do(req)
	if err != nil {
		l.record(l.outcome(kind, node, sent, up, 0, err, false, ""))
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	res.Body.Close()
	loc, _ := res.Location()
	if (res.StatusCode == http.StatusFound || res.StatusCode == http.StatusSeeOther) && loc != nil && want(loc) {
		l.record(l.outcome(kind, node, sent, up, res.StatusCode, nil, true, ""))
		return loc
	}
	l.record(l.outcome(kind, node, sent, up, res.StatusCode, nil, false, answerDetail(res, body)))
	return nil
}

// answerDetail says what an unexpected answer of the browser flow was:
// its status, where it redirects, the title of an HTML page or the body.
func answerDetail(res *http.Response, body []byte) string {
	text := strings.TrimSpace(string(body))
	if i := strings.Index(text, "<title>"); i >= 0 {
		text = text[i+len("<title>"):]
		text = text[:max(strings.Index(text, "</title>"), 0)]
	}
	d := text
	if loc := res.Header.Get("Location"); loc != "" {
		d += " to " + loc
	}
	return d
}

// atIssuer reports whether u is a page of the issuer's path with query
// parameter param.
func (l *oauthLoad) atIssuer(path, param string) func(*url.URL) bool {
	return func(u *url.URL) bool {
		return u.Host == l.public && strings.HasSuffix(u.Path, path) && u.Query().Get(param) != ""
	}
}

// codeFlow runs one authorization code flow of worker w, its i-th, every
// step at the node next gives, and what follows the exchange.
func (l *oauthLoad) codeFlow(w, i int, next func() int) {
	flow := l.flows.Add(1)
	cfg := l.webConfig(l.webs[flow%uint64(len(l.webs))])
	jar, _ := cookiejar.New(nil) // the flow is bound to the browser by a cookie
	verifier, state := oauth2.GenerateVerifier(), fmt.Sprintf("state-%d-%d", w, i)
	subject := fmt.Sprintf("user-%d-%d", w, i)

	src := sourceTransport(flow)
	defer src.CloseIdleConnections()
	node := next()
	req, _ := http.NewRequest(http.MethodGet, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil)
	loc := l.browse(kindAuthorize, node, l.httpAt(node, src, jar), req, l.atIssuer("/dev/login", "login_challenge"))
	if loc == nil || !l.pause() {
		return
	}
	form := url.Values{"login_challenge": {loc.Query().Get("login_challenge")}, "subject": {subject}, "action": {"accept"}}
	node = next()
	loc = l.browse(kindLogin, node, l.httpAt(node, nil, jar), postForm(l.issuer+"/dev/login", form), l.atIssuer("/oauth2/auth", "login_verifier"))
	if loc == nil || !l.pause() {
		return
	}
	node = next()
	req, _ = http.NewRequest(http.MethodGet, loc.String(), nil)
	loc = l.browse(kindLoginReturn, node, l.httpAt(node, nil, jar), req, l.atIssuer("/dev/login", "consent_challenge"))
	if loc == nil || !l.pause() {
		return
	}
	form = url.Values{"consent_challenge": {loc.Query().Get("consent_challenge")}, "grant_scope": {"openid", "offline_access"}, "action": {"accept"}}
	node = next()
	loc = l.browse(kindConsent, node, l.httpAt(node, nil, jar), postForm(l.issuer+"/dev/login", form), l.atIssuer("/oauth2/auth", "consent_verifier"))
	if loc == nil || !l.pause() {
		return
	}
	node = next()
	req, _ = http.NewRequest(http.MethodGet, loc.String(), nil)
	loc = l.browse(kindConsentReturn, node, l.httpAt(node, nil, jar), req, func(u *url.URL) bool {
		return strings.HasPrefix(u.String(), webRedirect+"?") && u.Query().Get("code") != "" && u.Query().Get("state") == state
	})
	if loc == nil || !l.pause() {
		return
	}
	code := loc.Query().Get("code")

	node = next()
	up, sent := l.c.alive(node), time.Now()
	tok, err := cfg.Exchange(l.ctxAt(node), code, oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		status, detail, terr := tokenError(err)
		if err == nil {
			status, detail = http.StatusOK, "no refresh token"
		}
		l.record(l.outcome(kindCode, node, sent, up, status, terr, false, detail))
		return
	}
	l.accept(code)
	l.record(l.outcome(kindCode, node, sent, up, http.StatusOK, nil, true, ""))
	if !l.pause() {
		return
	}

	switch i % 4 {
	case 0: // the code again, at another node: refused, and the grant revoked
		node = next()
		if l.replay(kindReplayCode, node, code, func(ctx context.Context) (*oauth2.Token, error) {
			return cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		}) {
			l.revokedEverywhere(cfg, tok.RefreshToken, fmt.Sprintf("code %s… of client %s", code[:min(len(code), 10)], cfg.ClientID))
		}
	case 1: // two refreshes, then the first refresh token again
		used := tok.RefreshToken
		rt := l.refreshChain(cfg, used, 2, next)
		if rt == "" || !l.pause() {
			return
		}
		node = next()
		if l.replay(kindReplayRefresh, node, used, l.refreshAt(cfg, used)) {
			l.revokedEverywhere(cfg, rt, fmt.Sprintf("refresh token %s… of client %s", used[:min(len(used), 10)], cfg.ClientID))
		}
	case 2: // a refresh, then the current refresh token at two nodes at once
		rt := l.refreshChain(cfg, tok.RefreshToken, 1, next)
		if rt == "" || !l.pause() {
			return
		}
		l.race(cfg, rt, next(), next())
	default:
		l.refreshChain(cfg, tok.RefreshToken, 3, next)
	}
}

func postForm(target string, form url.Values) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// refreshAt is a refresh of rt with cfg, at the node of the context.
func (l *oauthLoad) refreshAt(cfg oauth2.Config, rt string) func(ctx context.Context) (*oauth2.Token, error) {
	return func(ctx context.Context) (*oauth2.Token, error) {
		return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
	}
}

// refresh rotates rt at node and returns the new refresh token, or ""
// when the refresh failed (recorded).
func (l *oauthLoad) refresh(cfg oauth2.Config, rt string, node int) string {
	up, sent := l.c.alive(node), time.Now()
	tok, err := l.refreshAt(cfg, rt)(l.ctxAt(node))
	if err != nil {
		status, detail, terr := tokenError(err)
		l.record(l.outcome(kindRefresh, node, sent, up, status, terr, false, detail))
		return ""
	}
	l.accept(rt)
	if tok.RefreshToken == "" || tok.RefreshToken == rt {
		l.violation("node %d refreshed without rotating the refresh token", node)
		l.record(l.outcome(kindRefresh, node, sent, up, http.StatusOK, nil, false, "not rotated"))
		return ""
	}
	l.record(l.outcome(kindRefresh, node, sent, up, http.StatusOK, nil, true, ""))
	return tok.RefreshToken
}

// refreshChain refreshes n times from rt, each at the next node, and
// returns the last refresh token, or "" if a refresh failed: the chain
// ends there (a refresh whose answer was lost may have used the token up,
// so it is not sent again).
func (l *oauthLoad) refreshChain(cfg oauth2.Config, rt string, n int, next func() int) string {
	for k := range n {
		if k > 0 && !l.pause() {
			return ""
		}
		if rt = l.refresh(cfg, rt, next()); rt == "" {
			return ""
		}
	}
	return rt
}

// replay sends cred, a code or refresh token a node accepted before, with
// send at node: it must be refused. It reports whether the refusal says
// the reuse was detected, so that the grant must now be revoked.
func (l *oauthLoad) replay(kind string, node int, cred string, send func(context.Context) (*oauth2.Token, error)) bool {
	up, sent := l.c.alive(node), time.Now()
	_, err := send(l.ctxAt(node))
	if err == nil {
		l.accept(cred)
		l.violation("node %d accepted a used code or refresh token (%s)", node, kind)
		l.record(l.outcome(kind, node, sent, up, http.StatusOK, nil, false, "accepted"))
		return false
	}
	status, detail, terr := tokenError(err)
	refused := terr == nil && status == http.StatusBadRequest && strings.HasPrefix(detail, "invalid_grant")
	l.record(l.outcome(kind, node, sent, up, status, terr, refused, detail))
	return refused && l.saysReuse(detail)
}

// saysReuse reports whether a refusal's description says the reuse was
// detected (and the grant revoked), noting a refusal that says the
// revocation failed.
func (l *oauthLoad) saysReuse(detail string) bool {
	if strings.Contains(detail, revocationFailedHint) {
		l.mu.Lock()
		l.notes = append(l.notes, "a reuse was refused but its grant's revocation failed: "+detail)
		l.mu.Unlock()
		return false
	}
	for _, h := range reuseHints {
		if strings.Contains(detail, h) {
			return true
		}
	}
	return false
}

// race sends refresh token rt to nodes a and b at once: at most one may
// accept it; if the other's refusal says it saw the reuse, the grant is
// revoked: the winner's new refresh token is refused everywhere.
func (l *oauthLoad) race(cfg oauth2.Config, rt string, a, b int) {
	type result struct {
		tok    *oauth2.Token
		reused bool
		out    oauthOutcome
	}
	results := make([]result, 2)
	var ready, done sync.WaitGroup
	ready.Add(2)
	gate := make(chan struct{})
	for k, node := range []int{a, b} {
		done.Go(func() {
			ctx := l.ctxAt(node)
			ready.Done()
			<-gate
			up, sent := l.c.alive(node), time.Now()
			tok, err := l.refreshAt(cfg, rt)(ctx)
			if err == nil {
				l.accept(rt)
				results[k].tok = tok
				results[k].out = l.outcome(kindRaceRefresh, node, sent, up, http.StatusOK, nil, true, "")
				l.record(results[k].out)
				return
			}
			status, detail, terr := tokenError(err)
			refused := terr == nil && status == http.StatusBadRequest && strings.HasPrefix(detail, "invalid_grant")
			results[k].reused = refused && l.saysReuse(detail)
			results[k].out = l.outcome(kindRaceRefresh, node, sent, up, status, terr, refused, detail)
			l.record(results[k].out)
		})
	}
	ready.Wait()
	close(gate)
	done.Wait()
	say := func(r result) string {
		return fmt.Sprintf("node %d answered %d %q after %s", r.out.Node, r.out.Status, r.out.Err, r.out.Done.Sub(r.out.Sent).Round(time.Microsecond))
	}
	why := fmt.Sprintf("refresh token %s… of client %s sent to nodes %d and %d at once at %s (%s; %s)", rt[:min(len(rt), 10)], cfg.ClientID,
		a, b, results[0].out.Sent.UTC().Format("15:04:05.000000"), say(results[0]), say(results[1]))
	if results[0].tok != nil && results[1].tok != nil {
		l.violation("both nodes accepted the %s", why)
		return
	}
	if !results[0].reused && !results[1].reused {
		return
	}
	for _, r := range results {
		if r.tok != nil {
			l.revokedEverywhere(cfg, r.tok.RefreshToken, why)
		}
	}
}

// revokedEverywhere sends rt, the newest refresh token of a grant a
// reuse (why) revoked, to every node: each must refuse it.
func (l *oauthLoad) revokedEverywhere(cfg oauth2.Config, rt, why string) {
	checked := false
	for node := range l.c.size() {
		up, sent := l.c.alive(node), time.Now()
		if !up {
			continue
		}
		_, err := l.refreshAt(cfg, rt)(l.ctxAt(node))
		if err == nil {
			l.accept(rt)
			l.violation("after the reuse of the %s, node %d still accepted the grant's newest refresh token %s… at %s",
				why, node, rt[:min(len(rt), 10)], sent.UTC().Format("15:04:05.000000"))
			l.record(l.outcome(kindRevokedRefresh, node, sent, up, http.StatusOK, nil, false, "accepted"))
			continue
		}
		status, detail, terr := tokenError(err)
		refused := terr == nil && status == http.StatusBadRequest && strings.HasPrefix(detail, "invalid_grant")
		checked = checked || refused
		l.record(l.outcome(kindRevokedRefresh, node, sent, up, status, terr, refused, detail))
	}
	if checked {
		l.mu.Lock()
		l.families++
		l.mu.Unlock()
	}
}

// probe deactivates one of the probe clients (and revokes an access token
// of the m2m client) through node via, then polls every alive node until
// that client's client_credentials request is refused (and the revoked
// token introspects inactive) and returns how long each node took. The
// lead calls it right after a fault heals and asserts the bound the docs
// state (find it: grep docs/ for how fast a deactivation/revocation reaches
// every node; if none is stated, measure and propose one).
//
// Entry i is the time from the acknowledgement of both writes until node
// i refused both, -1 for a node that was down (or went down meanwhile);
// a node that has not refused them after probeWithin counts that long,
// and t fails. Before the writes, every alive node must grant the probe
// client a token and find the m2m token active (or the refusals would
// prove nothing); after refusing, a node must go on refusing.
func (l *oauthLoad) probe(t *testing.T, via int) []time.Duration {
	t.Helper()
	pc := l.probeClient(t, via)
	n := l.c.size()

	var at string
	poll.Until(t, probeWithin, fmt.Sprintf("an m2m token from node %d", via), func() bool {
		tok, err := l.ccToken(l.m2m, via)
		if err == nil {
			at = tok
		}
		return err == nil
	})
	for i := range n {
		if !l.c.alive(i) {
			continue
		}
		poll.Until(t, probeWithin, fmt.Sprintf("node %d granting probe client %s a token and finding the m2m token active", i, pc.id), func() bool {
			_, err := l.ccToken(pc, i)
			active, ierr := l.introspect(at, i)
			return !l.c.alive(i) || err == nil && ierr == nil && active
		})
	}

	// The writes, retried until a node acknowledges them (after a fault,
	// the first may meet a store or NATS that is not back yet).
	var wg sync.WaitGroup
	var deactivated, revoked bool
	wg.Go(func() {
		deactivated = retry(probeWithin, func() bool {
			code, _, _, err := l.c.node(via).try(http.MethodPost, "/t/"+l.slug+"/admin/clients/"+pc.id+"/deactivate",
				map[string]any{"reason": "propagation probe"})
			return err == nil && code == http.StatusOK
		})
	})
	wg.Go(func() { revoked = retry(probeWithin, func() bool { return l.revoke(at, via) == nil }) })
	wg.Wait()
	if !deactivated || !revoked {
		t.Fatalf("node %d did not acknowledge within %s: the deactivation of %s (%v), the revocation of the m2m token (%v)",
			via, probeWithin, pc.id, deactivated, revoked)
	}
	acked := time.Now()

	out := make([]time.Duration, n)
	split := make([]string, n)
	for i := range n {
		out[i] = -1
		if !l.c.alive(i) {
			split[i] = fmt.Sprintf("node %d down", i)
			continue
		}
		wg.Go(func() {
			// When the node first refused the client's token request, and
			// first found the token inactive; each must hold from then on.
			var refused, inactive time.Duration
			for confirm := 0; confirm < 3; {
				if !l.c.alive(i) {
					split[i] = fmt.Sprintf("node %d went down", i)
					return
				}
				_, err := l.ccToken(pc, i)
				active, ierr := l.introspect(at, i)
				now := time.Since(acked)
				switch {
				case refused > 0 && err == nil, inactive > 0 && ierr == nil && active:
					t.Errorf("node %d refused the deactivated client %s or the revoked token, then accepted it again (token error %v, active %v)",
						i, pc.id, err, active)
					return
				case refused == 0 && isInvalidClient(err):
					refused = now
				}
				if inactive == 0 && ierr == nil && !active {
					inactive = now
				}
				if refused > 0 && inactive > 0 {
					confirm++
					continue
				}
				if now > probeWithin {
					out[i] = now
					t.Errorf("node %d, %s after the writes, still answers the deactivated client %s with %v and the revoked token: active %v (%v)",
						i, now.Round(time.Millisecond), pc.id, err, active, ierr)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
			out[i] = max(refused, inactive)
			split[i] = fmt.Sprintf("node %d refused the client after %s, the token after %s", i, refused.Round(100*time.Microsecond), inactive.Round(100*time.Microsecond))
		})
	}
	wg.Wait()
	t.Logf("probe through node %d: %s", via, strings.Join(split, "; "))
	return out
}

// probeWithin bounds each wait of the probe.
const probeWithin = 60 * time.Second

// retry calls cond until it holds, at most for within, and reports
// whether it did.
func retry(within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// probeClient is the next probe client, registered through node via when
// those of the setup are used up.
func (l *oauthLoad) probeClient(t *testing.T, via int) oauthClient {
	t.Helper()
	l.mu.Lock()
	k := l.probed
	l.probed++
	l.mu.Unlock()
	if k < len(l.probes) {
		return l.probes[k]
	}
	var pc oauthClient
	poll.Until(t, probeWithin, "a new probe client through node "+fmt.Sprint(via), func() bool {
		code, _, data, err := l.c.node(via).try(http.MethodPost, "/t/"+l.slug+"/admin/clients", newClientBody(fmt.Sprintf("urn:%s/oauth-probe-%d", l.slug, k)))
		var out struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err != nil || code != http.StatusCreated || json.Unmarshal(data, &out) != nil {
			return false
		}
		pc = oauthClient{id: out.ClientID, secret: out.ClientSecret}
		return true
	})
	return pc
}

// ccToken is a client_credentials token of c from node.
func (l *oauthLoad) ccToken(c oauthClient, node int) (string, error) {
	cfg := clientcredentials.Config{ClientID: c.id, ClientSecret: c.secret, TokenURL: l.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cfg.Token(l.ctxAt(node))
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// isInvalidClient reports whether err is the token endpoint refusing the
// client (RFC 6749 §5.2 invalid_client).
func isInvalidClient(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_client"
}

// introspect asks node, as the m2m client, whether token is active.
func (l *oauthLoad) introspect(token string, node int) (bool, error) {
	req := postForm(l.issuer+"/oauth2/introspect", url.Values{"token": {token}})
	req.SetBasicAuth(url.QueryEscape(l.m2m.id), url.QueryEscape(l.m2m.secret))
	res, err := l.httpAt(node, nil, nil).Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	var out struct {
		Active *bool `json:"active"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK || out.Active == nil {
		return false, fmt.Errorf("introspection at node %d: %d (%v)", node, res.StatusCode, err)
	}
	return *out.Active, nil
}

// revoke revokes the m2m client's token at node (RFC 7009).
func (l *oauthLoad) revoke(token string, node int) error {
	req := postForm(l.issuer+"/oauth2/revoke", url.Values{"token": {token}})
	req.SetBasicAuth(url.QueryEscape(l.m2m.id), url.QueryEscape(l.m2m.secret))
	res, err := l.httpAt(node, nil, nil).Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation at node %d: %d", node, res.StatusCode)
	}
	return nil
}

// oauthSummary is what the outcomes of one kind of request in a window
// say.
type oauthSummary struct {
	Kind string
	// Requests sent; OK as expected; Errors are the others to nodes
	// that were up; NodeDown the others.
	Requests, OK, Errors, NodeDown int
	// ErrorRate is Errors over the requests to nodes that were up.
	ErrorRate float64
	// Outage is the longest run of failures at nodes that were up: from
	// the first failure's sending to the next success's answer (or the
	// last failure's, when none followed); OutageAt is when it began.
	Outage   time.Duration
	OutageAt time.Time
	// FirstErr is one of the errors, for the report.
	FirstErr string
}

// summarizeOutcomes summarises, per kind and for all kinds ("all"), the
// outcomes of requests sent in [from, to) (a zero from or to leaves
// that end open).
func summarizeOutcomes(outs []oauthOutcome, from, to time.Time) []oauthSummary {
	byKind := map[string][]oauthOutcome{}
	for _, o := range outs {
		if o.Sent.Before(from) || !to.IsZero() && !o.Sent.Before(to) {
			continue
		}
		byKind[o.Kind] = append(byKind[o.Kind], o)
		byKind["all"] = append(byKind["all"], o)
	}
	var sums []oauthSummary
	for kind, os := range byKind {
		sort.Slice(os, func(i, j int) bool { return os[i].Sent.Before(os[j].Sent) })
		s := oauthSummary{Kind: kind, Requests: len(os)}
		var runFrom, runTo time.Time
		endRun := func(end time.Time) {
			if !runFrom.IsZero() && end.Sub(runFrom) > s.Outage {
				s.Outage, s.OutageAt = end.Sub(runFrom), runFrom
			}
			runFrom = time.Time{}
		}
		for _, o := range os {
			switch {
			case o.OK:
				s.OK++
				endRun(o.Done)
			case o.NodeDown:
				s.NodeDown++
			default:
				s.Errors++
				if s.FirstErr == "" {
					s.FirstErr = fmt.Sprintf("node %d: %d %s", o.Node, o.Status, o.Err)
				}
				if runFrom.IsZero() {
					runFrom = o.Sent
				}
				runTo = o.Done
			}
		}
		endRun(runTo)
		if up := s.Requests - s.NodeDown; up > 0 {
			s.ErrorRate = float64(s.Errors) / float64(up)
		}
		sums = append(sums, s)
	}
	sort.Slice(sums, func(i, j int) bool {
		if (sums[i].Kind == "all") != (sums[j].Kind == "all") {
			return sums[j].Kind == "all"
		}
		return sums[i].Kind < sums[j].Kind
	})
	return sums
}

// summarize is summarizeOutcomes as a table, with the requests per
// second of the window.
func summarize(outs []oauthOutcome, from, to time.Time) string {
	sums := summarizeOutcomes(outs, from, to)
	// An open window runs from its first request to its last answer.
	lo, hi := from, to
	for _, o := range outs {
		if !from.IsZero() && o.Sent.Before(from) || !to.IsZero() && !o.Sent.Before(to) {
			continue
		}
		if from.IsZero() && (lo.IsZero() || o.Sent.Before(lo)) {
			lo = o.Sent
		}
		if to.IsZero() && o.Done.After(hi) {
			hi = o.Done
		}
	}
	var b strings.Builder
	secs := hi.Sub(lo).Seconds()
	fmt.Fprintf(&b, "%-18s %8s %7s %7s %8s %9s %10s\n", "kind", "requests", "per s", "errors", "node down", "err rate", "outage")
	for _, s := range sums {
		fmt.Fprintf(&b, "%-18s %8d %7.1f %7d %8d %8.2f%% %10s\n", s.Kind, s.Requests, float64(s.Requests)/max(secs, 1e-9),
			s.Errors, s.NodeDown, 100*s.ErrorRate, s.Outage.Round(time.Millisecond))
	}
	for _, s := range sums {
		if s.FirstErr != "" && s.Kind != "all" {
			fmt.Fprintf(&b, "  %s, e.g. %.300s\n", s.Kind, s.FirstErr)
		}
	}
	return b.String()
}
