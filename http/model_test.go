package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/message"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/tenants"
)

// A resource server must tell which scope granted which permission: each
// permission in an access token, and in its introspection, is
// "{scope}:{permission}", so "delete" granted by urn:acme/orders:write is
// urn:acme/orders:write:delete, never a bare "delete".
func TestAccessTokenPermissionsKeepTheirScope(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createClient(t, "acme", map[string]any{"type": "confidential", "client_name": "Orders API", "code": "urn:acme/orders",
		"redirect_uris": []string{"https://orders.example.com/cb"}, "api_scopes": []string{"read", "write"}})
	worker := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"default_scopes":    []string{"urn:acme/orders:read", "urn:acme/orders:write"},
		"scope_permissions": map[string][]string{"urn:acme/orders:read": {"read"}, "urn:acme/orders:write": {"create", "delete"}}})
	id, secret := worker["client_id"].(string), worker["client_secret"].(string)

	tok, err := h.clientCredentials(t, "acme", id, secret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"urn:acme/orders:read:read", "urn:acme/orders:write:create", "urn:acme/orders:write:delete"}
	claims, _ := h.verify(t, "acme", tok.AccessToken)
	if got := slices.Sorted(slices.Values(anyStrings(claims["permissions"]))); !slices.Equal(got, want) {
		t.Errorf("token permissions = %v, want %v", claims["permissions"], want)
	}
	in := h.introspect(t, "acme", tok.AccessToken, id, secret).want(t, 200).object(t)
	if got := slices.Sorted(slices.Values(anyStrings(in["permissions"]))); in["active"] != true || !slices.Equal(got, want) {
		t.Errorf("introspection = %v, want permissions %v", in, want)
	}

	// A permission withdrawn since the token was issued no longer counts.
	h.call(t, "PATCH", "/t/acme/admin/clients/"+id, map[string]any{
		"scope_permissions": map[string][]string{"urn:acme/orders:read": {"read"}, "urn:acme/orders:write": {"create"}}}).want(t, 200)
	in = h.introspect(t, "acme", tok.AccessToken, id, secret).want(t, 200).object(t)
	if got := slices.Sorted(slices.Values(anyStrings(in["permissions"]))); !slices.Equal(got, want[:2]) {
		t.Errorf("introspection after withdrawing delete = %v, want %v", in["permissions"], want[:2])
	}
}

// Settings Clavis stores but does not act on are refused, naming the
// field, by the admin API, RFC 7591 registration and import alike, and
// discovery does not offer them.
func TestUnservedSettingsAreRefused(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	initial, err := h.clientCredentials(t, "acme", admin["client_id"].(string), admin["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	before := h.head(t)
	for field, value := range map[string]any{
		"token_endpoint_auth_method":     "tls_client_auth",
		"tls_client_auth_subject_dn":     "CN=worker,O=Acme",
		"frontchannel_logout_uri":        "https://app.example.com/logout",
		"backchannel_logout_uri":         "https://app.example.com/backchannel",
		"identity_provider_restrictions": []string{"google"},
	} {
		body := webClient("urn:acme/web")
		body[field] = value
		p := wantProblem(t, h.call(t, "POST", "/t/acme/admin/clients", body), 422, httpapi.ProblemValidation)
		if !hasFieldError(p.Errors, field, "not_supported") {
			t.Errorf("admin create with %s: errors %v, want %s/not_supported", field, p.Errors, field)
		}
		pkg := map[string]any{"format": "clavis.clients/v1", "clients": []any{map[string]any{"settings": body}}}
		p = wantProblem(t, h.call(t, "POST", "/t/acme/admin/import", pkg), 422, httpapi.ProblemValidation)
		if !hasFieldError(p.Errors, "clients[0]."+field, "not_supported") {
			t.Errorf("import with %s: errors %v", field, p.Errors)
		}
	}
	body := webClient("urn:acme/web")
	body["token_endpoint_auth_method"] = "self_signed_tls_client_auth"
	body["jwks_uri"] = "https://app.example.com/jwks.json"
	p := wantProblem(t, h.call(t, "POST", "/t/acme/admin/clients", body), 422, httpapi.ProblemValidation)
	if !hasFieldError(p.Errors, "token_endpoint_auth_method", "not_supported") {
		t.Errorf("self_signed_tls_client_auth: errors %v", p.Errors)
	}
	r := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Worker", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "tls_client_auth"}, token(initial.AccessToken))
	if o := r.object(t); r.status != 400 || o["error"] != "invalid_client_metadata" || !strings.Contains(o["error_description"].(string), "token_endpoint_auth_method") {
		t.Errorf("registration with tls_client_auth: %d %v", r.status, o)
	}
	h.unchanged(t, before, "refused settings")

	// Discovery offers what is served, no more.
	md := h.call(t, "GET", "/t/acme/.well-known/openid-configuration", nil).want(t, 200).object(t)
	for _, m := range anyStrings(md["token_endpoint_auth_methods_supported"]) {
		if m == "tls_client_auth" || m == "self_signed_tls_client_auth" {
			t.Errorf("discovery offers %s", m)
		}
	}
	for _, k := range []string{"frontchannel_logout_supported", "backchannel_logout_supported", "tls_client_certificate_bound_access_tokens"} {
		if v, ok := md[k]; ok && v != false {
			t.Errorf("discovery says %s = %v", k, v)
		}
	}
}

func hasFieldError(errs []*domain.FieldError, field, code string) bool {
	return slices.ContainsFunc(errs, func(e *domain.FieldError) bool { return e.Field == field && e.Code == code })
}

// A preset yields to what the caller wrote: a confidential client given
// only the client_credentials grant gets no response types (the preset's
// "code" would need authorization_code), while a contradiction the caller
// wrote is still refused.
func TestPresetYieldsToWhatWasWritten(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", map[string]any{"type": "confidential", "client_name": "Backend", "code": "urn:acme/backend",
		"grant_types": []string{"client_credentials"}})
	if rt := anyStrings(c["response_types"]); len(rt) != 0 || !slices.Equal(anyStrings(c["grant_types"]), []string{"client_credentials"}) {
		t.Errorf("created %v", c)
	}
	if _, err := h.clientCredentials(t, "acme", c["client_id"].(string), c["client_secret"].(string), oauth2.AuthStyleInHeader); err != nil {
		t.Errorf("client_credentials: %v", err)
	}

	before := h.head(t)
	p := wantProblem(t, h.call(t, "POST", "/t/acme/admin/clients", map[string]any{"type": "confidential", "client_name": "Backend",
		"code": "urn:acme/backend-2", "grant_types": []string{"client_credentials"}, "response_types": []string{"code"}}), 422, httpapi.ProblemValidation)
	if !hasFieldError(p.Errors, "response_types[0]", "conflict") {
		t.Errorf("a written contradiction: errors %v", p.Errors)
	}
	h.unchanged(t, before, "a refused create")
}

