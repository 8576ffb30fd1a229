package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/clavisiam/clavis/domain/client"
)

// What fosite stores between the authorization endpoint and the token
// endpoint, and between one refresh and the next, lives in the grant
// store (see [Grants]), under keys {tenant}.{kind}.{id}:
//
//   - ac, pkce, oidc: an authorization code's request, its PKCE
//     challenge and its OpenID Connect request, by the code's signature;
//   - rt: a refresh token's request, by its signature;
//   - fam: a grant's family, by the authorization request's id, which
//     every token of the grant shares: its live access tokens (jti and
//     expiry), its refresh tokens (signatures), whether it was revoked,
//     when its refresh tokens end;
//   - at: an access token of a family, by its jti, for userinfo.
//
// A family keeps at most Provider.familyTokens of each (RefreshLimit):
// past it, the oldest access token is revoked and its userinfo entry
// deleted, and the oldest refresh token's entry (a used one kept for
// reuse detection, or, for a client whose refresh tokens are reused, a
// still active one) is deleted. So however often a grant is refreshed,
// what it keeps is bounded, and a reuse still revokes every access token
// of the family that is alive.

// errUsedTwice is a code or refresh token that two requests used at
// once: the later one fails with invalid_grant and the grant is revoked.
var errUsedTwice = errors.New("oauth: the code or refresh token was used concurrently")

// codeRecord is an authorization code or refresh token and whether it
// can still be used.
type codeRecord struct {
	Request storedRequest `json:"request"`
	Active  bool          `json:"active"`
}

// family is what a grant (one authorization, and the tokens refreshed
// from it) keeps.
type family struct {
	ClientID string `json:"client_id"`
	Revoked  bool   `json:"revoked"`
	// Ends is when the family's refresh tokens stop working, however
	// often they were rotated: the client's absolute lifetime after the
	// first.
	Ends   time.Time `json:"ends"`
	Tokens []issued  `json:"tokens"`
	// Refresh are the signatures of the family's refresh tokens whose
	// entries are kept, oldest first.
	Refresh []string `json:"refresh,omitempty"`
}

// issued is an access token of a family.
type issued struct {
	JTI string    `json:"jti"`
	Exp time.Time `json:"exp"`
}

// tokenRecord is what userinfo reads of an access token.
type tokenRecord struct {
	Family string         `json:"family"`
	Claims map[string]any `json:"claims,omitempty"`
}

// grantID is what an id in a key may be: what fosite's codes and
// signatures (base64url, dot-separated), UUIDs and jtis are made of.
// Anything else (a malformed code or token) names nothing.
var grantID = regexp.MustCompile(`^[-_=A-Za-z0-9]+(\.[-_=A-Za-z0-9]+)*$`)

func (s *storage) key(ctx context.Context, kind, id string) (string, error) {
	r, err := requestOf(ctx)
	if err != nil {
		return "", err
	}
	if s.p.grants == nil {
		return "", errors.New("oauth: no grant store")
	}
	if len(id) > 512 || !grantID.MatchString(id) {
		return "", fosite.ErrNotFound
	}
	return r.tenant.Slug + "." + kind + "." + id, nil
}

func (s *storage) put(ctx context.Context, life Life, kind, id string, v any) error {
	key, err := s.key(ctx, kind, id)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.p.grants.Create(ctx, life, key, raw)
}

// get reads kind id into v and returns its revision; fosite.ErrNotFound
// when there is none.
func (s *storage) get(ctx context.Context, life Life, kind, id string, v any) (uint64, error) {
	key, err := s.key(ctx, kind, id)
	if err != nil {
		return 0, err
	}
	raw, rev, err := s.p.grants.Get(ctx, life, key)
	if errors.Is(err, ErrGrantNotFound) {
		return 0, fosite.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return 0, fmt.Errorf("oauth: grant %s: %w", key, err)
	}
	return rev, nil
}

func (s *storage) update(ctx context.Context, life Life, kind, id string, v any, rev uint64) error {
	key, err := s.key(ctx, kind, id)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.p.grants.Update(ctx, life, key, raw, rev)
}

func (s *storage) del(ctx context.Context, life Life, kind, id string) error {
	key, err := s.key(ctx, kind, id)
	if err != nil {
		return err
	}
	return s.p.grants.Delete(ctx, life, key)
}

func (s *storage) putRequest(ctx context.Context, kind, id string, r fosite.Requester) error {
	sr, err := storeRequest(r)
	if err != nil {
		return err
	}
	return s.put(ctx, LifeFlow, kind, id, codeRecord{Request: sr, Active: true})
}

