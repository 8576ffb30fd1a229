// Package oauth makes every tenant an OAuth 2.0 authorization server, on
// github.com/ory/fosite. One fosite provider serves all tenants: the
// tenant of a request travels in its context, and the configuration
// fosite asks for (issuer, token URL) and the key it signs with follow it.
// Clients, secrets and keys come from the read model; the token path
// writes nothing.
//
// Served: the token endpoint with the client_credentials,
// authorization_code (PKCE) and refresh_token (rotated, reuse revokes the
// grant) grants; client authentication with none (public clients),
// client_secret_basic and client_secret_post (every active secret
// verifies, in constant time, with SHA-256: server secrets carry 256
// bits, so no slow hash is needed) and private_key_jwt (RFC 7523, each
// assertion once); the authorization endpoint, with login and consent
// delegated to the tenant's login application (challenge.go), the
// implicit and hybrid response types a client enables, ID tokens,
// userinfo and RP-initiated logout; access tokens as JWTs (RFC 9068)
// signed with the tenant's key or, per client, as encrypted reference
// tokens; introspection (RFC 7662), revocation (RFC 7009), registration
// access tokens (RFC 7592) and the metadata (RFC 8414, OpenID Connect
// discovery). What the browser flows remember between requests — flows,
// codes, refresh tokens, login sessions — is in a store every node shares
// (see [Grants]), so any node continues what another began; so are used
// client assertions ([Assertions]) and revoked tokens ([Revocations]).
// The provider declares these stores; package bucket keeps them in NATS.
package oauth

import (
	"context"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/clavisiam/clavis/domain/client"
	clientsecret "github.com/clavisiam/clavis/domain/client/secret"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/http/guess"
	"github.com/clavisiam/clavis/http/page"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants/signing"
)

// Directory is what the endpoints read: the read model.
type Directory interface {
	Tenant(ctx context.Context, slug string) (projections.TenantView, error)
	ClientByID(ctx context.Context, clientID string) (projections.ClientView, error)
}

// Provider serves the OAuth 2.0 endpoints of every tenant. It is safe for
// concurrent use.
type Provider struct {
	dir       Directory
	keys      *signing.Keyring
	publicURL string
	log       *slog.Logger
	fosite    *fosite.Fosite
	// now is the provider's clock (WithClock): every time the package
	// reads comes from it.
	now func() time.Time

	// opened caches opened signing keys by tenant and kid: opening one
	// decrypts and parses it.
	opened sync.Map // openedKey → signing.Key
	// headers caches the JWS headers signed with most, encoded.
	headers sync.Map // headerID → []byte
	// verified remembers access tokens whose signature verified.
	verified verifiedTokens
	// revoked keeps revoked tokens; nil without WithRevocations.
	revoked Revocations
	// revocations limits each client's revocation rate.
	revocations limiters
	// clientFlows and addressFlows limit the rate at which authorization
	// requests of a client, and from an address, store flows.
	clientFlows, addressFlows limiters
	// guesses slows down the guessing of client credentials (see
	// WithGuesses).
	guesses *guess.Limiter
	// refreshes limits each client's refresh rate; familyTokens is how
	// many refresh tokens of a grant stay usable when they are reused
	// (see RefreshLimit).
	refreshes    limiters
	familyTokens int
	// keySets fetches and keeps the key sets clients publish at their
	// jwks_uri.
	keySets *keySets
	// inlineKeys keeps clients' inline key sets parsed.
	inlineKeys inlineKeySets
	// assertions remembers used client assertions; nil without
	// WithAssertions (and then private_key_jwt is refused).
	assertions Assertions
	// grants keeps flows, codes and refresh tokens; nil without
	// WithGrants (and then only client_credentials is served).
	grants Grants
	// devLogin sends browsers of tenants without a login application to
	// the development login page.
	devLogin bool
	// store is fosite's storage, over the read model and the grants.
	store *storage
	// recent keeps the flows and codes this node wrote last, which their
	// next step reads.
	recent *recent
	// tokens makes and reads every kind of token.
	tokens *tokenStrategy
	// challengeKeys sign login and consent challenges and login session
	// cookies, and answerSeals seal the login application's answers into
	// verifiers (see sealAnswer): one of each per master key, the
	// current one first, which signs and seals; the others, of the
	// master keys being replaced, still verify and open, so that
	// replacing the master key ends no login session and no flow under
	// way.
	challengeKeys [][]byte
	answerSeals   []cipher.AEAD
	// refreshTokens and codes make and verify refresh tokens (see
	// refreshTokenForm) and authorization codes (see codeForm).
	refreshTokens, codes macForm
	// pendingRevocations are the grants whose revocation this node is
	// still trying to record (see revokeLater).
	pendingRevocations sync.Map // tenant.family → struct{}
}

