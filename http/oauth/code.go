package oauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
)

// An authorization code is written once, with one create, and exchanged
// with one read and one compare-and-set.
//
// fosite's authorization handlers store a code's request three times:
// CreateAuthorizeCodeSession, then CreatePKCERequestSession and
// CreateOpenIDConnectSession, each with the request sanitized to its own
// parameters. Within an authorization request (see beginCode) those
// calls only gather the three into the request's pendingCode; once
// fosite has made its response, and before the response is sent, the
// code is written as one record under code.{signature} (storeCode). A
// code reaches the client only once its record is stored.
//
// At the token endpoint fosite's three reads (GetAuthorizeCodeSession,
// GetPKCERequestSession, GetOpenIDConnectSession) read that one record,
// which the request reads from the store once (readOnce), and each
// returns what its own record gave: a part keeps its form and its
// session as they were when fosite created it. A part fosite did not
// create (no code_challenge; no openid scope) is not found, as its
// record was not. InvalidateAuthorizeCodeSession replaces the record,
// with a compare-and-set, by what a reuse needs: the grant's id, on which
// fosite revokes the grant. Nothing is deleted (see
// DeleteOpenIDConnectSession).
//
// The used record is kept only usedCodeKeep, for the requests that read
// the code at the same moment: the code itself names its grant, its
// tenant and its expiry under a MAC (codeForm), so a code that verifies,
// has not expired and has no record was used, and its reuse revokes the
// grant as a used record's does (readCode). Used codes thus cost the
// store nothing after a second or two, however many flows run. A code
// that does not verify names nothing and reads nothing; an expired one
// without record is not found, and revokes nothing.
//
// A code of fosite's form (ory_ac_{key}.{signature}), which earlier
// versions issued, names nothing: its used record, under
// code.{signature}, is kept until the code expires, as it was.
//
// A code issued by the version before has no such record but three, in
// the earlier layout, which the code's own functions in grantstore.go
// still read and write: its request under ac.{signature} (a
// codeRecord), its PKCE request under pkce.{signature} and its OpenID
// Connect request under oidc.{code}. When code.{signature} is absent, a
// token request reads those (one read more, on that path only), so that
// a code issued by a node not yet upgraded is exchanged, and its reuse
// detected, at an upgraded one. The converse fails: a code issued by
// this version is not found at a node of the version before, which
// answers invalid_grant; the client starts its authorization again.
//
// A Create*Session outside an authorization request that gathers (there
// is none: fosite calls them only from NewAuthorizeResponse, which only
// Provider.issue calls, and it gathers) writes the earlier layout, which
// the token endpoint reads as well.

// issuedCode is an authorization code's record (code.{signature}).
type issuedCode struct {
	_ struct{} `cbor:",toarray"`
	// ID is the id of the code's request, which names the grant: all a
	// used code keeps, for a reuse of it to revoke the grant.
	ID string
	// Request is the code's request, as fosite stores a code's (its
	// form sanitized to redirect_uri and client_id); nil once the code
	// is used.
	Request *storedRequest
	// PKCE and OIDC are the code's PKCE request and OpenID Connect
	// request; nil when fosite stored none.
	PKCE *codePart
	OIDC *codePart
	// Expires is when the code expires, in Unix seconds, which its
	// record, used or not, does not outlive: a reuse is detected as long
	// as the code could be used.
	Expires int64
}

// codePart is a code's PKCE or OpenID Connect request: the code's
// request but for its form and, where it differs, its session.
type codePart struct {
	_    struct{} `cbor:",toarray"`
	Form url.Values
	// Session is the part's session when it is not the code's, byte
	// for byte (in a hybrid flow fosite stores the OpenID Connect
	// request after it added the code's hash to the session); nil
	// when it is.
	Session []byte
	// Request is the whole part when it differs from the code's request
	// in more than its form and session (fosite sanitizes one request
	// for all three, so it does not); Form and Session are nil then.
	Request *storedRequest
}

// request is part p of a code whose request is code.
func (p *codePart) request(code *storedRequest) storedRequest {
	if p.Request != nil {
		return *p.Request
	}
	sr := *code
	sr.Form = p.Form
	if p.Session != nil {
		sr.Session = p.Session
	}
	return sr
}

// bareRequest is sr encoded without its form and session: what a code's
// parts share with it.
func bareRequest(sr storedRequest) ([]byte, error) {
	sr.Form, sr.Session = nil, nil
	return recordEnc.Marshal(sr)
}

// pendingCode is the code an authorization request issues, gathered from
// fosite's creates (see gatherCode) until storeCode writes it.
type pendingCode struct {
	// sig is the code's signature, "" until fosite creates the code.
	sig string
	rec issuedCode
	// bare is the code's request's bareRequest.
	bare []byte
}

