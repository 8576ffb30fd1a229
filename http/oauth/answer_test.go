package oauth_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/http/oauth"
)

// The login application's answers write nothing: each goes back to the
// browser sealed in its verifier, and the browser's return moves the
// flow on with its one compare-and-set.
func TestAnswersWriteNothing(t *testing.T) {
	fb := newFlowBench(t)
	bf := &browserFlow{}
	for _, step := range flowSteps[:5] {
		before := fb.grants.count()
		step.run(t, fb, bf)
		got := fb.grants.count().minus(before)
		got.written = 0
		if strings.HasSuffix(step.name, "-accept") && got != (kvOps{}) {
			t.Errorf("%s: %+v, want no operation", step.name, got)
		}
	}
	if bf.code == "" {
		t.Fatal("the flow ended without a code")
	}
}

// A sealed verifier is good only as its answer made it: for its flow,
// its tenant and its kind. Anything else is refused before the store is
// read, so that a forged verifier costs the node no key-value operation.
func TestForgedSealedVerifiersAreRefusedUnread(t *testing.T) {
	fb := newFlowBench(t)
	bf, other := &browserFlow{}, &browserFlow{}
	flowSteps[0].run(t, fb, other)
	otherID, _, _ := strings.Cut(other.challenge, ".")
	flowSteps[0].run(t, fb, bf)
	flowSteps[1].run(t, fb, bf)
	next, err := url.Parse(bf.next)
	if err != nil {
		t.Fatal(err)
	}
	v := next.Query().Get("login_verifier")
	id, seal, ok := strings.Cut(v, "~")
	if !ok {
		t.Fatalf("the login verifier %q is not sealed", v)
	}
	flipped := []byte(seal)
	flipped[len(flipped)/2] ^= 'A' ^ 'B'
	if flipped[len(flipped)/2] == seal[len(seal)/2] {
		flipped[len(flipped)/2] = 'A'
	}
	for _, tc := range []struct{ name, query string }{
		{"a byte of the seal changed", "login_verifier=" + id + "~" + string(flipped)},
		{"another flow's id", "login_verifier=" + otherID + "~" + seal},
		{"as a consent verifier", "consent_verifier=" + v},
		{"longer than any verifier", "login_verifier=" + v + strings.Repeat("A", 2048)},
		{"a seal cut short", "login_verifier=" + id + "~" + seal[:20]},
		{"a seal that is not base64url", "login_verifier=" + id + "~" + strings.Repeat("*", len(seal))},
		{"no flow id", "login_verifier=~" + seal},
	} {
		before := fb.grants.count()
		code, loc := authorizeStatus(t, fb, bf, "/t/acme/oauth2/auth?"+tc.query)
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d, sent to %q, want 400", tc.name, code, loc)
		}
		if got := fb.grants.count().minus(before); got != (kvOps{}) {
			t.Errorf("%s: %+v, want no key-value operation", tc.name, got)
		}
	}
	if loc := fb.get(t, bf, bf.next); loc.Query().Get("consent_challenge") == "" {
		t.Fatalf("the verifier itself, after the forged ones: sent to %s, want the consent challenge", loc)
	}
}