type openedKey struct{ tenant, kid, sealed string }

// Option configures [New].
type Option func(*options) error

// options are what the [Option]s of [New] set; New starts from the
// defaults and copies them into the provider.
type options struct {
	now             func() time.Time
	grants          Grants
	assertions      Assertions
	revoked         Revocations
	devLogin        bool
	keySets         KeySetFetching
	revocationLimit RevocationLimit
	refreshLimit    RefreshLimit
	flowLimits      FlowLimits
	guesses         *guess.Limiter
}

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("oauth: invalid option")

// WithClock makes now the provider's clock: what it issues is dated by
// it, and what it is shown (tokens, codes, flows, sessions, assertions,
// secrets, signing keys) is judged by it, as are its rate limits. The
// default is [time.Now]. Times fosite itself reads (the expiry it gives
// a token it makes) stay the system's.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		o.now = now
		return nil
	}
}

// New returns the provider of every tenant under publicURL (the issuer of
// tenant acme is {publicURL}/t/acme), reading dir and opening signing keys
// with keys. A nil log logs nothing.
func New(dir Directory, keys *signing.Keyring, publicURL string, log *slog.Logger, opts ...Option) (*Provider, error) {
	if dir == nil || keys == nil || publicURL == "" {
		return nil, errors.New("oauth: a directory, a keyring and a public URL are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := options{now: time.Now, revocationLimit: DefaultRevocationLimit, refreshLimit: DefaultRefreshLimit, flowLimits: DefaultFlowLimits}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.guesses == nil {
		g, err := guess.New(guess.WithClock(o.now))
		if err != nil {
			return nil, err
		}
		o.guesses = g
	}
	p := &Provider{dir: dir, keys: keys, publicURL: strings.TrimRight(publicURL, "/"), log: log, now: o.now,
		verified: verifiedTokens{max: maxVerifiedTokens},
		grants:   readOnceGrants(o.grants), assertions: o.assertions, revoked: o.revoked, devLogin: o.devLogin,
		keySets: newKeySets(o.keySets), guesses: o.guesses, recent: newRecent(recentBytes, recentAge)}
	p.keySets.now = p.now
	p.revocations.limit, p.revocations.burst = o.revocationLimit.PerClient, o.revocationLimit.Burst
	p.clientFlows.limit, p.clientFlows.burst = o.flowLimits.PerClient, o.flowLimits.ClientBurst
	p.addressFlows.limit, p.addressFlows.burst = o.flowLimits.PerAddress, o.flowLimits.AddressBurst
	p.refreshes.limit, p.refreshes.burst, p.familyTokens = o.refreshLimit.PerClient, o.refreshLimit.Burst, o.refreshLimit.Tokens
	cfg := &config{p: p, Config: &fosite.Config{
		AccessTokenLifespan: accessTokenLifespan,
		ScopeStrategy:       fosite.ExactScopeStrategy,
		// A token's audience follows from its scopes: requests naming an
		// audience are refused before fosite sees them (errAudience), and
		// a refresh keeps the audience granted.
		AudienceMatchingStrategy: func([]string, []string) error { return nil },
		JWTScopeClaimKey:         jwt.JWTScopeFieldString, // RFC 9068: "scope", space-separated
		// Authorization codes and refresh tokens of fosite's form, which
		// earlier versions issued, are HMAC-signed with a secret every
		// node derives alike.
		GlobalSecret:               keys.HMACSecret(),
		RotatedGlobalSecrets:       keys.RotatedHMACSecrets(),
		SendDebugMessagesToClients: false,
		// A refresh token comes with every code exchange of a client
		// allowed the refresh_token grant, as in Keycloak.
		RefreshTokenScopes:          []string{},
		EnforcePKCEForPublicClients: true,
		JWKSFetcherStrategy:         p.keySets,
		// response_mode=form_post: a page whose script its policy
		// allows (fosite's own submits from an inline onload handler).
		FormPostHTMLTemplate: page.FormPost,
	}}
	secrets := append([][]byte{keys.HMACSecret()}, keys.RotatedHMACSecrets()...)
	p.challengeKeys = deriveKeys("clavis challenges", secrets...)
	for _, key := range deriveKeys("clavis answers", secrets...) {
		p.answerSeals = append(p.answerSeals, newAnswerSeal(key))
	}
	p.refreshTokens, p.codes = refreshTokens(secrets...), codes(secrets...)
	store := &storage{p: p}
	p.store = store
	access := &accessTokens{p: p, DefaultJWTStrategy: &oauth2.DefaultJWTStrategy{
		Signer:          &signer{DefaultSigner: &jwt.DefaultSigner{GetPrivateKey: p.signingKey}, p: p},
		HMACSHAStrategy: compose.NewOAuth2HMACStrategy(cfg),
		Config:          cfg,
	}}
	strategy := &tokenStrategy{accessTokens: access, ids: &openid.DefaultStrategy{Signer: access.Signer, Config: cfg}}
	p.tokens = strategy
	factories := []compose.Factory{compose.OAuth2ClientCredentialsGrantFactory}
	if p.grants != nil {
		factories = []compose.Factory{
			compose.OAuth2AuthorizeExplicitFactory, compose.OAuth2AuthorizeImplicitFactory,
			compose.OAuth2ClientCredentialsGrantFactory, compose.OAuth2RefreshTokenGrantFactory,
			compose.OpenIDConnectExplicitFactory, compose.OpenIDConnectImplicitFactory,
			compose.OpenIDConnectHybridFactory, compose.OpenIDConnectRefreshFactory,
			compose.OAuth2PKCEFactory,
		}
	}
	for _, f := range factories {
		h := f(cfg, store, strategy)
		if ah, ok := h.(fosite.AuthorizeEndpointHandler); ok {
			cfg.AuthorizeEndpointHandlers.Append(ah)
		}
		if th, ok := h.(fosite.TokenEndpointHandler); ok {
			// Not Append, which keeps one handler per type.
			cfg.TokenEndpointHandlers = append(cfg.TokenEndpointHandlers, onlyIfHandles{th})
		}
	}
	p.fosite = fosite.NewOAuth2Provider(store, cfg)
	cfg.ClientAuthenticationStrategy = p.authenticateClient
	return p, nil
}

// onlyIfHandles asks a token endpoint handler to complete a response
// only for requests it handles. fosite asks every handler, and each one
// that does not handle the request answers with a fresh stack trace
// (errorsx.WithStack): with the code, refresh and OpenID Connect
// handlers registered, a client_credentials token paid for five of them,
// an eighth of the token endpoint's time under load.
type onlyIfHandles struct{ fosite.TokenEndpointHandler }

func (h onlyIfHandles) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, resp)
}

