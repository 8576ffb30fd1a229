package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// The steps of a flow, in order; the report names them so.
const (
	stepAuthorize = iota
	stepLoginAccept
	stepLoginReturn
	stepConsentAccept
	stepConsentReturn
	stepToken
)

var flowSteps = []string{"authorize", "login-accept", "login-return", "consent-accept", "consent-return", "token"}

// flowPlan is a flow or refresh run: the clients, the user, and the
// constant parts of the requests, made once.
type flowPlan struct {
	loadRun
	// origin is the endpoint's scheme and host, where every request
	// goes; tenantPath is the tenant's path there, tenantURL both.
	origin, tenantPath, tenantURL string
	// authorize is the authorization request's path and query but for
	// state and code_challenge.
	authorize   string
	redirectURI *url.URL
	// The web client's credentials: an Authorization header, or a part
	// of the form body (--auth post).
	clientAuth, clientPostAuth string
	// loginAuth is the login application's Authorization header at the
	// token endpoint.
	loginAuth string
	// The bodies of the login and consent acceptances.
	loginAccept, consentAccept []byte
	refresh                    bool
	chain                      int // refreshes per chain; 0: no end
}

// flowPlan checks the flags of flow and refresh, reporting every problem
// at once, and builds what every worker sends.
func (o *benchOptions) flowPlan(cmd benchCommand) (*flowPlan, error) {
	errs := o.check()
	redirect, err := url.Parse(o.redirectURI)
	switch {
	case o.redirectURI == "":
		errs = append(errs, errors.New("--redirect-uri is required: a redirect URI the client registered"))
	case err != nil || redirect.Scheme == "" || redirect.Host == "" && redirect.Opaque == "":
		errs = append(errs, fmt.Errorf("--redirect-uri %q is not an absolute URI", o.redirectURI))
	}
	if o.loginClientID == "" {
		errs = append(errs, errors.New("--login-client-id is required: the login application's client, holding clavis:login"))
	}
	if o.loginClientSecret == "" {
		errs = append(errs, errors.New("--login-client-secret is required"))
	}
	if o.subject == "" {
		errs = append(errs, errors.New("--subject must not be empty"))
	}
	if o.chain < 0 {
		errs = append(errs, fmt.Errorf("--chain must not be negative, not %d", o.chain))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	endpoint, _ := url.Parse(strings.TrimRight(o.endpoint, "/"))
	p := &flowPlan{
		loadRun:     loadRun{concurrency: o.concurrency, warmup: o.warmup, duration: o.duration},
		origin:      endpoint.Scheme + "://" + endpoint.Host,
		tenantPath:  endpoint.EscapedPath() + "/t/" + url.PathEscape(o.tenant),
		tenantURL:   o.tenantURL(),
		redirectURI: redirect,
		loginAuth:   basicAuth(o.loginClientID, o.loginClientSecret),
		refresh:     cmd.name == "refresh",
		chain:       o.chain,
	}
	if !p.refresh {
		p.steps = flowSteps
	}
	q := "response_type=code&client_id=" + url.QueryEscape(o.clientID) + "&redirect_uri=" + url.QueryEscape(o.redirectURI)
	scopes := strings.Fields(o.scope)
	if len(scopes) > 0 {
		q += "&scope=" + url.QueryEscape(strings.Join(scopes, " "))
	}
	p.authorize = p.tenantPath + "/oauth2/auth?" + q + "&code_challenge_method=S256"
	if o.auth == "post" {
		p.clientPostAuth = o.postAuth()
	} else {
		p.clientAuth = basicAuth(o.clientID, o.clientSecret)
	}
	p.loginAccept, _ = json.Marshal(map[string]any{"subject": o.subject})
	consent := map[string]any{}
	if len(scopes) > 0 {
		consent["grant_scope"] = scopes
	}
	p.consentAccept, _ = json.Marshal(consent)
	return p, nil
}

// runFlows runs p's workers, each a browser of its own, and returns what
// they measured.
func runFlows(ctx context.Context, p *flowPlan) (loadResult, error) {
	client := loadClient(p.concurrency)
	defer client.CloseIdleConnections()
	return runWorkers(ctx, p.loadRun, func(int) loadOp {
		b := &browser{p: p, c: client, req: &fasthttp.Request{}, resp: &fasthttp.Response{}}
		if p.refresh {
			return (*refresher)(b)
		}
		b.steps = make([]time.Duration, len(flowSteps))
		return (*flower)(b)
	})
}

// browser is one worker: a browser with cookies of its own, the login
// application's token, and, for refresh, the chain it follows.
type browser struct {
	p         *flowPlan
	c         *fasthttp.Client
	req       *fasthttp.Request
	resp      *fasthttp.Response
	jar       []jarCookie
	steps     []time.Duration // of the flow under way; nil when not reported
	loginAT   string          // the login application's access token
	loginTill time.Time       // when to get a new one

	refreshToken string // the chain's newest
	refreshes    int    // in the chain so far
}

// jarCookie is a cookie the browser keeps. The node is one site, so only
// the path decides where a cookie goes.
type jarCookie struct{ name, value, path string }

// flower runs whole flows (bench flow).
type flower browser

func (f *flower) do(ctx context.Context) opOutcome {
	b := (*browser)(f)
	clear(b.steps)
	_, out := b.flow(ctx)
	out.steps = b.steps
	return out
}

// refresher follows a refresh chain (bench refresh).
type refresher browser

func (r *refresher) do(ctx context.Context) opOutcome {
	b := (*browser)(r)
	var setup time.Duration
	if b.refreshToken == "" || b.p.chain > 0 && b.refreshes >= b.p.chain {
		began := time.Now()
		tok, out := b.flow(ctx)
		if out.failure != "" {
			out.failure = "chain " + out.failure
			return out
		}
		if tok.RefreshToken == "" {
			return b.failure("chain token", "no refresh_token", nil)
		}
		b.refreshToken, b.refreshes = tok.RefreshToken, 0
		setup = time.Since(began)
	}
	if ctx.Err() != nil {
		return opOutcome{failure: "cancelled"}
	}
	err := b.post(b.p.tenantPath+"/oauth2/token", b.p.clientAuth, "application/x-www-form-urlencoded",
		"grant_type=refresh_token&refresh_token="+url.QueryEscape(b.refreshToken)+b.p.clientPostAuth)
	tok, ok := b.tokens(err)
	if !ok || tok.RefreshToken == "" {
		out := b.failure("", "", err)
		out.setup = setup
		// A refresh refused for the moment used nothing up: the
		// chain goes on. After any other failure it may be spent.
		if s := b.resp.StatusCode(); err != nil || s != fasthttp.StatusTooManyRequests && s != fasthttp.StatusServiceUnavailable {
			b.refreshToken = ""
		}
		return out
	}
	b.refreshToken = tok.RefreshToken
	b.refreshes++
	return opOutcome{setup: setup}
}

// tokenAnswer is what the token endpoint answers.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// tokens reads the token endpoint's answer to the request just sent:
// ok when it is 200 with an access token.
func (b *browser) tokens(err error) (tokenAnswer, bool) {
	var tok tokenAnswer
	if err != nil || b.resp.StatusCode() != fasthttp.StatusOK {
		return tok, false
	}
	if json.Unmarshal(b.resp.Body(), &tok) != nil || tok.AccessToken == "" {
		return tok, false
	}
	return tok, true
}

// flow runs one authorization code flow, from the authorization request
// to the code's exchange, recording each step's latency in b.steps when
// it is not nil. It returns the exchange's tokens.
func (b *browser) flow(ctx context.Context) (tokenAnswer, opOutcome) {
	b.jar = b.jar[:0] // each flow a new user's browser
	verifier, state := randomString(32), randomString(16)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])

	loc, out := b.redirect(stepAuthorize, b.p.authorize+"&state="+state+"&code_challenge="+challenge)
	if out != nil {
		return tokenAnswer{}, *out
	}
	lc := loc.Query().Get("login_challenge")
	if lc == "" {
		return tokenAnswer{}, b.unexpected(stepAuthorize, loc)
	}
	if out := b.loginToken(); out != nil {
		return tokenAnswer{}, *out
	}
	next, out := b.accept(ctx, stepLoginAccept, "login-requests", lc, b.p.loginAccept)
	if out != nil {
		return tokenAnswer{}, *out
	}
	if loc, out = b.redirect(stepLoginReturn, next); out != nil {
		return tokenAnswer{}, *out
	}
	last := stepLoginReturn
	// A client that asks no consent gets its code now.
	if cc := loc.Query().Get("consent_challenge"); cc != "" {
		if next, out = b.accept(ctx, stepConsentAccept, "consent-requests", cc, b.p.consentAccept); out != nil {
			return tokenAnswer{}, *out
		}
		if loc, out = b.redirect(stepConsentReturn, next); out != nil {
			return tokenAnswer{}, *out
		}
		last = stepConsentReturn
	}
	code := b.code(loc, state)
	if code == "" {
		return tokenAnswer{}, b.unexpected(last, loc)
	}
	if ctx.Err() != nil {
		return tokenAnswer{}, opOutcome{failure: "cancelled"}
	}
	began := time.Now()
	err := b.post(b.p.tenantPath+"/oauth2/token", b.p.clientAuth, "application/x-www-form-urlencoded",
		"grant_type=authorization_code&code="+url.QueryEscape(code)+"&redirect_uri="+url.QueryEscape(b.p.redirectURI.String())+
			"&code_verifier="+verifier+b.p.clientPostAuth)
	b.took(stepToken, began)
	tok, ok := b.tokens(err)
	if !ok {
		return tok, b.failure(flowSteps[stepToken], "", err)
	}
	return tok, opOutcome{}
}