// getRequest reads the request kept under kind id, decoding its session
// into into, and whether it can still be used.
func (s *storage) getRequest(ctx context.Context, life Life, kind, id string, into fosite.Session) (fosite.Requester, bool, error) {
	var rec codeRecord
	if _, err := s.get(ctx, life, kind, id, &rec); err != nil {
		return nil, false, err
	}
	r, err := rec.Request.load(ctx, s, into)
	return r, rec.Active, err
}

// Authorization codes (oauth2.AuthorizeCodeStorage).

func (s *storage) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.putRequest(ctx, "ac", code, r)
}

// GetAuthorizeCodeSession reads a code's request; a used code comes with
// fosite.ErrInvalidatedAuthorizeCode, on which fosite revokes what was
// issued with it.
func (s *storage) GetAuthorizeCodeSession(ctx context.Context, code string, into fosite.Session) (fosite.Requester, error) {
	r, active, err := s.getRequest(ctx, LifeFlow, "ac", code, into)
	if err != nil {
		return nil, err
	}
	// The tokens of the exchange are new ones: those the authorization
	// endpoint gave (hybrid flows) keep their jti.
	if sess, ok := r.GetSession().(*session); ok {
		sess.renew(uuid.NewString())
	}
	if !active {
		return r, fosite.ErrInvalidatedAuthorizeCode
	}
	return r, nil
}

// InvalidateAuthorizeCodeSession marks a code used, once: of two
// requests racing with the same code, the later one fails (and the
// grant the earlier one got is revoked).
func (s *storage) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	var rec codeRecord
	rev, err := s.get(ctx, LifeFlow, "ac", code, &rec)
	if err != nil {
		return err
	}
	if rec.Active {
		rec.Active = false
		if err = s.update(ctx, LifeFlow, "ac", code, rec, rev); !errors.Is(err, ErrGrantConflict) {
			return err
		}
	}
	if err := s.revokeFamily(ctx, rec.Request.ID); err != nil {
		return err
	}
	return errUsedTwice
}

// PKCE (pkce.PKCERequestStorage) and OpenID Connect requests
// (openid.OpenIDConnectRequestStorage), by the code's signature.

func (s *storage) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.putRequest(ctx, "pkce", sig, r)
}

func (s *storage) GetPKCERequestSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	r, _, err := s.getRequest(ctx, LifeFlow, "pkce", sig, into)
	return r, err
}

// DeletePKCERequestSession keeps the challenge: fosite deletes it before
// it compares the verifier, so a wrong verifier would leave the code
// without its challenge. It expires with the code, which is used once.
func (s *storage) DeletePKCERequestSession(context.Context, string) error { return nil }

func (s *storage) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.putRequest(ctx, "oidc", code, r)
}

func (s *storage) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	r, _, err := s.getRequest(ctx, LifeFlow, "oidc", code, r.GetSession())
	return r, err
}

func (s *storage) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.del(ctx, LifeFlow, "oidc", code)
}

// Access tokens (oauth2.AccessTokenStorage): nothing is stored for a
// client_credentials token; a token of a user's grant joins its family.