// HandleTokenEndpointRequest spares the OpenID Connect code handler,
// which handles nothing there (its part of a code exchange is in
// PopulateTokenEndpointResponse), its answer with a fresh stack trace:
// fosite asks it about every code exchange.
func (h onlyIfHandles) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if _, ok := h.TokenEndpointHandler.(*openid.OpenIDConnectExplicitHandler); ok {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.HandleTokenEndpointRequest(ctx, r)
}

// tokenStrategy makes every kind of token: access tokens (accessTokens),
// refresh tokens (refreshTokenForm), authorization codes (codeForm) and
// ID tokens, all signed with the tenant's key; it reads the refresh
// tokens and codes of fosite's form that earlier versions issued.
type tokenStrategy struct {
	*accessTokens
	ids *openid.DefaultStrategy
}

func (s *tokenStrategy) GenerateIDToken(ctx context.Context, lifespan time.Duration, r fosite.Requester) (string, error) {
	return s.ids.GenerateIDToken(ctx, lifespan, r)
}

// ValidateRefreshToken checks a refresh token's MAC (a legacy one's as
// fosite does) and its expiry by the provider's clock.
func (s *tokenStrategy) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	if exp := r.GetSession().GetExpiresAt(fosite.RefreshToken); !exp.IsZero() && exp.Before(s.p.now().UTC()) {
		return fosite.ErrTokenExpired.WithHintf("Refresh token expired at '%s'.", exp)
	}
	if !strings.HasPrefix(token, refreshTokenForm) {
		return s.accessTokens.ValidateRefreshToken(ctx, r, token)
	}
	if sig, ok := s.p.readRefreshToken(token); !ok || sig.grant != r.GetID() {
		return fosite.ErrTokenSignatureMismatch
	}
	return nil
}

