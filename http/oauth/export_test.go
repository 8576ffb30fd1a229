package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// InlineKeySetParses is how many inline key sets p has parsed.
func InlineKeySetParses(p *Provider) int64 { return p.inlineKeys.parses.Load() }

// ParseKeySet is parseKeySet: how a client's key set is read for use.
func ParseKeySet(raw []byte) (*jose.JSONWebKeySet, error) { return parseKeySet(raw) }

// CheckAssertionSize is checkAssertionSize: the bounds on a client
// assertion checked before anything else.
func CheckAssertionSize(assertion string) error { return checkAssertionSize(assertion) }

// AssertionAlg is the algorithm the token endpoint notes of a request's
// client assertion, unverified ("" when it notes none).
func AssertionAlg(assertion string) string {
	return assertionAlg(withAssertionAlg(context.Background(), assertion))
}

// AssertionAlgs are the algorithms a client assertion may name.
var AssertionAlgs = assertionAlgs

// ReadIDTokenHint is readIDTokenHint: the reading of an id_token_hint
// at the logout endpoint. It returns the hint's subject.
func ReadIDTokenHint(ctx context.Context, p *Provider, slug, token string) (string, error) {
	h, err := p.readIDTokenHint(ctx, slug, token)
	return h.Subject, err
}

// NewGrant leaves in p's grant store what a code exchange of client
// clientID of tenant slug for subject leaves (its family and a refresh
// token), without the authorization endpoint, and returns the refresh
// token.
func NewGrant(ctx context.Context, p *Provider, slug, clientID, subject string) (string, error) {
	ctx, ar, sess, err := codeExchange(ctx, p, slug, clientID, subject, map[string]any{"name": "Alice Liddell", "email": "alice@example.com", "email_verified": true})
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	sess.SetExpiresAt(fosite.AccessToken, now.Add(time.Hour).Round(time.Second))
	sess.SetExpiresAt(fosite.RefreshToken, now.Add(30*24*time.Hour).Round(time.Second))
	_, atSig, err := p.tokens.GenerateAccessToken(ctx, ar)
	if err != nil {
		return "", err
	}
	if err := p.store.CreateAccessTokenSession(ctx, atSig, ar); err != nil {
		return "", err
	}
	rt, rtSig, err := p.tokens.GenerateRefreshToken(ctx, ar)
	if err != nil {
		return "", err
	}
	return rt, p.store.CreateRefreshTokenSession(ctx, rtSig, atSig, ar)
}

// NewLegacyGrant leaves in p's grant store what a code exchange of the
// version before grants were CBOR records left, as JSON: the refresh
// token's record by its signature (fosite's form of refresh token), the
// family listing the access token, and the access token's userinfo
// record. It returns the refresh token and the access token, which
// names no grant.
func NewLegacyGrant(ctx context.Context, p *Provider, slug, clientID, subject string) (string, string, error) {
	ctx, ar, sess, err := codeExchange(ctx, p, slug, clientID, subject, map[string]any{"name": "Alice Liddell", "email": "alice@example.com"})
	if err != nil {
		return "", "", err
	}
	now := time.Now().UTC()
	exp := now.Add(time.Hour).Round(time.Second)
	sess.SetExpiresAt(fosite.AccessToken, exp)
	sess.SetExpiresAt(fosite.RefreshToken, now.Add(30*24*time.Hour).Round(time.Second))
	jwts := p.tokens.accessTokens.DefaultJWTStrategy
	at, _, err := jwts.GenerateAccessToken(ctx, ar) // without the grant_id claim
	if err != nil {
		return "", "", err
	}
	rt, sig, err := jwts.HMACSHAStrategy.GenerateRefreshToken(ctx, ar)
	if err != nil {
		return "", "", err
	}
	session, err := json.Marshal(sess)
	if err != nil {
		return "", "", err
	}
	id := ar.GetID()
	records := map[string]any{
		"rt." + sig: map[string]any{"active": true, "request": map[string]any{
			"id": id, "requested_at": ar.RequestedAt, "client_id": clientID,
			"scope": ar.RequestedScope, "granted_scope": ar.GrantedScope, "form": url.Values{}, "session": json.RawMessage(session),
		}},
		"fam." + id: map[string]any{"client_id": clientID, "revoked": false, "ends": now.Add(90 * 24 * time.Hour),
			"tokens": []map[string]any{{"jti": sess.Access.JTI, "exp": exp}}, "refresh": []string{sig}},
	}
	for key, rec := range records {
		raw, err := json.Marshal(rec)
		if err != nil {
			return "", "", err
		}
		if _, err := p.grants.Create(ctx, LifeGrant, slug+"."+key, raw, time.Time{}); err != nil {
			return "", "", err
		}
	}
	raw, err := json.Marshal(map[string]any{"family": id, "claims": sess.UserClaims})
	if err != nil {
		return "", "", err
	}
	_, err = p.grants.Create(ctx, LifeToken, slug+".at."+sess.Access.JTI, raw, time.Time{})
	return rt, at, err
}

