package client

import "github.com/clavisiam/clavis/domain/internal/strictjson"

// The tables of the fast path of [Decode]: for each event struct, and each
// struct an event holds, every JSON member with the code that decodes it
// into its field. They must name exactly the members encoding/json knows
// (TestFastFieldTables checks it against the struct tags), in the
// structs' field order, which is the order the encoder writes them in and
// makes each lookup a single comparison. A member missing here would only
// make the fast path give up; a member too many would accept what
// encoding/json refuses, which the test does not let happen.

var settingsFields = strictjson.NewFields([]strictjson.Field[Settings]{
	{Name: "client_name", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.ClientName) }},
	{Name: "description", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.Description) }},
	{Name: "code", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.Code) }},
	{Name: "type", Decode: func(d *strictjson.Decoder, s *Settings) { d.String((*string)(&s.Type)) }},
	{Name: "redirect_uris", Decode: func(d *strictjson.Decoder, s *Settings) { stringList(d, &s.RedirectURIs) }},
	{Name: "post_logout_redirect_uris", Decode: func(d *strictjson.Decoder, s *Settings) { stringList(d, &s.PostLogoutRedirectURIs) }},
	{Name: "allowed_cors_origins", Decode: func(d *strictjson.Decoder, s *Settings) { stringList(d, &s.AllowedCORSOrigins) }},
	{Name: "grant_types", Decode: func(d *strictjson.Decoder, s *Settings) { stringList(d, &s.GrantTypes) }},
	{Name: "response_types", Decode: func(d *strictjson.Decoder, s *Settings) { stringList(d, &s.ResponseTypes) }},
	{Name: "token_endpoint_auth_method", Decode: func(d *strictjson.Decoder, s *Settings) { d.String((*string)(&s.TokenEndpointAuthMethod)) }},
	{Name: "tls_client_auth_subject_dn", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.TLSClientAuthSubjectDN) }},
	{Name: "default_scopes", Decode: func(d *strictjson.Decoder, s *Settings) { stringList(d, &s.DefaultScopes) }},
	{Name: "optional_scopes", Decode: func(d *strictjson.Decoder, s *Settings) { stringList(d, &s.OptionalScopes) }},
	{Name: "scope_permissions", Decode: func(d *strictjson.Decoder, s *Settings) { strictjson.Map(d, &s.ScopePermissions, stringList) }},
	{Name: "api_scopes", Decode: func(d *strictjson.Decoder, s *Settings) { stringList(d, &s.APIScopes) }},
	{Name: "access_token_lifetime", Decode: func(d *strictjson.Decoder, s *Settings) { d.Int(&s.AccessTokenLifetime) }},
	{Name: "id_token_lifetime", Decode: func(d *strictjson.Decoder, s *Settings) { d.Int(&s.IDTokenLifetime) }},
	{Name: "authorization_code_lifetime", Decode: func(d *strictjson.Decoder, s *Settings) { d.Int(&s.AuthorizationCodeLifetime) }},
	{Name: "refresh_token_absolute_lifetime", Decode: func(d *strictjson.Decoder, s *Settings) { d.Int(&s.RefreshTokenAbsoluteLifetime) }},
	{Name: "refresh_token_sliding_lifetime", Decode: func(d *strictjson.Decoder, s *Settings) { d.Int(&s.RefreshTokenSlidingLifetime) }},
	{Name: "consent_lifetime", Decode: func(d *strictjson.Decoder, s *Settings) { d.Int(&s.ConsentLifetime) }},
	{Name: "refresh_token_usage", Decode: func(d *strictjson.Decoder, s *Settings) { d.String((*string)(&s.RefreshTokenUsage)) }},
	{Name: "refresh_token_expiration", Decode: func(d *strictjson.Decoder, s *Settings) { d.String((*string)(&s.RefreshTokenExpiration)) }},
	{Name: "access_token_type", Decode: func(d *strictjson.Decoder, s *Settings) { d.String((*string)(&s.AccessTokenType)) }},
	{Name: "require_pkce", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.RequirePKCE) }},
	{Name: "allow_plain_pkce", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.AllowPlainPKCE) }},
	{Name: "consent_required", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.ConsentRequired) }},
	{Name: "first_party", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.FirstParty) }},
	{Name: "client_claims", Decode: func(d *strictjson.Decoder, s *Settings) { strictjson.Slice(d, &s.ClientClaims, decodeClaim) }},
	{Name: "client_claims_prefix", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.ClientClaimsPrefix) }},
	{Name: "always_send_client_claims", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.AlwaysSendClientClaims) }},
	{Name: "identity_provider_restrictions", Decode: func(d *strictjson.Decoder, s *Settings) { stringList(d, &s.IdentityProviderRestrictions) }},
	{Name: "logo_uri", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.LogoURI) }},
	{Name: "policy_uri", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.PolicyURI) }},
	{Name: "tos_uri", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.TOSURI) }},
	{Name: "client_uri", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.ClientURI) }},
	{Name: "metadata", Decode: func(d *strictjson.Decoder, s *Settings) { strictjson.Map(d, &s.Metadata, (*strictjson.Decoder).String) }},
	{Name: "properties", Decode: func(d *strictjson.Decoder, s *Settings) {
		strictjson.Map(d, &s.Properties, (*strictjson.Decoder).String)
	}},
	{Name: "jwks", Decode: func(d *strictjson.Decoder, s *Settings) { d.Raw(&s.JWKS) }},
	{Name: "jwks_uri", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.JWKSURI) }},
	{Name: "fapi", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.FAPI) }},
	{Name: "frontchannel_logout_uri", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.FrontchannelLogoutURI) }},
	{Name: "frontchannel_logout_session_required", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.FrontchannelLogoutSessionRequired) }},
	{Name: "backchannel_logout_uri", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.BackchannelLogoutURI) }},
	{Name: "backchannel_logout_session_required", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.BackchannelLogoutSessionRequired) }},
	{Name: "pairwise_subject_salt", Decode: func(d *strictjson.Decoder, s *Settings) { d.String(&s.PairwiseSubjectSalt) }},
	{Name: "allow_offline_access", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.AllowOfflineAccess) }},
	{Name: "update_access_token_claims_on_refresh", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.UpdateAccessTokenClaimsOnRefresh) }},
	{Name: "include_jwt_id", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.IncludeJWTID) }},
	{Name: "allow_remember_consent", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.AllowRememberConsent) }},
	{Name: "enable_local_login", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.EnableLocalLogin) }},
	{Name: "always_include_user_claims_in_id_token", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.AlwaysIncludeUserClaimsInIDToken) }},
	{Name: "allow_access_tokens_via_browser", Decode: func(d *strictjson.Decoder, s *Settings) { d.Bool(&s.AllowAccessTokensViaBrowser) }},
}...)