// accessTokenLifespan is an access token's lifetime for a client that
// sets none (settings are normalised with one, so: never).
const accessTokenLifespan = time.Hour

// maxVerifiedTokens bounds the tokens remembered as verified (about 300
// bytes each).
const maxVerifiedTokens = 100_000

// Revokes reports whether the provider serves revocation.
func (p *Provider) Revokes() bool { return p.revoked != nil }

// Issuer is tenant slug's issuer URL.
func (p *Provider) Issuer(slug string) string { return p.publicURL + "/t/" + slug }

// request is what one request's context carries: its tenant.
type request struct {
	tenant projections.TenantView
	issuer string
	// client is the client the request authenticated or named, once
	// fosite looked it up.
	client *fositeClient
	// grant is the grant the request read or created, for the one
	// compare-and-set that changes it (see grantState).
	grant *grantState
	// revocationPending is a grant revocation the request made that
	// failed (see revokeFamily); revoked the grant it revoked.
	revocationPending bool
	revoked           string
	// read are the grant records the request read and has not written
	// since (see readOnce).
	read readRecords
	// issuing gathers the authorization code the request issues, which
	// is written once (see storeCode); exchanged is what it read of the
	// code it exchanges (see readCode).
	issuing   *pendingCode
	exchanged exchangedCode
	// codeVerified is the last code the request verified (see
	// verifyRequestCode).
	codeVerified verifiedCode
	// codeRead is the record of the code the request exchanges as it
	// read it, decoded once for fosite's reads of the code and its parts.
	codeRead readCodeRecord
	// codeGrant is the grant that the code of this version's form
	// (codeForm) the request exchanges names.
	codeGrant string
}

type requestKey struct{}

func requestOf(ctx context.Context) (*request, error) {
	r, ok := ctx.Value(requestKey{}).(*request)
	if !ok {
		return nil, errors.New("oauth: no tenant in the request context")
	}
	return r, nil
}

// ErrUnknownTenant is a request for a tenant that does not exist.
var ErrUnknownTenant = errors.New("oauth: no such tenant")

// withTenant reads tenant slug and puts it in ctx.
func (p *Provider) withTenant(ctx context.Context, slug string) (context.Context, error) {
	t, err := p.dir.Tenant(ctx, slug)
	if errors.Is(err, projections.ErrNotFound) {
		return nil, ErrUnknownTenant
	}
	if err != nil {
		return nil, err
	}
	return context.WithValue(ctx, requestKey{}, &request{tenant: t, issuer: p.Issuer(slug)}), nil
}

// openedSigningKey is the key that signs for the request's tenant now.
func (p *Provider) openedSigningKey(ctx context.Context) (signing.Key, error) {
	r, err := requestOf(ctx)
	if err != nil {
		return signing.Key{}, err
	}
	k, ok := r.tenant.SigningKey(p.now())
	if !ok {
		return signing.Key{}, fmt.Errorf("tenant %s has no signing key: rotate one in (clavis tenant rotate-key)", r.tenant.Slug)
	}
	id := openedKey{tenant: r.tenant.Slug, kid: k.KID, sealed: k.Sealed}
	if opened, ok := p.opened.Load(id); ok {
		return opened.(signing.Key), nil
	}
	opened, err := p.keys.Open(r.tenant.Slug, k)
	if err != nil {
		return signing.Key{}, err
	}
	p.opened.Store(id, opened)
	return opened, nil
}

// signingKey is openedSigningKey as a JOSE key, for fosite's signer.
func (p *Provider) signingKey(ctx context.Context) (any, error) {
	k, err := p.openedSigningKey(ctx)
	if err != nil {
		return nil, err
	}
	jwk := k.JWK()
	return &jwk, nil
}

