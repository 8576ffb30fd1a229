package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
)

// The authorization endpoint: how a request goes from the browser to the
// login application (challenge.go) and back, and to the client with a
// code or tokens. What it remembers in between is a flow (flow.go); what
// the tokens say of the user, the claims (claims.go).

// WithDevLogin sends the browsers of tenants without a login application
// to the built-in development login page at {issuer}/dev/login, which
// lets anyone in as whoever they say. For `make run` only.
func WithDevLogin() Option {
	return func(o *options) error {
		o.devLogin = true
		return nil
	}
}

// DevLogin reports whether the development login page is served.
func (p *Provider) DevLogin() bool { return p.devLogin && p.grants != nil }

// Authorizes reports whether the authorization endpoint is served.
func (p *Provider) Authorizes() bool { return p.grants != nil }

// ServeAuthorize is tenant slug's authorization endpoint (RFC 6749
// §3.1, OpenID Connect Core §3). For a tenant that does not exist it
// writes nothing and returns [ErrUnknownTenant]. Its steps write only
// what succeeds; what fails they return, and it is answered here, in
// one place (writeAuthorizeError).
func (p *Provider) ServeAuthorize(w http.ResponseWriter, r *http.Request, slug string) error {
	a := &authorization{w: w, r: r, ar: fosite.NewAuthorizeRequest()}
	ctx, err := p.withTenant(r.Context(), slug)
	switch {
	case errors.Is(err, ErrUnknownTenant):
		return err
	case err != nil:
		a.ctx, err = r.Context(), fosite.ErrServerError.WithWrap(err)
	default:
		a.ctx = ctx
		err = p.authorize(a)
	}
	if err != nil {
		p.writeAuthorizeError(a.ctx, w, a.ar, err)
	}
	return nil
}

// authorization is one request at the authorization endpoint, as its
// steps learn it.
type authorization struct {
	ctx context.Context // the tenant's (see withTenant)
	w   http.ResponseWriter
	r   *http.Request
	// ar is the request as fosite read it; until then an empty one,
	// whose errors go to the browser, not to a redirect URI.
	ar fosite.AuthorizeRequester
	c  *fositeClient
	// fl is the flow the request continues (the browser brought back a
	// verifier) or began; rev is its revision, 0 for a flow this request
	// made and has not stored yet.
	fl     *flow
	rev    uint64
	prompt []string
	// used, when set, is called once the request's compare-and-set has
	// used its flow's verifier up (see startLoginSession).
	used func()
}

// usedUp calls a.used, once.
func (a *authorization) usedUp() {
	if a.used != nil {
		a.used()
		a.used = nil
	}
}

// authorize runs the steps of an authorization request: read it, check
// it, then begin a flow or continue the one it brought back.
func (p *Provider) authorize(a *authorization) error {
	if p.grants == nil {
		return fosite.ErrServerError.WithHint("The authorization endpoint is not served.")
	}
	if err := p.readAuthorizeRequest(a); err != nil {
		return err
	}
	if err := p.checkClientRequest(a); err != nil {
		return err
	}
	if a.fl == nil {
		return p.beginFlow(a)
	}
	return p.continueFlow(a)
}

