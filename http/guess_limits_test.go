package httpapi_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/time/rate"

	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/http/guess"
	"github.com/clavisiam/clavis/internal/node"
)

// guessLimits are small limits for these tests, refilling once a minute:
// 3 failures against a client from one address, 6 against a client from
// anywhere, 10 from one address in all.
var guessLimits = guess.Limits{
	Source:       guess.Limit{Rate: rate.Every(time.Minute), Burst: 10},
	Client:       guess.Limit{Rate: rate.Every(time.Minute), Burst: 6},
	ClientSource: guess.Limit{Rate: rate.Every(time.Minute), Burst: 3},
}

// unlimitedGuesses lets an address fail as often as it likes.
var unlimitedGuesses = node.WithGuesses(guess.WithLimits(guess.Limits{
	Source: guess.Limit{Rate: rate.Inf, Burst: 1}, Client: guess.Limit{Rate: rate.Inf, Burst: 1}, ClientSource: guess.Limit{Rate: rate.Inf, Burst: 1},
}))

// stoppedClock is a clock that moves only when told.
type stoppedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stoppedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stoppedClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startGuessing starts a node with guessLimits on a stopped clock, behind
// a trusted proxy on loopback: each request names its source address in
// X-Forwarded-For.
func startGuessing(t *testing.T) (*adminHarness, *stoppedClock) {
	t.Helper()
	clock := &stoppedClock{t: time.Now()}
	h := startAdminNode(t, func(cfg *node.Config) { cfg.TrustedProxies = "127.0.0.1, ::1" },
		node.WithGuesses(guess.WithLimits(guessLimits), guess.WithClock(clock.now)))
	return h, clock
}

// The addresses requests come from.
const (
	attacker = "198.51.100.7"
	owner    = "192.0.2.10"
)

