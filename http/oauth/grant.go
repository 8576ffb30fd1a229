package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
)

// grant is what the grant store keeps of a grant (one authorization and
// the tokens refreshed from it) under fam.{id}: small, and of the same
// size however often the grant was refreshed. Its tokens name it (access
// tokens by their grant_id claim, refresh tokens in their payload), so
// it lists none: revoking the grant is one revocation of its id
// ([Revocations]), and a refresh reads the grant and changes it with one
// compare-and-set.
//
// The JSON names are those of the family records earlier versions wrote,
// which are read still; what those lack has a CBOR name of its own (the
// CBOR encoding would follow the JSON name, "-", and leave it out).
type grant struct {
	_        struct{} `cbor:",toarray"`
	ClientID string   `json:"client_id"`
	Revoked  bool     `json:"revoked"`
	// Ends is when the grant's refresh tokens stop working, however
	// often they were rotated: the client's absolute lifetime after the
	// grant began.
	Ends time.Time `json:"ends"`
	// AccessEnds is when the last access token issued from the grant
	// expires: how long a revocation of the grant must last.
	AccessEnds time.Time `cbor:"access_ends" json:"-"`
	// Gen and MAC are the grant's current refresh token's generation and
	// MAC (see refreshTokenForm); Gen is 0 before the first.
	Gen uint64 `cbor:"gen" json:"-"`
	MAC string `cbor:"mac" json:"-"`
	// Request is the current refresh token's request (before the first,
	// that of the grant's first access token): its session holds the
	// user's claims, which userinfo reads.
	Request *storedRequest `cbor:"request" json:"-"`
	// Legacy are the access tokens a family record written before tokens
	// named their grant listed: they are revoked one by one with the
	// grant, until they have expired.
	Legacy []issued `json:"tokens,omitempty"`
}

// expires is when the grant store may let g go: when its refresh tokens
// end, or its last access token (a legacy one included) if that is
// later, so that a revoked grant's record says so until then. A grant
// whose end is not known (zero Ends) is kept as long as grants are
// ([LifeGrant]).
func (g *grant) expires() time.Time {
	if g.Ends.IsZero() {
		return time.Time{}
	}
	end := later(g.Ends, g.AccessEnds)
	for _, t := range g.Legacy {
		end = later(end, t.Exp)
	}
	return end
}

// issued is an access token a legacy family record lists.
type issued struct {
	_   struct{}  `cbor:",toarray"`
	JTI string    `json:"jti"`
	Exp time.Time `json:"exp"`
}

// tokenRecord is what userinfo read of an access token (at.{jti})
// before tokens named their grant.
type tokenRecord struct {
	Family string         `json:"family"`
	Claims map[string]any `json:"claims,omitempty"`
}

// grantState is a grant as the request read or created it, for the
// compare-and-set that changes it.
type grantState struct {
	id  string
	rec grant
	rev uint64
	// stored says that rev is the revision of a stored record (none was
	// found otherwise).
	stored bool
	// refreshing is set when the request refreshes with a refresh token
	// of the grant; usedGen and usedMAC are then the grant's current
	// refresh token as read, which the refresh uses up.
	refreshing bool
	usedGen    uint64
	usedMAC    string
	// presentedGen is the generation of the refresh token the request
	// refreshes with.
	presentedGen uint64
}

func errGrantRevoked() error { return fosite.ErrInvalidGrant.WithHint("The grant was revoked.") }

// readGrant reads grant id; a grant not stored comes back empty.
func (s *storage) readGrant(ctx context.Context, id string) (*grantState, error) {
	st, _, err := s.readGrantFrom(ctx, id, true)
	return st, err
}