// code is the code at loc when loc is the client's redirect URI with
// the flow's state.
func (b *browser) code(loc *url.URL, state string) string {
	r := b.p.redirectURI
	if loc.Scheme != r.Scheme || loc.Host != r.Host || loc.Path != r.Path || loc.Opaque != r.Opaque {
		return ""
	}
	q := loc.Query()
	if q.Get("state") != state {
		return ""
	}
	return q.Get("code")
}

// unexpected is the failure of a step whose redirect went to loc, where
// the flow cannot go on: an OAuth error at the client, or elsewhere.
func (b *browser) unexpected(step int, loc *url.URL) opOutcome {
	what := ""
	if e := loc.Query().Get("error"); e != "" {
		what = "error=" + e
	}
	return b.failure(flowSteps[step], what, nil)
}

// redirect sends the browser's GET to target (a path and query at the
// endpoint, or a URL whose path and query are sent there) and returns
// where the answer, a redirect, sends the browser.
func (b *browser) redirect(step int, target string) (*url.URL, *opOutcome) {
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil {
			out := b.failure(flowSteps[step-1], "bad redirect_to", nil)
			return nil, &out
		}
		target = u.RequestURI()
	}
	began := time.Now()
	b.req.Reset()
	b.req.SetRequestURI(b.p.origin + target)
	path := b.req.URI().Path()
	for _, c := range b.jar {
		if pathMatch(string(path), c.path) {
			b.req.Header.SetCookie(c.name, c.value)
		}
	}
	err := b.c.Do(b.req, b.resp)
	b.took(step, began)
	if err != nil {
		out := b.failure(flowSteps[step], "", err)
		return nil, &out
	}
	b.keepCookies(string(path))
	s := b.resp.StatusCode()
	loc, perr := url.Parse(string(b.resp.Header.Peek(fasthttp.HeaderLocation)))
	if s != fasthttp.StatusFound && s != fasthttp.StatusSeeOther || perr != nil || loc.String() == "" {
		out := b.failure(flowSteps[step], "", nil)
		return nil, &out
	}
	return loc, nil
}

