package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/guess"
)

// Assertions remembers the client assertions (RFC 7523, private_key_jwt)
// already used, across every node, so that each is accepted once.
type Assertions interface {
	// Use records the assertion jti of a client of tenant, valid until
	// exp; it fails with [ErrReplayed] when it was recorded before.
	Use(ctx context.Context, tenant, clientID, jti string, exp time.Time) error
}

// ErrReplayed is a client assertion used a second time.
var ErrReplayed = errors.New("oauth: client assertion used before")

// WithAssertions accepts private_key_jwt client authentication, with
// replay protection from a.
func WithAssertions(a Assertions) Option {
	return func(o *options) error {
		if a == nil {
			return fmt.Errorf("%w: nil assertions", ErrInvalidOption)
		}
		o.assertions = a
		return nil
	}
}

// MaxAssertionLifetime is the longest a client assertion may live: the
// replay store keeps jtis that long.
const MaxAssertionLifetime = time.Hour

// assertionAlgs are the algorithms a client assertion may be signed
// with: asymmetric ones only (client_secret_jwt would need the secret
// in the clear, which is never stored).
var assertionAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

type assertionKey struct{}

// assertionInfo is what a request's client assertion says of itself,
// unverified: the algorithm it names, for fosite's check of the client's
// signing algorithm (fosite then verifies the signature with the
// client's registered key of that kind), and its issuer, which scopes
// its jti (fosite has checked iss against the client by the time it asks
// to record the jti).
// sub is the client fosite verifies an assertion for when the request
// has no client_id.
type assertionInfo struct{ alg, iss, sub string }

// withAssertionAlg notes what a request's client assertion names.
func withAssertionAlg(ctx context.Context, assertion string) context.Context {
	if assertion == "" || checkAssertionSize(assertion) != nil {
		return ctx
	}
	jws, err := jose.ParseSigned(assertion)
	if err != nil || len(jws.Signatures) != 1 {
		return ctx
	}
	var claims struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims)
	info := assertionInfo{iss: claims.Iss, sub: claims.Sub}
	if alg := jws.Signatures[0].Header.Algorithm; slices.Contains(assertionAlgs, alg) {
		info.alg = alg
	}
	return context.WithValue(ctx, assertionKey{}, info)
}

func assertionOf(ctx context.Context) assertionInfo {
	info, _ := ctx.Value(assertionKey{}).(assertionInfo)
	return info
}

func assertionAlg(ctx context.Context) string { return assertionOf(ctx).alg }

// useAssertion records a client assertion's jti for the request's tenant.
func (p *Provider) useAssertion(ctx context.Context, jti string, exp time.Time) error {
	if p.assertions == nil {
		return fosite.ErrInvalidClient.WithHint("Client assertions are not accepted here.")
	}
	r, err := requestOf(ctx)
	if err != nil {
		return err
	}
	if exp.After(p.now().Add(MaxAssertionLifetime)) {
		return fosite.ErrInvalidClient.WithHintf("A client assertion may live at most %s.", MaxAssertionLifetime)
	}
	err = p.assertions.Use(ctx, r.tenant.Slug, assertionOf(ctx).iss, jti, exp)
	if errors.Is(err, ErrReplayed) {
		return fosite.ErrInvalidClient.WithHint("The client assertion was used before.")
	}
	if err != nil {
		return fosite.ErrTemporarilyUnavailable.WithHint("Client assertions cannot be checked right now; try again.").WithWrap(err)
	}
	return nil
}

// authError makes an error of client authentication an RFC 6749 one:
// fosite passes some failures of a client assertion's checks (an expired
// one, say) through as plain errors, which would answer 500.
func authError(r *http.Request, err error) error {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) || r.PostForm.Get("client_assertion") == "" {
		return err
	}
	return fosite.ErrInvalidClient.WithHint("The client assertion is not valid.").WithWrap(err)
}

// Bounds on a client assertion, checked before anything else is done
// with it (it is parsed, its client looked up, its signature verified,
// all before the client is authenticated).
const (
	// MaxAssertionSize is the longest client assertion accepted, in
	// bytes: a compact JWT with the signature of the largest key accepted
	// (1,366 characters) leaves several KiB for its header and claims.
	MaxAssertionSize = 8 << 10
	// maxAssertionSignature is the longest signature any accepted key
	// makes, in bytes: RSA at client.MaxRSAKeyBits (ECDSA P-521: 132).
	// crypto/rsa refuses a signature whose length is not the key's
	// before any arithmetic, so no key larger than this is ever used.
	maxAssertionSignature = client.MaxRSAKeyBits / 8
)

// checkAssertionSize refuses a client assertion that is not a compact
// JWT (RFC 7519 §7.2) of at most MaxAssertionSize bytes whose signature
// is no longer than maxAssertionSignature.
func checkAssertionSize(assertion string) error {
	if len(assertion) > MaxAssertionSize {
		return fosite.ErrInvalidClient.WithHintf("A client assertion may be at most %d bytes.", MaxAssertionSize)
	}
	if strings.Count(assertion, ".") != 2 {
		return fosite.ErrInvalidClient.WithHint("The client assertion must be a JWT in compact serialization.")
	}
	signature := assertion[strings.LastIndexByte(assertion, '.')+1:]
	if base64.RawURLEncoding.DecodedLen(len(signature)) > maxAssertionSignature {
		return fosite.ErrInvalidClient.WithHintf("The client assertion's signature is longer than any accepted key makes (%d bytes).", maxAssertionSignature)
	}
	return nil
}

