package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
)

// An access token carries the user's claims to userinfo, sealed: a code
// exchange of a client without refresh tokens stores nothing but the
// code's use (one read, one compare-and-set, no grant record), and
// userinfo answers the claims the login application gave, of the scopes
// granted, from the token alone.
func TestUserinfoFromTheTokenAlone(t *testing.T) {
	fb := newFlowBenchOf(t, flowVariant{settings: func(s *client.Settings) {
		s.GrantTypes = []string{client.GrantAuthorizationCode}
	}})
	bf := codeFlowLoggedInWith(t, fb, map[string]any{"department": "sales", "email": "alice@example.test"})
	before := fb.grants.count()
	rec := fb.otherNode().exchange(t, bf.code, fb.codeVerifier) // where the code is read from the store
	if rec.Code != http.StatusOK {
		t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
	}
	ops := fb.grants.count().minus(before)
	ops.written = 0
	if want := (kvOps{get: 1, update: 1}); ops != want {
		t.Errorf("the exchange took %+v key-value operations, want %+v (the code's use alone)", ops, want)
	}

	at := answerOf(t, rec).AccessToken
	before = fb.grants.count()
	req := httptest.NewRequest(http.MethodGet, "https://issuer.example.test/t/acme/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	w := httptest.NewRecorder()
	if err := fb.p.ServeUserinfo(w, req, "acme"); err != nil || w.Code != http.StatusOK {
		t.Fatalf("userinfo: %v %d %s", err, w.Code, w.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	// email needs the email scope, which was not granted.
	if len(got) != 2 || got["sub"] != "alice" || got["department"] != "sales" {
		t.Errorf("userinfo = %v, want sub alice and department sales alone", got)
	}
	if ops := fb.grants.count().minus(before); ops != (kvOps{}) {
		t.Errorf("userinfo took %+v key-value operations, want none", ops)
	}
}

// The tokens remembered as verified (up to 100,000) keep about 300 bytes
// each, not the sealed claims of each (some 1.4 KB): userinfo reads
// those from the token again, for a JWT and for a reference token, the
// first time and from the memory alike.
func TestVerifiedTokensKeepNoSealedClaims(t *testing.T) {
	for _, typ := range []client.AccessTokenType{client.AccessTokenJWT, client.AccessTokenReference} {
		t.Run(string(typ), func(t *testing.T) {
			fb := newFlowBenchOf(t, flowVariant{settings: func(s *client.Settings) {
				s.GrantTypes, s.AccessTokenType = []string{client.GrantAuthorizationCode}, typ
			}})
			department := strings.Repeat("sales ", 150) // 900 bytes: sealed
			bf := codeFlowLoggedInWith(t, fb, map[string]any{"department": department})
			rec := fb.exchange(t, bf.code, fb.codeVerifier)
			if rec.Code != http.StatusOK {
				t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
			}
			at := answerOf(t, rec).AccessToken
			for i := range 2 {
				req := httptest.NewRequest(http.MethodGet, "https://issuer.example.test/t/acme/oauth2/userinfo", nil)
				req.Header.Set("Authorization", "Bearer "+at)
				w := httptest.NewRecorder()
				if err := fb.p.ServeUserinfo(w, req, "acme"); err != nil || w.Code != http.StatusOK {
					t.Fatalf("userinfo %d: %v %d %s", i+1, err, w.Code, w.Body)
				}
				var got map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					t.Fatal(err)
				}
				if got["department"] != department {
					t.Errorf("userinfo %d: department %v, want %d bytes", i+1, got["department"], len(department))
				}
			}
			if n := oauth.VerifiedBytes(fb.p); n > 300 {
				t.Errorf("the verified token is remembered with %d bytes of claims, want the sealed ones left out", n)
			}
		})
	}
}

// Claims too large for the token (over 1 KiB) are kept in the grant's
// record for userinfo: for a client without refresh tokens, as long as
// the access token lives, not a refresh token's 30 days.
func TestLargeClaimsKeptAsLongAsTheAccessToken(t *testing.T) {
	fb := newFlowBenchOf(t, flowVariant{settings: func(s *client.Settings) {
		s.GrantTypes = []string{client.GrantAuthorizationCode}
	}})
	department := strings.Repeat("sales ", 500) // 3,000 bytes: not sealed
	bf := codeFlowLoggedInWith(t, fb, map[string]any{"department": department})
	start := time.Now()
	rec := fb.exchange(t, bf.code, fb.codeVerifier)
	if rec.Code != http.StatusOK {
		t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
	}
	fb.grants.mu.Lock()
	expiries := slices.Clone(fb.grants.expiries["fam"])
	fb.grants.mu.Unlock()
	if len(expiries) != 1 {
		t.Fatalf("the exchange wrote %d grant records, want 1 (the claims')", len(expiries))
	}
	if limit := start.Add(time.Hour + time.Minute); expiries[0].IsZero() || expiries[0].After(limit) {
		t.Errorf("the grant's record is kept until %v, want at most %v (the access token's hour)", expiries[0], limit)
	}
}

// codeFlowLoggedInWith runs fb's flow to its code, the login application
// accepting alice with claims.
func codeFlowLoggedInWith(t *testing.T, fb *flowBench, claims map[string]any) *browserFlow {
	t.Helper()
	bf := &browserFlow{}
	flowSteps[0].run(t, fb, bf)
	r, err := fb.p.AcceptLogin(t.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "alice", Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	bf.next = r.RedirectTo
	for _, step := range flowSteps[2:5] {
		step.run(t, fb, bf)
	}
	return bf
}
