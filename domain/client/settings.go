package client

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// Type is the kind of client, which fixes how it may authenticate and which
// grants it may use (see the package doc).
type Type string

// The client types.
const (
	// TypePublic is a client that cannot keep a secret: a single-page or
	// native app. It authenticates with nothing and must use PKCE.
	TypePublic Type = "public"
	// TypeConfidential is a client that can keep a credential: a server-side
	// web app. It may act for users and for itself.
	TypeConfidential Type = "confidential"
	// TypeM2M is a machine-to-machine client: a service that only ever acts
	// for itself with the client_credentials grant.
	TypeM2M Type = "m2m"
)

// Valid reports whether t is one of the defined client types.
func (t Type) Valid() bool { return t == TypePublic || t == TypeConfidential || t == TypeM2M }

// AuthMethod is how a client authenticates at the token endpoint, by its
// RFC 7591 / RFC 8705 / OpenID Connect registry name.
type AuthMethod string

// The token endpoint authentication methods.
const (
	AuthNone                    AuthMethod = "none"
	AuthClientSecretBasic       AuthMethod = "client_secret_basic"
	AuthClientSecretPost        AuthMethod = "client_secret_post"
	AuthClientSecretJWT         AuthMethod = "client_secret_jwt"
	AuthPrivateKeyJWT           AuthMethod = "private_key_jwt"
	AuthTLSClientAuth           AuthMethod = "tls_client_auth"
	AuthSelfSignedTLSClientAuth AuthMethod = "self_signed_tls_client_auth"
)

// Valid reports whether m is one of the defined methods.
func (m AuthMethod) Valid() bool {
	switch m {
	case AuthNone, AuthClientSecretBasic, AuthClientSecretPost, AuthClientSecretJWT,
		AuthPrivateKeyJWT, AuthTLSClientAuth, AuthSelfSignedTLSClientAuth:
		return true
	}
	return false
}

// UsesSecret reports whether m authenticates with a shared secret, so that
// a client using it needs at least one usable [Secret].
func (m AuthMethod) UsesSecret() bool {
	return m == AuthClientSecretBasic || m == AuthClientSecretPost || m == AuthClientSecretJWT
}

// UsesKeys reports whether m verifies the client with its registered public
// keys (jwks or jwks_uri).
func (m AuthMethod) UsesKeys() bool {
	return m == AuthPrivateKeyJWT || m == AuthSelfSignedTLSClientAuth
}

// The OAuth 2.0 grant types a client may be allowed.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantImplicit          = "implicit"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// The response types a client may register (OAuth 2.0 Multiple Response
// Type Encoding Practices). A value lists its parts in this canonical order;
// [Settings.Normalize] rewrites "id_token code" to "code id_token".
const (
	ResponseCode             = "code"
	ResponseIDToken          = "id_token"
	ResponseToken            = "token"
	ResponseCodeIDToken      = "code id_token"
	ResponseCodeToken        = "code token"
	ResponseCodeIDTokenToken = "code id_token token"
	ResponseIDTokenToken     = "id_token token"
)

// RefreshTokenUsage says whether a refresh token may be used more than once.
type RefreshTokenUsage string

// The refresh token usages.
const (
	// RefreshOneTime rotates the refresh token on every use (the default;
	// it lets a stolen token be detected).
	RefreshOneTime RefreshTokenUsage = "one_time"
	// RefreshReuse keeps the same refresh token across uses.
	RefreshReuse RefreshTokenUsage = "reuse"
)

// RefreshTokenExpiration says how a refresh token's lifetime is counted.
type RefreshTokenExpiration string

// The refresh token expirations.
const (
	// RefreshAbsolute: the token expires refresh_token_absolute_lifetime
	// after it was first issued (the default).
	RefreshAbsolute RefreshTokenExpiration = "absolute"
	// RefreshSliding: every use extends the token by
	// refresh_token_sliding_lifetime, never beyond the absolute lifetime.
	RefreshSliding RefreshTokenExpiration = "sliding"
)