// readAuthorizeRequest parses the request, or the one a verifier stands
// for, and has fosite read it (a.ar).
func (p *Provider) readAuthorizeRequest(a *authorization) error {
	r := a.r
	if err := r.ParseForm(); err != nil {
		return fosite.ErrInvalidRequest.WithHint("The request could not be parsed.")
	}
	// The browser coming back from the login application brings a
	// verifier, which stands for the request it left with.
	for _, kind := range []string{challengeLogin, challengeConsent} {
		if v := r.Form.Get(kind + "_verifier"); v != "" {
			fl, rev, err := p.verifierFlow(a.ctx, kind, v)
			if err == nil && !p.sameBrowser(r, fl) {
				err = errors.New("the verifier came from another browser than the request")
			}
			if err != nil {
				return fosite.ErrInvalidRequest.WithHint("The verifier is not valid, expired or was used.").WithWrap(err)
			}
			a.fl, a.rev = fl, rev
			r.Method = http.MethodGet
			r.URL.RawQuery = fl.Query
			r.Form, r.PostForm = nil, nil
			break
		}
	}

	// Request objects (OpenID Connect Core §6) are not supported: fosite
	// would take an unsigned one's parameters over the request's own.
	// They never reach it; the request is refused once its redirect URI
	// is known.
	var objectErr error
	if a.fl == nil {
		switch {
		case r.Form.Has("request"):
			objectErr = fosite.ErrRequestNotSupported.WithHint("Request objects are not supported.")
		case r.Form.Has("request_uri"):
			objectErr = fosite.ErrRequestURINotSupported.WithHint("Request objects are not supported.")
		}
		// Only the parameters of an authorization request go on (RFC
		// 6749 §3.1 has the server ignore the others), as a GET: what
		// fosite reads, and what a flow or a code keeps, is no more than
		// that.
		r.Method = http.MethodGet
		r.URL.RawQuery = authorizeParameters(r.Form).Encode()
		r.Form, r.PostForm, r.Body = nil, nil, http.NoBody
		r.Header.Del("Content-Type")
	}
	ar, err := authorizeOnce(p.fosite.NewAuthorizeRequest(a.ctx, r))
	a.ar = ar
	if err == nil && ar.GetRequestForm().Get("audience") != "" {
		err = errAudience
	}
	if err == nil && objectErr != nil {
		err = objectErr
	}
	return err
}

// checkClientRequest checks what fosite read against the client (a.c):
// its exact redirect URI, what checkAuthorizeRequest adds and, for a new
// request, the parameters' sizes.
func (p *Provider) checkClientRequest(a *authorization) error {
	a.c = a.ar.GetClient().(*fositeClient)
	if !slices.Contains(a.c.view.Settings.RedirectURIs, a.ar.GetRedirectURI().String()) {
		return fosite.ErrInvalidRequest.WithHint("The redirect_uri is not one the client registered.")
	}
	if err := p.checkAuthorizeRequest(a.ar, a.c); err != nil {
		return err
	}
	if a.fl == nil {
		if err := checkParameterSizes(a.r.URL.RawQuery, a.r.URL.Query()); err != nil {
			return err
		}
	}
	a.prompt = strings.Fields(a.ar.GetRequestForm().Get("prompt"))
	return nil
}

// beginFlow makes a new request's flow and sends the browser to the
// login application, or, when the user's login session already
// authenticated them, goes on at once.
func (p *Provider) beginFlow(a *authorization) error {
	now := p.now()
	fl := &flow{ID: uuid.NewString(), ClientID: a.c.GetID(), Query: a.r.URL.RawQuery, Expires: now.Add(flowLifetime),
		Stage: stageLogin, Created: now.UTC().Truncate(time.Second)}
	a.fl = fl
	sess, ok, err := p.loginSession(a.ctx, a.r, a.ar)
	if err != nil {
		return err
	}
	if ok && !slices.Contains(a.prompt, "login") {
		fl.Skip, fl.Login, fl.AuthTime, fl.SessionID, fl.Stage = true, &sess.Login, sess.AuthTime, sess.ID, stageLoggedIn
	} else if slices.Contains(a.prompt, "none") {
		return fosite.ErrLoginRequired.WithHint("The user is not logged in.")
	}
	// From here on the request stores something, a flow or a code,
	// whether a login session skips the login application or not: the
	// same limits hold for both.
	req, _ := requestOf(a.ctx)
	if wait, ok := p.allowFlow(req.tenant.Slug, fl.ClientID, a.r.RemoteAddr); !ok {
		return &refusal{status: http.StatusTooManyRequests, wait: wait,
			hint: "Too many authorization requests from this client or address; retry later."}
	}
	if !fl.Skip {
		return p.sendToLoginApp(a, challengeLogin)
	}
	return p.continueFlow(a)
}

