package console

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// clientPageRoutes registers one client's page and its actions: its
// secrets, activation, clone and delete. The edit form and the history
// have their own routes.
func (c *Console) clientPageRoutes(r fiber.Router) {
	r.Get("/clients/:id", c.showClient)
	r.Post("/clients/:id/secrets", c.addSecret)
	r.Post("/clients/:id/secrets/rotate", c.rotateSecret)
	r.Post("/clients/:id/secrets/:secret/revoke", c.revokeSecret)
	r.Post("/clients/:id/activate", c.activateClient)
	r.Post("/clients/:id/deactivate", c.deactivateClient)
	r.Get("/clients/:id/clone", c.cloneForm)
	r.Post("/clients/:id/clone", c.cloneClient)
	r.Get("/clients/:id/delete", c.deleteForm)
	r.Post("/clients/:id/delete", c.deleteClient)
}

// doneMessages are the flash messages a client page shows for the done
// query parameter: fixed sentences, never text from the URL.
var doneMessages = map[string]string{
	"created":        "The client was created.",
	"updated":        "The changes were saved.",
	"activated":      "The client was activated: it can get tokens again.",
	"deactivated":    "The client was deactivated: it gets no tokens until it is activated.",
	"cloned":         "The client was cloned. This is the copy.",
	"secret_added":   "A secret was added.",
	"secret_rotated": "The secret was rotated.",
	"secret_revoked": "The secret was revoked: it no longer works.",
	"unchanged":      "Nothing changed: the client already was so.",
}

// clientPage is what a client's page shows.
type clientPage struct {
	Client projections.ClientView
	// Name is the client's name, or its client_id when it has none.
	Name string
	// Groups are its settings, grouped as the product documents group
	// them.
	Groups []propGroup
	// Secrets are its secrets (never their hashes).
	Secrets []secretRow
	// UsesSecret is true when its auth method authenticates with a
	// secret; otherwise NoSecret says why there are no secret forms.
	UsesSecret bool
	NoSecret   string
	// Platform is true for a client the platform manages.
	Platform bool
	// Secret is a secret just made, shown once.
	Secret *shownSecret
	// Errors are the errors of the form named Form ("add", "rotate",
	// "activate", "deactivate", "revoke").
	Errors formErrors
	Form   string
	// Refusal is why the domain refused what was asked.
	Refusal string
	// Overlap is the rotate form's overlap in hours, as given.
	Overlap string
	// Description, ExpiresAt and ExpiresInDays are the add form's values,
	// as given.
	Description, ExpiresAt, ExpiresInDays string
	// Reason is the deactivate form's reason, as given.
	Reason string
}

// propGroup is one group of a client's settings.
type propGroup struct {
	ID, Title string
	Props     []prop
}

// prop is one setting: its label, its name in the API, and its values
// ("—" is shown when there is none).
type prop struct {
	Label, Name string
	Values      []string
	// Code shows the values as code (identifiers, URIs).
	Code bool
}

// secretRow is a secret as the page lists it.
type secretRow struct {
	ID, Created, Expires, Description string
	// Expired is true when it no longer works.
	Expired bool
}

// clientID is the client id of the path, or "" when it cannot be one.
func clientID(ctx *fiber.Ctx) string {
	id, err := url.PathUnescape(ctx.Params("id"))
	if err != nil {
		return ""
	}
	return strings.Clone(id)
}

// loadClient reads the path's client of the session's tenant; ok is false
// when the answer (not found) was given.
func (c *Console) loadClient(ctx *fiber.Ctx) (projections.ClientView, bool, error) {
	s := session(ctx)
	id := clientID(ctx)
	if id == "" {
		return projections.ClientView{}, false, c.notFound(ctx)
	}
	v, err := c.cfg.ReadModel.Client(ctx.UserContext(), s.Tenant, id)
	switch {
	case errors.Is(err, projections.ErrNotFound), errors.Is(err, projections.ErrInvalid):
		return projections.ClientView{}, false, c.notFound(ctx)
	case err != nil:
		return projections.ClientView{}, false, fmt.Errorf("console: read client: %w", err)
	case v.Deleted || v.Tenant != s.Tenant:
		return projections.ClientView{}, false, c.notFound(ctx)
	}
	return v, true, nil
}

