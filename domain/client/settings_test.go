package client_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/client"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	in := client.Settings{
		ClientName:             "  Orders  ",
		Description:            " d ",
		Code:                   " urn:acme/orders ",
		Type:                   " Confidential ",
		RedirectURIs:           []string{" HTTPS://App.Example.COM/Cb?Q=A ", "Com.Example.App:/CB", "http://User@LOCALHOST:8080/X", "not a uri"},
		PostLogoutRedirectURIs: []string{},
		AllowedCORSOrigins: []string{
			"HTTPS://App.Example.com:443/", "http://a.example.com:80", "http://a.example.com:8080",
			"https://[::1]:443", "https://a.example.com:0443", "*",
		},
		GrantTypes:       []string{" authorization_code ", "implicit"},
		ResponseTypes:    []string{" id_token  code ", "token id_token", "code token id_token", "foo code"},
		DefaultScopes:    []string{" openid "},
		ScopePermissions: map[string][]string{"openid": {" READ ", "Create"}},
		APIScopes:        []string{" read "},
		ClientClaims:     []client.Claim{{Type: " dau ", Value: " v "}},
		LogoURI:          " HTTPS://CDN.example.com/Logo.png ",
		JWKSURI:          "HTTPS://Example.com/JWKS",
		JWKS:             json.RawMessage("  {\"keys\" : [ {\"kty\":\"EC\", \"x\":\"<\"} ] }  "),
		Metadata:         map[string]string{},
		ConsentLifetime:  0,
	}
	n := in.Normalize()
	want := client.Settings{
		ClientName:                   "Orders",
		Description:                  "d",
		Code:                         "urn:acme/orders",
		Type:                         client.TypeConfidential,
		RedirectURIs:                 []string{"https://app.example.com/Cb?Q=A", "com.example.app:/CB", "http://User@localhost:8080/X", "not a uri"},
		AllowedCORSOrigins:           []string{"https://app.example.com", "http://a.example.com", "http://a.example.com:8080", "https://[::1]", "https://a.example.com", "*"},
		GrantTypes:                   []string{"authorization_code", "implicit"},
		ResponseTypes:                []string{"code id_token", "id_token token", "code id_token token", "foo code"},
		TokenEndpointAuthMethod:      client.AuthClientSecretBasic,
		DefaultScopes:                []string{"openid"},
		ScopePermissions:             map[string][]string{"openid": {"read", "create"}},
		APIScopes:                    []string{"read"},
		AccessTokenLifetime:          3600,
		IDTokenLifetime:              300,
		AuthorizationCodeLifetime:    300,
		RefreshTokenAbsoluteLifetime: 2592000,
		RefreshTokenSlidingLifetime:  1296000,
		RefreshTokenUsage:            client.RefreshOneTime,
		RefreshTokenExpiration:       client.RefreshAbsolute,
		AccessTokenType:              client.AccessTokenJWT,
		ClientClaims:                 []client.Claim{{Type: "dau", Value: " v "}},
		LogoURI:                      "https://cdn.example.com/Logo.png",
		JWKSURI:                      "https://example.com/JWKS",
		JWKS:                         json.RawMessage(`{"keys":[{"kty":"EC","x":"\u003c"}]}`),
	}
	if !reflect.DeepEqual(n, want) {
		gotJSON, _ := json.MarshalIndent(n, "", " ")
		wantJSON, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("Normalize() =\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	if in.ClientName != "  Orders  " || in.RedirectURIs[0] != " HTTPS://App.Example.COM/Cb?Q=A " || in.ScopePermissions["openid"][0] != " READ " {
		t.Error("Normalize changed its receiver")
	}
	if again := n.Normalize(); !reflect.DeepEqual(again, n) {
		t.Error("Normalize is not idempotent")
	}
}

func TestNormalizeDefaultsAuthMethodByType(t *testing.T) {
	t.Parallel()
	for typ, want := range map[client.Type]client.AuthMethod{
		client.TypePublic: client.AuthNone, client.TypeConfidential: client.AuthClientSecretBasic,
		client.TypeM2M: client.AuthClientSecretBasic, "other": "",
	} {
		if got := (client.Settings{Type: typ}).Normalize().TokenEndpointAuthMethod; got != want {
			t.Errorf("%s: auth method %q, want %q", typ, got, want)
		}
	}
	s := client.Settings{Type: client.TypePublic, TokenEndpointAuthMethod: client.AuthPrivateKeyJWT}
	if got := s.Normalize().TokenEndpointAuthMethod; got != client.AuthPrivateKeyJWT {
		t.Errorf("an explicit method was replaced by %q", got)
	}
}