// beginCode makes what fosite stores of the code ctx's authorization
// request issues gather in the request, for storeCode to write.
func beginCode(ctx context.Context) {
	if r, err := requestOf(ctx); err == nil {
		r.issuing = &pendingCode{}
	}
}

// takeCode ends the gathering beginCode began, returning what it
// gathered: nil when nothing was gathered.
func takeCode(ctx context.Context) *pendingCode {
	r, err := requestOf(ctx)
	if err != nil || r.issuing == nil {
		return nil
	}
	pc := r.issuing
	r.issuing = nil
	if pc.sig == "" {
		return nil
	}
	return pc
}

// storeCode writes the code pc with one create.
func (s *storage) storeCode(ctx context.Context, pc *pendingCode) error {
	return s.put(ctx, LifeFlow, "code", codeID(pc.sig), pc.rec, timeOrZero(pc.rec.Expires))
}

// gatherCode adds r, which fosite stores under kind ("ac", "pkce" or
// "oidc") for the code of signature sig, to the code ctx's authorization
// request issues, and reports whether it did: it does not when the
// request gathers no code (see beginCode).
func (s *storage) gatherCode(ctx context.Context, kind, sig string, r fosite.Requester) (bool, error) {
	req, err := requestOf(ctx)
	if err != nil || req.issuing == nil {
		return false, nil
	}
	pc := req.issuing
	expires := codeExpiry(r.GetSession())
	sr, err := storeRequest(r)
	if err != nil {
		return true, err
	}
	bare, err := bareRequest(sr)
	if err != nil {
		return true, err
	}
	if kind == "ac" {
		if pc.sig != "" {
			return true, errors.New("oauth: a second authorization code in one authorization request")
		}
		if name, ok := parseCodeName(sig); ok && name.grant != sr.ID {
			return true, errors.New("oauth: an authorization code that names another grant than its request")
		}
		pc.sig, pc.bare, pc.rec = sig, bare, issuedCode{ID: sr.ID, Request: &sr, Expires: unixOrZero(expires)}
		return true, nil
	}
	if pc.sig == "" || sig != pc.sig {
		return true, fmt.Errorf("oauth: a %s request for a code the authorization request does not issue", kind)
	}
	part := &codePart{Form: sr.Form}
	if !bytes.Equal(sr.Session, pc.rec.Request.Session) {
		part.Session = sr.Session
	}
	if !bytes.Equal(bare, pc.bare) {
		part = &codePart{Request: &sr}
	}
	at := &pc.rec.PKCE
	if kind == "oidc" {
		at = &pc.rec.OIDC
	}
	if *at != nil {
		return true, fmt.Errorf("oauth: a second %s request for one authorization code", kind)
	}
	*at = part
	return true, nil
}

// codeExpiry is when the code of session sess expires; zero when it
// does not say. It reads the session without changing it (fosite's
// GetExpiresAt makes the session's map of expiries when it has none,
// which would change the session's encoding).
func codeExpiry(sess fosite.Session) time.Time {
	if s, ok := sess.(*session); ok {
		return s.ExpiresAt[fosite.AuthorizeCode]
	}
	return sess.GetExpiresAt(fosite.AuthorizeCode)
}

// unixOrZero is t in Unix seconds, rounded up; 0 for the zero time.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Add(time.Second - 1).Unix()
}

// timeOrZero is Unix time u; the zero time for 0.
func timeOrZero(u int64) time.Time {
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(u, 0)
}

// codeSignature is the signature of authorization code code, which
// names its record.
func (s *storage) codeSignature(ctx context.Context, code string) string {
	return s.p.tokens.AuthorizeCodeSignature(ctx, code)
}

// exchangedCode is what a token request read of the code it exchanges.
type exchangedCode struct {
	sig string
	// legacy says that the code has no record: the version before issued
	// it, in the earlier layout.
	legacy bool
	// used is the code's record as the request read it before it used
	// the code up: fosite reads the OpenID Connect request after that.
	used *issuedCode
}

// readCodeRecord is a code's record as a request read it, and its
// revision.
type readCodeRecord struct {
	sig string
	c   *issuedCode
	rev uint64
}

