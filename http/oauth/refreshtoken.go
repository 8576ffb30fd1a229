package oauth

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/ory/fosite"
)

// A refresh token names its grant and its place in the grant's chain:
//
//	ory_rt_g.{payload}.{mac}
//
// payload (base64url) is the token's generation (a uvarint: 1 for the
// grant's first refresh token, one more at each refresh), 16 random
// bytes and the grant's id; mac (base64url) is its HMAC-SHA-256 under a
// key derived from the keyring's HMAC secret (the rotated secrets'
// keys still verify). So a refresh reads the grant's record directly,
// with no record per refresh token, and tells the grant's current token
// from one used before by comparing generations and MACs. Refresh
// tokens issued before this form (ory_rt_{key}.{signature}, fosite's)
// are read as they were, by their signature (see
// legacyRefreshTokenSession).
const refreshTokenForm = refreshTokenPrefix + "g."

// refreshSig is what fosite's storage is given of a refresh token of
// this form that verified: its grant, generation and MAC, written
// {grant}~{generation}~{mac} (a legacy signature has no ~). A token that
// does not verify has the signature "", which names nothing.
type refreshSig struct {
	grant string
	gen   uint64
	mac   string
}

func (r refreshSig) String() string {
	return r.grant + "~" + strconv.FormatUint(r.gen, 10) + "~" + r.mac
}

// parseRefreshSig reads a signature of this form; false for a legacy
// one.
func parseRefreshSig(sig string) (refreshSig, bool) {
	grant, rest, ok := strings.Cut(sig, "~")
	if !ok {
		return refreshSig{}, false
	}
	gen, mac, ok := strings.Cut(rest, "~")
	if !ok {
		return refreshSig{}, false
	}
	n, err := strconv.ParseUint(gen, 10, 64)
	if err != nil || grant == "" || mac == "" {
		return refreshSig{}, false
	}
	return refreshSig{grant: grant, gen: n, mac: mac}, true
}

// refreshTokens is the form of refresh tokens, of the keyring's HMAC
// secrets, the current one first.
func refreshTokens(secrets ...[]byte) macForm {
	return newMACForm(refreshTokenForm, "clavis refresh tokens", 1024, secrets...)
}

// newRefreshToken makes a refresh token of grant id, of generation gen.
func (p *Provider) newRefreshToken(id string, gen uint64) (string, refreshSig) {
	payload := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+16+len(id)), gen)
	payload = append(payload, make([]byte, 16)...)
	_, _ = rand.Read(payload[len(payload)-16:]) // never fails (crypto/rand)
	payload = append(payload, id...)
	token, mac := p.refreshTokens.seal(payload)
	return token, refreshSig{grant: id, gen: gen, mac: mac}
}

// readRefreshToken verifies a refresh token of this form and reads it.
func (p *Provider) readRefreshToken(token string) (refreshSig, bool) {
	payload, mac, ok := p.refreshTokens.open(token)
	if !ok {
		return refreshSig{}, false
	}
	gen, n := binary.Uvarint(payload)
	if n <= 0 || len(payload) <= n+16 {
		return refreshSig{}, false
	}
	return refreshSig{grant: string(payload[n+16:]), gen: gen, mac: mac}, true
}

// GenerateRefreshToken makes the next refresh token of the request's
// grant: the generation after the one the request read (see
// GetRefreshTokenSession), or the first. fosite makes it before it
// stores anything: a code exchange that makes one notes the grant in
// the request, whose record is then written once, with the refresh
// token (CreateRefreshTokenSession), not first with the access token.
func (s *tokenStrategy) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	req, err := requestOf(ctx)
	if err != nil {
		return "", "", err
	}
	if req.grant == nil || req.grant.id != r.GetID() {
		req.grant = &grantState{id: r.GetID()}
	}
	token, sig := s.p.newRefreshToken(r.GetID(), req.grant.rec.Gen+1)
	return token, sig.String(), nil
}

// RefreshTokenSignature is what the grant store is given of a refresh
// token (see refreshSig); a legacy token's is fosite's.
func (s *tokenStrategy) RefreshTokenSignature(ctx context.Context, token string) string {
	if !strings.HasPrefix(token, refreshTokenForm) {
		// fosite returns whatever follows the token's dot, unchecked:
		// one with a ~ would read as a verified signature of this form
		// (parseRefreshSig) and name any grant, whose reuse detection
		// would then revoke it. Its own signatures are base64url.
		sig := s.accessTokens.RefreshTokenSignature(ctx, token)
		if strings.Contains(sig, "~") {
			return ""
		}
		return sig
	}
	sig, ok := s.p.readRefreshToken(token)
	if !ok {
		return ""
	}
	return sig.String()
}