// formFrom posts form to tenant's OAuth endpoint from address from, with
// HTTP Basic when basic holds an id and a secret.
func (h *adminHarness) formFrom(t *testing.T, from, tenant, endpoint string, form url.Values, basic ...string) response {
	t.Helper()
	path := "/t/" + tenant + "/oauth2/" + endpoint
	req, err := http.NewRequestWithContext(t.Context(), "POST", h.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", from)
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	r := send(t, req)
	h.k.checkResponse(t, "POST", path, r)
	return r
}

// tokenFrom asks tenant's token endpoint for a client_credentials token
// from address from, with HTTP Basic.
func (h *adminHarness) tokenFrom(t *testing.T, from, tenant, id, secret string) response {
	t.Helper()
	return h.formFrom(t, from, tenant, "token", url.Values{"grant_type": {"client_credentials"}}, id, secret)
}

func send(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// wantRetryAfter fails unless r says to retry in want seconds.
func wantRetryAfter(t *testing.T, r response, want int) {
	t.Helper()
	if got := r.header.Get("Retry-After"); got != strconv.Itoa(want) {
		t.Errorf("Retry-After = %q, want %d", got, want)
	}
}

// newM2M creates an m2m client of tenant and returns its id and secret.
func (h *adminHarness) newM2M(t *testing.T, tenant, code string) (string, string) {
	t.Helper()
	c, _ := h.newClient(t, tenant, map[string]any{"type": "m2m", "client_name": "Worker " + code, "code": code,
		"grant_types": []string{"client_credentials"}})
	return c.ClientID, c.ClientSecret
}

// Wrong secrets from one address are answered 429 with Retry-After once
// the address has spent its burst against the client, even with the
// right secret then; the client, from its own address, goes on getting
// tokens; the refused attempts cost nothing, and once the bucket has
// regained a token the address may try again.
func TestGuessedClientSecretFromOneAddress(t *testing.T) {
	t.Parallel()
	h, clock := startGuessing(t)
	h.createTenant(t, "acme")
	id, secret := h.newM2M(t, "acme", "urn:acme/worker")

	t.Run("the first wrong secrets are invalid_client", func(t *testing.T) {
		for range guessLimits.ClientSource.Burst {
			wantOAuthError(t, h.tokenFrom(t, attacker, "acme", id, "wrong-"+secret), http.StatusUnauthorized, "invalid_client")
		}
	})
	t.Run("past the burst a wrong secret is 429 temporarily_unavailable, with Retry-After", func(t *testing.T) {
		r := h.tokenFrom(t, attacker, "acme", id, "wrong-"+secret)
		wantOAuthError(t, r, http.StatusTooManyRequests, "temporarily_unavailable")
		wantRetryAfter(t, r, 60)
	})
	t.Run("from that address the right secret is refused too", func(t *testing.T) {
		r := h.tokenFrom(t, attacker, "acme", id, secret)
		wantOAuthError(t, r, http.StatusTooManyRequests, "temporarily_unavailable")
		wantRetryAfter(t, r, 60)
	})
	t.Run("from that address introspection with the client's secret is refused too", func(t *testing.T) {
		r := h.formFrom(t, attacker, "acme", "introspect", url.Values{"token": {"x"}}, id, secret)
		wantOAuthError(t, r, http.StatusTooManyRequests, "temporarily_unavailable")
	})
	t.Run("the client from its own address gets tokens", func(t *testing.T) {
		for range 3 {
			h.tokenFrom(t, owner, "acme", id, secret).want(t, http.StatusOK)
		}
	})
	t.Run("refused attempts cost nothing: a minute later the address may try once more", func(t *testing.T) {
		for range 5 {
			wantOAuthError(t, h.tokenFrom(t, attacker, "acme", id, "wrong-"+secret), http.StatusTooManyRequests, "temporarily_unavailable")
		}
		clock.advance(time.Minute)
		h.tokenFrom(t, attacker, "acme", id, secret).want(t, http.StatusOK)
	})
}

// However many addresses guess a client's secret, an address that has
// not failed against the client is not refused because of them: the
// client's own address goes on getting tokens, while the guessing
// addresses, once the client's budget is spent, are refused after their
// first failure.
func TestGuessingFromManyAddressesDoesNotLockTheClientOut(t *testing.T) {
	t.Parallel()
	h, _ := startGuessing(t)
	h.createTenant(t, "acme")
	id, secret := h.newM2M(t, "acme", "urn:acme/worker")
	attackers := make([]string, guessLimits.Client.Burst)
	for i := range attackers {
		attackers[i] = "203.0.113." + strconv.Itoa(i+1)
	}

	t.Run("one wrong secret from each of many addresses spends the client's budget", func(t *testing.T) {
		for _, from := range attackers {
			wantOAuthError(t, h.tokenFrom(t, from, "acme", id, "wrong-"+secret), http.StatusUnauthorized, "invalid_client")
		}
	})
	t.Run("an address that failed against the client is refused", func(t *testing.T) {
		r := h.tokenFrom(t, attackers[0], "acme", id, "wrong-"+secret)
		wantOAuthError(t, r, http.StatusTooManyRequests, "temporarily_unavailable")
		wantRetryAfter(t, r, 60)
	})
	t.Run("a new address is refused after its first failure", func(t *testing.T) {
		wantOAuthError(t, h.tokenFrom(t, "203.0.113.200", "acme", id, "wrong-"+secret), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, h.tokenFrom(t, "203.0.113.200", "acme", id, "wrong-"+secret), http.StatusTooManyRequests, "temporarily_unavailable")
	})
	t.Run("the client from its own address gets tokens and introspects", func(t *testing.T) {
		for range 3 {
			h.tokenFrom(t, owner, "acme", id, secret).want(t, http.StatusOK)
		}
		h.formFrom(t, owner, "acme", "introspect", url.Values{"token": {"x"}}, id, secret).want(t, http.StatusOK)
	})
}

// IPv6 addresses count by their /64: a host picking new addresses from
// its network is one source.
func TestGuessingFromOneIPv6Network(t *testing.T) {
	t.Parallel()
	h, _ := startGuessing(t)
	h.createTenant(t, "acme")
	id, secret := h.newM2M(t, "acme", "urn:acme/worker")
	for i := range guessLimits.ClientSource.Burst {
		from := "2001:db8:1:2::" + strconv.Itoa(i+1)
		wantOAuthError(t, h.tokenFrom(t, from, "acme", id, "wrong-"+secret), http.StatusUnauthorized, "invalid_client")
	}
	wantOAuthError(t, h.tokenFrom(t, "2001:db8:1:2:ffff::1", "acme", id, secret), http.StatusTooManyRequests, "temporarily_unavailable")
	h.tokenFrom(t, "2001:db8:1:3::1", "acme", id, secret).want(t, http.StatusOK)
}

// An address failing against many clients is stopped by its own budget,
// which every credential shares: the clients' secrets, the root token,
// the console's sign-in.
func TestAddressGuessingManyClientsIsStopped(t *testing.T) {
	t.Parallel()
	h, _ := startGuessing(t)
	h.createTenant(t, "acme")
	type cred struct{ id, secret string }
	var clients []cred
	for i := range 6 {
		id, secret := h.newM2M(t, "acme", "urn:acme/worker-"+strconv.Itoa(i))
		clients = append(clients, cred{id, secret})
	}
	// Two failures against each of five clients: never three against
	// one, ten in all.
	t.Run("the address's first failures are invalid_client", func(t *testing.T) {
		for _, c := range clients[:5] {
			for range 2 {
				wantOAuthError(t, h.tokenFrom(t, attacker, "acme", c.id, "wrong"), http.StatusUnauthorized, "invalid_client")
			}
		}
	})
	t.Run("then a client it never tried refuses it", func(t *testing.T) {
		r := h.tokenFrom(t, attacker, "acme", clients[5].id, clients[5].secret)
		wantOAuthError(t, r, http.StatusTooManyRequests, "temporarily_unavailable")
		wantRetryAfter(t, r, 60)
	})
	t.Run("and so does the admin API, even to the root token", func(t *testing.T) {
		r := h.call(t, "GET", "/admin/tenants", nil, header("X-Forwarded-For", attacker))
		wantProblem(t, r, http.StatusTooManyRequests, httpapi.ProblemTooManyRequests)
		wantRetryAfter(t, r, 60)
	})
	t.Run("every client gets tokens from its own address", func(t *testing.T) {
		for _, c := range clients {
			h.tokenFrom(t, owner, "acme", c.id, c.secret).want(t, http.StatusOK)
		}
	})
}

// Guessing the root token: past the address's burst the admin API answers
// 429 too-many-requests with Retry-After, even to the root token, and the
// refused request changes nothing; the operator, from another address,
// is served.
func TestGuessedRootToken(t *testing.T) {
	t.Parallel()
	h, _ := startGuessing(t)
	from := header("X-Forwarded-For", attacker)
	t.Run("the first wrong tokens are 401", func(t *testing.T) {
		for range guessLimits.Source.Burst {
			h.call(t, "GET", "/admin/tenants", nil, token("wrong-"+rootToken), from).want(t, http.StatusUnauthorized)
		}
	})
	t.Run("past the burst a wrong token is 429 with Retry-After", func(t *testing.T) {
		r := h.call(t, "GET", "/admin/tenants", nil, token("wrong-"+rootToken), from)
		wantProblem(t, r, http.StatusTooManyRequests, httpapi.ProblemTooManyRequests)
		wantRetryAfter(t, r, 60)
	})
	before := h.head(t)
	t.Run("the root token is refused from that address, and creates nothing", func(t *testing.T) {
		r := h.call(t, "POST", "/admin/tenants", map[string]string{"slug": "acme", "name": "Acme"}, from)
		wantProblem(t, r, http.StatusTooManyRequests, httpapi.ProblemTooManyRequests)
		h.unchanged(t, before, "a refused request")
		h.call(t, "GET", "/admin/tenants/acme", nil, header("X-Forwarded-For", owner)).want(t, http.StatusNotFound)
	})
	t.Run("the operator from another address is served", func(t *testing.T) {
		h.call(t, "POST", "/admin/tenants", map[string]string{"slug": "acme", "name": "Acme"}, header("X-Forwarded-For", owner)).want(t, http.StatusCreated)
	})
	t.Run("the console's operator sign-in refuses that address, saying when to try again", func(t *testing.T) {
		r := h.operatorSignIn(t, attacker, rootToken)
		if diff := cmp.Diff("429 60 true", strconv.Itoa(r.status)+" "+r.header.Get("Retry-After")+" "+
			strconv.FormatBool(strings.Contains(string(r.body), "Try again in 60 seconds."))); diff != "" {
			t.Errorf("status, Retry-After, says when (-want +got):\n%s\n%s", diff, r.body)
		}
	})
	t.Run("the console's operator sign-in lets the operator in from another address", func(t *testing.T) {
		h.operatorSignIn(t, owner, rootToken).want(t, http.StatusSeeOther)
	})
}

// The console's operator sign-in counts wrong root tokens as the admin
// API does: past the address's burst it answers 429 with Retry-After and
// a page saying when to try again.
func TestGuessedRootTokenAtTheConsole(t *testing.T) {
	t.Parallel()
	h, _ := startGuessing(t)
	for range guessLimits.Source.Burst {
		h.operatorSignIn(t, attacker, "wrong-"+rootToken).want(t, http.StatusUnauthorized)
	}
	r := h.operatorSignIn(t, attacker, rootToken)
	if diff := cmp.Diff("429 60 true", strconv.Itoa(r.status)+" "+r.header.Get("Retry-After")+" "+
		strconv.FormatBool(strings.Contains(string(r.body), "Try again in 60 seconds."))); diff != "" {
		t.Errorf("status, Retry-After, says when (-want +got):\n%s\n%s", diff, r.body)
	}
	wantProblem(t, h.call(t, "GET", "/admin/tenants", nil, header("X-Forwarded-For", attacker)), http.StatusTooManyRequests, httpapi.ProblemTooManyRequests)
}

// operatorSignIn posts token to the console's operator sign-in from
// address from.
func (h *adminHarness) operatorSignIn(t *testing.T, from, tok string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", h.url+"/console/login", strings.NewReader(url.Values{"root_token": {tok}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("X-Forwarded-For", from)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// Guessing a registration access token (RFC 7592): past the burst for
// the client from one address, 429 temporarily_unavailable with
// Retry-After, even to the right token, and the refused request deletes
// nothing; the client from its own address manages its registration.
func TestGuessedRegistrationAccessToken(t *testing.T) {
	t.Parallel()
	h, _ := startGuessing(t)
	h.createTenant(t, "acme")
	reg := decodeAs[registration](t, h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{
		"client_name": "Registered worker", "grant_types": []string{"client_credentials"}}).want(t, http.StatusCreated))
	if reg.RegistrationAccessToken == nil {
		t.Fatalf("no registration access token: %+v", reg)
	}
	rat, mgmt := *reg.RegistrationAccessToken, "/t/acme/oauth2/register/"+reg.ClientID
	from := header("X-Forwarded-For", attacker)

	t.Run("the first wrong tokens are invalid_token", func(t *testing.T) {
		for range guessLimits.ClientSource.Burst {
			wantOAuthError(t, h.call(t, "GET", mgmt, nil, token("wrong-"+rat), from), http.StatusUnauthorized, "invalid_token")
		}
	})
	t.Run("past the burst a wrong token is 429 temporarily_unavailable, with Retry-After", func(t *testing.T) {
		r := h.call(t, "GET", mgmt, nil, token("wrong-"+rat), from)
		wantOAuthError(t, r, http.StatusTooManyRequests, "temporarily_unavailable")
		wantRetryAfter(t, r, 60)
	})
	before := h.head(t)
	t.Run("the right token from that address is refused, and deletes nothing", func(t *testing.T) {
		wantOAuthError(t, h.call(t, "DELETE", mgmt, nil, token(rat), from), http.StatusTooManyRequests, "temporarily_unavailable")
		h.unchanged(t, before, "a refused deletion")
	})
	t.Run("the client from its own address reads its registration", func(t *testing.T) {
		h.call(t, "GET", mgmt, nil, token(rat), header("X-Forwarded-For", owner)).want(t, http.StatusOK)
	})
}
