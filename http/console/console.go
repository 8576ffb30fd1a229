// Package console serves the browser console of Clavis: each tenant's at
// /t/{tenant}/console/, for the people who manage its clients, and the
// platform operator's at /console/.
//
// Pages are rendered on the server with html/template; the stylesheet and
// the little script there is (copy to clipboard, confirmations) are
// embedded files, allowed by a Content-Security-Policy that admits no
// inline script. A person signs in to a tenant's console through the
// tenant's own authorization endpoint, as the first-party public client
// tenants.ConsoleClientCode (authorization code with PKCE); the access
// token the console gets is the session, kept sealed in an HttpOnly,
// SameSite cookie scoped to the tenant's console path, and checked on
// every request exactly as the admin API checks it, so that the console
// never does what the API would refuse the same person. The operator
// signs in with the root token once; the session cookie stands for it
// for an hour.
//
// The console changes nothing itself: every form runs a command of the
// tenants package, with the person as the actor ("user:{sub}") and the
// reason they gave.
package console

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/http/guess"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/tenants"
)

// Waiter is the read model's projector: after a write the console waits
// for it, bounded, so that the page it shows next holds the write.
type Waiter interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
}

// TokenService is the tenant's OAuth 2.0 provider as the console uses it:
// it serves the token and revocation endpoints (the console exchanges
// its codes and revokes its tokens through them, in process, as any
// client would over HTTP) and verifies access tokens. *oauth.Provider is
// one.
type TokenService interface {
	ServeToken(w http.ResponseWriter, r *http.Request, slug string) error
	ServeRevoke(w http.ResponseWriter, r *http.Request, slug string) error
	VerifyAccessToken(ctx context.Context, token string) (oauth.AccessToken, error)
	Issuer(slug string) string
}

// Revocations keeps revoked credentials until they expire, on every
// node (bucket.Revocations is one): the console keeps its operator
// sessions there, under the realm [operatorRealm].
type Revocations interface {
	Revoke(ctx context.Context, tenant, id string, until time.Time) error
	Revoked(tenant, id string) bool
}

// AuditEntries reads a tenant's audit log (the audit API's reader).
type AuditEntries interface {
	Entries(ctx context.Context, tenant string, f auditlog.Filter, after int64, limit int) ([]auditlog.Entry, error)
	// Latest is the tenant's latest signed checkpoint, or an error
	// matching auditlog.ErrNotFound when it has none yet.
	Latest(ctx context.Context, tenant string) (auditlog.SignedCheckpoint, error)
}

// WebhookReads reads a tenant's webhook endpoints and their delivery log.
type WebhookReads interface {
	Endpoint(ctx context.Context, tenant, id string) (webhooks.Endpoint, error)
	Endpoints(ctx context.Context, tenant string) ([]webhooks.Endpoint, error)
	Attempts(ctx context.Context, tenant, id string, before int64, limit int) ([]webhooks.Attempt, error)
}

// RequestFunc makes the metadata of the command a console request runs:
// the request's id, source address, User-Agent and trace, with actor,
// authority and reason. A reason that breaks the rules of the admin API's
// X-Clavis-Reason header is an error whose message says why, to show next
// to the reason field.
type RequestFunc func(c *fiber.Ctx, actor string, authority tenants.Authority, reason string) (tenants.Request, error)

// Config is what the console needs. Tenants, Clients, ReadModel, Tokens,
// Request, RootToken, PublicURL and Key are required.
type Config struct {
	Tenants   *tenants.Tenants
	Clients   *tenants.Clients
	ReadModel projections.ReadModel
	// Waiter, when set, gives read-your-writes after a form is posted.
	Waiter Waiter
	// Tokens exchanges codes, revokes and verifies tokens.
	Tokens  TokenService
	Request RequestFunc
	// RootToken is the platform operator's token, with which the
	// operator signs in.
	RootToken string
	// PublicURL is the base of every URL the console builds (the
	// issuers' base), without a trailing slash.
	PublicURL string
	// Key seals the console's cookies and makes its CSRF tokens: 32
	// bytes, the same on every node. OldKeys, of master keys being
	// replaced, still open and verify what they sealed and made, so that
	// putting a new master key first signs nobody out.
	Key     []byte
	OldKeys [][]byte
	// AuditLog, when set, serves the tenant's audit log page.
	AuditLog AuditEntries
	// WebhookCommands and WebhookReads, when both set, serve the webhook
	// pages of the tenant settings.
	WebhookCommands *tenants.Webhooks
	WebhookReads    WebhookReads
	// WebhookWaiter, when set, is the webhook projection: after a
	// webhook form is posted the console waits for it, bounded, so that
	// the page it shows next holds the write.
	WebhookWaiter Waiter
	// WebhookDeliverer, when set, pings endpoints on request; without it
	// the endpoint page says that this node does not deliver.
	WebhookDeliverer WebhookDeliverer
	// SignedOut records the operator sessions signed out, on every node,
	// until they would have expired (the token revocations' bucket is
	// one). Required: an operator's cookie is the whole of its session,
	// and a copy of it must be worth nothing once the operator signs out.
	SignedOut Revocations
	// Log logs what fails; nil logs nothing.
	Log *slog.Logger
	// ShowClient is a client as the admin API's GET shows it (secret
	// hashes and the pairwise subject salt left out): what the history's
	// diffs and past states show, so that the console shows nothing the
	// API hides. Required.
	ShowClient func(projections.ClientView) any
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Guesses slows down the guessing of the root token at the
	// operator's sign-in: the admin API's limiter, so that both count the
	// same failures. Required.
	Guesses *guess.Limiter
	// RemoteAddr is a request's source as the server decides it (behind
	// its trusted proxies), with the peer's port: what Guesses counts by,
	// and the remote address of the console's in-process calls to the
	// OAuth endpoints. Required.
	RemoteAddr func(*fiber.Ctx) string
}