// AccessTokenType is the format of the access tokens issued to a client.
type AccessTokenType string

// The access token types.
const (
	// AccessTokenJWT: self-contained signed JWTs (the default).
	AccessTokenJWT AccessTokenType = "jwt"
	// AccessTokenReference: opaque handles that resource servers introspect,
	// so that tokens can be revoked immediately.
	AccessTokenReference AccessTokenType = "reference"
)

// The permissions a scope can be narrowed to in scope_permissions.
const (
	PermissionCreate = "create"
	PermissionRead   = "read"
	PermissionUpdate = "update"
	PermissionDelete = "delete"
)

// Default lifetimes, in seconds, which [Settings.Normalize] puts in place of
// zero values. They are Duende IdentityServer's defaults.
const (
	DefaultAccessTokenLifetime          = 3600
	DefaultIDTokenLifetime              = 300
	DefaultAuthorizationCodeLifetime    = 300
	DefaultRefreshTokenAbsoluteLifetime = 2592000 // 30 days
	DefaultRefreshTokenSlidingLifetime  = 1296000 // 15 days
	DefaultClientClaimsPrefix           = "client_"
)

// Claim is a claim that tokens issued to the client carry about the client
// itself (IdentityServer's client claims). Its Type appears in tokens with
// the client's client_claims_prefix in front.
type Claim struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Settings is everything about a client that an administrator configures:
// the union of what Ory Hydra, Keycloak, ZITADEL, Duende IdentityServer and
// PlusAuth let one set. It is a plain value so that register, update and
// clone can carry it and events can embed it whole; the [Client] aggregate
// keeps its own copy.
//
// JSON names are the RFC 7591 / OpenID Connect Dynamic Client Registration
// names where those exist and snake_case otherwise. Every field is always
// encoded (no omitempty, except jwks which is absent when unset), so that an
// event shows the whole configuration.
//
// Secrets are not settings: they are state of the aggregate, added and
// revoked by their own commands, and only their hashes are ever stored.
//
// Build Settings with [DefaultSettings], run [Settings.Normalize], then
// [Settings.Validate]; the commands do the last two themselves.
type Settings struct {
	// ClientName is the display name: required, 1..200 characters after
	// trimming, no control characters.
	ClientName string `json:"client_name"`
	// Description is free text for administrators, at most 1000 characters.
	Description string `json:"description"`
	// Code is the user-defined identifier of the client, unique within the
	// tenant, of the form "urn:{vendor}/{name}" (see [ValidCode]). It
	// prefixes the API scopes the client defines as a resource server.
	Code string `json:"code"`
	// Type is the client type.
	Type Type `json:"type"`

	// RedirectURIs are the exact URIs authorization responses may go to.
	RedirectURIs []string `json:"redirect_uris"`
	// PostLogoutRedirectURIs are where RP-initiated logout may return to.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	// AllowedCORSOrigins are the browser origins ("https://app.example.com")
	// allowed to call the token and userinfo endpoints. They are stored in
	// normal form: scheme://host[:port], lowercase, default port removed.
	AllowedCORSOrigins []string `json:"allowed_cors_origins"`

	// GrantTypes are the grant types the client may use.
	GrantTypes []string `json:"grant_types"`
	// ResponseTypes are the response types the client may request.
	ResponseTypes []string `json:"response_types"`
	// TokenEndpointAuthMethod is how the client authenticates.
	TokenEndpointAuthMethod AuthMethod `json:"token_endpoint_auth_method"`
	// TLSClientAuthSubjectDN is the certificate subject DN a tls_client_auth
	// client must present (RFC 8705 §2.1.2).
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn"`

	// DefaultScopes are always granted, requested or not.
	DefaultScopes []string `json:"default_scopes"`
	// OptionalScopes are granted only when requested. A request for a
	// scope in neither list fails.
	OptionalScopes []string `json:"optional_scopes"`
	// ScopePermissions narrows an assigned scope to some of the permissions
	// "create", "read", "update" and "delete".
	ScopePermissions map[string][]string `json:"scope_permissions"`
	// APIScopes are the scope suffixes this client defines as a resource
	// server; the tenant's catalogue holds them as "{code}:{suffix}".
	APIScopes []string `json:"api_scopes"`

	// AccessTokenLifetime in seconds, 60..86400 (default 3600).
	AccessTokenLifetime int `json:"access_token_lifetime"`
	// IDTokenLifetime in seconds, 60..86400 (default 300).
	IDTokenLifetime int `json:"id_token_lifetime"`
	// AuthorizationCodeLifetime in seconds, 10..600 (default 300).
	AuthorizationCodeLifetime int `json:"authorization_code_lifetime"`
	// RefreshTokenAbsoluteLifetime in seconds, 3600..31536000 (default 30 days).
	RefreshTokenAbsoluteLifetime int `json:"refresh_token_absolute_lifetime"`
	// RefreshTokenSlidingLifetime in seconds, 60..absolute (default 15 days).
	RefreshTokenSlidingLifetime int `json:"refresh_token_sliding_lifetime"`
	// ConsentLifetime in seconds: 0 means a consent never expires, otherwise
	// 60..31536000.
	ConsentLifetime int `json:"consent_lifetime"`
	// RefreshTokenUsage is one_time (default) or reuse.
	RefreshTokenUsage RefreshTokenUsage `json:"refresh_token_usage"`
	// RefreshTokenExpiration is absolute (default) or sliding.
	RefreshTokenExpiration RefreshTokenExpiration `json:"refresh_token_expiration"`
	// AccessTokenType is jwt (default) or reference.
	AccessTokenType AccessTokenType `json:"access_token_type"`

	// RequirePKCE makes PKCE mandatory in the authorization code flow.
	RequirePKCE bool `json:"require_pkce"`
	// AllowPlainPKCE accepts the "plain" code challenge method besides S256.
	AllowPlainPKCE bool `json:"allow_plain_pkce"`
	// ConsentRequired shows the consent screen.
	ConsentRequired bool `json:"consent_required"`
	// FirstParty marks a client of the tenant itself, which skips consent;
	// it contradicts ConsentRequired.
	FirstParty bool `json:"first_party"`

	// ClientClaims are claims about the client put into its tokens.
	ClientClaims []Claim `json:"client_claims"`
	// ClientClaimsPrefix is put in front of every client claim type
	// (default "client_"; may be empty).
	ClientClaimsPrefix string `json:"client_claims_prefix"`
	// AlwaysSendClientClaims sends client claims in every flow, not only
	// client_credentials.
	AlwaysSendClientClaims bool `json:"always_send_client_claims"`
	// IdentityProviderRestrictions lists the external identity providers
	// users of this client may log in with; empty allows all.
	IdentityProviderRestrictions []string `json:"identity_provider_restrictions"`

	// LogoURI, PolicyURI, TOSURI and ClientURI are absolute http(s) links
	// shown to users.
	LogoURI   string `json:"logo_uri"`
	PolicyURI string `json:"policy_uri"`
	TOSURI    string `json:"tos_uri"`
	ClientURI string `json:"client_uri"`

	// Metadata is free key/value data for the tenant's own use: at most 10
	// keys of 1..64 characters, values at most 256 characters.
	Metadata map[string]string `json:"metadata"`
	// Properties are IdentityServer-style custom properties: at most 50 keys
	// of 1..64 characters, values at most 2000 characters.
	Properties map[string]string `json:"properties"`

	// JWKS is the client's public JSON Web Key Set, inline. Never together
	// with JWKSURI.
	JWKS json.RawMessage `json:"jwks,omitempty"`
	// JWKSURI is where the client publishes its public JSON Web Key Set
	// (https only).
	JWKSURI string `json:"jwks_uri"`
	// FAPI applies the FAPI 2.0 Security Profile's client rules.
	FAPI bool `json:"fapi"`

	// FrontchannelLogoutURI is loaded in an iframe on logout (OpenID
	// Connect Front-Channel Logout 1.0).
	FrontchannelLogoutURI string `json:"frontchannel_logout_uri"`
	// FrontchannelLogoutSessionRequired adds iss and sid to that request.
	FrontchannelLogoutSessionRequired bool `json:"frontchannel_logout_session_required"`
	// BackchannelLogoutURI receives logout tokens (OpenID Connect
	// Back-Channel Logout 1.0).
	BackchannelLogoutURI string `json:"backchannel_logout_uri"`
	// BackchannelLogoutSessionRequired adds sid to the logout token.
	BackchannelLogoutSessionRequired bool `json:"backchannel_logout_session_required"`

	// PairwiseSubjectSalt, when set, makes subject identifiers pairwise.
	PairwiseSubjectSalt string `json:"pairwise_subject_salt"`
	// AllowOfflineAccess lets the client get refresh tokens (offline_access).
	AllowOfflineAccess bool `json:"allow_offline_access"`
	// UpdateAccessTokenClaimsOnRefresh re-reads user claims on refresh.
	UpdateAccessTokenClaimsOnRefresh bool `json:"update_access_token_claims_on_refresh"`
	// IncludeJWTID puts a jti into JWT access tokens.
	IncludeJWTID bool `json:"include_jwt_id"`
	// AllowRememberConsent lets users have their consent remembered.
	AllowRememberConsent bool `json:"allow_remember_consent"`
	// EnableLocalLogin allows login with local accounts, not only external
	// identity providers.
	EnableLocalLogin bool `json:"enable_local_login"`
	// AlwaysIncludeUserClaimsInIDToken puts user claims into the ID token
	// even when an access token is also issued.
	AlwaysIncludeUserClaimsInIDToken bool `json:"always_include_user_claims_in_id_token"`
	// AllowAccessTokensViaBrowser allows response types that return an
	// access token from the authorization endpoint.
	AllowAccessTokensViaBrowser bool `json:"allow_access_tokens_via_browser"`
}

