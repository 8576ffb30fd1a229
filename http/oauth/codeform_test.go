package oauth_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/tenants"
)

// waitCodeGone waits until the record of code leaves fb's grant store,
// which keeps a used code's record for oauth.UsedCodeKeep.
func waitCodeGone(t *testing.T, fb *flowBench, code string) {
	t.Helper()
	for end := time.Now().Add(oauth.UsedCodeKeep + 8*time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := oauth.CodeRecord(t.Context(), fb.p, "acme", code)
		if errors.Is(err, oauth.ErrGrantNotFound) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(end) {
			t.Fatalf("the used code's record is still in the store %v after its use", oauth.UsedCodeKeep+8*time.Second)
		}
	}
}

// wantInvalidGrant checks that rec is the token endpoint's invalid_grant.
func wantInvalidGrant(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_grant"`) {
		t.Errorf("%s: %d %s, want 400 invalid_grant", what, rec.Code, rec.Body)
	}
}

// A used code's record leaves the store within seconds, not when the
// code expires; a reuse of the code after that still revokes the grant
// it gave (the code names it), on its first and on later attempts.
func TestCodeReusedAfterItsRecordIsGoneRevokesGrant(t *testing.T) {
	t.Parallel()
	fb := newFlowBenchOf(t, flowVariant{revocations: true})
	code := codeFlow(t, fb)
	rec := fb.exchange(t, code, fb.codeVerifier)
	a := answerOf(t, rec)
	if rec.Code != http.StatusOK {
		t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
	}
	waitCodeGone(t, fb, code)
	if _, err := fb.p.VerifyAccessToken(t.Context(), a.AccessToken); err != nil {
		t.Fatalf("the access token before the code's reuse: %v", err)
	}
	for i := range 2 {
		rec = fb.exchange(t, code, fb.codeVerifier)
		wantInvalidGrant(t, "the code reused after its record left", rec)
		if _, err := fb.p.VerifyAccessToken(t.Context(), a.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Errorf("reuse %d: the access token after the code's reuse: %v, want revoked", i+1, err)
		}
	}
}

// A code that does not verify names nothing: whatever a forger makes of
// a real code (one used, its record gone, whose grant a reuse would
// revoke), the exchange is invalid_grant, reads and writes nothing in
// the grant store, and the grant stays.
func TestForgedCodeRevokesNothing(t *testing.T) {
	t.Parallel()
	fb := newFlowBenchOf(t, flowVariant{revocations: true})
	code := codeFlow(t, fb)
	rec := fb.exchange(t, code, fb.codeVerifier)
	a := answerOf(t, rec)
	if rec.Code != http.StatusOK {
		t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
	}
	waitCodeGone(t, fb, code)
	payload, mac, _ := strings.Cut(strings.TrimPrefix(code, "ory_ac_g."), ".")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	flip := func(s string, i int, x int) string {
		return s[:i] + string(alphabet[strings.IndexByte(alphabet, s[i])^x]) + s[i+1:]
	}
	forged := map[string]string{
		"a MAC changed":                        "ory_ac_g." + payload + "." + flip(mac, 0, 1),
		"a payload changed":                    "ory_ac_g." + flip(payload, 3, 1) + "." + mac,
		"the MAC's spare bits set":             "ory_ac_g." + payload + "." + flip(mac, len(mac)-1, 1),
		"a line break in the MAC":              "ory_ac_g." + payload + "." + mac[:10] + "\n" + mac[10:],
		"the MAC padded":                       "ory_ac_g." + payload + "." + mac + "=",
		"no MAC":                               "ory_ac_g." + payload,
		"a third part":                         code + ".x",
		"fosite's form, this form's signature": "ory_ac_x." + mac + "~9999999999~" + grantOf(t, payload),
		"fosite's form, a MAC for a signature": "ory_ac_x." + mac,
		"too long":                             "ory_ac_g." + payload + strings.Repeat("A", 600) + "." + mac,
	}
	for what, f := range forged {
		before := fb.grants.count()
		rec := fb.exchange(t, f, fb.codeVerifier)
		wantInvalidGrant(t, what, rec)
		if got := fb.grants.count().minus(before); got.create+got.update+got.del > 0 {
			t.Errorf("%s: the exchange wrote to the grant store: %+v", what, got)
		}
	}
	if _, err := fb.p.VerifyAccessToken(t.Context(), a.AccessToken); err != nil {
		t.Errorf("the access token after forged codes: %v, want it active", err)
	}
}

