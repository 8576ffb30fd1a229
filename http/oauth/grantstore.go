package oauth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/clavisiam/clavis/domain/client"
)

// What fosite stores between the authorization endpoint and the token
// endpoint, and between one refresh and the next, lives in the grant
// store (see [Grants]), under keys {tenant}.{kind}.{id}:
//
//   - code: an authorization code's request, its PKCE challenge and
//     its OpenID Connect request, in one record (see issuedCode), by
//     g.{the code's MAC} (see codeForm) or, for a code of fosite's
//     form, by its signature;
//   - fam: a grant (see grant), by the authorization request's id, which
//     every token of the grant shares and names: whether it was
//     revoked, when its refresh tokens end, its current refresh token
//     and that token's request. Its size does not depend on how often
//     the grant was refreshed.
//
// Written before grants were kept so, and still read: rt, a refresh
// token's request by its signature, and at, an access token's claims
// for userinfo by its jti (see legacyRefreshTokenSession). Written
// before a code was one record, and still read: ac, pkce and oidc, a
// code's three parts (see code.go).

// errUsedTwice is a code or refresh token that two requests used at
// once: the later one fails with invalid_grant and the grant is revoked.
var errUsedTwice = errors.New("oauth: the code or refresh token was used concurrently")

// codeRecord is an authorization code's request, PKCE request or OpenID
// Connect request, or a refresh token's, as earlier versions wrote them
// (see code.go), and whether it can still be used.
type codeRecord struct {
	_       struct{}      `cbor:",toarray"`
	Request storedRequest `json:"request"`
	Active  bool          `json:"active"`
}

// validGrantID reports whether id may be the id in a key: what fosite's
// codes and signatures (base64url, dot-separated), UUIDs and jtis are
// made of, at most 512 bytes, no empty part between dots. Anything else
// (a malformed code or token) names nothing. (A loop, not a regular
// expression: it runs for every key, and the expression took a tenth
// of a code exchange's own CPU.)
func validGrantID(id string) bool {
	if len(id) == 0 || len(id) > 512 {
		return false
	}
	dot := true // at the start of a part
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c == '.':
			if dot {
				return false
			}
			dot = true
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
		default:
			return false
		}
		dot = false
	}
	return !dot
}

func (s *storage) key(ctx context.Context, kind, id string) (string, error) {
	r, err := requestOf(ctx)
	if err != nil {
		return "", err
	}
	if s.p.grants == nil {
		return "", errors.New("oauth: no grant store")
	}
	if !validGrantID(id) {
		return "", fosite.ErrNotFound
	}
	return r.tenant.Slug + "." + kind + "." + id, nil
}

// put stores v as kind id, to be kept until expires (zero: the life's
// TTL; see [Grants]).
func (s *storage) put(ctx context.Context, life Life, kind, id string, v any, expires time.Time) error {
	_, err := s.create(ctx, life, kind, id, v, expires)
	return err
}

// create is put, returning the revision of what it stored.
func (s *storage) create(ctx context.Context, life Life, kind, id string, v any, expires time.Time) (uint64, error) {
	key, err := s.key(ctx, kind, id)
	if err != nil {
		return 0, err
	}
	raw, err := encodeRecord(v)
	if err != nil {
		return 0, err
	}
	rev, err := s.p.grants.Create(ctx, life, key, raw, expires)
	if err == nil {
		s.remember(life, kind, key, raw, rev, expires)
	}
	return rev, err
}

// get reads kind id into v and returns its revision; fosite.ErrNotFound
// when there is none.
func (s *storage) get(ctx context.Context, life Life, kind, id string, v any) (uint64, error) {
	key, err := s.key(ctx, kind, id)
	if err != nil {
		return 0, err
	}
	return s.getKey(ctx, life, key, v)
}

