package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"math/bits"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/scope"
)

// Limits on client settings. Lengths of text are counted in characters
// (runes); URIs, which must be ASCII, in bytes.
const (
	MaxNameLength             = 200
	MaxDescriptionLength      = 1000
	MaxURILength              = 2000
	MaxURIs                   = 100 // per list: redirect, post-logout, CORS origins
	MaxScopes                 = 100 // per list: default, optional, api
	MaxAPIScopeLength         = 64
	MaxClientClaims           = 50
	MaxClaimValueLength       = 2000
	MaxIdentityProviders      = 50
	MaxIdentityProviderLength = 200
	MaxMetadataKeys           = 10
	MaxMetadataKeyLength      = 64
	MaxMetadataValueLength    = 256
	MaxProperties             = 50
	MaxPropertyKeyLength      = 64
	MaxPropertyValueLength    = 2000
	MaxJWKSSize               = 64 << 10 // bytes of inline JSON
	MaxJWKSKeys               = 100
	// MaxRSAKeyBits bounds an RSA key's modulus. A signature check's
	// time grows with the square of the modulus, and anyone who knows a
	// private_key_jwt client's id can make the node check a made-up
	// signature against its key: about 0.2 ms at 2,048 bits, 0.8 ms at
	// 4,096, 2.8 ms at 8,192 (BenchmarkRefusedAssertion in http/oauth).
	// 4,096 bits keeps that near a millisecond, and is the largest RSA
	// key the common identity providers and HSMs issue.
	MaxRSAKeyBits         = 4096
	MaxSubjectDNLength    = 1000
	MaxPairwiseSaltLength = 200
	MaxReasonLength       = 500
)

// Lifetime bounds in seconds (inclusive).
const (
	MinAccessTokenLifetime          = 60
	MaxAccessTokenLifetime          = 86400
	MinIDTokenLifetime              = 60
	MaxIDTokenLifetime              = 86400
	MinAuthorizationCodeLifetime    = 10
	MaxAuthorizationCodeLifetime    = 600
	MinRefreshTokenAbsoluteLifetime = 3600
	MaxRefreshTokenAbsoluteLifetime = 31536000
	MinRefreshTokenSlidingLifetime  = 60
	MinConsentLifetime              = 60
	MaxConsentLifetime              = 31536000
)

// codePattern is the format of a client code, "urn:{vendor}/{name}":
//
//   - vendor: 1..63 lowercase letters, digits and hyphens, starting with a
//     letter or digit (like a DNS label, so a vendor can be its domain);
//   - name: 1..128 lowercase letters, digits, '.', '_' and '-', starting
//     with a letter or digit.
//
// Lowercase only, so that two codes never differ by case alone, and without
// ':' after the vendor, so that "{code}:{suffix}" splits unambiguously at
// the last colon. Example: "urn:acme/orders-api".
var codePattern = regexp.MustCompile(`^urn:[a-z0-9][a-z0-9-]{0,62}/[a-z0-9][a-z0-9._-]{0,127}$`)

// PlatformCodePrefix is the namespace of the codes of the clients the
// platform creates and manages itself (a tenant's admin client,
// urn:clavis/admin; the console's, urn:clavis/console): only
// [RegisterPlatform] registers a client with such a code, and no command
// gives a client such a code or changes it, so that a code in it always
// names the platform's own client.
const PlatformCodePrefix = "urn:clavis/"

// PlatformCode reports whether code is in the platform's namespace
// ([PlatformCodePrefix]).
func PlatformCode(code string) bool { return strings.HasPrefix(code, PlatformCodePrefix) }

// checkPlatformCode records a code in the platform's namespace that the
// command may not set: the platform sets its clients' codes, and only
// when it registers them (platform); a code in or out of the namespace
// never changes (prev, the code before an update).
func checkPlatformCode(c *checker, code string, platform bool, prev *string) {
	switch {
	case prev != nil && *prev != code && (PlatformCode(*prev) || PlatformCode(code)):
		c.add("code", "reserved", "the code of a client the platform manages never changes, and no client takes a code in %s", PlatformCodePrefix)
	case prev == nil && platform && !PlatformCode(code):
		c.add("code", "invalid_value", "a client the platform manages has a code in %s", PlatformCodePrefix)
	case prev == nil && !platform && PlatformCode(code):
		c.add("code", "reserved", "codes in %s are reserved for the clients the platform manages", PlatformCodePrefix)
	}
}

// ValidCode reports whether s is a well-formed client code,
// ^urn:[a-z0-9][a-z0-9-]{0,62}/[a-z0-9][a-z0-9._-]{0,127}$, for example
// "urn:acme/orders".
func ValidCode(s string) bool { return codePattern.MatchString(s) }