// continueFlow takes the flow on from its stage: to the client with the
// login application's rejection, to consent, or to the client with what
// it asked for.
func (p *Provider) continueFlow(a *authorization) error {
	fl := a.fl
	switch fl.Stage {
	case stageRejected:
		// A rejection is the flow's answer only if its verifier uses the
		// flow up: another answer's verifier may have used it first
		// (requests racing, or a node that held the flow as it wrote
		// it), and the client must not get an error for a flow that
		// went on.
		if err := p.useFlow(a); err != nil {
			return err
		}
		forgetFlowCookie(a)
		return rejection(fl.Rejection)
	case stageLoggedIn:
		if !fl.Skip && fl.Login.Remember {
			setCookie, err := p.startLoginSession(a.ctx, a.w, fl)
			if err != nil {
				return whenFull(fosite.ErrServerError.WithWrap(err))
			}
			a.used = setCookie
		}
		if needsConsent(a.c) {
			return p.askConsent(a)
		}
		fl.GrantedScopes = a.ar.GetRequestedScopes()
	case stageConsented:
	default:
		return fosite.ErrInvalidRequest.WithHint("The verifier is not valid, expired or was used.")
	}
	if err := p.useFlow(a); err != nil {
		return err
	}
	a.usedUp()
	forgetFlowCookie(a)
	return p.issue(a)
}

// useFlow uses a's flow up, the one use of the verifier the browser
// brought back: the verifier was used when another request used the
// flow first.
func (p *Provider) useFlow(a *authorization) error {
	err := p.finish(a.ctx, a.fl, a.rev)
	if err != nil && !IsUnavailable(err) {
		return fosite.ErrInvalidRequest.WithHint("The verifier was used.").WithWrap(err)
	}
	return err
}

// forgetFlowCookie tells the browser to drop the cookie of the flow a
// finished: a browser running many flows (a single-page application
// renewing its tokens) would otherwise carry one for each for 30
// minutes, until its requests grew past what the server reads.
func forgetFlowCookie(a *authorization) {
	if req, err := requestOf(a.ctx); err == nil && a.rev != 0 {
		setCookie(a.w, req.issuer, flowCookie(a.fl.ID), "", "/oauth2/auth", -1)
	}
}

// askConsent sends the browser of a user who logged in to the login
// application for consent.
func (p *Provider) askConsent(a *authorization) error {
	if slices.Contains(a.prompt, "none") {
		return fosite.ErrConsentRequired.WithHint("The client needs the user's consent.")
	}
	a.fl.Stage = stageConsent
	if a.rev == 0 { // a flow this request made: store it first
		if err := p.sendToLoginApp(a, challengeConsent); err != nil {
			return err
		}
		a.usedUp()
		return nil
	}
	a.fl.Verifier = ""
	if err := p.saveFlow(a.ctx, a.fl, a.rev); err != nil {
		return fosite.ErrInvalidRequest.WithHint("The verifier was used.").WithWrap(err)
	}
	a.usedUp()
	return p.redirectToLoginApp(a, challengeConsent)
}

// checkAuthorizeRequest adds what fosite leaves to the server, or
// checks only when it answers (after the user logged in): response
// types that return tokens from the authorization endpoint need the
// client's allow_access_tokens_via_browser; a code needs PKCE from a
// public client and from a client that requires it, with S256 unless a
// confidential client allows plain.
func (p *Provider) checkAuthorizeRequest(ar fosite.AuthorizeRequester, c *fositeClient) error {
	s := c.view.Settings
	if ar.GetResponseTypes().Has("token") && !s.AllowAccessTokensViaBrowser {
		return fosite.ErrUnsupportedResponseType.WithHint("The client may not receive access tokens from the authorization endpoint.")
	}
	if !ar.GetResponseTypes().Has("code") {
		return nil
	}
	challenge, method := ar.GetRequestForm().Get("code_challenge"), ar.GetRequestForm().Get("code_challenge_method")
	switch {
	case challenge == "" && method == "" && (c.IsPublic() || s.RequirePKCE):
		return fosite.ErrInvalidRequest.WithHint("This client must send a code_challenge (PKCE).")
	case challenge == "" && method == "":
	case method == "S256":
	case (method == "plain" || method == "") && s.AllowPlainPKCE && !c.IsPublic():
	default:
		return fosite.ErrInvalidRequest.WithHint("The code_challenge_method must be S256.")
	}
	return nil
}

