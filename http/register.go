package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/http/guess"
	"github.com/clavisiam/clavis/http/jsonbody"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// Dynamic client registration (RFC 7591) and its management (RFC 7592)
// at /t/{tenant}/oauth2/register. Registering takes an initial access
// token: a tenant admin token that may write clients (clavis:admin or
// clavis:clients:write), or the root token. The answer carries a
// registration access token with which the client reads, replaces and
// deletes its registration. Both go through the same commands, and so
// the same events, as the admin API.

// registrationRoutes registers the registration endpoints.
func (s *Server) registrationRoutes() {
	s.app.Post("/t/:tenant/oauth2/register", registrationUnavailable, s.authenticate(tenantWrite), s.register)
	s.app.Get("/t/:tenant/oauth2/register/:client_id", registrationUnavailable, s.registration)
	s.app.Put("/t/:tenant/oauth2/register/:client_id", registrationUnavailable, s.reregister)
	s.app.Delete("/t/:tenant/oauth2/register/:client_id", registrationUnavailable, s.unregister)
}

// registrationUnavailable answers a registration request that the
// database could not serve as RFC 7591 answers its other errors: an
// OAuth error object, temporarily_unavailable (503), with Retry-After.
func registrationUnavailable(c *fiber.Ctx) error {
	err := c.Next()
	if !errors.Is(err, eventstore.ErrUnavailable) {
		return err
	}
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(oauth.RetryAfter))
	return oauthError(c, http.StatusServiceUnavailable, "temporarily_unavailable", "The database cannot be reached right now; try again.")
}

