package oauth_test

import (
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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

	// The confirmation of a logout the old key asked for logs the user
	// out where the new key comes first: the next request asks for a
	// login again.
	page := logoutAt(t, fb, bf, nil)
	_, rest, _ := strings.Cut(page, `name="confirm" value="`)
	confirm, _, _ := strings.Cut(rest, `"`)
	if confirm == "" {
		t.Fatalf("no confirmation asked at a node of the old key: %s", page)
	}
	if page := logoutAt(t, replacing, bf, url.Values{"confirm": {confirm}}); !strings.Contains(page, "You are logged out.") {
		t.Errorf("the old key's logout confirmation where the new key comes first: %s", page)
	}
	if loc := authorizeAnswer(t, replacing, bf, "/t/acme/oauth2/auth?"+fb.authorizeQuery); loc.Query().Get("login_challenge") == "" {
		t.Errorf("a new request after the logout: sent to %s, want a login_challenge", loc)
	}
}

// logoutAt is the page fb's logout endpoint answers bf's browser with,
// for a POST of form.
func logoutAt(t *testing.T, fb *flowBench, bf *browserFlow, form url.Values) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/t/acme/oauth2/logout", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range bf.cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	if err := fb.p.ServeLogout(rec, r, "acme"); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
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
