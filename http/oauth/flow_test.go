package oauth_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/http/oauth"
)

// A used flow keeps, until it expires, only what refuses its verifier
// and challenges: its request and the login it carried leave the flow
// store, whose bytes every waiting authorization request shares.
func TestUsedFlowLeavesItsRequestAndLogin(t *testing.T) {
	fb := newFlowBench(t)
	bf := &browserFlow{}
	stored := func() []byte {
		id, _, _ := strings.Cut(bf.challenge, ".")
		raw, _, err := fb.grants.Get(t.Context(), oauth.LifeRequest, "acme.flow."+id)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	for _, step := range flowSteps[:4] { // to the consent verifier
		step.run(t, fb, bf)
	}
	if raw := stored(); !bytes.Contains(raw, []byte("state-0001")) || !bytes.Contains(raw, []byte("alice")) {
		t.Fatalf("the flow waiting for the browser does not keep its request and login: %q", raw)
	}
	verifier := bf.next
	flowSteps[4].run(t, fb, bf) // the code
	if raw := stored(); bytes.Contains(raw, []byte("state-0001")) || bytes.Contains(raw, []byte("alice")) {
		t.Errorf("the used flow still keeps its request or login: %q", raw)
	}
	r := httptest.NewRequest(http.MethodGet, verifier, nil)
	for _, c := range bf.cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	if err := fb.p.ServeAuthorize(rec, r, "acme"); err != nil || rec.Code != http.StatusBadRequest ||
		!strings.Contains(rec.Body.String(), "invalid_request") {
		t.Errorf("the consent verifier used again: %d %v %s; want 400 invalid_request", rec.Code, err, rec.Body)
	}
}

// Each step of the code flow reads each record from the grant store
// once, however often fosite and the flow ask for it; only a record the
// step wrote since is read again (a write tells no revision).
func TestEachRecordReadOncePerStep(t *testing.T) {
	fb := newFlowBench(t)
	bf := &browserFlow{}
	for _, step := range flowSteps {
		fb.grants.readTwice()
		step.run(t, fb, bf)
		if keys := fb.grants.readTwice(); len(keys) > 0 {
			t.Errorf("%s read %q more than once", step.name, keys)
		}
	}
}

// The grant store is told to keep each record of a flow until it
// expires, and no longer: a flow its 30 minutes, and a minute once used;
// a code and its PKCE and OpenID Connect records until the code expires
// (fosite's 15 minutes), a used code as long as a code lives from its
// use; the grant until its refresh tokens end (the client's 30 days);
// the login session until it ends (the login's remember_for).
func TestFlowRecordsExpire(t *testing.T) {
	fb := newFlowBench(t)
	bf := &browserFlow{}
	start := time.Now()
	flowSteps[0].run(t, fb, bf)
	r, err := fb.p.AcceptLogin(t.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "alice", Remember: true, RememberFor: 3600})
	if err != nil {
		t.Fatal(err)
	}
	bf.next = r.RedirectTo
	for _, step := range flowSteps[2:] {
		step.run(t, fb, bf)
	}
	// Each kind's distinct expiries, from the flow's start, to the
	// minute, or to the second under a minute (the flow takes well under
	// one; a code's expiry is rounded up to a whole second).
	got := map[string][]time.Duration{}
	fb.grants.mu.Lock()
	for kind, expiries := range fb.grants.expiries {
		for _, e := range expiries {
			d := e.Sub(start).Round(time.Minute)
			if d < time.Minute {
				d = e.Sub(start).Round(time.Second)
			}
			if !slices.Contains(got[kind], d) {
				got[kind] = append(got[kind], d)
			}
		}
		slices.Sort(got[kind])
	}
	fb.grants.mu.Unlock()
	want := map[string][]time.Duration{
		"flow": {10 * time.Second, 30 * time.Minute}, // used, then waiting
		// Issued: the client's authorization_code_lifetime; used: kept
		// only for concurrent requests (the code names its grant).
		"code": {oauth.UsedCodeKeep, 5 * time.Minute},
		"fam":  {30 * 24 * time.Hour},
		"sess": {time.Hour},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("expiries written, by kind of record (-want +got):\n%s", diff)
	}
}