// grantOf is the grant a code's payload names (after its 32 bytes of
// random, expiry and tenant tag).
func grantOf(t *testing.T, payload string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(raw) <= 32 {
		t.Fatalf("a code's payload %q: %v", payload, err)
	}
	return string(raw[32:])
}

// A code is its tenant's: at another tenant (by a client of that
// tenant, with the same redirect URI) it is invalid_grant, writes
// nothing, and the code is still good at its own tenant.
func TestCodeOfAnotherTenantNamesNothing(t *testing.T) {
	t.Parallel()
	fb := newFlowBench(t)
	if _, err := fb.w.Tenants.Create(t.Context(), tenants.Request{Actor: "test"}, "beta", "Beta"); err != nil {
		t.Fatal(err)
	}
	s := client.DefaultSettings(client.TypeConfidential)
	s.ClientName, s.Code = "Web", "urn:beta/web"
	s.RedirectURIs, s.DefaultScopes, s.ConsentRequired = []string{webCallback}, []string{"openid"}, true
	other, err := fb.w.Clients.Register(t.Context(), tenants.Request{Actor: "test"}, "beta", s)
	if err != nil {
		t.Fatal(err)
	}
	fb.w.CatchUp(t)
	code := codeFlow(t, fb)
	for _, used := range []bool{false, true} {
		before := fb.grants.count()
		rec := fb.exchangeAt(t, "beta", other.Client.ClientID, other.Secret.Value, code, fb.codeVerifier)
		wantInvalidGrant(t, "acme's code at beta", rec)
		if got := fb.grants.count().minus(before); got.create+got.update+got.del > 0 {
			t.Errorf("acme's code at beta (used %v) wrote to the grant store: %+v", used, got)
		}
		if !used {
			if rec := fb.exchange(t, code, fb.codeVerifier); rec.Code != http.StatusOK {
				t.Fatalf("the code at its own tenant after its try at another: %d %s", rec.Code, rec.Body)
			}
			waitCodeGone(t, fb, code)
		}
	}
}

// A code that expired, used or not, is invalid_grant once its record is
// gone, and revokes nothing: past its life, nothing tells a reuse from
// a late first use.
func TestExpiredCodeWithoutRecordRevokesNothing(t *testing.T) {
	t.Parallel()
	var ahead atomic.Int64
	fb := newFlowBenchOf(t, flowVariant{revocations: true, clock: func() time.Time {
		return time.Now().Add(time.Duration(ahead.Load()))
	}})
	used, unused := codeFlow(t, fb), codeFlow(t, fb)
	rec := fb.exchange(t, used, fb.codeVerifier)
	a := answerOf(t, rec)
	if rec.Code != http.StatusOK {
		t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
	}
	waitCodeGone(t, fb, used)
	if err := oauth.DeleteCodeRecord(t.Context(), fb.p, "acme", unused); err != nil {
		t.Fatal(err)
	}
	ahead.Store(int64(6 * time.Minute)) // past the codes' 5 minutes
	for what, code := range map[string]string{"used": used, "unused": unused} {
		before := fb.grants.count()
		rec := fb.exchange(t, code, fb.codeVerifier)
		wantInvalidGrant(t, "an expired "+what+" code without record", rec)
		if got := fb.grants.count().minus(before); got.create+got.update+got.del > 0 {
			t.Errorf("an expired %s code wrote to the grant store: %+v", what, got)
		}
	}
	if _, err := fb.p.VerifyAccessToken(t.Context(), a.AccessToken); err != nil {
		t.Errorf("the access token after its expired code's reuse: %v, want it active", err)
	}
}