// readGrantFrom is readGrant, reading what this node last wrote of the
// grant (see recent) unless fresh, and saying whether it did.
func (s *storage) readGrantFrom(ctx context.Context, id string, fresh bool) (*grantState, bool, error) {
	st := &grantState{id: id}
	rev, fromRecent, err := s.getRecent(ctx, LifeGrant, "fam", id, &st.rec, fresh)
	switch {
	case errors.Is(err, fosite.ErrNotFound):
		st.rec = grant{}
		return st, false, nil
	case err != nil:
		return nil, false, err
	}
	st.rev, st.stored = rev, true
	return st, fromRecent, nil
}

// grantAttempts is how many times changeGrant reads and writes a grant
// that others keep changing before it gives up.
const grantAttempts = 10

// changeGrant applies change to the grant st holds and stores it with a
// compare-and-set (a create when none is stored). When others changed it
// since it was read, it reads it again, after a short random pause that
// grows with each attempt so that requests racing on one grant (from
// several nodes) do not collide again in step, and calls change again
// with again set. When they still collide, the grant is busy:
// temporarily_unavailable, nothing changed.
func (s *storage) changeGrant(ctx context.Context, st *grantState, change func(g *grant, again bool) error) error {
	for attempt := range grantAttempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return err
			}
			fresh, err := s.readGrant(ctx, st.id)
			if err != nil {
				return err
			}
			st.rec, st.rev, st.stored = fresh.rec, fresh.rev, fresh.stored
		}
		g := st.rec
		if err := change(&g, attempt > 0); err != nil {
			return err
		}
		var rev uint64
		var err error
		if st.stored {
			rev, err = s.replace(ctx, LifeGrant, "fam", st.id, g, st.rev, g.expires())
		} else {
			rev, err = s.create(ctx, LifeGrant, "fam", st.id, g, g.expires())
		}
		if errors.Is(err, ErrGrantConflict) || errors.Is(err, ErrGrantExists) {
			continue
		}
		if err != nil {
			return err
		}
		st.rec, st.rev, st.stored = g, rev, true
		return nil
	}
	return fmt.Errorf("%w: grant %s: changed by others at each of %d attempts", ErrUnavailable, st.id, grantAttempts)
}

// startGrant is grant r begins: its client, and when its refresh tokens
// end.
func (s *storage) startGrant(r fosite.Requester) grant {
	g := grant{ClientID: r.GetClient().GetID()}
	if c, ok := r.GetClient().(*fositeClient); ok {
		g.Ends = s.p.now().Add(time.Duration(c.view.Settings.RefreshTokenAbsoluteLifetime) * time.Second)
	}
	return g
}