// readCode reads the record of the code of signature sig, with its
// revision. A code of fosite's form without a record is legacy: its
// parts are then read in the earlier layout (at most once: the request
// remembers it). A code of this form (codeForm) without a record was
// used (its record kept only usedCodeKeep) or has expired: one that has
// not expired reads as a used record, of the grant it names, with
// revision 0; an expired one is fosite.ErrNotFound.
func (s *storage) readCode(ctx context.Context, sig string) (c *issuedCode, rev uint64, legacy bool, err error) {
	req, err := requestOf(ctx)
	if err != nil {
		return nil, 0, false, err
	}
	if req.exchanged.sig == sig && req.exchanged.legacy {
		return nil, 0, true, nil
	}
	if req.codeRead.c != nil && req.codeRead.sig == sig {
		return req.codeRead.c, req.codeRead.rev, false, nil
	}
	name, named := parseCodeName(sig)
	if named {
		req.codeGrant = name.grant
	}
	c = new(issuedCode)
	// What this node wrote of the code, if it has that: a code another
	// node used since fails its compare-and-set (see recent).
	rev, _, err = s.getRecent(ctx, LifeFlow, "code", codeID(sig), c, false)
	if errors.Is(err, fosite.ErrNotFound) && named {
		if !time.Unix(name.expires, 0).After(s.p.now()) {
			return nil, 0, false, err
		}
		return &issuedCode{ID: name.grant, Expires: name.expires}, 0, false, nil
	}
	if errors.Is(err, fosite.ErrNotFound) {
		req.exchanged = exchangedCode{sig: sig, legacy: true}
		return nil, 0, true, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	req.codeRead = readCodeRecord{sig: sig, c: c, rev: rev}
	return c, rev, false, nil
}

// codeRequest reads the request of the code of signature sig, decoding
// its session into into, and whether the code can still be used. A used
// code's request has only its id (and into).
func (s *storage) codeRequest(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, bool, error) {
	c, _, legacy, err := s.readCode(ctx, sig)
	switch {
	case legacy:
		return s.getRequest(ctx, LifeFlow, "ac", sig, into)
	case err != nil:
		return nil, false, err
	case c.Request == nil:
		if into == nil {
			into = newSession()
		}
		return &fosite.Request{ID: c.ID, Session: into}, false, nil
	}
	r, err := c.Request.load(ctx, s, into)
	if err != nil {
		return nil, false, err
	}
	return r, true, nil
}

// usedCodeKeep is how long the record of a used code of this form
// (codeForm) is kept. It only has to outlive the requests that read the
// record before it was used: a request that read it unused fails its
// compare-and-set against the used record's revision, or, once that is
// gone, against nothing, and revokes the grant either way. A reuse
// after that finds no record, and the code, which verifies, names the
// grant to revoke (see readCode). A second or two is plenty; the record
// costs the store nothing after it.
const usedCodeKeep = 2 * time.Second

// invalidateCode is InvalidateAuthorizeCodeSession for a code of one
// record: the compare-and-set leaves of it only its grant's id. It
// reports false, doing nothing, for a code of the earlier layout.
func (s *storage) invalidateCode(ctx context.Context, sig string) (bool, error) {
	c, rev, legacy, err := s.readCode(ctx, sig)
	if legacy {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	if c.Request != nil {
		expires := timeOrZero(c.Expires)
		if _, named := parseCodeName(sig); named {
			expires = time.Now().Add(usedCodeKeep)
		} else if expires.IsZero() {
			expires = s.usedCodeExpiry(ctx)
		}
		err := s.update(ctx, LifeFlow, "code", codeID(sig), issuedCode{ID: c.ID, Expires: c.Expires}, rev, expires)
		s.forget(ctx, "code", codeID(sig))
		req, _ := requestOf(ctx)
		req.codeRead = readCodeRecord{}
		if err == nil {
			req.exchanged = exchangedCode{sig: sig, used: c}
			return true, nil
		}
		if !errors.Is(err, ErrGrantConflict) {
			return true, err
		}
	}
	if err := s.revokeFamily(ctx, c.ID); err != nil {
		return true, err
	}
	return true, errUsedTwice
}

// errCodeUsed is a PKCE or OpenID Connect request asked of a code that
// another request used: fosite asks only after the code's own read
// found it usable, so this does not happen, and were it to, the code
// gives nothing.
var errCodeUsed = fmt.Errorf("oauth: a part of a used code: %w", fosite.ErrInvalidatedAuthorizeCode)

// codePartRequest is the part kind ("pkce" or "oidc") of the code of
// signature sig, its session decoded into into; fosite.ErrNotFound
// (which is openid.ErrNoSessionFound too) when fosite stored none. It
// reports legacy, reading nothing more, for a code of the earlier
// layout.
func (s *storage) codePartRequest(ctx context.Context, kind, sig string, into fosite.Session) (r fosite.Requester, legacy bool, err error) {
	c, _, legacy, err := s.readCode(ctx, sig)
	if legacy || err != nil {
		return nil, legacy, err
	}
	if c.Request == nil {
		req, _ := requestOf(ctx)
		if req.exchanged.sig != sig || req.exchanged.used == nil {
			return nil, false, errCodeUsed
		}
		c = req.exchanged.used // the request used it up: as it read it
	}
	part := c.PKCE
	if kind == "oidc" {
		part = c.OIDC
	}
	if part == nil {
		return nil, false, fosite.ErrNotFound
	}
	sr := part.request(c.Request)
	got, err := sr.load(ctx, s, into)
	if err != nil {
		return nil, false, err
	}
	return got, false, nil
}
