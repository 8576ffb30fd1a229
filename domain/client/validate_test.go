package client_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
)

func TestPresetsAreValid(t *testing.T) {
	t.Parallel()
	for _, typ := range []client.Type{client.TypePublic, client.TypeConfidential, client.TypeM2M} {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			s := settingsFor(typ)
			if err := s.Normalize().Validate(cat); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if err := s.Validate(cat); err != nil {
				t.Fatalf("preset is not in normal form: %v", err)
			}
		})
	}
	if err := fapiSettings().Normalize().Validate(cat); err != nil {
		t.Fatalf("FAPI: %v", err)
	}
}

func TestDefaultSettings(t *testing.T) {
	t.Parallel()
	pub := client.DefaultSettings(client.TypePublic)
	if pub.TokenEndpointAuthMethod != client.AuthNone || !pub.RequirePKCE ||
		fmt.Sprint(pub.GrantTypes) != "[authorization_code refresh_token]" || fmt.Sprint(pub.ResponseTypes) != "[code]" {
		t.Errorf("public preset = %+v", pub)
	}
	conf := client.DefaultSettings(client.TypeConfidential)
	if conf.TokenEndpointAuthMethod != client.AuthClientSecretBasic ||
		fmt.Sprint(conf.GrantTypes) != "[authorization_code refresh_token]" || fmt.Sprint(conf.ResponseTypes) != "[code]" {
		t.Errorf("confidential preset = %+v", conf)
	}
	m2m := client.DefaultSettings(client.TypeM2M)
	if m2m.TokenEndpointAuthMethod != client.AuthClientSecretBasic ||
		fmt.Sprint(m2m.GrantTypes) != "[client_credentials]" || m2m.ResponseTypes != nil {
		t.Errorf("m2m preset = %+v", m2m)
	}
	for _, s := range []client.Settings{pub, conf, m2m} {
		if s.AccessTokenLifetime != 3600 || s.IDTokenLifetime != 300 || s.AuthorizationCodeLifetime != 300 ||
			s.RefreshTokenAbsoluteLifetime != 2592000 || s.RefreshTokenSlidingLifetime != 1296000 || s.ConsentLifetime != 0 ||
			s.RefreshTokenUsage != client.RefreshOneTime || s.RefreshTokenExpiration != client.RefreshAbsolute ||
			s.AccessTokenType != client.AccessTokenJWT || s.ClientClaimsPrefix != "client_" {
			t.Errorf("preset %s defaults = %+v", s.Type, s)
		}
	}
}

// rule is one validation case: a change to valid settings of a type and
// the field path and code it must produce.
type rule struct {
	name   string
	typ    client.Type // "" means confidential
	fapi   bool
	change func(s *client.Settings)
	field  string
	code   string
}

func runRules(t *testing.T, rules []rule) {
	t.Helper()
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			typ := r.typ
			if typ == "" {
				typ = client.TypeConfidential
			}
			s := settingsFor(typ)
			if r.fapi {
				s = fapiSettings()
			}
			r.change(&s)
			wantProblem(t, s.Normalize().Validate(cat), r.field, r.code)
		})
	}
}