// The pairwise subject salt is secret: whoever knows it can link a user's
// subjects across clients. It is write-only (accepted, never shown: every
// read, the export, the history and the public events show a marker), a
// read's marker sent back keeps it, and a clone gets a fresh one, so that
// it does not share its source's pairwise subjects.
func TestPairwiseSaltIsWriteOnly(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	const salt = "pairwise-salt-that-must-stay-secret-0123"
	body := webClient("urn:acme/web")
	body["pairwise_subject_salt"] = salt
	created := h.call(t, "POST", "/t/acme/admin/clients", body).want(t, 201)
	c := created.object(t)
	id := c["client_id"].(string)
	base := "/t/acme/admin/clients/" + id
	reads := map[string]response{
		"create":  created,
		"get":     h.call(t, "GET", base, nil).want(t, 200),
		"list":    h.call(t, "GET", "/t/acme/admin/clients", nil).want(t, 200),
		"history": h.call(t, "GET", base+"/history", nil).want(t, 200),
		"export":  h.call(t, "GET", "/t/acme/admin/export", nil).want(t, 200),
	}
	for name, r := range reads {
		if strings.Contains(string(r.body), salt) {
			t.Errorf("%s shows the pairwise salt: %s", name, r.body)
		}
		if !strings.Contains(string(r.body), `"pairwise_subject_salt":"[REDACTED]"`) {
			t.Errorf("%s does not say a pairwise salt is set: %s", name, r.body)
		}
	}
	events, err := h.store.ReadAll(t.Context(), eventstore.Position{}, eventstore.MaxRead)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		ce, err := message.PublicEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(ce.Data()), salt) {
			t.Errorf("public %s shows the pairwise salt: %s", e.Type, ce.Data())
		}
	}

	cfg := clientConfig("acme", c, "openid")
	subject := func(cfg oauth2.Config) string {
		t.Helper()
		tok := h.codeFlow(t, h.browser(t), cfg, "alice")
		claims, _ := h.verify(t, "acme", tok.Extra("id_token").(string))
		return claims["sub"].(string)
	}
	sub := subject(cfg)
	if sub == "alice" {
		t.Fatalf("the subject is not pairwise: %s", sub)
	}

	// What a read shows, sent back, changes nothing; so does re-importing
	// the export.
	before := h.head(t)
	h.call(t, "PATCH", base, map[string]any{"pairwise_subject_salt": "[REDACTED]"}).want(t, 200)
	h.call(t, "POST", "/t/acme/admin/import", reads["export"].body).want(t, 200)
	h.unchanged(t, before, "sending the redacted salt back")
	h.call(t, "PATCH", base, map[string]any{"pairwise_subject_salt": "[REDACTED]", "client_name": "Renamed"}).want(t, 200)
	if got := subject(cfg); got != sub {
		t.Errorf("after a rename with the marker the subject is %s, was %s", got, sub)
	}

	// A clone has its own salt: its subjects are not its source's.
	sub = subject(cfg)
	clone := h.call(t, "POST", base+"/clone", map[string]any{"client_name": "Web copy", "code": "urn:acme/web-copy"}).want(t, 201)
	cc := clone.object(t)
	if strings.Contains(string(clone.body), salt) || cc["pairwise_subject_salt"] != "[REDACTED]" {
		t.Errorf("clone shows %v", cc["pairwise_subject_salt"])
	}
	if got := subject(clientConfig("acme", cc, "openid")); got == sub || got == "alice" {
		t.Errorf("the clone's subject %s is its source's %s (or the user's own)", got, sub)
	}
	// The server made it: at least 128 random bits (base64url).
	stored, err := h.store.ReadStream(t.Context(), tenants.ClientStream("acme", cc["client_id"].(string)), 0)
	if err != nil || len(stored) == 0 {
		t.Fatalf("clone's stream: %v", err)
	}
	d, err := client.Decode(stored[0].Type, stored[0].Schema, stored[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.(client.ClientRegistered).Settings.PairwiseSubjectSalt; len(got) < 22 || got == salt || got == client.Redacted {
		t.Errorf("the clone's salt is %q", got)
	}
}