// ServeToken is the token endpoint of tenant slug (RFC 6749 §3.2),
// answering with RFC 6749 errors. For a tenant that does not exist it
// writes nothing and returns [ErrUnknownTenant].
func (p *Provider) ServeToken(w http.ResponseWriter, r *http.Request, slug string) error {
	sess := newSession()
	var ar fosite.AccessRequester = fosite.NewAccessRequest(sess)
	ctx, ok, err := p.begin(w, r, slug, ar)
	if !ok {
		return err
	}
	if ctx, ok = p.credentialsGiven(ctx, w, r, ar, r.PostFormValue); !ok {
		return nil
	}
	if r.PostFormValue("audience") != "" {
		p.writeError(ctx, w, r, ar, errAudience)
		return nil
	}
	if gt := r.PostFormValue("grant_type"); gt != "" && !slices.Contains(p.grantTypes(), gt) {
		// fosite calls a grant no handler takes invalid_request.
		p.writeError(ctx, w, r, ar, fosite.ErrUnsupportedGrantType.WithHintf("The grant type '%s' is not supported.", gt))
		return nil
	}
	ar, err = p.fosite.NewAccessRequest(ctx, r, sess)
	if err != nil {
		p.writeTokenError(ctx, w, r, ar, authError(r, err))
		return nil
	}
	c := ar.GetClient().(*fositeClient)
	switch stored := ar.GetSession().(*session); {
	case ar.GetGrantTypes().ExactOne(client.GrantClientCredentials):
		p.grant(ctx, ar, c, sess)
	case ar.GetGrantTypes().ExactOne(client.GrantRefreshToken):
		if !p.refreshes.allow(slug+"\x00"+c.GetID(), p.now()) {
			p.writeError(ctx, w, r, ar, errTooManyRefreshes())
			return nil
		}
		// The grant's session, from the grant store: what the access
		// token says of the client (permissions, claims, audience) is
		// what the client is now.
		stored.renew(uuid.NewString())
		p.userGrant(ctx, ar, c, stored, stored.Access.Subject)
	default:
		stored.renew(uuid.NewString())
	}
	resp, err := p.fosite.NewAccessResponse(ctx, ar)
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		// Another request used the code between this one's checks: what
		// it got is revoked, as for any reuse.
		if err = p.store.revokeFamily(ctx, ar.GetID()); err == nil {
			err = errUsedTwice
		}
	}
	if errors.Is(err, errUsedTwice) {
		err = fosite.ErrInvalidGrant.WithHint("The authorization code or refresh token was already used.")
	}
	if errors.Is(err, ErrGrantsFull) || errors.Is(err, ErrGrantTooLarge) {
		err = errNoRoom
	}
	if err != nil {
		p.writeTokenError(ctx, w, r, ar, err)
		return nil
	}
	p.fosite.WriteAccessResponse(ctx, w, ar, resp)
	return nil
}

// writeTokenError answers a token request that failed with err, unless
// it found a grant to revoke and could not record that (fosite may have
// called that a server error, or only added a hint to invalid_grant):
// then with errRevocationPending, to try again.
func (p *Provider) writeTokenError(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	if revocationPending(ctx) {
		err = errRevocationPending
	}
	p.writeError(ctx, w, r, ar, err)
}

// errAudience refuses the audience parameter (RFC 8707 resource
// indicators are not served).
var errAudience = fosite.ErrInvalidRequest.WithHint("The audience parameter is not supported: a token's audience follows from its scopes.")

// grantTypes are the grants the token endpoint serves.
func (p *Provider) grantTypes() []string {
	if p.grants == nil {
		return []string{client.GrantClientCredentials}
	}
	return []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials}
}

// begin starts a request to one of tenant slug's endpoints: it puts the
// tenant in the request's context and parses the request's parameters
// (see parseOnce). When it returns false it has answered (a server error,
// or invalid_request, written with ar), or, for a tenant that does not
// exist, returns [ErrUnknownTenant] having written nothing.
func (p *Provider) begin(w http.ResponseWriter, r *http.Request, slug string, ar fosite.AccessRequester) (context.Context, bool, error) {
	ctx, err := p.withTenant(r.Context(), slug)
	if errors.Is(err, ErrUnknownTenant) {
		return nil, false, err
	}
	if err != nil {
		p.writeError(r.Context(), w, r, ar, fosite.ErrServerError.WithWrap(err))
		return nil, false, nil
	}
	if err := parseOnce(r); err != nil {
		p.writeError(ctx, w, r, ar, err)
		return nil, false, nil
	}
	return ctx, true, nil
}