// getKey is get of the record under key.
func (s *storage) getKey(ctx context.Context, life Life, key string, v any) (uint64, error) {
	raw, rev, err := s.p.grants.Get(ctx, life, key)
	if errors.Is(err, ErrGrantNotFound) {
		return 0, fosite.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if err := decodeRecord(raw, v); err != nil {
		return 0, fmt.Errorf("oauth: grant %s: %w", key, err)
	}
	return rev, nil
}

// update replaces kind id with v if its revision is still rev, to be
// kept until expires (zero: the life's TTL).
func (s *storage) update(ctx context.Context, life Life, kind, id string, v any, rev uint64, expires time.Time) error {
	_, err := s.replace(ctx, life, kind, id, v, rev, expires)
	return err
}

// replace is update, returning the new revision.
func (s *storage) replace(ctx context.Context, life Life, kind, id string, v any, rev uint64, expires time.Time) (uint64, error) {
	key, err := s.key(ctx, kind, id)
	if err != nil {
		return 0, err
	}
	raw, err := encodeRecord(v)
	if err != nil {
		return 0, err
	}
	newRev, err := s.p.grants.Update(ctx, life, key, raw, rev, expires)
	switch {
	case err == nil:
		s.remember(life, kind, key, raw, newRev, expires)
	case errors.Is(err, ErrGrantConflict):
		s.p.recent.forget(key)
	}
	return newRev, err
}

func (s *storage) del(ctx context.Context, life Life, kind, id string) error {
	key, err := s.key(ctx, kind, id)
	if err != nil {
		return err
	}
	s.p.recent.forget(key)
	return s.p.grants.Delete(ctx, life, key)
}

// recentKind reports whether the next step reads records of kind from
// recent: flows, codes and grants, which move forward by a read and a
// compare-and-set.
func recentKind(kind string) bool { return kind == "flow" || kind == "code" || kind == "fam" }

// remember keeps a record of a recent kind as written under key, at
// revision rev, until expires (zero: the life's TTL).
func (s *storage) remember(life Life, kind, key string, raw []byte, rev uint64, expires time.Time) {
	if !recentKind(kind) {
		return
	}
	now := s.p.now()
	if expires.IsZero() {
		expires = now.Add(life.TTL())
	}
	s.p.recent.put(key, raw, rev, expires, now)
}

// forget drops what recent keeps of kind id: the record is used up, and
// nothing reads it again but to refuse it, which a read from the store
// does as well.
func (s *storage) forget(ctx context.Context, kind, id string) {
	if key, err := s.key(ctx, kind, id); err == nil {
		s.p.recent.forget(key)
	}
}

// getRecent is get, reading what this node last wrote of kind id when it
// still has it (see recent) unless fresh, and saying so.
func (s *storage) getRecent(ctx context.Context, life Life, kind, id string, v any, fresh bool) (rev uint64, fromRecent bool, err error) {
	key, err := s.key(ctx, kind, id)
	if err != nil {
		return 0, false, err
	}
	if !fresh {
		if raw, rev, ok := s.p.recent.get(key, s.p.now()); ok {
			if err := decodeRecord(raw, v); err != nil {
				return 0, false, fmt.Errorf("oauth: grant %s: %w", key, err)
			}
			return rev, true, nil
		}
	}
	rev, err = s.getKey(ctx, life, key, v)
	return rev, false, err
}

// putRequest stores the request of a code (under kind and the code's
// signature) until the code expires.
func (s *storage) putRequest(ctx context.Context, kind, id string, r fosite.Requester) error {
	sr, err := storeRequest(r)
	if err != nil {
		return err
	}
	return s.put(ctx, LifeFlow, kind, id, codeRecord{Request: sr, Active: true}, codeExpiry(r.GetSession()))
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

// Authorization codes (oauth2.AuthorizeCodeStorage), written as one
// record (see code.go), or, as earlier versions did, under ac, pkce and
// oidc.

// CreateAuthorizeCodeSession adds a code's request to the code the
// authorization request issues, which is written once fosite has made
// its response (see storeCode).
func (s *storage) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	if gathered, err := s.gatherCode(ctx, "ac", code, r); gathered {
		return err
	}
	return s.putRequest(ctx, "ac", code, r)
}

// GetAuthorizeCodeSession reads a code's request; a used code comes with
// fosite.ErrInvalidatedAuthorizeCode, on which fosite revokes what was
// issued with it.
func (s *storage) GetAuthorizeCodeSession(ctx context.Context, code string, into fosite.Session) (fosite.Requester, error) {
	r, active, err := s.codeRequest(ctx, code, into)
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
	if done, err := s.invalidateCode(ctx, code); done {
		return err
	}
	var rec codeRecord
	rev, err := s.get(ctx, LifeFlow, "ac", code, &rec)
	if err != nil {
		return err
	}
	if rec.Active {
		rec.Active = false
		if err = s.update(ctx, LifeFlow, "ac", code, rec, rev, s.usedCodeExpiry(ctx)); !errors.Is(err, ErrGrantConflict) {
			return err
		}
	}
	if err := s.revokeFamily(ctx, rec.Request.ID); err != nil {
		return err
	}
	return errUsedTwice
}

// PKCE (pkce.PKCERequestStorage) and OpenID Connect requests
// (openid.OpenIDConnectRequestStorage), parts of their code's record
// (see code.go); in the earlier layout, by the code's signature and by
// the code.

// CreatePKCERequestSession adds a code's PKCE request to the code the
// authorization request issues.
func (s *storage) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	if gathered, err := s.gatherCode(ctx, "pkce", sig, r); gathered {
		return err
	}
	return s.putRequest(ctx, "pkce", sig, r)
}

