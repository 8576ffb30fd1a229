package oauth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
)

// codeFlow runs fb's flow to the code and returns it.
func codeFlow(t *testing.T, fb *flowBench) string {
	t.Helper()
	bf := &browserFlow{}
	for _, step := range flowSteps[:5] {
		step.run(t, fb, bf)
	}
	if bf.code == "" {
		t.Fatal("the flow gave no code")
	}
	return bf.code
}

// tokenAnswer is what the token endpoint answered rec.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	Error       string `json:"error"`
}

func answerOf(t *testing.T, rec *httptest.ResponseRecorder) tokenAnswer {
	t.Helper()
	var a tokenAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("token answer %d %s: %v", rec.Code, rec.Body, err)
	}
	return a
}

// A code is written with one create, and its exchange reads it once and
// changes it once (the create is the grant's): its PKCE and OpenID
// Connect requests are part of its record, which the exchange neither
// reads again nor deletes. At another node than the one that wrote
// them, the flow's last state and the code are read from the store; at
// the same node, from what it kept (TestNextStepReadsWhatThisNodeWrote).
func TestCodeIsOneCreateThenOneReadAndOneWrite(t *testing.T) {
	fb := newFlowBench(t)
	bf := &browserFlow{}
	for _, step := range flowSteps[:4] {
		step.run(t, fb, bf)
	}
	for _, step := range flowSteps[4:] {
		fb = fb.otherNode()
		before := fb.grants.count()
		step.run(t, fb, bf)
		got := fb.grants.count().minus(before)
		got.written = 0
		if want := (kvOps{create: 1, get: 1, update: 1}); got != want {
			t.Errorf("%s: %+v key-value operations, want %+v", step.name, got, want)
		}
	}
}

// In the code flow fosite gives the code's three creates one session:
// the record keeps it once, and the PKCE and OpenID Connect parts only
// their forms. A used code keeps only its grant's id.
func TestCodeRecordKeepsItsSessionOnce(t *testing.T) {
	fb := newFlowBench(t)
	code := codeFlow(t, fb)
	raw, err := oauth.CodeRecord(t.Context(), fb.p, "acme", code)
	if err != nil {
		t.Fatal(err)
	}
	pkce, oidc, used, err := oauth.CodeParts(raw)
	if err != nil || pkce != "form" || oidc != "form" || used {
		t.Errorf("the code's record keeps PKCE %q, OpenID Connect %q, used %v (%v); want form, form, not used", pkce, oidc, used, err)
	}
	t.Logf("code record: %d bytes", len(raw))
	if rec := fb.exchange(t, code, fb.codeVerifier); rec.Code != http.StatusOK || answerOf(t, rec).IDToken == "" {
		t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
	}
	raw, err = oauth.CodeRecord(t.Context(), fb.p, "acme", code)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("used code record: %d bytes", len(raw))
	if _, _, used, err := oauth.CodeParts(raw); err != nil || !used || len(raw) > 64 || bytes.Contains(raw, []byte("alice")) {
		t.Errorf("the used code's record (%d bytes, used %v, %v): %q; want its grant's id and expiry alone", len(raw), used, err, raw)
	}
}

// A code issued without PKCE and without the openid scope is exchanged
// without a code_verifier, and no ID token comes with it: its record has
// neither part.
func TestCodeWithoutPKCEOrOpenID(t *testing.T) {
	fb := newFlowBenchOf(t, flowVariant{
		settings: func(s *client.Settings) { s.RequirePKCE, s.DefaultScopes = false, nil },
		query: func(q url.Values) {
			for _, k := range []string{"code_challenge", "code_challenge_method", "nonce", "scope"} {
				q.Del(k)
			}
		},
	})
	code := codeFlow(t, fb)
	raw, err := oauth.CodeRecord(t.Context(), fb.p, "acme", code)
	if err != nil {
		t.Fatal(err)
	}
	if pkce, oidc, _, err := oauth.CodeParts(raw); err != nil || pkce != "" || oidc != "" {
		t.Errorf("the code's record keeps PKCE %q, OpenID Connect %q (%v); want neither", pkce, oidc, err)
	}
	rec := fb.exchange(t, code, "")
	if a := answerOf(t, rec); rec.Code != http.StatusOK || a.AccessToken == "" || a.IDToken != "" {
		t.Errorf("exchange without PKCE or openid: %d %s; want an access token and no ID token", rec.Code, rec.Body)
	}
	if rec := fb.exchange(t, code, ""); rec.Code != http.StatusBadRequest {
		t.Errorf("the code used again: %d %s, want 400", rec.Code, rec.Body)
	}
}

