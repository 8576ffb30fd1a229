package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	httpapi "github.com/clavisiam/clavis/http"
)

// publicKeys reads a tenant's JWKS and checks every key is public.
func publicKeys(t *testing.T, h *adminHarness, slug string) map[string]jose.JSONWebKey {
	t.Helper()
	r := h.call(t, "GET", "/t/"+slug+"/jwks.json", nil, token("")).want(t, 200)
	if cc := r.header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control = %q", cc)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatalf("JWKS %s: %v", r.body, err)
	}
	keys := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() || k.Use != "sig" {
			t.Errorf("JWKS holds key %s: public %v, valid %v, use %q", k.KeyID, k.IsPublic(), k.Valid(), k.Use)
		}
		keys[k.KeyID] = k
	}
	for _, private := range []string{`"d"`, `"p"`, `"q"`, "sealed"} {
		if strings.Contains(string(r.body), private) {
			t.Errorf("JWKS contains %s: %s", private, r.body)
		}
	}
	return keys
}

// signingKey is a tenant's signing key as the platform API shows it.
type signingKey struct {
	KID            string     `json:"kid"`
	Alg            string     `json:"alg"`
	State          string     `json:"state"`
	ActiveFrom     time.Time  `json:"active_from"`
	SignsUntil     *time.Time `json:"signs_until"`
	PublishedUntil *time.Time `json:"published_until"`
}

// signingKeys decodes a platform API answer that holds a tenant's
// signing_keys and returns them by kid.
func signingKeys(t *testing.T, r response) map[string]signingKey {
	t.Helper()
	tenant := decodeAs[struct {
		SigningKeys []signingKey `json:"signing_keys"`
	}](t, r)
	out := map[string]signingKey{}
	for _, k := range tenant.SigningKeys {
		out[k.KID] = k
	}
	return out
}

// keyStates is each key's state and algorithm, by kid.
func keyStates(keys map[string]signingKey) map[string]string {
	out := map[string]string{}
	for kid, k := range keys {
		out[kid] = k.State + " " + k.Alg
	}
	return out
}

