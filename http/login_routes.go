package httpapi

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/page"
)

// browserRoutes registers the endpoints of the browser flows: the
// authorization endpoint, userinfo, logout, OpenID Connect discovery,
// the login and consent API of the tenant's login application and,
// with the development login, its page.
func (s *Server) browserRoutes() {
	if !s.oauth.Authorizes() {
		return
	}
	s.app.Get("/t/:tenant/oauth2/auth", s.authorize)
	s.app.Post("/t/:tenant/oauth2/auth", s.authorize)
	get := s.cors("GET, POST", tenantOrigins)
	s.app.Get("/t/:tenant/oauth2/userinfo", get, s.userinfo)
	s.app.Post("/t/:tenant/oauth2/userinfo", get, s.userinfo)
	s.app.Options("/t/:tenant/oauth2/userinfo", get)
	s.app.Get("/t/:tenant/oauth2/logout", s.logout)
	s.app.Post("/t/:tenant/oauth2/logout", s.logout)
	s.app.Get("/t/:tenant/.well-known/openid-configuration", s.cors("GET", tenantOrigins), s.authorizationServerMetadata)
	s.app.Options("/t/:tenant/.well-known/openid-configuration", s.cors("GET", tenantOrigins))

	// The tenant's login application answers challenges with a tenant
	// token with clavis:login (or one that may write: clavis:admin or
	// clavis:clients:write).
	login := s.authenticate(tenantLogin)
	t := s.app.Group("/t/:tenant/admin")
	for _, kind := range []string{"login", "consent"} {
		t.Get("/"+kind+"-requests/:challenge", login, noQuery, s.challenge(kind))
		t.Post("/"+kind+"-requests/:challenge/accept", login, noQuery, s.acceptChallenge(kind))
		t.Post("/"+kind+"-requests/:challenge/reject", login, noQuery, s.rejectChallenge(kind))
	}
	if s.oauth.DevLogin() {
		s.app.Get("/t/:tenant/dev/login", s.devLoginPage)
		s.app.Post("/t/:tenant/dev/login", s.devLoginAnswer)
	}
}

func (s *Server) authorize(c *fiber.Ctx) error { return s.serveOAuth(c, s.oauth.ServeAuthorize) }

func (s *Server) userinfo(c *fiber.Ctx) error { return s.serveOAuth(c, s.oauth.ServeUserinfo) }

func (s *Server) logout(c *fiber.Ctx) error { return s.serveOAuth(c, s.oauth.ServeLogout) }

// challengeProblem maps the errors of the login API to problems.
func challengeProblem(err error) error {
	var input *oauth.InvalidInputError
	var beyond *oauth.BeyondAuthorityError
	switch {
	case oauth.IsUnavailable(err):
		// Before any other: a store that cannot be reached says nothing
		// of the challenge.
		return unavailable()
	case errors.As(err, &beyond):
		return &Problem{Type: ProblemForbidden, Title: "Forbidden", Status: http.StatusForbidden,
			Detail: "This token may not grant " + beyond.Scope + ": a login application grants only the platform scopes its own token holds."}
	case errors.Is(err, oauth.ErrChallengeNotFound), errors.Is(err, oauth.ErrUnknownTenant), errors.Is(err, oauth.ErrNoGrants):
		return notFound()
	case errors.Is(err, oauth.ErrChallengeUsed):
		return &Problem{Type: ProblemConflict, Title: "Conflict", Status: http.StatusConflict,
			Detail: "The challenge was used: the browser came back with an answer to it; start a new authorization request."}
	case errors.Is(err, oauth.ErrGrantTooLarge):
		// The answer's fields are bounded so that this cannot happen;
		// should it, it is the answer's size, not a server error.
		return &Problem{Type: ProblemPayloadTooLarge, Title: "Payload too large", Status: http.StatusRequestEntityTooLarge,
			Detail: "The answer is too large to keep with the authorization request."}
	case errors.As(err, &input):
		return &Problem{Type: ProblemValidation, Title: "Validation failed", Status: http.StatusUnprocessableEntity,
			Detail: "1 field(s) are invalid; see errors.", Errors: []*domain.FieldError{{Field: input.Field, Code: "invalid", Message: input.Reason}}}
	}
	return err
}

// challenge answers what the login application reads of a challenge.
func (s *Server) challenge(kind string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		slug, err := tenantParam(c, "tenant")
		if err != nil {
			return err
		}
		describe := s.oauth.LoginRequest
		if kind == "consent" {
			describe = s.oauth.ConsentRequest
		}
		lr, err := describe(c.UserContext(), slug, c.Params("challenge"))
		if err != nil {
			return challengeProblem(err)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return sendJSON(c, http.StatusOK, lr)
	}
}

