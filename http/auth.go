package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ErrUnauthenticated is what an [Authenticator] returns for a token it does
// not accept.
var ErrUnauthenticated = errors.New("httpapi: token not accepted")

// Principal is who a bearer token stands for.
type Principal struct {
	// Actor names the principal in the events it causes: "root",
	// "client:{client_id}".
	Actor string
	// Platform is true for the platform operator, who may call every
	// route, the platform API and every tenant's admin API.
	Platform bool
	// Tenant is the one tenant whose admin API a tenant credential may
	// call ("" for the platform operator).
	Tenant string
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

// authenticate is the middleware of the admin routes. It answers 401,
// with a Bearer challenge (RFC 6750 §3), when the request has no bearer
// token or one the Authenticator refuses, and 403 when the principal may
// not call the route: the platform API is the platform operator's, and a
// tenant credential reaches only its own tenant's admin API. A tenant
// credential used at another tenant gets the same 403 whether or not that
// tenant exists.
func (s *Server) authenticate(platformOnly bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		token, ok := bearer(c.Get(fiber.HeaderAuthorization))
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf("Bearer realm=%q", realm))
			return unauthorized("This API needs an Authorization: Bearer token.")
		}
		p, err := s.admin.Auth.Authenticate(c.UserContext(), token)
		if errors.Is(err, ErrUnauthenticated) {
			c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\"", realm))
			return unauthorized("The bearer token is not valid here.")
		}
		if err != nil {
			return fmt.Errorf("authenticate: %w", err)
		}
		if !p.Platform && (platformOnly || p.Tenant != c.Params("tenant")) {
			c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf("Bearer realm=%q, error=\"insufficient_scope\"", realm))
			return &Problem{Type: ProblemForbidden, Title: "Forbidden", Status: http.StatusForbidden, Detail: "This token may not call this API."}
		}
		c.Locals(principalKey{}, p)
		return c.Next()
	}
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