// showClient shows a client: its settings, state and secrets.
func (c *Console) showClient(ctx *fiber.Ctx) error {
	if ctx.Params("id") == "new" {
		// The create form's path, registered by its own page.
		return ctx.Next()
	}
	s := session(ctx)
	if !s.CanRead() {
		return c.forbidden(ctx, s, "Seeing a client needs clavis:clients:read.")
	}
	if err := onlyQuery(ctx, "done"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v, ok, err := c.loadClient(ctx)
	if !ok {
		return err
	}
	return c.renderClient(ctx, http.StatusOK, v, doneMessages[ctx.Query("done")], clientPage{})
}

// renderClient answers the page of client v with status, flash and what
// p holds of a form just posted.
func (c *Console) renderClient(ctx *fiber.Ctx, status int, v projections.ClientView, flash string, p clientPage) error {
	p.Client = v
	p.Name = clientName(v)
	p.Groups = settingGroups(v)
	now := c.now()
	for _, sec := range v.Secrets {
		r := secretRow{ID: sec.ID, Created: formatTime(sec.CreatedAt), Expires: "never", Description: sec.Description, Expired: !sec.UsableAt(now)}
		if sec.ExpiresAt != nil {
			r.Expires = formatTime(*sec.ExpiresAt)
		}
		p.Secrets = append(p.Secrets, r)
	}
	method := v.Settings.TokenEndpointAuthMethod
	p.UsesSecret = v.Settings.Type != client.TypePublic && method.UsesSecret()
	switch {
	case p.UsesSecret:
	case v.Settings.Type == client.TypePublic:
		p.NoSecret = "A public client cannot keep a secret: it authenticates with nothing (and PKCE protects its codes)."
	default:
		p.NoSecret = fmt.Sprintf("This client authenticates with %s, not with a secret, so it needs none.", method)
	}
	p.Platform = client.PlatformCode(v.Settings.Code)
	if p.Overlap == "" {
		p.Overlap = "24"
	}
	return c.render(ctx, status, "client", view{Title: p.Name, Nav: "clients", Flash: flash, Data: p})
}

// clientName is how the console names client v: its name, or its
// client_id when it has none.
func clientName(v projections.ClientView) string {
	if strings.TrimSpace(v.Settings.ClientName) != "" {
		return v.Settings.ClientName
	}
	return v.ClientID
}

// formatTime formats t as the console shows times.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ---- secrets

// addSecret gives the client a new secret and answers its page with the
// secret shown once.
func (c *Console) addSecret(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Adding a secret needs clavis:clients:write.")
	}
	if err := checkForm(ctx, []string{"description", "expires_at", "expires_in_days"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v, ok, err := c.loadClient(ctx)
	if !ok {
		return err
	}
	p := clientPage{Form: "add", Description: ctx.FormValue("description"),
		ExpiresAt: strings.TrimSpace(ctx.FormValue("expires_at")), ExpiresInDays: strings.TrimSpace(ctx.FormValue("expires_in_days"))}
	expires, err := c.secretExpiry(p.ExpiresAt, p.ExpiresInDays)
	if err != nil {
		var f *domain.FieldError
		errors.As(err, &f)
		p.Errors.List = append(p.Errors.List, f)
		return c.renderClient(ctx, http.StatusUnprocessableEntity, v, "", p)
	}
	req, ok, err := c.actionRequest(ctx, v, &p, "add-reason")
	if !ok {
		return err
	}
	res, err := c.cfg.Clients.AddSecret(ctx.UserContext(), req, s.Tenant, v.ClientID, p.Description, expires)
	if err != nil {
		return c.refused(ctx, v, p, err, secretFields)
	}
	c.settle(ctx.UserContext(), res.Position)
	return c.renderClient(ctx, http.StatusOK, res.Client, doneMessages["secret_added"], clientPage{Secret: c.shown(res.Secret, res.Client)})
}

// secretFields are the ids of the page's inputs for the fields the
// domain names in its refusals of the secret forms.
var secretFields = map[string]string{
	"client_secret.description": "secret-description",
	"client_secret.expires_at":  "secret-expires-at",
	"client_secret":             "secrets",
	"overlap":                   "overlap",
}

// secretExpiry is the expiry the add form gives: a date and time (UTC),
// a number of days from now, or neither (never).
func (c *Console) secretExpiry(at, days string) (*time.Time, error) {
	switch {
	case at != "" && days != "":
		return nil, &domain.FieldError{Field: "secret-expires-at", Code: "conflict", Message: "give a date or a number of days, not both"}
	case at != "":
		for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
			if t, err := time.ParseInLocation(layout, at, time.UTC); err == nil {
				t = t.UTC()
				return &t, nil
			}
		}
		return nil, &domain.FieldError{Field: "secret-expires-at", Code: "invalid_value", Message: "is not a date and time (YYYY-MM-DDTHH:MM, UTC)"}
	case days != "":
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 3650 {
			return nil, &domain.FieldError{Field: "secret-expires-in-days", Code: "out_of_range", Message: "is a whole number of days from 1 to 3650"}
		}
		t := c.now().UTC().Add(time.Duration(n) * 24 * time.Hour).Truncate(time.Second)
		return &t, nil
	}
	return nil, nil
}

// rotateSecret gives the client a new secret, shown once, and makes the
// others expire after the overlap.
func (c *Console) rotateSecret(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Rotating a secret needs clavis:clients:write.")
	}
	if err := checkForm(ctx, []string{"overlap"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v, ok, err := c.loadClient(ctx)
	if !ok {
		return err
	}
	p := clientPage{Form: "rotate", Overlap: strings.TrimSpace(ctx.FormValue("overlap"))}
	if p.Overlap == "" {
		p.Overlap = "24"
	}
	hours, err := strconv.ParseFloat(p.Overlap, 64)
	maxHours := client.MaxRotationOverlap.Hours()
	if err != nil || math.IsNaN(hours) || hours < 0 || hours > maxHours {
		p.Errors.add("overlap", "out_of_range", fmt.Sprintf("is a number of hours from 0 to %g", maxHours))
		return c.renderClient(ctx, http.StatusUnprocessableEntity, v, "", p)
	}
	req, ok, err := c.actionRequest(ctx, v, &p, "rotate-reason")
	if !ok {
		return err
	}
	overlap := time.Duration(hours * float64(time.Hour)).Truncate(time.Second)
	res, err := c.cfg.Clients.RotateSecret(ctx.UserContext(), req, s.Tenant, v.ClientID, overlap)
	if err != nil {
		return c.refused(ctx, v, p, err, secretFields)
	}
	c.settle(ctx.UserContext(), res.Position)
	return c.renderClient(ctx, http.StatusOK, res.Client, doneMessages["secret_rotated"], clientPage{Secret: c.shown(res.Secret, res.Client)})
}

// shown is the partial of secret sec, just made for client v.
func (c *Console) shown(sec *tenants.Secret, v projections.ClientView) *shownSecret {
	if sec == nil {
		return nil
	}
	out := &shownSecret{Value: sec.Value, ID: sec.ID, Back: tenantPath(v.Tenant) + "clients/" + url.PathEscape(v.ClientID),
		BackText: "I have copied it: back to the client"}
	if sec.ExpiresAt != nil {
		out.ExpiresAt = formatTime(*sec.ExpiresAt)
	}
	return out
}

// revokeSecret removes one secret of the client.
func (c *Console) revokeSecret(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Revoking a secret needs clavis:clients:write.")
	}
	if err := checkForm(ctx, nil, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v, ok, err := c.loadClient(ctx)
	if !ok {
		return err
	}
	secretID, err := url.PathUnescape(ctx.Params("secret"))
	if err != nil || !holdsSecret(v, secretID) {
		return c.notFound(ctx)
	}
	p := clientPage{Form: "revoke"}
	req, ok, err := c.actionRequest(ctx, v, &p, "revoke-reason-"+secretID)
	if !ok {
		return err
	}
	res, err := c.cfg.Clients.RevokeSecret(ctx.UserContext(), req, s.Tenant, v.ClientID, secretID)
	if err != nil {
		return c.refused(ctx, v, p, err, secretFields)
	}
	return c.done(ctx, res, "secret_revoked")
}

// holdsSecret reports whether client v holds secret id.
func holdsSecret(v projections.ClientView, id string) bool {
	for _, s := range v.Secrets {
		if s.ID == id {
			return true
		}
	}
	return false
}

// ---- activation

// activateClient lets the client get tokens again.
func (c *Console) activateClient(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Activating a client needs clavis:clients:write.")
	}
	if err := checkForm(ctx, nil, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v, ok, err := c.loadClient(ctx)
	if !ok {
		return err
	}
	p := clientPage{Form: "activate"}
	req, ok, err := c.actionRequest(ctx, v, &p, "activate-reason")
	if !ok {
		return err
	}
	res, err := c.cfg.Clients.Activate(ctx.UserContext(), req, s.Tenant, v.ClientID)
	if err != nil {
		return c.refused(ctx, v, p, err, nil)
	}
	return c.done(ctx, res, "activated")
}

// deactivateClient stops the client from getting tokens, for the reason
// given, which is required here.
func (c *Console) deactivateClient(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Deactivating a client needs clavis:clients:write.")
	}
	if err := checkForm(ctx, nil, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v, ok, err := c.loadClient(ctx)
	if !ok {
		return err
	}
	p := clientPage{Form: "deactivate", Reason: ctx.FormValue("reason")}
	if strings.TrimSpace(p.Reason) == "" {
		p.Errors.add("deactivate-reason", "required", "say why the client is deactivated: the reason is shown on its page and in its history")
		return c.renderClient(ctx, http.StatusUnprocessableEntity, v, "", p)
	}
	req, ok, err := c.actionRequest(ctx, v, &p, "deactivate-reason")
	if !ok {
		return err
	}
	res, err := c.cfg.Clients.Deactivate(ctx.UserContext(), req, s.Tenant, v.ClientID, req.Reason)
	if err != nil {
		return c.refused(ctx, v, p, err, map[string]string{"reason": "deactivate-reason"})
	}
	return c.done(ctx, res, "deactivated")
}

// ---- the answers of the page's forms

// actionRequest is the request of a command the person posted on client
// v's page, with the form's reason. A reason the rules refuse answers the
// page again with the error next to the input reasonID (ok false).
func (c *Console) actionRequest(ctx *fiber.Ctx, v projections.ClientView, p *clientPage, reasonID string) (tenants.Request, bool, error) {
	s := session(ctx)
	req, err := c.cfg.Request(ctx, s.Actor, s.Authority(), ctx.FormValue("reason"))
	if err != nil {
		p.Errors.add(reasonID, "invalid_value", err.Error())
		return tenants.Request{}, false, c.renderClient(ctx, http.StatusUnprocessableEntity, v, "", *p)
	}
	return req, true, nil
}

// done redirects to the client's page with the flash of code, once the
// read model holds the command's result ("unchanged" when it changed
// nothing).
func (c *Console) done(ctx *fiber.Ctx, res tenants.ClientResult, code string) error {
	if res.Position.IsZero() {
		code = "unchanged"
	}
	c.settle(ctx.UserContext(), res.Position)
	return ctx.Redirect(tenantPath(session(ctx).Tenant)+"clients/"+url.PathEscape(res.Client.ClientID)+"?done="+code, fiber.StatusSeeOther)
}

// refused answers a command on client v that failed: its input errors
// next to the form's inputs (fields maps the domain's field names to the
// ids of the inputs; the others go to the form's summary), a rule of the
// domain on the page, in words; any other error is the console's failure.
func (c *Console) refused(ctx *fiber.Ctx, v projections.ClientView, p clientPage, err error, fields map[string]string) error {
	if why, status, ok := refusal(err); ok {
		if status == http.StatusNotFound {
			return c.notFound(ctx)
		}
		p.Refusal = why
		return c.renderClient(ctx, status, v, "", p)
	}
	fe, ok := fieldErrors(err)
	if !ok {
		return err
	}
	for _, f := range fe.List {
		field := f.Field
		if id, ok := fields[field]; ok {
			field = id
		}
		p.Errors.List = append(p.Errors.List, &domain.FieldError{Field: field, Code: f.Code, Message: f.Message})
	}
	return c.renderClient(ctx, http.StatusUnprocessableEntity, v, "", p)
}

// refusal says in words why the domain refused a command, with the
// status to answer; ok is false for an error that is no refusal (bad
// input, or a failure).
func refusal(err error) (why string, status int, ok bool) {
	var authority *tenants.AuthorityError
	switch {
	case errors.As(err, &authority):
		return fmt.Sprintf("Refused: this client has (or would get) the platform scope %s, which you do not hold. Only someone who holds it may change this client.", authority.Scope),
			http.StatusForbidden, true
	case errors.Is(err, domain.ErrTenantSuspended):
		return "Refused: the tenant is suspended, so its clients cannot be changed until it is resumed.", http.StatusConflict, true
	case errors.Is(err, domain.ErrLastSecret):
		return "Refused: this is the last secret that works, and the client authenticates with a secret. Rotate it instead: the new secret replaces it.", http.StatusConflict, true
	case errors.Is(err, eventstore.ErrConflict):
		return "Someone changed this client at the same moment. Look at it again and retry.", http.StatusConflict, true
	case errors.Is(err, domain.ErrSecretNotFound), errors.Is(err, domain.ErrNotFound), errors.Is(err, domain.ErrDeleted):
		return "", http.StatusNotFound, true
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return "Refused: " + de.Message + ".", http.StatusConflict, true
	}
	return "", 0, false
}

// ---- settings

// settingGroups are client v's settings in the groups of the product
// documents: basics, URIs, grants and flows, tokens and lifetimes,
// scopes and permissions, claims, advanced. Every field of
// client.Settings is in one of them.
func settingGroups(v projections.ClientView) []propGroup {
	st := v.Settings
	text := func(label, name, s string) prop { return prop{Label: label, Name: name, Values: nonEmpty(s)} }
	code := func(label, name string, s ...string) prop {
		return prop{Label: label, Name: name, Values: nonEmpty(s...), Code: true}
	}
	flag := func(label, name string, b bool) prop {
		return prop{Label: label, Name: name, Values: []string{yesNo(b)}}
	}
	secs := func(label, name string, n int) prop {
		return prop{Label: label, Name: name, Values: []string{seconds(n)}}
	}
	consent := seconds(st.ConsentLifetime)
	if st.ConsentLifetime == 0 {
		consent = "0 (a consent never expires)"
	}
	jwks := "—"
	if len(st.JWKS) > 0 {
		jwks = string(st.JWKS)
	}
	salt := "not set (subjects are the same for every client)"
	if st.PairwiseSubjectSalt != "" {
		salt = "set (subjects are pairwise; the salt is never shown)"
	}
	return []propGroup{
		{ID: "basics", Title: "Basics", Props: []prop{
			text("Name", "client_name", st.ClientName),
			text("Description", "description", st.Description),
			code("Code", "code", st.Code),
			code("Client ID", "client_id", v.ClientID),
			text("Type", "type", string(st.Type)),
		}},
		{ID: "uris", Title: "URIs", Props: []prop{
			code("Redirect URIs", "redirect_uris", st.RedirectURIs...),
			code("Post-logout redirect URIs", "post_logout_redirect_uris", st.PostLogoutRedirectURIs...),
			code("Allowed CORS origins", "allowed_cors_origins", st.AllowedCORSOrigins...),
			code("Front-channel logout URI", "frontchannel_logout_uri", st.FrontchannelLogoutURI),
			flag("Front-channel logout needs the session", "frontchannel_logout_session_required", st.FrontchannelLogoutSessionRequired),
			code("Back-channel logout URI", "backchannel_logout_uri", st.BackchannelLogoutURI),
			flag("Back-channel logout needs the session", "backchannel_logout_session_required", st.BackchannelLogoutSessionRequired),
			code("Client URI", "client_uri", st.ClientURI),
			code("Logo URI", "logo_uri", st.LogoURI),
			code("Policy URI", "policy_uri", st.PolicyURI),
			code("Terms of service URI", "tos_uri", st.TOSURI),
		}},
		{ID: "grants", Title: "Grants and flows", Props: []prop{
			code("Grant types", "grant_types", st.GrantTypes...),
			code("Response types", "response_types", st.ResponseTypes...),
			code("Token endpoint authentication", "token_endpoint_auth_method", string(st.TokenEndpointAuthMethod)),
			code("TLS client certificate subject DN", "tls_client_auth_subject_dn", st.TLSClientAuthSubjectDN),
			flag("PKCE required", "require_pkce", st.RequirePKCE),
			flag("Plain PKCE allowed", "allow_plain_pkce", st.AllowPlainPKCE),
			flag("Consent required", "consent_required", st.ConsentRequired),
			flag("First party (skips consent)", "first_party", st.FirstParty),
			flag("Consent may be remembered", "allow_remember_consent", st.AllowRememberConsent),
			flag("Offline access (refresh tokens)", "allow_offline_access", st.AllowOfflineAccess),
			flag("Access tokens via the browser", "allow_access_tokens_via_browser", st.AllowAccessTokensViaBrowser),
			flag("Local login", "enable_local_login", st.EnableLocalLogin),
			code("Identity providers allowed", "identity_provider_restrictions", st.IdentityProviderRestrictions...),
		}},
		{ID: "tokens", Title: "Tokens and lifetimes", Props: []prop{
			text("Access token type", "access_token_type", string(st.AccessTokenType)),
			secs("Access token lifetime", "access_token_lifetime", st.AccessTokenLifetime),
			secs("ID token lifetime", "id_token_lifetime", st.IDTokenLifetime),
			secs("Authorization code lifetime", "authorization_code_lifetime", st.AuthorizationCodeLifetime),
			text("Refresh token usage", "refresh_token_usage", string(st.RefreshTokenUsage)),
			text("Refresh token expiration", "refresh_token_expiration", string(st.RefreshTokenExpiration)),
			secs("Refresh token absolute lifetime", "refresh_token_absolute_lifetime", st.RefreshTokenAbsoluteLifetime),
			secs("Refresh token sliding lifetime", "refresh_token_sliding_lifetime", st.RefreshTokenSlidingLifetime),
			{Label: "Consent lifetime", Name: "consent_lifetime", Values: []string{consent}},
			flag("User claims updated on refresh", "update_access_token_claims_on_refresh", st.UpdateAccessTokenClaimsOnRefresh),
			flag("JWT ID (jti) in access tokens", "include_jwt_id", st.IncludeJWTID),
		}},
		{ID: "scopes", Title: "Scopes and permissions", Props: []prop{
			code("Default scopes", "default_scopes", st.DefaultScopes...),
			code("Optional scopes", "optional_scopes", st.OptionalScopes...),
			code("Scope permissions", "scope_permissions", permissions(st.ScopePermissions)...),
			code("API scopes defined", "api_scopes", apiScopes(st.Code, st.APIScopes)...),
		}},
		{ID: "claims", Title: "Claims", Props: []prop{
			code("Client claims", "client_claims", claims(st.ClientClaims)...),
			code("Client claims prefix", "client_claims_prefix", st.ClientClaimsPrefix),
			flag("Client claims in every flow", "always_send_client_claims", st.AlwaysSendClientClaims),
			flag("User claims always in the ID token", "always_include_user_claims_in_id_token", st.AlwaysIncludeUserClaimsInIDToken),
		}},
		{ID: "advanced", Title: "Advanced", Props: []prop{
			code("JSON Web Key Set", "jwks", jwks),
			code("JSON Web Key Set URI", "jwks_uri", st.JWKSURI),
			flag("FAPI 2.0", "fapi", st.FAPI),
			{Label: "Pairwise subject salt", Name: "pairwise_subject_salt", Values: []string{salt}},
			code("Metadata", "metadata", pairs(st.Metadata)...),
			code("Properties", "properties", pairs(st.Properties)...),
		}},
	}
}

// nonEmpty keeps the values that are not blank.
func nonEmpty(values ...string) []string {
	var out []string
	for _, v := range values {
		if strings.TrimSpace(v) != "" && v != "—" {
			out = append(out, v)
		}
	}
	return out
}

// yesNo is how a setting that is on or off reads.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// seconds is a lifetime in seconds, with the same in larger units.
func seconds(n int) string {
	if n == 0 {
		return "0 s"
	}
	d := time.Duration(n) * time.Second
	switch {
	case n%86400 == 0:
		return fmt.Sprintf("%d s (%d days)", n, n/86400)
	case n%3600 == 0:
		return fmt.Sprintf("%d s (%d h)", n, n/3600)
	case n%60 == 0:
		return fmt.Sprintf("%d s (%d min)", n, n/60)
	}
	return fmt.Sprintf("%d s (%s)", n, d)
}

// permissions lists scope permissions as "scope: create, read".
func permissions(m map[string][]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+": "+strings.Join(v, ", "))
	}
	sort.Strings(out)
	return out
}