// accept answers a login or consent challenge as the login application
// does, and returns where it sends the browser.
func (b *browser) accept(ctx context.Context, step int, kind, challenge string, body []byte) (string, *opOutcome) {
	if ctx.Err() != nil {
		return "", &opOutcome{failure: "cancelled"}
	}
	began := time.Now()
	err := b.post(b.p.tenantPath+"/admin/"+kind+"/"+url.PathEscape(challenge)+"/accept", "Bearer "+b.loginAT, "application/json", string(body))
	b.took(step, began)
	var answer struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err == nil && b.resp.StatusCode() == fasthttp.StatusOK && json.Unmarshal(b.resp.Body(), &answer) == nil && answer.RedirectTo != "" {
		return answer.RedirectTo, nil
	}
	if err == nil && b.resp.StatusCode() == fasthttp.StatusUnauthorized {
		b.loginAT = "" // expired or revoked: the next flow gets another
	}
	out := b.failure(flowSteps[step], "", err)
	return "", &out
}

// loginToken gets the login application a token when it has none or
// its token is past half its life.
func (b *browser) loginToken() *opOutcome {
	if b.loginAT != "" && time.Now().Before(b.loginTill) {
		return nil
	}
	began := time.Now()
	err := b.post(b.p.tenantPath+"/oauth2/token", b.p.loginAuth, "application/x-www-form-urlencoded", "grant_type=client_credentials")
	tok, ok := b.tokens(err)
	if !ok {
		out := b.failure("login-token", "", err)
		return &out
	}
	b.loginAT = tok.AccessToken
	b.loginTill = began.Add(time.Duration(tok.ExpiresIn) * time.Second / 2)
	return nil
}

