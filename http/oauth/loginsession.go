package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/clavisiam/clavis/http/page"
)

// A login session remembers, for a browser, the user the login
// application authenticated with remember set: later authorization
// requests of the tenant skip the login application (unless prompt=login
// or max_age ask for a new login), and RP-initiated logout ends it. The
// browser holds a signed cookie with the session's id, scoped to the
// tenant's issuer path; the session itself is in the grant store.

// sessionCookie names the login session's cookie.
const sessionCookie = "clavis_login"

// loginSessionRecord is a login session.
type loginSessionRecord struct {
	ID       string          `json:"id"`
	Login    LoginAcceptance `json:"login"`
	AuthTime time.Time       `json:"auth_time"`
	Expires  time.Time       `json:"expires"`
}

// defaultRememberFor is how long a login session lasts when the login
// application does not say.
const defaultRememberFor = 24 * time.Hour

// cookieName is the login session cookie of tenant slug.
func cookieName(slug string) string { return sessionCookie + "_" + strings.ReplaceAll(slug, "-", "_") }

// loginSession is the browser's login session at the request's tenant,
// if it has a live one that satisfies the request's max_age; it fails
// when the grant store cannot tell.
func (p *Provider) loginSession(ctx context.Context, r *http.Request, ar fosite.AuthorizeRequester) (loginSessionRecord, bool, error) {
	sess, ok, err := p.cookieSession(ctx, r)
	if !ok || err != nil {
		return sess, false, err
	}
	if ma := ar.GetRequestForm().Get("max_age"); ma != "" {
		if n, err := strconv.ParseInt(ma, 10, 64); err == nil && sess.AuthTime.Add(time.Duration(n)*time.Second).Before(p.now()) {
			return sess, false, nil
		}
	}
	return sess, true, nil
}

// cookieSession reads the login session the request's cookie names; it
// fails when the grant store cannot be reached ([IsUnavailable]), since
// no session then is not known.
func (p *Provider) cookieSession(ctx context.Context, r *http.Request) (loginSessionRecord, bool, error) {
	req, _ := requestOf(ctx)
	ck, err := r.Cookie(cookieName(req.tenant.Slug))
	if err != nil {
		return loginSessionRecord{}, false, nil
	}
	id, mac, ok := strings.Cut(ck.Value, ".")
	if !ok || !p.validMAC(req.tenant.Slug, "session", id, mac) {
		return loginSessionRecord{}, false, nil
	}
	var sess loginSessionRecord
	_, err = p.store.get(ctx, LifeGrant, "sess", id, &sess)
	if IsUnavailable(err) {
		return loginSessionRecord{}, false, err
	}
	if err != nil || !p.now().Before(sess.Expires) {
		return loginSessionRecord{}, false, nil
	}
	return sess, true, nil
}

// startLoginSession keeps the flow's login as a login session and
// returns what gives the browser its cookie, which the caller calls only
// once the flow's own compare-and-set has used the verifier up: a
// verifier used already, or by a request racing this one, must start no
// session (a session record without its cookie is never found).
func (p *Provider) startLoginSession(ctx context.Context, w http.ResponseWriter, fl *flow) (func(), error) {
	req, _ := requestOf(ctx)
	life := defaultRememberFor
	if fl.Login.RememberFor > 0 {
		life = time.Duration(fl.Login.RememberFor) * time.Second
	}
	sess := loginSessionRecord{ID: uuid.NewString(), Login: *fl.Login, AuthTime: fl.AuthTime, Expires: p.now().Add(life)}
	if err := p.store.put(ctx, LifeGrant, "sess", sess.ID, sess, sess.Expires); err != nil {
		return nil, err
	}
	fl.SessionID = sess.ID
	return func() {
		setCookie(w, req.issuer, cookieName(req.tenant.Slug), sess.ID+"."+p.challengeMAC(req.tenant.Slug, "session", sess.ID), "/",
			int(life/time.Second))
	}, nil
}