// CreateAccessTokenSession records an access token of a user's grant in
// its family, so that revoking the family revokes it, and by its jti,
// for userinfo.
func (s *storage) CreateAccessTokenSession(ctx context.Context, _ string, r fosite.Requester) error {
	if r.GetRequestForm().Get("grant_type") == "client_credentials" {
		return nil
	}
	sess, ok := r.GetSession().(*session)
	if !ok || sess.Access.JTI == "" {
		return errors.New("oauth: an access token without a session or jti")
	}
	exp := sess.GetExpiresAt(fosite.AccessToken)
	var dropped []issued
	err := s.changeFamily(ctx, r.GetID(), r.GetClient().GetID(), func(f *family) error {
		if f.Revoked {
			return fosite.ErrInvalidGrant.WithHint("The grant was revoked.")
		}
		now := s.p.now()
		var live []issued
		dropped = nil
		for _, t := range f.Tokens {
			if now.Before(t.Exp) {
				live = append(live, t)
			} else {
				dropped = append(dropped, t)
			}
		}
		live = append(live, issued{JTI: sess.Access.JTI, Exp: exp})
		// The oldest beyond the family's bound are revoked before the
		// family forgets them, so that none stays alive unrecorded.
		over := max(len(live)-s.p.familyTokens, 0)
		if err := s.revokeTokens(ctx, live[:over]); err != nil {
			return err
		}
		dropped = append(dropped, live[:over]...)
		f.Tokens = live[over:]
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range dropped {
		_ = s.del(ctx, LifeToken, "at", t.JTI)
	}
	return s.put(ctx, LifeToken, "at", sess.Access.JTI, tokenRecord{Family: r.GetID(), Claims: sess.UserClaims})
}

func (s *storage) GetAccessTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound
}

func (s *storage) DeleteAccessTokenSession(context.Context, string) error { return fosite.ErrNotFound }

// Refresh tokens (oauth2.RefreshTokenStorage, oauth2.TokenRevocationStorage).

// CreateRefreshTokenSession stores a new refresh token and adds it to its
// family; then, for a refresh, it marks the token used up (see
// RotateRefreshToken). It is the last write of a refresh: until it
// succeeds, the token used stays usable, so that a refresh failing for
// want of room loses nothing.
func (s *storage) CreateRefreshTokenSession(ctx context.Context, sig, _ string, r fosite.Requester) error {
	sr, err := storeRequest(r)
	if err != nil {
		return err
	}
	if err := s.put(ctx, LifeGrant, "rt", sig, codeRecord{Request: sr, Active: true}); err != nil {
		return err
	}
	var dropped []string
	err = s.changeFamily(ctx, r.GetID(), r.GetClient().GetID(), func(f *family) error {
		if f.Revoked {
			return fosite.ErrInvalidGrant.WithHint("The grant was revoked.")
		}
		refresh := append(slices.Clone(f.Refresh), sig)
		over := max(len(refresh)-s.p.familyTokens, 0)
		dropped, f.Refresh = refresh[:over], refresh[over:]
		return nil
	})
	if err == nil {
		err = s.completeRotation(ctx)
	}
	if err != nil {
		_ = s.del(ctx, LifeGrant, "rt", sig)
		return err
	}
	for _, d := range dropped {
		_ = s.del(ctx, LifeGrant, "rt", d)
	}
	return nil
}

// GetRefreshTokenSession reads a refresh token's request. One used
// before, or of a revoked family, comes with fosite.ErrInactiveToken, on
// which fosite revokes the family (reuse detection). The session's
// refresh expiry is no later than the family's end.
func (s *storage) GetRefreshTokenSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	r, active, err := s.getRequest(ctx, LifeGrant, "rt", sig, into)
	if err != nil {
		return nil, err
	}
	var f family
	if _, err := s.get(ctx, LifeGrant, "fam", r.GetID(), &f); err != nil && !errors.Is(err, fosite.ErrNotFound) {
		return nil, err
	}
	if !active || f.Revoked || s.p.revoking(ctx, r.GetID()) {
		return r, fosite.ErrInactiveToken
	}
	if !f.Ends.IsZero() {
		if exp := r.GetSession().GetExpiresAt(fosite.RefreshToken); exp.IsZero() || f.Ends.Before(exp) {
			r.GetSession().SetExpiresAt(fosite.RefreshToken, f.Ends)
		}
	}
	return r, nil
}

// DeleteRefreshTokenSession keeps the refresh token's record: fosite
// calls it only when a used refresh token comes back, before it revokes
// the grant, and the record is what makes a later use of that token
// revoke the grant again, should this revocation fail. The family
// forgets it in time (see CreateRefreshTokenSession).
func (s *storage) DeleteRefreshTokenSession(context.Context, string) error { return nil }

// rotation is a refresh token being used: its key, the revision read,
// and what is left of it once used.
type rotation struct {
	family, sig string
	rev         uint64
	used        codeRecord
}

// RotateRefreshToken checks that the refresh token is still active and
// notes it in the request; CreateRefreshTokenSession marks it used once
// its successor is stored, so that a refresh failing before leaves it
// usable. A token used twice at the same moment revokes its family. A
// client whose refresh_token_usage is "reuse" keeps its refresh tokens
// usable (each refresh still hands out a new one too).
func (s *storage) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	req, err := requestOf(ctx)
	if err != nil {
		return err
	}
	if req.client != nil && req.client.view.Settings.RefreshTokenUsage == client.RefreshReuse {
		return nil
	}
	var rec codeRecord
	rev, err := s.get(ctx, LifeGrant, "rt", sig, &rec)
	if err != nil {
		return err
	}
	if !rec.Active {
		if err := s.revokeFamily(ctx, requestID); err != nil {
			return err
		}
		return errUsedTwice
	}
	// What is left of a used token is what reuse detection needs: whose
	// family it was. It stays until the family forgets it.
	used := codeRecord{Request: storedRequest{ID: rec.Request.ID, RequestedAt: rec.Request.RequestedAt, ClientID: rec.Request.ClientID}}
	req.rotation = &rotation{family: requestID, sig: sig, rev: rev, used: used}
	return nil
}

