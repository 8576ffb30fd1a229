package oauth_test

import (
	"crypto/rand"
	"errors"
	"net/http"
	"testing"

	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/tenants/signing"
)

// While the master key is being replaced, what nodes of the old key made
// of a login (challenges, the verifiers the answers travel in, login
// session cookies) works at nodes of the new key that keep the old one,
// at every step of the flow; at a node that dropped the old key it is
// refused, as anything not made here is.
func TestReplacingTheMasterKeyEndsNoLogin(t *testing.T) {
	fb := newFlowBench(t)
	newKey := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(newKey)
	replacing := fb.withKeys(t, newKey, fb.w.Master)
	replaced := fb.withKeys(t, newKey)

	// The flow begins at a node of the old key and goes on, from each
	// step on, at a node of the new one.
	for from := 1; from < len(flowSteps); from++ {
		bf := &browserFlow{}
		for i, step := range flowSteps {
			at := fb
			if i >= from {
				at = replacing
			}
			step.run(t, at, bf)
		}
	}

	// The old key alone verifies and opens nothing the new key made...
	bf := &browserFlow{}
	flowSteps[0].run(t, replacing, bf)
	if _, err := fb.p.AcceptLogin(t.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "alice"}); !errors.Is(err, oauth.ErrChallengeNotFound) {
		t.Errorf("a challenge of the new key at a node of the old one: %v, want %v", err, oauth.ErrChallengeNotFound)
	}
	// ...and the new key alone nothing the old one made.
	bf = &browserFlow{}
	flowSteps[0].run(t, fb, bf)
	if _, err := replaced.p.AcceptLogin(t.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "alice"}); !errors.Is(err, oauth.ErrChallengeNotFound) {
		t.Errorf("a challenge of the old key at a node without it: %v, want %v", err, oauth.ErrChallengeNotFound)
	}
	flowSteps[1].run(t, fb, bf)
	if code, loc := authorizeStatus(t, replaced, bf, bf.next); code != http.StatusBadRequest {
		t.Errorf("a verifier of the old key at a node without it: %d, sent to %q, want 400", code, loc)
	}

	// A login session of the old key spares the user the login at a node
	// of the new key that keeps the old one, not at one that dropped it.
	bf = &browserFlow{}
	flowSteps[0].run(t, fb, bf)
	r, err := fb.p.AcceptLogin(t.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "alice", Remember: true})
	if err != nil {
		t.Fatal(err)
	}
	fb.get(t, bf, r.RedirectTo)
	for _, c := range []struct {
		name string
		at   *flowBench
		want string
	}{{"a node keeping the old key", replacing, "consent_challenge"}, {"a node without the old key", replaced, "login_challenge"}} {
		loc := authorizeAnswer(t, c.at, bf, "/t/acme/oauth2/auth?"+fb.authorizeQuery)
		if loc.Query().Get(c.want) == "" {
			t.Errorf("a new request with the old key's login session at %s: sent to %s, want a %s", c.name, loc, c.want)
		}
	}
}

// withKeys is fb at another node, whose keyring holds masters (the
// first seals and signs).
func (fb *flowBench) withKeys(t *testing.T, masters ...[]byte) *flowBench {
	t.Helper()
	keys, err := signing.NewKeyring(masters...)
	if err != nil {
		t.Fatal(err)
	}
	other := *fb
	other.p = fb.nodeWith(keys)
	return &other
}
