package oauth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
)

// newReuseChain is newRefreshChain for a client whose refresh tokens are
// reused (refresh_token_usage "reuse"), a token staying usable for the
// grant's latest window refreshes.
func newReuseChain(tb testing.TB, window int) *refreshChain {
	tb.Helper()
	return newRefreshChainOf(tb, refreshVariant{tokens: window,
		settings: func(s *client.Settings) { s.RefreshTokenUsage = client.RefreshReuse }})
}

// A reused refresh token older than the grant's window is refused (and
// its grant revoked) at every node: at the node that refreshed the grant
// last before the other node moved the window on, its kept copy of the
// grant must not make the token usable again. That node read its stale
// copy, found the token within the window, and the refresh's
// compare-and-set, when it failed, read the grant again without checking
// the token against it: 200, a new access token, nothing revoked.
func TestReusedRefreshTokenOutsideWindowAtStaleNode(t *testing.T) {
	const window = 4
	a := newReuseChain(t, window)
	b := a.otherNode()

	st, _, old := a.tokens(t, a.rt) // node A writes the grant: generation 1
	if st != http.StatusOK {
		t.Fatalf("first refresh at A: %d", st)
	}
	rt := old
	for i := range window + 1 { // node B moves the grant past old's window
		var code int
		if code, _, rt = b.tokens(t, rt); code != http.StatusOK {
			t.Fatalf("refresh %d at B: %d", i, code)
		}
	}
	if code, at, _ := a.tokens(t, old); code == http.StatusOK {
		n, name := a.userName(t, at)
		t.Errorf("a refresh token %d refreshes older than the window of %d, at the node holding the grant as it was: 200 (its access token's userinfo: %d %q); want it refused",
			window+1, window, n, name)
	}
	// What a node reading the grant from the store answers: refused, the
	// grant revoked.
	if code, _, _ := a.otherNode().tokens(t, old); code == http.StatusOK {
		t.Errorf("the same token at a node without a kept copy: 200")
	}
	if code, _, _ := b.tokens(t, rt); code == http.StatusOK {
		t.Errorf("the grant's latest token after the reuse: 200; want the grant revoked")
	}
}

// The refresh token a node answers for a client whose refresh tokens are
// reused is usable for its whole window (the grant's next refreshes),
// even when that node held the grant as it wrote it, generations behind
// another node's refreshes. Node A made the new token from its copy's
// generation and its compare-and-set's retry stored the grant at the
// other node's later one: the token answered was born generations old,
// and refused (the grant revoked) that many refreshes early.
func TestReuseRefreshAtStaleNodeAnswersACurrentToken(t *testing.T) {
	const window = 4
	a := newReuseChain(t, window)
	b := a.otherNode()

	st, _, t1 := a.tokens(t, a.rt) // node A writes the grant
	if st != http.StatusOK {
		t.Fatalf("first refresh at A: %d", st)
	}
	rt := t1
	for i := range 2 { // node B moves it on twice
		var code int
		if code, _, rt = b.tokens(t, rt); code != http.StatusOK {
			t.Fatalf("refresh %d at B: %d", i, code)
		}
	}
	code, _, fresh := a.tokens(t, t1) // t1 is in the window: refreshed at A
	if code != http.StatusOK {
		t.Fatalf("refresh with a token within the window at A: %d", code)
	}
	rt = fresh
	for i := range window - 1 { // the grant's next refreshes, at B
		if code, _, rt = b.tokens(t, rt); code != http.StatusOK {
			t.Fatalf("refresh %d after A's: %d", i, code)
		}
	}
	if code, _, _ := b.tokens(t, fresh); code != http.StatusOK {
		t.Errorf("the token node A answered, %d refreshes later (the window is %d): %d; want 200", window-1, window, code)
	}
}

// A login verifier already used (the browser brought it back at node B,
// which moved the flow on to consent and then finished it) is refused
// at node A, which accepted the login and still holds the flow as it
// wrote it — and refused with no effect: it must not start a login
// session. Today node A starts one (a cookie that logs the browser in
// without the login application) before its compare-and-set fails.
func TestAttackRecentUsedLoginVerifierAtStaleNodeStartsNoLoginSession(t *testing.T) {
	a := newFlowBench(t)
	b := a.otherNode()
	bf := &browserFlow{}
	flowSteps[0].run(t, a, bf) // authorize at A
	r, err := a.p.AcceptLogin(t.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "alice", Remember: true})
	if err != nil {
		t.Fatal(err)
	}
	loginVerifier := r.RedirectTo // node A keeps the flow: logged in, this verifier
	flowCookies := append([]*http.Cookie(nil), bf.cookies...)

	bf.next = loginVerifier
	flowSteps[2].run(t, b, bf) // the browser comes back at B: a login session, consent
	flowSteps[3].run(t, b, bf)
	flowSteps[4].run(t, b, bf)
	if rec := b.exchange(t, bf.code, b.codeVerifier); rec.Code != http.StatusOK {
		t.Fatalf("exchange at B: %d %s", rec.Code, rec.Body)
	}

	replay := httptest.NewRequest(http.MethodGet, loginVerifier, nil)
	for _, c := range flowCookies {
		replay.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	_ = a.p.ServeAuthorize(rec, replay, "acme")
	var session []*http.Cookie
	for _, c := range rec.Result().Cookies() {
		if strings.HasPrefix(c.Name, "clavis_login_") && c.MaxAge >= 0 && c.Value != "" {
			session = append(session, c)
		}
	}
	if len(session) == 0 {
		return
	}
	t.Errorf("the used login verifier replayed at node A (%d %s) set login session cookie %s", rec.Code, rec.Header().Get("Location"), session[0].Name)
	// With that cookie alone, a new authorization request skips the login
	// application.
	next := a.get(t, &browserFlow{cookies: session}, "/t/acme/oauth2/auth?"+a.authorizeQuery)
	if next.Query().Get("login_challenge") == "" {
		t.Errorf("a new authorization request with only that cookie goes to %s, not to the login application", next)
	}
}