// registeredJSON is a registration as RFC 7591 §3.2.1 and RFC 7592 §3
// answer it: the client (with its secret, when one was just issued) and
// how to manage it.
type registeredJSON struct {
	clientJSON
	Scope                   string `json:"scope"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

func (s *Server) registered(c *fiber.Ctx, status int, slug string, v projections.ClientView, secret *tenants.Secret, token string) error {
	out := registeredJSON{clientJSON: newClientJSON(v, secret), ClientIDIssuedAt: v.CreatedAt.Unix(),
		Scope: strings.Join(v.Settings.DefaultScopes, " "), RegistrationAccessToken: token,
		RegistrationClientURI: s.issuer(slug) + "/oauth2/register/" + v.ClientID}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	return sendJSON(c, status, out)
}

// register is RFC 7591 §3.
func (s *Server) register(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	r, err := s.request(c)
	if err != nil {
		return requestError(c, err)
	}
	raw, err := body(c, mediaJSON)
	if err != nil {
		return registrationBodyError(c, err)
	}
	settings, err := registrationSettings(slug, raw)
	if err != nil {
		return metadataError(c, err)
	}
	res, err := s.admin.Clients.Register(c.UserContext(), r, slug, settings)
	if err != nil {
		return commandError(c, err)
	}
	token, err := s.oauth.RegistrationToken(slug, res.Client.ClientID)
	if err != nil {
		return err
	}
	s.settle(c, res.Position)
	c.Set(fiber.HeaderLocation, s.issuer(slug)+"/oauth2/register/"+res.Client.ClientID)
	return s.registered(c, http.StatusCreated, slug, res.Client, res.Secret, token)
}

// registrationClient checks the registration access token of a
// management request and returns the tenant and the client. A wrong or
// missing token, a client that is gone and a deactivated client (whose
// administrators took its say over itself away) are the same 401
// (RFC 7592 §2); then it has answered, and returns an empty slug. A
// token is checked only if the guess limiter lets the source try one
// for the client (else 429, see [WithGuesses]); one that is not the
// client's counts against both.
func (s *Server) registrationClient(c *fiber.Ctx) (string, projections.ClientView, error) {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return "", projections.ClientView{}, err
	}
	id := param(c, "client_id")
	token, ok := bearer(c.Get(fiber.HeaderAuthorization))
	source, who := s.source(c), guess.Client{Tenant: slug, ID: id}
	verified := false
	if ok {
		if wait, allowed := s.guesses.Allow(source, who); !allowed {
			return "", projections.ClientView{}, oauthTooManyGuesses(c, wait)
		}
		if verified = s.oauth.VerifyRegistrationToken(slug, id, token) == nil; !verified {
			s.guesses.Fail(source, who)
		}
	}
	var v projections.ClientView
	if verified {
		v, err = s.admin.Clients.Get(c.UserContext(), slug, id)
		switch {
		case err == nil && v.Active:
			// The client manages its own registration: its events say so,
			// and it holds no platform authority but its own.
			own := append(slices.Clone(v.Settings.DefaultScopes), v.Settings.OptionalScopes...)
			c.Locals(principalKey{}, Principal{Actor: "client:" + id, Tenant: slug, Scopes: own})
			return slug, v, nil
		case err != nil && !errors.Is(err, domain.ErrNotFound) && !errors.Is(err, domain.ErrDeleted):
			return "", v, err
		}
	}
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
	return "", v, oauthError(c, http.StatusUnauthorized, "invalid_token", "The registration access token is not valid for this client.")
}

// registration is RFC 7592 §2.1: read.
func (s *Server) registration(c *fiber.Ctx) error {
	slug, v, err := s.registrationClient(c)
	if err != nil || slug == "" {
		return err
	}
	return s.registered(c, http.StatusOK, slug, v, nil, "")
}

// reregister is RFC 7592 §2.2: the body replaces the client's
// registration metadata (those of registrationMetadata; what it leaves
// out takes its default). Everything else (consent, lifetimes, claims,
// API scopes, the pairwise salt, ...) is its administrators' and stays
// as it is.
func (s *Server) reregister(c *fiber.Ctx) error {
	slug, v, err := s.registrationClient(c)
	if err != nil || slug == "" {
		return err
	}
	r, err := s.request(c)
	if err != nil {
		return requestError(c, err)
	}
	raw, err := body(c, mediaJSON)
	if err != nil {
		return registrationBodyError(c, err)
	}
	var fields map[string]json.RawMessage
	// null decodes into a nil map without an error: it is no object either.
	if json.Unmarshal(raw, &fields) != nil || fields == nil {
		return oauthError(c, http.StatusBadRequest, "invalid_client_metadata", "The body is not a JSON object.")
	}
	if id, ok := fields["client_id"]; ok && string(id) != `"`+v.ClientID+`"` {
		return oauthError(c, http.StatusBadRequest, "invalid_client_metadata", "client_id must be the client's own.")
	}
	delete(fields, "client_id")
	if _, ok := fields["code"]; !ok {
		fields["code"], _ = json.Marshal(v.Settings.Code)
	}
	if _, ok := fields["type"]; !ok {
		fields["type"], _ = json.Marshal(v.Settings.Type)
	}
	replaced, _ := json.Marshal(fields)
	settings, err := registrationSettings(slug, replaced)
	if err != nil {
		return metadataError(c, err)
	}
	full, err := json.Marshal(settings)
	if err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(full, &all); err != nil {
		return err
	}
	registration := make(map[string]json.RawMessage, len(registrationMetadata))
	for _, k := range registrationMetadata {
		if k == "scope" {
			k = "default_scopes"
		}
		registration[k] = all[k]
		if registration[k] == nil {
			registration[k] = json.RawMessage("null") // left out: back to its default
		}
	}
	only, err := json.Marshal(registration)
	if err != nil {
		return err
	}
	patch, _, err := decodeClientPatch(only)
	if err != nil {
		return metadataError(c, err)
	}
	res, err := s.admin.Clients.Update(c.UserContext(), r, slug, v.ClientID, patch, 0)
	if err != nil {
		return commandError(c, err)
	}
	s.settle(c, res.Position)
	return s.registered(c, http.StatusOK, slug, res.Client, res.Secret, "")
}

// unregister is RFC 7592 §2.3: the client is deleted.
func (s *Server) unregister(c *fiber.Ctx) error {
	slug, v, err := s.registrationClient(c)
	if err != nil || slug == "" {
		return err
	}
	r, err := s.request(c)
	if err != nil {
		return requestError(c, err)
	}
	res, err := s.admin.Clients.Delete(c.UserContext(), r, slug, v.ClientID)
	if err != nil {
		return err
	}
	s.settle(c, res.Position)
	return c.SendStatus(http.StatusNoContent)
}

// registrationMetadata are the metadata a registration may set: those of
// RFC 7591 and OpenID Connect Dynamic Registration that Clavis serves, and
// the client's type and code. The rest (claims, API scopes, first-party
// standing, lifetimes, ...) is the tenant's administrators' to decide,
// and ignored here like metadata Clavis does not know. A jwks_uri is
// taken: the node fetches it only from public addresses unless told
// otherwise.
var registrationMetadata = []string{"type", "code", "client_name", "redirect_uris", "post_logout_redirect_uris",
	"grant_types", "response_types", "token_endpoint_auth_method", "scope", "jwks", "jwks_uri",
	"logo_uri", "policy_uri", "tos_uri", "client_uri", "allowed_cors_origins"}

// registrationSettings reads RFC 7591 client metadata into settings:
// "scope" (space-separated) becomes the default scopes, which may not be
// platform scopes; metadata outside registrationMetadata is ignored, as
// RFC 7591 §2 asks of metadata a server does not take; without a type, a
// client that does not authenticate is public, one with only the
// client_credentials grant m2m, any other confidential; without a code it
// gets "urn:{tenant}/dcr-{random}".
func registrationSettings(slug string, raw []byte) (client.Settings, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return client.Settings{}, errors.New("the body is not a JSON object")
	}
	for k := range fields {
		if !slices.Contains(registrationMetadata, k) {
			delete(fields, k)
		}
	}
	if sc, ok := fields["scope"]; ok {
		var scopes string
		if err := json.Unmarshal(sc, &scopes); err != nil {
			return client.Settings{}, errors.New("scope must be a string of space-separated scopes")
		}
		for _, s := range strings.Fields(scopes) {
			if scope.IsPlatform(s) {
				return client.Settings{}, fmt.Errorf("scope %s is granted by the tenant's administrators only, not by registration", s)
			}
		}
		fields["default_scopes"], _ = json.Marshal(strings.Fields(scopes))
		delete(fields, "scope")
	}
	if _, ok := fields["type"]; !ok {
		// Read from the metadata taken, by their exact names only.
		var probe struct {
			Auth   string
			Grants []string
		}
		_ = json.Unmarshal(fields["token_endpoint_auth_method"], &probe.Auth)
		_ = json.Unmarshal(fields["grant_types"], &probe.Grants)
		typ := client.TypeConfidential
		switch {
		case probe.Auth == string(client.AuthNone):
			typ = client.TypePublic
		case len(probe.Grants) == 1 && probe.Grants[0] == client.GrantClientCredentials:
			typ = client.TypeM2M
		}
		fields["type"], _ = json.Marshal(typ)
	}
	if _, ok := fields["code"]; !ok {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		fields["code"], _ = json.Marshal("urn:" + slug + "/dcr-" + hex.EncodeToString(b))
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return client.Settings{}, err
	}
	return jsonbody.Settings(body)
}

// metadataError answers refused metadata as RFC 7591 §3.2.2 does:
// invalid_redirect_uri when a redirect URI is at fault,
// invalid_client_metadata otherwise, listing every problem.
func metadataError(c *fiber.Ctx, err error) error {
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		return oauthError(c, http.StatusBadRequest, "invalid_client_metadata", err.Error())
	}
	code := "invalid_client_metadata"
	msgs := make([]string, 0, len(ve.Fields))
	for _, f := range ve.Fields {
		if strings.HasPrefix(f.Field, "redirect_uris") || strings.HasPrefix(f.Field, "post_logout_redirect_uris") {
			code = "invalid_redirect_uri"
		}
		msgs = append(msgs, f.Field+": "+f.Message)
	}
	return oauthError(c, http.StatusBadRequest, code, strings.Join(msgs, "; "))
}

// commandError answers a command's validation errors as metadataError
// does, and anything else (a taken code, say) as the admin API does.
func commandError(c *fiber.Ctx, err error) error {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return metadataError(c, err)
	}
	return err
}

// requestError answers a failure of [Server.request] at the
// registration endpoints as their other errors are: a malformed
// X-Clavis-Reason header is an RFC 6749-style invalid_request.
func requestError(c *fiber.Ctx, err error) error {
	var p *Problem
	if errors.As(err, &p) {
		return oauthError(c, http.StatusBadRequest, "invalid_request", p.Detail+".")
	}
	return err
}

// oauthError answers an RFC 6749-style error object.
func oauthError(c *fiber.Ctx, status int, code, description string) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, status, map[string]string{"error": code, "error_description": description})
}