// apiScopes lists the API scopes a client defines, as the tenant's
// catalogue names them ("{code}:{suffix}").
func apiScopes(code string, suffixes []string) []string {
	out := make([]string, 0, len(suffixes))
	for _, s := range suffixes {
		out = append(out, code+":"+s)
	}
	return out
}

// claims lists client claims as "type = value".
func claims(list []client.Claim) []string {
	out := make([]string, 0, len(list))
	for _, c := range list {
		out = append(out, c.Type+" = "+c.Value)
	}
	return out
}

// pairs lists a map as "key = value", sorted.
func pairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+" = "+v)
	}
	sort.Strings(out)
	return out
}

// ---- clone

// cloneData is what the clone form shows.
type cloneData struct {
	Client projections.ClientView
	Name   string
	// ClientName and Code are the form's values.
	ClientName, Code string
	Errors           formErrors
	Refusal          string
}

// cloneForm asks the name and code of the copy.
func (c *Console) cloneForm(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Cloning a client needs clavis:clients:write.")
	}
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v, ok, err := c.loadClient(ctx)
	if !ok {
		return err
	}
	d := cloneData{Client: v, Name: clientName(v), ClientName: "Copy of " + clientName(v)}
	return c.render(ctx, http.StatusOK, "client_clone", view{Title: "Clone " + d.Name, Nav: "clients", Data: d})
}

