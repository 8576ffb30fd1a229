package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
)

// A flow is an authorization request waiting for the user, kept in the
// grant store (LifeRequest) between the authorization endpoint, the
// login application's answers and the browser's return.

// flowLifetime is how long a user has to log in and consent.
const flowLifetime = 30 * time.Minute

// The stages of a flow.
const (
	stageLogin     = "login"     // waiting for the login application
	stageLoggedIn  = "logged_in" // login accepted; the browser comes back
	stageConsent   = "consent"   // waiting for the consent answer
	stageConsented = "consented" // consent accepted; the browser comes back
	stageRejected  = "rejected"  // login or consent rejected
	stageDone      = "done"      // the browser came back: used up
)

// flow is an authorization request waiting for the user.
type flow struct {
	ID       string    `json:"id"`
	ClientID string    `json:"client_id"`
	Query    string    `json:"query"` // the authorization request's parameters
	Expires  time.Time `json:"expires"`
	Stage    string    `json:"stage"`
	Verifier string    `json:"verifier,omitempty"` // what the browser brings back
	// Created is when the authorization request came, to the second:
	// the ID token's requested_at, against which prompt and max_age are
	// judged.
	Created time.Time `json:"created"`
	// Browser is the hash of the flow cookie given to the browser that
	// made the request: only that browser may bring the verifier back,
	// so that nobody can hand a victim a login of their own.
	Browser string `json:"browser,omitempty"`

	// Skip is set when the user's login session already authenticated
	// them: the login application is not asked.
	Skip bool `json:"skip,omitempty"`

	Login         *LoginAcceptance `json:"login,omitempty"`
	AuthTime      time.Time        `json:"auth_time"`
	SessionID     string           `json:"session_id,omitempty"`
	GrantedScopes []string         `json:"granted_scopes,omitempty"`
	Rejection     *Rejection       `json:"rejection,omitempty"`
}

// loadFlow reads flow id, from recent unless fresh, and says whether it
// came from there.
func (p *Provider) loadFlow(ctx context.Context, id string, fresh bool) (*flow, uint64, bool, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, 0, false, ErrChallengeNotFound
	}
	var fl flow
	rev, fromRecent, err := p.store.getRecent(ctx, LifeRequest, "flow", id, &fl, fresh)
	if errors.Is(err, fosite.ErrNotFound) || (err == nil && !p.now().Before(fl.Expires)) {
		return nil, 0, fromRecent, ErrChallengeNotFound
	}
	if err != nil {
		return nil, 0, fromRecent, err
	}
	return &fl, rev, fromRecent, nil
}

// readFlow reads flow id for a step that uses it, which usable checks:
// what this node wrote of it last (see recent), or, when there is none
// or that is not usable (another node may have moved it on since), or
// when fresh, what the store holds. The step's compare-and-set against
// the revision read then fails if the flow changed since, as it would
// after a read from the store.
func (p *Provider) readFlow(ctx context.Context, id string, fresh bool, usable func(*flow, uint64) error) (*flow, uint64, error) {
	fl, rev, fromRecent, err := p.loadFlow(ctx, id, fresh)
	if err == nil {
		err = usable(fl, rev)
	}
	if err != nil && fromRecent {
		fl, rev, _, err = p.loadFlow(ctx, id, true)
		if err == nil {
			err = usable(fl, rev)
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return fl, rev, nil
}

// createFlow stores a new flow until it expires.
func (p *Provider) createFlow(ctx context.Context, fl *flow) error {
	return p.store.put(ctx, LifeRequest, "flow", fl.ID, fl, fl.Expires)
}

// saveFlow writes fl, until it expires, if nobody changed it since rev.
func (p *Provider) saveFlow(ctx context.Context, fl *flow, rev uint64) error {
	return p.saveFlowUntil(ctx, fl, rev, fl.Expires)
}

// saveFlowUntil is saveFlow, the store keeping fl until expires.
func (p *Provider) saveFlowUntil(ctx context.Context, fl *flow, rev uint64, expires time.Time) error {
	err := p.store.update(ctx, LifeRequest, "flow", fl.ID, fl, rev, expires)
	if fl.Stage == stageDone {
		p.store.forget(ctx, "flow", fl.ID)
	}
	if errors.Is(err, ErrGrantConflict) {
		return ErrChallengeUsed
	}
	return err
}

// usedFlowKept is how long the store keeps what is left of a used flow
// (see finish), if the flow does not expire before.
//
// What is left refuses nothing that its absence would let through: it
// has no verifier, so a verifier brought back again is refused as
// unknown either way; a request racing to use the flow still fails its
// compare-and-set, against a revision that is no longer the subject's
// whether the record changed or went; a challenge answered again is
// refused either way, as used (409) while the record is there, as
// unknown (404) after. Keeping it the flow's whole life (30 minutes)
// would fill the flow bucket at a sustained rate of flows (1,500 flows/s
// leave 2.7 million used flows in 30 minutes, more than its bytes and a
// few hundred bytes of an embedded node's heap each; a minute would
// still keep 90,000): ten seconds still tell a login application that
// answers again at once (a double submit, a retry after a timeout) that
// the flow was used.
const usedFlowKept = 10 * time.Second

// finish uses a flow up; it fails with [ErrChallengeUsed] when another
// request did, and with the store's error when it could not tell. What
// is left of the flow, for usedFlowKept, is what says its verifier and
// challenges were used: its request and login leave the store, whose
// bytes flows share (see [Life.MaxSize]). fl itself is not changed.
func (p *Provider) finish(ctx context.Context, fl *flow, rev uint64) error {
	if rev == 0 {
		return nil
	}
	used := &flow{ID: fl.ID, ClientID: fl.ClientID, Expires: fl.Expires, Stage: stageDone, Created: fl.Created}
	kept := time.Now().Add(usedFlowKept)
	if fl.Expires.Before(kept) {
		kept = fl.Expires
	}
	return p.saveFlowUntil(ctx, used, rev, kept)
}

// flowCookie names the cookie that binds flow id to its browser.
func flowCookie(id string) string { return "clavis_flow_" + strings.ReplaceAll(id, "-", "") }

// sameBrowser reports whether r comes from the browser that began fl.
func (p *Provider) sameBrowser(r *http.Request, fl *flow) bool {
	ck, err := r.Cookie(flowCookie(fl.ID))
	if err != nil || fl.Browser == "" {
		return false
	}
	sum := sha256.Sum256([]byte(ck.Value))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(fl.Browser)) == 1
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
