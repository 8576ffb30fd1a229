package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
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

// signingKeys returns the platform API's signing_keys of a tenant, by kid.
func signingKeys(t *testing.T, tenant map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, k := range tenant["signing_keys"].([]any) {
		k := k.(map[string]any)
		out[k["kid"].(string)] = k
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
	first := signingKeys(t, tenant.object(t))
	if len(first) != 1 {
		t.Fatalf("signing_keys = %v", first)
	}
	var kid string
	for id, k := range first {
		kid = id
		if k["alg"] != "ES256" || k["state"] != "signing" {
			t.Errorf("first key = %v", k)
		}
	}
	keys := publicKeys(t, h, "acme")
	if k, ok := keys[kid]; len(keys) != 1 || !ok || k.Algorithm != "ES256" {
		t.Fatalf("JWKS = %v, want key %s", keys, kid)
	}
	// Each tenant has its own key.
	if _, ok := publicKeys(t, h, "beta")[kid]; ok {
		t.Error("beta publishes acme's key")
	}

	// Bad rotations change nothing.
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
		h.call(t, "POST", c.path, c.body, c.opts...).want(t, c.status)
	}
	h.unchanged(t, before, "refused rotations")
	for _, path := range []string{"/t/nope/jwks.json", "/t/NOPE/jwks.json"} {
		h.call(t, "GET", path, nil, token("")).want(t, 404)
	}

	// A rotation publishes the next key at once; it signs after the lead
	// time, and the old key stays published for a day after that.
	rotated := h.call(t, "POST", "/admin/tenants/acme/keys/rotate", map[string]any{"alg": "RS256", "lead_seconds": 600}).want(t, 200).object(t)
	states := signingKeys(t, rotated)
	if len(states) != 2 || states[kid]["state"] != "signing" {
		t.Fatalf("after rotating: %v", states)
	}
	var next string
	for id, k := range states {
		if id != kid {
			next = id
			if k["state"] != "next" || k["alg"] != "RS256" {
				t.Errorf("next key = %v", k)
			}
		}
	}
	from, _ := time.Parse(time.RFC3339Nano, states[next]["active_from"].(string))
	until, _ := time.Parse(time.RFC3339Nano, states[kid]["published_until"].(string))
	if until.Sub(from) != 24*time.Hour || states[kid]["signs_until"] != states[next]["active_from"] {
		t.Errorf("old key signs until %v and is published until %v; next signs from %v", states[kid]["signs_until"], until, from)
	}
	keys = publicKeys(t, h, "acme")
	if len(keys) != 2 || keys[next].Algorithm != "RS256" {
		t.Fatalf("JWKS after rotating = %v", keys)
	}

	// Without a lead the new key signs at once.
	now := h.call(t, "POST", "/admin/tenants/acme/keys/rotate", map[string]any{"lead_seconds": 0}).want(t, 200).object(t)
	signing := 0
	for id, k := range signingKeys(t, now) {
		if k["state"] == "signing" {
			signing++
			if id == kid || id == next || k["alg"] != "ES256" {
				t.Errorf("signing now: %v", k)
			}
		}
	}
	if signing != 1 || len(publicKeys(t, h, "acme")) != 3 {
		t.Errorf("after an immediate rotation: %v", signingKeys(t, now))
	}
}