// credentialsGiven notes in ctx what a client assertion names (see
// withAssertionAlg), and answers invalid_client, as RFC 6749 §5.2 wants,
// to a request that carries no client authentication at all; form reads
// the request's parameters. It reports whether the request goes on.
func (p *Provider) credentialsGiven(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, form func(string) string) (context.Context, bool) {
	ctx = withAssertionAlg(ctx, form("client_assertion"))
	if r.Header.Get("Authorization") == "" && form("client_id") == "" && form("client_assertion") == "" {
		p.writeError(ctx, w, r, ar, fosite.ErrInvalidClient.WithHint("The request carries no client authentication."))
		return ctx, false
	}
	return ctx, true
}

// writeError answers an RFC 6749 error, logging server errors. An
// invalid_client after HTTP Basic comes with the WWW-Authenticate
// challenge RFC 6749 §5.2 requires. The hint, which may repeat what the
// request said (a grant type, a scope), is made describable first: the
// error_description holds only the characters §5.2 allows.
func (p *Provider) writeError(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	err = StoreUnavailable(err)
	rfc := p.logServerError(ctx, "token endpoint", err)
	if rfc != nil && (rfc.CodeField == http.StatusTooManyRequests || rfc.CodeField == http.StatusServiceUnavailable) {
		retry := RetryAfter
		var refused *guessesRefused
		if errors.As(err, &refused) {
			retry = guess.RetryAfter(refused.wait)
		}
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	if rfc != nil {
		if hint := describable(rfc.HintField); hint != rfc.HintField {
			rfc = rfc.WithHint(hint)
			err = rfc
		}
	}
	if rfc != nil && rfc.ErrorField == fosite.ErrInvalidClient.ErrorField {
		if _, _, basic := r.BasicAuth(); basic {
			req, _ := requestOf(ctx)
			w.Header().Set("WWW-Authenticate", `Basic realm="`+req.issuer+`"`)
		}
	}
	p.fosite.WriteAccessError(ctx, w, ar, err)
}

// RetryAfter is the Retry-After, in seconds, of a temporarily_unavailable
// or a 429 answer: a PostgreSQL restart or a burst is over in about that.
const RetryAfter = 1

// StoreUnavailable returns err as temporarily_unavailable (503) when the
// event store or the read model ([eventstore.ErrUnavailable]) or the
// grant store ([ErrUnavailable]) could not be reached, whatever fosite or
// a step made of it (a client lookup that failed becomes invalid_client
// in fosite, a flow that could not be read an invalid verifier); as the
// refusal a step of the grant store made, when fosite reported that as a
// server_error (see refusedByStore); and err otherwise.
func StoreUnavailable(err error) error {
	err = refusedByStore(err)
	switch {
	case IsUnavailable(err) && errors.Is(err, fosite.ErrTemporarilyUnavailable):
		return err
	case errors.Is(err, eventstore.ErrUnavailable):
		return fosite.ErrTemporarilyUnavailable.WithHint("The database cannot be reached right now; try again.").WithWrap(err)
	case errors.Is(err, ErrUnavailable):
		return fosite.ErrTemporarilyUnavailable.WithHint("The grant store cannot be reached right now; try again.").WithWrap(err)
	}
	return err
}

// refusedByStore returns the OAuth error a step of the grant store
// refused with, when fosite reported it as a server_error (it does so
// for any storage error at the refresh grant's last steps): a grant
// revoked by a concurrent reuse while a refresh went on is invalid_grant,
// not an unexpected condition; one over its rate or out of room is
// temporarily_unavailable. Other errors are returned as they are.
func refusedByStore(err error) error {
	var outer *fosite.RFC6749Error
	if !errors.As(err, &outer) || outer.ErrorField != fosite.ErrServerError.ErrorField {
		return err
	}
	var inner *fosite.RFC6749Error
	if cause := outer.Cause(); cause != nil && errors.As(cause, &inner) {
		switch inner.ErrorField {
		case fosite.ErrInvalidGrant.ErrorField, fosite.ErrTemporarilyUnavailable.ErrorField:
			return inner
		}
	}
	return err
}

// IsUnavailable reports whether err says that a store could not be
// reached ([eventstore.ErrUnavailable], [ErrUnavailable]): the request
// may succeed later, and is answered 503 with Retry-After.
func IsUnavailable(err error) bool {
	return errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, ErrUnavailable)
}