// DefaultSettings returns the preset for a new client of type typ, to be
// completed with a name, a code and (for user-facing clients) redirect URIs:
//
//   - public (a SPA or native app): auth method none, grants
//     authorization_code and refresh_token, response type code, PKCE
//     required;
//   - confidential: client_secret_basic, authorization_code and
//     refresh_token, response type code, PKCE required (OAuth 2.0 Security
//     BCP: PKCE protects confidential clients too);
//   - m2m: client_secret_basic, client_credentials only, no response types.
//
// Every preset has the default lifetimes, one-time absolute refresh tokens,
// JWT access tokens, the "client_" claims prefix, local login, remembered
// consent, jti in access tokens and session-aware logout, as IdentityServer
// does. Any other typ gets the common part with an empty auth method, which
// [Settings.Normalize] and [Settings.Validate] then deal with.
func DefaultSettings(typ Type) Settings {
	s := Settings{
		Type:                              typ,
		AccessTokenLifetime:               DefaultAccessTokenLifetime,
		IDTokenLifetime:                   DefaultIDTokenLifetime,
		AuthorizationCodeLifetime:         DefaultAuthorizationCodeLifetime,
		RefreshTokenAbsoluteLifetime:      DefaultRefreshTokenAbsoluteLifetime,
		RefreshTokenSlidingLifetime:       DefaultRefreshTokenSlidingLifetime,
		RefreshTokenUsage:                 RefreshOneTime,
		RefreshTokenExpiration:            RefreshAbsolute,
		AccessTokenType:                   AccessTokenJWT,
		ClientClaimsPrefix:                DefaultClientClaimsPrefix,
		EnableLocalLogin:                  true,
		AllowRememberConsent:              true,
		IncludeJWTID:                      true,
		FrontchannelLogoutSessionRequired: true,
		BackchannelLogoutSessionRequired:  true,
	}
	switch typ {
	case TypePublic:
		s.TokenEndpointAuthMethod = AuthNone
		s.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
		s.ResponseTypes = []string{ResponseCode}
		s.RequirePKCE = true
	case TypeConfidential:
		s.TokenEndpointAuthMethod = AuthClientSecretBasic
		s.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
		s.ResponseTypes = []string{ResponseCode}
		s.RequirePKCE = true
	case TypeM2M:
		s.TokenEndpointAuthMethod = AuthClientSecretBasic
		s.GrantTypes = []string{GrantClientCredentials}
	}
	return s
}

