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
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

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

// An authorization request padded with parameters that are no part of
// an authorization request, under the bound on the whole request, was
// stored whole, JSON-escaped: 8 KiB of "&x=" cost over 20 KiB in the
// flow store. Only the request's own parameters are kept, and one of
// them over its bound is refused before anything is stored.
func TestPaddedRequestStoresLittle(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	id := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)
	b := h.browser(t).stopAtLogin()

	form := authorizeForm(id)
	for i := 0; len(form.Encode()) < 7<<10; i++ { // within the 64 parameters a request may have
		form.Set(fmt.Sprintf("x%d", i), strings.Repeat("x", 128))
	}
	res, _ := b.post(testIssuer+"acme/oauth2/auth", form)
	if !isRedirectTo(res, testLoginURL) {
		t.Fatalf("a valid padded request: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	flows := h.storedFlows(t)
	if len(flows) != 1 {
		t.Fatalf("flows stored: %v", flows)
	}
	for k, n := range flows {
		if n > 2<<10 {
			t.Errorf("a %d-byte anonymous request stored %d bytes (%s)", len(form.Encode()), n, k)
		}
	}

	// A parameter of the request over its bound: refused, nothing stored.
	for name, size := range map[string]int{"state": 2049, "nonce": 1025, "login_hint": 513} {
		form := authorizeForm(id)
		form.Set(name, strings.Repeat("s", size))
		res, _ := b.post(testIssuer+"acme/oauth2/auth", form)
		got := arrived(t, res, webCallback)
		if got.Get("error") != "invalid_request" || !strings.Contains(got.Get("error_description"), name) {
			t.Errorf("%s of %d bytes: %v, want invalid_request naming it", name, size, got)
		}
	}
	if after := h.storedFlows(t); len(after) != 1 {
		t.Errorf("refused requests stored flows: %v", after)
	}

	// Padded with a parameter of the request, repeated: refused, or
	// stored within the bound.
	form = authorizeForm(id)
	for len(form.Encode()) < 7<<10 {
		form.Add("state", "")
	}
	res, _ = b.post(testIssuer+"acme/oauth2/auth", form)
	for k, n := range h.storedFlows(t) {
		if _, old := flows[k]; !old && n > 9<<10 {
			t.Errorf("a %d-byte request of %d states stored %d bytes (%s, answer %d)", len(form.Encode()), len(form["state"]), n, k, res.StatusCode)
		}
	}
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
				retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
				if res.StatusCode != http.StatusTooManyRequests || err != nil || retry < 1 || !strings.Contains(body, "temporarily_unavailable") {
					t.Errorf("request %d (client %d): %d, Retry-After %q: %s; want 429 temporarily_unavailable with Retry-After",
						i+1, c, res.StatusCode, res.Header.Get("Retry-After"), body)
				}
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
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "temporarily_unavailable") {
			t.Fatalf("request %d on a full store: %d %s %s; want 503 temporarily_unavailable with Retry-After",
				i+1, res.StatusCode, res.Header.Get("Location"), body)
		}
	}
	if !filled {
		t.Fatal("1000 requests of 5 KiB never filled a flow store of 256 KiB")
	}

	// The code and the refresh token of earlier logins still work.
	if _, err := cfg.Exchange(h.oauthContext(t), code, oauth2.VerifierOption(verifier)); err != nil {
		t.Errorf("exchange a code on a full flow store: %v", err)
	}
	r := h.tokenCall(t, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, cfg.ClientID, cfg.ClientSecret)
	if r.status != 200 {
		t.Errorf("refresh on a full flow store: %d %s", r.status, r.body)
	}
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
		if m := h.call(t, "GET", doc, nil, noAuth).want(t, 200).object(t); m["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("%s: authorization_response_iss_parameter_supported = %v", doc, m["authorization_response_iss_parameter_supported"])
		}
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
		if res.StatusCode != 200 || !strings.Contains(page, `action="`+webCallback) {
			t.Fatalf("form_post: %d %.300s", res.StatusCode, page)
		}
		got := url.Values{}
		for _, m := range regexpInput.FindAllStringSubmatch(page, -1) {
			got.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		return got
	}
	for _, tt := range []struct {
		name  string
		edit  func(url.Values)
		login bool
		want  string // the parameter that must come with iss
	}{
		{"code in the query", func(url.Values) {}, true, "code"},
		{"code and ID token in the fragment", func(q url.Values) { q.Set("response_type", "code id_token") }, true, "id_token"},
		{"code in a form post", func(q url.Values) { q.Set("response_mode", "form_post") }, true, "code"},
		{"error in the query", func(q url.Values) { q.Set("scope", "openid admin") }, false, "error"},
		{"error in the fragment", func(q url.Values) { q.Set("response_type", "code id_token"); q.Set("prompt", "none") }, false, "error"},
		{"error in a form post", func(q url.Values) { q.Set("response_mode", "form_post"); q.Set("prompt", "none") }, false, "error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := authorizeForm(id)
			q.Set("nonce", "nonce-iss")
			tt.edit(q)
			got := run(t, q, tt.login)
			if got.Get(tt.want) == "" || got.Get("state") != "state-limits" || got.Get("iss") != iss || len(got["iss"]) != 1 {
				t.Errorf("the client got %v; want %s, state and iss=%s", got, tt.want, iss)
			}
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
	if arrived(t, res, webCallback).Get("code") == "" {
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

// A signed-in browser replaying an authorization request stored a code
// (three records, up to ~27 KB) per request without any limit: the
// login session skipped the flow, and with it the flow limits. The same
// per-client and per-address limits hold: beyond, 429 with Retry-After,
// and no code.
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
				if got := arrived(t, res, webCallback); got.Get("code") == "" {
					t.Fatalf("request %d with the login session: %v", i, got)
				}
			}
			res, body := b.post(testIssuer+"acme/oauth2/auth", form)
			retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
			if res.StatusCode != http.StatusTooManyRequests || err != nil || retry < 1 || !strings.Contains(body, "temporarily_unavailable") {
				t.Errorf("request 5 with the login session: %d %.200s, Retry-After %q; want 429 temporarily_unavailable with Retry-After",
					res.StatusCode, res.Header.Get("Location"), res.Header.Get("Retry-After"))
			}
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
		got := arrived(t, res, webCallback)
		if got.Get("code") != "" {
			continue
		}
		if got.Get("error") != "temporarily_unavailable" || got.Get("state") != form.Get("state") || got.Get("iss") != testIssuer+"acme" {
			t.Errorf("request %d on a full code store: %.300v; want temporarily_unavailable with state and iss", i, got)
		}
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
	for i, step := range []struct {
		client string
		status int
	}{{one, http.StatusFound}, {one, http.StatusTooManyRequests}, {two, http.StatusFound}} {
		res, _ := b.get(testIssuer + "acme/oauth2/auth?" + authorizeForm(step.client).Encode())
		if res.StatusCode != step.status {
			t.Errorf("request %d: %d %s, want %d", i+1, res.StatusCode, res.Header.Get("Location"), step.status)
		}
	}
}

// An unsigned request object (OpenID Connect Core §6) replaced the
// request's own state, scope and PKCE, after the parameter filter,
// though discovery does not say request objects are supported. The
// request and request_uri parameters are refused at the redirect URI
// before anything is stored, and discovery says so.
func TestRequestObjectRefused(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	for _, doc := range []string{"/t/acme/.well-known/openid-configuration", "/t/acme/.well-known/oauth-authorization-server"} {
		m := h.call(t, "GET", doc, nil, noAuth).want(t, 200).object(t)
		for _, name := range []string{"request_parameter_supported", "request_uri_parameter_supported"} {
			if v, ok := m[name]; !ok || v != false {
				t.Errorf("%s: %s = %v (present: %v), want false", doc, name, v, ok)
			}
		}
	}
	id := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"client_id": id, "redirect_uri": webCallback, "response_type": "code", "scope": "openid",
		"state": "state-object", "code_challenge": oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()), "code_challenge_method": "S256"})
	object := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(claims) + "."
	b := h.browser(t).stopAtLogin()
	for name, tt := range map[string]struct{ value, want string }{
		"request":     {object, "request_not_supported"},
		"request_uri": {"https://app.example.com/request.jwt", "request_uri_not_supported"},
	} {
		form := authorizeForm(id)
		form.Set(name, tt.value)
		res, body := b.get(testIssuer + "acme/oauth2/auth?" + form.Encode())
		if res.StatusCode/100 != 3 || !strings.HasPrefix(res.Header.Get("Location"), webCallback) {
			t.Errorf("%s: %d %s %.300s; want %s at the redirect URI", name, res.StatusCode, res.Header.Get("Location"), body, tt.want)
			continue
		}
		if got := arrived(t, res, webCallback); got.Get("error") != tt.want || got.Get("state") != "state-limits" {
			t.Errorf("%s: the client got %v; want %s with the request's own state", name, got, tt.want)
		}
	}
	if flows := h.storedFlows(t); len(flows) != 0 {
		t.Errorf("refused requests stored flows: %v", flows)
	}
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
	lr := h.call(t, "GET", "/t/acme/admin/login-requests/"+url.PathEscape(lc), nil).want(t, 200).object(t)
	if n := len(lr["request_url"].(string)); n > 8<<10 {
		t.Errorf("an anonymous authorization request stored %d bytes in the flow store", n)
	}
}
