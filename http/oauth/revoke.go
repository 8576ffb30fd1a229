package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// Revocations keeps the access tokens revoked before they expired,
// shared by every node. A token is named by its tenant and its jti; a
// grant, whose revocation revokes every access token issued from it
// (they name it, see grantClaim), by its tenant and "grant." and its id
// (grantRevocation). A jti never holds a dot.
type Revocations interface {
	// Revoke records that the token (or the grant's tokens) stop
	// working; until is when the last of them would have expired anyway.
	Revoke(ctx context.Context, tenant, jti string, until time.Time) error
	// Revoked reports whether the token (or grant) was revoked, without
	// I/O: it is on the token path.
	Revoked(tenant, jti string) bool
}

// grantRevocation is the name under which [Revocations] keeps the
// revocation of grant id.
func grantRevocation(id string) string { return "grant." + id }

// WithRevocations serves the revocation endpoint (RFC 7009), keeping
// revoked tokens in r, which every verification consults.
func WithRevocations(r Revocations) Option {
	return func(o *options) error {
		if r == nil {
			return fmt.Errorf("%w: nil revocations", ErrInvalidOption)
		}
		o.revoked = r
		return nil
	}
}

// ServeRevoke is tenant slug's revocation endpoint (RFC 7009): a client
// of the tenant (public ones identify themselves with client_id) revokes
// one of its own access tokens, on every node. A token that is invalid,
// expired or unknown answers 200 as the RFC wants; a valid token of
// another client is refused (unauthorized_client). For a tenant that does
// not exist it writes nothing and returns [ErrUnknownTenant].
func (p *Provider) ServeRevoke(w http.ResponseWriter, r *http.Request, slug string) error {
	ctx, c, ar, err := p.clientRequest(w, r, slug)
	if c == nil {
		return err
	}
	token := r.PostForm.Get("token")
	if token == "" {
		p.writeError(ctx, w, r, ar, fosite.ErrInvalidRequest.WithHint("The token parameter is missing."))
		return nil
	}
	// token_type_hint is only a hint (RFC 7009 §2.1): the token's form
	// tells a refresh token from an access token.
	if p.grants != nil && strings.HasPrefix(token, refreshTokenPrefix) {
		p.revokeRefreshToken(ctx, w, r, ar, c.GetID(), token)
		return nil
	}
	at, err := p.VerifyAccessToken(ctx, token)
	// A token this node knows revoked is revoked again: the node may
	// know it from a revocation it heard published whose recording then
	// failed (NATS electing a leader), and an answer of 200 must mean
	// that the revocation is recorded for every node.
	var known *revokedError
	if errors.As(err, &known) {
		at, err = known.at, nil
	}
	switch {
	case errors.Is(err, ErrInvalidToken):
	case err != nil:
		p.writeError(ctx, w, r, ar, fosite.ErrServerError.WithWrap(err))
		return nil
	case at.Tenant != slug:
	case at.ClientID != c.GetID():
		p.writeError(ctx, w, r, ar, fosite.ErrUnauthorizedClient.WithHint("The token was issued to another client."))
		return nil
	case !p.revocations.allow(slug+"\x00"+at.ClientID, p.now()):
		p.writeError(ctx, w, r, ar, errTooManyRevocations())
		return nil
	default:
		if err := p.revoked.Revoke(ctx, slug, at.ID, at.Expiry); err != nil {
			p.log.ErrorContext(ctx, "revoke", "tenant", slug, "error", err)
			p.writeError(ctx, w, r, ar, fosite.ErrTemporarilyUnavailable.WithHint("Revocations cannot be recorded right now; try again."))
			return nil
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

// refreshTokenPrefix starts every refresh token (fosite's HMAC strategy).
const refreshTokenPrefix = "ory_rt_"

// revokeRefreshToken revokes a refresh token of client clientID and, as
// RFC 7009 §2.1 suggests, its whole grant: the refresh tokens and the
// access tokens issued from the same authorization.
func (p *Provider) revokeRefreshToken(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, clientID, token string) {
	s := p.store
	req, _ := requestOf(ctx)
	id, owner, err := s.refreshTokenGrant(ctx, p.tokens.RefreshTokenSignature(ctx, token))
	switch {
	case errors.Is(err, fosite.ErrNotFound):
	case err != nil:
		p.writeError(ctx, w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err))
		return
	case owner != "" && owner != clientID:
		p.writeError(ctx, w, r, ar, fosite.ErrUnauthorizedClient.WithHint("The token was issued to another client."))
		return
	case !p.revocations.allow(req.tenant.Slug+"\x00"+clientID, p.now()):
		p.writeError(ctx, w, r, ar, errTooManyRevocations())
		return
	default:
		if err := s.revokeFamily(ctx, id); err != nil {
			p.log.ErrorContext(ctx, "revoke", "error", err)
			p.writeError(ctx, w, r, ar, fosite.ErrTemporarilyUnavailable.WithHint("Revocations cannot be recorded right now; try again."))
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// refreshTokenGrant is the grant of the refresh token whose signature
// is sig, and the client it was issued to ("" for a grant that a
// revocation alone recorded); fosite.ErrNotFound when there is none.
func (s *storage) refreshTokenGrant(ctx context.Context, sig string) (string, string, error) {
	if rs, ok := parseRefreshSig(sig); ok {
		st, err := s.readGrant(ctx, rs.grant)
		if err != nil {
			return "", "", err
		}
		if !st.stored {
			return "", "", fosite.ErrNotFound
		}
		return rs.grant, st.rec.ClientID, nil
	}
	var rec codeRecord
	if _, err := s.get(ctx, LifeGrant, "rt", sig, &rec); err != nil {
		return "", "", err
	}
	return rec.Request.ID, rec.Request.ClientID, nil
}

// errTooManyRevocations answers a client over its revocation rate.
func errTooManyRevocations() error {
	err := fosite.ErrTemporarilyUnavailable.WithHint("Too many revocations from this client; retry in a second.")
	err.CodeField = http.StatusTooManyRequests
	return err
}
