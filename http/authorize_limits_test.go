package httpapi_test

// What an anonymous caller of the authorization endpoint may make the
// node store (each request that reaches the login application is kept
// as a flow until it expires), and the issuer identification of
// authorization responses (RFC 9207).

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/http/oauth"
)

// storedFlows reads every flow the node keeps, whichever of its grant
// buckets holds them: the size of each, by key.
func (h *adminHarness) storedFlows(t *testing.T) map[string]int {
	t.Helper()
	flows := map[string]int{}
	for name := range h.js.KeyValueStoreNames(t.Context()).Name() {
		if !strings.HasPrefix(name, "TEST_") {
			continue
		}
		kv, err := h.js.KeyValue(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := kv.ListKeys(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for k := range keys.Keys() {
			if !strings.Contains(k, ".flow.") {
				continue
			}
			e, err := kv.Get(t.Context(), k)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			flows[name+":"+k] = len(e.Value())
		}
	}
	return flows
}

// authorizeForm is a valid authorization request of client id.
func authorizeForm(id string) url.Values {
	return url.Values{"client_id": {id}, "redirect_uri": {webCallback}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"state-limits"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}}
}

// A flow keeps only the request's own parameters: a request padded
// with others, under the bound on the whole request, stores little. One
// of the request's own parameters over its bound is refused before
// anything is stored.
func TestPaddedRequestStoresLittle(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	id := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)
	b := h.browser(t).stopAtLogin()

	var flows map[string]int
	if !t.Run("a request padded with other parameters stores its own only", func(t *testing.T) {
		form := authorizeForm(id)
		for i := 0; len(form.Encode()) < 7<<10; i++ { // within the 64 parameters a request may have
			form.Set(fmt.Sprintf("x%d", i), strings.Repeat("x", 128))
		}
		res, _ := b.post(testIssuer+"acme/oauth2/auth", form)
		if !isRedirectTo(res, testLoginURL) {
			t.Fatalf("a valid padded request: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		flows = h.storedFlows(t)
		if len(flows) != 1 {
			t.Fatalf("flows stored: %v", flows)
		}
		for k, n := range flows {
			if n > 2<<10 {
				t.Errorf("a %d-byte anonymous request stored %d bytes (%s)", len(form.Encode()), n, k)
			}
		}
	}) {
		t.FailNow()
	}

	for _, tc := range []struct {
		name string
		size int
	}{{"state", 2049}, {"nonce", 1025}, {"login_hint", 513}} {
		t.Run(fmt.Sprintf("a %s of %d bytes is refused, naming it", tc.name, tc.size), func(t *testing.T) {
			form := authorizeForm(id)
			form.Set(tc.name, strings.Repeat("s", tc.size))
			res, _ := b.post(testIssuer+"acme/oauth2/auth", form)
			got := landed(t, res, webCallback)
			type shown struct {
				Error                 string
				DescriptionNamesField bool
			}
			wantDiff(t, "refusal "+got.ErrorDescription, shown{"invalid_request", true}, shown{got.Error, strings.Contains(got.ErrorDescription, tc.name)})
		})
	}
	t.Run("refused requests store nothing", func(t *testing.T) {
		if after := h.storedFlows(t); len(after) != 1 {
			t.Errorf("refused requests stored flows: %v", after)
		}
	})

	t.Run("a request padded with its own parameter repeated is refused or stored within the bound", func(t *testing.T) {
		form := authorizeForm(id)
		for len(form.Encode()) < 7<<10 {
			form.Add("state", "")
		}
		res, _ := b.post(testIssuer+"acme/oauth2/auth", form)
		for k, n := range h.storedFlows(t) {
			if _, old := flows[k]; !old && n > 9<<10 {
				t.Errorf("a %d-byte request of %d states stored %d bytes (%s, answer %d)", len(form.Encode()), len(form["state"]), n, k, res.StatusCode)
			}
		}
	})
}

// throttled is what an authorization request refused for a while got,
// as far as a test looks at it.
type throttled struct {
	Status int
	// RetryAfter is whether Retry-After says a number of seconds, at
	// least one.
	RetryAfter bool
	// Unavailable is whether the answer says temporarily_unavailable.
	Unavailable bool
}

func throttledOf(res *http.Response, body string) throttled {
	retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
	return throttled{res.StatusCode, err == nil && retry >= 1, strings.Contains(body, "temporarily_unavailable")}
}

// Flows are stored at a bounded rate, per client and per source
// address: beyond, 429 with Retry-After, and nothing stored.
func TestFlowRateLimited(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		limits oauth.FlowLimits
		// clients names which client (0 or 1) makes each request; the
		// last one is refused.
		clients []int
	}{
		{"per client", oauth.FlowLimits{PerClient: 0.001, ClientBurst: 3, PerAddress: 1000, AddressBurst: 1000}, []int{0, 0, 1, 0, 1, 0}},
		{"per address", oauth.FlowLimits{PerClient: 1000, ClientBurst: 1000, PerAddress: 0.001, AddressBurst: 3}, []int{0, 1, 0, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := startAdmin(t, oauth.WithFlowLimits(tt.limits))
			h.createTenant(t, "acme")
			h.withLoginApp(t, "acme")
			ids := []string{
				h.createClient(t, "acme", webClient("urn:acme/one"))["client_id"].(string),
				h.createClient(t, "acme", webClient("urn:acme/two"))["client_id"].(string),
			}
			b := h.browser(t).stopAtLogin()
			last := len(tt.clients) - 1
			for i, c := range tt.clients {
				res, body := b.get(testIssuer + "acme/oauth2/auth?" + authorizeForm(ids[c]).Encode())
				if i < last {
					if !isRedirectTo(res, testLoginURL) {
						t.Fatalf("request %d (client %d): %d %s %s", i+1, c, res.StatusCode, res.Header.Get("Location"), body)
					}
					continue
				}
				wantDiff(t, fmt.Sprintf("request %d (client %d): %s", i+1, c, body), throttled{http.StatusTooManyRequests, true, true}, throttledOf(res, body))
			}
			if flows := h.storedFlows(t); len(flows) != last {
				t.Errorf("%d flows stored, want %d", len(flows), last)
			}
		})
	}
}

// The flow store has a byte limit. When anonymous requests have filled
// it, a new request is refused with 503 and Retry-After, while the codes
// and refresh tokens of users who logged in before go on working.
func TestFullFlowStoreKeepsGrants(t *testing.T) {
	t.Parallel()
	h := startAdminGrants(t, 256<<10, oauth.WithFlowLimits(oauth.FlowLimits{PerClient: 1e6, ClientBurst: 1e6, PerAddress: 1e6, AddressBurst: 1e6}))
	h.createTenant(t, "acme")
	cfg := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/web")), "openid")
	b := h.browser(t)
	tok := h.codeFlow(t, b, cfg, "alice")
	verifier := oauth2.GenerateVerifier()
	code := h.codeOnly(t, b, cfg, verifier)

	filled := false
	for i := 0; i < 1000 && !filled; i++ {
		attacker := h.browser(t).stopAtLogin() // no cookies: each request is a new browser
		form := authorizeForm(cfg.ClientID)
		form.Set("state", strings.Repeat("s", 2048))
		form.Set("nonce", strings.Repeat("n", 1024))
		form.Set("login_hint", strings.Repeat("l", 512))
		form.Set("acr_values", strings.Repeat("a", 512))
		res, body := attacker.post(testIssuer+"acme/oauth2/auth", form)
		if res.StatusCode/100 == 3 && strings.Contains(res.Header.Get("Location"), "/dev/login") {
			continue
		}
		filled = true
		if diff := cmp.Diff(throttled{http.StatusServiceUnavailable, true, true}, throttledOf(res, body)); diff != "" {
			t.Fatalf("request %d on a full store: %s %s (-want +got):\n%s", i+1, res.Header.Get("Location"), body, diff)
		}
	}
	if !filled {
		t.Fatal("1000 requests of 5 KiB never filled a flow store of 256 KiB")
	}

	t.Run("an earlier login's code is exchanged", func(t *testing.T) {
		if _, err := cfg.Exchange(h.oauthContext(t), code, oauth2.VerifierOption(verifier)); err != nil {
			t.Errorf("exchange a code on a full flow store: %v", err)
		}
	})
	t.Run("an earlier login's refresh token works", func(t *testing.T) {
		r := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret)
		wantDiff(t, "refresh on a full flow store: "+string(r.body), 200, r.status)
	})
}