// Derive returns s with the preset values the caller did not write made
// to agree with those it did, so that a preset never contradicts the
// caller. s is [DefaultSettings] of its type with what the caller wrote
// decoded over it; given reports whether the caller wrote a member, by
// its JSON name (a JSON null counts as not written). Only what the caller
// wrote can then be refused as a contradiction. For members not given:
//
//   - grant_types follow the response types given (code: authorization_code
//     and refresh_token; id_token or token: implicit), except for m2m
//     clients, which keep client_credentials;
//   - response_types follow the grant types: code with authorization_code,
//     id_token with implicit, none without either (so a confidential client
//     given only client_credentials gets none);
//   - token_endpoint_auth_method is private_key_jwt with fapi, which allows
//     no secret-based method, and the type's preset otherwise;
//   - allow_access_tokens_via_browser is on when a response type given
//     returns an access token from the authorization endpoint;
//   - refresh_token_sliding_lifetime is at most the absolute lifetime given.
//
// Derive does not validate: the commands do.
func (s Settings) Derive(given func(member string) bool) Settings {
	s = s.clone()
	if !given("grant_types") && given("response_types") && len(s.ResponseTypes) > 0 && s.Type != TypeM2M {
		var grants []string
		for _, rt := range s.ResponseTypes {
			for _, part := range strings.Fields(rt) {
				switch part {
				case ResponseCode:
					grants = appendNew(grants, GrantAuthorizationCode, GrantRefreshToken)
				case ResponseIDToken, ResponseToken:
					grants = appendNew(grants, GrantImplicit)
				}
			}
		}
		if len(grants) > 0 {
			s.GrantTypes = grants
		}
	}
	if !given("response_types") {
		s.ResponseTypes = nil
		if slices.Contains(s.GrantTypes, GrantAuthorizationCode) {
			s.ResponseTypes = append(s.ResponseTypes, ResponseCode)
		}
		if slices.Contains(s.GrantTypes, GrantImplicit) {
			s.ResponseTypes = append(s.ResponseTypes, ResponseIDToken)
		}
	}
	if !given("token_endpoint_auth_method") && s.FAPI {
		s.TokenEndpointAuthMethod = AuthPrivateKeyJWT
	}
	if !given("allow_access_tokens_via_browser") && given("response_types") {
		for _, rt := range s.ResponseTypes {
			if slices.Contains(strings.Fields(rt), ResponseToken) {
				s.AllowAccessTokensViaBrowser = true
			}
		}
	}
	if !given("refresh_token_sliding_lifetime") && given("refresh_token_absolute_lifetime") &&
		s.RefreshTokenAbsoluteLifetime > 0 && s.RefreshTokenSlidingLifetime > s.RefreshTokenAbsoluteLifetime {
		s.RefreshTokenSlidingLifetime = s.RefreshTokenAbsoluteLifetime
	}
	return s
}

