package oauth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/http/oauth"
)

// On the node that wrote a flow's or a code's last state, the next step
// reads it from what the node kept, not from the store: after the first
// step, the flow's steps and the code's exchange each take their
// compare-and-set (and the code's or the grant's create) and no read.
func TestNextStepReadsWhatThisNodeWrote(t *testing.T) {
	fb := newFlowBench(t)
	bf := &browserFlow{}
	for _, step := range flowSteps {
		before := fb.grants.count()
		step.run(t, fb, bf)
		got := fb.grants.count().minus(before)
		if got.get != 0 {
			t.Errorf("%s read the store %d times (%+v)", step.name, got.get, got)
		}
	}
}

// A flow whose steps go to two nodes in any order (a load balancer
// without affinity) gets its code and tokens: a node whose own last
// state of the flow is out of date reads the store's.
func TestFlowStepsAtAnyNode(t *testing.T) {
	fb := newFlowBench(t)
	nodes := []*flowBench{fb, fb.otherNode()}
	for order := range 1 << len(flowSteps) {
		bf := &browserFlow{}
		for i, step := range flowSteps {
			step.run(t, nodes[order>>i&1], bf)
		}
	}
}

// A code exchanged at one node and brought again to the node that
// issued it, which still holds it unused, is refused there as a reused
// code: the grant the first exchange began is revoked.
func TestCodeUsedAtAnotherNodeIsRefusedWhereItWasIssued(t *testing.T) {
	fb := newFlowBench(t)
	other := fb.otherNode()
	code := codeFlow(t, fb)
	first := other.exchange(t, code, fb.codeVerifier)
	if first.Code != http.StatusOK {
		t.Fatalf("exchange at the other node: %d %s", first.Code, first.Body)
	}
	again := fb.exchange(t, code, fb.codeVerifier)
	if again.Code != http.StatusBadRequest || answerOf(t, again).Error != "invalid_grant" {
		t.Fatalf("the code again where it was issued: %d %s, want 400 invalid_grant", again.Code, again.Body)
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(first.Body.Bytes(), &tok); err != nil || tok.RefreshToken == "" {
		t.Fatalf("first exchange: %v %s", err, first.Body)
	}
	if rec := refreshAt(t, other, tok.RefreshToken); rec.Code != http.StatusBadRequest {
		t.Fatalf("the first exchange's refresh token after the reuse: %d %s, want 400", rec.Code, rec.Body)
	}
}

// Answers at two nodes to one challenge each get a verifier; the first
// brought back counts, at either node, and the other is refused there.
// A challenge whose browser came back at another node is refused at
// this one, which holds it unanswered, once this node has read the
// store; a verifier the browser brought back to another node is refused
// at this one, which holds it unused.
func TestAnswersAtAnotherNodeUseTheFlowHere(t *testing.T) {
	fb := newFlowBench(t)
	other := fb.otherNode()

	bf := &browserFlow{}
	flowSteps[0].run(t, fb, bf)
	there, err := other.p.AcceptLogin(t.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "alice"})
	if err != nil {
		t.Fatalf("login accepted at the other node: %v", err)
	}
	here, err := fb.p.AcceptLogin(t.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "mallory"})
	if err != nil {
		t.Fatalf("login accepted again where the flow began: %v", err)
	}
	if loc := authorizeAnswer(t, fb, bf, there.RedirectTo); loc.Query().Get("consent_challenge") == "" {
		t.Fatalf("the other node's verifier, brought back first: sent to %s, want the consent challenge", loc)
	}
	if code, loc := authorizeStatus(t, fb, bf, here.RedirectTo); code != http.StatusBadRequest {
		t.Fatalf("this node's verifier, brought back second: %d, sent to %q, want 400", code, loc)
	}
	if _, err := other.p.AcceptLogin(t.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "mallory"}); !errors.Is(err, oauth.ErrChallengeUsed) {
		t.Fatalf("the login challenge, used, at a node that read the flow: %v, want %v", err, oauth.ErrChallengeUsed)
	}

	bf = &browserFlow{}
	flowSteps[0].run(t, fb, bf)
	flowSteps[1].run(t, fb, bf) // the login verifier, kept at fb
	verifier := bf.next
	flowSteps[2].run(t, other, bf)
	if loc := authorizeAnswer(t, fb, bf, verifier); loc.Query().Get("error") != "invalid_request" || loc.Query().Get("consent_challenge") != "" {
		t.Fatalf("the login verifier again where it was issued: sent to %s, want the client with invalid_request", loc)
	}
	// The flow goes on at the other node.
	for _, step := range flowSteps[3:] {
		step.run(t, other, bf)
	}
}