var secretFields = strictjson.NewFields([]strictjson.Field[Secret]{
	{Name: "id", Decode: func(d *strictjson.Decoder, s *Secret) { d.String(&s.ID) }},
	{Name: "hash", Decode: func(d *strictjson.Decoder, s *Secret) { d.String(&s.Hash) }},
	{Name: "created_at", Decode: func(d *strictjson.Decoder, s *Secret) { d.Time(&s.CreatedAt) }},
	{Name: "expires_at", Decode: func(d *strictjson.Decoder, s *Secret) { d.TimePtr(&s.ExpiresAt) }},
	{Name: "description", Decode: func(d *strictjson.Decoder, s *Secret) { d.String(&s.Description) }},
}...)

var secretExpiryFields = strictjson.NewFields([]strictjson.Field[SecretExpiry]{
	{Name: "secret_id", Decode: func(d *strictjson.Decoder, s *SecretExpiry) { d.String(&s.SecretID) }},
	{Name: "expires_at", Decode: func(d *strictjson.Decoder, s *SecretExpiry) { d.Time(&s.ExpiresAt) }},
}...)

var claimFields = strictjson.NewFields([]strictjson.Field[Claim]{
	{Name: "type", Decode: func(d *strictjson.Decoder, c *Claim) { d.String(&c.Type) }},
	{Name: "value", Decode: func(d *strictjson.Decoder, c *Claim) { d.String(&c.Value) }},
}...)

