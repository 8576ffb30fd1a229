package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/clavisiam/clavis/domain/scope"
)

// ServeUserinfo is tenant slug's userinfo endpoint (OpenID Connect Core
// §5.3): for an access token of the tenant issued with the openid scope,
// the user's subject and the claims the login application gave. Errors
// follow RFC 6750: invalid_token (401) for a token that is missing, not
// valid or of another tenant, insufficient_scope (403) without openid.
// For a tenant that does not exist it writes nothing and returns
// [ErrUnknownTenant].
func (p *Provider) ServeUserinfo(w http.ResponseWriter, r *http.Request, slug string) error {
	ctx, err := p.withTenant(r.Context(), slug)
	if err != nil {
		return err // ErrUnknownTenant, or the read model's error
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && r.Method == http.MethodPost && r.ParseForm() == nil {
		token = r.PostForm.Get("access_token")
	}
	if token == "" {
		bearerError(w, slug, http.StatusUnauthorized, "", "")
		return nil
	}
	at, err := p.VerifyAccessToken(ctx, token)
	if errors.Is(err, ErrInvalidToken) || (err == nil && at.Tenant != slug) {
		bearerError(w, slug, http.StatusUnauthorized, "invalid_token", "The access token is not valid.")
		return nil
	}
	if err != nil {
		return err
	}
	if !slices.Contains(at.Scopes, scope.OpenID) {
		bearerError(w, slug, http.StatusForbidden, "insufficient_scope", "The access token was not issued with the openid scope.")
		return nil
	}
	if at.SealedUserClaims, err = p.sealedClaimsOf(token, at); err != nil {
		return err
	}
	claims, err := p.userClaims(ctx, at)
	if IsUnavailable(err) {
		return err // 503 with Retry-After: the grant store says nothing of the token
	} else if err != nil {
		bearerError(w, slug, http.StatusUnauthorized, "invalid_token", "The access token is not one of a user.")
		return nil
	}
	out := map[string]any{}
	for k, v := range claims {
		out[k] = v
	}
	out["sub"] = at.Subject
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(out)
}

// userClaims are the claims the login application gave of the user of
// access token at: those the token carries, sealed; for a token issued
// before tokens carried them, those of its grant's session, or, before
// tokens named their grant, those recorded by its jti.
func (p *Provider) userClaims(ctx context.Context, at AccessToken) (map[string]any, error) {
	if at.SealedUserClaims != "" {
		raw, err := p.keys.OpenUserClaims(at.Tenant, at.SealedUserClaims)
		if err != nil {
			return nil, fosite.ErrNotFound
		}
		var claims map[string]any
		if err := json.Unmarshal(raw, &claims); err != nil {
			return nil, fmt.Errorf("oauth: sealed user claims: %w", err)
		}
		return claims, nil
	}
	if at.Grant == "" {
		var rec tokenRecord
		_, err := p.store.get(ctx, LifeToken, "at", at.ID, &rec)
		return rec.Claims, err
	}
	var g grant
	if _, err := p.store.get(ctx, LifeGrant, "fam", at.Grant, &g); err != nil {
		return nil, err
	}
	if g.Request == nil || len(g.Request.Session) == 0 {
		return nil, fosite.ErrNotFound
	}
	sess := newSession()
	if err := decodeSession(g.Request.Session, sess); err != nil {
		return nil, err
	}
	return sess.UserClaims, nil
}

// bearerError answers an RFC 6750 error with its WWW-Authenticate
// challenge.
func bearerError(w http.ResponseWriter, slug string, status int, code, desc string) {
	v := `Bearer realm="` + slug + `"`
	if code != "" {
		v += `, error="` + code + `", error_description="` + desc + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if code != "" {
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
}