// completeRotation marks the refresh token the request uses as used, if
// it was not in the meantime: if it was, its family is revoked.
func (s *storage) completeRotation(ctx context.Context) error {
	req, err := requestOf(ctx)
	if err != nil || req.rotation == nil {
		return err
	}
	rot := req.rotation
	req.rotation = nil
	err = s.update(ctx, LifeGrant, "rt", rot.sig, rot.used, rot.rev)
	if errors.Is(err, ErrGrantConflict) {
		if err := s.revokeFamily(ctx, rot.family); err != nil {
			return err
		}
		return errUsedTwice
	}
	return err
}

// RevokeRefreshToken ends every refresh token of the family requestID.
func (s *storage) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.revokeFamily(ctx, requestID)
}

// RevokeAccessToken revokes every access token of the family requestID.
func (s *storage) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.revokeFamily(ctx, requestID)
}

func (s *storage) RevokeRefreshTokenMaybeGracePeriod(ctx context.Context, requestID, _ string) error {
	return s.revokeFamily(ctx, requestID)
}

// A grant is revoked for a reuse of its code or of a used refresh token,
// and on request (RFC 7009). The revocation is a write to NATS (the
// family, then the access tokens' revocations), which can fail for a
// moment (a leader being elected, a server restarting): it is tried
// again for up to revokeWithin. If it still fails, the request fails with
// errRevocationPending (temporarily_unavailable, never "already used",
// which would say the grant was revoked), and the node does not let the
// grant go: it refuses the family itself and goes on writing the
// revocation in the background until NATS takes it (see revokeLater).
// The record of the code or refresh token used twice stays, so a later
// use of it revokes the grant again, at any node.
const (
	revokeWithin = 500 * time.Millisecond
	// revokeAttempt bounds one write of the background retries, whose
	// waits grow from revokeFirstWait to revokeMaxWait, for at most
	// revokeFor (the longest an access token lives; the refresh tokens
	// stay refused by the family).
	revokeAttempt   = 5 * time.Second
	revokeFirstWait = 250 * time.Millisecond
	revokeMaxWait   = 500 * time.Millisecond
	revokeFor       = 25 * time.Hour
)

// errRevocationPending answers a request that found a grant to revoke
// but could not record its revocation in time: the same request may
// succeed later (with the answer a reuse gets).
var errRevocationPending = fosite.ErrTemporarilyUnavailable.WithHint("The grant must be revoked but the revocation cannot be recorded right now; try again in a second.")

// revokeFamily revokes grant id on every node, trying again for up to
// revokeWithin; when that fails, it notes in the request that the
// revocation is pending (see revocationPending), leaves it to
// revokeLater, and returns the last error.
func (s *storage) revokeFamily(ctx context.Context, id string) error {
	if revocationPending(ctx) {
		// fosite revokes a reused code's grant twice (its access, then
		// its refresh tokens): the first attempt's failure stands.
		return fmt.Errorf("oauth: revoke grant %s: %w", id, errRevocationPending)
	}
	tctx, cancel := context.WithTimeout(ctx, revokeWithin)
	defer cancel()
	wait := 20 * time.Millisecond
	for {
		err := s.revokeFamilyOnce(tctx, id)
		if err == nil {
			return nil
		}
		select {
		case <-tctx.Done():
		case <-time.After(wait):
			wait *= 2
			continue
		}
		if r, rerr := requestOf(ctx); rerr == nil {
			r.revocationPending = true
			s.revokeLater(r, id, err)
		}
		return fmt.Errorf("oauth: revoke grant %s: %w", id, err)
	}
}

// revocationPending reports whether a revocation the request made
// failed (see revokeFamily): it then answers errRevocationPending.
func revocationPending(ctx context.Context) bool {
	r, err := requestOf(ctx)
	return err == nil && r.revocationPending
}

// revoking reports whether this node is still trying to record the
// revocation of family id of the request's tenant (see revokeLater).
func (p *Provider) revoking(ctx context.Context, id string) bool {
	r, err := requestOf(ctx)
	if err != nil {
		return false
	}
	_, ok := p.pendingRevocations.Load(r.tenant.Slug + "." + id)
	return ok
}