// A code of fosite's form, which versions before this form issued, in
// the one-record layout, is exchanged; its used record, which is all
// that tells its reuse, is kept until the code expires (not only
// oauth.UsedCodeKeep), and its reuse revokes the grant.
func TestCodeOfEarlierFormExchanged(t *testing.T) {
	t.Parallel()
	fb := newFlowBenchOf(t, flowVariant{revocations: true})
	code, err := oauth.CodeOfEarlierForm(t.Context(), fb.p, "acme", codeFlow(t, fb))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(code, "ory_ac_g.") || !strings.HasPrefix(code, "ory_ac_") {
		t.Fatalf("%q is not a code of fosite's form", code)
	}
	rec := fb.exchange(t, code, fb.codeVerifier)
	a := answerOf(t, rec)
	if rec.Code != http.StatusOK || a.IDToken == "" {
		t.Fatalf("exchange of a code of fosite's form: %d %s", rec.Code, rec.Body)
	}
	time.Sleep(oauth.UsedCodeKeep + 2*time.Second)
	if _, err := oauth.CodeRecord(t.Context(), fb.p, "acme", code); err != nil {
		t.Fatalf("the used record of a code of fosite's form, after %v: %v; want it kept", oauth.UsedCodeKeep+2*time.Second, err)
	}
	wantInvalidGrant(t, "the code of fosite's form reused", fb.exchange(t, code, fb.codeVerifier))
	if _, err := fb.p.VerifyAccessToken(t.Context(), a.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
		t.Errorf("the access token after the code's reuse: %v, want revoked", err)
	}
}

// Used codes leave the grant store within seconds: after many flows, a
// few seconds on, the codes' bucket holds none of their records (the
// store's heap does not grow with the flows run in a code's lifetime).
func TestUsedCodesLeaveTheStore(t *testing.T) {
	t.Parallel()
	fb := newFlowBench(t)
	const flows = 200
	for range flows {
		if rec := fb.exchange(t, codeFlow(t, fb), fb.codeVerifier); rec.Code != http.StatusOK {
			t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
		}
	}
	kv, err := fb.js.KeyValue(t.Context(), "BENCH_FLOWS")
	if err != nil {
		t.Fatal(err)
	}
	count := func() uint64 {
		st, err := kv.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st.Values()
	}
	t.Logf("right after %d flows the codes' bucket holds %d entries", flows, count())
	// Within 10 s, whatever oauth.UsedCodeKeep says: the codes live 5
	// minutes.
	const within = 10 * time.Second
	for deadline := time.Now().Add(within); count() > 0 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	if n := count(); n > 0 {
		t.Errorf("%v after %d flows the codes' bucket still holds %d entries, want none", within, flows, n)
	}
}

// A reused code of a grant that has no record (its client has no
// refresh tokens: nothing was written) writes the grant's record, revoked,
// so that an exchange racing the reuse gets no refresh token; that record
// is kept as long as the revocation of the grant's access tokens, not as
// long as grants are (a year): each flow of a client that reuses its
// codes would otherwise leave a record for a year.
func TestRevokedGrantWithoutRecordIsKeptAsLongAsItsTokens(t *testing.T) {
	t.Parallel()
	fb := newFlowBenchOf(t, flowVariant{revocations: true, settings: func(s *client.Settings) {
		s.GrantTypes = []string{client.GrantAuthorizationCode}
	}})
	code := codeFlow(t, fb)
	if rec := fb.exchange(t, code, fb.codeVerifier); rec.Code != http.StatusOK {
		t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
	}
	start := time.Now()
	wantInvalidGrant(t, "the code reused", fb.exchange(t, code, fb.codeVerifier))
	fb.grants.mu.Lock()
	expiries := slices.Clone(fb.grants.expiries["fam"])
	fb.grants.mu.Unlock()
	if len(expiries) == 0 {
		t.Fatal("the reuse wrote no grant record")
	}
	limit := start.Add(client.MaxAccessTokenLifetime*time.Second + time.Minute)
	for _, e := range expiries {
		if e.IsZero() || e.After(limit) {
			t.Errorf("the revoked grant's record is kept until %v (zero: as long as grants are), want at most %v", e, limit)
		}
	}
}