// needsConsent reports whether the user is asked: for a client that
// requires consent, never for a first-party one.
func needsConsent(c *fositeClient) bool {
	return c.view.Settings.ConsentRequired && !c.view.Settings.FirstParty
}

// writeAuthorizeError answers an error of the authorization endpoint: at
// the client's redirect URI when the request named one the client
// registered (exactly), otherwise to the browser, as a page. A
// [refusal] always goes to the browser.
func (p *Provider) writeAuthorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	var refused *refusal
	if errors.As(err, &refused) {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, refused.wait+time.Second-1)/time.Second)))
		ar, err = fosite.NewAuthorizeRequest(), refused.rfc6749()
	}
	// A store that cannot be reached is temporarily_unavailable (RFC 6749
	// §4.1.2.1), whatever the step made of it: at the client's redirect
	// URI once it is verified, as other errors, or on a 503 page that
	// says when to try again.
	err = StoreUnavailable(err)
	if IsUnavailable(err) {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
	}
	p.logServerError(ctx, "authorization endpoint", err)
	if req, ok := ar.(*fosite.AuthorizeRequest); ok && req.RedirectURI != nil {
		c, isOurs := req.Client.(*fositeClient)
		if !isOurs || !slices.Contains(c.view.Settings.RedirectURIs, req.RedirectURI.String()) {
			req.RedirectURI = nil
		}
	}
	if ar.IsRedirectURIValid() {
		p.redirectAuthorizeError(ctx, w, ar, err)
		return
	}
	authorizeErrorPage(w, err)
}

// refusal is an authorization request refused for now, before it stored
// a flow: answered to the browser with status, temporarily_unavailable
// and a Retry-After of wait (at least a second).
type refusal struct {
	status int
	wait   time.Duration
	hint   string
	cause  error // why, if not nil: logged with server errors
}

func (e *refusal) Error() string { return e.hint }

func (e *refusal) rfc6749() *fosite.RFC6749Error {
	err := fosite.ErrTemporarilyUnavailable.WithHint(e.hint)
	if e.cause != nil {
		err = err.WithWrap(e.cause)
	}
	err.CodeField = e.status
	return err
}

// redirectAuthorizeError sends an error to the client's redirect URI as
// fosite would, in the request's response mode, with the issuer's iss
// (RFC 9207): an authorization response, error or not, says which
// issuer it comes from, so that a client of several issuers (here, every
// tenant shares the host) is not mixed up. fosite has no place for it,
// so the error's parameters go out as a response of their own.
func (p *Provider) redirectAuthorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err).WithLegacyFormat(p.fosite.Config.GetUseLegacyErrorFormat(ctx)).
		WithExposeDebug(p.fosite.Config.GetSendDebugMessagesToClients(ctx))
	resp := &fosite.AuthorizeResponse{Header: http.Header{}, Parameters: rfc.ToValues()}
	if state := ar.GetState(); state != "" {
		resp.AddParameter("state", state)
	}
	if req, err := requestOf(ctx); err == nil {
		resp.AddParameter("iss", req.issuer)
	}
	formPostHeaders(w, ar)
	p.fosite.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// sendToLoginApp stores the request's new flow and sends the browser to
