package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/http/guess"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/tenants"
)

// ErrUnauthenticated is what an [Authenticator] returns for a token it does
// not accept.
var ErrUnauthenticated = errors.New("httpapi: token not accepted")

// Principal is who a bearer token stands for.
type Principal struct {
	// Actor names the principal in the events it causes: "root",
	// "client:{client_id}" for a client acting for itself,
	// "user:{sub}@client:{client_id}" for a person acting through a
	// client (see [TokenActor]).
	Actor string
	// Platform is true for the platform operator, who may call every
	// route, the platform API and every tenant's admin API.
	Platform bool
	// Tenant is the one tenant whose admin API a tenant credential may
	// call ("" for the platform operator).
	Tenant string
	// Scopes are a tenant credential's scopes: clavis:admin for every
	// route of its tenant's admin and audit APIs (and the only one for
	// its webhook endpoints), clavis:clients:read for
	// the reads, clavis:clients:write for reads and writes of clients,
	// clavis:login for the login and consent requests, clavis:audit for
	// the audit API only.
	Scopes []string
	// Expiry is when the credential stops being valid (an access token's
	// exp); the zero time for one that does not expire (the root token).
	Expiry time.Time
}

// Authenticator turns a bearer token into a [Principal]. It is the seam
// for credentials other than the root token: tenant admin tokens (access
// tokens with clavis:admin issued to a tenant's admin client) plug in
// here without touching the routes.
type Authenticator interface {
	// Authenticate returns the principal of token, or an error matching
	// [ErrUnauthenticated] for a token it does not accept; any other error
	// is a failure to decide (answered 500). It must compare secrets in
	// constant time, never log the token, and be safe for concurrent use.
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// Authenticators tries each authenticator in turn: the first that
// accepts the token decides.
func Authenticators(list ...Authenticator) Authenticator { return chain(list) }

type chain []Authenticator

func (c chain) Authenticate(ctx context.Context, token string) (Principal, error) {
	for _, a := range c {
		p, err := a.Authenticate(ctx, token)
		if !errors.Is(err, ErrUnauthenticated) {
			return p, err
		}
	}
	return Principal{}, ErrUnauthenticated
}

// TokenVerifier checks access tokens the tenants issued; oauth.Provider
// is one.
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (oauth.AccessToken, error)
}

// AccessTokens returns an [Authenticator] that accepts access tokens a
// tenant's token endpoint issued, as credentials for that tenant's admin
// API (the "tenant admin tokens"); their scopes decide which routes.
func AccessTokens(v TokenVerifier) Authenticator { return accessTokens{v} }

type accessTokens struct{ v TokenVerifier }

func (a accessTokens) Authenticate(ctx context.Context, token string) (Principal, error) {
	at, err := a.v.VerifyAccessToken(ctx, token)
	if errors.Is(err, oauth.ErrInvalidToken) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{Actor: TokenActor(at), Tenant: at.Tenant, Scopes: at.Scopes, Expiry: at.Expiry}, nil
}

// TokenActor is the actor of the events an access token causes:
// "client:{client_id}" when the client acts for itself (a client
// credentials token, whose subject is the client), and
// "user:{sub}@client:{client_id}" when a person acts through the client
// (a token of the authorization code flow, whose subject is the user's).
// Client ids are server-made UUIDs, so the last "@client:" of the actor
// separates the two, whatever the subject holds.
func TokenActor(at oauth.AccessToken) string {
	if at.Subject == "" || at.Subject == at.ClientID {
		return "client:" + at.ClientID
	}
	return "user:" + at.Subject + "@client:" + at.ClientID
}

// RootActor is the actor recorded for requests made with the root token.
const RootActor = "root"

// rootToken authenticates the platform operator's token.
type rootToken struct{ sum [sha256.Size]byte }

// RootToken returns an [Authenticator] that accepts exactly token, as the
// platform operator. It compares SHA-256 digests in constant time, so
// neither the token's bytes nor its length leak through timing. token
// must not be empty.
func RootToken(token string) (Authenticator, error) {
	if token == "" {
		return nil, errors.New("httpapi: empty root token")
	}
	return rootToken{sum: sha256.Sum256([]byte(token))}, nil
}

// Authenticate accepts the root token only, as the platform operator.
func (r rootToken) Authenticate(_ context.Context, token string) (Principal, error) {
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], r.sum[:]) != 1 {
		return Principal{}, ErrUnauthenticated
	}
	return Principal{Actor: RootActor, Platform: true}, nil
}

type principalKey struct{}

// principal returns the principal the auth middleware stored.
func principal(c *fiber.Ctx) Principal {
	p, _ := c.Locals(principalKey{}).(Principal)
	return p
}

// realm is the protection space named in WWW-Authenticate challenges.
const realm = "clavis"

// access is what a route needs of its caller.
type access int

const (
	platformOnly access = iota // the platform API: the root token only
	tenantRead                 // a tenant's reads: clavis:admin, clavis:clients:read or :write
	tenantWrite                // a tenant's writes: clavis:admin or clavis:clients:write
	tenantLogin                // a tenant's login and consent requests: clavis:login, clavis:admin or clavis:clients:write
	tenantAudit                // a tenant's audit API: clavis:audit or clavis:admin
	tenantAdmin                // what opens a feed of every event of the tenant (webhooks): clavis:admin only
	tenantEvents               // a tenant's events API: clavis:events:read or clavis:admin
)

