package jsonbody

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/tenants"
)

// isClient is a Duende IdentityServer Client as its JSON configuration
// and admin tools write it (PascalCase; encoding/json matches member
// names case-insensitively). Pointers tell an absent member, which takes
// IdentityServer's default, from a given one. Members that are neither
// mapped nor listed as ignored are refused, so that no setting is lost
// unnoticed.
type isClient struct {
	ClientID            string  `json:"ClientId"`
	ClientName          *string `json:"ClientName"`
	Description         *string `json:"Description"`
	ProtocolType        *string `json:"ProtocolType"`
	Enabled             *bool   `json:"Enabled"`
	RequireClientSecret *bool   `json:"RequireClientSecret"`
	// ClientSecrets is accepted and never read: hashes from another
	// system are useless here and plaintext must not travel.
	ClientSecrets json.RawMessage `json:"ClientSecrets"`

	AllowedGrantTypes      []string `json:"AllowedGrantTypes"`
	RedirectURIs           []string `json:"RedirectUris"`
	PostLogoutRedirectURIs []string `json:"PostLogoutRedirectUris"`
	AllowedCORSOrigins     []string `json:"AllowedCorsOrigins"`
	AllowedScopes          []string `json:"AllowedScopes"`

	RequirePKCE          *bool `json:"RequirePkce"`
	AllowPlainTextPKCE   *bool `json:"AllowPlainTextPkce"`
	RequireConsent       *bool `json:"RequireConsent"`
	AllowRememberConsent *bool `json:"AllowRememberConsent"`
	AllowOfflineAccess   *bool `json:"AllowOfflineAccess"`

	IdentityTokenLifetime        *int `json:"IdentityTokenLifetime"`
	AccessTokenLifetime          *int `json:"AccessTokenLifetime"`
	AuthorizationCodeLifetime    *int `json:"AuthorizationCodeLifetime"`
	AbsoluteRefreshTokenLifetime *int `json:"AbsoluteRefreshTokenLifetime"`
	SlidingRefreshTokenLifetime  *int `json:"SlidingRefreshTokenLifetime"`
	ConsentLifetime              *int `json:"ConsentLifetime"`

	RefreshTokenUsage                json.RawMessage `json:"RefreshTokenUsage"`
	RefreshTokenExpiration           json.RawMessage `json:"RefreshTokenExpiration"`
	AccessTokenType                  json.RawMessage `json:"AccessTokenType"`
	UpdateAccessTokenClaimsOnRefresh *bool           `json:"UpdateAccessTokenClaimsOnRefresh"`

	Claims                       []isClaim         `json:"Claims"`
	AlwaysSendClientClaims       *bool             `json:"AlwaysSendClientClaims"`
	ClientClaimsPrefix           json.RawMessage   `json:"ClientClaimsPrefix"`
	IdentityProviderRestrictions []string          `json:"IdentityProviderRestrictions"`
	Properties                   map[string]string `json:"Properties"`

	FrontChannelLogoutURI             *string `json:"FrontChannelLogoutUri"`
	FrontChannelLogoutSessionRequired *bool   `json:"FrontChannelLogoutSessionRequired"`
	BackChannelLogoutURI              *string `json:"BackChannelLogoutUri"`
	BackChannelLogoutSessionRequired  *bool   `json:"BackChannelLogoutSessionRequired"`

	IncludeJWTID                     *bool   `json:"IncludeJwtId"`
	EnableLocalLogin                 *bool   `json:"EnableLocalLogin"`
	AlwaysIncludeUserClaimsInIDToken *bool   `json:"AlwaysIncludeUserClaimsInIdToken"`
	AllowAccessTokensViaBrowser      *bool   `json:"AllowAccessTokensViaBrowser"`
	PairWiseSubjectSalt              *string `json:"PairWiseSubjectSalt"`
	ClientURI                        *string `json:"ClientUri"`
	LogoURI                          *string `json:"LogoUri"`

	// Features Clavis does not have: refused when switched on.
	RequireRequestObject       *bool `json:"RequireRequestObject"`
	RequireDPoP                *bool `json:"RequireDPoP"`
	RequirePushedAuthorization *bool `json:"RequirePushedAuthorization"`

	// Accepted and ignored: bookkeeping of the source system, and settings
	// that are per tenant in Clavis or belong to flows it does not offer.
	ID                                    json.RawMessage `json:"Id"`
	Created                               json.RawMessage `json:"Created"`
	Updated                               json.RawMessage `json:"Updated"`
	LastAccessed                          json.RawMessage `json:"LastAccessed"`
	NonEditable                           json.RawMessage `json:"NonEditable"`
	AllowedIdentityTokenSigningAlgorithms json.RawMessage `json:"AllowedIdentityTokenSigningAlgorithms"`
	UserSsoLifetime                       json.RawMessage `json:"UserSsoLifetime"`
	UserCodeType                          json.RawMessage `json:"UserCodeType"`
	DeviceCodeLifetime                    json.RawMessage `json:"DeviceCodeLifetime"`
	CibaLifetime                          json.RawMessage `json:"CibaLifetime"`
	PollingInterval                       json.RawMessage `json:"PollingInterval"`
	InitiateLoginURI                      json.RawMessage `json:"InitiateLoginUri"`
	CoordinateLifetimeWithUserSession     json.RawMessage `json:"CoordinateLifetimeWithUserSession"`
	DPoPValidationMode                    json.RawMessage `json:"DPoPValidationMode"`
	DPoPClockSkew                         json.RawMessage `json:"DPoPClockSkew"`
	PushedAuthorizationLifetime           json.RawMessage `json:"PushedAuthorizationLifetime"`
}