// Every authorization response names its issuer (RFC 9207), codes and
// tokens as errors, in the query, the fragment and a form post, and
// discovery says so.
func TestAuthorizationResponsesCarryIss(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	iss := testIssuer + "acme"
	for _, doc := range []string{"/t/acme/.well-known/openid-configuration", "/t/acme/.well-known/oauth-authorization-server",
		"/.well-known/oauth-authorization-server/t/acme"} {
		m := decodeAs[struct {
			Iss *bool `json:"authorization_response_iss_parameter_supported"`
		}](t, h.call(t, "GET", doc, nil, noAuth).want(t, 200))
		wantDiff(t, doc+": authorization_response_iss_parameter_supported", ptr(true), m.Iss)
	}
	body := webClient("urn:acme/hybrid")
	body["grant_types"] = []string{"authorization_code", "implicit"}
	body["response_types"] = []string{"code", "code id_token"}
	id := h.createClient(t, "acme", body)["client_id"].(string)

	// run makes a request (with login when login is set) and returns
	// what the client got: the redirect's query or fragment, or the
	// fields of the page that posts to it.
	run := func(t *testing.T, q url.Values, login bool) url.Values {
		t.Helper()
		b := h.browser(t).stopAtLogin()
		res, page := b.get(testIssuer + "acme/oauth2/auth?" + q.Encode())
		if login {
			lc := challengeOf(t, res, "login")
			res, page = b.post(testIssuer+"acme/dev/login", url.Values{"login_challenge": {lc}, "subject": {"erin"}, "action": {"accept"}})
		}
		if q.Get("response_mode") != "form_post" {
			return arrived(t, res, webCallback)
		}
		return formPosted(t, res, page, webCallback)
	}
	for _, tt := range []struct {
		name  string
		edit  func(url.Values)
		login bool
		want  authResponse
	}{
		{"code in the query", func(url.Values) {}, true, authResponse{Code: set}},
		{"code and ID token in the fragment", func(q url.Values) { q.Set("response_type", "code id_token") }, true, authResponse{Code: set, IDToken: set}},
		{"code in a form post", func(q url.Values) { q.Set("response_mode", "form_post") }, true, authResponse{Code: set}},
		{"error in the query", func(q url.Values) { q.Set("scope", "openid admin") }, false, authResponse{Error: "invalid_scope"}},
		{"error in the fragment", func(q url.Values) { q.Set("response_type", "code id_token"); q.Set("prompt", "none") }, false,
			authResponse{Error: "login_required"}},
		{"error in a form post", func(q url.Values) { q.Set("response_mode", "form_post"); q.Set("prompt", "none") }, false,
			authResponse{Error: "login_required"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := authorizeForm(id)
			q.Set("nonce", "nonce-iss")
			tt.edit(q)
			got := run(t, q, tt.login)
			want := tt.want
			want.State, want.Iss = "state-limits", iss
			wantDiff(t, "the client got", want, authResponseOf(got).shape())
			wantDiff(t, "iss parameters", 1, len(got["iss"]))
		})
	}
}