// cloneClient registers the copy; its secret, when it has one, is shown
// once.
func (c *Console) cloneClient(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Cloning a client needs clavis:clients:write.")
	}
	if err := checkForm(ctx, []string{"client_name", "code"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v, ok, err := c.loadClient(ctx)
	if !ok {
		return err
	}
	d := cloneData{Client: v, Name: clientName(v), ClientName: ctx.FormValue("client_name"), Code: strings.TrimSpace(ctx.FormValue("code"))}
	again := func(status int) error {
		return c.render(ctx, status, "client_clone", view{Title: "Clone " + d.Name, Nav: "clients", Data: d})
	}
	req, err := c.cfg.Request(ctx, s.Actor, s.Authority(), ctx.FormValue("reason"))
	if err != nil {
		d.Errors.add("reason", "invalid_value", err.Error())
		return again(http.StatusUnprocessableEntity)
	}
	res, err := c.cfg.Clients.Clone(ctx.UserContext(), req, s.Tenant, v.ClientID, d.ClientName, d.Code)
	if err != nil {
		if why, status, ok := refusal(err); ok {
			if status == http.StatusNotFound {
				return c.notFound(ctx)
			}
			d.Refusal = why
			return again(status)
		}
		fe, ok := fieldErrors(err)
		if !ok {
			return err
		}
		d.Errors = fe
		return again(http.StatusUnprocessableEntity)
	}
	c.settle(ctx.UserContext(), res.Position)
	if res.Secret == nil {
		return ctx.Redirect(tenantPath(s.Tenant)+"clients/"+url.PathEscape(res.Client.ClientID)+"?done=cloned", fiber.StatusSeeOther)
	}
	shown := c.shown(res.Secret, res.Client)
	shown.Back += "?done=cloned"
	shown.BackText = "I have copied it: go to the copy"
	return c.render(ctx, http.StatusOK, "client_secret", view{Title: "Cloned " + d.Name, Nav: "clients",
		Flash: doneMessages["cloned"], Data: newSecretData{Client: res.Client, Name: clientName(res.Client), Source: d.Name, Secret: shown}})
}

// newSecretData is the page of a new client's secret, shown once.
type newSecretData struct {
	Client projections.ClientView
	// Name is the new client's name; Source the name of the client it
	// was cloned from.
	Name, Source string
	Secret       *shownSecret
}

// ---- delete

// deleteData is what the delete form shows.
type deleteData struct {
	Client projections.ClientView
	// Name is what the person types to confirm.
	Name     string
	Platform bool
	Errors   formErrors
	Refusal  string
}

// deleteForm asks to type the client's name to delete it.
func (c *Console) deleteForm(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Deleting a client needs clavis:clients:write.")
	}
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v, ok, err := c.loadClient(ctx)
	if !ok {
		return err
	}
	d := deleteData{Client: v, Name: clientName(v), Platform: client.PlatformCode(v.Settings.Code)}
	return c.render(ctx, http.StatusOK, "client_delete", view{Title: "Delete " + d.Name, Nav: "clients", Data: d})
}