// revokeLater goes on revoking family id of r's tenant in the background
// until it succeeds (at most one such loop per family), the node
// refusing the family meanwhile.
func (s *storage) revokeLater(r *request, id string, cause error) {
	key := r.tenant.Slug + "." + id
	if _, busy := s.p.pendingRevocations.LoadOrStore(key, struct{}{}); busy {
		return
	}
	log := s.p.log.With("tenant", r.tenant.Slug, "family", id)
	log.Error("oauth: a grant's revocation could not be recorded; this node refuses it and tries again", "error", cause)
	ctx := context.WithValue(context.Background(), requestKey{}, &request{tenant: r.tenant, issuer: r.issuer})
	go func() {
		defer s.p.pendingRevocations.Delete(key)
		wait := revokeFirstWait
		for end := time.Now().Add(revokeFor); time.Now().Before(end); wait = min(2*wait, revokeMaxWait) {
			time.Sleep(wait)
			actx, cancel := context.WithTimeout(ctx, revokeAttempt)
			err := s.revokeFamilyOnce(actx, id)
			cancel()
			if err == nil {
				log.Info("oauth: a grant's revocation is recorded at last")
				return
			}
		}
		log.Error("oauth: gave up recording a grant's revocation")
	}()
}

// revokeFamilyOnce revokes a grant: its refresh tokens stop working, and
// its access tokens are revoked on every node.
func (s *storage) revokeFamilyOnce(ctx context.Context, id string) error {
	var tokens []issued
	err := s.changeFamily(ctx, id, "", func(f *family) error {
		f.Revoked = true
		tokens = f.Tokens
		return nil
	})
	if err != nil {
		return err
	}
	return s.revokeTokens(ctx, tokens)
}

// revokeTokens revokes the access tokens of the request's tenant that
// have not expired, on every node.
func (s *storage) revokeTokens(ctx context.Context, tokens []issued) error {
	r, err := requestOf(ctx)
	if err != nil || s.p.revoked == nil {
		return err
	}
	now := s.p.now()
	for _, t := range tokens {
		if now.Before(t.Exp) {
			if err := s.p.revoked.Revoke(ctx, r.tenant.Slug, t.JTI, t.Exp); err != nil {
				return err
			}
		}
	}
	return nil
}

// familyAttempts is how many times changeFamily reads and writes a
// family that others keep changing before it gives up.
const familyAttempts = 10

// changeFamily applies change to family id, creating it (for clientID)
// when it does not exist yet, retrying on concurrent changes after a
// short random pause that grows with each attempt, so that requests
// racing on one grant (from several nodes) do not collide again in
// step. When they still do, the grant is busy: temporarily_unavailable,
// nothing changed.
func (s *storage) changeFamily(ctx context.Context, id, clientID string, change func(*family) error) error {
	for attempt := range familyAttempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return err
			}
		}
		var f family
		rev, err := s.get(ctx, LifeGrant, "fam", id, &f)
		switch {
		case errors.Is(err, fosite.ErrNotFound):
			f = family{ClientID: clientID}
			if c, err := s.GetClient(ctx, clientID); err == nil && clientID != "" {
				f.Ends = s.p.now().Add(time.Duration(c.(*fositeClient).view.Settings.RefreshTokenAbsoluteLifetime) * time.Second)
			}
			if err := change(&f); err != nil {
				return err
			}
			err = s.put(ctx, LifeGrant, "fam", id, f)
			if errors.Is(err, ErrGrantExists) {
				continue
			}
			return err
		case err != nil:
			return err
		}
		if err := change(&f); err != nil {
			return err
		}
		err = s.update(ctx, LifeGrant, "fam", id, f, rev)
		if errors.Is(err, ErrGrantConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("%w: grant %s: changed by others at each of %d attempts", ErrUnavailable, id, familyAttempts)
}

// pause waits a random time of up to attempt milliseconds, or until ctx
// ends.
func pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(rand.Int64N(int64(attempt)*int64(time.Millisecond))) + 100*time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errTooManyRefreshes answers a client over its refresh rate (see
// RefreshLimit).
func errTooManyRefreshes() error {
	err := fosite.ErrTemporarilyUnavailable.WithHint("Too many refreshes from this client; retry in a second.")
	err.CodeField = http.StatusTooManyRequests
	return err
}

// errNoRoom answers a code exchange or a refresh that the grant store
// had no room for: nothing was used up, the same request may succeed
// later.
var errNoRoom = fosite.ErrTemporarilyUnavailable.WithHint("The grant store is full; try again later.")
