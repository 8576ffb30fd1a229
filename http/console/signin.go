package console

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
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

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/http/guess"
	"github.com/clavisiam/clavis/tenants"
)

// rootActor is the actor of what the operator does in the console, as
// with the root token at the API.
const rootActor = "root"

// signInData is what the sign-in page shows.
type signInData struct {
	// Expired: the session ended (or there was none) on a form post.
	Expired bool
	// Failed says why a sign-in did not complete, when it did not.
	Failed string
}

// signIn starts signing a person in: it sends the browser to the
// tenant's authorization endpoint as the console client, with a fresh
// state, nonce and PKCE verifier kept in a sealed cookie until the
// answer comes back to callback. return is the console page to go back
// to afterwards.
func (c *Console) signIn(ctx *fiber.Ctx) error {
	slug := strings.Clone(ctx.Params("tenant"))
	if err := onlyQuery(ctx, "return"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	// A suspended tenant's tokens open nothing, and its console client
	// cannot be registered there: say so, before trying either.
	if t, err := c.cfg.ReadModel.Tenant(ctx.UserContext(), slug); err != nil {
		return fmt.Errorf("console: read tenant %s: %w", slug, err)
	} else if t.Suspended {
		return c.render(ctx, http.StatusForbidden, "error", view{Title: "Tenant suspended", Tenant: slug,
			Data: errorData{Message: "This tenant is suspended: nobody can sign in to its console until the platform operator resumes it."}})
	}
	cl, err := c.consoleClient(ctx.UserContext(), slug)
	if err != nil {
		return fmt.Errorf("console: console client of %s: %w", slug, err)
	}
	st := signInState{State: randomString(24), Verifier: randomString(32), Nonce: randomString(24),
		Return: localReturn(slug, ctx.Query("return")), Expiry: c.now().Add(signInLifetime)}
	sealed, err := c.sealer.seal(signInCookie, tenantPath(slug), st)
	if err != nil {
		return err
	}
	c.setCookie(ctx, signInCookie, tenantPath(slug), sealed, st.Expiry)
	challenge := sha256.Sum256([]byte(st.Verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {cl.ClientID},
		"redirect_uri":          {c.callbackURL(slug)},
		"scope":                 {strings.Join(append([]string{scope.OpenID}, tenants.ConsoleScopes...), " ")},
		"state":                 {st.State},
		"nonce":                 {st.Nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	return ctx.Redirect("/t/"+slug+"/oauth2/auth?"+q.Encode(), fiber.StatusSeeOther)
}

// callbackURL is the console client's redirect URI at tenant slug.
func (c *Console) callbackURL(slug string) string {
	return c.cfg.PublicURL + tenantPath(slug) + "callback"
}

// localReturn is where to go after signing in: ret when it is a page of
// tenant slug's console (a path, never another site), else its home.
func localReturn(slug, ret string) string {
	home := tenantPath(slug)
	u, err := url.Parse(ret)
	if err != nil || ret == "" || u.Scheme != "" || u.Host != "" || u.User != nil || strings.Contains(ret, "\\") ||
		!strings.HasPrefix(u.Path, home) || strings.Contains(u.Path, "/../") || strings.HasPrefix(u.Path, home+"login") ||
		strings.HasPrefix(u.Path, home+"callback") {
		return home
	}
	return u.RequestURI()
}

// callback receives the authorization endpoint's answer: it checks the
// state against the sign-in cookie, exchanges the code at the tenant's
// token endpoint with the PKCE verifier, and opens the session.
func (c *Console) callback(ctx *fiber.Ctx) error {
	slug := strings.Clone(ctx.Params("tenant"))
	var st signInState
	err := c.sealer.open(signInCookie, tenantPath(slug), ctx.Cookies(signInCookie), &st)
	c.setCookie(ctx, signInCookie, tenantPath(slug), "", time.Time{})
	fail := func(why string) error {
		return c.render(ctx, http.StatusBadRequest, "signin", view{Title: "Sign in", Tenant: slug, Data: signInData{Failed: why}})
	}
	if err != nil || !c.now().Before(st.Expiry) {
		return fail("The sign-in took too long or was started in another browser. Sign in again.")
	}
	if subtle.ConstantTimeCompare([]byte(ctx.Query("state")), []byte(st.State)) != 1 {
		return fail("The answer of the sign-in does not belong to this browser. Sign in again.")
	}
	if e := ctx.Query("error"); e != "" {
		msg := "The login application refused the sign-in"
		if d := ctx.Query("error_description"); d != "" && len(d) < 500 {
			msg += ": " + d
		}
		return fail(msg + ".")
	}
	cl, err := c.consoleClient(ctx.UserContext(), slug)
	if err != nil {
		return err
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {ctx.Query("code")}, "redirect_uri": {c.callbackURL(slug)},
		"client_id": {cl.ClientID}, "code_verifier": {st.Verifier}}
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
		Error       string `json:"error"`
	}
	status, body, err := c.endpoint(ctx, slug, "token", form, c.cfg.Tokens.ServeToken)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, &tok); err != nil || status != http.StatusOK || tok.AccessToken == "" {
		return fail("The tenant did not accept the sign-in (" + tok.Error + "). Sign in again.")
	}
	at, err := c.cfg.Tokens.VerifyAccessToken(ctx.UserContext(), tok.AccessToken)
	if err != nil || at.Tenant != slug {
		return fail("The tenant's token could not be checked. Sign in again.")
	}
	sealed, err := c.sealer.seal(sessionCookie, tenantPath(slug), sessionState{ID: randomString(16), AccessToken: tok.AccessToken, IDToken: tok.IDToken})
	if err != nil {
		return err
	}
	c.setCookie(ctx, sessionCookie, tenantPath(slug), sealed, at.Expiry)
	return ctx.Redirect(localReturn(slug, st.Return), fiber.StatusSeeOther)
}

// signOut ends the session: it revokes its access token at the tenant,
// so that a copy of the cookie is worth nothing, deletes the cookie and
// sends the browser to the tenant's logout endpoint, which ends the
// person's login session there too and comes back to signed-out.
func (c *Console) signOut(ctx *fiber.Ctx) error {
	slug := strings.Clone(ctx.Params("tenant"))
	var st sessionState
	_ = c.sealer.open(sessionCookie, tenantPath(slug), ctx.Cookies(sessionCookie), &st)
	c.setCookie(ctx, sessionCookie, tenantPath(slug), "", time.Time{})
	cl, err := c.consoleClient(ctx.UserContext(), slug)
	if err != nil {
		return err
	}
	status, _, err := c.endpoint(ctx, slug, "revoke", url.Values{"token": {st.AccessToken}, "client_id": {cl.ClientID}}, c.cfg.Tokens.ServeRevoke)
	if err != nil || status != http.StatusOK {
		c.cfg.Log.Warn("console: the session's token could not be revoked at sign-out", "tenant", slug, "status", status, "error", err)
	}
	q := url.Values{"client_id": {cl.ClientID}, "post_logout_redirect_uri": {c.cfg.PublicURL + tenantPath(slug) + "signed-out"}}
	if st.IDToken != "" {
		q.Set("id_token_hint", st.IDToken)
	}
	return ctx.Redirect("/t/"+slug+"/oauth2/logout?"+q.Encode(), fiber.StatusSeeOther)
}

// signedOut is the page after signing out.
func (c *Console) signedOut(ctx *fiber.Ctx) error {
	slug := strings.Clone(ctx.Params("tenant"))
	// The tenant's logout endpoint adds state only when the console sent
	// one, which it does not.
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	return c.render(ctx, http.StatusOK, "signed_out", view{Title: "Signed out", Tenant: slug})
}

// endpoint calls one of tenant slug's OAuth 2.0 endpoints in process, as
// a client would over HTTP, with form, and returns its status and body.
func (c *Console) endpoint(ctx *fiber.Ctx, slug, name string, form url.Values, serve func(http.ResponseWriter, *http.Request, string) error) (int, []byte, error) {
	u := c.cfg.Tokens.Issuer(slug) + "/oauth2/" + name
	r, err := http.NewRequestWithContext(ctx.UserContext(), http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = c.cfg.RemoteAddr(ctx)
	w := &recorder{header: http.Header{}, status: http.StatusOK}
	if err := serve(w, r, slug); err != nil {
		return 0, nil, fmt.Errorf("console: %s endpoint: %w", name, err)
	}
	return w.status, w.body.Bytes(), nil
}

// recorder is the http.ResponseWriter of an in-process call.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	if r.body.Len()+len(b) > 1<<20 {
		return 0, errors.New("console: answer too large")
	}
	return r.body.Write(b)
}

// ---- the operator

// operatorSignInData is what the operator's sign-in page shows.
type operatorSignInData struct {
	Expired bool
	Failed  bool
	// RetryAfter, when not "", is how long this address must wait before
	// the root token is checked again, in words.
	RetryAfter string
}

// operatorSignInPage asks for the root token.
func (c *Console) operatorSignInPage(ctx *fiber.Ctx) error {
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	return c.render(ctx, http.StatusOK, "operator_signin", view{Title: "Sign in"})
}

// maxSignInBody bounds the body of the operator's sign-in form: a root
// token of at most 1024 bytes, url-encoded.
const maxSignInBody = 4 << 10

// operatorSignIn opens an operator session for the root token. The form
// needs no CSRF token (there is no session yet), but a browser's word
// that it came from this site, so that no other site signs a browser in.
func (c *Console) operatorSignIn(ctx *fiber.Ctx) error {
	if site := ctx.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return c.render(ctx, http.StatusForbidden, "operator_signin", view{Title: "Sign in", Data: operatorSignInData{Failed: true}})
	}
	// Anyone may post here: refuse a body too large for the form before
	// parsing it, and a form with other fields, so that a request costs
	// little.
	if len(ctx.Request().Body()) > maxSignInBody {
		return c.render(ctx, http.StatusRequestEntityTooLarge, "operator_signin", view{Title: "Sign in", Data: operatorSignInData{Failed: true}})
	}
	if err := checkForm(ctx, []string{"root_token"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	// The root token's limit (the admin API's): an address that failed
	// too often lately is refused before the token is looked at.
	source := c.cfg.RemoteAddr(ctx)
	if wait, ok := c.cfg.Guesses.Allow(source, guess.Client{}); !ok {
		ctx.Set(fiber.HeaderRetryAfter, strconv.Itoa(guess.RetryAfter(wait)))
		return c.render(ctx, http.StatusTooManyRequests, "operator_signin", view{Title: "Sign in", Data: operatorSignInData{RetryAfter: guess.InWords(wait)}})
	}
	token := ctx.FormValue("root_token")
	if token == "" || len(token) > 1024 || subtle.ConstantTimeCompare(c.rootDigest(token), c.roots[0]) != 1 {
		c.cfg.Guesses.Fail(source, guess.Client{})
		return c.render(ctx, http.StatusUnauthorized, "operator_signin", view{Title: "Sign in", Data: operatorSignInData{Failed: true}})
	}
	st := operatorState{ID: randomString(16), Expiry: c.now().Add(operatorLifetime), Root: c.rootDigest(token)}
	sealed, err := c.sealer.seal(sessionCookie, operatorPath, st)
	if err != nil {
		return err
	}
	c.setCookie(ctx, sessionCookie, operatorPath, sealed, st.Expiry)
	return ctx.Redirect(operatorPath, fiber.StatusSeeOther)
}

// rootDigest is a keyed digest of a root token: an operator session holds
// the digest of the token it was opened with (never the token), and ends
// when the node's root token changes. Comparing digests in constant time
// also hides the token's length.
func (c *Console) rootDigest(token string) []byte { return rootDigestWith(c.sealer.csrfs[0], token) }

// rootDigests are token's digests under each of s's keys, the current
// one first.
func (s *sealer) rootDigests(token string) [][]byte {
	out := make([][]byte, 0, len(s.csrfs))
	for _, key := range s.csrfs {
		out = append(out, rootDigestWith(key, token))
	}
	return out
}

func rootDigestWith(key []byte, token string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("root\x00" + token))
	return m.Sum(nil)
}

// rootDigestValid reports whether an operator session's digest is the
// current root token's, under one of the keys (see sealer).
func (c *Console) rootDigestValid(d []byte) bool {
	for _, root := range c.roots {
		if subtle.ConstantTimeCompare(d, root) == 1 {
			return true
		}
	}
	return false
}

// operatorSignOut ends the operator's session.
func (c *Console) operatorSignOut(ctx *fiber.Ctx) error {
	s := session(ctx)
	c.setCookie(ctx, sessionCookie, operatorPath, "", time.Time{})
	if err := c.cfg.SignedOut.Revoke(ctx.UserContext(), operatorRealm, s.id, s.Expiry); err != nil {
		return fmt.Errorf("console: record the operator's sign-out: %w", err)
	}
	return ctx.Redirect(operatorPath+"login", fiber.StatusSeeOther)
}

// operatorRealm is where the operator's signed-out sessions are kept
// among the revocations: not a tenant slug (slugs have no '_').
const operatorRealm = "_console"

// onlyQuery refuses a query parameter not in allowed, or one given twice.
func onlyQuery(ctx *fiber.Ctx, allowed ...string) error {
	var bad error
	seen := map[string]bool{}
	ctx.Context().QueryArgs().VisitAll(func(k, _ []byte) {
		key := string(k)
		switch {
		case bad != nil:
		case !slices.Contains(allowed, key):
			bad = fmt.Errorf("The page takes no parameter %q.", key)
		case seen[key]:
			bad = fmt.Errorf("The parameter %q is given twice.", key)
		}
		seen[key] = true
	})
	return bad
}
