package oauth_test

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/valyala/fasthttp"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/tenants"
)

// TestQuickClientCredentialsIsFosites holds the quick client_credentials
// path and fosite's together: for every request the quick path answers,
// fosite answers 200 with the same answer and a token with the same
// header and claims (but for jti, iat and exp); every request fosite
// would answer otherwise — any error, any other grant or token kind —
// the quick path declines.
func TestQuickClientCredentialsIsFosites(t *testing.T) {
	ctx := t.Context()
	w := testnode.New(t)
	rm, keys, ts, cs, projector := w.ReadModel, w.Keys, w.Tenants, w.Clients, w.Projector
	req := tenants.Request{Actor: "test"}
	acme, err := ts.Create(ctx, req, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Create(ctx, req, "beta", "Beta"); err != nil {
		t.Fatal(err)
	}
	register := func(tenant string, change func(*client.Settings)) (string, string) {
		s := client.DefaultSettings(client.TypeM2M)
		s.ClientName, s.Code = "Worker", "urn:"+tenant+"/w"+strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "")
		change(&s)
		res, err := cs.Register(ctx, req, tenant, s)
		if err != nil {
			t.Fatal(err)
		}
		if err := projector.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		secret := ""
		if res.Secret != nil {
			secret = res.Secret.Value
		}
		return res.Client.ClientID, secret
	}
	api, _ := register("acme", func(s *client.Settings) { s.APIScopes = []string{"read", "write"} })
	apiView, _ := rm.ClientByID(ctx, api)
	orders := apiView.Settings.Code
	rich, richSecret := register("acme", func(s *client.Settings) {
		s.DefaultScopes = []string{orders + ":read"}
		s.OptionalScopes = []string{orders + ":write", "clavis:clients:read"}
		s.ScopePermissions = map[string][]string{orders + ":read": {"read"}, orders + ":write": {"create", "update"}}
		s.ClientClaims = []client.Claim{{Type: "tier", Value: "gold"}, {Type: "region", Value: "eu"}, {Type: "region", Value: "us"}}
		s.AccessTokenLifetime = 600
	})
	post, postSecret := register("acme", func(s *client.Settings) { s.TokenEndpointAuthMethod = client.AuthClientSecretPost })
	ref, refSecret := register("acme", func(s *client.Settings) { s.AccessTokenType = client.AccessTokenReference })
	gone, goneSecret := register("acme", func(*client.Settings) {})
	if _, err := cs.Deactivate(ctx, req, "acme", gone, "test"); err != nil {
		t.Fatal(err)
	}
	other, otherSecret := register("beta", func(*client.Settings) {})
	if err := projector.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	admin, adminSecret := acme.AdminClient.ClientID, acme.AdminSecret.Value

	p, err := oauth.New(rm, keys, "https://id.example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	cases := []struct {
		name, tenant, auth, body string
		quick                    bool
	}{
		{"admin, basic", "acme", basic(admin, adminSecret), "grant_type=client_credentials", true},
		{"scopes, permissions, claims", "acme", basic(rich, richSecret), "grant_type=client_credentials&scope=" + url.QueryEscape(orders+":write clavis:clients:read"), true},
		{"a default scope asked for", "acme", basic(rich, richSecret), "scope=" + url.QueryEscape(orders+":read") + "&grant_type=client_credentials", true},
		{"client_secret_post", "acme", "", "grant_type=client_credentials&client_id=" + post + "&client_secret=" + postSecret, true},
		{"wrong secret", "acme", basic(admin, adminSecret+"x"), "grant_type=client_credentials", false},
		{"unknown client", "acme", basic("nobody", adminSecret), "grant_type=client_credentials", false},
		{"post for a basic client", "acme", "", "grant_type=client_credentials&client_id=" + admin + "&client_secret=" + adminSecret, false},
		{"basic for a post client", "acme", basic(post, postSecret), "grant_type=client_credentials", false},
		{"basic and form both", "acme", basic(admin, adminSecret), "grant_type=client_credentials&client_id=" + admin, false},
		{"scope not the client's", "acme", basic(admin, adminSecret), "grant_type=client_credentials&scope=openid", false},
		{"audience", "acme", basic(admin, adminSecret), "grant_type=client_credentials&audience=x", false},
		{"a parameter twice", "acme", basic(admin, adminSecret), "grant_type=client_credentials&grant_type=client_credentials", false},
		{"another grant", "acme", basic(admin, adminSecret), "grant_type=refresh_token&refresh_token=x", false},
		{"no grant", "acme", basic(admin, adminSecret), "scope=clavis:admin", false},
		{"reference tokens", "acme", basic(ref, refSecret), "grant_type=client_credentials", false},
		{"inactive client", "acme", basic(gone, goneSecret), "grant_type=client_credentials", false},
		{"another tenant's client", "acme", basic(other, otherSecret), "grant_type=client_credentials", false},
		{"no such tenant", "nope", basic(admin, adminSecret), "grant_type=client_credentials", false},
		{"bearer", "acme", "Bearer " + adminSecret, "grant_type=client_credentials", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := fasthttp.AcquireArgs()
			defer fasthttp.ReleaseArgs(args)
			args.Parse(c.body)
			quick, ok := p.QuickClientCredentials(ctx, c.tenant, "192.0.2.1:1234", c.auth, args)
			r := httptest.NewRequest(http.MethodPost, "/t/"+c.tenant+"/oauth2/token", strings.NewReader(c.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			w := httptest.NewRecorder()
			_ = p.ServeToken(w, r, c.tenant)
			if ok != c.quick {
				t.Fatalf("quick path answered %v, want %v (fosite: %d %s)", ok, c.quick, w.Code, w.Body)
			}
			if !ok {
				return
			}
			if w.Code != http.StatusOK {
				t.Fatalf("the quick path answered what fosite refuses: %d %s", w.Code, w.Body)
			}
			var q, f map[string]any
			_ = json.Unmarshal(quick, &q)
			_ = json.Unmarshal(w.Body.Bytes(), &f)
			if !sameExcept(q, f, "access_token", "expires_in") || absDiff(q["expires_in"], f["expires_in"]) > 1 {
				t.Errorf("answers differ:\nquick  %v\nfosite %v", q, f)
			}
			qh, qc := tokenParts(t, q["access_token"].(string))
			fh, fc := tokenParts(t, f["access_token"].(string))
			if !sameExcept(qh, fh) {
				t.Errorf("headers differ:\nquick  %v\nfosite %v", qh, fh)
			}
			if !sameExcept(qc, fc, "jti", "iat", "exp") || absDiff(qc["exp"], fc["exp"]) > 1 || qc["jti"] == fc["jti"] {
				t.Errorf("claims differ:\nquick  %v\nfosite %v", qc, fc)
			}
		})
	}
}

// tokenParts verifies nothing: it decodes a JWS's header and claims.
func tokenParts(t *testing.T, token string) (map[string]any, map[string]any) {
	t.Helper()
	jws, err := jose.ParseSigned(token)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	rawHeader, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h, c map[string]any
	_ = json.Unmarshal(rawHeader, &h)
	_ = json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c)
	return h, c
}

func sameExcept(a, b map[string]any, except ...string) bool {
	keys := slices.Sorted(maps.Keys(a))
	if !slices.Equal(keys, slices.Sorted(maps.Keys(b))) {
		return false
	}
	for _, k := range keys {
		if slices.Contains(except, k) {
			continue
		}
		x, _ := json.Marshal(a[k])
		y, _ := json.Marshal(b[k])
		if string(x) != string(y) {
			return false
		}
	}
	return true
}

func absDiff(a, b any) float64 {
	x, _ := a.(float64)
	y, _ := b.(float64)
	if x > y {
		return x - y
	}
	return y - x
}