// regexpInput reads the fields of the form_post page.
var regexpInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"\s*/?>`)

// signedIn is a browser in which user logged in (with remember) to the
// first-party client cfg of tenant acme through its login application,
// and cfg's authorization request with the largest parameters allowed:
// with the login session, each such request stores a code at once.
func (h *adminHarness) signedIn(t *testing.T, cfg oauth2.Config, user string) (*browser, url.Values) {
	t.Helper()
	b := h.browser(t)
	res := h.loginThroughApp(t, b, "acme", cfg.AuthCodeURL("state-login", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())),
		map[string]any{"subject": user, "remember": true})
	if landed(t, res, webCallback).Code == "" {
		t.Fatalf("no code after login: %s", res.Header.Get("Location"))
	}
	form := authorizeForm(cfg.ClientID)
	form.Set("state", strings.Repeat("s", 2048))
	form.Set("nonce", strings.Repeat("n", 1024))
	form.Set("login_hint", strings.Repeat("l", 512))
	form.Set("acr_values", strings.Repeat("a", 512))
	form.Set("ui_locales", strings.Repeat("u", 256))
	return b, form
}

// A signed-in browser's requests skip the login application, and each
// stores a code (three records, up to ~27 KB) at once: the flow limits
// hold for them as well, per client and per address. Beyond, 429 with
// Retry-After, and no code.
func TestLoginSessionCodesRateLimited(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		limits oauth.FlowLimits
	}{
		{"per client", oauth.FlowLimits{PerClient: 0.001, ClientBurst: 4, PerAddress: 1000, AddressBurst: 1000}},
		{"per address", oauth.FlowLimits{PerClient: 1000, ClientBurst: 1000, PerAddress: 0.001, AddressBurst: 4}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := startAdmin(t, oauth.WithFlowLimits(tt.limits))
			cfg := h.firstPartyWithLoginApp(t)
			b, form := h.signedIn(t, cfg, "bob") // the login's flow is the first of 4
			for i := 2; i <= 4; i++ {
				res, _ := b.post(testIssuer+"acme/oauth2/auth", form)
				if got := landed(t, res, webCallback); got.Code == "" {
					t.Fatalf("request %d with the login session: %+v", i, got)
				}
			}
			res, body := b.post(testIssuer+"acme/oauth2/auth", form)
			wantDiff(t, fmt.Sprintf("request 5 with the login session: %.200s %.200s", res.Header.Get("Location"), body),
				throttled{http.StatusTooManyRequests, true, true}, throttledOf(res, body))
		})
	}
}

