package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/http/oauth"
)

// tokens refreshes with rt and returns the answer's status, access and
// refresh tokens.
func (c *refreshChain) tokens(t *testing.T, rt string) (int, string, string) {
	t.Helper()
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
	r := httptest.NewRequest(http.MethodPost, "/t/acme/oauth2/token", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(c.id, c.secret)
	w := httptest.NewRecorder()
	if err := c.p.ServeToken(w, r, "acme"); err != nil {
		t.Fatal(err)
	}
	var answer struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
		t.Fatalf("token answer %s: %v", w.Body, err)
	}
	return w.Code, answer.AccessToken, answer.RefreshToken
}

// userName is the name userinfo says of the user of access token at,
// or "" with its status when it refuses the token.
func (c *refreshChain) userName(t *testing.T, at string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/t/acme/oauth2/userinfo", nil)
	r.Header.Set("Authorization", "Bearer "+at)
	w := httptest.NewRecorder()
	if err := c.p.ServeUserinfo(w, r, "acme"); err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &claims)
	return w.Code, claims.Name
}

// A grant the previous version stored (JSON records, a refresh token of
// fosite's form, an access token that names no grant) goes on working
// after an upgrade: userinfo reads the old access token, its refresh
// token refreshes once into tokens of this version, and a reuse of it
// revokes the grant, the old access token included.
func TestLegacyGrantRefreshesAfterUpgrade(t *testing.T) {
	c := newRefreshChain(t)
	oldRT, oldAT, err := oauth.NewLegacyGrant(t.Context(), c.p, "acme", c.id, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if code, name := c.userName(t, oldAT); code != http.StatusOK || name != "Alice Liddell" {
		t.Fatalf("userinfo of the old access token: %d %q", code, name)
	}
	code, at, rt := c.tokens(t, oldRT)
	if code != http.StatusOK || !strings.HasPrefix(rt, "ory_rt_g.") {
		t.Fatalf("refresh with the old refresh token: %d, refresh token %q", code, rt)
	}
	if code, name := c.userName(t, at); code != http.StatusOK || name != "Alice Liddell" {
		t.Fatalf("userinfo of the new access token: %d %q", code, name)
	}
	if code, _, _ := c.tokens(t, oldRT); code != http.StatusBadRequest {
		t.Fatalf("reuse of the old refresh token: %d, want 400", code)
	}
	for name, token := range map[string]string{"old": oldAT, "new": at} {
		if _, err := c.p.VerifyAccessToken(t.Context(), token); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Errorf("the %s access token after the reuse: %v, want revoked", name, err)
		}
	}
	if code, _, _ := c.tokens(t, rt); code != http.StatusBadRequest {
		t.Errorf("the new refresh token after the reuse: %d, want 400", code)
	}
}

// A grant's record is as large after a thousand refreshes as after ten
// (but for the digits of a few timestamps): it lists no token.
func TestGrantRecordDoesNotGrow(t *testing.T) {
	c := newRefreshChain(t)
	size := func() int {
		raw, err := oauth.GrantRecord(t.Context(), c.p, "acme", c.rt)
		if err != nil {
			t.Fatal(err)
		}
		if raw[0] != 1 {
			t.Fatalf("the grant record starts with %#x, not the format version 1", raw[0])
		}
		return len(raw)
	}
	for range 10 {
		c.refresh(t)
	}
	at10 := size()
	for range 990 {
		c.refresh(t)
	}
	at1000 := size()
	t.Logf("grant record: %d bytes after 10 refreshes, %d after 1,000", at10, at1000)
	if at1000 > at10+32 {
		t.Errorf("the grant record grew from %d bytes after 10 refreshes to %d after 1,000", at10, at1000)
	}
}