// allows reports whether a tenant credential with scopes may call a route
// needing need.
func allows(need access, scopes []string) bool {
	switch need {
	case tenantRead:
		return scope.Holds(scopes, scope.ClientsRead)
	case tenantWrite:
		return scope.Holds(scopes, scope.ClientsWrite)
	case tenantLogin:
		return scope.Holds(scopes, scope.Login)
	case tenantAudit:
		return scope.Holds(scopes, scope.Audit)
	case tenantAdmin:
		return scope.Holds(scopes, scope.Admin)
	case tenantEvents:
		return scope.Holds(scopes, scope.EventsRead)
	}
	return false
}

// authority is the platform authority p brings to the commands it
// issues: all of it for the platform operator, its scopes' for a tenant
// credential (a client managing its own registration holds its own
// platform scopes).
func (p Principal) authority() tenants.Authority {
	if p.Platform {
		return tenants.Authority{}
	}
	return tenants.TokenAuthority(p.Scopes)
}

// authenticate is the middleware of the admin routes. It answers 401,
// with a Bearer challenge (RFC 6750 §3), when the request has no bearer
// token or one the Authenticator refuses. A tenant credential used at
// another tenant is answered "not found", exactly as a tenant that does
// not exist (it learns nothing of other tenants); one without the scope
// a route needs, and any tenant credential at the platform API, get 403
// with insufficient_scope.
func (s *Server) authenticate(need access) fiber.Handler {
	return func(c *fiber.Ctx) error {
		token, ok := bearer(c.Get(fiber.HeaderAuthorization))
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf("Bearer realm=%q", realm))
			return unauthorized("This API needs an Authorization: Bearer token.")
		}
		return s.admit(c, need, token)
	}
}

// authenticateOrQuery is authenticate for a route browsers reach with
// EventSource, which cannot send an Authorization header: the token may
// come instead in the access_token query parameter (RFC 6750 §2.3),
// never in both. Such a route answers Cache-Control: no-store, and no
// log line holds a query string.
func (s *Server) authenticateOrQuery(need access) fiber.Handler {
	return func(c *fiber.Ctx) error {
		header := c.Get(fiber.HeaderAuthorization)
		query := c.Context().QueryArgs().Peek("access_token")
		c.Set(fiber.HeaderCacheControl, "no-store")
		if header != "" && len(query) > 0 {
			return &Problem{Type: ProblemBadRequest, Title: "Bad request", Status: http.StatusBadRequest,
				Detail: "Send the token in the Authorization header or in access_token, not in both."}
		}
		if header == "" && len(query) > 0 {
			return s.admit(c, need, string(query))
		}
		token, ok := bearer(header)
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf("Bearer realm=%q", realm))
			return unauthorized("This API needs an Authorization: Bearer token, or an access_token parameter.")
		}
		return s.admit(c, need, token)
	}
}

// admit decides whether token may call the route, which needs need, and
// goes on to it when it may. A source with too many tokens refused
// lately is answered 429 before its token is looked at (see
// [WithGuesses]); a refused token counts against it.
func (s *Server) admit(c *fiber.Ctx, need access, token string) error {
	source := s.source(c)
	if wait, ok := s.guesses.Allow(source, guess.Client{}); !ok {
		return tooManyGuesses(c, wait)
	}
	p, err := s.decide(c.UserContext(), need, c.Params("tenant"), token)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		s.guesses.Fail(source, guess.Client{})
		c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\"", realm))
		return unauthorized("The bearer token is not valid here.")
	case errors.Is(err, errOtherTenant):
		return notFound()
	case errors.Is(err, errInsufficientScope):
		c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf("Bearer realm=%q, error=\"insufficient_scope\"", realm))
		return &Problem{Type: ProblemForbidden, Title: "Forbidden", Status: http.StatusForbidden, Detail: "This token may not call this API."}
	case err != nil:
		return err
	}
	c.Locals(principalKey{}, p)
	return c.Next()
}

// What decide refuses, besides a token the Authenticator refuses
// ([ErrUnauthenticated]).
var (
	errOtherTenant       = errors.New("httpapi: a credential of another tenant")
	errInsufficientScope = errors.New("httpapi: insufficient scope")
)

// decide is the decision of admit, apart from the request, so that a
// long-lived answer (an event stream) can take it again: the principal
// of token when it may call a route needing need at tenant (the route's
// {tenant}, "" for none); else an error matching [ErrUnauthenticated],
// errOtherTenant or errInsufficientScope, or the failure to decide.
func (s *Server) decide(ctx context.Context, need access, tenant, token string) (Principal, error) {
	p, err := s.admin.Auth.Authenticate(ctx, token)
	if errors.Is(err, ErrUnauthenticated) {
		return Principal{}, err
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if !p.Platform && need != platformOnly && p.Tenant != tenant {
		return Principal{}, errOtherTenant
	}
	if !p.Platform && (need == platformOnly || !allows(need, p.Scopes)) {
		return Principal{}, errInsufficientScope
	}
	return p, nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive, RFC 9110 §11.1).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
