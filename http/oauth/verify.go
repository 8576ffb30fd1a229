package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants/signing"
)

// ErrInvalidToken is what [Provider.VerifyAccessToken] returns for a token
// it does not accept, whatever the reason (RFC 6750 invalid_token).
var ErrInvalidToken = errors.New("oauth: invalid access token")

// AccessToken is what a verified access token says.
type AccessToken struct {
	// Tenant is the slug of the tenant that issued it.
	Tenant string
	// ClientID is the client it was issued to.
	ClientID string
	// Scopes are the scopes it grants.
	Scopes []string
	// Expiry is when it expires, IssuedAt when it was issued.
	Expiry, IssuedAt time.Time
	// ID is its jti.
	ID string
	// Issuer, Subject and Audience are its iss, sub and aud.
	Issuer, Subject string
	Audience        []string
	// Permissions are its permissions claim: each "{scope}:{permission}"
	// ([scope.Permission]).
	Permissions []string
	// Grant is the grant (one authorization and the tokens refreshed
	// from it) the token was issued from, its grant_id claim; empty for
	// a client_credentials token.
	Grant string
	// SealedUserClaims are the claims the login application gave of the
	// token's user, sealed for the userinfo endpoint (its uic claim);
	// empty for a token without the openid scope or issued before tokens
	// carried them.
	SealedUserClaims string
	// sealedInToken says that the token carries SealedUserClaims, which
	// verifiedTokens does not keep (see userClaimsOf).
	sealedInToken bool
}

// clockSkew is how far in the future a token's iat may be.
const clockSkew = time.Minute

// VerifyAccessToken checks an access token one of the tenants issued: a
// JWT (RFC 9068, typ at+jwt) whose issuer is a tenant of this server,
// signed with a key that tenant publishes, with the algorithm of that
// key, or a reference token that opens for its tenant; not expired; and,
// at this moment, not revoked, of a tenant that is not suspended and of
// an active client of that tenant, whose scopes it keeps only as far as
// the client still has them. So a token is worthless at once, on every
// node whose token-path cache has seen the event, when its client is
// deactivated or deleted or its tenant suspended. Any failure is
// [ErrInvalidToken] (wrapped with the reason, which is safe to log);
// errors reading the read model are returned as they are.
//
// A token whose signature verified once is remembered (by its SHA-256)
// until it expires, so that resource servers introspecting the same
// token again, and an admin token used for request after request, cost
// no signature verification; the tenant and client checks run every
// time.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (AccessToken, error) {
	sum := sha256.Sum256([]byte(token))
	if at, ok := p.verified.get(sum, p.now()); ok {
		return p.stillValid(ctx, at)
	}
	at, err := p.verifySignature(ctx, token)
	if err != nil {
		return AccessToken{}, err
	}
	p.verified.put(sum, at)
	return p.stillValid(ctx, at)
}

// verifySignature checks what a token says of itself: its form, issuer,
// key, signature (or, for a reference token, its encryption) and times.
func (p *Provider) verifySignature(ctx context.Context, token string) (AccessToken, error) {
	if slug, ok := signing.ReferenceTenant(token); ok {
		return p.openReference(slug, token)
	}
	// go-jose also reads the JSON serialization, padded base64 and
	// surrounding space; an access token is the compact JWS it was issued
	// as (RFC 9068), one spelling only.
	if !compactForm(token) {
		return AccessToken{}, invalid("not a compact JWS")
	}
	jws, err := jose.ParseSigned(token)
	if err != nil || len(jws.Signatures) != 1 {
		return AccessToken{}, invalid("not a compact JWS")
	}
	hdr := jws.Signatures[0].Protected
	if typ, _ := hdr.ExtraHeaders["typ"].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return AccessToken{}, invalid("typ is not at+jwt")
	}
	var unverified struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified); err != nil {
		return AccessToken{}, invalid("payload is not JSON")
	}
	slug, ok := strings.CutPrefix(unverified.Iss, p.publicURL+"/t/")
	if !ok || !tenant.ValidSlug(slug) {
		return AccessToken{}, invalid("issuer is not a tenant of this server")
	}
	t, err := p.dir.Tenant(ctx, slug)
	if errors.Is(err, projections.ErrNotFound) {
		return AccessToken{}, invalid("issuer is not a tenant of this server")
	}
	if err != nil {
		return AccessToken{}, err
	}
	payload, err := verifyWith(t, jws, p.now())
	if err != nil {
		return AccessToken{}, err
	}
	return p.checkClaims(slug, unverified.Iss, payload)
}