// A wrong code_verifier fails the exchange and uses nothing up: the
// right one then exchanges the code (fosite checks PKCE before the code
// is invalidated), once.
func TestWrongCodeVerifierThenRightOne(t *testing.T) {
	fb := newFlowBench(t)
	code := codeFlow(t, fb)
	rec := fb.exchange(t, code, strings.Repeat("w", 43))
	if a := answerOf(t, rec); rec.Code != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Fatalf("a wrong code_verifier: %d %s, want 400 invalid_grant", rec.Code, rec.Body)
	}
	if rec := fb.exchange(t, code, ""); rec.Code == http.StatusOK {
		t.Fatalf("PKCE bypassed: the code was exchanged without a code_verifier: %s", rec.Body)
	}
	rec = fb.exchange(t, code, fb.codeVerifier)
	if a := answerOf(t, rec); rec.Code != http.StatusOK || a.IDToken == "" {
		t.Fatalf("the right code_verifier after a wrong one: %d %s, want tokens", rec.Code, rec.Body)
	}
	if rec := fb.exchange(t, code, fb.codeVerifier); rec.Code != http.StatusBadRequest {
		t.Errorf("the code used again: %d %s, want 400", rec.Code, rec.Body)
	}
}

// A code issued by the version before (three records: the code's, its
// PKCE and its OpenID Connect request) is exchanged after an upgrade,
// PKCE checked and with its ID token, each record read once; its reuse
// revokes the grant.
func TestCodeOfEarlierLayoutExchanged(t *testing.T) {
	fb := newFlowBenchOf(t, flowVariant{revocations: true})
	code, err := oauth.CodeOfEarlierForm(t.Context(), fb.p, "acme", codeFlow(t, fb))
	if err != nil {
		t.Fatal(err)
	}
	if err := oauth.SplitCodeRecord(t.Context(), fb.p, "acme", code); err != nil {
		t.Fatal(err)
	}
	if rec := fb.exchange(t, code, strings.Repeat("w", 43)); rec.Code != http.StatusBadRequest {
		t.Fatalf("a wrong code_verifier: %d %s, want 400", rec.Code, rec.Body)
	}
	fb.grants.readTwice()
	rec := fb.exchange(t, code, fb.codeVerifier)
	a := answerOf(t, rec)
	if rec.Code != http.StatusOK || a.IDToken == "" {
		t.Fatalf("exchange of a code of the earlier layout: %d %s, want tokens with an ID token", rec.Code, rec.Body)
	}
	if keys := fb.grants.readTwice(); len(keys) > 0 {
		t.Errorf("the exchange read %q more than once", keys)
	}
	if _, err := fb.p.VerifyAccessToken(t.Context(), a.AccessToken); err != nil {
		t.Fatalf("the access token: %v", err)
	}
	if rec := fb.exchange(t, code, fb.codeVerifier); rec.Code != http.StatusBadRequest {
		t.Fatalf("the code used again: %d %s, want 400", rec.Code, rec.Body)
	}
	if _, err := fb.p.VerifyAccessToken(t.Context(), a.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
		t.Errorf("the access token after the code's reuse: %v, want revoked", err)
	}
}

// failingCodes is a grant store whose creates of codes (LifeFlow) fail
// with the error fail holds, when it holds one.
type failingCodes struct {
	oauth.Grants
	fail atomic.Pointer[error]
}

func (g *failingCodes) Create(ctx context.Context, life oauth.Life, key string, value []byte, expires time.Time) (uint64, error) {
	if err := g.fail.Load(); err != nil && life == oauth.LifeFlow {
		return 0, *err
	}
	return g.Grants.Create(ctx, life, key, value, expires)
}

