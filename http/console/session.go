package console

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// The console's cookies. Each tenant's are scoped to its console's path,
// the operator's to /console/: a session of one tenant is never sent to
// another's console.
const (
	sessionCookie = "clavis_console"
	signInCookie  = "clavis_console_signin"
	// signInLifetime bounds the time between leaving for the
	// authorization endpoint and coming back with a code.
	signInLifetime = 10 * time.Minute
	// operatorLifetime is how long an operator's session lasts.
	operatorLifetime = time.Hour
)

// Session is who is signed in to a console page.
type Session struct {
	// Tenant is the tenant whose console this is ("" for the operator's).
	Tenant string
	// Subject is the person's subject at the tenant ("" for the operator).
	Subject string
	// Actor names the person in the events their changes cause:
	// "user:{sub}", or "root" for the operator.
	Actor string
	// Scopes are the platform scopes the login application granted.
	Scopes []string
	// Platform is true for the operator's session.
	Platform bool
	// Expiry is when the session ends.
	Expiry time.Time
	// id tells sessions apart; CSRF tokens are bound to it.
	id string
}

// Authority is the session's authority over platform scopes, as the
// admin API gives a token with the same scopes.
func (s Session) Authority() tenants.Authority {
	if s.Platform {
		return tenants.Authority{}
	}
	return tenants.TokenAuthority(s.Scopes)
}

// CanRead, CanWrite, CanAudit and CanAdmin say what the session may do,
// by the admin API's rules: reading clients (clavis:clients:read), writing
// them (clavis:clients:write), reading the audit log and past states
// (clavis:audit), the tenant's settings and webhooks (clavis:admin). The
// operator may do everything.
func (s Session) CanRead() bool  { return s.Platform || scope.Holds(s.Scopes, scope.ClientsRead) }
func (s Session) CanWrite() bool { return s.Platform || scope.Holds(s.Scopes, scope.ClientsWrite) }
func (s Session) CanAudit() bool { return s.Platform || scope.Holds(s.Scopes, scope.Audit) }
func (s Session) CanAdmin() bool { return s.Platform || scope.Holds(s.Scopes, scope.Admin) }

type sessionKey struct{}

// session returns the session the middleware admitted.
func session(c *fiber.Ctx) Session {
	s, _ := c.Locals(sessionKey{}).(Session)
	return s
}

// ---- sealing

// sealer seals the console's cookies with AES-256-GCM under a key derived
// from the console's key, bound to the cookie's name and path, so that
// one cookie never opens as another, nor at another tenant. It seals and
// signs with its first key; its others (of master keys being replaced)
// still open and verify.
type sealer struct {
	aeads []cipher.AEAD
	csrfs [][]byte
}

func newSealer(keys ...[]byte) (*sealer, error) {
	s := &sealer{}
	for _, key := range keys {
		if len(key) != 32 {
			return nil, fmt.Errorf("console: a key has %d bytes, want 32", len(key))
		}
		derive := func(label string) []byte {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(label))
			return m.Sum(nil)
		}
		block, err := aes.NewCipher(derive("clavis console cookies"))
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.aeads, s.csrfs = append(s.aeads, aead), append(s.csrfs, derive("clavis console csrf"))
	}
	if len(s.aeads) == 0 {
		return nil, errors.New("console: no key")
	}
	return s, nil
}

// seal returns v as JSON, sealed for the cookie name at path.
func (s *sealer) seal(name, path string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	aead := s.aeads[0]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, plain, []byte(name+"\x00"+path))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// maxCookie is the largest cookie value the console opens.
const maxCookie = 4000