// reusesRefreshTokens reports whether c's refresh tokens stay usable
// after use (refresh_token_usage "reuse").
func reusesRefreshTokens(c fosite.Client) bool {
	fc, ok := c.(*fositeClient)
	return ok && fc.view.Settings.RefreshTokenUsage == client.RefreshReuse
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Access tokens (oauth2.AccessTokenStorage): nothing is stored for a
// client_credentials token, and nothing per token of a user's grant.

// CreateAccessTokenSession stores nothing: an access token names its
// grant (grant_id), by which a revocation revokes it (see Revocations),
// and carries the user's claims that userinfo answers, sealed (see
// sealUserClaims). A grant with a refresh token is written when the
// refresh token is stored (see GenerateRefreshToken). A token of a grant
// this node knows revoked (a reuse of its code revoked it meanwhile) is
// refused.
func (s *storage) CreateAccessTokenSession(ctx context.Context, _ string, r fosite.Requester) error {
	if clientCredentials(r) {
		return nil
	}
	req, err := requestOf(ctx)
	if err != nil {
		return err
	}
	if req.grant != nil && req.grant.id == r.GetID() {
		return nil
	}
	if s.p.revoked != nil && s.p.revoked.Revoked(req.tenant.Slug, grantRevocation(r.GetID())) {
		return errGrantRevoked()
	}
	if sess, ok := r.GetSession().(*session); ok && r.GetGrantedScopes().Has(scope.OpenID) && sess.Access != nil && sess.Access.Extra[userClaimsClaim] == nil {
		// The user's claims were too large for the token to carry
		// (maxSealedClaims): the grant's record keeps them for userinfo.
		return s.recordGrant(ctx, req, r, sess)
	}
	return nil
}

// recordGrant writes the record of grant r, issued an access token
// without a refresh token, for userinfo to read the user's claims from
// (see maxSealedClaims) and a revocation to mark.
func (s *storage) recordGrant(ctx context.Context, req *request, r fosite.Requester, sess *session) error {
	sr, err := storeRequest(r)
	if err != nil {
		return err
	}
	exp := sess.GetExpiresAt(fosite.AccessToken)
	start := func() grant {
		g := s.startGrant(r)
		if !r.GetClient().GetGrantTypes().Has("refresh_token") {
			// No refresh token will need it: kept as long as the
			// access token lives, not a refresh token's lifetime.
			g.Ends = exp
		}
		return g
	}
	st := &grantState{id: r.GetID(), rec: start()}
	st.rec.AccessEnds, st.rec.Request = exp, &sr
	rev, err := s.create(ctx, LifeGrant, "fam", st.id, st.rec, st.rec.expires())
	if err == nil {
		st.rev, st.stored = rev, true
		req.grant = st
		return nil
	}
	if !errors.Is(err, ErrGrantExists) {
		return err
	}
	// The grant exists: its authorization issued a token already
	// (hybrid), or a reuse of its code revoked it.
	if st, err = s.readGrant(ctx, r.GetID()); err != nil {
		return err
	}
	req.grant = st
	return s.changeGrant(ctx, st, func(g *grant, _ bool) error {
		if g.Revoked {
			return errGrantRevoked()
		}
		if !st.stored {
			*g = start()
		}
		g.AccessEnds = later(g.AccessEnds, exp)
		if g.Request == nil {
			g.Request = &sr
		}
		return nil
	})
}

func (s *storage) GetAccessTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound
}

func (s *storage) DeleteAccessTokenSession(context.Context, string) error { return fosite.ErrNotFound }

// Refresh tokens (oauth2.RefreshTokenStorage, oauth2.TokenRevocationStorage).
//
// A refresh reads the grant (GetRefreshTokenSession) and stores, with
// one compare-and-set, the new refresh token as the grant's current one
// (CreateRefreshTokenSession, its last write): the token used is used up
// by that write, and until it succeeds the token stays usable, so that a
// refresh failing for want of room loses nothing. Of two requests using
// one refresh token at once, the later write fails; it then revokes the
// grant.

// CreateRefreshTokenSession makes the refresh token sig the grant's
// current one, with its request, and notes when the access token issued
// with it expires.
func (s *storage) CreateRefreshTokenSession(ctx context.Context, sig, _ string, r fosite.Requester) error {
	rs, ok := parseRefreshSig(sig)
	if !ok || rs.grant != r.GetID() {
		return errors.New("oauth: a refresh token that does not name its grant")
	}
	req, err := requestOf(ctx)
	if err != nil {
		return err
	}
	sr, err := storeRequest(r)
	if err != nil {
		return err
	}
	st := req.grant
	if st == nil || st.id != rs.grant {
		if st, err = s.readGrant(ctx, rs.grant); err != nil {
			return err
		}
		req.grant = st
	}
	exp := r.GetSession().GetExpiresAt(fosite.AccessToken)
	rotating := st.refreshing && !reusesRefreshTokens(r.GetClient())
	usedGen, usedMAC := st.usedGen, st.usedMAC
	now := s.p.now()
	err = s.changeGrant(ctx, st, func(g *grant, again bool) error {
		switch {
		case g.Revoked:
			return errGrantRevoked()
		case again && rotating && (g.Gen != usedGen || g.MAC != usedMAC):
			// Another request refreshed with the same token since this
			// one read the grant.
			return errUsedTwice
		case again && st.refreshing && !rotating && !s.p.inFamilyWindow(st.presentedGen, g.Gen):
			// Others refreshed the grant past the token's window since
			// this request read it (at another node, when this one read
			// what it had written last: see recent).
			return errUsedTwice
		case !st.stored:
			*g = s.startGrant(r)
		}
		g.Gen, g.MAC = max(g.Gen, rs.gen), rs.mac
		g.Request = &sr
		g.AccessEnds = later(g.AccessEnds, exp)
		var live []issued
		for _, t := range g.Legacy {
			if now.Before(t.Exp) {
				live = append(live, t)
			}
		}
		g.Legacy = live
		return nil
	})
	if errors.Is(err, errUsedTwice) {
		if err := s.revokeFamily(ctx, rs.grant); err != nil {
			return err
		}
	}
	return err
}