// When the code store is full, a signed-in user's authorization request
// gets temporarily_unavailable at the redirect URI (the client may
// retry), not server_error.
func TestFullCodeStoreTemporarilyUnavailable(t *testing.T) {
	t.Parallel()
	h := startAdminGrants(t, 256<<10, oauth.WithFlowLimits(oauth.FlowLimits{PerClient: 1e6, ClientBurst: 1e6, PerAddress: 1e6, AddressBurst: 1e6}))
	cfg := h.firstPartyWithLoginApp(t)
	b, form := h.signedIn(t, cfg, "bob")
	for i := 1; ; i++ {
		if i > 1000 {
			t.Fatal("1000 codes of ~20 KiB never filled a code store of 256 KiB")
		}
		res, _ := b.post(testIssuer+"acme/oauth2/auth", form)
		got := landed(t, res, webCallback)
		if got.Code != "" {
			continue
		}
		wantDiff(t, fmt.Sprintf("request %d on a full code store", i),
			authResponse{Error: "temporarily_unavailable", State: form.Get("state"), Iss: testIssuer + "acme"}, got.shape())
		break
	}
}

// A request the per-client limit refuses stores nothing, so it does not
// use up its address's allowance either: the address may still ask for
// another client.
func TestClientRefusalKeepsAddressToken(t *testing.T) {
	t.Parallel()
	h := startAdmin(t, oauth.WithFlowLimits(oauth.FlowLimits{PerClient: 0.001, ClientBurst: 1, PerAddress: 0.001, AddressBurst: 2}))
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	one := h.createClient(t, "acme", webClient("urn:acme/one"))["client_id"].(string)
	two := h.createClient(t, "acme", webClient("urn:acme/two"))["client_id"].(string)
	b := h.browser(t).stopAtLogin()
	var got []int
	for _, client := range []string{one, one, two} {
		res, _ := b.get(testIssuer + "acme/oauth2/auth?" + authorizeForm(client).Encode())
		got = append(got, res.StatusCode)
	}
	wantDiff(t, "statuses of requests for clients one, one, two", []int{http.StatusFound, http.StatusTooManyRequests, http.StatusFound}, got)
}

// Request objects (OpenID Connect Core §6) are not supported, so none
// may replace the request's own state, scope or PKCE: the request and
// request_uri parameters are refused at the redirect URI before
// anything is stored, and discovery says so.
func TestRequestObjectRefused(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	type requestObjects struct {
		Request    *bool `json:"request_parameter_supported"`
		RequestURI *bool `json:"request_uri_parameter_supported"`
	}
	for _, doc := range []string{"/t/acme/.well-known/openid-configuration", "/t/acme/.well-known/oauth-authorization-server"} {
		wantDiff(t, doc, requestObjects{ptr(false), ptr(false)}, decodeAs[requestObjects](t, h.call(t, "GET", doc, nil, noAuth).want(t, 200)))
	}
	id := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"client_id": id, "redirect_uri": webCallback, "response_type": "code", "scope": "openid",
		"state": "state-object", "code_challenge": oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()), "code_challenge_method": "S256"})
	object := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(claims) + "."
	b := h.browser(t).stopAtLogin()
	for _, tt := range []struct{ name, value, want string }{
		{"request", object, "request_not_supported"},
		{"request_uri", "https://app.example.com/request.jwt", "request_uri_not_supported"},
	} {
		t.Run(tt.name+" is refused at the redirect URI with the request's own state", func(t *testing.T) {
			form := authorizeForm(id)
			form.Set(tt.name, tt.value)
			res, _ := b.get(testIssuer + "acme/oauth2/auth?" + form.Encode())
			wantDiff(t, "the client got", authResponse{Error: tt.want, State: "state-limits", Iss: testIssuer + "acme"}, landed(t, res, webCallback).shape())
		})
	}
	t.Run("refused requests store nothing", func(t *testing.T) {
		if flows := h.storedFlows(t); len(flows) != 0 {
			t.Errorf("refused requests stored flows: %v", flows)
		}
	})
}

// The authorization endpoint is unauthenticated, and every request that
// reaches the login application is stored as a flow. A GET is bounded by
// the server's header buffer (4 KiB), but a POST carries up to the body
// limit of parameters: what a flow keeps of one is bounded all the same.
func TestPostedAuthorizeRequestStoredBounded(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	cfg := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/web")), "openid")
	b := h.browser(t).stopAtLogin()

	form := url.Values{"client_id": {cfg.ClientID}, "redirect_uri": {webCallback}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"state-at06"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}, "padding": {strings.Repeat("A", 48<<10)}}
	res, _ := b.post(testIssuer+"acme/oauth2/auth", form)
	if !isRedirectTo(res, testLoginURL) {
		return // refused: fine
	}
	lc := location(t, res).Query().Get("login_challenge")
	if n := len(h.challengeView(t, "acme", "login", lc).RequestURL); n > 8<<10 {
		t.Errorf("an anonymous authorization request stored %d bytes in the flow store", n)
	}
}