// post sends a POST of body to path at the endpoint, with the
// Authorization header auth when not empty and no cookies (the token
// endpoint and the login API are called by servers, not the browser).
func (b *browser) post(path, auth, contentType, body string) error {
	b.req.Reset()
	b.req.SetRequestURI(b.p.origin + path)
	b.req.Header.SetMethod(fasthttp.MethodPost)
	b.req.Header.SetContentType(contentType)
	b.req.Header.Set(fasthttp.HeaderAccept, "application/json")
	if auth != "" {
		b.req.Header.Set(fasthttp.HeaderAuthorization, auth)
	}
	b.req.SetBodyString(body)
	return b.c.Do(b.req, b.resp)
}

// took records a step's latency.
func (b *browser) took(step int, began time.Time) {
	if b.steps != nil {
		b.steps[step] = time.Since(began)
	}
}

// failure is the failure of step with the answer just received (or
// err): its kind is the step and what went wrong (what, else the
// status, or transport).
func (b *browser) failure(step, what string, err error) opOutcome {
	kind := what
	switch {
	case err != nil:
		kind = "transport"
	case what == "":
		kind = strconv.Itoa(b.resp.StatusCode())
	}
	if step != "" {
		kind = step + " " + kind
	}
	return opOutcome{failure: kind, describe: func() string {
		var d strings.Builder
		if step != "" {
			d.WriteString(step + ": ")
		}
		if err == nil {
			if loc := b.resp.Header.Peek(fasthttp.HeaderLocation); len(loc) > 0 {
				fmt.Fprintf(&d, "Location %s\n", loc)
			}
		}
		d.WriteString(describeFailure(err, b.resp.StatusCode(), b.resp.Body()))
		return d.String()
	}}
}

// keepCookies keeps the cookies the answer to a request for path set,
// and forgets those it deleted.
func (b *browser) keepCookies(path string) {
	for _, v := range b.resp.Header.PeekAll(fasthttp.HeaderSetCookie) {
		c, err := http.ParseSetCookie(string(v))
		if err != nil {
			continue
		}
		cpath := c.Path
		if cpath == "" || cpath[0] != '/' { // RFC 6265 §5.1.4, the default path
			cpath = path[:max(strings.LastIndexByte(path, '/'), 1)]
		}
		b.jar = slices.DeleteFunc(b.jar, func(j jarCookie) bool { return j.name == c.Name && j.path == cpath })
		if c.MaxAge >= 0 && (c.Expires.IsZero() || c.Expires.After(time.Now())) {
			b.jar = append(b.jar, jarCookie{name: c.Name, value: c.Value, path: cpath})
		}
	}
}

// pathMatch is RFC 6265 §5.1.4's path-match: whether a cookie of
// cookiePath goes with a request for path.
func pathMatch(path, cookiePath string) bool {
	if !strings.HasPrefix(path, cookiePath) {
		return false
	}
	return len(path) == len(cookiePath) || strings.HasSuffix(cookiePath, "/") || path[len(cookiePath)] == '/'
}

// randomString is n random bytes, base64url-encoded: a PKCE verifier
// (RFC 7636 §4.1: 32 bytes make 43 characters) or a state.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