// An answer too large for a URL is kept with its flow, as every answer
// was before answers were sealed: its verifier is random, its challenge
// answered at once, and the flow goes on as with a sealed one.
func TestLargeAnswersAreKeptWithTheFlow(t *testing.T) {
	fb := newFlowBench(t)
	bf := &browserFlow{}
	flowSteps[0].run(t, fb, bf)
	before := fb.grants.count()
	large := oauth.LoginAcceptance{Subject: "alice", Claims: map[string]any{"note": strings.Repeat("n", 4096)}}
	r, err := fb.p.AcceptLogin(t.Context(), "acme", bf.challenge, large)
	if err != nil {
		t.Fatal(err)
	}
	if got := fb.grants.count().minus(before); got.update != 1 {
		t.Errorf("a large answer: %+v, want one compare-and-set", got)
	}
	if strings.Contains(r.RedirectTo, "~") || len(r.RedirectTo) > 200 {
		t.Errorf("a large answer's verifier: %q, want a stored one", r.RedirectTo)
	}
	if _, err := fb.p.AcceptLogin(t.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "mallory"}); !errors.Is(err, oauth.ErrChallengeUsed) {
		t.Fatalf("a challenge answered with a kept answer, again: %v, want %v", err, oauth.ErrChallengeUsed)
	}
	bf.next = r.RedirectTo
	for _, step := range flowSteps[2:5] {
		step.run(t, fb, bf)
	}
	rec := fb.exchange(t, bf.code, fb.codeVerifier)
	if a := answerOf(t, rec); rec.Code != http.StatusOK || a.IDToken == "" {
		t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
	} else if _, claims := tokenParts(t, a.IDToken); claims["sub"] != "alice" {
		t.Fatalf("the ID token's subject: %v, want alice", claims["sub"])
	}
}

// A rejection's verifier is used once, as an acceptance's is: brought
// back after another answer to the same challenge used the flow, it is
// refused, and the client gets no access_denied for a flow it was given
// a code for. Node A, which began the flow, still holds it as it wrote
// it (the answers wrote nothing), so the rejection's seal matches what
// A reads; only the browser's compare-and-set can tell the flow was
// used, and a rejection went to the client whether it failed or not.
// (On one node, requests racing with both verifiers do the same.)
func TestRejectionAfterAnotherAnswerWasUsedIsRefused(t *testing.T) {
	a := newFlowBench(t)
	b := a.otherNode()
	bf := &browserFlow{}
	flowSteps[0].run(t, a, bf) // authorize at A
	cookies := append([]*http.Cookie(nil), bf.cookies...)
	rejected, err := a.p.RejectLogin(t.Context(), "acme", bf.challenge, oauth.Rejection{})
	if err != nil {
		t.Fatal(err)
	}
	flowSteps[1].run(t, a, bf) // the login application answers again: accepted
	for _, step := range flowSteps[2:5] {
		step.run(t, b, bf) // the browser brings the acceptance back at B: consent, a code
	}
	if bf.code == "" {
		t.Fatal("the flow ended without a code")
	}
	code, loc := authorizeStatus(t, a, &browserFlow{cookies: cookies}, rejected.RedirectTo)
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query().Get("error"); got == "access_denied" {
		t.Errorf("the rejection's verifier, after the acceptance's got the flow a code: %d, sent to %s; want it refused as used", code, loc)
	}
}

// A verifier kept with its flow (an answer too large to seal) is, as a
// sealed one, good only as the kind of answer it stands for: a login
// verifier is no consent verifier.
func TestKeptVerifierIsGoodOnlyAsItsKind(t *testing.T) {
	fb := newFlowBench(t)
	bf := &browserFlow{}
	flowSteps[0].run(t, fb, bf)
	large := oauth.LoginAcceptance{Subject: "alice", Claims: map[string]any{"note": strings.Repeat("n", 4096)}}
	r, err := fb.p.AcceptLogin(t.Context(), "acme", bf.challenge, large)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.RedirectTo, "~") {
		t.Fatalf("a large answer's verifier: %q, want a kept one", r.RedirectTo)
	}
	swapped := strings.Replace(r.RedirectTo, "login_verifier=", "consent_verifier=", 1)
	if code, loc := authorizeStatus(t, fb, bf, swapped); code != http.StatusBadRequest {
		t.Errorf("a kept login verifier as a consent verifier: %d, sent to %q; want 400", code, loc)
	}
	bf.next = r.RedirectTo
	flowSteps[2].run(t, fb, bf)
	if bf.challenge == "" {
		t.Fatal("the kept login verifier, as itself: no consent challenge")
	}
}
