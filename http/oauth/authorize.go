package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
)

// The authorization endpoint delegates the user's login and consent to
// the tenant's login application, as Ory Hydra does: the endpoint
// validates the request (client, redirect URI, response type, PKCE,
// scopes), remembers it as a flow and sends the browser to the login
// application with a login_challenge. The application authenticates the
// user however it likes and accepts (or rejects) the challenge through
// the tenant admin API, which answers where to send the browser next:
// back to the authorization endpoint with a single-use verifier. Consent
// goes the same way, with a consent_challenge, for clients that require
// it and are not first-party. Challenges are signed (HMAC, bound to the
// tenant and the kind of challenge) and used once; a flow lives
// flowLifetime.

// flowLifetime is how long a user has to log in and consent.
const flowLifetime = 30 * time.Minute

// The stages of a flow.
const (
	stageLogin       = "login"        // waiting for the login application
	stageLoggedIn    = "logged_in"    // login accepted; the browser comes back
	stageConsent     = "consent"      // waiting for the consent answer
	stageConsented   = "consented"    // consent accepted; the browser comes back
	stageRejected    = "rejected"     // login or consent rejected
	stageDone        = "done"         // the browser came back: used up
	challengeLogin   = "login"        // kind of a login_challenge
	challengeConsent = "consent"      // kind of a consent_challenge
	sessionCookie    = "clavis_login" // the login session's cookie
)

// flow is an authorization request waiting for the user.
type flow struct {
	ID       string    `json:"id"`
	ClientID string    `json:"client_id"`
	Query    string    `json:"query"` // the authorization request's parameters
	Expires  time.Time `json:"expires"`
	Stage    string    `json:"stage"`
	Verifier string    `json:"verifier,omitempty"` // what the browser brings back
	// Created is when the authorization request came, to the second:
	// the ID token's requested_at, against which prompt and max_age are
	// judged.
	Created time.Time `json:"created"`
	// Browser is the hash of the flow cookie given to the browser that
	// made the request: only that browser may bring the verifier back,
	// so that nobody can hand a victim a login of their own.
	Browser string `json:"browser,omitempty"`

	// Skip is set when the user's login session already authenticated
	// them: the login application is not asked.
	Skip bool `json:"skip,omitempty"`

	Login         *LoginAcceptance `json:"login,omitempty"`
	AuthTime      time.Time        `json:"auth_time"`
	SessionID     string           `json:"session_id,omitempty"`
	GrantedScopes []string         `json:"granted_scopes,omitempty"`
	Rejection     *Rejection       `json:"rejection,omitempty"`
}

// LoginAcceptance is what the login application says of the user it
// authenticated.
type LoginAcceptance struct {
	// Subject identifies the user; required.
	Subject string `json:"subject"`
	// Remember keeps a login session (a cookie at the tenant's issuer)
	// for RememberFor seconds (default a day), so that later
	// authorization requests skip the login application.
	Remember    bool `json:"remember"`
	RememberFor int  `json:"remember_for"`
	// ACR and AMR are the authentication context class and methods, for
	// the ID token.
	ACR string   `json:"acr"`
	AMR []string `json:"amr"`
	// Claims are claims about the user (email, name, ...) for the ID
	// token and userinfo.
	Claims map[string]any `json:"claims"`
}

// ConsentAcceptance is what the user allowed.
type ConsentAcceptance struct {
	// GrantScope are the requested scopes the user granted; nil grants
	// all of them. The client's default scopes are granted regardless.
	GrantScope []string `json:"grant_scope"`
}

// Rejection is why the login application refused a request; it goes to
// the client as an RFC 6749 error.
type Rejection struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// LoginRequest is what the login application reads of a challenge.
type LoginRequest struct {
	Challenge      string      `json:"challenge"`
	Client         ClientInfo  `json:"client"`
	RequestedScope []string    `json:"requested_scope"`
	Skip           bool        `json:"skip"`
	Subject        string      `json:"subject,omitempty"`
	RequestURL     string      `json:"request_url"`
	OIDCContext    OIDCContext `json:"oidc_context"`
}

