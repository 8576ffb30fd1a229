package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/page"
	"github.com/clavisiam/clavis/projections"
)

// WithOAuth serves each tenant's OAuth 2.0 endpoints from p. It needs
// [WithAdmin] too, whose read model the metadata comes from.
func WithOAuth(p *oauth.Provider) Option {
	return func(o *options) error {
		if p == nil {
			return fmt.Errorf("%w: WithOAuth: nil provider", ErrInvalidOption)
		}
		o.oauth = p
		return nil
	}
}

// oauthRoutes registers every tenant's OAuth 2.0 endpoints.
func (s *Server) oauthRoutes() {
	// Ahead of every endpoint's handlers (middleware: not a route).
	s.app.Use("/t/:tenant/oauth2", boundForm)
	post, get := s.cors("POST", clientOrigins), s.cors("GET", tenantOrigins)
	endpoints := map[string]fiber.Handler{"token": s.token, "introspect": s.introspect}
	if s.oauth.Revokes() {
		endpoints["revoke"] = s.revoke
	}
	for name, h := range endpoints {
		s.app.Post("/t/:tenant/oauth2/"+name, post, h)
		s.app.Options("/t/:tenant/oauth2/"+name, post)
	}
	s.registrationRoutes()
	s.browserRoutes()
	s.app.Get("/t/:tenant/.well-known/oauth-authorization-server", get, s.authorizationServerMetadata)
	// RFC 8414 §3.1 inserts the well-known part before the issuer's path.
	s.app.Get("/.well-known/oauth-authorization-server/t/:tenant", get, s.authorizationServerMetadata)
	s.app.Options("/t/:tenant/.well-known/oauth-authorization-server", get)
}

// The OAuth form endpoints (token, introspect, revoke, auth, logout,
// userinfo) take small forms: the largest a client has reason to send is
// a logout's id_token_hint, an ID token with up to 16 KiB of claims (a
// client assertion is at most 8 KiB, an authorization request keeps at
// most 8 KiB). A body over maxOAuthForm bytes, or a request of more than
// maxOAuthParameters parameters (query and body), is refused before
// anything parses it: an unauthenticated 1 MiB "a&a&a..." otherwise
// cost tens of milliseconds of CPU.
const (
	maxOAuthForm       = 32 << 10
	maxOAuthParameters = 64
)

// boundForm refuses, with invalid_request, a POST to an OAuth form
// endpoint over maxOAuthForm or maxOAuthParameters (a page to the
// browser at the authorization and logout endpoints; RFC 6749's JSON
// elsewhere). Registration takes JSON, authenticated first, within the
// server's body limit: it is not bounded here.
func boundForm(c *fiber.Ctx) error {
	_, endpoint, _ := strings.Cut(c.Path(), "/oauth2/")
	if c.Method() != fiber.MethodPost || endpoint == "register" {
		return c.Next()
	}
	body := c.Request().Body() // as it came: compressed bodies are refused
	if len(body) <= maxOAuthForm &&
		bytes.Count(body, []byte{'&'})+bytes.Count(c.Request().URI().QueryString(), []byte{'&'}) < maxOAuthParameters {
		return c.Next()
	}
	description := fmt.Sprintf("The request must have at most %d parameters in at most %d bytes.", maxOAuthParameters, maxOAuthForm)
	if endpoint == "auth" || endpoint == "logout" {
		var b bytes.Buffer
		if err := page.Render(&b, page.Error{Code: "invalid_request", Description: description}); err != nil {
			return err
		}
		page.SetHeaders(c.Set)
		return c.Status(http.StatusBadRequest).Send(b.Bytes())
	}
	return oauthError(c, http.StatusBadRequest, "invalid_request", description)
}

// token serves the token endpoint: the plain client_credentials request
// from the provider's quick path, straight from fasthttp's parsed form,
// and every other request (errors included) through fosite.
func (s *Server) token(c *fiber.Ctx) error {
	// A query string, which the quick path does not read, goes to
	// fosite's, which refuses a parameter given in it and in the body.
	if ct := c.Get(fiber.HeaderContentType); (ct == fiber.MIMEApplicationForm || strings.HasPrefix(ct, fiber.MIMEApplicationForm+";")) &&
		len(c.Request().URI().QueryString()) == 0 {
		if slug := param(c, "tenant"); tenant.ValidSlug(slug) {
			if answer, ok := s.oauth.QuickClientCredentials(c.UserContext(), slug, s.remoteAddr(c), c.Get(fiber.HeaderAuthorization), c.Request().PostArgs()); ok {
				c.Set(fiber.HeaderCacheControl, "no-store")
				c.Set(fiber.HeaderPragma, "no-cache")
				c.Set(fiber.HeaderContentType, "application/json;charset=UTF-8")
				return c.Send(answer)
			}
		}
	}
	return s.serveOAuth(c, s.oauth.ServeToken)
}

func (s *Server) introspect(c *fiber.Ctx) error { return s.serveOAuth(c, s.oauth.ServeIntrospect) }

func (s *Server) revoke(c *fiber.Ctx) error { return s.serveOAuth(c, s.oauth.ServeRevoke) }

// serveOAuth runs one of the provider's endpoints for the {tenant} of c;
// a tenant that does not exist is "not found", as everywhere.
func (s *Server) serveOAuth(c *fiber.Ctx, endpoint func(http.ResponseWriter, *http.Request, string) error) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	var served error
	if err := serveNetHTTP(c, s.remoteAddr(c), func(w http.ResponseWriter, r *http.Request) { served = endpoint(w, r, slug) }); err != nil {
		return err
	}
	if errors.Is(served, oauth.ErrUnknownTenant) {
		return notFound()
	}
	return served
}

// authorizationServerMetadata serves RFC 8414 metadata.
func (s *Server) authorizationServerMetadata(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	v, err := s.admin.ReadModel.Tenant(ctx, slug)
	if errors.Is(err, projections.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		return err
	}
	cat, err := s.admin.ReadModel.Catalogue(ctx, slug)
	if err != nil {
		return err
	}
	var algs []string
	for _, k := range v.PublishedKeys(time.Now()) {
		if !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return sendJSON(c, http.StatusOK, s.oauth.Metadata(slug, cat.List(), algs))
}