// compactForm reports whether token is three non-empty parts of
// unpadded base64url, separated by dots.
func compactForm(token string) bool {
	parts, empty := 1, true
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			if empty {
				return false
			}
			parts, empty = parts+1, true
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			empty = false
		default:
			return false
		}
	}
	return parts == 3 && !empty
}

// verifyWith checks a JWS signed by tenant t: with a key t publishes
// at now, by its kid, with that key's algorithm. It returns the payload.
func verifyWith(t projections.TenantView, jws *jose.JSONWebSignature, now time.Time) ([]byte, error) {
	hdr := jws.Signatures[0].Protected
	var key *tenant.Key
	for _, k := range t.PublishedKeys(now) {
		if k.KID == hdr.KeyID {
			key = &k
			break
		}
	}
	if key == nil || hdr.Algorithm != key.Alg {
		return nil, invalid("signed with a key the tenant does not publish")
	}
	var pub jose.JSONWebKey
	if err := pub.UnmarshalJSON(key.PublicJWK); err != nil {
		return nil, fmt.Errorf("tenant %s key %s: %w", t.Slug, key.KID, err)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, invalid("bad signature")
	}
	return payload, nil
}

// openReference reads a reference token of tenant slug.
func (p *Provider) openReference(slug, token string) (AccessToken, error) {
	if !tenant.ValidSlug(slug) {
		return AccessToken{}, invalid("not a token of this server")
	}
	payload, err := p.keys.OpenReference(slug, token)
	if err != nil {
		return AccessToken{}, invalid("reference token does not open")
	}
	return p.checkClaims(slug, p.Issuer(slug), payload)
}