// ServeLogout is tenant slug's RP-initiated logout endpoint (OpenID
// Connect RP-Initiated Logout 1.0): it ends the browser's login session
// at the tenant and sends the browser to the post_logout_redirect_uri,
// which must be one the client registered exactly; the client is named
// by the id_token_hint (an ID token the tenant issued, expired or not:
// its azp, or its only audience) or client_id, which must then be in the
// hint's audience. The user is asked first (a page whose form posts the
// request back with a confirmation bound to the login session, so that
// no other page can log the user out) unless the hint is an ID token of
// the session's user for that client: any other token the tenant signed
// (an access token, anybody's) is refused, and another user's ID token
// proves nothing about this browser. The session's cookie is deleted
// only once the session it names has ended. Without a
// post_logout_redirect_uri it answers a page that says the user is
// logged out. A bad request
// answers 400 and logs no one out. For a tenant that does not exist it
// writes nothing and returns [ErrUnknownTenant].
func (p *Provider) ServeLogout(w http.ResponseWriter, r *http.Request, slug string) error {
	ctx, err := p.withTenant(r.Context(), slug)
	if err != nil {
		return err // ErrUnknownTenant, or the read model's error
	}
	if p.grants == nil {
		logoutPage(w, http.StatusNotFound, "Logout is not served.")
		return nil
	}
	if err := r.ParseForm(); err != nil {
		logoutPage(w, http.StatusBadRequest, "The logout request could not be parsed.")
		return nil
	}
	clientID := r.Form.Get("client_id")
	var hint *idTokenHint
	if raw := r.Form.Get("id_token_hint"); raw != "" {
		h, err := p.readIDTokenHint(ctx, slug, raw)
		if IsUnavailable(err) {
			unavailablePage(w, "Logout")
			return nil
		}
		if err != nil {
			logoutPage(w, http.StatusBadRequest, "The id_token_hint is not an ID token of this issuer.")
			return nil
		}
		if clientID != "" && !slices.Contains(h.Audience, clientID) {
			logoutPage(w, http.StatusBadRequest, "The id_token_hint was not issued to client_id.")
			return nil
		}
		if clientID == "" {
			clientID = h.client()
		}
		hint = &h
	}
	var c *fositeClient
	if clientID != "" {
		v, err := p.dir.ClientByID(ctx, clientID)
		if IsUnavailable(err) {
			unavailablePage(w, "Logout")
			return nil
		}
		if err == nil && v.Tenant == slug {
			c = &fositeClient{view: v}
		}
	}
	target := r.Form.Get("post_logout_redirect_uri")
	if target != "" {
		if clientID == "" {
			logoutPage(w, http.StatusBadRequest, "A post_logout_redirect_uri needs an id_token_hint or a client_id.")
			return nil
		}
		if c == nil || !slices.Contains(c.view.Settings.PostLogoutRedirectURIs, target) {
			logoutPage(w, http.StatusBadRequest, "The post_logout_redirect_uri is not one the client registered.")
			return nil
		}
	}
	sess, ok, err := p.cookieSession(ctx, r)
	if err != nil {
		unavailablePage(w, "Logout")
		return nil
	}
	confirm := p.challengeMAC(slug, "logout", sess.ID)
	usersOwn := hint != nil && c != nil && hint.Subject == p.subject(c, sess.Login.Subject)
	if ok && !usersOwn && !p.validMAC(slug, "logout", sess.ID, r.PostForm.Get("confirm")) {
		// Nothing shows that the user's own client sent the browser
		// here: the request could come from any page, so the user is
		// asked (RP-Initiated Logout §2).
		p.confirmLogout(w, slug, clientID, r.Form, confirm)
		return nil
	}
	if ok {
		if err := p.store.del(ctx, LifeGrant, "sess", sess.ID); err != nil {
			p.log.ErrorContext(ctx, "logout", "error", err)
			logoutPage(w, http.StatusServiceUnavailable, "The logout could not be recorded; try again.")
			return nil
		}
		// Only now: a request without the session's cookie (a cross-site
		// POST, which a SameSite=Lax cookie does not join) would
		// otherwise delete it unasked.
		setCookie(w, p.Issuer(slug), cookieName(slug), "", "/", -1)
	}
	w.Header().Set("Cache-Control", "no-store")
	if target == "" {
		logoutPage(w, http.StatusOK, "You are logged out.")
		return nil
	}
	u, _ := url.Parse(target)
	if state := r.Form.Get("state"); state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
	return nil
}