// the login application with a challenge of kind; the request passed
// allowFlow.
func (p *Provider) sendToLoginApp(a *authorization, kind string) error {
	req, _ := requestOf(a.ctx)
	secret := newSecret()
	sum := sha256.Sum256([]byte(secret))
	a.fl.Browser = hex.EncodeToString(sum[:])
	if err := p.createFlow(a.ctx, a.fl); errors.Is(err, ErrGrantsFull) {
		return &refusal{status: http.StatusServiceUnavailable, wait: time.Minute,
			hint: "The server cannot take authorization requests right now; retry later.", cause: err}
	} else if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	setCookie(a.w, req.issuer, flowCookie(a.fl.ID), secret, "/oauth2/auth", int(flowLifetime/time.Second))
	return p.redirectToLoginApp(a, kind)
}

// redirectToLoginApp sends the browser to the tenant's login application
// (or the development login page) with a challenge of kind for the flow.
func (p *Provider) redirectToLoginApp(a *authorization, kind string) error {
	req, _ := requestOf(a.ctx)
	target := req.tenant.LoginURL
	if target == "" && p.devLogin {
		target = req.issuer + "/dev/login"
	}
	if target == "" {
		return fosite.ErrServerError.WithHint("The tenant has no login application.")
	}
	u, err := url.Parse(target)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	q := u.Query()
	q.Set(kind+"_challenge", p.challenge(req.tenant.Slug, kind, a.fl.ID))
	u.RawQuery = q.Encode()
	a.w.Header().Set("Cache-Control", "no-store")
	http.Redirect(a.w, a.r, u.String(), http.StatusFound)
	return nil
}

// whenFull makes err, when a grant store was full, temporarily_unavailable
// (RFC 6749 §4.1.2.1): the client may retry once entries expire; it is
// no fault of the server's.
func whenFull(err error) error {
	if errors.Is(err, ErrGrantsFull) {
		return fosite.ErrTemporarilyUnavailable.WithHint("The server cannot store this grant right now; retry later.").WithWrap(err)
	}
	return err
}

// issue answers the authorization request with what fosite's handlers
// make of it: a code, tokens, or both.
func (p *Provider) issue(a *authorization) error {
	ctx, w, ar, c, fl := a.ctx, a.w, a.ar, a.c, a.fl
	s := c.view.Settings
	for _, sc := range s.DefaultScopes {
		ar.GrantScope(sc)
	}
	for _, sc := range ar.GetRequestedScopes() {
		if slices.Contains(fl.GrantedScopes, sc) {
			ar.GrantScope(sc)
		}
	}
	sess := newSession()
	subject := p.subject(c, fl.Login.Subject)
	sess.Subject = subject
	p.userGrant(ctx, ar, c, sess, subject)
	id := sess.Claims
	id.Subject = subject
	id.AuthTime = fl.AuthTime
	id.RequestedAt = fl.Created
	id.Nonce = ar.GetRequestForm().Get("nonce")
	id.AuthenticationContextClassReference = fl.Login.ACR
	id.AuthenticationMethodsReferences = fl.Login.AMR
	if fl.SessionID != "" {
		id.Extra["sid"] = fl.SessionID
	}
	sess.UserClaims = consentedClaims(userClaims(fl.Login.Claims), ar.GetGrantedScopes())
	idOnly := ar.GetResponseTypes().ExactOne("id_token")
	if s.AlwaysIncludeUserClaimsInIDToken || idOnly {
		for k, v := range sess.UserClaims {
			id.Extra[k] = v
		}
	}
	// What fosite stores of a code gathers in the request, to be
	// written with one create before the response carries the code
	// (see code.go).
	beginCode(ctx)
	resp, err := p.fosite.NewAuthorizeResponse(ctx, ar, sess)
	if code := takeCode(ctx); code != nil && err == nil {
		if err = p.store.storeCode(ctx, code); err != nil {
			// As fosite answers a code it could not store.
			err = fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
	}
	if err != nil {
		return whenFull(err)
	}
	req, _ := requestOf(ctx)
	resp.AddParameter("iss", req.issuer) // RFC 9207
	w.Header().Set("Cache-Control", "no-store")
	formPostHeaders(w, ar)
	p.fosite.WriteAuthorizeResponse(ctx, w, ar, resp)
	return nil
}