// GetPKCERequestSession reads a code's PKCE request; fosite.ErrNotFound
// when the code came without a code_challenge.
func (s *storage) GetPKCERequestSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	if r, legacy, err := s.codePartRequest(ctx, "pkce", sig, into); !legacy {
		return r, err
	}
	r, _, err := s.getRequest(ctx, LifeFlow, "pkce", sig, into)
	return r, err
}

// DeletePKCERequestSession keeps the challenge: fosite deletes it before
// it compares the verifier, so a wrong verifier would leave the code
// without its challenge. It is part of the code's record, used once.
func (s *storage) DeletePKCERequestSession(context.Context, string) error { return nil }

// CreateOpenIDConnectSession adds a code's OpenID Connect request to the
// code the authorization request issues.
func (s *storage) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	if gathered, err := s.gatherCode(ctx, "oidc", s.codeSignature(ctx, code), r); gathered {
		return err
	}
	return s.putRequest(ctx, "oidc", code, r)
}

// GetOpenIDConnectSession reads a code's OpenID Connect request;
// fosite.ErrNotFound (openid.ErrNoSessionFound) when the code was not
// issued for the openid scope, and no ID token comes with it.
func (s *storage) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	if got, legacy, err := s.codePartRequest(ctx, "oidc", s.codeSignature(ctx, code), r.GetSession()); !legacy {
		return got, err
	}
	r, _, err := s.getRequest(ctx, LifeFlow, "oidc", code, r.GetSession())
	return r, err
}

// DeleteOpenIDConnectSession deletes nothing: fosite calls it at the
// exchange, after the code was invalidated, and a used code never comes
// to the OpenID Connect request again (its read fails first, and the
// used record keeps only the grant's id). A code of the earlier layout
// leaves its oidc record to expire with it.
func (s *storage) DeleteOpenIDConnectSession(context.Context, string) error { return nil }

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
	r, _ := requestOf(ctx)
	if r != nil && r.revoked == id {
		return nil // and the second time, nothing is left to do
	}
	tctx, cancel := context.WithTimeout(ctx, revokeWithin)
	defer cancel()
	wait := 20 * time.Millisecond
	for {
		err := s.revokeFamilyOnce(tctx, id)
		if err == nil {
			if r != nil {
				r.revoked = id
			}
			return nil
		}
		select {
		case <-tctx.Done():
		case <-time.After(wait):
			wait *= 2
			continue
		}
		if r != nil {
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

// usedCodeExpiry is when a code of fosite's form (codes of codeForm
// are kept usedCodeKeep) used now leaves the store, which keeps
// it to refuse (and revoke the grant of) another use of it for as long
// as it could be used: the longest a code lives, from now (the code's
// own expiry, in its session, is not decoded for this). That is the
// lifespan fosite gives codes, or a client's authorization code
// lifetime, should one be longer.
func (s *storage) usedCodeExpiry(ctx context.Context) time.Time {
	return time.Now().Add(max(s.p.fosite.Config.GetAuthorizeCodeLifespan(ctx), client.MaxAuthorizationCodeLifetime*time.Second))
}
