package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/guess"
	"github.com/clavisiam/clavis/projections"
)

// Form is a request's form parameters, each visited once per
// occurrence (fasthttp's Args is one).
type Form interface {
	VisitAll(func(key, value []byte))
}

// QuickClientCredentials answers the request the token endpoint gets
// most, and nothing else: a client_credentials grant of an active
// confidential client of tenant slug that authenticates with its
// registered client_secret_basic (authorization is the request's
// Authorization header) or client_secret_post and a live secret, asks
// only for scopes it may have and gets JWT access tokens; form holds no
// other parameter, none twice. It returns the answer's JSON, the same
// fosite's path gives (the same claims, signed alike; a test holds the
// two together). For any other request, and on any failure, it returns
// false having done nothing: the caller serves the request with
// [Provider.ServeToken], which gives fosite's answer, errors included.
//
// remoteAddr is the request's source, for the guess limiter
// (WithGuesses): a source or client over its limit is left to
// [Provider.ServeToken] too, which refuses it. A secret that does not
// verify is not recorded here: ServeToken verifies it again and records
// the failure.
//
// fosite's path costs about twice as much CPU per token (parsing the
// request twice, building a requester, session and response of maps,
// errors with stack traces); the token endpoint's throughput under load
// is what this buys.
func (p *Provider) QuickClientCredentials(ctx context.Context, slug, remoteAddr, authorization string, form Form) ([]byte, bool) {
	var grant, scope, formID, formSecret string
	seen, ok := 0, true
	form.VisitAll(func(k, v []byte) {
		var at *string
		var bit int
		switch string(k) {
		case "grant_type":
			at, bit = &grant, 1
		case "scope":
			at, bit = &scope, 2
		case "client_id":
			at, bit = &formID, 4
		case "client_secret":
			at, bit = &formSecret, 8
		default:
			ok = false
			return
		}
		if seen&bit != 0 {
			ok = false
			return
		}
		seen |= bit
		*at = string(v)
	})
	if !ok || grant != client.GrantClientCredentials {
		return nil, false
	}
	id, secret, method := formID, formSecret, client.AuthClientSecretPost
	if authorization != "" {
		if seen&(4|8) != 0 {
			return nil, false
		}
		var basic bool
		if id, secret, basic = BasicCredentials(authorization); !basic {
			return nil, false
		}
		method = client.AuthClientSecretBasic
	}
	if id == "" || secret == "" {
		return nil, false
	}
	if _, ok := p.guesses.Allow(remoteAddr, guess.Client{Tenant: slug, ID: id}); !ok {
		return nil, false
	}

	t, err := p.dir.Tenant(ctx, slug)
	if err != nil || t.Suspended {
		return nil, false
	}
	v, err := p.dir.ClientByID(ctx, id)
	if err != nil || v.Tenant != slug || !v.Active {
		return nil, false
	}
	s := v.Settings
	if s.TokenEndpointAuthMethod != method || s.AccessTokenType != client.AccessTokenJWT ||
		!slices.Contains(s.GrantTypes, client.GrantClientCredentials) || !p.secretVerifies(slug, v, secret) {
		return nil, false
	}
	granted := slices.Clone(s.DefaultScopes)
	for _, sc := range strings.Split(scope, " ") {
		switch {
		case sc == "":
		case !slices.Contains(s.DefaultScopes, sc) && !slices.Contains(s.OptionalScopes, sc):
			return nil, false // invalid_scope: fosite says so
		case !slices.Contains(granted, sc):
			granted = append(granted, sc)
		}
	}
	issuer := p.Issuer(slug)
	ctx = context.WithValue(ctx, requestKey{}, &request{tenant: t, issuer: issuer})
	key, err := p.openedSigningKey(ctx)
	if err != nil {
		return nil, false
	}

	// What fosite's path puts in the token (grantTo, then fosite's
	// JWTClaims.ToMap).
	sess := newSession()
	audience := accessClaims(issuer, v, granted, sess)
	now := p.now().UTC()
	exp := now.Add(lifespan(s, fosite.AccessToken, accessTokenLifespan))
	claims := sess.Access.Extra
	claims["sub"], claims["iss"], claims["jti"] = v.ClientID, issuer, sess.Access.JTI
	claims["aud"], claims["iat"], claims["exp"] = audience, now.Unix(), exp.Unix()
	claims["scope"] = strings.Join(granted, " ")
	token, _, err := p.compactJWS(key, sess.AccessHeader.ToMap(), claims)
	if err != nil {
		return nil, false
	}
	answer, err := json.Marshal(struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope"`
		TokenType   string `json:"token_type"`
	}{token, int64(exp.Sub(p.now().UTC()) / time.Second), strings.Join(granted, " "), "bearer"})
	if err != nil {
		return nil, false
	}
	return answer, true
}

// secretVerifies reports whether secret is one of v's live secrets, in
// constant time for each.
func (p *Provider) secretVerifies(tenant string, v projections.ClientView, secret string) bool {
	now, found := p.now(), false
	for _, s := range v.Secrets {
		if s.UsableAt(now) && p.verifySecret(tenant, v.ClientID, s.Hash, secret) {
			found = true
		}
	}
	return found
}

// BasicCredentials reads HTTP Basic credentials, each part
// form-urlencoded (RFC 6749 §2.3.1) as fosite reads them.
func BasicCredentials(authorization string) (id, secret string, ok bool) {
	scheme, creds, found := strings.Cut(authorization, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(creds)
	if err != nil {
		return "", "", false
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", false
	}
	return id, secret, true
}
