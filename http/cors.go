package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/projections"
)

// Origins tells which origins a tenant's clients let browsers call the
// OAuth endpoints from: each client's allowed_cors_origins. The token
// path's cache is one.
type Origins interface {
	// Origins are the origins of the tenant's active clients, for a
	// preflight, which names no client.
	Origins(ctx context.Context, tenant string) (map[string]bool, error)
	ClientByID(ctx context.Context, clientID string) (projections.ClientView, error)
}

// WithCORS answers cross-origin requests to the OAuth endpoints and the
// metadata for the origins the tenant's clients allow, and no others:
// a preflight for any origin one of the tenant's active clients allows,
// a token, introspection or revocation request for the origins of the
// client it names.
func WithCORS(o Origins) Option {
	return func(opts *options) error {
		if o == nil {
			return fmt.Errorf("%w: WithCORS: nil origins", ErrInvalidOption)
		}
		opts.origins = o
		return nil
	}
}

// corsOrigins says which origins an actual cross-origin request to a
// route may come from; a preflight names no client, so it is always
// answered for the tenant's origins.
type corsOrigins int

const (
	// tenantOrigins: those any of the tenant's active clients allows (the
	// metadata, the key set, the login API).
	tenantOrigins corsOrigins = iota
	// clientOrigins: only those of the client the request names (token,
	// introspection, revocation), and none when it names no client.
	clientOrigins
)

// cors is the middleware of a route browsers may call from another
// origin with methods, from the origins allowed says. A preflight allows
// the request headers headers, by default Authorization and Content-Type.
func (s *Server) cors(methods string, allowed corsOrigins, headers ...string) fiber.Handler {
	allowHeaders := "Authorization, Content-Type"
	if len(headers) > 0 {
		allowHeaders = strings.Join(headers, ", ")
	}
	return func(c *fiber.Ctx) error {
		origin := c.Get(fiber.HeaderOrigin)
		ctx, slug := c.UserContext(), param(c, "tenant")
		if c.Method() == fiber.MethodOptions {
			c.Set(fiber.HeaderAllow, methods+", OPTIONS")
			if origin != "" && s.origins != nil {
				c.Vary(fiber.HeaderOrigin)
				if s.tenantAllows(ctx, slug, origin) {
					c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
					c.Set(fiber.HeaderAccessControlAllowMethods, methods)
					c.Set(fiber.HeaderAccessControlAllowHeaders, allowHeaders)
					c.Set(fiber.HeaderAccessControlMaxAge, "600")
				}
			}
			return c.SendStatus(fiber.StatusNoContent)
		}
		if origin == "" || s.origins == nil {
			return c.Next()
		}
		c.Vary(fiber.HeaderOrigin)
		id := ""
		if allowed == clientOrigins {
			id = requestClientID(c)
		}
		err := c.Next()
		ok := false
		switch {
		case id != "":
			v, cerr := s.origins.ClientByID(ctx, id)
			ok = cerr == nil && v.Tenant == slug && v.Active && slices.Contains(v.Settings.AllowedCORSOrigins, origin)
		case allowed == tenantOrigins:
			ok = s.tenantAllows(ctx, slug, origin)
		}
		if ok {
			c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		}
		return err
	}
}

func (s *Server) tenantAllows(ctx context.Context, slug, origin string) bool {
	origins, err := s.origins.Origins(ctx, slug)
	return err == nil && origins[origin]
}

// requestClientID is the client a request to an OAuth endpoint names:
// the user of its HTTP Basic credentials, or its client_id parameter.
func requestClientID(c *fiber.Ctx) string {
	if id, _, ok := oauth.BasicCredentials(c.Get(fiber.HeaderAuthorization)); ok {
		return id
	}
	return string(c.Request().PostArgs().Peek("client_id")) // the body only, as fosite reads it
}