// ClientInfo is what a login or consent page may show of the client.
type ClientInfo struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	LogoURI    string `json:"logo_uri,omitempty"`
	ClientURI  string `json:"client_uri,omitempty"`
	PolicyURI  string `json:"policy_uri,omitempty"`
	TOSURI     string `json:"tos_uri,omitempty"`
	FirstParty bool   `json:"first_party"`
}

// OIDCContext are the OpenID Connect hints of the request.
type OIDCContext struct {
	LoginHint string   `json:"login_hint,omitempty"`
	UILocales []string `json:"ui_locales,omitempty"`
	ACRValues []string `json:"acr_values,omitempty"`
	Display   string   `json:"display,omitempty"`
}

// Redirect is where the login application sends the browser next.
type Redirect struct {
	RedirectTo string `json:"redirect_to"`
}

// Errors of the login and consent API.
var (
	// ErrChallengeNotFound is a challenge that is forged, of another
	// tenant or kind, expired, or unknown.
	ErrChallengeNotFound = errors.New("oauth: no such challenge")
	// ErrChallengeUsed is a challenge answered before.
	ErrChallengeUsed = errors.New("oauth: the challenge was answered before")
	// ErrNoGrants is the login API of a provider without a grant store.
	ErrNoGrants = errors.New("oauth: the authorization endpoint is not served")
)

// InvalidInputError is an answer to a challenge that is not valid; its
// message says why.
type InvalidInputError struct{ Field, Reason string }

func (e *InvalidInputError) Error() string { return e.Field + ": " + e.Reason }

// WithDevLogin sends the browsers of tenants without a login application
// to the built-in development login page at {issuer}/dev/login, which
// lets anyone in as whoever they say. For `make run` only.
func WithDevLogin() Option {
	return func(p *Provider) error {
		p.devLogin = true
		return nil
	}
}

// DevLogin reports whether the development login page is served.
func (p *Provider) DevLogin() bool { return p.devLogin && p.grants != nil }

// Authorizes reports whether the authorization endpoint is served.
func (p *Provider) Authorizes() bool { return p.grants != nil }