func TestNormalizeKeepsExplicitValues(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.AccessTokenLifetime = 120
	s.ClientClaimsPrefix = ""
	s.JWKS = json.RawMessage("null")
	n := s.Normalize()
	if n.AccessTokenLifetime != 120 || n.ClientClaimsPrefix != "" || n.JWKS != nil {
		t.Errorf("Normalize() = lifetime %d prefix %q jwks %q", n.AccessTokenLifetime, n.ClientClaimsPrefix, n.JWKS)
	}
}

func TestNormalizeCopiesDeeply(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.Metadata = map[string]string{"team": "a"}
	s.ScopePermissions = map[string][]string{"openid": {"read"}}
	s.JWKSURI = ""
	s.JWKS = json.RawMessage(testJWKS)
	n := s.Normalize()
	n.RedirectURIs[0] = "x"
	n.Metadata["team"] = "b"
	n.ScopePermissions["openid"][0] = "delete"
	n.JWKS[0] = '['
	if s.RedirectURIs[0] == "x" || s.Metadata["team"] == "b" || s.ScopePermissions["openid"][0] == "delete" || s.JWKS[0] == '[' {
		t.Error("Normalize result aliases its receiver")
	}
}

func TestSettingsJSONNames(t *testing.T) {
	t.Parallel()
	data, err := json.Marshal(settingsFor(client.TypeConfidential).Normalize())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"client_name", "description", "code", "type", "redirect_uris", "post_logout_redirect_uris",
		"allowed_cors_origins", "grant_types", "response_types", "token_endpoint_auth_method",
		"tls_client_auth_subject_dn", "default_scopes", "optional_scopes", "scope_permissions", "api_scopes",
		"access_token_lifetime", "id_token_lifetime", "authorization_code_lifetime",
		"refresh_token_absolute_lifetime", "refresh_token_sliding_lifetime", "consent_lifetime",
		"refresh_token_usage", "refresh_token_expiration", "access_token_type", "require_pkce",
		"allow_plain_pkce", "consent_required", "first_party", "client_claims", "client_claims_prefix",
		"always_send_client_claims", "identity_provider_restrictions", "logo_uri", "policy_uri", "tos_uri",
		"client_uri", "metadata", "properties", "jwks_uri", "fapi", "frontchannel_logout_uri",
		"frontchannel_logout_session_required", "backchannel_logout_uri", "backchannel_logout_session_required",
		"pairwise_subject_salt", "allow_offline_access", "update_access_token_claims_on_refresh",
		"include_jwt_id", "allow_remember_consent", "enable_local_login",
		"always_include_user_claims_in_id_token", "allow_access_tokens_via_browser",
	} {
		if _, ok := m[name]; !ok {
			t.Errorf("Settings JSON lacks %q", name)
		}
		delete(m, name)
	}
	if len(m) != 0 {
		t.Errorf("unexpected JSON members: %v", slices.Collect(maps.Keys(m)))
	}
}

func TestEnumHelpers(t *testing.T) {
	t.Parallel()
	for _, typ := range []client.Type{client.TypePublic, client.TypeConfidential, client.TypeM2M} {
		if !typ.Valid() {
			t.Errorf("%s not valid", typ)
		}
	}
	if client.Type("Public").Valid() {
		t.Error("Type is case-sensitive")
	}
	secretBased := []client.AuthMethod{client.AuthClientSecretBasic, client.AuthClientSecretPost, client.AuthClientSecretJWT}
	keyBased := []client.AuthMethod{client.AuthPrivateKeyJWT, client.AuthSelfSignedTLSClientAuth}
	for _, m := range []client.AuthMethod{
		client.AuthNone, client.AuthClientSecretBasic, client.AuthClientSecretPost, client.AuthClientSecretJWT,
		client.AuthPrivateKeyJWT, client.AuthTLSClientAuth, client.AuthSelfSignedTLSClientAuth,
	} {
		if !m.Valid() {
			t.Errorf("%s not valid", m)
		}
		if m.UsesSecret() != slices.Contains(secretBased, m) || m.UsesKeys() != slices.Contains(keyBased, m) {
			t.Errorf("%s misclassified", m)
		}
	}
	if client.AuthMethod(strings.ToUpper("none")).Valid() {
		t.Error("AuthMethod is case-sensitive")
	}
}
