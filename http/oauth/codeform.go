package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// An authorization code names its grant, its tenant and its expiry:
//
//	ory_ac_g.{payload}.{mac}
//
// payload (base64url) is 16 random bytes, the code's expiry (Unix
// seconds, 8 bytes big-endian), a tag of the tenant's slug (8 bytes of
// a SHA-256) and the grant's id (the authorization request's id); mac
// (base64url) is its HMAC-SHA-256 under a key derived from the
// keyring's HMAC secret (the rotated secrets' keys still verify). So a
// code whose record is gone still says, if it verifies, which grant a
// use of it would revoke: a used code's record is kept only for
// usedCodeKeep (see code.go), and a reuse after that is told from a
// forgery by the MAC alone. Codes issued before this form
// (ory_ac_{key}.{signature}, fosite's) are read as they were, by their
// signature, and their used records kept until they expire.
const codeForm = "ory_ac_g."

// The parts of a code's payload.
const (
	codeRandom  = 16
	codeTagSize = 8
	codeHead    = codeRandom + 8 + codeTagSize // before the grant's id
	// maxCodeSize bounds a code of this form (a grant's id is a UUID,
	// the whole code about 150 bytes).
	maxCodeSize = 512
)

// codeName is what fosite's storage is given of a code of this form
// that verified for the request's tenant: its MAC, expiry and grant,
// written {mac}~{expires}~{grant}. A legacy signature has no ~ (see
// AuthorizeCodeSignature); a code that does not verify has the
// signature "", which names nothing.
type codeName struct {
	mac     string
	expires int64
	grant   string
}

func (c codeName) String() string {
	return c.mac + "~" + strconv.FormatInt(c.expires, 10) + "~" + c.grant
}

// id is the code's id in its record's key (code.{id}): g.{mac}, which
// no signature of fosite's (which has no dot) can be.
func (c codeName) id() string { return "g." + c.mac }

// parseCodeName reads a signature of this form; false for a legacy one.
func parseCodeName(sig string) (codeName, bool) {
	mac, rest, ok := strings.Cut(sig, "~")
	if !ok {
		return codeName{}, false
	}
	exp, grant, ok := strings.Cut(rest, "~")
	if !ok {
		return codeName{}, false
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || mac == "" || grant == "" {
		return codeName{}, false
	}
	return codeName{mac: mac, expires: n, grant: grant}, true
}

// codeID is the id in the key of the record of the code of signature
// sig: a code of this form's, or fosite's signature.
func codeID(sig string) string {
	if name, ok := parseCodeName(sig); ok {
		return name.id()
	}
	return sig
}

// codes is the form of authorization codes, of the keyring's HMAC
// secrets, the current one first.
func codes(secrets ...[]byte) macForm {
	return newMACForm(codeForm, "clavis authorization codes", maxCodeSize, secrets...)
}

// tenantTag binds a code to the tenant of slug.
func tenantTag(slug string) []byte {
	h := sha256.Sum256([]byte("clavis tenant\x00" + slug))
	return h[:codeTagSize]
}

// newCode makes a code of grant id of tenant slug, expiring at expires
// (Unix seconds).
func (p *Provider) newCode(slug, id string, expires int64) (string, codeName) {
	payload := make([]byte, codeHead, codeHead+len(id))
	_, _ = rand.Read(payload[:codeRandom]) // never fails (crypto/rand)
	binary.BigEndian.PutUint64(payload[codeRandom:], uint64(expires))
	copy(payload[codeRandom+8:], tenantTag(slug))
	payload = append(payload, id...)
	code, mac := p.codes.seal(payload)
	return code, codeName{mac: mac, expires: expires, grant: id}
}

// verifyCode verifies a code of this form, issued at tenant slug, and
// reads it.
func (p *Provider) verifyCode(slug, code string) (codeName, bool) {
	payload, mac, ok := p.codes.open(code)
	if !ok || len(payload) <= codeHead || !hmac.Equal(payload[codeRandom+8:codeHead], tenantTag(slug)) {
		return codeName{}, false
	}
	grant := string(payload[codeHead:])
	if !validGrantID(grant) {
		return codeName{}, false
	}
	return codeName{mac: mac, expires: int64(binary.BigEndian.Uint64(payload[codeRandom:])), grant: grant}, true
}

// verifyRequestCode is verifyCode of a code the request r brought, at
// its tenant: fosite asks for a code's signature several times a
// request, and r remembers the last code verified.
func (p *Provider) verifyRequestCode(r *request, code string) (codeName, bool) {
	if v := r.codeVerified; v.code == code && code != "" {
		return v.name, v.ok
	}
	name, ok := p.verifyCode(r.tenant.Slug, code)
	r.codeVerified = verifiedCode{code: code, name: name, ok: ok}
	return name, ok
}

// verifiedCode is a code a request verified, what it names, and whether
// it verified.
type verifiedCode struct {
	code string
	name codeName
	ok   bool
}

// GenerateAuthorizeCode makes a code of this form for the request's
// grant, expiring when fosite will say it does (the client's
// authorization_code_lifetime from now).
func (s *tokenStrategy) GenerateAuthorizeCode(ctx context.Context, r fosite.Requester) (string, string, error) {
	req, err := requestOf(ctx)
	if err != nil {
		return "", "", err
	}
	if !validGrantID(r.GetID()) {
		return "", "", errors.New("oauth: an authorization request without a usable id")
	}
	expires := unixOrZero(time.Now().Add(s.p.fosite.Config.GetAuthorizeCodeLifespan(ctx)))
	code, name := s.p.newCode(req.tenant.Slug, r.GetID(), expires)
	return code, name.String(), nil
}

// AuthorizeCodeSignature is what the grant store is given of a code
// (see codeName): "" for a code of this form that does not verify for
// the request's tenant; a legacy code's is fosite's.
func (s *tokenStrategy) AuthorizeCodeSignature(ctx context.Context, code string) string {
	if !strings.HasPrefix(code, codeForm) {
		// fosite returns whatever follows the code's dot, unchecked: one
		// with a ~ would read as a verified code of this form
		// (parseCodeName), naming any grant. Its own are base64url.
		sig := s.accessTokens.AuthorizeCodeSignature(ctx, code)
		if strings.Contains(sig, "~") {
			return ""
		}
		return sig
	}
	req, err := requestOf(ctx)
	if err != nil {
		return ""
	}
	name, ok := s.p.verifyRequestCode(req, code)
	if !ok {
		return ""
	}
	return name.String()
}

// ValidateAuthorizeCode checks a code's MAC (a legacy one's as fosite
// does) and its expiry, and the expiry its session gives, by the
// provider's clock.
func (s *tokenStrategy) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, code string) error {
	now := s.p.now().UTC()
	if exp := r.GetSession().GetExpiresAt(fosite.AuthorizeCode); !exp.IsZero() && exp.Before(now) {
		return fosite.ErrTokenExpired.WithHintf("Authorize code expired at '%s'.", exp)
	}
	if !strings.HasPrefix(code, codeForm) {
		return s.accessTokens.ValidateAuthorizeCode(ctx, r, code)
	}
	req, err := requestOf(ctx)
	if err != nil {
		return err
	}
	name, ok := s.p.verifyRequestCode(req, code)
	if !ok {
		return fosite.ErrTokenSignatureMismatch
	}
	if exp := time.Unix(name.expires, 0); exp.Before(now) {
		return fosite.ErrTokenExpired.WithHintf("Authorize code expired at '%s'.", exp)
	}
	return nil
}
