package httpapi_test

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	httpapi "github.com/clavisiam/clavis/http"
)

// Every field of a login application's answers is bounded, and an
// answer that is not valid is a problem naming its field, never a 500
// from a store that refuses to keep it; the challenge stays usable.
func TestLoginAnswersAreValidated(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	body := webClient("urn:acme/partner")
	body["consent_required"] = true
	body["optional_scopes"] = []string{"email"}
	cfg := clientConfig("acme", h.createClient(t, "acme", body), "openid", "email")
	b := h.browser(t).stopAtLogin()
	res, _ := b.get(cfg.AuthCodeURL("state-la01", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	lc := challengeOf(t, res, "login")
	accept := "/t/acme/admin/login-requests/" + url.PathEscape(lc) + "/accept"

	long := strings.Repeat("a", 5000)
	many := make([]string, 17)
	for i := range many {
		many[i] = "m" + string(rune('a'+i))
	}
	bigClaims := map[string]any{}
	for i := range 20 {
		bigClaims["c"+string(rune('a'+i))] = strings.Repeat("x", 1000)
	}
	escaped := make([]string, 16) // each stored as 6 bytes a character
	for i := range escaped {
		escaped[i] = strings.Repeat("<", 63) + string(rune('a'+i))
	}
	for _, tt := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"long amr values", map[string]any{"subject": "alice", "amr": []string{long, long, long, long, long, long, long, long, long, long}}, "amr"},
		{"too many amr values", map[string]any{"subject": "alice", "amr": many}, "amr"},
		{"empty amr value", map[string]any{"subject": "alice", "amr": []string{""}}, "amr"},
		{"repeated amr value", map[string]any{"subject": "alice", "amr": []string{"pwd", "pwd"}}, "amr"},
		{"amr with a control character", map[string]any{"subject": "alice", "amr": []string{"pw\nd"}}, "amr"},
		{"long acr", map[string]any{"subject": "alice", "acr": long}, "acr"},
		{"long subject", map[string]any{"subject": long}, "subject"},
		{"subject with a control character", map[string]any{"subject": "al\x00ice"}, "subject"},
		{"large claims", map[string]any{"subject": "alice", "claims": bigClaims}, "claims"},
		{"an answer too large together", map[string]any{"subject": strings.Repeat("<", 255), "acr": strings.Repeat("<", 255),
			"amr": escaped, "claims": map[string]any{"bio": strings.Repeat("b", 15<<10)}}, "claims"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkProblem(t, h.call(t, "POST", accept, tt.body), 422, httpapi.ProblemValidation, tt.field)
		})
	}
	// The largest answer each field allows is kept.
	amr := make([]string, 16)
	for i := range amr {
		amr[i] = strings.Repeat(string(rune('a'+i)), 64)
	}
	claims := map[string]any{"email": "alice@example.com", "bio": strings.Repeat("b", 15<<10)}
	res, _ = b.get(h.acceptChallenge(t, "acme", "login", lc,
		map[string]any{"subject": "alice", "acr": strings.Repeat("c", 255), "amr": amr, "claims": claims}))
	cc := challengeOf(t, res, "consent")
	consent := "/t/acme/admin/consent-requests/" + url.PathEscape(cc) + "/accept"

	flood := make([]string, 6000) // within the body limit
	for i := range flood {
		flood[i] = "openid"
	}
	for _, tt := range []struct {
		name  string
		scope []string
	}{
		{"a flood of one scope", flood},
		{"a scope twice", []string{"openid", "openid"}},
		{"a scope not requested", []string{"openid", "address"}},
		{"more scopes than requested", []string{"openid", "email", "profile"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkProblem(t, h.call(t, "POST", consent, map[string]any{"grant_scope": tt.scope}), 422, httpapi.ProblemValidation, "grant_scope")
		})
	}
	t.Run("valid answers get the client its code", func(t *testing.T) {
		res, _ := b.get(h.acceptChallenge(t, "acme", "consent", cc, map[string]any{"grant_scope": []string{"openid", "email"}}))
		wantDiff(t, "after valid answers", authResponse{Code: set, State: "state-la01", Iss: testIssuer + "acme"}, landed(t, res, webCallback).shape())
	})
}

// The development login page answers consent with the scopes its
// (unauthenticated) form posts: a flood of them is refused, not a 500.
func TestDevLoginConsentFormIsValidated(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	body := webClient("urn:acme/partner")
	body["consent_required"] = true
	cfg := clientConfig("acme", h.createClient(t, "acme", body), "openid")
	b := h.browser(t).stopAtLogin()
	res, _ := b.get(cfg.AuthCodeURL("state-la02", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	lc := challengeOf(t, res, "login")
	res, _ = b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"dave"}, "action": {"accept"}})
	cc := challengeOf(t, res, "consent")

	form := url.Values{"consent_challenge": {cc}, "action": {"accept"}}
	for range 3000 { // within the body limit
		form.Add("grant_scope", "openid")
	}
	if !t.Run("a flood of granted scopes is refused, naming them", func(t *testing.T) {
		res, page := b.post(testIssuer+"acme/dev/login", form)
		type shown struct {
			Status          int
			NamesGrantScope bool
		}
		wantDiff(t, "a flood of granted scopes: "+page, shown{422, true}, shown{res.StatusCode, strings.Contains(page, "grant_scope")})
	}) {
		t.FailNow()
	}
	t.Run("then a valid consent gets the client its code", func(t *testing.T) {
		res, _ := b.post(testIssuer+"acme/dev/login", url.Values{"consent_challenge": {cc}, "action": {"accept"}, "grant_scope": {"openid"}})
		wantDiff(t, "after a valid consent", authResponse{Code: set, State: "state-la02", Iss: testIssuer + "acme"}, landed(t, res, webCallback).shape())
	})
}