var registeredFields = strictjson.NewFields([]strictjson.Field[ClientRegistered]{
	{Name: "client_id", Decode: func(d *strictjson.Decoder, e *ClientRegistered) { d.String(&e.ClientID) }},
	{Name: "settings", Decode: func(d *strictjson.Decoder, e *ClientRegistered) { decodeSettings(d, &e.Settings) }},
	{Name: "active", Decode: func(d *strictjson.Decoder, e *ClientRegistered) { d.Bool(&e.Active) }},
	{Name: "secrets", Decode: func(d *strictjson.Decoder, e *ClientRegistered) { strictjson.Slice(d, &e.Secrets, decodeSecret) }},
	{Name: "cloned_from", Decode: func(d *strictjson.Decoder, e *ClientRegistered) { d.String(&e.ClonedFrom) }},
	{Name: "at", Decode: func(d *strictjson.Decoder, e *ClientRegistered) { d.Time(&e.At) }},
}...)

var updatedFields = strictjson.NewFields([]strictjson.Field[ClientUpdated]{
	{Name: "settings", Decode: func(d *strictjson.Decoder, e *ClientUpdated) { decodeSettings(d, &e.Settings) }},
	{Name: "changed", Decode: func(d *strictjson.Decoder, e *ClientUpdated) { stringList(d, &e.Changed) }},
	{Name: "previous_code", Decode: func(d *strictjson.Decoder, e *ClientUpdated) { d.String(&e.PreviousCode) }},
	{Name: "at", Decode: func(d *strictjson.Decoder, e *ClientUpdated) { d.Time(&e.At) }},
}...)

var secretAddedFields = strictjson.NewFields([]strictjson.Field[SecretAdded]{
	{Name: "secret", Decode: func(d *strictjson.Decoder, e *SecretAdded) { decodeSecret(d, &e.Secret) }},
	{Name: "at", Decode: func(d *strictjson.Decoder, e *SecretAdded) { d.Time(&e.At) }},
}...)

var secretRevokedFields = strictjson.NewFields([]strictjson.Field[SecretRevoked]{
	{Name: "secret_id", Decode: func(d *strictjson.Decoder, e *SecretRevoked) { d.String(&e.SecretID) }},
	{Name: "at", Decode: func(d *strictjson.Decoder, e *SecretRevoked) { d.Time(&e.At) }},
}...)

var secretRotatedFields = strictjson.NewFields([]strictjson.Field[SecretRotated]{
	{Name: "new", Decode: func(d *strictjson.Decoder, e *SecretRotated) { decodeSecret(d, &e.New) }},
	{Name: "expiring", Decode: func(d *strictjson.Decoder, e *SecretRotated) {
		strictjson.Slice(d, &e.Expiring, func(d *strictjson.Decoder, x *SecretExpiry) { strictjson.Object(d, x, secretExpiryFields) })
	}},
	{Name: "at", Decode: func(d *strictjson.Decoder, e *SecretRotated) { d.Time(&e.At) }},
}...)

var activatedFields = strictjson.NewFields([]strictjson.Field[ClientActivated]{
	{Name: "at", Decode: func(d *strictjson.Decoder, e *ClientActivated) { d.Time(&e.At) }},
}...)

var deactivatedFields = strictjson.NewFields([]strictjson.Field[ClientDeactivated]{
	{Name: "reason", Decode: func(d *strictjson.Decoder, e *ClientDeactivated) { d.String(&e.Reason) }},
	{Name: "at", Decode: func(d *strictjson.Decoder, e *ClientDeactivated) { d.Time(&e.At) }},
}...)

var deletedFields = strictjson.NewFields([]strictjson.Field[ClientDeleted]{
	{Name: "code", Decode: func(d *strictjson.Decoder, e *ClientDeleted) { d.String(&e.Code) }},
	{Name: "at", Decode: func(d *strictjson.Decoder, e *ClientDeleted) { d.Time(&e.At) }},
}...)

func decodeSettings(d *strictjson.Decoder, s *Settings) { strictjson.Object(d, s, settingsFields) }

func decodeSecret(d *strictjson.Decoder, s *Secret) { strictjson.Object(d, s, secretFields) }

func decodeClaim(d *strictjson.Decoder, c *Claim) { strictjson.Object(d, c, claimFields) }

func stringList(d *strictjson.Decoder, v *[]string) {
	strictjson.Slice(d, v, (*strictjson.Decoder).String)
}