func repeat(n int, f func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func TestValidateText(t *testing.T) {
	t.Parallel()
	runRules(t, []rule{
		{name: "name required", change: func(s *client.Settings) { s.ClientName = "  " }, field: "client_name", code: "required"},
		{name: "name control", change: func(s *client.Settings) { s.ClientName = "a\x1bb" }, field: "client_name", code: "invalid_value"},
		{name: "name newline", change: func(s *client.Settings) { s.ClientName = "a\nb" }, field: "client_name", code: "invalid_value"},
		{name: "name invalid UTF-8", change: func(s *client.Settings) { s.ClientName = "a\xffb" }, field: "client_name", code: "invalid_value"},
		{name: "name too long", change: func(s *client.Settings) { s.ClientName = strings.Repeat("é", 201) }, field: "client_name", code: "too_long"},
		{name: "description too long", change: func(s *client.Settings) { s.Description = strings.Repeat("x", 1001) }, field: "description", code: "too_long"},
		{name: "description control", change: func(s *client.Settings) { s.Description = "a\x00" }, field: "description", code: "invalid_value"},
		{name: "code required", change: func(s *client.Settings) { s.Code = "" }, field: "code", code: "required"},
		{name: "code without urn", change: func(s *client.Settings) { s.Code = "acme/orders" }, field: "code", code: "invalid_value"},
		{name: "code uppercase", change: func(s *client.Settings) { s.Code = "urn:Acme/orders" }, field: "code", code: "invalid_value"},
		{name: "code extra colon", change: func(s *client.Settings) { s.Code = "urn:acme/orders:x" }, field: "code", code: "invalid_value"},
		{name: "code leading hyphen", change: func(s *client.Settings) { s.Code = "urn:-acme/orders" }, field: "code", code: "invalid_value"},
		{name: "code empty name", change: func(s *client.Settings) { s.Code = "urn:acme/" }, field: "code", code: "invalid_value"},
		{name: "code vendor too long", change: func(s *client.Settings) { s.Code = "urn:" + strings.Repeat("a", 64) + "/x" }, field: "code", code: "invalid_value"},
		{name: "code name too long", change: func(s *client.Settings) { s.Code = "urn:a/" + strings.Repeat("a", 129) }, field: "code", code: "invalid_value"},
		{name: "type required", change: func(s *client.Settings) { s.Type = "" }, field: "type", code: "required"},
		{name: "type unknown", change: func(s *client.Settings) { s.Type = "spa" }, field: "type", code: "invalid_value"},
		{name: "subject DN control", change: func(s *client.Settings) { s.TLSClientAuthSubjectDN = "CN=a\x00" }, field: "tls_client_auth_subject_dn", code: "invalid_value"},
		{name: "subject DN too long", change: func(s *client.Settings) { s.TLSClientAuthSubjectDN = strings.Repeat("a", 1001) }, field: "tls_client_auth_subject_dn", code: "too_long"},
		{name: "pairwise salt too long", change: func(s *client.Settings) { s.PairwiseSubjectSalt = strings.Repeat("a", 201) }, field: "pairwise_subject_salt", code: "too_long"},
	})
}

func TestValidCode(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"urn:acme/orders":               true,
		"urn:acme-corp/orders.v2_api-x": true,
		"urn:0/0":                       true,
		"urn:" + strings.Repeat("a", 63) + "/" + strings.Repeat("b", 128): true,
		"urn:acme/.orders":   false,
		"urn:acme/Orders":    false,
		"URN:acme/orders":    false,
		"urn:acme":           false,
		"urn:acme/orders/v2": false,
		" urn:acme/orders":   false,
	} {
		if got := client.ValidCode(code); got != want {
			t.Errorf("ValidCode(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestValidateRedirectURIs(t *testing.T) {
	t.Parallel()
	set := func(uris ...string) func(s *client.Settings) {
		return func(s *client.Settings) { s.RedirectURIs = uris }
	}
	runRules(t, []rule{
		{name: "empty", change: set(""), field: "redirect_uris[0]", code: "required"},
		{name: "relative", change: set("/cb"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "no scheme", change: set("app.example.com/cb"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "unparseable", change: set("https://app.example.com:port/cb"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "fragment", change: set("https://app.example.com/cb#x"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "empty fragment", change: set("https://app.example.com/cb#"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "userinfo", change: set("https://user:pw@app.example.com/cb"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "no host", change: set("https:///cb"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "opaque https", change: set("https:cb"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "inner space", change: set("https://app.example.com/a b"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "backslash", change: set(`https://app.example.com\@evil.com/`), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "non-ASCII", change: set("https://app.example.com/é"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "wildcard host", change: set("https://*.example.com/cb"), field: "redirect_uris[0]", code: "not_allowed"},
		{name: "wildcard query", change: set("https://app.example.com/cb?x=*"), field: "redirect_uris[0]", code: "not_allowed"},
		{name: "http public host", change: set("http://app.example.com/cb"), field: "redirect_uris[0]", code: "not_allowed"},
		{name: "http localhost lookalike", change: set("http://localhost.evil.com/cb"), field: "redirect_uris[0]", code: "not_allowed"},
		{name: "http private address", change: set("http://10.0.0.1/cb"), field: "redirect_uris[0]", code: "not_allowed"},
		{name: "javascript", change: set("javascript:alert(1)"), field: "redirect_uris[0]", code: "not_allowed"},
		{name: "data", change: set("data:text/html,hi"), field: "redirect_uris[0]", code: "not_allowed"},
		{name: "file", change: set("file:///etc/passwd"), field: "redirect_uris[0]", code: "not_allowed"},
		{name: "vbscript", change: set("vbscript:msgbox"), field: "redirect_uris[0]", code: "not_allowed"},
		{name: "custom scheme without dot", change: set("myapp:/cb"), field: "redirect_uris[0]", code: "not_allowed"},
		{name: "custom scheme without path", change: set("com.example.app:"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "custom scheme fragment", change: set("com.example.app:/cb#x"), field: "redirect_uris[0]", code: "invalid_uri"},
		{name: "too long", change: set("https://app.example.com/" + strings.Repeat("a", 2000)), field: "redirect_uris[0]", code: "too_long"},
		{name: "duplicate", change: set("https://app.example.com/cb", "https://app.example.com/cb"), field: "redirect_uris[1]", code: "duplicate"},
		{name: "duplicate after normalising", change: set("https://app.example.com/cb", "HTTPS://APP.example.com/cb"), field: "redirect_uris[1]", code: "duplicate"},
		{name: "too many", change: set(repeat(101, func(i int) string { return fmt.Sprintf("https://app.example.com/%d", i) })...), field: "redirect_uris", code: "too_many"},
		{name: "post logout http", change: func(s *client.Settings) { s.PostLogoutRedirectURIs = []string{"http://app.example.com/"} }, field: "post_logout_redirect_uris[0]", code: "not_allowed"},
		{name: "post logout fragment", change: func(s *client.Settings) { s.PostLogoutRedirectURIs = []string{"https://app.example.com/#x"} }, field: "post_logout_redirect_uris[0]", code: "invalid_uri"},
		{name: "post logout duplicate", change: func(s *client.Settings) {
			s.PostLogoutRedirectURIs = []string{"https://app.example.com/", "https://app.example.com/"}
		}, field: "post_logout_redirect_uris[1]", code: "duplicate"},
		{name: "post logout too many", change: func(s *client.Settings) {
			s.PostLogoutRedirectURIs = repeat(101, func(i int) string { return fmt.Sprintf("https://app.example.com/%d", i) })
		}, field: "post_logout_redirect_uris", code: "too_many"},
	})
}

func TestValidateAcceptsRedirectURIs(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{
		"https://app.example.com/cb",
		"https://app.example.com:8443/cb?tenant=acme",
		"http://localhost/cb",
		"http://localhost:8080/cb",
		"http://127.0.0.1:51004/cb",
		"http://127.9.9.9/cb",
		"http://[::1]:8080/cb",
		"com.example.app:/oauth2redirect",
		"com.example.app://callback",
		"com.example.app:callback",
	} {
		t.Run(uri, func(t *testing.T) {
			t.Parallel()
			s := settingsFor(client.TypePublic)
			s.RedirectURIs = []string{uri}
			s.PostLogoutRedirectURIs = []string{uri}
			if err := s.Normalize().Validate(cat); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestValidateCORSOrigins(t *testing.T) {
	t.Parallel()
	set := func(origins ...string) func(s *client.Settings) {
		return func(s *client.Settings) { s.AllowedCORSOrigins = origins }
	}
	runRules(t, []rule{
		{name: "empty", change: set(""), field: "allowed_cors_origins[0]", code: "required"},
		{name: "star", change: set("*"), field: "allowed_cors_origins[0]", code: "not_allowed"},
		{name: "wildcard host", change: set("https://*.example.com"), field: "allowed_cors_origins[0]", code: "not_allowed"},
		{name: "path", change: set("https://app.example.com/app"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "double slash", change: set("https://app.example.com//"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "query", change: set("https://app.example.com?x=1"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "empty query", change: set("https://app.example.com?"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "fragment", change: set("https://app.example.com#x"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "userinfo", change: set("https://user@app.example.com"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "no scheme", change: set("app.example.com"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "ftp", change: set("ftp://app.example.com"), field: "allowed_cors_origins[0]", code: "not_allowed"},
		{name: "null", change: set("null"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "bad port", change: set("https://app.example.com:99999"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "zero port", change: set("https://app.example.com:0"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "no host", change: set("https://"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "space", change: set("https://app example.com"), field: "allowed_cors_origins[0]", code: "invalid_uri"},
		{name: "too long", change: set("https://" + strings.Repeat("a", 2000) + ".com"), field: "allowed_cors_origins[0]", code: "too_long"},
		{name: "duplicate after normalising", change: set("https://app.example.com", "HTTPS://App.Example.com:443/"), field: "allowed_cors_origins[1]", code: "duplicate"},
		{name: "too many", change: set(repeat(101, func(i int) string { return fmt.Sprintf("https://a%d.example.com", i) })...), field: "allowed_cors_origins", code: "too_many"},
	})
}

func TestValidateGrantAndResponseValues(t *testing.T) {
	t.Parallel()
	runRules(t, []rule{
		{name: "unknown grant", change: func(s *client.Settings) { s.GrantTypes = append(s.GrantTypes, "password") }, field: "grant_types[2]", code: "invalid_value"},
		{name: "duplicate grant", change: func(s *client.Settings) { s.GrantTypes = append(s.GrantTypes, "refresh_token") }, field: "grant_types[2]", code: "duplicate"},
		{name: "unknown response type", change: func(s *client.Settings) { s.ResponseTypes = []string{"code", "code foo"} }, field: "response_types[1]", code: "invalid_value"},
		{name: "repeated part", change: func(s *client.Settings) { s.ResponseTypes = []string{"code code"} }, field: "response_types[0]", code: "invalid_value"},
		{name: "none response type", change: func(s *client.Settings) { s.ResponseTypes = []string{"none"} }, field: "response_types[0]", code: "invalid_value"},
		{name: "duplicate response type after normalising", change: func(s *client.Settings) {
			s.GrantTypes = []string{"authorization_code", "implicit"}
			s.ResponseTypes = []string{"code id_token", "id_token code"}
		}, field: "response_types[1]", code: "duplicate"},
		{name: "unknown auth method", change: func(s *client.Settings) { s.TokenEndpointAuthMethod = "magic" }, field: "token_endpoint_auth_method", code: "invalid_value"},
	})
}

func TestValidateTypeRules(t *testing.T) {
	t.Parallel()
	runRules(t, []rule{
		{name: "public with secret auth", typ: client.TypePublic, change: func(s *client.Settings) { s.TokenEndpointAuthMethod = client.AuthClientSecretBasic }, field: "token_endpoint_auth_method", code: "not_allowed"},
		{name: "public with private_key_jwt", typ: client.TypePublic, change: func(s *client.Settings) {
			s.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			s.JWKS = json.RawMessage(testJWKS)
		}, field: "token_endpoint_auth_method", code: "not_allowed"},
		{name: "public without PKCE", typ: client.TypePublic, change: func(s *client.Settings) { s.RequirePKCE = false }, field: "require_pkce", code: "required"},
		{name: "public plain PKCE", typ: client.TypePublic, change: func(s *client.Settings) { s.AllowPlainPKCE = true }, field: "allow_plain_pkce", code: "not_allowed"},
		{name: "public client credentials", typ: client.TypePublic, change: func(s *client.Settings) { s.GrantTypes = append(s.GrantTypes, "client_credentials") }, field: "grant_types[2]", code: "not_allowed"},
		{name: "m2m authorization code", typ: client.TypeM2M, change: func(s *client.Settings) { s.GrantTypes = append(s.GrantTypes, "authorization_code") }, field: "grant_types[1]", code: "not_allowed"},
		{name: "m2m refresh token", typ: client.TypeM2M, change: func(s *client.Settings) { s.GrantTypes = append(s.GrantTypes, "refresh_token") }, field: "grant_types[1]", code: "not_allowed"},
		{name: "m2m without client credentials", typ: client.TypeM2M, change: func(s *client.Settings) { s.GrantTypes = nil }, field: "grant_types", code: "required"},
		{name: "m2m redirect URIs", typ: client.TypeM2M, change: func(s *client.Settings) { s.RedirectURIs = []string{"https://app.example.com/cb"} }, field: "redirect_uris", code: "not_allowed"},
		{name: "m2m post logout URIs", typ: client.TypeM2M, change: func(s *client.Settings) { s.PostLogoutRedirectURIs = []string{"https://app.example.com/"} }, field: "post_logout_redirect_uris", code: "not_allowed"},
		{name: "m2m response types", typ: client.TypeM2M, change: func(s *client.Settings) { s.ResponseTypes = []string{"code"} }, field: "response_types", code: "not_allowed"},
		{name: "m2m auth none", typ: client.TypeM2M, change: func(s *client.Settings) { s.TokenEndpointAuthMethod = client.AuthNone }, field: "token_endpoint_auth_method", code: "not_allowed"},
		{name: "confidential auth none", change: func(s *client.Settings) { s.TokenEndpointAuthMethod = client.AuthNone }, field: "token_endpoint_auth_method", code: "not_allowed"},
	})
}

func TestValidateAuthMethodRules(t *testing.T) {
	t.Parallel()
	runRules(t, []rule{
		{name: "private_key_jwt without keys", change: func(s *client.Settings) { s.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT }, field: "jwks", code: "required"},
	})
	s := settingsFor(client.TypeConfidential)
	s.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
	s.JWKSURI = "https://app.example.com/jwks.json"
	if err := s.Normalize().Validate(cat); err != nil {
		t.Errorf("private_key_jwt with jwks_uri: %v", err)
	}
}

// Settings that are stored but not acted on are refused by name, with
// whatever else they would need, so that no client is promised what is
// not done.
func TestValidateRefusesWhatIsNotServed(t *testing.T) {
	t.Parallel()
	runRules(t, []rule{
		{name: "tls_client_auth", typ: client.TypeM2M, change: func(s *client.Settings) {
			s.TokenEndpointAuthMethod = client.AuthTLSClientAuth
			s.TLSClientAuthSubjectDN = "CN=orders,O=Acme"
		}, field: "token_endpoint_auth_method", code: "not_supported"},
		{name: "tls_client_auth without subject", change: func(s *client.Settings) { s.TokenEndpointAuthMethod = client.AuthTLSClientAuth }, field: "token_endpoint_auth_method", code: "not_supported"},
		{name: "self_signed_tls_client_auth", change: func(s *client.Settings) {
			s.TokenEndpointAuthMethod = client.AuthSelfSignedTLSClientAuth
			s.JWKSURI = "https://app.example.com/jwks.json"
		}, field: "token_endpoint_auth_method", code: "not_supported"},
		{name: "FAPI with tls_client_auth", fapi: true, change: func(s *client.Settings) {
			s.TokenEndpointAuthMethod = client.AuthTLSClientAuth
			s.TLSClientAuthSubjectDN = "CN=orders"
		}, field: "token_endpoint_auth_method", code: "not_supported"},
		{name: "subject DN", change: func(s *client.Settings) { s.TLSClientAuthSubjectDN = "CN=orders" }, field: "tls_client_auth_subject_dn", code: "not_supported"},
		{name: "front-channel logout", change: func(s *client.Settings) { s.FrontchannelLogoutURI = "https://app.example.com/logout?x=1" }, field: "frontchannel_logout_uri", code: "not_supported"},
		{name: "back-channel logout", change: func(s *client.Settings) { s.BackchannelLogoutURI = "http://localhost:8080/logout" }, field: "backchannel_logout_uri", code: "not_supported"},
		{name: "identity provider restrictions", change: func(s *client.Settings) { s.IdentityProviderRestrictions = []string{"google"} }, field: "identity_provider_restrictions", code: "not_supported"},
	})
}

// A client that holds such a setting from before (its history says so)
// still replays, and can still be changed as long as the update does not
// set a new one.
func TestUnservedSettingsFromHistory(t *testing.T) {
	t.Parallel()
	old := settingsFor(client.TypeM2M).Normalize()
	old.TokenEndpointAuthMethod = client.AuthTLSClientAuth
	old.TLSClientAuthSubjectDN = "CN=orders"
	old.IdentityProviderRestrictions = []string{"google"}
	c, err := client.Replay([]domain.Event{client.ClientRegistered{ClientID: "c1", Settings: old, Active: true, At: nowUTC}})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if got := c.Settings(); got.TokenEndpointAuthMethod != client.AuthTLSClientAuth || len(got.IdentityProviderRestrictions) != 1 {
		t.Fatalf("replayed settings = %+v", got)
	}
	if _, err := c.Update(client.Patch{ClientName: ptr("Renamed")}, cat, now); err != nil {
		t.Errorf("renaming a client that holds an unserved setting: %v", err)
	}
	_, err = c.Update(client.Patch{IdentityProviderRestrictions: &[]string{"google", "github"}}, cat, now)
	wantProblem(t, err, "identity_provider_restrictions", "not_supported")
	_, err = c.Update(client.Patch{BackchannelLogoutURI: ptr("https://app.example.com/logout")}, cat, now)
	wantProblem(t, err, "backchannel_logout_uri", "not_supported")
}

func TestValidateFlowRules(t *testing.T) {
	t.Parallel()
	flows := func(grants []string, responses ...string) func(s *client.Settings) {
		return func(s *client.Settings) {
			s.GrantTypes = grants
			s.ResponseTypes = responses
			s.AllowAccessTokensViaBrowser = true
		}
	}
	implicitOnly := []string{"implicit"}
	codeOnly := []string{"authorization_code"}
	runRules(t, []rule{
		{name: "code needs authorization_code", change: flows(implicitOnly, "code"), field: "response_types[0]", code: "conflict"},
		{name: "id_token needs implicit", change: flows(codeOnly, "id_token"), field: "response_types[0]", code: "conflict"},
		{name: "token needs implicit", change: flows(codeOnly, "token"), field: "response_types[0]", code: "conflict"},
		{name: "id_token token needs implicit", change: flows(codeOnly, "id_token token"), field: "response_types[0]", code: "conflict"},
		{name: "code id_token needs implicit", change: flows(codeOnly, "code id_token"), field: "response_types[0]", code: "conflict"},
		{name: "code token needs authorization_code", change: flows(implicitOnly, "code token"), field: "response_types[0]", code: "conflict"},
		{name: "hybrid needs both", change: flows(codeOnly, "code", "code id_token token"), field: "response_types[1]", code: "conflict"},
		{name: "response types need a grant", change: flows([]string{"client_credentials"}, "code"), field: "response_types[0]", code: "conflict"},
		{name: "token needs browser flag", change: func(s *client.Settings) {
			s.GrantTypes = []string{"implicit"}
			s.ResponseTypes = []string{"id_token token"}
		}, field: "allow_access_tokens_via_browser", code: "required"},
		{name: "authorization code needs redirect", change: func(s *client.Settings) { s.RedirectURIs = nil }, field: "redirect_uris", code: "required"},
		{name: "implicit needs redirect", change: func(s *client.Settings) {
			flows(implicitOnly, "id_token")(s)
			s.RedirectURIs = nil
		}, field: "redirect_uris", code: "required"},
		{name: "authorization code needs response type", change: func(s *client.Settings) { s.ResponseTypes = nil }, field: "response_types", code: "required"},
		{name: "refresh token needs authorization code", change: func(s *client.Settings) {
			s.GrantTypes = []string{"client_credentials", "refresh_token"}
			s.ResponseTypes = nil
			s.RedirectURIs = nil
		}, field: "grant_types[1]", code: "conflict"},
		{name: "offline access needs refresh token", change: func(s *client.Settings) {
			s.GrantTypes = []string{"authorization_code"}
			s.AllowOfflineAccess = true
		}, field: "allow_offline_access", code: "conflict"},
	})
}

func TestValidateAcceptedFlows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		grants    []string
		responses []string
	}{
		{[]string{"authorization_code"}, []string{"code"}},
		{[]string{"authorization_code", "refresh_token"}, []string{"code"}},
		{[]string{"implicit"}, []string{"id_token"}},
		{[]string{"implicit"}, []string{"token"}},
		{[]string{"implicit"}, []string{"id_token token"}},
		{[]string{"authorization_code", "implicit"}, []string{"code id_token"}},
		{[]string{"authorization_code", "implicit"}, []string{"code token"}},
		{[]string{"authorization_code", "implicit"}, []string{"code id_token token"}},
		{[]string{"authorization_code", "implicit", "refresh_token", "client_credentials"}, []string{"code", "id_token", "code id_token"}},
		{[]string{"client_credentials"}, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.grants, tt.responses), func(t *testing.T) {
			t.Parallel()
			s := settingsFor(client.TypeConfidential)
			s.GrantTypes, s.ResponseTypes = tt.grants, tt.responses
			s.AllowAccessTokensViaBrowser = true
			if err := s.Normalize().Validate(cat); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestValidateFAPI(t *testing.T) {
	t.Parallel()
	runRules(t, []rule{
		{name: "public", fapi: true, change: func(s *client.Settings) { s.Type = client.TypePublic }, field: "type", code: "not_allowed"},
		{name: "secret auth", fapi: true, change: func(s *client.Settings) { s.TokenEndpointAuthMethod = client.AuthClientSecretBasic }, field: "token_endpoint_auth_method", code: "not_allowed"},
		{name: "client_secret_jwt", fapi: true, change: func(s *client.Settings) { s.TokenEndpointAuthMethod = client.AuthClientSecretJWT }, field: "token_endpoint_auth_method", code: "not_allowed"},
		{name: "no PKCE", fapi: true, change: func(s *client.Settings) { s.RequirePKCE = false }, field: "require_pkce", code: "required"},
		{name: "plain PKCE", fapi: true, change: func(s *client.Settings) { s.AllowPlainPKCE = true }, field: "allow_plain_pkce", code: "not_allowed"},
		{name: "hybrid response", fapi: true, change: func(s *client.Settings) {
			s.GrantTypes = []string{"authorization_code", "implicit"}
			s.ResponseTypes = []string{"code", "code id_token"}
		}, field: "response_types[1]", code: "not_allowed"},
		{name: "implicit", fapi: true, change: func(s *client.Settings) { s.GrantTypes = append(s.GrantTypes, "implicit") }, field: "grant_types[2]", code: "not_allowed"},
		{name: "loopback http redirect", fapi: true, change: func(s *client.Settings) { s.RedirectURIs = []string{"http://127.0.0.1/cb"} }, field: "redirect_uris[0]", code: "not_allowed"},
		{name: "custom scheme redirect", fapi: true, change: func(s *client.Settings) { s.RedirectURIs = []string{"com.example.app:/cb"} }, field: "redirect_uris[0]", code: "not_allowed"},
		{name: "http post logout", fapi: true, change: func(s *client.Settings) { s.PostLogoutRedirectURIs = []string{"http://localhost/"} }, field: "post_logout_redirect_uris[0]", code: "not_allowed"},
		{name: "http origin", fapi: true, change: func(s *client.Settings) { s.AllowedCORSOrigins = []string{"http://localhost:3000"} }, field: "allowed_cors_origins[0]", code: "not_allowed"},
	})
}

func TestValidateScopes(t *testing.T) {
	t.Parallel()
	runRules(t, []rule{
		{name: "invalid token", change: func(s *client.Settings) { s.DefaultScopes = []string{`a"b`} }, field: "default_scopes[0]", code: "invalid_value"},
		{name: "inner space", change: func(s *client.Settings) { s.OptionalScopes = []string{"openid profile"} }, field: "optional_scopes[0]", code: "invalid_value"},
		{name: "empty", change: func(s *client.Settings) { s.DefaultScopes = []string{""} }, field: "default_scopes[0]", code: "invalid_value"},
		{name: "unknown", change: func(s *client.Settings) { s.DefaultScopes = []string{"openid", "urn:acme/orders:delete"} }, field: "default_scopes[1]", code: "unknown_scope"},
		{name: "unknown optional", change: func(s *client.Settings) { s.OptionalScopes = []string{"orders"} }, field: "optional_scopes[0]", code: "unknown_scope"},
		{name: "duplicate default", change: func(s *client.Settings) { s.DefaultScopes = []string{"openid", "openid"} }, field: "default_scopes[1]", code: "duplicate"},
		{name: "default and optional", change: func(s *client.Settings) { s.OptionalScopes = []string{"openid"} }, field: "optional_scopes[0]", code: "duplicate"},
		{name: "too many", change: func(s *client.Settings) { s.DefaultScopes = repeat(101, func(int) string { return "openid" }) }, field: "default_scopes", code: "too_many"},
		{name: "permission for unassigned scope", change: func(s *client.Settings) {
			s.ScopePermissions = map[string][]string{"email": {"read"}}
		}, field: "scope_permissions.email", code: "unknown_scope"},
		{name: "unknown permission", change: func(s *client.Settings) {
			s.ScopePermissions = map[string][]string{"urn:acme/orders:read": {"read", "write"}}
		}, field: "scope_permissions.urn:acme/orders:read[1]", code: "invalid_value"},
		{name: "duplicate permission", change: func(s *client.Settings) {
			s.ScopePermissions = map[string][]string{"openid": {"read", " READ "}}
		}, field: "scope_permissions.openid[1]", code: "duplicate"},
		{name: "api scope with colon", change: func(s *client.Settings) { s.APIScopes = []string{"orders:read"} }, field: "api_scopes[0]", code: "invalid_value"},
		{name: "api scope wildcard", change: func(s *client.Settings) { s.APIScopes = []string{"*"} }, field: "api_scopes[0]", code: "invalid_value"},
		{name: "api scope empty", change: func(s *client.Settings) { s.APIScopes = []string{""} }, field: "api_scopes[0]", code: "invalid_value"},
		{name: "api scope too long", change: func(s *client.Settings) { s.APIScopes = []string{strings.Repeat("a", 65)} }, field: "api_scopes[0]", code: "invalid_value"},
		{name: "api scope duplicate", change: func(s *client.Settings) { s.APIScopes = []string{"read", "read"} }, field: "api_scopes[1]", code: "duplicate"},
		{name: "api scope too long with code", change: func(s *client.Settings) {
			s.Code = "urn:" + strings.Repeat("a", 63) + "/" + strings.Repeat("b", 128)
			s.APIScopes = []string{strings.Repeat("c", 10)}
		}, field: "api_scopes[0]", code: "too_long"},
		{name: "api scopes too many", change: func(s *client.Settings) {
			s.APIScopes = repeat(101, func(i int) string { return fmt.Sprint("s", i) })
		}, field: "api_scopes", code: "too_many"},
	})
}

func TestValidateOwnAPIScopesAreKnown(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.APIScopes = []string{"read", "Orders.Write"}
	s.DefaultScopes = []string{"openid", "urn:acme/orders-web:read", "urn:acme/orders-web:Orders.Write", "clavis:admin"}
	s.ScopePermissions = map[string][]string{"urn:acme/orders-web:read": {"read"}, "openid": {"create", "read", "update", "delete"}}
	if err := s.Normalize().Validate(cat); err != nil {
		t.Fatal(err)
	}
}

func TestValidateLifetimes(t *testing.T) {
	t.Parallel()
	set := func(f func(s *client.Settings)) func(s *client.Settings) { return f }
	runRules(t, []rule{
		{name: "access too short", change: set(func(s *client.Settings) { s.AccessTokenLifetime = 59 }), field: "access_token_lifetime", code: "out_of_range"},
		{name: "access too long", change: set(func(s *client.Settings) { s.AccessTokenLifetime = 86401 }), field: "access_token_lifetime", code: "out_of_range"},
		{name: "access negative", change: set(func(s *client.Settings) { s.AccessTokenLifetime = -1 }), field: "access_token_lifetime", code: "out_of_range"},
		{name: "id token too short", change: set(func(s *client.Settings) { s.IDTokenLifetime = 59 }), field: "id_token_lifetime", code: "out_of_range"},
		{name: "id token too long", change: set(func(s *client.Settings) { s.IDTokenLifetime = 86401 }), field: "id_token_lifetime", code: "out_of_range"},
		{name: "code too short", change: set(func(s *client.Settings) { s.AuthorizationCodeLifetime = 9 }), field: "authorization_code_lifetime", code: "out_of_range"},
		{name: "code too long", change: set(func(s *client.Settings) { s.AuthorizationCodeLifetime = 601 }), field: "authorization_code_lifetime", code: "out_of_range"},
		{name: "absolute too short", change: set(func(s *client.Settings) { s.RefreshTokenAbsoluteLifetime = 3599 }), field: "refresh_token_absolute_lifetime", code: "out_of_range"},
		{name: "absolute too long", change: set(func(s *client.Settings) { s.RefreshTokenAbsoluteLifetime = 31536001 }), field: "refresh_token_absolute_lifetime", code: "out_of_range"},
		{name: "sliding too short", change: set(func(s *client.Settings) { s.RefreshTokenSlidingLifetime = 59 }), field: "refresh_token_sliding_lifetime", code: "out_of_range"},
		{name: "sliding beyond absolute", change: set(func(s *client.Settings) {
			s.RefreshTokenAbsoluteLifetime = 3600
			s.RefreshTokenSlidingLifetime = 3601
		}), field: "refresh_token_sliding_lifetime", code: "out_of_range"},
		{name: "consent too short", change: set(func(s *client.Settings) { s.ConsentLifetime = 59 }), field: "consent_lifetime", code: "out_of_range"},
		{name: "consent too long", change: set(func(s *client.Settings) { s.ConsentLifetime = 31536001 }), field: "consent_lifetime", code: "out_of_range"},
		{name: "refresh usage", change: set(func(s *client.Settings) { s.RefreshTokenUsage = "twice" }), field: "refresh_token_usage", code: "invalid_value"},
		{name: "refresh expiration", change: set(func(s *client.Settings) { s.RefreshTokenExpiration = "never" }), field: "refresh_token_expiration", code: "invalid_value"},
		{name: "access token type", change: set(func(s *client.Settings) { s.AccessTokenType = "opaque" }), field: "access_token_type", code: "invalid_value"},
	})
	s := settingsFor(client.TypeConfidential)
	s.AccessTokenLifetime, s.IDTokenLifetime, s.AuthorizationCodeLifetime = 60, 86400, 10
	s.RefreshTokenAbsoluteLifetime, s.RefreshTokenSlidingLifetime, s.ConsentLifetime = 3600, 3600, 31536000
	if err := s.Normalize().Validate(cat); err != nil {
		t.Errorf("bounds: %v", err)
	}
}

func TestValidateConsent(t *testing.T) {
	t.Parallel()
	runRules(t, []rule{
		{name: "consent and first party", change: func(s *client.Settings) {
			s.ConsentRequired, s.FirstParty = true, true
		}, field: "first_party", code: "conflict"},
	})
}

func TestValidateClientClaims(t *testing.T) {
	t.Parallel()
	claims := func(prefix string, cs ...client.Claim) func(s *client.Settings) {
		return func(s *client.Settings) { s.ClientClaimsPrefix, s.ClientClaims = prefix, cs }
	}
	runRules(t, []rule{
		{name: "type required", change: claims("client_", client.Claim{Value: "x"}), field: "client_claims[0].type", code: "required"},
		{name: "type with space", change: claims("client_", client.Claim{Type: "a b", Value: "x"}), field: "client_claims[0].type", code: "invalid_value"},
		{name: "type too long", change: claims("client_", client.Claim{Type: strings.Repeat("a", 201), Value: "x"}), field: "client_claims[0].type", code: "too_long"},
		{name: "prefixed collides with client_id", change: claims("client_", client.Claim{Type: "id", Value: "x"}), field: "client_claims[0].type", code: "reserved"},
		{name: "unprefixed sub", change: claims("", client.Claim{Type: "sub", Value: "x"}), field: "client_claims[0].type", code: "reserved"},
		{name: "unprefixed iss", change: claims("", client.Claim{Type: "dau", Value: "x"}, client.Claim{Type: "iss", Value: "x"}), field: "client_claims[1].type", code: "reserved"},
		{name: "prefixed cnf", change: claims("c", client.Claim{Type: "nf", Value: "x"}), field: "client_claims[0].type", code: "reserved"},
		{name: "value required", change: claims("client_", client.Claim{Type: "dau"}), field: "client_claims[0].value", code: "required"},
		{name: "value too long", change: claims("client_", client.Claim{Type: "dau", Value: strings.Repeat("x", 2001)}), field: "client_claims[0].value", code: "too_long"},
		{name: "value control", change: claims("client_", client.Claim{Type: "dau", Value: "a\x00"}), field: "client_claims[0].value", code: "invalid_value"},
		{name: "duplicate", change: claims("client_", client.Claim{Type: "dau", Value: "x"}, client.Claim{Type: "dau", Value: "x"}), field: "client_claims[1]", code: "duplicate"},
		{name: "too many", change: func(s *client.Settings) {
			for i := range 51 {
				s.ClientClaims = append(s.ClientClaims, client.Claim{Type: "role", Value: fmt.Sprint(i)})
			}
		}, field: "client_claims", code: "too_many"},
		{name: "prefix inner space", change: claims("cli ent_"), field: "client_claims_prefix", code: "invalid_value"},
		{name: "prefix too long", change: claims(strings.Repeat("p", 33)), field: "client_claims_prefix", code: "invalid_value"},
	})
	s := settingsFor(client.TypeConfidential)
	s.ClientClaims = []client.Claim{{Type: "role", Value: "a"}, {Type: "role", Value: "b"}, {Type: "sub", Value: "ok with prefix"}}
	if err := s.Normalize().Validate(cat); err != nil {
		t.Errorf("multi-valued claims: %v", err)
	}
}

func TestValidateIdentityProviderRestrictions(t *testing.T) {
	t.Parallel()
	set := func(v ...string) func(s *client.Settings) {
		return func(s *client.Settings) { s.IdentityProviderRestrictions = v }
	}
	runRules(t, []rule{
		{name: "empty", change: set(" "), field: "identity_provider_restrictions[0]", code: "required"},
		{name: "space", change: set("google workspace"), field: "identity_provider_restrictions[0]", code: "invalid_value"},
		{name: "too long", change: set(strings.Repeat("g", 201)), field: "identity_provider_restrictions[0]", code: "too_long"},
		{name: "duplicate", change: set("google", "google"), field: "identity_provider_restrictions[1]", code: "duplicate"},
		{name: "too many", change: set(repeat(51, func(i int) string { return fmt.Sprint("idp", i) })...), field: "identity_provider_restrictions", code: "too_many"},
	})
}

func TestValidateInfoAndLogoutURIs(t *testing.T) {
	t.Parallel()
	runRules(t, []rule{
		{name: "logo javascript", change: func(s *client.Settings) { s.LogoURI = "javascript:alert(1)" }, field: "logo_uri", code: "not_allowed"},
		{name: "logo data", change: func(s *client.Settings) { s.LogoURI = "data:image/png;base64,AAAA" }, field: "logo_uri", code: "not_allowed"},
		{name: "policy relative", change: func(s *client.Settings) { s.PolicyURI = "/policy" }, field: "policy_uri", code: "invalid_uri"},
		{name: "tos ftp", change: func(s *client.Settings) { s.TOSURI = "ftp://example.com/tos" }, field: "tos_uri", code: "not_allowed"},
		{name: "client uri userinfo", change: func(s *client.Settings) { s.ClientURI = "https://u:p@example.com" }, field: "client_uri", code: "invalid_uri"},
		{name: "client uri too long", change: func(s *client.Settings) { s.ClientURI = "https://example.com/" + strings.Repeat("a", 2000) }, field: "client_uri", code: "too_long"},
		{name: "jwks_uri http", change: func(s *client.Settings) { s.JWKSURI = "http://localhost/jwks" }, field: "jwks_uri", code: "not_allowed"},
		{name: "jwks_uri fragment", change: func(s *client.Settings) { s.JWKSURI = "https://example.com/jwks#k" }, field: "jwks_uri", code: "invalid_uri"},
		{name: "frontchannel http", change: func(s *client.Settings) { s.FrontchannelLogoutURI = "http://app.example.com/logout" }, field: "frontchannel_logout_uri", code: "not_allowed"},
		{name: "frontchannel fragment", change: func(s *client.Settings) { s.FrontchannelLogoutURI = "https://app.example.com/logout#x" }, field: "frontchannel_logout_uri", code: "invalid_uri"},
		{name: "backchannel custom scheme", change: func(s *client.Settings) { s.BackchannelLogoutURI = "com.example.app:/logout" }, field: "backchannel_logout_uri", code: "not_allowed"},
		{name: "backchannel wildcard", change: func(s *client.Settings) { s.BackchannelLogoutURI = "https://*.example.com/logout" }, field: "backchannel_logout_uri", code: "not_allowed"},
	})
	s := settingsFor(client.TypeConfidential)
	s.LogoURI = "https://cdn.example.com/logo.png"
	s.PolicyURI = "http://example.com/policy"
	s.TOSURI = "https://example.com/legal#tos"
	s.ClientURI = "https://example.com"
	if err := s.Normalize().Validate(cat); err != nil {
		t.Error(err)
	}
}

func TestValidateMaps(t *testing.T) {
	t.Parallel()
	keys := func(n int) map[string]string {
		m := make(map[string]string)
		for i := range n {
			m[fmt.Sprint("k", i)] = "v"
		}
		return m
	}
	runRules(t, []rule{
		{name: "metadata too many", change: func(s *client.Settings) { s.Metadata = keys(11) }, field: "metadata", code: "too_many"},
		{name: "metadata key too long", change: func(s *client.Settings) {
			s.Metadata = map[string]string{strings.Repeat("k", 65): "v"}
		}, field: "metadata." + strings.Repeat("k", 65), code: "invalid_value"},
		{name: "metadata empty key", change: func(s *client.Settings) { s.Metadata = map[string]string{"": "v"} }, field: "metadata.", code: "invalid_value"},
		{name: "metadata key control", change: func(s *client.Settings) { s.Metadata = map[string]string{"a\nb": "v"} }, field: "metadata.a\nb", code: "invalid_value"},
		{name: "metadata value too long", change: func(s *client.Settings) {
			s.Metadata = map[string]string{"team": strings.Repeat("é", 257)}
		}, field: "metadata.team", code: "too_long"},
		{name: "metadata value invalid UTF-8", change: func(s *client.Settings) { s.Metadata = map[string]string{"team": "\xff"} }, field: "metadata.team", code: "invalid_value"},
		{name: "properties too many", change: func(s *client.Settings) { s.Properties = keys(51) }, field: "properties", code: "too_many"},
		{name: "properties key too long", change: func(s *client.Settings) {
			s.Properties = map[string]string{strings.Repeat("k", 65): "v"}
		}, field: "properties." + strings.Repeat("k", 65), code: "invalid_value"},
		{name: "properties value too long", change: func(s *client.Settings) {
			s.Properties = map[string]string{"p": strings.Repeat("x", 2001)}
		}, field: "properties.p", code: "too_long"},
	})
	s := settingsFor(client.TypeConfidential)
	s.Metadata = keys(10)
	s.Metadata["team"] = strings.Repeat("é", 256)
	delete(s.Metadata, "k0")
	s.Properties = keys(50)
	s.Properties["k1"] = strings.Repeat("x", 2000)
	if err := s.Normalize().Validate(cat); err != nil {
		t.Errorf("limits: %v", err)
	}
}

func TestValidateJWKS(t *testing.T) {
	t.Parallel()
	set := func(raw string) func(s *client.Settings) {
		return func(s *client.Settings) {
			s.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
			s.JWKS = json.RawMessage(raw)
		}
	}
	runRules(t, []rule{
		{name: "not JSON", change: set(`{"keys":`), field: "jwks", code: "invalid_value"},
		{name: "array", change: set(`[]`), field: "jwks", code: "invalid_value"},
		{name: "string", change: set(`"keys"`), field: "jwks", code: "invalid_value"},
		{name: "no keys", change: set(`{}`), field: "jwks.keys", code: "required"},
		{name: "empty keys", change: set(`{"keys":[]}`), field: "jwks.keys", code: "required"},
		{name: "keys not array", change: set(`{"keys":{"kty":"EC"}}`), field: "jwks.keys", code: "invalid_value"},
		{name: "key not object", change: set(`{"keys":[1]}`), field: "jwks.keys", code: "invalid_value"},
		{name: "null key", change: set(`{"keys":[null]}`), field: "jwks.keys[0]", code: "invalid_value"},
		{name: "no kty", change: set(`{"keys":[{"kid":"a"}]}`), field: "jwks.keys[0].kty", code: "required"},
		{name: "empty kty", change: set(`{"keys":[{"kty":""}]}`), field: "jwks.keys[0].kty", code: "required"},
		{name: "private EC key", change: set(`{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"secret"}]}`), field: "jwks.keys[0].d", code: "not_allowed"},
		{name: "private RSA key", change: set(`{"keys":[{"kty":"RSA","n":"a","e":"AQAB"},{"kty":"RSA","n":"a","e":"AQAB","p":"x","q":"y","dp":"z","dq":"w","qi":"v"}]}`), field: "jwks.keys[1].qi", code: "not_allowed"},
		{name: "symmetric key", change: set(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), field: "jwks.keys[0].k", code: "not_allowed"},
		{name: "private d in another case", change: set(`{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","D":"secret"}]}`), field: "jwks.keys[0].D", code: "not_allowed"},
		{name: "modulus in another case", change: set(`{"keys":[{"kty":"RSA","e":"AQAB","N":"AQAB"}]}`), field: "jwks.keys[0].N", code: "not_allowed"},
		{name: "too large", change: set(`{"keys":[{"kty":"EC","x":"` + strings.Repeat("a", 65536) + `"}]}`), field: "jwks", code: "too_long"},
		{name: "too many keys", change: set(`{"keys":[` + strings.Repeat(`{"kty":"EC"},`, 100) + `{"kty":"EC"}]}`), field: "jwks.keys", code: "too_many"},
		// 4,097 bits (the leading octet 0x01 over 512 more); 4,096 pass
		// (TestCheckJWKS).
		{name: "RSA key too large", change: set(`{"keys":[{"kty":"RSA","e":"AQAB","n":"` + base64.RawURLEncoding.EncodeToString(append([]byte{1}, make([]byte, 512)...)) + `"}]}`), field: "jwks.keys[0].n", code: "too_long"},
		{name: "RSA key of 8,192 bits", change: set(`{"keys":[{"kty":"RSA","e":"AQAB","n":"` + base64.RawURLEncoding.EncodeToString(append([]byte{0x80}, make([]byte, 1023)...)) + `"}]}`), field: "jwks.keys[0].n", code: "too_long"},
		// go-jose drops trailing "=" and skips line breaks before decoding:
		// an oversized modulus so dressed must not pass as no modulus.
		{name: "RSA key too large, padded", change: set(`{"keys":[{"kty":"RSA","e":"AQAB","n":"` + base64.RawURLEncoding.EncodeToString(append([]byte{1}, make([]byte, 4096)...)) + `="}]}`), field: "jwks.keys[0].n", code: "invalid_value"},
		{name: "RSA key too large, line break", change: set(`{"keys":[{"kty":"RSA","e":"AQAB","n":"` + base64.RawURLEncoding.EncodeToString(append([]byte{1}, make([]byte, 4096)...)) + `\n"}]}`), field: "jwks.keys[0].n", code: "invalid_value"},
		{name: "padded e", change: set(`{"keys":[{"kty":"RSA","e":"AQAB==","n":"AQAB"}]}`), field: "jwks.keys[0].e", code: "invalid_value"},
		{name: "EC x with a space", change: set(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2 xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`), field: "jwks.keys[0].x", code: "invalid_value"},
		{name: "n not a string", change: set(`{"keys":[{"kty":"RSA","e":"AQAB","n":12}]}`), field: "jwks.keys[0].n", code: "invalid_value"},
		{name: "even RSA exponent", change: set(`{"keys":[{"kty":"RSA","e":"AQAA","n":"AQAB"}]}`), field: "jwks.keys[0].e", code: "invalid_value"},
		{name: "RSA exponent over 2^31-1", change: set(`{"keys":[{"kty":"RSA","e":"AQAAAAE","n":"AQAB"}]}`), field: "jwks.keys[0].e", code: "invalid_value"},
		// Only 65537: verifying with a larger exponent costs more, for any
		// request naming the client, before it is authenticated.
		{name: "RSA exponent 2^31-1", change: set(`{"keys":[{"kty":"RSA","e":"f____w","n":"AQAB"}]}`), field: "jwks.keys[0].e", code: "invalid_value"},
		{name: "RSA exponent 3", change: set(`{"keys":[{"kty":"RSA","e":"Aw","n":"AQAB"}]}`), field: "jwks.keys[0].e", code: "invalid_value"},
		// encoding/json, which reads a set for go-jose, matches "keys"
		// ignoring case, the last member winning.
		{name: "keys in another case", change: set(`{"keys":[{"kty":"RSA","e":"AQAB","n":"AQAB"}],"KEYS":[{"kty":"RSA","e":"AQAB","n":"AQAB"}]}`), field: "jwks.KEYS", code: "not_allowed"},
		{name: "jwks and jwks_uri", change: func(s *client.Settings) {
			set(testJWKS)(s)
			s.JWKSURI = "https://app.example.com/jwks.json"
		}, field: "jwks_uri", code: "conflict"},
	})
}

// TestCheckJWKS checks the rules for published key sets: those of a
// registered jwks, RSA moduli at the bound included.
func TestCheckJWKS(t *testing.T) {
	t.Parallel()
	rsaKey := func(modulus []byte) string {
		return `{"keys":[{"kty":"RSA","e":"AQAB","n":"` + base64.RawURLEncoding.EncodeToString(modulus) + `"}]}`
	}
	largest := append([]byte{0x80}, make([]byte, 511)...) // 4,096 bits
	for raw, ok := range map[string]bool{
		testJWKS:                              true,
		rsaKey(largest):                       true,
		rsaKey(append([]byte{0}, largest...)): true, // a leading zero octet does not count
		rsaKey(append([]byte{1}, largest...)): false,
		`{"keys":[{"kty":"RSA","n":"a","e":"AQAB","p":"x"}]}`:                      false,
		strings.Replace(rsaKey(append([]byte{1}, largest...)), `"}]}`, `="}]}`, 1): false, // padded: go-jose reads it whole
		strings.Replace(rsaKey(largest), `"}]}`, `\r\n"}]}`, 1):                    false, // a line break go-jose skips
		`{"KEYS":[{"kty":"RSA","e":"AQAB","n":"AQAB"}]}`:                           false,
		`{"keys":[]}`: false,
		`not json`:    false,
	} {
		err := client.CheckJWKS(json.RawMessage(raw))
		var verr *domain.ValidationError
		if (err == nil) != ok || (err != nil && !errors.As(err, &verr)) {
			t.Errorf("CheckJWKS(%.60s…) = %v, want ok %v", raw, err, ok)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypePublic)
	s.ClientName = ""
	s.Code = "orders"
	s.RedirectURIs = []string{"http://app.example.com/cb", "https://app.example.com/cb#x"}
	s.AllowedCORSOrigins = []string{"*"}
	s.DefaultScopes = []string{"nope"}
	s.AccessTokenLifetime = 1
	s.Metadata = map[string]string{"team": strings.Repeat("x", 300)}
	s.RequirePKCE = false
	s.ConsentRequired, s.FirstParty = true, true
	err := s.Normalize().Validate(cat)
	want := map[string]string{
		"client_name":             "required",
		"code":                    "invalid_value",
		"redirect_uris[0]":        "not_allowed",
		"redirect_uris[1]":        "invalid_uri",
		"allowed_cors_origins[0]": "not_allowed",
		"default_scopes[0]":       "unknown_scope",
		"access_token_lifetime":   "out_of_range",
		"metadata.team":           "too_long",
		"require_pkce":            "required",
		"first_party":             "conflict",
	}
	fields := problems(t, err)
	got := make(map[string]string)
	for _, f := range fields {
		if _, dup := got[f.Field]; dup {
			t.Errorf("two problems for %s", f.Field)
		}
		got[f.Field] = f.Code
		if f.Message == "" {
			t.Errorf("%s has no message", f.Field)
		}
	}
	for field, code := range want {
		if got[field] != code {
			t.Errorf("%s: got %q, want %q", field, got[field], code)
		}
	}
	if len(fields) != len(want) {
		t.Errorf("got %d problems, want %d:%s", len(fields), len(want), describe(fields))
	}
}

func TestValidateRefusesNonNormalForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(s *client.Settings)
		field  string
	}{
		{"origin default port", func(s *client.Settings) { s.AllowedCORSOrigins = []string{"https://app.example.com:443"} }, "allowed_cors_origins[0]"},
		{"origin trailing slash", func(s *client.Settings) { s.AllowedCORSOrigins = []string{"https://app.example.com/"} }, "allowed_cors_origins[0]"},
		{"redirect uppercase host", func(s *client.Settings) { s.RedirectURIs = []string{"https://APP.example.com/cb"} }, "redirect_uris[0]"},
		{"logo uppercase scheme", func(s *client.Settings) { s.LogoURI = "HTTPS://example.com/l.png" }, "logo_uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := settingsFor(client.TypeConfidential)
			tt.change(&s)
			wantProblem(t, s.Validate(cat), tt.field, "invalid_value")
			if err := s.Normalize().Validate(cat); err != nil {
				t.Errorf("normalised: %v", err)
			}
		})
	}
}
