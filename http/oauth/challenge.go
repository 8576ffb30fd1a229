package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/clavisiam/clavis/domain/scope"
)

// The authorization endpoint delegates the user's login and consent to
// the tenant's login application, as Ory Hydra does: the endpoint
// validates the request (client, redirect URI, response type, PKCE,
// scopes), remembers it as a flow and sends the browser to the login
// application with a login_challenge. The application authenticates the
// user however it likes and accepts (or rejects) the challenge through
// the tenant admin API, which answers where to send the browser next:
// back to the authorization endpoint with a single-use verifier, which
// carries the answer (see answer.go). Consent goes the same way, with a
// consent_challenge, for clients that require it and are not
// first-party. Challenges are signed (HMAC, bound to the tenant and the
// kind of challenge) and used once, by the browser's return; a flow
// lives flowLifetime.

// The kinds of challenge.
const (
	challengeLogin   = "login"   // kind of a login_challenge
	challengeConsent = "consent" // kind of a consent_challenge
)

// LoginAcceptance is what the login application says of the user it
// authenticated.
type LoginAcceptance struct {
	// Subject identifies the user; required.
	Subject string `json:"subject"`
	// Remember keeps a login session (a cookie at the tenant's issuer)
	// for RememberFor seconds (default a day), so that later
	// authorization requests skip the login application.
	Remember    bool `json:"remember"`
	RememberFor int  `json:"remember_for"`
	// ACR and AMR are the authentication context class and methods, for
	// the ID token.
	ACR string   `json:"acr"`
	AMR []string `json:"amr"`
	// Claims are claims about the user (email, name, ...) for the ID
	// token and userinfo.
	Claims map[string]any `json:"claims"`
	// Holds is the answering credential's hold on platform scopes (see
	// ConsentAcceptance.Holds): it applies here to a client that asks no
	// consent, whose requested scopes the login grants.
	Holds func(scope string) bool `json:"-"`
}

// ConsentAcceptance is what the user allowed.
type ConsentAcceptance struct {
	// GrantScope are the requested scopes the user granted; nil grants
	// all of them. The client's default scopes are granted regardless.
	GrantScope []string `json:"grant_scope"`
	// Holds reports whether the credential that answers holds a
	// platform scope (clavis:admin, …): a login application may grant a
	// person only the platform scopes its own credential holds, so that
	// whoever may answer challenges (clavis:login, which
	// clavis:clients:write implies) cannot sign anyone in with more. nil
	// holds every scope (the development login).
	Holds func(scope string) bool `json:"-"`
}

// Rejection is why the login application refused a request; it goes to
// the client as an RFC 6749 error.
type Rejection struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// LoginRequest is what the login application reads of a challenge.
type LoginRequest struct {
	Challenge      string      `json:"challenge"`
	Client         ClientInfo  `json:"client"`
	RequestedScope []string    `json:"requested_scope"`
	Skip           bool        `json:"skip"`
	Subject        string      `json:"subject,omitempty"`
	RequestURL     string      `json:"request_url"`
	OIDCContext    OIDCContext `json:"oidc_context"`
}

// ClientInfo is what a login or consent page may show of the client.
type ClientInfo struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	LogoURI    string `json:"logo_uri,omitempty"`
	ClientURI  string `json:"client_uri,omitempty"`
	PolicyURI  string `json:"policy_uri,omitempty"`
	TOSURI     string `json:"tos_uri,omitempty"`
	FirstParty bool   `json:"first_party"`
}

// OIDCContext are the OpenID Connect hints of the request.
type OIDCContext struct {
	LoginHint string   `json:"login_hint,omitempty"`
	UILocales []string `json:"ui_locales,omitempty"`
	ACRValues []string `json:"acr_values,omitempty"`
	Display   string   `json:"display,omitempty"`
}

// Redirect is where the login application sends the browser next.
type Redirect struct {
	RedirectTo string `json:"redirect_to"`
}