// codeExchange is the access request of a code exchange of client
// clientID of tenant slug for subject, whose user claims are claims, as
// the token endpoint makes it (scopes openid, profile and email granted),
// with the tenant's context.
func codeExchange(ctx context.Context, p *Provider, slug, clientID, subject string, claims map[string]any) (context.Context, *fosite.AccessRequest, *session, error) {
	ctx, err := p.withTenant(ctx, slug)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := p.store.GetClient(ctx, clientID)
	if err != nil {
		return nil, nil, nil, err
	}
	sess := newSession()
	sess.Claims.Subject = subject
	sess.UserClaims = claims
	ar := fosite.NewAccessRequest(sess)
	ar.Client = c
	ar.GrantTypes = fosite.Arguments{"authorization_code"}
	ar.Form = url.Values{"grant_type": {"authorization_code"}}
	for _, sc := range []string{"openid", "profile", "email"} {
		ar.GrantScope(sc)
		ar.AppendRequestedScope(sc)
	}
	p.userGrant(ctx, ar, c.(*fositeClient), sess, subject)
	return ctx, ar, sess, nil
}

// GrantRecord is the stored record of the grant refreshToken (of this
// version's form) names, as the grant store holds it.
func GrantRecord(ctx context.Context, p *Provider, slug, refreshToken string) ([]byte, error) {
	sig, ok := p.readRefreshToken(refreshToken)
	if !ok {
		return nil, errors.New("not a refresh token of this version")
	}
	raw, _, err := p.grants.Get(ctx, LifeGrant, slug+".fam."+sig.grant)
	return raw, err
}

// CodeRecord is the stored record of authorization code code of tenant
// slug, as the grant store holds it.
func CodeRecord(ctx context.Context, p *Provider, slug, code string) ([]byte, error) {
	key, err := codeKey(ctx, p, slug, code)
	if err != nil {
		return nil, err
	}
	raw, _, err := p.grants.Get(ctx, LifeFlow, key)
	return raw, err
}

// codeKey is the key of the record of code code of tenant slug.
func codeKey(ctx context.Context, p *Provider, slug, code string) (string, error) {
	tctx, err := p.withTenant(ctx, slug)
	if err != nil {
		return "", err
	}
	sig := p.tokens.AuthorizeCodeSignature(tctx, code)
	if sig == "" {
		return "", errors.New("the code does not verify")
	}
	return slug + ".code." + codeID(sig), nil
}

// UsedCodeKeep is how long a used code's record is kept.
const UsedCodeKeep = usedCodeKeep

// CodeOfEarlierForm turns code, unused, of tenant slug into a code of
// fosite's form, which versions before codeForm issued: its record is
// moved to that code's signature. It returns that code.
func CodeOfEarlierForm(ctx context.Context, p *Provider, slug, code string) (string, error) {
	key, err := codeKey(ctx, p, slug, code)
	if err != nil {
		return "", err
	}
	raw, _, err := p.grants.Get(ctx, LifeFlow, key)
	if err != nil {
		return "", err
	}
	tctx, err := p.withTenant(ctx, slug)
	if err != nil {
		return "", err
	}
	old, sig, err := p.tokens.accessTokens.GenerateAuthorizeCode(tctx, fosite.NewRequest())
	if err != nil {
		return "", err
	}
	var c issuedCode
	if err := decodeRecord(raw, &c); err != nil {
		return "", err
	}
	if _, err := p.grants.Create(ctx, LifeFlow, slug+".code."+sig, raw, timeOrZero(c.Expires)); err != nil {
		return "", err
	}
	return old, p.grants.Delete(ctx, LifeFlow, key)
}