// acceptChallenge accepts a login (body: oauth.LoginAcceptance) or a
// consent (oauth.ConsentAcceptance) and answers where the browser goes.
func (s *Server) acceptChallenge(kind string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		slug, err := tenantParam(c, "tenant")
		if err != nil {
			return err
		}
		// The login application grants a person only the platform scopes
		// its own credential holds.
		p := principal(c)
		holds := func(sc string) bool { return p.Platform || scope.Holds(p.Scopes, sc) }
		var res oauth.Redirect
		if kind == "login" {
			var in oauth.LoginAcceptance
			if err := decode(c, &in); err != nil {
				return err
			}
			in.Holds = holds
			res, err = s.oauth.AcceptLogin(c.UserContext(), slug, c.Params("challenge"), in)
		} else {
			var in oauth.ConsentAcceptance
			if err := decodeOptional(c, &in); err != nil {
				return err
			}
			in.Holds = holds
			res, err = s.oauth.AcceptConsent(c.UserContext(), slug, c.Params("challenge"), in)
		}
		if err != nil {
			return challengeProblem(err)
		}
		return sendJSON(c, http.StatusOK, res)
	}
}

// rejectChallenge rejects a login or consent (body: oauth.Rejection,
// optional): the client gets the error.
func (s *Server) rejectChallenge(kind string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		slug, err := tenantParam(c, "tenant")
		if err != nil {
			return err
		}
		var in oauth.Rejection
		if err := decodeOptional(c, &in); err != nil {
			return err
		}
		reject := s.oauth.RejectLogin
		if kind == "consent" {
			reject = s.oauth.RejectConsent
		}
		res, err := reject(c.UserContext(), slug, c.Params("challenge"), in)
		if err != nil {
			return challengeProblem(err)
		}
		return sendJSON(c, http.StatusOK, res)
	}
}

// The development login page stands in for a tenant's login application
// under `make run`: it lets anyone in as whoever they type, and asks for
// consent with the requested scopes. It is served only with
// --dev-login, and only for tenants without a login application (a
// tenant's real login application is never bypassed through it). The
// consent page shows the client's logo, links and the scopes'
// descriptions from the tenant's catalogue (package page renders both).

// devKind reads which challenge a development page request carries.
func devKind(get func(string) string) (kind, challenge string) {
	if ch := get("consent_challenge"); ch != "" {
		return "consent", ch
	}
	return "login", get("login_challenge")
}

// devTenant is the tenant of a development login page request: one
// without a login application only, whose challenges the page may
// answer.
func (s *Server) devTenant(c *fiber.Ctx) (string, error) {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return "", err
	}
	v, err := s.admin.ReadModel.Tenant(c.UserContext(), slug)
	if oauth.IsUnavailable(err) {
		return "", unavailable()
	}
	if err != nil || v.LoginURL != "" {
		return "", notFound()
	}
	return slug, nil
}

func (s *Server) devLoginPage(c *fiber.Ctx) error {
	slug, err := s.devTenant(c)
	if err != nil {
		return err
	}
	kind, ch := devKind(func(k string) string { return c.Query(k) })
	describe := s.oauth.LoginRequest
	if kind == "consent" {
		describe = s.oauth.ConsentRequest
	}
	lr, err := describe(c.UserContext(), slug, ch)
	if err != nil {
		return challengeProblem(err)
	}
	client := page.Client{Name: lr.Client.ClientName, LogoURI: lr.Client.LogoURI, ClientURI: lr.Client.ClientURI,
		PolicyURI: lr.Client.PolicyURI, TOSURI: lr.Client.TOSURI}
	if client.Name == "" {
		client.Name = lr.Client.ClientID
	}
	var p page.Page = page.Login{Challenge: lr.Challenge, Client: client, LoginHint: lr.OIDCContext.LoginHint}
	if kind == "consent" {
		cat, err := s.admin.ReadModel.Catalogue(c.UserContext(), slug)
		if err != nil {
			return err
		}
		consent := page.Consent{Challenge: lr.Challenge, Client: client, Subject: lr.Subject}
		for _, sc := range lr.RequestedScope {
			consent.Scopes = append(consent.Scopes, page.Scope{Name: sc, Description: cat.Description(sc)})
		}
		p = consent
	}
	var b bytes.Buffer
	if err := page.Render(&b, p); err != nil {
		return err
	}
	page.SetHeaders(c.Set)
	return c.Send(b.Bytes())
}

func (s *Server) devLoginAnswer(c *fiber.Ctx) error {
	slug, err := s.devTenant(c)
	if err != nil {
		return err
	}
	kind, ch := devKind(func(k string) string { return c.FormValue(k) })
	ctx := c.UserContext()
	var res oauth.Redirect
	switch {
	case c.FormValue("action") != "accept" && kind == "login":
		res, err = s.oauth.RejectLogin(ctx, slug, ch, oauth.Rejection{Description: "The user cancelled the login."})
	case c.FormValue("action") != "accept":
		res, err = s.oauth.RejectConsent(ctx, slug, ch, oauth.Rejection{Description: "The user denied access."})
	case kind == "login":
		subject := c.FormValue("subject")
		res, err = s.oauth.AcceptLogin(ctx, slug, ch, oauth.LoginAcceptance{
			Subject: subject, Remember: c.FormValue("remember") != "", AMR: []string{"dev"},
			Claims: map[string]any{"name": subject, "preferred_username": subject},
		})
	default:
		granted := []string{}
		for _, v := range c.Request().PostArgs().PeekMulti("grant_scope") {
			granted = append(granted, string(v))
		}
		res, err = s.oauth.AcceptConsent(ctx, slug, ch, oauth.ConsentAcceptance{GrantScope: granted})
	}
	if err != nil {
		return challengeProblem(err)
	}
	return c.Redirect(res.RedirectTo, http.StatusSeeOther)
}