// ServeAuthorize is tenant slug's authorization endpoint (RFC 6749
// §3.1, OpenID Connect Core §3). For a tenant that does not exist it
// writes nothing and returns [ErrUnknownTenant].
func (p *Provider) ServeAuthorize(w http.ResponseWriter, r *http.Request, slug string) error {
	ctx, err := p.withTenant(r.Context(), slug)
	if err != nil {
		if errors.Is(err, ErrUnknownTenant) {
			return err
		}
		p.writeAuthorizeError(r.Context(), w, fosite.NewAuthorizeRequest(), fosite.ErrServerError.WithWrap(err))
		return nil
	}
	if p.grants == nil {
		p.writeAuthorizeError(ctx, w, fosite.NewAuthorizeRequest(), fosite.ErrServerError.WithHint("The authorization endpoint is not served."))
		return nil
	}
	if err := r.ParseForm(); err != nil {
		p.writeAuthorizeError(ctx, w, fosite.NewAuthorizeRequest(), fosite.ErrInvalidRequest.WithHint("The request could not be parsed."))
		return nil
	}
	// The browser coming back from the login application brings a
	// verifier, which stands for the request it left with.
	var fl *flow
	var rev uint64
	for _, kind := range []string{challengeLogin, challengeConsent} {
		if v := r.Form.Get(kind + "_verifier"); v != "" {
			fl, rev, err = p.verifierFlow(ctx, v)
			if err == nil && !p.sameBrowser(r, fl) {
				err = errors.New("the verifier came from another browser than the request")
			}
			if err != nil {
				p.writeAuthorizeError(ctx, w, fosite.NewAuthorizeRequest(), fosite.ErrInvalidRequest.WithHint("The verifier is not valid, expired or was used.").WithWrap(err))
				return nil
			}
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
	if fl == nil {
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
	ar, err := authorizeOnce(p.fosite.NewAuthorizeRequest(ctx, r))
	if err == nil && ar.GetRequestForm().Get("audience") != "" {
		err = errAudience
	}
	if err == nil && objectErr != nil {
		err = objectErr
	}
	if err != nil {
		p.writeAuthorizeError(ctx, w, ar, err)
		return nil
	}
	c := ar.GetClient().(*fositeClient)
	if !slices.Contains(c.view.Settings.RedirectURIs, ar.GetRedirectURI().String()) {
		p.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The redirect_uri is not one the client registered."))
		return nil
	}
	if err := p.checkAuthorizeRequest(ar, c); err != nil {
		p.writeAuthorizeError(ctx, w, ar, err)
		return nil
	}
	if fl == nil {
		if err := checkParameterSizes(r.URL.RawQuery, r.URL.Query()); err != nil {
			p.writeAuthorizeError(ctx, w, ar, err)
			return nil
		}
	}
	prompt := strings.Fields(ar.GetRequestForm().Get("prompt"))

	if fl == nil {
		now := p.now()
		fl = &flow{ID: uuid.NewString(), ClientID: c.GetID(), Query: r.URL.RawQuery, Expires: now.Add(flowLifetime),
			Stage: stageLogin, Created: now.UTC().Truncate(time.Second)}
		sess, ok := p.loginSession(ctx, r, ar)
		if ok && !slices.Contains(prompt, "login") {
			fl.Skip, fl.Login, fl.AuthTime, fl.SessionID, fl.Stage = true, &sess.Login, sess.AuthTime, sess.ID, stageLoggedIn
		} else if slices.Contains(prompt, "none") {
			p.writeAuthorizeError(ctx, w, ar, fosite.ErrLoginRequired.WithHint("The user is not logged in."))
			return nil
		}
		// From here on the request stores something, a flow or a code
		// (and its PKCE and OpenID Connect records), whether a login
		// session skips the login application or not: the same limits
		// hold for both.
		req, _ := requestOf(ctx)
		if wait, ok := p.allowFlow(req.tenant.Slug, fl.ClientID, r.RemoteAddr); !ok {
			p.refuseFlow(ctx, w, http.StatusTooManyRequests, wait, "Too many authorization requests from this client or address; retry later.", nil)
			return nil
		}
		if !fl.Skip {
			p.sendToLoginApp(ctx, w, r, ar, fl, challengeLogin)
			return nil
		}
	}

	switch fl.Stage {
	case stageRejected:
		p.finish(ctx, fl, rev)
		p.writeAuthorizeError(ctx, w, ar, rejection(fl.Rejection))
		return nil
	case stageLoggedIn:
		if !fl.Skip && fl.Login.Remember {
			if err := p.startLoginSession(ctx, w, fl); err != nil {
				p.writeAuthorizeError(ctx, w, ar, whenFull(fosite.ErrServerError.WithWrap(err)))
				return nil
			}
		}
		if needsConsent(c) {
			if slices.Contains(prompt, "none") {
				p.writeAuthorizeError(ctx, w, ar, fosite.ErrConsentRequired.WithHint("The client needs the user's consent."))
				return nil
			}
			if rev == 0 { // a flow this request made: store it first
				fl.Stage = stageConsent
				p.sendToLoginApp(ctx, w, r, ar, fl, challengeConsent)
				return nil
			}
			fl.Stage = stageConsent
			fl.Verifier = ""
			if err := p.saveFlow(ctx, fl, rev); err != nil {
				p.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The verifier was used.").WithWrap(err))
				return nil
			}
			p.redirectToLoginApp(ctx, w, r, ar, fl, challengeConsent)
			return nil
		}
		fl.GrantedScopes = ar.GetRequestedScopes()
	case stageConsented:
	default:
		p.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The verifier is not valid, expired or was used."))
		return nil
	}
	if rev != 0 && !p.finish(ctx, fl, rev) {
		p.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The verifier was used."))
		return nil
	}
	p.issue(ctx, w, ar, c, fl)
	return nil
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
// registered (exactly), otherwise to the browser, as a page.
func (p *Provider) writeAuthorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
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

func rejection(r *Rejection) error {
	err := fosite.ErrAccessDenied
	if r == nil {
		return err
	}
	switch r.Error {
	case "login_required":
		err = fosite.ErrLoginRequired
	case "consent_required":
		err = fosite.ErrConsentRequired
	case "interaction_required":
		err = fosite.ErrInteractionRequired
	case "temporarily_unavailable":
		err = fosite.ErrTemporarilyUnavailable
	}
	if r.Description != "" {
		return err.WithDescription(r.Description)
	}
	return err
}

// sendToLoginApp stores a new flow at stage and sends the browser to
// the login application; the request passed allowFlow.
func (p *Provider) sendToLoginApp(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, fl *flow, kind string) {
	req, _ := requestOf(ctx)
	secret := newSecret()
	sum := sha256.Sum256([]byte(secret))
	fl.Browser = hex.EncodeToString(sum[:])
	if err := p.createFlow(ctx, fl); errors.Is(err, ErrGrantsFull) {
		p.refuseFlow(ctx, w, http.StatusServiceUnavailable, time.Minute, "The server cannot take authorization requests right now; retry later.", err)
		return
	} else if err != nil {
		p.writeAuthorizeError(ctx, w, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	setCookie(w, req.issuer, flowCookie(fl.ID), secret, "/oauth2/auth", int(flowLifetime/time.Second))
	p.redirectToLoginApp(ctx, w, r, ar, fl, kind)
}

// authorizeParameterSizes are the parameters of an authorization
// request (RFC 6749 §4.1.1 and §4.2.1, RFC 7636, OpenID Connect Core
// §3.1.2.1, RFC 8707's audience, which is refused) and the most bytes
// each may have; every other parameter is dropped (request and
// request_uri, which are refused, too).
var authorizeParameterSizes = map[string]int{
	"response_type": 64, "client_id": 256, "redirect_uri": 2048, "scope": 2048, "state": 2048,
	"response_mode": 32, "code_challenge": 128, "code_challenge_method": 16, "nonce": 1024,
	"display": 16, "prompt": 64, "max_age": 16, "ui_locales": 256, "id_token_hint": 4096,
	"login_hint": 512, "acr_values": 512, "registration": 2048,
	"audience": 2048,
}

// maxFlowQuery bounds the whole authorization request a flow keeps,
// URL-encoded, as the flow's JSON holds it.
const maxFlowQuery = 8 << 10

// authorizeParameters keeps, of form, the parameters of an
// authorization request (a repeated one as it came: fosite reads the
// first value, and a request that repeats one is not valid).
func authorizeParameters(form url.Values) url.Values {
	kept := url.Values{}
	for name := range authorizeParameterSizes {
		if v, ok := form[name]; ok {
			kept[name] = v
		}
	}
	return kept
}

// checkParameterSizes refuses an authorization request (encoded as
// query, whose parameters are params) with a parameter longer than its
// bound, or longer than maxFlowQuery in all.
func checkParameterSizes(query string, params url.Values) error {
	for name, vs := range params {
		for _, v := range vs {
			if n := authorizeParameterSizes[name]; len(v) > n {
				return fosite.ErrInvalidRequest.WithHintf("The %s parameter is longer than %d bytes.", name, n)
			}
		}
	}
	// Measured as a flow keeps it: JSON escapes each & to six bytes.
	if stored, _ := json.Marshal(query); len(stored) > maxFlowQuery {
		return fosite.ErrInvalidRequest.WithHintf("The authorization request is longer than %d bytes.", maxFlowQuery)
	}
	return nil
}

// allowFlow reports whether client (of tenant), asked for from the peer
// remoteAddr, may store a flow or a code now; if not, how long until it
// may. A request the client's limit refuses gives the address its token
// back: it stored nothing.
func (p *Provider) allowFlow(tenant, client, remoteAddr string) (time.Duration, bool) {
	now := p.now()
	giveBack, ok, wait := p.addressFlows.reserve(sourceKey(remoteAddr), now)
	if !ok {
		return wait, false
	}
	if ok, wait := p.clientFlows.take(tenant+"\x00"+client, now); !ok {
		giveBack()
		return wait, false
	}
	return 0, true
}

// sourceKey names the source of a request for rate limits: the peer's
// IP address, or the /64 network of an IPv6 one (a host usually has a
// whole /64 to pick addresses from). Proxy headers are not read: the
// node is its own edge.
func sourceKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		prefix, _ := ip.Prefix(64)
		return prefix.String()
	}
	return ip.String()
}

// refuseFlow answers an authorization request that stores no flow now
// (because of cause, if not nil), to the browser, with status and a
// Retry-After of wait (at least a second).
func (p *Provider) refuseFlow(ctx context.Context, w http.ResponseWriter, status int, wait time.Duration, hint string, cause error) {
	err := fosite.ErrTemporarilyUnavailable.WithHint(hint)
	if cause != nil {
		err = err.WithWrap(cause) // logged with server errors
	}
	err.CodeField = status
	w.Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, wait+time.Second-1)/time.Second)))
	p.writeAuthorizeError(ctx, w, fosite.NewAuthorizeRequest(), err)
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

// flowCookie names the cookie that binds flow id to its browser.
func flowCookie(id string) string { return "clavis_flow_" + strings.ReplaceAll(id, "-", "") }

// sameBrowser reports whether r comes from the browser that began fl.
func (p *Provider) sameBrowser(r *http.Request, fl *flow) bool {
	ck, err := r.Cookie(flowCookie(fl.ID))
	if err != nil || fl.Browser == "" {
		return false
	}
	sum := sha256.Sum256([]byte(ck.Value))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(fl.Browser)) == 1
}