// apiScopePattern is an API scope suffix: a valid scope token without ':'
// (the separator after the code), restricted further to letters, digits,
// '.', '_' and '-' starting with a letter or digit, at most 64 characters,
// so that "urn:acme/orders:read" reads unambiguously and never contains a
// wildcard or a slash.
var apiScopePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// claimsPrefixPattern is the allowed client_claims_prefix.
var claimsPrefixPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{0,32}$`)

// reservedClaims are registered JWT and OpenID Connect claim names that a
// client claim, with its prefix, may not take, because resource servers
// trust them to mean what the standards say.
var reservedClaims = map[string]bool{
	// RFC 7519 §4.1
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	// OpenID Connect Core §2, §3.3.2.11
	"auth_time": true, "nonce": true, "acr": true, "amr": true, "azp": true,
	"at_hash": true, "c_hash": true, "s_hash": true, "sid": true,
	// RFC 8693 §4, RFC 9068 §2.2, RFC 7800 §3.1
	"act": true, "may_act": true, "scope": true, "scp": true, "client_id": true, "cnf": true,
	// Security event / logout tokens (RFC 8417)
	"events": true, "txn": true, "toe": true,
}

// permissions are the values scope_permissions may list.
var permissions = []string{PermissionCreate, PermissionRead, PermissionUpdate, PermissionDelete}

// privateJWKMembers are JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1); a registered key set must be
// public.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// checker collects field errors, keeping only the first problem per field
// path, so that one bad value yields one error with the most basic code
// (format before cross-field rules) instead of a cascade.
type checker struct {
	p    domain.Problems
	seen map[string]bool
}

func (c *checker) add(field, code, format string, args ...any) {
	if c.seen[field] {
		return
	}
	if c.seen == nil {
		c.seen = make(map[string]bool)
	}
	c.seen[field] = true
	c.p.Add(field, code, format, args...)
}

func (c *checker) bad(field string) bool { return c.seen[field] }

func (c *checker) err() error { return c.p.Err() }

// Validate checks settings that have been through [Settings.Normalize]
// against the rules of the package doc and the tenant's scope catalogue,
// and returns a *[domain.ValidationError] listing every problem, or nil.
// A value that is valid but not in normal form (an origin with a default
// port, say) is reported as "invalid_value", because it is not what would
// be stored.
//
// Validate checks the settings alone. The commands also check what depends
// on the client's secrets (a secret-based auth method needs a usable
// secret; see [Register]).
//
// The client's own api_scopes count as known: a resource server may assign
// itself the scopes it defines, before the catalogue has been rebuilt.
func (s Settings) Validate(cat scope.Catalogue) error {
	var c checker
	s.check(&c, cat, nil)
	return c.err()
}

// check records every problem of s. prev is the client's settings before
// an update (nil for a new client): a setting this version stores but does
// not serve is refused only when the command sets it (see checkServed).
func (s Settings) check(c *checker, cat scope.Catalogue, prev *Settings) {
	checkText(c, "client_name", s.ClientName, MaxNameLength, true, false)
	if (prev == nil || prev.ClientName != s.ClientName) && domain.HasBidiControl(s.ClientName) {
		c.add("client_name", "invalid_value", "client_name must not hold bidirectional control characters (U+202A-U+202E, U+2066-U+2069), which change how it displays")
	}
	checkText(c, "description", s.Description, MaxDescriptionLength, false, true)
	switch {
	case s.Code == "":
		c.add("code", "required", "code is required")
	case !ValidCode(s.Code):
		c.add("code", "invalid_value", "code must look like urn:{vendor}/{name}: lowercase letters, digits, '-' in the vendor and '.', '_', '-' in the name")
	}
	switch {
	case s.Type == "":
		c.add("type", "required", "type is required")
	case !s.Type.Valid():
		c.add("type", "invalid_value", "type must be public, confidential or m2m")
	}

	checkURIList(c, "redirect_uris", s.RedirectURIs, redirectURI, s.FAPI)
	checkURIList(c, "post_logout_redirect_uris", s.PostLogoutRedirectURIs, redirectURI, s.FAPI)
	s.checkOrigins(c)
	s.checkGrantAndResponseValues(c)
	switch {
	case s.TokenEndpointAuthMethod == "":
		c.add("token_endpoint_auth_method", "required", "token_endpoint_auth_method is required")
	case !s.TokenEndpointAuthMethod.Valid():
		c.add("token_endpoint_auth_method", "invalid_value", "unknown token_endpoint_auth_method %q", s.TokenEndpointAuthMethod)
	}
	checkText(c, "tls_client_auth_subject_dn", s.TLSClientAuthSubjectDN, MaxSubjectDNLength, false, false)

	s.checkScopes(c, cat)
	s.checkLifetimes(c)
	if s.ConsentRequired && s.FirstParty {
		c.add("first_party", "conflict", "a first-party client skips consent; it cannot also require consent")
	}
	s.checkClaims(c)
	s.checkIdentityProviders(c)

	for _, f := range []struct {
		name, value string
		kind        uriKind
	}{
		{"logo_uri", s.LogoURI, infoURI},
		{"policy_uri", s.PolicyURI, infoURI},
		{"tos_uri", s.TOSURI, infoURI},
		{"client_uri", s.ClientURI, infoURI},
		{"jwks_uri", s.JWKSURI, httpsURI},
		{"frontchannel_logout_uri", s.FrontchannelLogoutURI, logoutURI},
		{"backchannel_logout_uri", s.BackchannelLogoutURI, logoutURI},
	} {
		if f.value != "" {
			checkOneURI(c, f.name, f.value, f.kind, s.FAPI)
		}
	}
	checkMap(c, "metadata", s.Metadata, MaxMetadataKeys, MaxMetadataKeyLength, MaxMetadataValueLength)
	checkMap(c, "properties", s.Properties, MaxProperties, MaxPropertyKeyLength, MaxPropertyValueLength)
	if len(s.JWKS) > 0 {
		checkJWKS(c, s.JWKS)
		if s.JWKSURI != "" {
			c.add("jwks_uri", "conflict", "jwks and jwks_uri are mutually exclusive")
		}
	}
	checkText(c, "pairwise_subject_salt", s.PairwiseSubjectSalt, MaxPairwiseSaltLength, false, false)

	s.checkServed(c, prev)
	s.checkTypeRules(c)
	s.checkAuthRules(c)
	if s.FAPI {
		s.checkFAPI(c)
	}
	s.checkFlowRules(c)
}

// checkText records problems with a trimmed text field: required, too
// long, invalid UTF-8 or control characters (line breaks and tabs are fine
// when multiline).
func checkText(c *checker, field, v string, max int, required, multiline bool) {
	switch {
	case v == "":
		if required {
			c.add(field, "required", "%s is required", field)
		}
	case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t'))
	}):
		c.add(field, "invalid_value", "%s must be UTF-8 text without control characters", field)
	case utf8.RuneCountInString(v) > max:
		c.add(field, "too_long", "%s must be at most %d characters", field, max)
	}
}

func checkOneURI(c *checker, field, v string, kind uriKind, fapi bool) {
	if code, msg := checkURI(v, kind, fapi); code != "" {
		c.add(field, code, "%s", msg)
	} else if n := normalizeURI(v); n != v {
		c.add(field, "invalid_value", "is not in normal form; use %q", n)
	}
}

func checkURIList(c *checker, field string, list []string, kind uriKind, fapi bool) {
	if len(list) > MaxURIs {
		c.add(field, "too_many", "at most %d entries are allowed", MaxURIs)
	}
	seen := make(map[string]bool, len(list))
	for i, v := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		checkOneURI(c, f, v, kind, fapi)
		if seen[v] {
			c.add(f, "duplicate", "%q is listed twice", v)
		}
		seen[v] = true
	}
}

func (s Settings) checkOrigins(c *checker) {
	const field = "allowed_cors_origins"
	if len(s.AllowedCORSOrigins) > MaxURIs {
		c.add(field, "too_many", "at most %d entries are allowed", MaxURIs)
	}
	seen := make(map[string]bool, len(s.AllowedCORSOrigins))
	for i, v := range s.AllowedCORSOrigins {
		f := fmt.Sprintf("%s[%d]", field, i)
		o, code, msg := parseOrigin(v)
		switch {
		case code != "":
			c.add(f, code, "%s", msg)
		case o != v:
			c.add(f, "invalid_value", "is not in normal form; use %q", o)
		case s.FAPI && strings.HasPrefix(o, "http:"):
			c.add(f, "not_allowed", "must be https: FAPI 2.0 forbids plain http")
		case seen[v]:
			c.add(f, "duplicate", "%q is listed twice", v)
		}
		seen[v] = true
	}
}

var (
	grantTypes    = []string{GrantAuthorizationCode, GrantImplicit, GrantRefreshToken, GrantClientCredentials}
	responseTypes = []string{ResponseCode, ResponseIDToken, ResponseToken, ResponseCodeIDToken, ResponseCodeToken, ResponseCodeIDTokenToken, ResponseIDTokenToken}
)

func (s Settings) checkGrantAndResponseValues(c *checker) {
	checkEnumList(c, "grant_types", s.GrantTypes, grantTypes)
	checkEnumList(c, "response_types", s.ResponseTypes, responseTypes)
}

func checkEnumList(c *checker, field string, list, allowed []string) {
	seen := make(map[string]bool, len(list))
	for i, v := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !slices.Contains(allowed, v):
			c.add(f, "invalid_value", "%q is not one of %s", v, strings.Join(allowed, ", "))
		case seen[v]:
			c.add(f, "duplicate", "%q is listed twice", v)
		}
		seen[v] = true
	}
}

func (s Settings) checkScopes(c *checker, cat scope.Catalogue) {
	if ValidCode(s.Code) {
		cat = cat.With(scope.Resource{Code: s.Code, Scopes: s.APIScopes})
	}
	assigned := make(map[string]bool)
	for _, l := range []struct {
		field string
		list  []string
	}{{"default_scopes", s.DefaultScopes}, {"optional_scopes", s.OptionalScopes}} {
		if len(l.list) > MaxScopes {
			c.add(l.field, "too_many", "at most %d scopes are allowed", MaxScopes)
		}
		for i, v := range l.list {
			f := fmt.Sprintf("%s[%d]", l.field, i)
			switch {
			case !scope.ValidToken(v):
				c.add(f, "invalid_value", "%q is not a valid scope token (RFC 6749 §3.3)", v)
			case assigned[v]:
				c.add(f, "duplicate", "%q is already in default_scopes or optional_scopes", v)
			case !cat.Has(v):
				c.add(f, "unknown_scope", "%q is not in the tenant's scope catalogue", v)
			}
			assigned[v] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.ScopePermissions)) {
		f := "scope_permissions." + k
		if !assigned[k] {
			c.add(f, "unknown_scope", "%q is in neither default_scopes nor optional_scopes", k)
		}
		seen := make(map[string]bool)
		for j, v := range s.ScopePermissions[k] {
			pf := fmt.Sprintf("%s[%d]", f, j)
			switch {
			case !slices.Contains(permissions, v):
				c.add(pf, "invalid_value", "%q is not one of create, read, update, delete", v)
			case seen[v]:
				c.add(pf, "duplicate", "%q is listed twice", v)
			}
			seen[v] = true
		}
	}
	if len(s.APIScopes) > MaxScopes {
		c.add("api_scopes", "too_many", "at most %d API scopes are allowed", MaxScopes)
	}
	seen := make(map[string]bool)
	for i, v := range s.APIScopes {
		f := fmt.Sprintf("api_scopes[%d]", i)
		switch {
		case !apiScopePattern.MatchString(v):
			c.add(f, "invalid_value", "%q must be 1..%d letters, digits, '.', '_' or '-', starting with a letter or digit", v, MaxAPIScopeLength)
		case seen[v]:
			c.add(f, "duplicate", "%q is listed twice", v)
		case !scope.ValidToken(scope.Join(s.Code, v)):
			c.add(f, "too_long", "%q makes a scope longer than %d characters with the code", v, scope.MaxTokenLength)
		}
		seen[v] = true
	}
}

func (s Settings) checkLifetimes(c *checker) {
	checkRange(c, "access_token_lifetime", s.AccessTokenLifetime, MinAccessTokenLifetime, MaxAccessTokenLifetime)
	checkRange(c, "id_token_lifetime", s.IDTokenLifetime, MinIDTokenLifetime, MaxIDTokenLifetime)
	checkRange(c, "authorization_code_lifetime", s.AuthorizationCodeLifetime, MinAuthorizationCodeLifetime, MaxAuthorizationCodeLifetime)
	checkRange(c, "refresh_token_absolute_lifetime", s.RefreshTokenAbsoluteLifetime, MinRefreshTokenAbsoluteLifetime, MaxRefreshTokenAbsoluteLifetime)
	maxSliding := MaxRefreshTokenAbsoluteLifetime
	if !c.bad("refresh_token_absolute_lifetime") {
		maxSliding = s.RefreshTokenAbsoluteLifetime
	}
	checkRange(c, "refresh_token_sliding_lifetime", s.RefreshTokenSlidingLifetime, MinRefreshTokenSlidingLifetime, maxSliding)
	if s.ConsentLifetime != 0 {
		checkRange(c, "consent_lifetime", s.ConsentLifetime, MinConsentLifetime, MaxConsentLifetime)
	}
	if s.RefreshTokenUsage != RefreshOneTime && s.RefreshTokenUsage != RefreshReuse {
		c.add("refresh_token_usage", "invalid_value", "refresh_token_usage must be one_time or reuse")
	}
	if s.RefreshTokenExpiration != RefreshAbsolute && s.RefreshTokenExpiration != RefreshSliding {
		c.add("refresh_token_expiration", "invalid_value", "refresh_token_expiration must be absolute or sliding")
	}
	if s.AccessTokenType != AccessTokenJWT && s.AccessTokenType != AccessTokenReference {
		c.add("access_token_type", "invalid_value", "access_token_type must be jwt or reference")
	}
}

func checkRange(c *checker, field string, v, lo, hi int) {
	if v < lo || v > hi {
		c.add(field, "out_of_range", "%s must be between %d and %d seconds", field, lo, hi)
	}
}

func (s Settings) checkClaims(c *checker) {
	if !claimsPrefixPattern.MatchString(s.ClientClaimsPrefix) {
		c.add("client_claims_prefix", "invalid_value", "client_claims_prefix must be at most 32 letters, digits, '_', '.', ':' or '-'")
	}
	if len(s.ClientClaims) > MaxClientClaims {
		c.add("client_claims", "too_many", "at most %d client claims are allowed", MaxClientClaims)
	}
	seen := make(map[Claim]bool)
	for i, cl := range s.ClientClaims {
		f := fmt.Sprintf("client_claims[%d]", i)
		switch {
		case cl.Type == "":
			c.add(f+".type", "required", "claim type is required")
		case len(cl.Type) > scope.MaxTokenLength:
			c.add(f+".type", "too_long", "claim type must be at most %d characters", scope.MaxTokenLength)
		case !scope.ValidToken(cl.Type):
			c.add(f+".type", "invalid_value", "claim type must be printable ASCII without spaces, quotes or backslashes")
		case reservedClaims[s.ClientClaimsPrefix+cl.Type]:
			c.add(f+".type", "reserved", "%q (with the prefix %q) is a registered JWT or OpenID Connect claim", s.ClientClaimsPrefix+cl.Type, s.ClientClaimsPrefix)
		}
		switch {
		case cl.Value == "":
			c.add(f+".value", "required", "claim value is required")
		case !utf8.ValidString(cl.Value) || strings.ContainsFunc(cl.Value, unicode.IsControl):
			c.add(f+".value", "invalid_value", "claim value must be UTF-8 text without control characters")
		case utf8.RuneCountInString(cl.Value) > MaxClaimValueLength:
			c.add(f+".value", "too_long", "claim value must be at most %d characters", MaxClaimValueLength)
		}
		if seen[cl] {
			c.add(f, "duplicate", "claim %q=%q is listed twice", cl.Type, cl.Value)
		}
		seen[cl] = true
	}
}

func (s Settings) checkIdentityProviders(c *checker) {
	const field = "identity_provider_restrictions"
	if len(s.IdentityProviderRestrictions) > MaxIdentityProviders {
		c.add(field, "too_many", "at most %d identity providers are allowed", MaxIdentityProviders)
	}
	seen := make(map[string]bool)
	for i, v := range s.IdentityProviderRestrictions {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case v == "":
			c.add(f, "required", "identity provider name must not be empty")
		case len(v) > MaxIdentityProviderLength:
			c.add(f, "too_long", "identity provider name must be at most %d characters", MaxIdentityProviderLength)
		case !scope.ValidToken(v):
			c.add(f, "invalid_value", "identity provider name must be printable ASCII without spaces")
		case seen[v]:
			c.add(f, "duplicate", "%q is listed twice", v)
		}
		seen[v] = true
	}
}

// checkMap enforces the limits of metadata and properties. Keys are
// checked in sorted order so that the errors are reproducible.
func checkMap(c *checker, field string, m map[string]string, maxKeys, maxKey, maxValue int) {
	if len(m) > maxKeys {
		c.add(field, "too_many", "at most %d keys are allowed", maxKeys)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		f := field + "." + k
		v := m[k]
		switch {
		case k == "" || utf8.RuneCountInString(k) > maxKey || !utf8.ValidString(k) || strings.ContainsFunc(k, unicode.IsControl):
			c.add(f, "invalid_value", "keys must be 1..%d characters of UTF-8 text without control characters", maxKey)
		case !utf8.ValidString(v):
			c.add(f, "invalid_value", "values must be UTF-8 text")
		case utf8.RuneCountInString(v) > maxValue:
			c.add(f, "too_long", "values must be at most %d characters", maxValue)
		}
	}
}

// CheckJWKS checks a JSON Web Key Set by the rules a registered inline
// jwks follows (see checkJWKS); it is for the sets clients publish at
// their jwks_uri. The error is a *[domain.ValidationError].
func CheckJWKS(raw json.RawMessage) error {
	c := &checker{}
	checkJWKS(c, raw)
	return c.err()
}

// checkJWKS checks an inline key set: a JSON object whose "keys" member is
// a non-empty array of JWK objects, each with a "kty", none with private or
// symmetric key material, its public members (n, e, x, y) in canonical
// base64url, no RSA modulus over MaxRSAKeyBits and no RSA exponent but
// 65537 (RSAExponentValid).
//
// The set is checked as the JOSE library that verifies with it reads it
// (go-jose): that library matches the set's "keys" member ignoring case
// (a member "KEYS" would hide behind "keys"), and decodes base64url after
// dropping trailing "=" and skipping line breaks (so "n" with "=" or a
// line break appended would decode here as nothing and there as the
// whole modulus). Both are refused, so what is checked is what is used.
// A leading zero octet of n is tolerated (it does not count).
func checkJWKS(c *checker, raw json.RawMessage) {
	if len(raw) > MaxJWKSSize {
		c.add("jwks", "too_long", "jwks must be at most %d bytes", MaxJWKSSize)
		return
	}
	var set map[string]json.RawMessage
	if err := json.Unmarshal(raw, &set); err != nil || set == nil {
		c.add("jwks", "invalid_value", "jwks must be a JSON Web Key Set object")
		return
	}
	for _, name := range slices.Sorted(maps.Keys(set)) {
		if name != "keys" && strings.EqualFold(name, "keys") {
			c.add("jwks."+name, "not_allowed", "a member %q would be read as keys; name the key array keys only", name)
		}
	}
	keysRaw, ok := set["keys"]
	if !ok {
		c.add("jwks.keys", "required", "jwks must have a keys array")
		return
	}
	var keys []map[string]json.RawMessage
	if err := json.Unmarshal(keysRaw, &keys); err != nil {
		c.add("jwks.keys", "invalid_value", "keys must be an array of JSON Web Key objects")
		return
	}
	switch {
	case len(keys) == 0:
		c.add("jwks.keys", "required", "keys must hold at least one key")
	case len(keys) > MaxJWKSKeys:
		c.add("jwks.keys", "too_many", "at most %d keys are allowed", MaxJWKSKeys)
	}
	for i, k := range keys {
		f := fmt.Sprintf("jwks.keys[%d]", i)
		if k == nil {
			c.add(f, "invalid_value", "a key must be a JSON object")
			continue
		}
		var kty string
		if err := json.Unmarshal(k["kty"], &kty); err != nil || kty == "" {
			c.add(f+".kty", "required", "every key needs a kty")
		}
		// Members are compared as case-insensitive JSON readers (go-jose
		// among them) would read them: "D" is d, "N" is n.
		for _, name := range slices.Sorted(maps.Keys(k)) {
			for _, m := range privateJWKMembers {
				if strings.EqualFold(name, m) {
					c.add(f+"."+name, "not_allowed", "private or symmetric key material (%q) must never be registered; register the public key only", name)
				}
			}
			for _, m := range knownJWKMembers {
				if name != m && strings.EqualFold(name, m) {
					c.add(f+"."+name, "not_allowed", "a member %q would be read as %q; write it as %q only", name, m, m)
				}
			}
		}
		decoded := map[string][]byte{}
		for _, m := range publicJWKMembers {
			v, ok := k[m]
			if !ok {
				continue
			}
			b, ok := decodeBase64URL(v)
			if !ok {
				c.add(f+"."+m, "invalid_value", "%s must be unpadded base64url (RFC 7515 §2): no \"=\", line breaks, spaces or other characters", m)
				continue
			}
			decoded[m] = b
		}
		if kty != "RSA" {
			continue
		}
		if n, ok := decoded["n"]; ok && rsaModulusBits(n) > MaxRSAKeyBits {
			c.add(f+".n", "too_long", "RSA keys may have at most %d bits", MaxRSAKeyBits)
		}
		if e, ok := decoded["e"]; ok && !RSAExponentValid(new(big.Int).SetBytes(e)) {
			c.add(f+".e", "invalid_value", "an RSA public exponent must be 65537 (\"AQAB\")")
		}
	}
}

// knownJWKMembers are the public members of a JWK (RFC 7517 §4, RFC 7518
// §6), which no other member may shadow by differing in case only.
var knownJWKMembers = []string{"kty", "use", "key_ops", "alg", "kid", "x5u", "x5c", "x5t", "x5t#S256", "crv", "n", "e", "x", "y"}

// publicJWKMembers are the base64url-encoded members of a public JWK
// (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2).
var publicJWKMembers = []string{"n", "e", "x", "y"}

// decodeBase64URL decodes a JSON string of canonical base64url: the URL
// alphabet only (no padding, no white space, none of the line breaks a Go
// decoder skips), no non-zero bits left over, not empty.
func decodeBase64URL(raw json.RawMessage) ([]byte, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil || s == "" {
		return nil, false
	}
	for _, r := range s {
		if !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return nil, false
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return b, err == nil
}

// rsaModulusBits is the size of the modulus n (big-endian octets);
// leading zero octets do not count.
func rsaModulusBits(n []byte) int {
	n = bytes.TrimLeft(n, "\x00")
	if len(n) == 0 {
		return 0
	}
	return (len(n)-1)*8 + bits.Len8(n[0])
}

// RSAExponentValid reports whether e is the one RSA public exponent
// accepted: 65537, what every key generator uses (as Google Tink and
// many identity providers require). The cost of verifying a signature
// grows with the exponent's size: with e up to 2^31-1, any request
// naming a client with a large key cost milliseconds of CPU before
// the client was authenticated. Registered, imported and fetched key
// sets are checked by it, and so are the keys made of them before use.
func RSAExponentValid(e *big.Int) bool {
	return e.IsInt64() && e.Int64() == rsaExponent
}

// rsaExponent is the RSA public exponent accepted (F4).
const rsaExponent = 65537

// checkTypeRules enforces what each client type may do.
func (s Settings) checkTypeRules(c *checker) {
	switch s.Type {
	case TypePublic:
		if s.TokenEndpointAuthMethod.Valid() && s.TokenEndpointAuthMethod != AuthNone {
			c.add("token_endpoint_auth_method", "not_allowed", "a public client cannot keep a credential; use none")
		}
		if !s.RequirePKCE {
			c.add("require_pkce", "required", "a public client must use PKCE")
		}
		if s.AllowPlainPKCE {
			c.add("allow_plain_pkce", "not_allowed", "a public client must use the S256 PKCE method")
		}
		for i, g := range s.GrantTypes {
			if g == GrantClientCredentials {
				c.add(fmt.Sprintf("grant_types[%d]", i), "not_allowed", "a public client cannot use client_credentials")
			}
		}
	case TypeM2M:
		hasCC := false
		for i, g := range s.GrantTypes {
			if g == GrantClientCredentials {
				hasCC = true
			} else if slices.Contains(grantTypes, g) {
				c.add(fmt.Sprintf("grant_types[%d]", i), "not_allowed", "an m2m client may only use client_credentials")
			}
		}
		if !hasCC {
			c.add("grant_types", "required", "an m2m client needs the client_credentials grant")
		}
		if len(s.RedirectURIs) > 0 {
			c.add("redirect_uris", "not_allowed", "an m2m client has no users to redirect")
		}
		if len(s.PostLogoutRedirectURIs) > 0 {
			c.add("post_logout_redirect_uris", "not_allowed", "an m2m client has no users to log out")
		}
		if len(s.ResponseTypes) > 0 {
			c.add("response_types", "not_allowed", "an m2m client does not use the authorization endpoint")
		}
	}
	if s.TokenEndpointAuthMethod == AuthNone && (s.Type == TypeConfidential || s.Type == TypeM2M) {
		c.add("token_endpoint_auth_method", "not_allowed", "only public clients may use none")
	}
}

// Served reports whether this version authenticates clients with m. The
// mutual-TLS methods (RFC 8705) are known, and replay from history, but
// no endpoint takes a client certificate, so a client using one could
// never authenticate.
func (m AuthMethod) Served() bool {
	return m.Valid() && m != AuthTLSClientAuth && m != AuthSelfSignedTLSClientAuth
}

// checkServed refuses, with "not_supported", the settings this version
// stores but does not act on: a mutual-TLS auth method and its subject
// DN (no endpoint takes a client certificate), front- and back-channel
// logout URIs (never called) and identity provider restrictions (never
// passed to the login application). Setting one would promise what is
// not done. A value already held (prev, before an update) is not refused,
// so that clients registered before this rule can still be changed.
func (s Settings) checkServed(c *checker, prev *Settings) {
	var was Settings
	if prev != nil {
		was = *prev
	}
	if m := s.TokenEndpointAuthMethod; m.Valid() && !m.Served() && m != was.TokenEndpointAuthMethod {
		c.add("token_endpoint_auth_method", "not_supported", "%s is not served: no endpoint takes a client certificate; use private_key_jwt, client_secret_jwt, client_secret_basic or client_secret_post", m)
	}
	for _, f := range []struct{ name, value, was string }{
		{"tls_client_auth_subject_dn", s.TLSClientAuthSubjectDN, was.TLSClientAuthSubjectDN},
		{"frontchannel_logout_uri", s.FrontchannelLogoutURI, was.FrontchannelLogoutURI},
		{"backchannel_logout_uri", s.BackchannelLogoutURI, was.BackchannelLogoutURI},
	} {
		if f.value != "" && f.value != f.was {
			c.add(f.name, "not_supported", "%s is not served yet; leave it empty", f.name)
		}
	}
	if len(s.IdentityProviderRestrictions) > 0 && !slices.Equal(s.IdentityProviderRestrictions, was.IdentityProviderRestrictions) {
		c.add("identity_provider_restrictions", "not_supported", "identity_provider_restrictions is not served yet (the login application is not told of it); leave it empty")
	}
}

// checkAuthRules enforces what each auth method needs besides secrets.
// Nothing is asked for a method refused already.
func (s Settings) checkAuthRules(c *checker) {
	if c.bad("token_endpoint_auth_method") {
		return
	}
	if s.TokenEndpointAuthMethod == AuthTLSClientAuth && s.TLSClientAuthSubjectDN == "" {
		c.add("tls_client_auth_subject_dn", "required", "tls_client_auth needs the expected certificate subject DN")
	}
	if s.TokenEndpointAuthMethod.UsesKeys() && len(s.JWKS) == 0 && s.JWKSURI == "" {
		c.add("jwks", "required", "%s needs the client's public keys in jwks or jwks_uri", s.TokenEndpointAuthMethod)
	}
}

// checkFlowRules enforces the consistency of grant types, response types,
// redirect URIs and the related flags (see the package doc for the table).
func (s Settings) checkFlowRules(c *checker) {
	authCode := slices.Contains(s.GrantTypes, GrantAuthorizationCode)
	implicit := slices.Contains(s.GrantTypes, GrantImplicit)
	if s.Type != TypeM2M {
		for i, rt := range s.ResponseTypes {
			if !slices.Contains(responseTypes, rt) {
				continue
			}
			f := fmt.Sprintf("response_types[%d]", i)
			parts := strings.Fields(rt)
			hasCode := slices.Contains(parts, "code")
			switch {
			case hasCode && len(parts) > 1 && !(authCode && implicit):
				c.add(f, "conflict", "hybrid response type %q needs the authorization_code and implicit grants", rt)
			case hasCode && !authCode:
				c.add(f, "conflict", "response type %q needs the authorization_code grant", rt)
			case !hasCode && !implicit:
				c.add(f, "conflict", "response type %q needs the implicit grant", rt)
			}
			if slices.Contains(parts, "token") && !s.AllowAccessTokensViaBrowser {
				c.add("allow_access_tokens_via_browser", "required", "response type %q returns an access token through the browser; set allow_access_tokens_via_browser", rt)
			}
		}
		if authCode || implicit {
			if len(s.RedirectURIs) == 0 {
				c.add("redirect_uris", "required", "the authorization_code and implicit grants need at least one redirect URI")
			}
			if len(s.ResponseTypes) == 0 {
				c.add("response_types", "required", "the authorization_code and implicit grants need at least one response type")
			}
		}
	}
	for i, g := range s.GrantTypes {
		if g == GrantRefreshToken && !authCode {
			c.add(fmt.Sprintf("grant_types[%d]", i), "conflict", "refresh_token needs the authorization_code grant")
		}
	}
	if s.AllowOfflineAccess && !slices.Contains(s.GrantTypes, GrantRefreshToken) {
		c.add("allow_offline_access", "conflict", "allow_offline_access needs the refresh_token grant")
	}
}

// fapiAuthMethods are the client authentication methods FAPI 2.0 Security
// Profile §5.3.2.1 allows.
var fapiAuthMethods = []AuthMethod{AuthPrivateKeyJWT, AuthTLSClientAuth, AuthSelfSignedTLSClientAuth}

// checkFAPI enforces the FAPI 2.0 Security Profile's client rules. The https
// rules for redirect URIs and origins are applied where those are checked.
func (s Settings) checkFAPI(c *checker) {
	if s.Type == TypePublic {
		c.add("type", "not_allowed", "FAPI 2.0 needs a confidential client")
	}
	if !slices.Contains(fapiAuthMethods, s.TokenEndpointAuthMethod) {
		c.add("token_endpoint_auth_method", "not_allowed", "FAPI 2.0 allows only private_key_jwt, tls_client_auth and self_signed_tls_client_auth")
	}
	if !s.RequirePKCE {
		c.add("require_pkce", "required", "FAPI 2.0 requires PKCE")
	}
	if s.AllowPlainPKCE {
		c.add("allow_plain_pkce", "not_allowed", "FAPI 2.0 requires the S256 PKCE method")
	}
	for i, rt := range s.ResponseTypes {
		if rt != ResponseCode {
			c.add(fmt.Sprintf("response_types[%d]", i), "not_allowed", "FAPI 2.0 allows only the code response type")
		}
	}
	for i, g := range s.GrantTypes {
		if g == GrantImplicit {
			c.add(fmt.Sprintf("grant_types[%d]", i), "not_allowed", "FAPI 2.0 forbids the implicit grant")
		}
	}
}