// logServerError logs err when it is a server error, with fosite's debug
// detail and cause, which the client never sees; it returns err as an
// RFC 6749 error, if it is one.
func (p *Provider) logServerError(ctx context.Context, msg string, err error) *fosite.RFC6749Error {
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) {
		p.log.ErrorContext(ctx, msg, "error", err)
		return nil
	}
	if rfc.CodeField >= http.StatusInternalServerError {
		// The innermost cause (under a temporarily_unavailable made of
		// fosite's server_error, under the stack fosite adds): what
		// failed, not the error code again.
		var c error = rfc
		for next := errors.Unwrap(c); next != nil; next = errors.Unwrap(c) {
			c = next
		}
		cause := ""
		if c != error(rfc) {
			cause = c.Error()
		}
		// A store that cannot be reached is an outage the operator
		// sees elsewhere too, and the client is told to come back: a
		// warning; anything else is a defect.
		level := slog.LevelError
		if rfc.CodeField == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		p.log.Log(ctx, level, msg, "error", rfc.ErrorField, "debug", rfc.DebugField, "cause", cause)
	}
	return rfc
}

// grant decides what a client_credentials token holds: the client's
// default scopes always, its optional scopes when requested (fosite
// refused any other scope with invalid_scope), and what grantTo adds.
func (p *Provider) grant(ctx context.Context, ar fosite.AccessRequester, c *fositeClient, sess *session) {
	for _, sc := range c.view.Settings.DefaultScopes {
		ar.GrantScope(sc)
	}
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	p.grantTo(ctx, ar, c, sess)
}

// grantTo completes the access token's claims for the scopes granted
// (accessClaims) and grants their audience.
func (p *Provider) grantTo(ctx context.Context, ar fosite.Requester, c *fositeClient, sess *session) {
	req, _ := requestOf(ctx)
	for _, a := range accessClaims(req.issuer, c.view, ar.GetGrantedScopes(), sess) {
		ar.GrantAudience(a)
	}
}

// accessClaims puts into sess's access token claims what scopes grant
// client v of the tenant at issuer: the permissions of each scope, each
// as "{scope}:{permission}" ([scope.Permission]), the
// client's claims, the client as subject (a user's flow replaces it)
// and a new jti. It returns the audience: the resource server of every
// API scope, and the issuer for the rest.
func accessClaims(issuer string, v projections.ClientView, scopes []string, sess *session) []string {
	s := v.Settings
	var audience, permissions []string
	for _, sc := range scopes {
		if code, _, ok := scope.Split(sc); ok && !scope.IsPlatform(sc) && !scope.IsIdentity(sc) {
			audience = appendNew(audience, code) // the API's resource server
		} else {
			audience = appendNew(audience, issuer) // the tenant's own APIs
		}
		for _, perm := range s.ScopePermissions[sc] {
			permissions = appendNew(permissions, scope.Permission(sc, perm))
		}
	}
	if len(audience) == 0 {
		audience = []string{issuer}
	}
	claims := sess.Access
	claims.Subject = v.ClientID
	claims.JTI = uuid.NewString()
	claims.Extra["client_id"] = v.ClientID
	if len(permissions) > 0 {
		claims.Extra["permissions"] = permissions
	}
	for name, values := range clientClaims(s) {
		if len(values) == 1 {
			claims.Extra[name] = values[0]
		} else {
			claims.Extra[name] = values
		}
	}
	return audience
}

// reservedClaims are the claims a client's own claims never replace.
var reservedClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "client_id", "permissions", grantClaim, "auth_time", "acr", "amr", "cnf", "typ", "purpose"}

