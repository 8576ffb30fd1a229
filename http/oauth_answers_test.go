package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v3"

	"github.com/clavisiam/clavis/domain/client"
)

// The OAuth endpoints' answers, typed, so that a test compares what it
// got with what it wants in one cmp.Diff that names the field that
// differs. Decode them with decodeAs.

// tokenAnswer is a token endpoint's success (RFC 6749 §5.1, OpenID
// Connect Core §3.1.3.3).
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// oauthError is an OAuth error answer (RFC 6749 §5.2, RFC 6750 §3).
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// introspection is an introspection answer (RFC 7662 §2.2) with the
// members Clavis adds.
type introspection struct {
	Active      bool     `json:"active"`
	Scope       string   `json:"scope"`
	ClientID    string   `json:"client_id"`
	TokenType   string   `json:"token_type"`
	Sub         string   `json:"sub"`
	Aud         []string `json:"aud"`
	Iss         string   `json:"iss"`
	Exp         int64    `json:"exp"`
	Iat         int64    `json:"iat"`
	JTI         string   `json:"jti"`
	Permissions []string `json:"permissions"`
}

// redirectAnswer is the login application API's answer to accept and
// reject: where the login application sends the browser.
type redirectAnswer struct {
	RedirectTo string `json:"redirect_to"`
}

// stringList is a claim that is one string or an array of them, as a
// JWT's aud (RFC 7519 §4.1.3) or a client claim given twice, decoded as
// a list either way.
type stringList []string

// UnmarshalJSON takes a string or an array of strings.
func (a *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// accessClaims are the claims of a JWT access token (RFC 9068) with the
// members Clavis adds. A test that checks a client's own claims embeds it
// in a struct of its own.
type accessClaims struct {
	Iss         string     `json:"iss"`
	Sub         string     `json:"sub"`
	Aud         stringList `json:"aud"`
	ClientID    string     `json:"client_id"`
	Scope       string     `json:"scope"`
	JTI         string     `json:"jti"`
	Iat         int64      `json:"iat"`
	Exp         int64      `json:"exp"`
	Permissions []string   `json:"permissions"`
}

// lifetime is how long the token lives, from its iat to its exp.
func (c accessClaims) lifetime() int64 { return c.Exp - c.Iat }

// idClaims are the claims of an ID token (OpenID Connect Core §2). The
// members an ID token must not carry are pointers, nil when absent.
type idClaims struct {
	Iss      string     `json:"iss"`
	Sub      string     `json:"sub"`
	Aud      stringList `json:"aud"`
	Exp      int64      `json:"exp"`
	Nonce    string     `json:"nonce"`
	AtHash   string     `json:"at_hash"`
	Azp      string     `json:"azp"`
	JTI      string     `json:"jti"`
	Sid      *string    `json:"sid"`
	Acr      *string    `json:"acr"`
	Amr      []string   `json:"amr"`
	ClientID *string    `json:"client_id"`
	Scope    *string    `json:"scope"`
}

// verifyAs checks a token with go-oidc against the tenant's JWKS and
// decodes its claims into a T; it returns the JWS header too.
func verifyAs[T any](t *testing.T, h *adminHarness, tenant, token string) (T, jose.Header) {
	t.Helper()
	var claims T
	keys := oidc.NewRemoteKeySet(t.Context(), h.url+"/t/"+tenant+"/jwks.json")
	v := oidc.NewVerifier(testIssuer+tenant, keys, &oidc.Config{SkipClientIDCheck: true,
		SupportedSigningAlgs: []string{oidc.ES256, oidc.RS256, oidc.EdDSA}})
	idt, err := v.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("verify the token against %s's JWKS: %v", tenant, err)
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatalf("the token's claims are not a %T: %v", claims, err)
	}
	jws, err := jose.ParseSigned(token)
	if err != nil {
		t.Fatal(err)
	}
	return claims, jws.Signatures[0].Header
}

// serverMetadata is an authorization server's metadata (RFC 8414 §2,
// OpenID Connect Discovery §3), the members the tests read.
type serverMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	AccessTokenSigningAlgValuesSupported       []string `json:"access_token_signing_alg_values_supported"`
	ScopesSupported                            []string `json:"scopes_supported"`
	// Members a server that does not serve them leaves out or sets to
	// false: raw, to tell the two from null.
	FrontchannelLogoutSupported           json.RawMessage `json:"frontchannel_logout_supported"`
	BackchannelLogoutSupported            json.RawMessage `json:"backchannel_logout_supported"`
	TLSClientCertificateBoundAccessTokens json.RawMessage `json:"tls_client_certificate_bound_access_tokens"`
}

// offered reports whether a metadata member says a feature is served:
// it is there and not false.
func offered(member json.RawMessage) bool { return member != nil && string(member) != "false" }

// registration is a dynamic client registration's answer (RFC 7591 §3.2.1,
// RFC 7592 §3): the client's metadata and what manages it. The members
// shown only at times are pointers, nil when absent.
type registration struct {
	ClientID                string         `json:"client_id"`
	ClientSecret            *string        `json:"client_secret"`
	RegistrationAccessToken *string        `json:"registration_access_token"`
	RegistrationClientURI   string         `json:"registration_client_uri"`
	ClientIDIssuedAt        *int64         `json:"client_id_issued_at"`
	Type                    string         `json:"type"`
	Code                    string         `json:"code"`
	ClientName              string         `json:"client_name"`
	Scope                   *string        `json:"scope"`
	JWKSURI                 string         `json:"jwks_uri"`
	FirstParty              *bool          `json:"first_party"`
	ClientClaims            []client.Claim `json:"client_claims"`
}