// Access tokens name their grant; client_credentials tokens name none.
func TestAccessTokensNameTheirGrant(t *testing.T) {
	c := newRefreshChain(t)
	code, at, _ := c.tokens(t, c.rt)
	if code != http.StatusOK {
		t.Fatalf("refresh: %d", code)
	}
	verified, err := c.p.VerifyAccessToken(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := oauth.GrantRecord(t.Context(), c.p, "acme", c.rt)
	if err != nil || verified.Grant == "" || !strings.Contains(string(raw), verified.Grant) {
		t.Errorf("the access token names grant %q, whose record was not found (%v)", verified.Grant, err)
	}
}

// A refresh token that names a grant but whose MAC does not verify is
// invalid_grant and revokes nothing, though it names a generation used
// before: only the platform can make a token that revokes a grant.
func TestForgedRefreshTokenRevokesNothing(t *testing.T) {
	c := newRefreshChain(t)
	used := c.rt
	c.refresh(t)
	payload, mac, _ := strings.Cut(strings.TrimPrefix(used, "ory_rt_g."), ".")
	forged := "ory_rt_g." + payload + "." + strings.Repeat("A", len(mac))
	if code, _, _ := c.tokens(t, forged); code != http.StatusBadRequest {
		t.Fatalf("a forged refresh token: %d, want 400", code)
	}
	if code, _, _ := c.tokens(t, c.rt); code != http.StatusOK {
		t.Errorf("the grant's refresh token after a forged one: %d, want 200", code)
	}
}

// countedGrants counts the operations of a grant store.
type countedGrants struct {
	oauth.Grants
	mu  sync.Mutex
	ops map[string]int
}

func (g *countedGrants) count(op string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ops[op]++
}

func (g *countedGrants) Create(ctx context.Context, life oauth.Life, key string, value []byte, expires time.Time) (uint64, error) {
	g.count("create")
	return g.Grants.Create(ctx, life, key, value, expires)
}

func (g *countedGrants) Get(ctx context.Context, life oauth.Life, key string) ([]byte, uint64, error) {
	g.count("get")
	return g.Grants.Get(ctx, life, key)
}

func (g *countedGrants) Update(ctx context.Context, life oauth.Life, key string, value []byte, rev uint64, expires time.Time) (uint64, error) {
	g.count("update")
	return g.Grants.Update(ctx, life, key, value, rev, expires)
}

func (g *countedGrants) Delete(ctx context.Context, life oauth.Life, key string) error {
	g.count("delete")
	return g.Grants.Delete(ctx, life, key)
}

// A refresh reads its grant once and writes it once (a compare-and-set),
// and nothing else, however long its chain; at the node that wrote the
// grant last, it reads what the node kept (see TestRefreshesAtAnyNode).
func TestRefreshIsOneReadAndOneWrite(t *testing.T) {
	counted := &countedGrants{ops: map[string]int{}}
	c := newRefreshChainOver(t, func(g oauth.Grants) oauth.Grants {
		counted.Grants = g
		return counted
	})
	for range 20 {
		c.refresh(t)
	}
	for _, at := range []struct {
		node *refreshChain
		want map[string]int
	}{
		{c, map[string]int{"update": 1}},
		{c.otherNode(), map[string]int{"get": 1, "update": 1}},
	} {
		at.node.rt = c.rt
		counted.mu.Lock()
		counted.ops = map[string]int{}
		counted.mu.Unlock()
		at.node.refresh(t)
		c.rt = at.node.rt
		if diff := cmp.Diff(at.want, counted.ops); diff != "" {
			t.Errorf("grant store operations of one refresh (-want +got):\n%s", diff)
		}
	}
}

// fullGrants is a grant store that, while full is set, has no room for
// anything written.
type fullGrants struct {
	oauth.Grants
	full atomic.Bool
}

func (g *fullGrants) Create(ctx context.Context, life oauth.Life, key string, value []byte, expires time.Time) (uint64, error) {
	if g.full.Load() {
		return 0, oauth.ErrGrantsFull
	}
	return g.Grants.Create(ctx, life, key, value, expires)
}

func (g *fullGrants) Update(ctx context.Context, life oauth.Life, key string, value []byte, rev uint64, expires time.Time) (uint64, error) {
	if g.full.Load() {
		return 0, oauth.ErrGrantsFull
	}
	return g.Grants.Update(ctx, life, key, value, rev, expires)
}

// A refresh the grant store has no room for answers 503 and uses
// nothing up: the same refresh token refreshes once there is room.
func TestRefreshWithoutRoomKeepsToken(t *testing.T) {
	full := &fullGrants{}
	c := newRefreshChainOver(t, func(g oauth.Grants) oauth.Grants {
		full.Grants = g
		return full
	})
	c.refresh(t)
	full.full.Store(true)
	if code, _, _ := c.tokens(t, c.rt); code != http.StatusServiceUnavailable {
		t.Fatalf("a refresh without room: %d, want 503", code)
	}
	full.full.Store(false)
	if code, _, _ := c.tokens(t, c.rt); code != http.StatusOK {
		t.Errorf("the refresh token once there is room: %d, want 200", code)
	}
}