// clientClaims are the client's claims by their name in the token: the
// client's prefix and the claim type; several values make a list.
func clientClaims(s client.Settings) map[string][]string {
	out := map[string][]string{}
	for _, c := range s.ClientClaims {
		name := s.ClientClaimsPrefix + c.Type
		if slices.Contains(reservedClaims, name) {
			continue
		}
		out[name] = append(out[name], c.Value)
	}
	return out
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// config is fosite's configuration with the per-tenant answers taken
// from the request's context.
type config struct {
	*fosite.Config
	p *Provider
}

// GetAccessTokenIssuer is the request's tenant's issuer.
func (c *config) GetAccessTokenIssuer(ctx context.Context) string {
	if r, err := requestOf(ctx); err == nil {
		return r.issuer
	}
	return ""
}

// GetIDTokenIssuer is the request's tenant's issuer.
func (c *config) GetIDTokenIssuer(ctx context.Context) string { return c.GetAccessTokenIssuer(ctx) }

// GetTokenURLs is the request's tenant's token endpoint: the audience a
// client assertion (RFC 7523) must name.
func (c *config) GetTokenURLs(ctx context.Context) []string {
	if r, err := requestOf(ctx); err == nil {
		return []string{r.issuer + "/oauth2/token"}
	}
	return nil
}

// GetEnforcePKCE requires PKCE of a client that says so (public
// clients always need it).
func (c *config) GetEnforcePKCE(ctx context.Context) bool {
	if r, err := requestOf(ctx); err == nil && r.client != nil {
		return r.client.view.Settings.RequirePKCE
	}
	return false
}

// GetEnablePKCEPlainChallengeMethod allows plain PKCE to a confidential
// client that allows it.
func (c *config) GetEnablePKCEPlainChallengeMethod(ctx context.Context) bool {
	if r, err := requestOf(ctx); err == nil && r.client != nil {
		return r.client.view.Settings.AllowPlainPKCE && !r.client.IsPublic()
	}
	return false
}

// GetAuthorizeCodeLifespan is how long the request's client's codes
// live: its authorization_code_lifetime, or fosite's lifespan when it has
// none.
func (c *config) GetAuthorizeCodeLifespan(ctx context.Context) time.Duration {
	if r, err := requestOf(ctx); err == nil && r.client != nil {
		return lifespan(r.client.view.Settings, fosite.AuthorizeCode, c.Config.GetAuthorizeCodeLifespan(ctx))
	}
	return c.Config.GetAuthorizeCodeLifespan(ctx)
}

// GetSecretsHasher verifies client secrets against their stored forms.
func (c *config) GetSecretsHasher(context.Context) fosite.Hasher { return secretHasher{p: c.p} }

// secretHasher compares a presented secret with a stored one
// (Provider.verifySecret) of the request's client.
type secretHasher struct{ p *Provider }

func (h secretHasher) Compare(ctx context.Context, hash, data []byte) error {
	r, err := requestOf(ctx)
	if err != nil || r.client == nil || len(hash) == 0 || !h.p.verifySecret(r.tenant.Slug, r.client.GetID(), string(hash), string(data)) {
		return errors.New("secret mismatch")
	}
	return nil
}

// verifySecret reports, in constant time, whether secret is the one
// stored as stored for client clientID of tenant: a "sha256$…" hash
// (package domain/client/secret), or a secret sealed for client_secret_jwt.
func (p *Provider) verifySecret(tenant, clientID, stored, secret string) bool {
	if !strings.HasPrefix(stored, signing.SealedSecretPrefix) {
		return clientsecret.Verify(stored, secret)
	}
	opened, err := p.keys.OpenSecret(tenant, clientID, stored)
	return err == nil && subtle.ConstantTimeCompare([]byte(opened), []byte(secret)) == 1
}

func (secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return []byte(clientsecret.Hash(string(data))), nil
}

// storage is fosite's storage over the read model. Access tokens are
// JWTs: nothing is stored when one is issued.
type storage struct{ p *Provider }

// GetClient finds a client of the request's tenant. A client of another
// tenant, an inactive client, or any client of a suspended tenant is not
// found: fosite answers invalid_client.
func (s *storage) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	r, err := requestOf(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.p.dir.ClientByID(ctx, id)
	if errors.Is(err, projections.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if v.Tenant != r.tenant.Slug || !v.Active || r.tenant.Suspended {
		return nil, fosite.ErrNotFound
	}
	c := newClient(v, s.p.now())
	c.assertionAlg = assertionAlg(ctx)
	c.inline = &s.p.inlineKeys
	if r.client == nil || r.client.GetID() == id {
		r.client = c
	}
	return c, nil
}

// ClientAssertionJWTValid accepts every jti: SetClientAssertionJWT, which
// fosite calls next, records it atomically and refuses a second use.
func (s *storage) ClientAssertionJWTValid(context.Context, string) error { return nil }

// SetClientAssertionJWT records a client assertion's jti, failing with
// invalid_client when it was used before, on any node.
func (s *storage) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	return s.p.useAssertion(ctx, jti, exp)
}