// GetRefreshTokenSession reads the request of a refresh token's grant.
// A token used before, or of a revoked grant, comes with
// fosite.ErrInactiveToken, on which fosite revokes the grant (reuse
// detection). The session's refresh expiry is no later than the grant's
// end.
func (s *storage) GetRefreshTokenSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	rs, ok := parseRefreshSig(sig)
	if !ok {
		return s.legacyRefreshTokenSession(ctx, sig, into)
	}
	req, err := requestOf(ctx)
	if err != nil {
		return nil, err
	}
	// The grant as this node last wrote it, if it has that: a refresh
	// token used since, here or at another node, fails the refresh's
	// compare-and-set, and the refresh then reads the grant again and
	// finds it used (see changeGrant). A token that reads as not usable
	// is checked again against the store's grant, which another node
	// may have refreshed since.
	st, fromRecent, err := s.readGrantFrom(ctx, rs.grant, false)
	for {
		if err != nil {
			return nil, err
		}
		if !st.stored || st.rec.Request == nil || rs.gen > st.rec.Gen {
			err = fosite.ErrNotFound
		} else {
			var r *fosite.Request
			if r, err = st.rec.Request.load(ctx, s, into); err != nil {
				return nil, err
			}
			if fromRecent && reusesRefreshTokens(r.GetClient()) {
				// The new refresh token is of the generation after the
				// one read: read from a copy other nodes' refreshes have
				// passed, it would be born old, and leave its window that
				// many refreshes early. Rotating clients' tokens are made
				// from the grant their compare-and-set succeeds against.
				st, fromRecent, err = s.readGrantFrom(ctx, rs.grant, true)
				continue
			}
			var got fosite.Requester
			got, err = s.refreshing(ctx, req, st, r, rs.gen, rs.mac)
			if err == nil || !fromRecent {
				return got, err
			}
		}
		if !fromRecent {
			return nil, err
		}
		st, fromRecent, err = s.readGrantFrom(ctx, rs.grant, true)
	}
}

// refreshing notes in req that it refreshes grant st with the refresh
// token of generation gen and MAC mac, whose request is r, and checks
// that the token is usable: the grant's current one (for a client whose
// refresh tokens are reused, one of its latest familyTokens), of a
// grant not revoked.
func (s *storage) refreshing(ctx context.Context, req *request, st *grantState, r *fosite.Request, gen uint64, mac string) (fosite.Requester, error) {
	g := st.rec
	st.refreshing, st.usedGen, st.usedMAC, st.presentedGen = true, g.Gen, g.MAC, gen
	req.grant = st
	usable := gen == g.Gen && mac == g.MAC
	if reusesRefreshTokens(r.GetClient()) {
		usable = s.p.inFamilyWindow(gen, g.Gen)
	}
	if !usable || g.Revoked || s.p.revoking(ctx, st.id) {
		return r, fosite.ErrInactiveToken
	}
	if !g.Ends.IsZero() {
		if exp := r.GetSession().GetExpiresAt(fosite.RefreshToken); exp.IsZero() || g.Ends.Before(exp) {
			r.GetSession().SetExpiresAt(fosite.RefreshToken, g.Ends)
		}
	}
	return r, nil
}