// open opens a cookie value seal made for name at path into v.
func (s *sealer) open(name, path, value string, v any) error {
	if value == "" || len(value) > maxCookie {
		return errors.New("console: no cookie")
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	n := s.aeads[0].NonceSize()
	if err != nil || len(raw) < n {
		return errors.New("console: malformed cookie")
	}
	var plain []byte
	for _, aead := range s.aeads {
		if plain, err = aead.Open(nil, raw[:n], raw[n:], []byte(name+"\x00"+path)); err == nil {
			break
		}
	}
	if err != nil {
		return errors.New("console: cookie not sealed here")
	}
	d := json.NewDecoder(bytes.NewReader(plain))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// csrfToken is the CSRF token of session id: forms carry it in _csrf.
func (s *sealer) csrfToken(id string) string { return csrfTokenWith(s.csrfs[0], id) }

func csrfTokenWith(key []byte, id string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid reports whether sent is session id's CSRF token under one of
// the keys: a page rendered before a new master key was put first still
// posts.
func (s *sealer) csrfValid(id, sent string) bool {
	for _, key := range s.csrfs {
		if subtle.ConstantTimeCompare([]byte(sent), []byte(csrfTokenWith(key, id))) == 1 {
			return true
		}
	}
	return false
}

// ---- cookies

// tenantPath is the path of tenant slug's console, the scope of its
// cookies.
func tenantPath(slug string) string { return "/t/" + slug + "/console/" }

// operatorPath is the operator console's path.
const operatorPath = "/console/"

// setCookie sets a console cookie: HttpOnly, SameSite=Lax (the sign-in
// comes back from the login application by a top-level navigation, which
// Strict would send without it), Secure on https, scoped to path.
func (c *Console) setCookie(ctx *fiber.Ctx, name, path, value string, expires time.Time) {
	ck := &fiber.Cookie{Name: name, Value: value, Path: path, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: c.secure}
	if value == "" {
		ck.Expires = time.Unix(1, 0)
		ck.MaxAge = -1
	} else {
		ck.Expires = expires
	}
	ctx.Cookie(ck)
}

// sessionState is what the tenant session cookie holds.
type sessionState struct {
	ID          string `json:"id"`
	AccessToken string `json:"at"`
	IDToken     string `json:"it,omitempty"`
}

// operatorState is what the operator's session cookie holds: its id, its
// expiry and a digest of the root token it was opened with, so that a new
// root token ends every session.
type operatorState struct {
	ID     string    `json:"id"`
	Expiry time.Time `json:"exp"`
	Root   []byte    `json:"root"`
}

// signInState is what the sign-in cookie holds between the authorization
// request and its answer.
type signInState struct {
	State    string    `json:"state"`
	Verifier string    `json:"verifier"`
	Nonce    string    `json:"nonce"`
	Return   string    `json:"return"`
	Expiry   time.Time `json:"exp"`
}

// randomString returns n random bytes, base64url.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ---- middleware

// pageHeaders sets the headers of every console answer (see [setHeaders]).
func (c *Console) pageHeaders(ctx *fiber.Ctx) error {
	setHeaders(ctx)
	return ctx.Next()
}

// tenantOnly answers "not found" for a path that names no tenant, and
// for a tenant that does not exist: the console learns nothing more of
// tenants than the API does.
func (c *Console) tenantOnly(ctx *fiber.Ctx) error {
	slug := ctx.Params("tenant")
	if !tenant.ValidSlug(slug) {
		return c.notFound(ctx)
	}
	if _, err := c.cfg.ReadModel.Tenant(ctx.UserContext(), slug); err != nil {
		if errors.Is(err, projections.ErrNotFound) {
			return c.notFound(ctx)
		}
		return err
	}
	return ctx.Next()
}

// tenantSession admits a request with a session of the path's tenant
// whose access token the admin API would accept now; without one, a GET
// goes to sign in (and comes back), anything else is refused.
func (c *Console) tenantSession(ctx *fiber.Ctx) error {
	slug := strings.Clone(ctx.Params("tenant"))
	var st sessionState
	err := c.sealer.open(sessionCookie, tenantPath(slug), ctx.Cookies(sessionCookie), &st)
	var s Session
	if err == nil {
		var at oauth.AccessToken
		at, err = c.cfg.Tokens.VerifyAccessToken(ctx.UserContext(), st.AccessToken)
		switch {
		case errors.Is(err, oauth.ErrInvalidToken):
		case err != nil:
			return fmt.Errorf("console: verify session: %w", err)
		case at.Tenant != slug || at.Subject == "" || at.Subject == at.ClientID:
			err = errors.New("console: a token of another tenant or of no person")
		default:
			s = Session{Tenant: slug, Subject: at.Subject, Actor: "user:" + at.Subject, Scopes: platformScopes(at.Scopes), Expiry: at.Expiry, id: st.ID}
		}
	}
	if err != nil {
		c.setCookie(ctx, sessionCookie, tenantPath(slug), "", time.Time{})
		if ctx.Method() == fiber.MethodGet {
			return ctx.Redirect(tenantPath(slug)+"login?return="+url.QueryEscape(string(ctx.Request().URI().RequestURI())), fiber.StatusSeeOther)
		}
		return c.render(ctx, http.StatusUnauthorized, "signin", view{Title: "Signed out", Tenant: slug, Data: signInData{Expired: true}})
	}
	if !s.CanRead() && !s.CanAudit() {
		return c.forbidden(ctx, s, "The login application granted you none of the console's powers.")
	}
	ctx.Locals(sessionKey{}, s)
	return ctx.Next()
}

// platformScopes keeps the platform scopes of a token's scopes.
func platformScopes(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if scope.IsPlatform(s) {
			out = append(out, s)
		}
	}
	return out
}

// operatorSession admits a request with an operator session opened with
// the current root token and not expired; without one, a GET goes to the
// operator's sign-in page, anything else is refused.
func (c *Console) operatorSession(ctx *fiber.Ctx) error {
	var st operatorState
	err := c.sealer.open(sessionCookie, operatorPath, ctx.Cookies(sessionCookie), &st)
	if err == nil && (!c.now().Before(st.Expiry) || !c.rootDigestValid(st.Root) || c.cfg.SignedOut.Revoked(operatorRealm, st.ID)) {
		err = errors.New("console: operator session ended")
	}
	if err != nil {
		c.setCookie(ctx, sessionCookie, operatorPath, "", time.Time{})
		if ctx.Method() == fiber.MethodGet {
			return ctx.Redirect(operatorPath+"login", fiber.StatusSeeOther)
		}
		return c.render(ctx, http.StatusUnauthorized, "operator_signin", view{Title: "Sign in", Data: operatorSignInData{Expired: true}})
	}
	ctx.Locals(sessionKey{}, Session{Actor: rootActor, Platform: true, Expiry: st.Expiry, id: st.ID})
	return ctx.Next()
}

// checkCSRF refuses a POST whose _csrf form value is not the session's
// token, or that a browser says came from another site: a page elsewhere
// cannot make a signed-in browser change anything.
func (c *Console) checkCSRF(ctx *fiber.Ctx) error {
	if ctx.Method() != fiber.MethodPost {
		return ctx.Next()
	}
	s := session(ctx)
	site := ctx.Get("Sec-Fetch-Site")
	if (site != "" && site != "same-origin") || !c.sealer.csrfValid(s.id, csrfValue(ctx)) {
		return c.render(ctx, http.StatusForbidden, "error", view{Title: "Form refused", Tenant: s.Tenant, Session: &s,
			Data: errorData{Message: "This form expired or came from another page. Go back, reload the page and try again."}})
	}
	return ctx.Next()
}

// csrfValue is the _csrf value of a posted form (url-encoded or
// multipart).
func csrfValue(ctx *fiber.Ctx) string {
	if v := ctx.FormValue("_csrf"); v != "" {
		return v
	}
	return ""
}

// consoleClients remembers each tenant's console client id: the client
// with code tenants.ConsoleClientCode, which never changes code.
type consoleClients struct {
	mu sync.Mutex
	m  map[string]string
}

// consoleClient returns tenant slug's console client, registering it
// when the tenant has none yet (the first time anyone opens the console),
// as the platform.
func (c *Console) consoleClient(ctx context.Context, slug string) (projections.ClientView, error) {
	c.clientID.mu.Lock()
	id := c.clientID.m[slug]
	c.clientID.mu.Unlock()
	if id != "" {
		v, err := c.cfg.ReadModel.Client(ctx, slug, id)
		if err == nil && v.Settings.Code == tenants.ConsoleClientCode {
			return v, nil
		}
	}
	v, err := c.findConsoleClient(ctx, slug)
	if errors.Is(err, projections.ErrNotFound) {
		req := tenants.Request{Actor: tenants.SystemActor, Reason: "the tenant's console was opened for the first time"}
		res, rerr := c.cfg.Clients.RegisterConsole(ctx, req, slug, c.cfg.PublicURL+tenantPath(slug)+"callback", c.cfg.PublicURL+tenantPath(slug)+"signed-out")
		if rerr == nil {
			c.settle(ctx, res.Position)
			v, err = res.Client, nil
		} else {
			// Another node or request registered it first.
			v, err = c.findConsoleClient(ctx, slug)
		}
	}
	if err != nil {
		return projections.ClientView{}, err
	}
	if v, err = c.followPublicURL(ctx, slug, v); err != nil {
		return projections.ClientView{}, err
	}
	c.clientID.mu.Lock()
	c.clientID.m[slug] = v.ClientID
	c.clientID.mu.Unlock()
	return v, nil
}

// findConsoleClient reads tenant slug's console client, or ErrNotFound.
// It searches for the console client's code and reads every page of the
// search: other clients may have the code in their names, as many as
// anyone who writes clients likes.
func (c *Console) findConsoleClient(ctx context.Context, slug string) (projections.ClientView, error) {
	f := projections.ClientFilter{Search: tenants.ConsoleClientCode, Limit: projections.MaxPage}
	for {
		list, next, err := c.cfg.ReadModel.Clients(ctx, slug, f)
		if err != nil {
			return projections.ClientView{}, err
		}
		for _, v := range list {
			if v.Settings.Code == tenants.ConsoleClientCode {
				return v, nil
			}
		}
		if next == "" || len(list) == 0 {
			return projections.ClientView{}, projections.ErrNotFound
		}
		f.After = next
	}
}

// followPublicURL points tenant slug's console client v at this node's
// public URL when it was registered under another (the operator moved
// the platform): without it, the authorization endpoint would refuse the
// console's redirect URI and nobody could sign in.
func (c *Console) followPublicURL(ctx context.Context, slug string, v projections.ClientView) (projections.ClientView, error) {
	callback, home := c.callbackURL(slug), c.cfg.PublicURL+tenantPath(slug)+"signed-out"
	if slices.Equal(v.Settings.RedirectURIs, []string{callback}) && slices.Equal(v.Settings.PostLogoutRedirectURIs, []string{home}) {
		return v, nil
	}
	req := tenants.Request{Actor: tenants.SystemActor, Reason: "the platform's public URL changed"}
	res, err := c.cfg.Clients.Update(ctx, req, slug, v.ClientID,
		client.Patch{RedirectURIs: &[]string{callback}, PostLogoutRedirectURIs: &[]string{home}}, v.Version)
	if err != nil {
		return projections.ClientView{}, fmt.Errorf("console: follow the public URL: %w", err)
	}
	c.settle(ctx, res.Position)
	return res.Client, nil
}