// Errors of the login and consent API.
var (
	// ErrChallengeNotFound is a challenge that is forged, of another
	// tenant or kind, expired, or unknown.
	ErrChallengeNotFound = errors.New("oauth: no such challenge")
	// ErrChallengeUsed is a challenge used before: its browser came
	// back with an answer, or an answer was kept with it (see
	// answer.go).
	ErrChallengeUsed = errors.New("oauth: the challenge was used")
	// ErrNoGrants is the login API of a provider without a grant store.
	ErrNoGrants = errors.New("oauth: the authorization endpoint is not served")
)

// BeyondAuthorityError is an answer that would grant a platform scope the
// answering credential does not hold.
type BeyondAuthorityError struct{ Scope string }

func (e *BeyondAuthorityError) Error() string {
	return "oauth: granting " + e.Scope + " needs a credential that holds it"
}

// checkHolds refuses scopes, or the platform scopes the flow's client
// gets by default, that holds does not hold (nil holds all).
func (p *Provider) checkHolds(ctx context.Context, fl *flow, scopes []string, holds func(string) bool) error {
	if holds == nil {
		return nil
	}
	all := slices.Clone(scopes)
	c, err := p.dir.ClientByID(ctx, fl.ClientID)
	if IsUnavailable(err) {
		// The client's default scopes are not known: nothing is granted
		// unchecked.
		return err
	}
	if err == nil {
		all = append(all, c.Settings.DefaultScopes...)
	}
	for _, sc := range all {
		if scope.IsPlatform(sc) && !holds(sc) {
			return &BeyondAuthorityError{Scope: sc}
		}
	}
	return nil
}

// InvalidInputError is an answer to a challenge that is not valid; its
// message says why.
type InvalidInputError struct{ Field, Reason string }

func (e *InvalidInputError) Error() string { return e.Field + ": " + e.Reason }

func rejection(r *Rejection) error {
	err := fosite.ErrAccessDenied
	if r == nil {
		return err
	}
	switch r.Error {
	case "login_required":
		err = fosite.ErrLoginRequired
	case "consent_required":
		err = fosite.ErrConsentRequired
	case "interaction_required":
		err = fosite.ErrInteractionRequired
	case "temporarily_unavailable":
		err = fosite.ErrTemporarilyUnavailable
	}
	if r.Description != "" {
		return err.WithDescription(r.Description)
	}
	return err
}

// Challenges and verifiers.

// challenge signs a flow's id for tenant and kind.
func (p *Provider) challenge(tenant, kind, id string) string {
	return id + "." + p.challengeMAC(tenant, kind, id)
}

// challengeMAC is the MAC of id for tenant and kind, under the current
// master key.
func (p *Provider) challengeMAC(tenant, kind, id string) string {
	return challengeMACWith(p.challengeKeys[0], tenant, kind, id)
}

func challengeMACWith(key []byte, tenant, kind, id string) string {
	return base64.RawURLEncoding.EncodeToString(sum(key, []byte(tenant+"\x00"+kind+"\x00"+id))[:16])
}

// validMAC reports whether mac is id's for tenant and kind under one of
// the master keys (see challengeKeys).
func (p *Provider) validMAC(tenant, kind, id, mac string) bool {
	for _, key := range p.challengeKeys {
		if hmac.Equal([]byte(mac), []byte(challengeMACWith(key, tenant, kind, id))) {
			return true
		}
	}
	return false
}

// challengeFlow opens a challenge of tenant and kind, read from the
// store when fresh (see readFlow).
func (p *Provider) challengeFlow(ctx context.Context, kind, challenge string, fresh bool) (*flow, uint64, error) {
	req, err := requestOf(ctx)
	if err != nil {
		return nil, 0, err
	}
	id, mac, ok := strings.Cut(challenge, ".")
	if !ok || !p.validMAC(req.tenant.Slug, kind, id, mac) {
		return nil, 0, ErrChallengeNotFound
	}
	want := challengeStage(kind)
	return p.readFlow(ctx, id, fresh, func(fl *flow, _ uint64) error {
		if fl.Stage != want {
			return ErrChallengeUsed
		}
		return nil
	})
}

// challengeStage is the stage of a flow waiting for an answer of kind.
func challengeStage(kind string) string {
	if kind == challengeConsent {
		return stageConsent
	}
	return stageLogin
}