// CodeParts says how code record raw keeps the code's PKCE and OpenID
// Connect requests: "" when it has none, "form" when the part shares all
// but its form with the code's request, "form and session" when it
// shares all but those, "whole" when it keeps the whole request. used
// says that the record is a used code's, which keeps only its grant's id.
func CodeParts(raw []byte) (pkce, oidc string, used bool, err error) {
	var c issuedCode
	if err := decodeRecord(raw, &c); err != nil {
		return "", "", false, err
	}
	kept := func(p *codePart) string {
		switch {
		case p == nil:
			return ""
		case p.Request != nil:
			return "whole"
		case p.Session != nil:
			return "form and session"
		}
		return "form"
	}
	used = c.Request == nil && c.PKCE == nil && c.OIDC == nil && c.ID != ""
	return kept(c.PKCE), kept(c.OIDC), used, nil
}

// SplitCodeRecord rewrites the record of authorization code code of
// tenant slug as the version before stored a code: fosite's three
// creates, outside an authorization request that gathers them, each
// given what the record keeps of its part, write the code's request
// under ac.{signature}, its PKCE request under pkce.{signature} and its
// OpenID Connect request under oidc.{code}. The record is deleted.
func SplitCodeRecord(ctx context.Context, p *Provider, slug, code string) error {
	ctx, err := p.withTenant(ctx, slug)
	if err != nil {
		return err
	}
	sig := p.tokens.AuthorizeCodeSignature(ctx, code)
	raw, _, err := p.grants.Get(ctx, LifeFlow, slug+".code."+sig)
	if err != nil {
		return err
	}
	var c issuedCode
	if err := decodeRecord(raw, &c); err != nil {
		return err
	}
	if c.Request == nil {
		return errors.New("the code was used")
	}
	parts := []*storedRequest{c.Request, nil, nil}
	for i, part := range []*codePart{c.PKCE, c.OIDC} {
		if part != nil {
			sr := part.request(c.Request)
			parts[i+1] = &sr
		}
	}
	creates := []struct {
		key    string
		create func(fosite.Requester) error
	}{
		{"ac." + sig, func(r fosite.Requester) error { return p.store.CreateAuthorizeCodeSession(ctx, sig, r) }},
		{"pkce." + sig, func(r fosite.Requester) error { return p.store.CreatePKCERequestSession(ctx, sig, r) }},
		{"oidc." + code, func(r fosite.Requester) error { return p.store.CreateOpenIDConnectSession(ctx, code, r) }},
	}
	for i, cr := range creates {
		if parts[i] == nil {
			continue
		}
		r, err := parts[i].load(ctx, p.store, nil)
		if err != nil {
			return err
		}
		if err := cr.create(r); err != nil {
			return err
		}
		if _, _, err := p.grants.Get(context.Background(), LifeFlow, slug+"."+cr.key); err != nil {
			return fmt.Errorf("%s was not written: %w", cr.key, err)
		}
	}
	return p.grants.Delete(ctx, LifeFlow, slug+".code."+sig)
}

// DeleteCodeRecord deletes the record of code code of tenant slug, as
// its expiry does.
func DeleteCodeRecord(ctx context.Context, p *Provider, slug, code string) error {
	key, err := codeKey(ctx, p, slug, code)
	if err != nil {
		return err
	}
	return p.grants.Delete(ctx, LifeFlow, key)
}

// VerifiedBytes is the bytes of the variable-size claims p remembers of
// the tokens it verified.
func VerifiedBytes(p *Provider) int {
	p.verified.mu.RLock()
	defer p.verified.mu.RUnlock()
	n := 0
	for _, at := range p.verified.m {
		n += len(at.SealedUserClaims) + len(at.Subject) + len(at.ID) + len(at.Grant)
	}
	return n
}