// A code that could not be stored never reaches the client: the
// authorization response is temporarily_unavailable, without a code, as
// when any of fosite's creates of it failed.
func TestCodeNotStoredIsNotSent(t *testing.T) {
	failing := &failingCodes{}
	fb := newFlowBenchOf(t, flowVariant{grants: func(g oauth.Grants) oauth.Grants {
		failing.Grants = g
		return failing
	}})
	for _, cause := range []error{fmt.Errorf("%w: no leader", oauth.ErrUnavailable), oauth.ErrGrantsFull} {
		bf := &browserFlow{}
		for _, step := range flowSteps[:4] {
			step.run(t, fb, bf)
		}
		failing.fail.Store(&cause)
		loc := fb.get(t, bf, bf.next)
		failing.fail.Store(nil)
		q := loc.Query()
		if !strings.HasPrefix(loc.String(), webCallback+"?") || q.Get("error") != "temporarily_unavailable" || q.Has("code") {
			t.Errorf("the code could not be stored (%v): the browser was sent to %s; want the client's temporarily_unavailable without a code", cause, loc)
		}
	}
	if rec := fb.exchange(t, codeFlow(t, fb), fb.codeVerifier); rec.Code != http.StatusOK {
		t.Errorf("a flow once the store takes codes again: %d %s", rec.Code, rec.Body)
	}
}

// In a hybrid flow fosite stores the code's OpenID Connect request after
// it added the code's hash to the session: the record keeps that session
// apart, and the ID token of the exchange has the hash (c_hash) as it
// had when each part was a record of its own.
func TestHybridCodeKeepsItsOpenIDSession(t *testing.T) {
	fb := newFlowBenchOf(t, flowVariant{
		settings: func(s *client.Settings) {
			s.ResponseTypes = []string{"code id_token"}
			s.GrantTypes = append(s.GrantTypes, client.GrantImplicit)
		},
		query: func(q url.Values) { q.Set("response_type", "code id_token") },
	})
	bf := &browserFlow{}
	for _, step := range flowSteps[:4] {
		step.run(t, fb, bf)
	}
	fragment, err := url.ParseQuery(fb.get(t, bf, bf.next).Fragment)
	if err != nil || fragment.Get("code") == "" || fragment.Get("id_token") == "" {
		t.Fatalf("hybrid answer %v (%v): want a code and an ID token", fragment, err)
	}
	code := fragment.Get("code")
	raw, err := oauth.CodeRecord(t.Context(), fb.p, "acme", code)
	if err != nil {
		t.Fatal(err)
	}
	if pkce, oidc, _, err := oauth.CodeParts(raw); err != nil || pkce != "form and session" || oidc != "form and session" {
		t.Errorf("the hybrid code's record keeps PKCE %q, OpenID Connect %q (%v); want each with its session", pkce, oidc, err)
	}
	rec := fb.exchange(t, code, fb.codeVerifier)
	a := answerOf(t, rec)
	if rec.Code != http.StatusOK || a.IDToken == "" {
		t.Fatalf("exchange of the hybrid code: %d %s", rec.Code, rec.Body)
	}
	parts := strings.Split(a.IDToken, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		CHash string `json:"c_hash"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.CHash == "" {
		t.Errorf("the exchange's ID token %s has no c_hash (%v)", payload, err)
	}
}

// A code lives its client's authorization_code_lifetime, not fosite's
// fifteen minutes: a code of a client whose codes live 10 s is refused
// after them (and its record leaves the grant store with it).
func TestCodeLivesItsClientsLifetime(t *testing.T) {
	t.Parallel()
	fb := newFlowBenchOf(t, flowVariant{settings: func(s *client.Settings) { s.AuthorizationCodeLifetime = 10 }})
	fresh, stale := codeFlow(t, fb), codeFlow(t, fb)
	if rec := fb.exchange(t, fresh, fb.codeVerifier); rec.Code != http.StatusOK {
		t.Fatalf("a code exchanged at once: %d %s", rec.Code, rec.Body)
	}
	time.Sleep(11 * time.Second)
	rec := fb.exchange(t, stale, fb.codeVerifier)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid_grant") {
		t.Errorf("a code exchanged 11 s after it was issued, with a lifetime of 10 s: %d %s; want 400 invalid_grant", rec.Code, rec.Body)
	}
}