// verifierFlow opens the verifier a browser brought back as kind: the
// flow moved to the stage of the answer it stands for, and the revision
// the browser's return moves it on from. A sealed verifier (see
// sealAnswer) is good while its flow is still at the revision it
// answered; a stored one while its flow keeps it.
func (p *Provider) verifierFlow(ctx context.Context, kind, v string) (*flow, uint64, error) {
	if strings.Contains(v, sealedMark) {
		req, err := requestOf(ctx)
		if err != nil {
			return nil, 0, err
		}
		id, answer, ok := p.openAnswer(req.tenant.Slug, kind, v)
		if !ok {
			return nil, 0, ErrChallengeNotFound
		}
		want := challengeStage(kind)
		fl, rev, err := p.readFlow(ctx, id, false, func(fl *flow, rev uint64) error {
			if fl.Stage != want || rev != answer.Rev {
				return ErrChallengeUsed
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		answer.apply(fl)
		return fl, rev, nil
	}
	id, secret, ok := strings.Cut(v, ".")
	if !ok {
		return nil, 0, ErrChallengeNotFound
	}
	return p.readFlow(ctx, id, false, func(fl *flow, _ uint64) error {
		if fl.Verifier == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(fl.Verifier)) != 1 {
			return ErrChallengeNotFound
		}
		// As a sealed one, a kept verifier is good only as the kind of
		// answer it stands for.
		if fl.Stage != answeredStage(kind) && fl.Stage != stageRejected {
			return ErrChallengeNotFound
		}
		return nil
	})
}

// answeredStage is the stage an acceptance of kind moves a flow to.
func answeredStage(kind string) string {
	if kind == challengeConsent {
		return stageConsented
	}
	return stageLoggedIn
}

// answer answers the challenge (of kind) with change, which moves its
// flow to the answer's stage, and returns where the browser goes next:
// back to the authorization endpoint with the answer sealed in the
// verifier, or, when it is too large for that, stored with the flow.
func (p *Provider) answer(ctx context.Context, slug, kind, challenge string, change func(*flow) error) (Redirect, error) {
	if p.grants == nil {
		return Redirect{}, ErrNoGrants
	}
	ctx, err := p.withTenant(ctx, slug)
	if err != nil {
		return Redirect{}, err
	}
	fl, rev, err := p.challengeFlow(ctx, kind, challenge, false)
	if err != nil {
		return Redirect{}, err
	}
	if err := change(fl); err != nil {
		return Redirect{}, err
	}
	v, ok := p.sealAnswer(slug, kind, fl.ID, answerOf(fl, rev))
	if !ok {
		fl.Verifier = newSecret()
		if err := p.saveFlow(ctx, fl, rev); err != nil {
			return Redirect{}, err
		}
		v = fl.ID + "." + fl.Verifier
	}
	return Redirect{RedirectTo: p.Issuer(slug) + "/oauth2/auth?" + kind + "_verifier=" + url.QueryEscape(v)}, nil
}

// LoginRequest is what the login application reads of a login
// challenge of tenant slug.
func (p *Provider) LoginRequest(ctx context.Context, slug, challenge string) (LoginRequest, error) {
	return p.describe(ctx, slug, challengeLogin, challenge)
}

// ConsentRequest is what the login application reads of a consent
// challenge of tenant slug: the same, with the subject.
func (p *Provider) ConsentRequest(ctx context.Context, slug, challenge string) (LoginRequest, error) {
	return p.describe(ctx, slug, challengeConsent, challenge)
}

func (p *Provider) describe(ctx context.Context, slug, kind, challenge string) (LoginRequest, error) {
	if p.grants == nil {
		return LoginRequest{}, ErrNoGrants
	}
	ctx, err := p.withTenant(ctx, slug)
	if err != nil {
		return LoginRequest{}, err
	}
	// What the login application is shown is the store's: a challenge
	// answered at another node reads as used.
	fl, _, err := p.challengeFlow(ctx, kind, challenge, true)
	if err != nil {
		return LoginRequest{}, err
	}
	c, err := p.dir.ClientByID(ctx, fl.ClientID)
	if IsUnavailable(err) {
		return LoginRequest{}, err
	}
	if err != nil {
		return LoginRequest{}, ErrChallengeNotFound
	}
	q, _ := url.ParseQuery(fl.Query)
	s := c.Settings
	lr := LoginRequest{
		Challenge: challenge,
		Client: ClientInfo{ClientID: c.ClientID, ClientName: s.ClientName, LogoURI: s.LogoURI, ClientURI: s.ClientURI,
			PolicyURI: s.PolicyURI, TOSURI: s.TOSURI, FirstParty: s.FirstParty},
		RequestedScope: strings.Fields(q.Get("scope")),
		Skip:           fl.Skip,
		RequestURL:     p.Issuer(slug) + "/oauth2/auth?" + fl.Query,
		OIDCContext: OIDCContext{LoginHint: q.Get("login_hint"), UILocales: strings.Fields(q.Get("ui_locales")),
			ACRValues: strings.Fields(q.Get("acr_values")), Display: q.Get("display")},
	}
	if lr.RequestedScope == nil {
		lr.RequestedScope = []string{}
	}
	if fl.Login != nil {
		lr.Subject = fl.Login.Subject
	}
	return lr, nil
}

// maxClaimsSize bounds the claims a login application gives.
const maxClaimsSize = 16 << 10

// maxRememberFor is the longest a login session lasts.
const maxRememberFor = 30 * 24 * 3600

// AcceptLogin accepts a login challenge of tenant slug for the user a.
func (p *Provider) AcceptLogin(ctx context.Context, slug, challenge string, a LoginAcceptance) (Redirect, error) {
	if err := a.validate(); err != nil {
		return Redirect{}, err
	}
	return p.answer(ctx, slug, challengeLogin, challenge, func(fl *flow) error {
		// A client that asks no consent gets what it requested once the
		// person is logged in: the login grants it.
		c, err := p.dir.ClientByID(ctx, fl.ClientID)
		if IsUnavailable(err) {
			return err
		}
		if err == nil && !needsConsent(&fositeClient{view: c}) {
			if err := p.checkHolds(ctx, fl, requestedScopes(fl), a.Holds); err != nil {
				return err
			}
		}
		a.Claims = userClaims(a.Claims)
		fl.Login, fl.AuthTime, fl.Stage = &a, p.now().UTC().Truncate(time.Second), stageLoggedIn
		return nil
	})
}

// AcceptConsent accepts a consent challenge of tenant slug.
func (p *Provider) AcceptConsent(ctx context.Context, slug, challenge string, a ConsentAcceptance) (Redirect, error) {
	return p.answer(ctx, slug, challengeConsent, challenge, func(fl *flow) error {
		granted, err := grantedScopes(requestedScopes(fl), a.GrantScope)
		if err != nil {
			return err
		}
		if err := p.checkHolds(ctx, fl, granted, a.Holds); err != nil {
			return err
		}
		fl.GrantedScopes, fl.Stage = granted, stageConsented
		return nil
	})
}

// RejectLogin rejects a login challenge: the client gets the error.
func (p *Provider) RejectLogin(ctx context.Context, slug, challenge string, r Rejection) (Redirect, error) {
	return p.reject(ctx, slug, challengeLogin, challenge, r)
}

// RejectConsent rejects a consent challenge: the client gets the error.
func (p *Provider) RejectConsent(ctx context.Context, slug, challenge string, r Rejection) (Redirect, error) {
	return p.reject(ctx, slug, challengeConsent, challenge, r)
}

func (p *Provider) reject(ctx context.Context, slug, kind, challenge string, r Rejection) (Redirect, error) {
	if r.Error == "" {
		r.Error = "access_denied"
	}
	if !slices.Contains([]string{"access_denied", "login_required", "consent_required", "interaction_required", "temporarily_unavailable"}, r.Error) {
		return Redirect{}, &InvalidInputError{"error", "one of access_denied, login_required, consent_required, interaction_required, temporarily_unavailable"}
	}
	if len(r.Description) > 500 || strings.ContainsAny(r.Description, "\"\\") {
		return Redirect{}, &InvalidInputError{"error_description", "at most 500 characters, without quotes or backslashes"}
	}
	return p.answer(ctx, slug, kind, challenge, func(fl *flow) error {
		fl.Rejection, fl.Stage = &r, stageRejected
		return nil
	})
}