// Console serves the console's pages. Create it with [New]; its methods
// are safe for concurrent use.
type Console struct {
	cfg      Config
	pages    map[string]*template.Template
	sealer   *sealer
	secure   bool // cookies are Secure: the public URL is https
	clientID consoleClients
	// roots are the digests of the root token operator sessions are
	// bound to, one under each key (see sealer), the current one first.
	roots [][]byte
}

// New returns the console over cfg.
func New(cfg Config) (*Console, error) {
	var missing []string
	for name, ok := range map[string]bool{"Tenants": cfg.Tenants != nil, "Clients": cfg.Clients != nil, "ReadModel": cfg.ReadModel != nil,
		"Tokens": cfg.Tokens != nil, "SignedOut": cfg.SignedOut != nil, "Request": cfg.Request != nil, "RootToken": cfg.RootToken != "", "PublicURL": cfg.PublicURL != "",
		"Guesses": cfg.Guesses != nil, "RemoteAddr": cfg.RemoteAddr != nil} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, errors.New("console: missing " + strings.Join(missing, ", "))
	}
	if cfg.ShowClient == nil {
		return nil, errors.New("console: missing ShowClient")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s, err := newSealer(append([][]byte{cfg.Key}, cfg.OldKeys...)...)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, pages: pages, sealer: s, secure: strings.HasPrefix(cfg.PublicURL, "https://"),
		clientID: consoleClients{m: map[string]string{}}, roots: s.rootDigests(cfg.RootToken)}
	return c, nil
}

// Routes registers the console's routes on app: the assets, each
// tenant's console and the operator's.
func (c *Console) Routes(app *fiber.App) {
	app.Get(assetsPath+":name", serveAsset)

	t := app.Group("/t/:tenant/console", c.pageHeaders, c.errorPage, c.tenantOnly)
	t.Get("/login", c.signIn)
	t.Get("/callback", c.callback)
	t.Get("/signed-out", c.signedOut)
	t.Post("/logout", c.tenantSession, c.checkCSRF, c.signOut)
	s := t.Group("", c.tenantSession)
	s.Use(c.checkCSRF)
	c.clientFormRoutes(s) // before clientRoutes: clients/new is no client id
	c.clientRoutes(s)
	c.historyRoutes(s)
	c.exchangeRoutes(s)
	c.settingsRoutes(s)
	c.clientPageRoutes(s)
	s.Use(c.notFound)

	p := app.Group("/console", c.pageHeaders, c.errorPage)
	p.Get("/login", c.operatorSignInPage)
	p.Post("/login", c.operatorSignIn)
	p.Post("/logout", c.operatorSession, c.checkCSRF, c.operatorSignOut)
	o := p.Group("", c.operatorSession)
	o.Use(c.checkCSRF)
	c.platformRoutes(o)
	o.Use(c.notFound)
}

// now is the console's clock.
func (c *Console) now() time.Time { return c.cfg.Now() }

// settle waits, bounded, for the read model to reach pos, so that the
// page shown after a write holds it.
func (c *Console) settle(ctx context.Context, pos eventstore.Position) {
	if c.cfg.Waiter == nil || pos.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.cfg.Waiter.WaitFor(ctx, pos); err != nil {
		c.cfg.Log.Warn("console: the read model did not reach a write in time", "position", pos.String(), "error", err)
	}
}
