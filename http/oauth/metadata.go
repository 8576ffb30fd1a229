package oauth

import (
	"slices"

	"github.com/clavisiam/clavis/domain/client"
)

// Metadata is a tenant's authorization server metadata (RFC 8414): the
// endpoints, grants, authentication methods and algorithms this version
// serves, no more, no less.
type Metadata struct {
	Issuer                               string   `json:"issuer"`
	AuthorizationEndpoint                string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                        string   `json:"token_endpoint"`
	UserinfoEndpoint                     string   `json:"userinfo_endpoint,omitempty"`
	EndSessionEndpoint                   string   `json:"end_session_endpoint,omitempty"`
	JWKSURI                              string   `json:"jwks_uri"`
	RegistrationEndpoint                 string   `json:"registration_endpoint"`
	ResponseTypesSupported               []string `json:"response_types_supported"`
	ResponseModesSupported               []string `json:"response_modes_supported,omitempty"`
	CodeChallengeMethodsSupported        []string `json:"code_challenge_methods_supported,omitempty"`
	SubjectTypesSupported                []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported     []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ClaimsSupported                      []string `json:"claims_supported,omitempty"`
	PromptValuesSupported                []string `json:"prompt_values_supported,omitempty"`
	GrantTypesSupported                  []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported    []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs         []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	IntrospectionEndpoint                string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethods     []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint                   string   `json:"revocation_endpoint,omitempty"`
	RevocationEndpointAuthMethods        []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	ScopesSupported                      []string `json:"scopes_supported,omitempty"`
	AccessTokenSigningAlgValuesSupported []string `json:"access_token_signing_alg_values_supported,omitempty"`
	// AuthorizationResponseISS says that every authorization response
	// carries iss (RFC 9207).
	AuthorizationResponseISS bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	// RequestParameter and RequestURIParameter say that request objects
	// (OpenID Connect Core §6) are refused, by value and by reference:
	// explicitly, though false is their default.
	RequestParameter    bool `json:"request_parameter_supported"`
	RequestURIParameter bool `json:"request_uri_parameter_supported"`
}

// Metadata describes tenant slug, whose scope catalogue is scopes and
// whose keys sign with algs.
func (p *Provider) Metadata(slug string, scopes, algs []string) Metadata {
	issuer := p.Issuer(slug)
	m := Metadata{
		Issuer:                               issuer,
		TokenEndpoint:                        issuer + "/oauth2/token",
		JWKSURI:                              issuer + "/jwks.json",
		RegistrationEndpoint:                 issuer + "/oauth2/register",
		ResponseTypesSupported:               []string{}, // no authorization endpoint without grants
		GrantTypesSupported:                  p.grantTypes(),
		TokenEndpointAuthMethodsSupported:    p.authMethods(),
		IntrospectionEndpoint:                issuer + "/oauth2/introspect",
		IntrospectionEndpointAuthMethods:     p.authMethods(),
		ScopesSupported:                      scopes,
		AccessTokenSigningAlgValuesSupported: algs,
	}
	if p.grants != nil {
		m.AuthorizationEndpoint = issuer + "/oauth2/auth"
		m.UserinfoEndpoint = issuer + "/oauth2/userinfo"
		m.EndSessionEndpoint = issuer + "/oauth2/logout"
		m.GrantTypesSupported = append(m.GrantTypesSupported, client.GrantImplicit)
		m.ResponseTypesSupported = []string{client.ResponseCode, client.ResponseIDToken, client.ResponseToken,
			client.ResponseCodeIDToken, client.ResponseCodeToken, client.ResponseCodeIDTokenToken, client.ResponseIDTokenToken}
		m.ResponseModesSupported = []string{"query", "fragment", "form_post"}
		m.CodeChallengeMethodsSupported = []string{"S256", "plain"}
		m.SubjectTypesSupported = []string{"public", "pairwise"}
		m.IDTokenSigningAlgValuesSupported = algs
		m.ClaimsSupported = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash", "c_hash"}
		m.PromptValuesSupported = []string{"none", "login", "consent"}
		m.AuthorizationResponseISS = true
	}
	if p.assertions != nil {
		m.TokenEndpointAuthSigningAlgs = append(slices.Clone(assertionAlgs), secretAssertionAlgs...)
	}
	if p.revoked != nil {
		m.RevocationEndpoint = issuer + "/oauth2/revoke"
		m.RevocationEndpointAuthMethods = append(p.authMethods(), string(client.AuthNone))
	}
	if p.grants != nil {
		// Public clients authenticate with nothing at the token endpoint.
		m.TokenEndpointAuthMethodsSupported = append(m.TokenEndpointAuthMethodsSupported, string(client.AuthNone))
	}
	return m
}

// authMethods are the client authentication methods the endpoints take.
func (p *Provider) authMethods() []string {
	m := []string{string(client.AuthClientSecretBasic), string(client.AuthClientSecretPost)}
	if p.assertions != nil {
		m = append(m, string(client.AuthClientSecretJWT), string(client.AuthPrivateKeyJWT))
	}
	return m
}