// idTokenHint is what an id_token_hint says of its user and client.
type idTokenHint struct {
	Subject  string
	Audience []string
	AZP      string
}

// client is the client the hint names: its azp, or its only audience.
func (h idTokenHint) client() string {
	if h.AZP != "" && slices.Contains(h.Audience, h.AZP) {
		return h.AZP
	}
	if len(h.Audience) == 1 {
		return h.Audience[0]
	}
	return ""
}

// readIDTokenHint checks that token is an ID token tenant slug issued
// (expired or not, as an id_token_hint may be): a compact JWS signed
// with a key the tenant publishes, of the tenant's issuer, with a
// subject and an audience, typed as fosite types ID tokens ("JWT", or
// no typ) and without the claims of an access token. The tenant signs
// access tokens (typ at+jwt, with scope and client_id) with the same
// keys: one of those, which any client holds of its own, is not a hint.
func (p *Provider) readIDTokenHint(ctx context.Context, slug, token string) (idTokenHint, error) {
	if !compactForm(token) {
		return idTokenHint{}, invalid("not a compact JWS")
	}
	jws, err := jose.ParseSigned(token)
	if err != nil || len(jws.Signatures) != 1 {
		return idTokenHint{}, invalid("not a compact JWS")
	}
	if typ, _ := jws.Signatures[0].Protected.ExtraHeaders["typ"].(string); typ != "" && !strings.EqualFold(typ, "JWT") {
		return idTokenHint{}, invalid("typ is not that of an ID token")
	}
	t, err := p.dir.Tenant(ctx, slug)
	if err != nil {
		return idTokenHint{}, err
	}
	payload, err := verifyWith(t, jws, p.now())
	if err != nil {
		return idTokenHint{}, err
	}
	var claims struct {
		Iss      string          `json:"iss"`
		Sub      string          `json:"sub"`
		Aud      any             `json:"aud"`
		AZP      string          `json:"azp"`
		Scope    json.RawMessage `json:"scope"`
		ClientID json.RawMessage `json:"client_id"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Iss != p.Issuer(slug) {
		return idTokenHint{}, invalid("not issued here")
	}
	h := idTokenHint{Subject: claims.Sub, Audience: audience(claims.Aud), AZP: claims.AZP}
	if h.Subject == "" || len(h.Audience) == 0 || claims.Scope != nil || claims.ClientID != nil {
		return idTokenHint{}, invalid("not an ID token")
	}
	return h, nil
}

// confirmLogout asks the user whether to log out; the page's form posts
// the request again, to the client named, with the confirmation.
func (p *Provider) confirmLogout(w http.ResponseWriter, slug, clientID string, form url.Values, confirm string) {
	keep := url.Values{}
	for _, k := range []string{"post_logout_redirect_uri", "state", "ui_locales"} {
		if v := form.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	if clientID != "" {
		keep.Set("client_id", clientID)
	}
	page.Write(w, http.StatusOK, page.LogoutConfirmation{Tenant: slug, Action: p.Issuer(slug) + "/oauth2/logout", Form: keep, Confirm: confirm})
}

// setCookie sets a cookie of the issuer's browser flows: under the
// issuer's path (path below it), HttpOnly, SameSite=Lax (it must come
// along on the top-level navigations back from the login application and
// the client), Secure when the issuer is https; maxAge seconds, -1
// deletes it.
func setCookie(w http.ResponseWriter, issuer, name, value, path string, maxAge int) {
	u, err := url.Parse(issuer)
	if err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: u.Path + path, MaxAge: maxAge, HttpOnly: true,
		Secure: u.Scheme == "https", SameSite: http.SameSiteLaxMode})
}

func logoutPage(w http.ResponseWriter, status int, msg string) {
	page.Write(w, status, page.Message{Title: "Logout", Text: msg})
}

// unavailablePage answers a page of title that could not be served
// because a store cannot be reached: 503, with when to try again.
func unavailablePage(w http.ResponseWriter, title string) {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
	page.Write(w, http.StatusServiceUnavailable, page.Message{Title: title, Text: "The service cannot be reached right now; try again in a moment."})
}
