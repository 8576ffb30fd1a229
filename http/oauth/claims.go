package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"slices"

	"github.com/ory/fosite"
)

// The claims of a user's grant: the subject a client knows the user by,
// the claims the login application gave (never the server's own), and,
// of those, only the ones of the scopes the user granted.

// userGrant completes the access token of a user's grant for the scopes
// granted (see grantTo), with the user as its subject; the client's
// claims go in only when the client always sends them.
func (p *Provider) userGrant(ctx context.Context, ar fosite.Requester, c *fositeClient, sess *session, subject string) {
	sess.Access.Extra = map[string]any{}
	p.grantTo(ctx, ar, c, sess)
	sess.Access.Subject = subject
	if !c.view.Settings.AlwaysSendClientClaims {
		for name := range clientClaims(c.view.Settings) {
			delete(sess.Access.Extra, name)
		}
	}
}

// subject is the user's subject for client c: pairwise (a hash of the
// client's sector, the user and the client's salt) when the client has
// a salt, the login application's otherwise.
func (p *Provider) subject(c *fositeClient, user string) string {
	s := c.view.Settings
	if s.PairwiseSubjectSalt == "" {
		return user
	}
	sector := c.GetID()
	if len(s.RedirectURIs) > 0 {
		if u, err := url.Parse(s.RedirectURIs[0]); err == nil {
			sector = u.Host
		}
	}
	sum := sha256.Sum256([]byte(sector + "\x00" + user + "\x00" + s.PairwiseSubjectSalt))
	return hex.EncodeToString(sum[:])
}

// protectedClaims are the claims the login application cannot set: the
// server's own.
var protectedClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash", "sid", "scope", "client_id"}

// scopeClaims are the standard claims each identity scope requests
// (OpenID Connect Core §5.4).
var scopeClaims = map[string][]string{
	"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile",
		"picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
	"email":   {"email", "email_verified"},
	"address": {"address"},
	"phone":   {"phone_number", "phone_number_verified"},
}

// consentedClaims drops the standard claims of identity scopes not
// granted: the login application gives claims before the user consents.
// Claims of its own (not standard ones) stay.
func consentedClaims(claims map[string]any, granted []string) map[string]any {
	for sc, names := range scopeClaims {
		if slices.Contains(granted, sc) {
			continue
		}
		for _, n := range names {
			delete(claims, n)
		}
	}
	return claims
}

// userClaims keeps, of the claims the login application gave, those
// that are not the server's own (protectedClaims).
func userClaims(in map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		if !slices.Contains(protectedClaims, k) {
			out[k] = v
		}
	}
	return out
}
