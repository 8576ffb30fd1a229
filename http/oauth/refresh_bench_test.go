package oauth_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/tenants"
)

// refreshChain is a grant of a confidential client of acme on a
// provider whose grant store is an in-process NATS server, refreshed
// without HTTP (ServeToken with a recorded response).
type refreshChain struct {
	p          *oauth.Provider
	id, secret string
	rt         string
	// node makes another provider (another node) of the same tenant,
	// keys and grant store, with revocations of its own.
	node func() *oauth.Provider
}

// otherNode is c at another node: a provider of its own over the same
// read model, keys and grant store, the chain's refresh token the same.
func (c *refreshChain) otherNode() *refreshChain {
	other := *c
	other.p = c.node()
	return &other
}

func newRefreshChain(tb testing.TB) *refreshChain {
	tb.Helper()
	return newRefreshChainOver(tb, func(g oauth.Grants) oauth.Grants { return g })
}

// newRefreshChainOver is newRefreshChain whose grant store is what wrap
// makes of the NATS one.
func newRefreshChainOver(tb testing.TB, wrap func(oauth.Grants) oauth.Grants) *refreshChain {
	tb.Helper()
	return newRefreshChainOf(tb, refreshVariant{grants: wrap})
}

// refreshVariant changes a refreshChain: the grant store under the
// provider, the client's settings, and how many of a grant's latest
// refresh tokens stay usable for a client that reuses them
// (oauth.RefreshLimit.Tokens; 0: the default).
type refreshVariant struct {
	grants   func(oauth.Grants) oauth.Grants
	settings func(*client.Settings)
	tokens   int
}

func newRefreshChainOf(tb testing.TB, v refreshVariant) *refreshChain {
	tb.Helper()
	w, _, hot := benchTenant(tb)
	s := client.DefaultSettings(client.TypeConfidential)
	s.ClientName, s.Code = "Web", "urn:acme/web"
	s.RedirectURIs = []string{"https://app.example.com/callback"}
	s.DefaultScopes = []string{"openid", "profile", "email"}
	if v.settings != nil {
		v.settings(&s)
	}
	res, err := w.Clients.Register(tb.Context(), tenants.Request{Actor: "bench"}, "acme", s)
	if err != nil {
		tb.Fatal(err)
	}
	w.CatchUp(tb)
	js := inProcessJetStream(tb)
	var grants oauth.Grants = bucket.NewGrants(js, "BENCH", 1, 0)
	if v.grants != nil {
		grants = v.grants(grants)
	}
	tokens := v.tokens
	if tokens == 0 {
		tokens = oauth.DefaultRefreshLimit.Tokens
	}
	node := func() *oauth.Provider {
		p, err := oauth.New(hot, w.Keys, "http://127.0.0.1", nil,
			oauth.WithGrants(grants),
			oauth.WithRevocations(bucket.NewRevocations(tb.Context(), js, "BENCH_REVOKED", 1, nil)),
			oauth.WithRefreshLimit(oauth.RefreshLimit{PerClient: rate.Inf, Burst: 1, Tokens: tokens}))
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	p := node()
	rt, err := oauth.NewGrant(tb.Context(), p, "acme", res.Client.ClientID, "alice")
	if err != nil {
		tb.Fatal(err)
	}
	return &refreshChain{p: p, id: res.Client.ClientID, secret: res.Secret.Value, rt: rt, node: node}
}

// refresh uses the chain's refresh token and keeps the one it gets.
func (c *refreshChain) refresh(tb testing.TB) {
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.rt}}.Encode()
	r := httptest.NewRequest(http.MethodPost, "/t/acme/oauth2/token", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(c.id, c.secret)
	w := httptest.NewRecorder()
	if err := c.p.ServeToken(w, r, "acme"); err != nil || w.Code != http.StatusOK {
		tb.Fatalf("refresh: %d %v %s", w.Code, err, w.Body)
	}
	var answer struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil || answer.RefreshToken == "" {
		tb.Fatalf("refresh answer %s: %v", w.Body, err)
	}
	c.rt = answer.RefreshToken
}

// BenchmarkRefresh refreshes one grant over and over, without HTTP,
// once its chain is chain refreshes long: a refresh should cost the same
// (time, allocations, bytes) on a chain of 10 as on one of 10,000.
func BenchmarkRefresh(b *testing.B) {
	// The chains are made once: go test runs each sub-benchmark twice
	// (once with b.N = 1), and a chain of 10,000 takes a while.
	for _, length := range []int{10, 10_000} {
		c := newRefreshChain(b)
		for range length {
			c.refresh(b)
		}
		b.Run(fmt.Sprintf("chain=%d", length), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.refresh(b)
			}
		})
	}
}