// deleteClient deletes the client when the name typed is its name.
func (c *Console) deleteClient(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Deleting a client needs clavis:clients:write.")
	}
	if err := checkForm(ctx, []string{"confirm"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v, ok, err := c.loadClient(ctx)
	if !ok {
		return err
	}
	d := deleteData{Client: v, Name: clientName(v), Platform: client.PlatformCode(v.Settings.Code)}
	again := func(status int) error {
		return c.render(ctx, status, "client_delete", view{Title: "Delete " + d.Name, Nav: "clients", Data: d})
	}
	if ctx.FormValue("confirm") != d.Name {
		d.Errors.add("confirm", "mismatch", "type the name exactly as shown to delete the client; nothing was deleted")
		return again(http.StatusUnprocessableEntity)
	}
	req, err := c.cfg.Request(ctx, s.Actor, s.Authority(), ctx.FormValue("reason"))
	if err != nil {
		d.Errors.add("reason", "invalid_value", err.Error())
		return again(http.StatusUnprocessableEntity)
	}
	res, err := c.cfg.Clients.Delete(ctx.UserContext(), req, s.Tenant, v.ClientID)
	if err != nil {
		why, status, ok := refusal(err)
		switch {
		case !ok:
			return err
		case status == http.StatusNotFound:
			return c.notFound(ctx)
		}
		d.Refusal = why
		return again(status)
	}
	c.settle(ctx.UserContext(), res.Position)
	return ctx.Redirect(tenantPath(s.Tenant)+"clients?done=deleted", fiber.StatusSeeOther)
}