// checkClaims reads the claims of a token of tenant slug, whose issuer
// must be iss, and checks its times.
func (p *Provider) checkClaims(slug, iss string, payload []byte) (AccessToken, error) {
	now := p.now()
	var claims struct {
		Iss      string   `json:"iss"`
		Sub      string   `json:"sub"`
		ClientID string   `json:"client_id"`
		Scope    string   `json:"scope"`
		Aud      any      `json:"aud"`
		Exp      *int64   `json:"exp"`
		Iat      *int64   `json:"iat"`
		JTI      string   `json:"jti"`
		Perms    []string `json:"permissions"`
		Grant    string   `json:"grant_id"`
		UIC      string   `json:"uic"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Iss != iss {
		return AccessToken{}, invalid("claims do not decode")
	}
	switch {
	case claims.Exp == nil || claims.Iat == nil || claims.ClientID == "":
		return AccessToken{}, invalid("exp, iat or client_id missing")
	case !now.Before(time.Unix(*claims.Exp, 0)):
		return AccessToken{}, invalid("expired")
	case time.Unix(*claims.Iat, 0).After(now.Add(clockSkew)):
		return AccessToken{}, invalid("issued in the future")
	}
	return AccessToken{Tenant: slug, ClientID: claims.ClientID, Scopes: strings.Fields(claims.Scope),
		Expiry: time.Unix(*claims.Exp, 0), IssuedAt: time.Unix(*claims.Iat, 0), ID: claims.JTI,
		Issuer: claims.Iss, Subject: claims.Sub, Audience: audience(claims.Aud), Permissions: claims.Perms,
		Grant: claims.Grant, SealedUserClaims: claims.UIC, sealedInToken: claims.UIC != ""}, nil
}

// stillValid checks what may have changed since a token was issued: it
// has not expired, its tenant is not suspended, its client is active.
func (p *Provider) stillValid(ctx context.Context, at AccessToken) (AccessToken, error) {
	if !p.now().Before(at.Expiry) {
		return AccessToken{}, invalid("expired")
	}
	if p.revoked != nil && (p.revoked.Revoked(at.Tenant, at.ID) || at.Grant != "" && p.revoked.Revoked(at.Tenant, grantRevocation(at.Grant))) {
		return AccessToken{}, &revokedError{at}
	}
	t, err := p.dir.Tenant(ctx, at.Tenant)
	if errors.Is(err, projections.ErrNotFound) {
		return AccessToken{}, invalid("tenant gone")
	}
	if err != nil {
		return AccessToken{}, err
	}
	if t.Suspended {
		return AccessToken{}, invalid("tenant suspended")
	}
	c, err := p.dir.ClientByID(ctx, at.ClientID)
	if errors.Is(err, projections.ErrNotFound) {
		return AccessToken{}, invalid("client gone")
	}
	if err != nil {
		return AccessToken{}, err
	}
	if c.Tenant != at.Tenant || !c.Active {
		return AccessToken{}, invalid("client inactive or of another tenant")
	}
	// A scope taken from the client since stops counting at once.
	granted := make([]string, 0, len(at.Scopes))
	for _, sc := range at.Scopes {
		if slices.Contains(c.Settings.DefaultScopes, sc) || slices.Contains(c.Settings.OptionalScopes, sc) {
			granted = append(granted, sc)
		}
	}
	at.Scopes = granted
	// So does a permission: each stays only while the client still holds
	// it for a scope the token still grants.
	if len(at.Permissions) > 0 {
		perms := make([]string, 0, len(at.Permissions))
		for _, p := range at.Permissions {
			if sc, perm, ok := scope.SplitPermission(p); ok && slices.Contains(granted, sc) && slices.Contains(c.Settings.ScopePermissions[sc], perm) {
				perms = append(perms, p)
			}
		}
		at.Permissions = perms
	}
	return at, nil
}

// verifiedTokens remembers tokens whose signature verified, by their
// SHA-256, until they expire; at most max of them (beyond, an arbitrary
// tenth is forgotten).
type verifiedTokens struct {
	mu  sync.RWMutex
	m   map[[sha256.Size]byte]AccessToken
	max int
}

func (v *verifiedTokens) get(sum [sha256.Size]byte, now time.Time) (AccessToken, bool) {
	v.mu.RLock()
	at, ok := v.m[sum]
	v.mu.RUnlock()
	if ok && !now.Before(at.Expiry) {
		v.mu.Lock()
		delete(v.m, sum)
		v.mu.Unlock()
		return AccessToken{}, false
	}
	return at, ok
}

func (v *verifiedTokens) put(sum [sha256.Size]byte, at AccessToken) {
	// The sealed claims (up to some 1.4 KB) would make each entry several
	// times its size; userinfo, the one reader, reads them from the token
	// again (sealedClaimsOf).
	at.SealedUserClaims = ""
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[[sha256.Size]byte]AccessToken{}
	}
	if len(v.m) >= v.max {
		n := v.max/10 + 1
		for k := range v.m {
			if n == 0 {
				break
			}
			delete(v.m, k)
			n--
		}
	}
	v.m[sum] = at
}

// audience reads an aud claim: a string or an array of strings.
func audience(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, a := range v {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func invalid(why string) error { return fmt.Errorf("%w: %s", ErrInvalidToken, why) }

// revokedError is the [ErrInvalidToken] of a genuine token this node
// knows revoked: the revocation endpoint records it again (see
// ServeRevoke).
type revokedError struct{ at AccessToken }

func (e *revokedError) Error() string        { return ErrInvalidToken.Error() + ": revoked" }
func (e *revokedError) Is(target error) bool { return target == ErrInvalidToken }

// sealedClaimsOf reads the sealed user claims (uic) of token, which
// VerifyAccessToken verified as at: a JWT's payload, or a reference
// token's opened again.
func (p *Provider) sealedClaimsOf(token string, at AccessToken) (string, error) {
	if at.SealedUserClaims != "" || !at.sealedInToken {
		return at.SealedUserClaims, nil
	}
	var payload []byte
	if _, ok := signing.ReferenceTenant(token); ok {
		raw, err := p.keys.OpenReference(at.Tenant, token)
		if err != nil {
			return "", fmt.Errorf("oauth: a verified reference token does not open: %w", err)
		}
		payload = raw
	} else {
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			return "", errors.New("oauth: a verified JWT not of three parts")
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return "", fmt.Errorf("oauth: a verified JWT's payload: %w", err)
		}
		payload = raw
	}
	var claims struct {
		UIC string `json:"uic"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("oauth: a verified token's claims: %w", err)
	}
	return claims.UIC, nil
}
