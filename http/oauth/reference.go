package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/tenants/signing"
)

// accessTokens issues each client's kind of access token: a JWT (RFC
// 9068) by default, or, for a client whose access_token_type is
// "reference", an opaque token that only the platform can read (the same
// claims, encrypted: see signing.Keyring.SealReference). Resource servers
// verify JWTs themselves and introspect reference tokens; either way
// nothing is stored.
type accessTokens struct {
	*oauth2.DefaultJWTStrategy
	p *Provider
}

func (s *accessTokens) GenerateAccessToken(ctx context.Context, requester fosite.Requester) (string, string, error) {
	if sess, ok := requester.GetSession().(*session); ok && sess.Access != nil && !clientCredentials(requester) {
		// The token names its grant, so that revoking the grant
		// revokes it (see Revocations) without a list of its tokens.
		if sess.Access.Extra == nil {
			sess.Access.Extra = map[string]any{}
		}
		sess.Access.Extra[grantClaim] = requester.GetID()
		if err := s.sealUserClaims(ctx, requester, sess); err != nil {
			return "", "", err
		}
	}
	c, ok := requester.GetClient().(*fositeClient)
	if !ok || c.view.Settings.AccessTokenType != client.AccessTokenReference {
		return s.DefaultJWTStrategy.GenerateAccessToken(ctx, requester)
	}
	r, err := requestOf(ctx)
	if err != nil {
		return "", "", err
	}
	session, ok := requester.GetSession().(oauth2.JWTSessionContainer)
	if !ok || session.GetJWTClaims() == nil {
		return "", "", errors.New("oauth: the session holds no claims")
	}
	claims := session.GetJWTClaims().
		With(session.GetExpiresAt(fosite.AccessToken), requester.GetGrantedScopes(), requester.GetGrantedAudience()).
		WithDefaults(s.p.now().UTC(), r.issuer).
		WithScopeField(jwt.JWTScopeFieldString).
		ToMapClaims()
	raw, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	token, err := s.p.keys.SealReference(r.tenant.Slug, raw)
	if err != nil {
		return "", "", err
	}
	return token, s.AccessTokenSignature(ctx, token), nil
}

// sealUserClaims puts into the access token of a user's grant that has
// the openid scope (the tokens userinfo answers for) the claims the login
// application gave of the user, sealed for the platform (userClaimsClaim):
// userinfo reads them from the token, so that nothing is stored for it.
func (s *accessTokens) sealUserClaims(ctx context.Context, requester fosite.Requester, sess *session) error {
	if !requester.GetGrantedScopes().Has(scope.OpenID) {
		delete(sess.Access.Extra, userClaimsClaim)
		return nil
	}
	r, err := requestOf(ctx)
	if err != nil {
		return err
	}
	claims := sess.UserClaims
	if claims == nil {
		claims = map[string]any{}
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		return fmt.Errorf("oauth: user claims: %w", err)
	}
	if len(raw) > maxSealedClaims {
		// Kept in the grant's record instead (see
		// CreateAccessTokenSession), where userinfo reads them.
		delete(sess.Access.Extra, userClaimsClaim)
		return nil
	}
	sealed, err := s.p.keys.SealUserClaims(r.tenant.Slug, raw)
	if err != nil {
		return err
	}
	sess.Access.Extra[userClaimsClaim] = sealed
	return nil
}

// maxSealedClaims bounds the user's claims (as JSON) an access token
// carries sealed. Sealed and base64url-encoded twice (the claim, then
// the JWT's payload), claims grow the token by nearly twice their size:
// the login application may give 16 KiB, which would make a token of
// some 30 KB that no request header fits (this server reads at most
// 4 KiB of headers, many proxies and resource servers 8 KiB). Larger
// claims are kept in the grant's record, as before tokens carried them.
const maxSealedClaims = 1024

// userClaimsClaim names, in an access token of a user's grant with the
// openid scope, the claims the login application gave of the user,
// sealed for the platform (signing.Keyring.SealUserClaims): only the
// userinfo endpoint reads them.
const userClaimsClaim = "uic"

// grantClaim names, in an access token of a user's grant (not of
// client_credentials), the grant it was issued from: the id every token
// of one authorization shares.
const grantClaim = "grant_id"

// clientCredentials reports whether r is a client_credentials request,
// whose token belongs to no grant.
func clientCredentials(r fosite.Requester) bool {
	return r.GetRequestForm().Get("grant_type") == "client_credentials"
}

// AccessTokenSignature identifies a token: a JWT by its signature, a
// reference token by its hash.
func (s *accessTokens) AccessTokenSignature(ctx context.Context, token string) string {
	if _, ok := signing.ReferenceTenant(token); ok {
		sum := sha256.Sum256([]byte(token))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return s.DefaultJWTStrategy.AccessTokenSignature(ctx, token)
}

// ValidateAccessToken checks either kind of token.
func (s *accessTokens) ValidateAccessToken(ctx context.Context, _ fosite.Requester, token string) error {
	if _, err := s.p.VerifyAccessToken(ctx, token); err != nil {
		return fosite.ErrInactiveToken.WithWrap(err)
	}
	return nil
}