// inFamilyWindow reports whether the refresh token of generation gen is
// one of the latest familyTokens of a grant at generation current: what a
// client whose refresh tokens are reused may still use.
func (p *Provider) inFamilyWindow(gen, current uint64) bool {
	return gen <= current && current-gen < uint64(p.familyTokens)
}

// legacyRefreshTokenSession reads a refresh token issued before refresh
// tokens named their grant, by its signature (rt.{signature}, whose
// record says whether it was used). It counts as the grant's generation
// 0: usable until the grant's first refresh token of this form.
func (s *storage) legacyRefreshTokenSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	req, err := requestOf(ctx)
	if err != nil {
		return nil, err
	}
	var rec codeRecord
	if _, err := s.get(ctx, LifeGrant, "rt", sig, &rec); err != nil {
		return nil, err
	}
	r, err := rec.Request.load(ctx, s, into)
	if err != nil {
		return nil, err
	}
	st, err := s.readGrant(ctx, r.GetID())
	if err != nil {
		return nil, err
	}
	if !st.stored {
		st.rec.ClientID = rec.Request.ClientID
	}
	got, err := s.refreshing(ctx, req, st, r, 0, "")
	if err == nil && !rec.Active {
		err = fosite.ErrInactiveToken
	}
	return got, err
}

// DeleteRefreshTokenSession deletes nothing: fosite calls it only when
// a used refresh token comes back, before it revokes the grant, and the
// grant is what makes a later use of that token revoke it again, should
// this revocation fail.
func (s *storage) DeleteRefreshTokenSession(context.Context, string) error { return nil }

// RotateRefreshToken checks that the request read the grant of the
// refresh token it uses (GetRefreshTokenSession, which checked the token
// was usable): the token is used up by CreateRefreshTokenSession's
// compare-and-set, which fails when another request used it meanwhile.
func (s *storage) RotateRefreshToken(ctx context.Context, requestID, _ string) error {
	req, err := requestOf(ctx)
	if err != nil {
		return err
	}
	if req.grant == nil || req.grant.id != requestID || !req.grant.refreshing {
		return fmt.Errorf("oauth: refresh of grant %s without reading it: %w", requestID, fosite.ErrNotFound)
	}
	return nil
}

// revokeFamilyOnce revokes a grant: its record says so (refresh tokens
// stop working), and its access tokens are revoked on every node by
// one revocation of the grant (with, for a legacy record, one of each
// token it lists).
func (s *storage) revokeFamilyOnce(ctx context.Context, id string) error {
	req, err := requestOf(ctx)
	if err != nil {
		return err
	}
	st := req.grant
	if st == nil || st.id != id {
		if st, err = s.readGrant(ctx, id); err != nil {
			return err
		}
	}
	if !st.stored || !st.rec.Revoked {
		if err := s.changeGrant(ctx, st, func(g *grant, _ bool) error {
			g.Revoked = true
			if !st.stored && req.codeGrant == id && g.Ends.IsZero() {
				// No record: a grant without refresh tokens, whose code
				// (of this version's form, so no refresh token of an
				// earlier version's either) was reused. Its record need
				// only outlast its access tokens' revocation, not be
				// kept as long as grants are.
				g.Ends = later(g.AccessEnds, s.p.now().Add(client.MaxAccessTokenLifetime*time.Second))
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if s.p.revoked == nil {
		return nil
	}
	now := s.p.now()
	until := st.rec.AccessEnds
	if until.IsZero() {
		// Not known (a grant revoked before its first token was
		// recorded): as long as any access token lives.
		until = now.Add(client.MaxAccessTokenLifetime * time.Second)
	}
	if now.Before(until) {
		if err := s.p.revoked.Revoke(ctx, req.tenant.Slug, grantRevocation(id), until); err != nil {
			return err
		}
	}
	for _, t := range st.rec.Legacy {
		if now.Before(t.Exp) {
			if err := s.p.revoked.Revoke(ctx, req.tenant.Slug, t.JTI, t.Exp); err != nil {
				return err
			}
		}
	}
	return nil
}