func (p *Provider) redirectToLoginApp(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, fl *flow, kind string) {
	req, _ := requestOf(ctx)
	target := req.tenant.LoginURL
	if target == "" && p.devLogin {
		target = req.issuer + "/dev/login"
	}
	if target == "" {
		p.writeAuthorizeError(ctx, w, ar, fosite.ErrServerError.WithHint("The tenant has no login application."))
		return
	}
	u, err := url.Parse(target)
	if err != nil {
		p.writeAuthorizeError(ctx, w, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	q := u.Query()
	q.Set(kind+"_challenge", p.challenge(req.tenant.Slug, kind, fl.ID))
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// issue answers the authorization request with what fosite's handlers
// make of it: a code, tokens, or both.
func (p *Provider) issue(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, c *fositeClient, fl *flow) {
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
	resp, err := p.fosite.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		p.writeAuthorizeError(ctx, w, ar, whenFull(err))
		return
	}
	req, _ := requestOf(ctx)
	resp.AddParameter("iss", req.issuer) // RFC 9207
	w.Header().Set("Cache-Control", "no-store")
	formPostHeaders(w, ar)
	p.fosite.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// userGrant completes the access token of a user's grant for the scopes
// granted (see grantTo), with the user as its subject; the client's
// claims go in only when the client always sends them.
func (p *Provider) userGrant(ctx context.Context, ar fosite.Requester, c *fositeClient, sess *session, subject string) {
	sess.Access.Extra = map[string]any{}
	p.grantTo(ctx, ar, c, sess)
	sess.Access.Subject = subject
	if !c.view.Settings.AlwaysSendClientClaims {
		for name := range clientClaims(c.view.Settings) {
			delete(sess.Access.Extra, name)
		}
	}
}

// subject is the user's subject for client c: pairwise (a hash of the
// client's sector, the user and the client's salt) when the client has
// a salt, the login application's otherwise.
func (p *Provider) subject(c *fositeClient, user string) string {
	s := c.view.Settings
	if s.PairwiseSubjectSalt == "" {
		return user
	}
	sector := c.GetID()
	if len(s.RedirectURIs) > 0 {
		if u, err := url.Parse(s.RedirectURIs[0]); err == nil {
			sector = u.Host
		}
	}
	sum := sha256.Sum256([]byte(sector + "\x00" + user + "\x00" + s.PairwiseSubjectSalt))
	return hex.EncodeToString(sum[:])
}

// protectedClaims are the claims the login application cannot set: the
// server's own.
var protectedClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash", "sid", "scope", "client_id"}

// scopeClaims are the standard claims each identity scope requests
// (OpenID Connect Core §5.4).
var scopeClaims = map[string][]string{
	"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile",
		"picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
	"email":   {"email", "email_verified"},
	"address": {"address"},
	"phone":   {"phone_number", "phone_number_verified"},
}

// consentedClaims drops the standard claims of identity scopes not
// granted: the login application gives claims before the user consents.
// Claims of its own (not standard ones) stay.
func consentedClaims(claims map[string]any, granted []string) map[string]any {
	for sc, names := range scopeClaims {
		if slices.Contains(granted, sc) {
			continue
		}
		for _, n := range names {
			delete(claims, n)
		}
	}
	return claims
}

func userClaims(in map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		if !slices.Contains(protectedClaims, k) {
			out[k] = v
		}
	}
	return out
}

// Challenges and verifiers.

// challenge signs a flow's id for tenant and kind.
func (p *Provider) challenge(tenant, kind, id string) string {
	return id + "." + p.challengeMAC(tenant, kind, id)
}

func (p *Provider) challengeMAC(tenant, kind, id string) string {
	m := hmac.New(sha256.New, p.challengeKey)
	m.Write([]byte(tenant + "\x00" + kind + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// challengeFlow opens a challenge of tenant and kind.
func (p *Provider) challengeFlow(ctx context.Context, kind, challenge string) (*flow, uint64, error) {
	req, err := requestOf(ctx)
	if err != nil {
		return nil, 0, err
	}
	id, mac, ok := strings.Cut(challenge, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(p.challengeMAC(req.tenant.Slug, kind, id))) {
		return nil, 0, ErrChallengeNotFound
	}
	fl, rev, err := p.loadFlow(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	want := stageLogin
	if kind == challengeConsent {
		want = stageConsent
	}
	if fl.Stage != want {
		return nil, 0, ErrChallengeUsed
	}
	return fl, rev, nil
}

// verifierFlow opens the verifier a browser brought back.
func (p *Provider) verifierFlow(ctx context.Context, v string) (*flow, uint64, error) {
	id, secret, ok := strings.Cut(v, ".")
	if !ok {
		return nil, 0, ErrChallengeNotFound
	}
	fl, rev, err := p.loadFlow(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if fl.Verifier == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(fl.Verifier)) != 1 {
		return nil, 0, ErrChallengeNotFound
	}
	return fl, rev, nil
}

func (p *Provider) loadFlow(ctx context.Context, id string) (*flow, uint64, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, 0, ErrChallengeNotFound
	}
	var fl flow
	rev, err := p.store.get(ctx, LifeRequest, "flow", id, &fl)
	if errors.Is(err, fosite.ErrNotFound) || (err == nil && !p.now().Before(fl.Expires)) {
		return nil, 0, ErrChallengeNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return &fl, rev, nil
}

func (p *Provider) createFlow(ctx context.Context, fl *flow) error {
	return p.store.put(ctx, LifeRequest, "flow", fl.ID, fl)
}

// saveFlow writes fl if nobody changed it since rev.
func (p *Provider) saveFlow(ctx context.Context, fl *flow, rev uint64) error {
	err := p.store.update(ctx, LifeRequest, "flow", fl.ID, fl, rev)
	if errors.Is(err, ErrGrantConflict) {
		return ErrChallengeUsed
	}
	return err
}

// finish uses a flow up; it reports false when another request did.
func (p *Provider) finish(ctx context.Context, fl *flow, rev uint64) bool {
	if rev == 0 {
		return true
	}
	fl.Stage, fl.Verifier = stageDone, ""
	return p.saveFlow(ctx, fl, rev) == nil
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// answer moves the flow of challenge (of kind) to its next stage with
// change and returns where the browser goes next.
func (p *Provider) answer(ctx context.Context, slug, kind, challenge string, change func(*flow) error) (Redirect, error) {
	if p.grants == nil {
		return Redirect{}, ErrNoGrants
	}
	ctx, err := p.withTenant(ctx, slug)
	if err != nil {
		return Redirect{}, err
	}
	fl, rev, err := p.challengeFlow(ctx, kind, challenge)
	if err != nil {
		return Redirect{}, err
	}
	if err := change(fl); err != nil {
		return Redirect{}, err
	}
	fl.Verifier = newSecret()
	if err := p.saveFlow(ctx, fl, rev); err != nil {
		return Redirect{}, err
	}
	return Redirect{RedirectTo: p.Issuer(slug) + "/oauth2/auth?" + kind + "_verifier=" + url.QueryEscape(fl.ID+"."+fl.Verifier)}, nil
}

// LoginRequest is what the login application reads of a login
// challenge of tenant slug.
func (p *Provider) LoginRequest(ctx context.Context, slug, challenge string) (LoginRequest, error) {
	return p.describe(ctx, slug, challengeLogin, challenge)
}

// ConsentRequest is what the login application reads of a consent
// challenge of tenant slug: the same, with the subject.
func (p *Provider) ConsentRequest(ctx context.Context, slug, challenge string) (LoginRequest, error) {
	return p.describe(ctx, slug, challengeConsent, challenge)
}

func (p *Provider) describe(ctx context.Context, slug, kind, challenge string) (LoginRequest, error) {
	if p.grants == nil {
		return LoginRequest{}, ErrNoGrants
	}
	ctx, err := p.withTenant(ctx, slug)
	if err != nil {
		return LoginRequest{}, err
	}
	fl, _, err := p.challengeFlow(ctx, kind, challenge)
	if err != nil {
		return LoginRequest{}, err
	}
	c, err := p.dir.ClientByID(ctx, fl.ClientID)
	if err != nil {
		return LoginRequest{}, ErrChallengeNotFound
	}
	q, _ := url.ParseQuery(fl.Query)
	s := c.Settings
	lr := LoginRequest{
		Challenge: challenge,
		Client: ClientInfo{ClientID: c.ClientID, ClientName: s.ClientName, LogoURI: s.LogoURI, ClientURI: s.ClientURI,
			PolicyURI: s.PolicyURI, TOSURI: s.TOSURI, FirstParty: s.FirstParty},
		RequestedScope: strings.Fields(q.Get("scope")),
		Skip:           fl.Skip,
		RequestURL:     p.Issuer(slug) + "/oauth2/auth?" + fl.Query,
		OIDCContext: OIDCContext{LoginHint: q.Get("login_hint"), UILocales: strings.Fields(q.Get("ui_locales")),
			ACRValues: strings.Fields(q.Get("acr_values")), Display: q.Get("display")},
	}
	if lr.RequestedScope == nil {
		lr.RequestedScope = []string{}
	}
	if fl.Login != nil {
		lr.Subject = fl.Login.Subject
	}
	return lr, nil
}

// maxClaimsSize bounds the claims a login application gives.
const maxClaimsSize = 16 << 10

// maxRememberFor is the longest a login session lasts.
const maxRememberFor = 30 * 24 * 3600

// AcceptLogin accepts a login challenge of tenant slug for the user a.
func (p *Provider) AcceptLogin(ctx context.Context, slug, challenge string, a LoginAcceptance) (Redirect, error) {
	if err := a.validate(); err != nil {
		return Redirect{}, err
	}
	return p.answer(ctx, slug, challengeLogin, challenge, func(fl *flow) error {
		a.Claims = userClaims(a.Claims)
		fl.Login, fl.AuthTime, fl.Stage = &a, p.now().UTC().Truncate(time.Second), stageLoggedIn
		return nil
	})
}

// AcceptConsent accepts a consent challenge of tenant slug.
func (p *Provider) AcceptConsent(ctx context.Context, slug, challenge string, a ConsentAcceptance) (Redirect, error) {
	return p.answer(ctx, slug, challengeConsent, challenge, func(fl *flow) error {
		granted, err := grantedScopes(requestedScopes(fl), a.GrantScope)
		if err != nil {
			return err
		}
		fl.GrantedScopes, fl.Stage = granted, stageConsented
		return nil
	})
}

// RejectLogin rejects a login challenge: the client gets the error.
func (p *Provider) RejectLogin(ctx context.Context, slug, challenge string, r Rejection) (Redirect, error) {
	return p.reject(ctx, slug, challengeLogin, challenge, r)
}

// RejectConsent rejects a consent challenge: the client gets the error.
func (p *Provider) RejectConsent(ctx context.Context, slug, challenge string, r Rejection) (Redirect, error) {
	return p.reject(ctx, slug, challengeConsent, challenge, r)
}

func (p *Provider) reject(ctx context.Context, slug, kind, challenge string, r Rejection) (Redirect, error) {
	if r.Error == "" {
		r.Error = "access_denied"
	}
	if !slices.Contains([]string{"access_denied", "login_required", "consent_required", "interaction_required", "temporarily_unavailable"}, r.Error) {
		return Redirect{}, &InvalidInputError{"error", "one of access_denied, login_required, consent_required, interaction_required, temporarily_unavailable"}
	}
	if len(r.Description) > 500 || strings.ContainsAny(r.Description, "\"\\") {
		return Redirect{}, &InvalidInputError{"error_description", "at most 500 characters, without quotes or backslashes"}
	}
	return p.answer(ctx, slug, kind, challenge, func(fl *flow) error {
		fl.Rejection, fl.Stage = &r, stageRejected
		return nil
	})
}