// authorizeAnswer is where fb's authorization endpoint sends bf's browser
// for u, whatever it answers.
func authorizeAnswer(t *testing.T, fb *flowBench, bf *browserFlow, u string) *url.URL {
	t.Helper()
	rec := authorizeAt(t, fb, bf, u)
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || rec.Code/100 != 3 {
		t.Fatalf("authorize: %d %v %s", rec.Code, err, rec.Body)
	}
	return loc
}

// authorizeStatus is fb's authorization endpoint's status for bf's
// browser at u, and where it sends the browser.
func authorizeStatus(t *testing.T, fb *flowBench, bf *browserFlow, u string) (int, string) {
	t.Helper()
	rec := authorizeAt(t, fb, bf, u)
	return rec.Code, rec.Header().Get("Location")
}

// authorizeAt is fb's authorization endpoint's answer to bf's browser
// at u.
func authorizeAt(t *testing.T, fb *flowBench, bf *browserFlow, u string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, u, nil)
	for _, c := range bf.cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	if err := fb.p.ServeAuthorize(rec, r, "acme"); err != nil {
		t.Fatal(err)
	}
	return rec
}

// refreshAt is a refresh of fb's client with rt at fb's node.
func refreshAt(t *testing.T, fb *flowBench, rt string) *httptest.ResponseRecorder {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	r := httptest.NewRequest(http.MethodPost, "/t/acme/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(fb.clientID, fb.secret)
	rec := httptest.NewRecorder()
	if err := fb.p.ServeToken(rec, r, "acme"); err != nil {
		t.Fatal(fmt.Errorf("token: %w", err))
	}
	return rec
}

// A chain of refreshes that goes to two nodes in any order refreshes
// every time: a node whose own last state of the grant is out of date
// reads the store's.
func TestRefreshesAtAnyNode(t *testing.T) {
	c := newRefreshChain(t)
	nodes := []*refreshChain{c, c.otherNode()}
	rt := c.rt
	for i, at := range []int{0, 0, 1, 1, 0, 1, 0, 0, 1, 0} {
		code, _, next := nodes[at].tokens(t, rt)
		if code != http.StatusOK {
			t.Fatalf("refresh %d at node %d: %d", i, at, code)
		}
		rt = next
	}
}

// A refresh token used at another node and brought again to a node that
// still holds its grant as it was before is a reuse there: refused, and
// the grant revoked on every node. So is the current token of a grant
// revoked at another node.
func TestRefreshTokenReusedWhereTheGrantWasLastWritten(t *testing.T) {
	c := newRefreshChain(t)
	other := c.otherNode()
	code, _, rt1 := c.tokens(t, c.rt) // this node keeps the grant at rt1
	if code != http.StatusOK {
		t.Fatalf("refresh: %d", code)
	}
	code, at2, rt2 := other.tokens(t, rt1)
	if code != http.StatusOK {
		t.Fatalf("refresh at the other node: %d", code)
	}
	if code, _, _ := c.tokens(t, rt1); code != http.StatusBadRequest {
		t.Fatalf("rt1 again where the grant was written with it: %d, want 400", code)
	}
	if code, _, _ := other.tokens(t, rt2); code != http.StatusBadRequest {
		t.Fatalf("the newest refresh token after the reuse: %d, want 400", code)
	}
	if code, _ := other.userName(t, at2); code != http.StatusUnauthorized {
		t.Fatalf("the newest access token after the reuse: %d at userinfo, want 401", code)
	}

	c = newRefreshChain(t)
	other = c.otherNode()
	code, _, rt1 = c.tokens(t, c.rt)
	if code != http.StatusOK {
		t.Fatalf("refresh: %d", code)
	}
	form := url.Values{"token": {rt1}, "token_type_hint": {"refresh_token"}}
	r := httptest.NewRequest(http.MethodPost, "/t/acme/oauth2/revoke", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(c.id, c.secret)
	w := httptest.NewRecorder()
	if err := other.p.ServeRevoke(w, r, "acme"); err != nil || w.Code != http.StatusOK {
		t.Fatalf("revoke at the other node: %d %v %s", w.Code, err, w.Body)
	}
	if code, _, _ := c.tokens(t, rt1); code != http.StatusBadRequest {
		t.Fatalf("the refresh token revoked at the other node, where the grant was written: %d, want 400", code)
	}
}