// appendNew appends the values of vs that list lacks.
func appendNew(list []string, vs ...string) []string {
	for _, v := range vs {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// Normalize returns a deep copy of s in normal form, the form that is
// validated and stored:
//
//   - text fields, list entries and claim types are trimmed of white space;
//     the type is lowercased;
//   - redirect, logout, info and jwks URIs get a lowercase scheme and host;
//   - CORS origins become scheme://host[:port], lowercase, without the
//     default port or a bare trailing "/";
//   - the parts of a response type are put in canonical order
//     ("id_token code" becomes "code id_token");
//   - permissions are lowercased; jwks is compacted, and JSON null dropped;
//   - zero lifetimes (except consent_lifetime, where 0 means "never
//     expires"), empty enumerations and an empty auth method (none for a
//     public client, client_secret_basic otherwise) get their defaults;
//   - empty lists and maps become nil.
//
// Normalize never drops or merges entries: duplicates, including values that
// only become equal once normalised, are left for [Settings.Validate] to
// report, so the caller learns about them. Values that cannot be normalised
// (an unparseable URI) are only trimmed. Map keys are never changed. The
// zero client_claims_prefix is kept, because an empty prefix is a legitimate
// choice; [DefaultSettings] supplies "client_".
func (s Settings) Normalize() Settings {
	n := s.clone()
	n.ClientName = strings.TrimSpace(n.ClientName)
	n.Description = strings.TrimSpace(n.Description)
	n.Code = strings.TrimSpace(n.Code)
	n.Type = Type(strings.ToLower(strings.TrimSpace(string(n.Type))))

	n.RedirectURIs = mapList(n.RedirectURIs, normalizeURI)
	n.PostLogoutRedirectURIs = mapList(n.PostLogoutRedirectURIs, normalizeURI)
	n.AllowedCORSOrigins = mapList(n.AllowedCORSOrigins, func(v string) string {
		if o, _, _ := parseOrigin(v); o != "" {
			return o
		}
		return strings.TrimSpace(v)
	})

	n.GrantTypes = mapList(n.GrantTypes, strings.TrimSpace)
	n.ResponseTypes = mapList(n.ResponseTypes, normalizeResponseType)
	n.TokenEndpointAuthMethod = AuthMethod(strings.TrimSpace(string(n.TokenEndpointAuthMethod)))
	if n.TokenEndpointAuthMethod == "" {
		switch n.Type {
		case TypePublic:
			n.TokenEndpointAuthMethod = AuthNone
		case TypeConfidential, TypeM2M:
			n.TokenEndpointAuthMethod = AuthClientSecretBasic
		}
	}
	n.TLSClientAuthSubjectDN = strings.TrimSpace(n.TLSClientAuthSubjectDN)

	n.DefaultScopes = mapList(n.DefaultScopes, strings.TrimSpace)
	n.OptionalScopes = mapList(n.OptionalScopes, strings.TrimSpace)
	for k, v := range n.ScopePermissions {
		n.ScopePermissions[k] = mapList(v, func(p string) string { return strings.ToLower(strings.TrimSpace(p)) })
	}
	n.APIScopes = mapList(n.APIScopes, strings.TrimSpace)

	n.AccessTokenLifetime = orDefault(n.AccessTokenLifetime, DefaultAccessTokenLifetime)
	n.IDTokenLifetime = orDefault(n.IDTokenLifetime, DefaultIDTokenLifetime)
	n.AuthorizationCodeLifetime = orDefault(n.AuthorizationCodeLifetime, DefaultAuthorizationCodeLifetime)
	n.RefreshTokenAbsoluteLifetime = orDefault(n.RefreshTokenAbsoluteLifetime, DefaultRefreshTokenAbsoluteLifetime)
	n.RefreshTokenSlidingLifetime = orDefault(n.RefreshTokenSlidingLifetime, DefaultRefreshTokenSlidingLifetime)
	n.RefreshTokenUsage = orDefault(RefreshTokenUsage(strings.TrimSpace(string(n.RefreshTokenUsage))), RefreshOneTime)
	n.RefreshTokenExpiration = orDefault(RefreshTokenExpiration(strings.TrimSpace(string(n.RefreshTokenExpiration))), RefreshAbsolute)
	n.AccessTokenType = orDefault(AccessTokenType(strings.TrimSpace(string(n.AccessTokenType))), AccessTokenJWT)

	for i := range n.ClientClaims {
		n.ClientClaims[i].Type = strings.TrimSpace(n.ClientClaims[i].Type)
	}
	n.ClientClaimsPrefix = strings.TrimSpace(n.ClientClaimsPrefix)
	n.IdentityProviderRestrictions = mapList(n.IdentityProviderRestrictions, strings.TrimSpace)

	n.LogoURI = normalizeURI(n.LogoURI)
	n.PolicyURI = normalizeURI(n.PolicyURI)
	n.TOSURI = normalizeURI(n.TOSURI)
	n.ClientURI = normalizeURI(n.ClientURI)
	n.JWKSURI = normalizeURI(n.JWKSURI)
	n.FrontchannelLogoutURI = normalizeURI(n.FrontchannelLogoutURI)
	n.BackchannelLogoutURI = normalizeURI(n.BackchannelLogoutURI)

	n.JWKS = normalizeJWKS(n.JWKS)
	return n.compact()
}

// compact turns empty lists and maps into nil, so that "no redirect URIs"
// has exactly one representation and settings compare and round-trip
// through JSON equal.
func (s Settings) compact() Settings {
	for _, p := range []*[]string{
		&s.RedirectURIs, &s.PostLogoutRedirectURIs, &s.AllowedCORSOrigins,
		&s.GrantTypes, &s.ResponseTypes, &s.DefaultScopes, &s.OptionalScopes,
		&s.APIScopes, &s.IdentityProviderRestrictions,
	} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	if len(s.ClientClaims) == 0 {
		s.ClientClaims = nil
	}
	if len(s.ScopePermissions) == 0 {
		s.ScopePermissions = nil
	}
	if len(s.Metadata) == 0 {
		s.Metadata = nil
	}
	if len(s.Properties) == 0 {
		s.Properties = nil
	}
	if len(s.JWKS) == 0 {
		s.JWKS = nil
	}
	return s
}

// clone returns a deep copy of s: no slice or map of the copy aliases s.
func (s Settings) clone() Settings {
	c := s
	c.RedirectURIs = slices.Clone(s.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(s.PostLogoutRedirectURIs)
	c.AllowedCORSOrigins = slices.Clone(s.AllowedCORSOrigins)
	c.GrantTypes = slices.Clone(s.GrantTypes)
	c.ResponseTypes = slices.Clone(s.ResponseTypes)
	c.DefaultScopes = slices.Clone(s.DefaultScopes)
	c.OptionalScopes = slices.Clone(s.OptionalScopes)
	c.APIScopes = slices.Clone(s.APIScopes)
	c.IdentityProviderRestrictions = slices.Clone(s.IdentityProviderRestrictions)
	c.ClientClaims = slices.Clone(s.ClientClaims)
	c.Metadata = maps.Clone(s.Metadata)
	c.Properties = maps.Clone(s.Properties)
	c.JWKS = bytes.Clone(s.JWKS)
	if s.ScopePermissions != nil {
		c.ScopePermissions = make(map[string][]string, len(s.ScopePermissions))
		for k, v := range s.ScopePermissions {
			c.ScopePermissions[k] = slices.Clone(v)
		}
	}
	return c
}

func mapList(list []string, f func(string) string) []string {
	for i, v := range list {
		list[i] = f(v)
	}
	return list
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// responseTypeRank orders the parts of a response type canonically.
var responseTypeRank = map[string]int{"code": 0, "id_token": 1, "token": 2}

// normalizeResponseType puts the space-separated parts of a response type in
// canonical order. Values with an unknown part are only trimmed, and left
// for validation to refuse.
func normalizeResponseType(v string) string {
	parts := strings.Fields(v)
	for _, p := range parts {
		if _, ok := responseTypeRank[p]; !ok {
			return strings.TrimSpace(v)
		}
	}
	slices.SortStableFunc(parts, func(a, b string) int { return responseTypeRank[a] - responseTypeRank[b] })
	return strings.Join(parts, " ")
}

// normalizeJWKS trims and compacts an inline key set and turns JSON null
// into nil. Invalid JSON is only trimmed, for validation to refuse.
func normalizeJWKS(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var compacted, escaped bytes.Buffer
	if err := json.Compact(&compacted, raw); err != nil {
		return raw
	}
	// Escape as encoding/json does when it writes a RawMessage, so that the
	// stored form survives an encode/decode round trip unchanged.
	json.HTMLEscape(&escaped, compacted.Bytes())
	return escaped.Bytes()
}