// isClaim is an IdentityServer ClientClaim.
type isClaim struct {
	Type      string          `json:"Type"`
	Value     string          `json:"Value"`
	ValueType json.RawMessage `json:"ValueType"` // ignored: client claims are strings
}

// decodeIdentityServer reads a JSON array of IdentityServer clients and
// maps each to Clavis settings. Every mapping problem of every client is
// reported in one *domain.ValidationError, addressed by the
// IdentityServer member ("clients[0].AllowedGrantTypes[1]").
func decodeIdentityServer(tenant string, data []byte) ([]tenants.ImportClient, error) {
	var raw []json.RawMessage
	if err := Decode(data, &raw); err != nil {
		return nil, err
	}
	var problems domain.Problems
	out := make([]tenants.ImportClient, 0, len(raw))
	for i, r := range raw {
		prefix := fmt.Sprintf("clients[%d]", i)
		var c isClient
		if err := decodeFoldingAt(prefix, r, &c); err != nil {
			return nil, err
		}
		ic := c.toClavis(tenant, prefix, &problems)
		out = append(out, ic)
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// toClavis maps an IdentityServer client to Clavis settings:
//
//   - ClientId becomes the code "urn:{tenant}/{ClientId}", lowercased,
//     with every character other than a-z, 0-9, '.', '_' and '-' turned
//     into '-'; the client gets a new client_id.
//   - AllowedGrantTypes: authorization_code, implicit and
//     client_credentials map to themselves, "hybrid" to
//     authorization_code and implicit with the response type
//     "code id_token"; authorization_code brings the response type
//     "code", implicit "id_token" (and "id_token token" when access tokens
//     may travel through the browser). Other grants are refused.
//   - AllowOfflineAccess adds the refresh_token grant to a client with
//     authorization_code; without it IdentityServer never issues refresh
//     tokens, so it is dropped.
//   - The type is m2m for client_credentials alone; public when
//     RequireClientSecret is false and client_credentials is not allowed;
//     else confidential. Non-public clients authenticate with
//     client_secret_basic and get a new secret: ClientSecrets is never
//     read.
//   - AllowedScopes become default_scopes; Claims client_claims;
//     RefreshTokenUsage 0/1 reuse/one_time; RefreshTokenExpiration 0/1
//     sliding/absolute; AccessTokenType 0/1 jwt/reference (names such as
//     "OneTimeOnly" are accepted too); Enabled is active; the other
//     members map to the settings of the same meaning, and absent ones
//     take IdentityServer's defaults.
//   - RequireRequestObject, RequireDPoP and RequirePushedAuthorization
//     are refused when true; ProtocolType must be "oidc".
func (c isClient) toClavis(tenant, prefix string, p *domain.Problems) tenants.ImportClient {
	field := func(name string) string { return prefix + "." + name }
	grants, responses := c.grants(field, p)
	cc := slices.Contains(grants, client.GrantClientCredentials)
	user := slices.Contains(grants, client.GrantAuthorizationCode) || slices.Contains(grants, client.GrantImplicit)
	typ := client.TypeConfidential
	switch {
	case cc && !user:
		typ = client.TypeM2M
	case !boolOr(c.RequireClientSecret, true) && !cc:
		typ = client.TypePublic
	}
	s := client.DefaultSettings(typ)

	if c.ClientID == "" {
		p.Add(field("ClientId"), "required", "ClientId is required")
	}
	s.Code = isCode(tenant, c.ClientID)
	if c.ClientID != "" && !client.ValidCode(s.Code) {
		p.Add(field("ClientId"), "invalid_value", "ClientId does not make a valid code (%s)", s.Code)
	}
	s.ClientName = strOr(c.ClientName, c.ClientID)
	s.Description = strOr(c.Description, "")
	if pt := strOr(c.ProtocolType, "oidc"); pt != "oidc" {
		p.Add(field("ProtocolType"), "not_allowed", "only the oidc protocol type is supported")
	}
	for _, f := range []struct {
		name string
		on   *bool
	}{
		{"RequireRequestObject", c.RequireRequestObject},
		{"RequireDPoP", c.RequireDPoP},
		{"RequirePushedAuthorization", c.RequirePushedAuthorization},
	} {
		if boolOr(f.on, false) {
			p.Add(field(f.name), "not_allowed", "%s is not supported yet", f.name)
		}
	}

	s.GrantTypes, s.ResponseTypes = grants, responses
	s.AllowOfflineAccess = boolOr(c.AllowOfflineAccess, false) && slices.Contains(grants, client.GrantAuthorizationCode)
	if !s.AllowOfflineAccess {
		s.GrantTypes = slices.DeleteFunc(s.GrantTypes, func(g string) bool { return g == client.GrantRefreshToken })
	}
	s.RedirectURIs = c.RedirectURIs
	s.PostLogoutRedirectURIs = c.PostLogoutRedirectURIs
	s.AllowedCORSOrigins = c.AllowedCORSOrigins
	s.DefaultScopes = c.AllowedScopes

	s.RequirePKCE = boolOr(c.RequirePKCE, true)
	s.AllowPlainPKCE = boolOr(c.AllowPlainTextPKCE, false)
	s.ConsentRequired = boolOr(c.RequireConsent, false)
	s.AllowRememberConsent = boolOr(c.AllowRememberConsent, true)

	s.IDTokenLifetime = intOr(c.IdentityTokenLifetime, client.DefaultIDTokenLifetime)
	s.AccessTokenLifetime = intOr(c.AccessTokenLifetime, client.DefaultAccessTokenLifetime)
	s.AuthorizationCodeLifetime = intOr(c.AuthorizationCodeLifetime, client.DefaultAuthorizationCodeLifetime)
	s.RefreshTokenAbsoluteLifetime = intOr(c.AbsoluteRefreshTokenLifetime, client.DefaultRefreshTokenAbsoluteLifetime)
	s.RefreshTokenSlidingLifetime = intOr(c.SlidingRefreshTokenLifetime, client.DefaultRefreshTokenSlidingLifetime)
	s.ConsentLifetime = intOr(c.ConsentLifetime, 0)

	s.RefreshTokenUsage = client.RefreshTokenUsage(isEnum(c.RefreshTokenUsage, field("RefreshTokenUsage"), p, string(client.RefreshOneTime),
		map[string]string{"0": string(client.RefreshReuse), "reuse": string(client.RefreshReuse), "1": string(client.RefreshOneTime), "onetimeonly": string(client.RefreshOneTime)}))
	s.RefreshTokenExpiration = client.RefreshTokenExpiration(isEnum(c.RefreshTokenExpiration, field("RefreshTokenExpiration"), p, string(client.RefreshAbsolute),
		map[string]string{"0": string(client.RefreshSliding), "sliding": string(client.RefreshSliding), "1": string(client.RefreshAbsolute), "absolute": string(client.RefreshAbsolute)}))
	s.AccessTokenType = client.AccessTokenType(isEnum(c.AccessTokenType, field("AccessTokenType"), p, string(client.AccessTokenJWT),
		map[string]string{"0": string(client.AccessTokenJWT), "jwt": string(client.AccessTokenJWT), "1": string(client.AccessTokenReference), "reference": string(client.AccessTokenReference)}))
	s.UpdateAccessTokenClaimsOnRefresh = boolOr(c.UpdateAccessTokenClaimsOnRefresh, false)

	s.ClientClaims = nil
	for _, cl := range c.Claims {
		s.ClientClaims = append(s.ClientClaims, client.Claim{Type: cl.Type, Value: cl.Value})
	}
	s.AlwaysSendClientClaims = boolOr(c.AlwaysSendClientClaims, false)
	s.ClientClaimsPrefix = claimsPrefix(c.ClientClaimsPrefix, field("ClientClaimsPrefix"), p)
	s.IdentityProviderRestrictions = c.IdentityProviderRestrictions
	s.Properties = c.Properties

	s.FrontchannelLogoutURI = strOr(c.FrontChannelLogoutURI, "")
	s.FrontchannelLogoutSessionRequired = boolOr(c.FrontChannelLogoutSessionRequired, true)
	s.BackchannelLogoutURI = strOr(c.BackChannelLogoutURI, "")
	s.BackchannelLogoutSessionRequired = boolOr(c.BackChannelLogoutSessionRequired, true)

	s.IncludeJWTID = boolOr(c.IncludeJWTID, true)
	s.EnableLocalLogin = boolOr(c.EnableLocalLogin, true)
	s.AlwaysIncludeUserClaimsInIDToken = boolOr(c.AlwaysIncludeUserClaimsInIDToken, false)
	s.AllowAccessTokensViaBrowser = boolOr(c.AllowAccessTokensViaBrowser, false)
	s.PairwiseSubjectSalt = strOr(c.PairWiseSubjectSalt, "")
	s.ClientURI = strOr(c.ClientURI, "")
	s.LogoURI = strOr(c.LogoURI, "")

	return tenants.ImportClient{SourceID: c.ClientID, Settings: s, Active: boolOr(c.Enabled, true)}
}

// grants maps AllowedGrantTypes to grant and response types, in the
// canonical order, so that importing the same client twice gives equal
// settings.
func (c isClient) grants(field func(string) string, p *domain.Problems) (grants, responses []string) {
	has := map[string]bool{}
	rts := map[string]bool{}
	browser := boolOr(c.AllowAccessTokensViaBrowser, false)
	for j, g := range c.AllowedGrantTypes {
		switch strings.TrimSpace(g) {
		case "authorization_code":
			has[client.GrantAuthorizationCode] = true
			rts[client.ResponseCode] = true
		case "implicit":
			has[client.GrantImplicit] = true
			rts[client.ResponseIDToken] = true
			if browser {
				rts[client.ResponseIDTokenToken] = true
			}
		case "hybrid":
			has[client.GrantAuthorizationCode], has[client.GrantImplicit] = true, true
			rts[client.ResponseCodeIDToken] = true
		case "client_credentials":
			has[client.GrantClientCredentials] = true
		case "refresh_token":
			has[client.GrantRefreshToken] = true
		case "password":
			p.Add(fmt.Sprintf("%s[%d]", field("AllowedGrantTypes"), j), "not_allowed", "the resource owner password grant is not supported (the OAuth 2.0 Security BCP forbids it)")
		default:
			p.Add(fmt.Sprintf("%s[%d]", field("AllowedGrantTypes"), j), "not_allowed", "grant type %q is not supported", g)
		}
	}
	if boolOr(c.AllowOfflineAccess, false) && has[client.GrantAuthorizationCode] {
		has[client.GrantRefreshToken] = true
	}
	for _, g := range []string{client.GrantAuthorizationCode, client.GrantImplicit, client.GrantRefreshToken, client.GrantClientCredentials} {
		if has[g] {
			grants = append(grants, g)
		}
	}
	for _, r := range []string{client.ResponseCode, client.ResponseIDToken, client.ResponseIDTokenToken, client.ResponseCodeIDToken} {
		if rts[r] {
			responses = append(responses, r)
		}
	}
	return grants, responses
}

// isCode derives a client code from an IdentityServer ClientId.
func isCode(tenant, clientID string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(clientID)) {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.TrimLeft(b.String(), "._-")
	if len(name) > 128 {
		name = name[:128]
	}
	return "urn:" + tenant + "/" + name
}

// isEnum reads an IdentityServer enum given as its number or its name
// (case-insensitive); absent or null gives def.
func isEnum(raw json.RawMessage, field string, p *domain.Problems, def string, values map[string]string) string {
	v := strings.TrimSpace(string(raw))
	if v == "" || v == "null" {
		return def
	}
	if s, err := strconv.Unquote(v); err == nil {
		v = s
	}
	if out, ok := values[strings.ToLower(strings.TrimSpace(v))]; ok {
		return out
	}
	p.Add(field, "invalid_value", "not a known value")
	return def
}

// claimsPrefix reads ClientClaimsPrefix: absent is IdentityServer's
// default "client_", null no prefix at all.
func claimsPrefix(raw json.RawMessage, field string, p *domain.Problems) string {
	v := strings.TrimSpace(string(raw))
	switch v {
	case "":
		return client.DefaultClientClaimsPrefix
	case "null":
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		p.Add(field, "invalid_value", "must be a string")
		return ""
	}
	return s
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}