func TestTenantKeys(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createTenant(t, "beta")

	tenant := h.call(t, "GET", "/admin/tenants/acme", nil).want(t, 200)
	if strings.Contains(string(tenant.body), "sealed") {
		t.Fatalf("the platform API shows a sealed key: %s", tenant.body)
	}
	first := signingKeys(t, tenant)
	if len(first) != 1 {
		t.Fatalf("signing_keys = %+v", first)
	}
	var kid string
	for id := range first {
		kid = id
	}

	t.Run("a tenant starts with one ES256 key, signing and published", func(t *testing.T) {
		if diff := cmp.Diff(map[string]string{kid: "signing ES256"}, keyStates(first)); diff != "" {
			t.Errorf("signing keys (-want +got):\n%s", diff)
		}
		keys := publicKeys(t, h, "acme")
		if diff := cmp.Diff(map[string]string{kid: "ES256"}, publishedAlgs(keys)); diff != "" {
			t.Fatalf("JWKS (-want +got):\n%s", diff)
		}
	})
	t.Run("each tenant has its own key", func(t *testing.T) {
		if _, ok := publicKeys(t, h, "beta")[kid]; ok {
			t.Error("beta publishes acme's key")
		}
	})

	t.Run("bad rotations change nothing", func(t *testing.T) {
		before := h.head(t)
		for _, c := range []struct {
			name   string
			path   string
			body   any
			opts   []callOpt
			status int
		}{
			{"unknown algorithm", "/admin/tenants/acme/keys/rotate", map[string]any{"alg": "HS256"}, nil, 422},
			{"negative lead", "/admin/tenants/acme/keys/rotate", map[string]any{"lead_seconds": -1}, nil, 422},
			{"lead over a day", "/admin/tenants/acme/keys/rotate", map[string]any{"lead_seconds": 86401}, nil, 422},
			{"unknown field", "/admin/tenants/acme/keys/rotate", map[string]any{"kid": "mine"}, nil, 400},
			{"malformed JSON", "/admin/tenants/acme/keys/rotate", `{"alg":`, nil, 400},
			{"oversized body", "/admin/tenants/acme/keys/rotate", oversized{}, nil, 413},
			{"no token", "/admin/tenants/acme/keys/rotate", nil, []callOpt{token("")}, 401},
			{"wrong token", "/admin/tenants/acme/keys/rotate", nil, []callOpt{token("not-the-root-token-0123456789abcdef")}, 401},
			{"unknown tenant", "/admin/tenants/nope/keys/rotate", nil, nil, 404},
			{"invalid slug", "/admin/tenants/NOPE/keys/rotate", nil, nil, 404},
		} {
			t.Run(c.name, func(t *testing.T) {
				h.call(t, "POST", c.path, c.body, c.opts...).want(t, c.status)
			})
		}
		h.unchanged(t, before, "refused rotations")
	})
	for _, path := range []string{"/t/nope/jwks.json", "/t/NOPE/jwks.json"} {
		t.Run("no JWKS at "+path, func(t *testing.T) {
			h.call(t, "GET", path, nil, token("")).want(t, 404)
		})
	}

	// A rotation publishes the next key at once; it signs after the lead
	// time, and the old key stays published for a day after that.
	var next string
	t.Run("a rotation with a lead time publishes the next key at once, signing later", func(t *testing.T) {
		states := signingKeys(t, h.call(t, "POST", "/admin/tenants/acme/keys/rotate", map[string]any{"alg": "RS256", "lead_seconds": 600}).want(t, 200))
		for id := range states {
			if id != kid {
				next = id
			}
		}
		if diff := cmp.Diff(map[string]string{kid: "signing ES256", next: "next RS256"}, keyStates(states)); diff != "" {
			t.Fatalf("signing keys after rotating (-want +got):\n%s", diff)
		}
		type shown struct {
			OldSignsUntil, OldPublishedUntil *time.Time
		}
		from := states[next].ActiveFrom
		if diff := cmp.Diff(shown{&from, ptr(from.Add(24 * time.Hour))}, shown{states[kid].SignsUntil, states[kid].PublishedUntil}); diff != "" {
			t.Errorf("the old key signs until the next one's active_from and is published a day longer (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{kid: "ES256", next: "RS256"}, publishedAlgs(publicKeys(t, h, "acme"))); diff != "" {
			t.Fatalf("JWKS after rotating (-want +got):\n%s", diff)
		}
	})

	t.Run("without a lead the new key signs at once", func(t *testing.T) {
		now := signingKeys(t, h.call(t, "POST", "/admin/tenants/acme/keys/rotate", map[string]any{"lead_seconds": 0}).want(t, 200))
		var signing []string
		for id, k := range now {
			if k.State == "signing" {
				signing = append(signing, id+" "+k.Alg)
			}
		}
		type shown struct {
			Signing   int
			NewKey    bool
			Alg       string
			Published int
		}
		got := shown{Signing: len(signing), Published: len(publicKeys(t, h, "acme"))}
		if len(signing) == 1 {
			id, alg, _ := strings.Cut(signing[0], " ")
			got.NewKey, got.Alg = id != kid && id != next, alg
		}
		if diff := cmp.Diff(shown{1, true, "ES256", 3}, got); diff != "" {
			t.Errorf("after an immediate rotation %+v (-want +got):\n%s", keyStates(now), diff)
		}
	})
}

// publishedAlgs is each published key's algorithm, by kid.
func publishedAlgs(keys map[string]jose.JSONWebKey) map[string]string {
	out := map[string]string{}
	for kid, k := range keys {
		out[kid] = k.Algorithm
	}
	return out
}

// A tenant's administrator rotates the tenant's own key, as a Keycloak
// realm administrator does; nobody less, and nobody at another tenant.
func TestTenantRotatesItsOwnKey(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := decodeAs[createdTenantResponse](t, h.call(t, "POST", "/admin/tenants", map[string]string{"slug": "acme", "name": "ACME"}).want(t, 201)).AdminClient
	h.createTenant(t, "beta")
	tok, err := h.clientCredentials(t, "acme", admin.ClientID, admin.ClientSecret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	as := token(tok.AccessToken)
	writer, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Writer", "code": "urn:acme/writer",
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:clients:write"}})
	wt, err := h.clientCredentials(t, "acme", writer.ClientID, writer.ClientSecret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}

	before := h.head(t)
	checkProblem(t, h.call(t, "POST", "/t/acme/admin/keys/rotate", nil, token(wt.AccessToken)), 403, httpapi.ProblemForbidden, "")
	checkProblem(t, h.call(t, "POST", "/t/beta/admin/keys/rotate", nil, as), 404, httpapi.ProblemNotFound, "")
	checkProblem(t, h.call(t, "POST", "/t/acme/admin/keys/rotate", map[string]any{"alg": "HS256"}, as), 422, httpapi.ProblemValidation, "")
	h.unchanged(t, before, "refused rotations")

	keys := signingKeys(t, h.call(t, "POST", "/t/acme/admin/keys/rotate", map[string]any{"alg": "EdDSA"}, as).want(t, 200))
	if len(keys) != 2 {
		t.Fatalf("after the tenant's rotation: %+v", keys)
	}
	found := false
	for _, alg := range publishedAlgs(publicKeys(t, h, "acme")) {
		found = found || alg == "EdDSA"
	}
	if !found {
		t.Fatalf("the new EdDSA key is not published: %v", publishedAlgs(publicKeys(t, h, "acme")))
	}
}