// jwtBearer is the client_assertion_type of RFC 7523 §2.2.
const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// secretAssertionAlgs are the algorithms of client_secret_jwt: HMAC with
// the client's secret.
var secretAssertionAlgs = []string{"HS256", "HS384", "HS512"}

// authenticateClient is fosite's client authentication with
// client_secret_jwt added, which fosite does not offer, and every client
// assertion's size bounded first (checkAssertionSize): an assertion
// MACed with the secret is checked here (secretJWTClient); every other
// request goes to fosite's own strategy. Before anything, the guess
// limiter (WithGuesses) may refuse the request, by its remote address and
// the client it names; a failure is recorded there.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	req, err := requestOf(ctx)
	if err != nil {
		return nil, err
	}
	who := guess.Client{Tenant: req.tenant.Slug, ID: guessedClient(ctx, r, form)}
	if wait, ok := p.guesses.Allow(r.RemoteAddr, who); !ok {
		return nil, errTooManyGuesses(wait)
	}
	c, err := p.verifyClient(ctx, r, form)
	if isAuthFailure(err) {
		p.guesses.Fail(r.RemoteAddr, who)
	}
	return c, err
}

// verifyClient is authenticateClient once the guess limiter let the
// request go on.
func (p *Provider) verifyClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	if a := form.Get("client_assertion"); a != "" && form.Get("client_assertion_type") == jwtBearer {
		if err := checkAssertionSize(a); err != nil {
			return nil, err
		}
	}
	if form.Get("client_assertion_type") == jwtBearer {
		if jws, err := jose.ParseSigned(form.Get("client_assertion")); err == nil && len(jws.Signatures) == 1 &&
			slices.Contains(secretAssertionAlgs, jws.Signatures[0].Header.Algorithm) {
			return p.secretJWTClient(ctx, form, jws)
		}
	}
	c, err := p.fosite.DefaultClientAuthenticationStrategy(ctx, r, form)
	// fosite answers an assertion whose key it cannot find (no such kid,
	// an empty set, a key of another kind) with invalid_request; RFC 7523
	// §3.2 says an assertion that does not authenticate is invalid_client.
	var rfc *fosite.RFC6749Error
	if err != nil && form.Get("client_assertion_type") == jwtBearer && form.Get("client_assertion") != "" &&
		errors.As(err, &rfc) && rfc.ErrorField == fosite.ErrInvalidRequest.ErrorField {
		return nil, fosite.ErrInvalidClient.WithHint(rfc.HintField).WithDebug(rfc.DebugField)
	}
	return c, err
}

// secretJWTClient authenticates a client_secret_jwt client (RFC 7523
// §2.2, OpenID Connect Core §9): the assertion names the client as iss
// and sub, the token endpoint as aud, expires within
// MaxAssertionLifetime, carries a jti used once, and is MACed with one of
// the client's live secrets. Such a client's secrets are kept sealed
// (signing.Keyring.SealSecret), so the MAC can be recomputed; a secret
// only hashed (added before the client switched to client_secret_jwt)
// verifies nothing here.
func (p *Provider) secretJWTClient(ctx context.Context, form url.Values, jws *jose.JSONWebSignature) (fosite.Client, error) {
	invalid := func(hint string) (fosite.Client, error) {
		return nil, fosite.ErrInvalidClient.WithHint(hint)
	}
	var claims struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud any    `json:"aud"`
		Exp *int64 `json:"exp"`
		Nbf *int64 `json:"nbf"`
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return invalid("The client assertion's claims do not decode.")
	}
	now := p.now()
	switch {
	case claims.Iss == "" || claims.Iss != claims.Sub:
		return invalid("The client assertion's iss and sub must both be the client_id.")
	case form.Get("client_id") != "" && form.Get("client_id") != claims.Iss:
		return invalid("The client assertion is not the client_id's.")
	case claims.Exp == nil || !now.Before(time.Unix(*claims.Exp, 0)):
		return invalid("The client assertion has no exp or has expired.")
	case time.Unix(*claims.Exp, 0).After(now.Add(MaxAssertionLifetime)):
		return invalid(fmt.Sprintf("A client assertion may live at most %s.", MaxAssertionLifetime))
	case claims.Nbf != nil && time.Unix(*claims.Nbf, 0).After(now.Add(clockSkew)):
		return invalid("The client assertion is not valid yet.")
	case claims.JTI == "":
		return invalid("The client assertion has no jti.")
	}
	req, err := requestOf(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(audience(claims.Aud), req.issuer+"/oauth2/token") {
		return invalid("The client assertion's aud must be the token endpoint.")
	}
	fc, err := p.store.GetClient(ctx, claims.Iss)
	if errors.Is(err, fosite.ErrNotFound) {
		return invalid("The client does not exist or is not active.")
	}
	if err != nil {
		return nil, fosite.ErrServerError.WithWrap(err)
	}
	c := fc.(*fositeClient)
	if c.view.Settings.TokenEndpointAuthMethod != client.AuthClientSecretJWT {
		return invalid("The client is not registered for client_secret_jwt.")
	}
	verified := false
	for _, s := range c.view.Secrets {
		if !s.UsableAt(now) {
			continue
		}
		secret, err := p.keys.OpenSecret(req.tenant.Slug, c.GetID(), s.Hash)
		if err != nil {
			continue // a hashed secret: it cannot check a MAC
		}
		if _, err := jws.Verify([]byte(secret)); err == nil {
			verified = true
		}
	}
	if !verified {
		return invalid("The client assertion is not MACed with a live secret of the client.")
	}
	if err := p.useAssertion(ctx, claims.JTI, time.Unix(*claims.Exp, 0)); err != nil {
		return nil, err
	}
	return c, nil
}
