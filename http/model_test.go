package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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
	worker, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"default_scopes":    []string{"urn:acme/orders:read", "urn:acme/orders:write"},
		"scope_permissions": map[string][]string{"urn:acme/orders:read": {"read"}, "urn:acme/orders:write": {"create", "delete"}}})
	id, secret := worker.ClientID, worker.ClientSecret
	tok := h.accessToken(t, "acme", id, secret)
	want := []string{"urn:acme/orders:read:read", "urn:acme/orders:write:create", "urn:acme/orders:write:delete"}

	t.Run("the access token's permissions name their scope", func(t *testing.T) {
		claims, _ := verifyAs[accessClaims](t, h, "acme", tok)
		if diff := cmp.Diff(want, sorted(claims.Permissions)); diff != "" {
			t.Errorf("token permissions (-want +got):\n%s", diff)
		}
	})
	type shown struct {
		Active      bool
		Permissions []string
	}
	t.Run("its introspection's permissions name their scope", func(t *testing.T) {
		in := h.introspected(t, tok, id, secret)
		if diff := cmp.Diff(shown{true, want}, shown{in.Active, sorted(in.Permissions)}); diff != "" {
			t.Errorf("introspection (-want +got):\n%s", diff)
		}
	})
	t.Run("a permission withdrawn since the token was issued no longer counts", func(t *testing.T) {
		h.call(t, "PATCH", "/t/acme/admin/clients/"+id, map[string]any{
			"scope_permissions": map[string][]string{"urn:acme/orders:read": {"read"}, "urn:acme/orders:write": {"create"}}}).want(t, 200)
		in := h.introspected(t, tok, id, secret)
		if diff := cmp.Diff(want[:2], sorted(in.Permissions)); diff != "" {
			t.Errorf("introspection after withdrawing delete (-want +got):\n%s", diff)
		}
	})
}

// Settings Clavis stores but does not act on are refused, naming the
// field, by the admin API, RFC 7591 registration and import alike, and
// discovery does not offer them.
func TestUnservedSettingsAreRefused(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	iat := token(h.accessToken(t, "acme", adminID, adminSecret))
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
		t.Run("the admin API refuses "+field, func(t *testing.T) {
			p := wantProblem(t, h.call(t, "POST", "/t/acme/admin/clients", body), 422, httpapi.ProblemValidation)
			if !hasFieldError(p.Errors, field, "not_supported") {
				t.Errorf("errors %v, want %s/not_supported", p.Errors, field)
			}
		})
		t.Run("an import refuses "+field, func(t *testing.T) {
			pkg := map[string]any{"format": "clavis.clients/v1", "clients": []any{map[string]any{"settings": body}}}
			p := wantProblem(t, h.call(t, "POST", "/t/acme/admin/import", pkg), 422, httpapi.ProblemValidation)
			if !hasFieldError(p.Errors, "clients[0]."+field, "not_supported") {
				t.Errorf("errors %v, want clients[0].%s/not_supported", p.Errors, field)
			}
		})
	}
	t.Run("the admin API refuses self_signed_tls_client_auth", func(t *testing.T) {
		body := webClient("urn:acme/web")
		body["token_endpoint_auth_method"] = "self_signed_tls_client_auth"
		body["jwks_uri"] = "https://app.example.com/jwks.json"
		p := wantProblem(t, h.call(t, "POST", "/t/acme/admin/clients", body), 422, httpapi.ProblemValidation)
		if !hasFieldError(p.Errors, "token_endpoint_auth_method", "not_supported") {
			t.Errorf("errors %v, want token_endpoint_auth_method/not_supported", p.Errors)
		}
	})
	t.Run("RFC 7591 registration refuses tls_client_auth", func(t *testing.T) {
		r := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Worker", "grant_types": []string{"client_credentials"},
			"token_endpoint_auth_method": "tls_client_auth"}, iat)
		wantMetadataRefused(t, r, "token_endpoint_auth_method")
	})
	h.unchanged(t, before, "refused settings")

	t.Run("discovery offers what is served, no more", func(t *testing.T) {
		md := decodeAs[serverMetadata](t, h.call(t, "GET", "/t/acme/.well-known/openid-configuration", nil).want(t, 200))
		type shown struct {
			OffersTLSClientAuth                                           bool
			FrontchannelLogout, BackchannelLogout, CertificateBoundTokens bool
		}
		got := shown{slices.Contains(md.TokenEndpointAuthMethodsSupported, "tls_client_auth") || slices.Contains(md.TokenEndpointAuthMethodsSupported, "self_signed_tls_client_auth"),
			offered(md.FrontchannelLogoutSupported), offered(md.BackchannelLogoutSupported), offered(md.TLSClientCertificateBoundAccessTokens)}
		if diff := cmp.Diff(shown{}, got); diff != "" {
			t.Errorf("discovery (-want +got):\n%s", diff)
		}
	})
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
	c, _ := h.newClient(t, "acme", map[string]any{"type": "confidential", "client_name": "Backend", "code": "urn:acme/backend",
		"grant_types": []string{"client_credentials"}})
	t.Run("a confidential client given only client_credentials gets no response types", func(t *testing.T) {
		type shown struct{ ResponseTypes, GrantTypes []string }
		if diff := cmp.Diff(shown{nil, []string{"client_credentials"}}, shown{c.ResponseTypes, c.GrantTypes}, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("created (-want +got):\n%s", diff)
		}
		if _, err := h.clientCredentials(t, "acme", c.ClientID, c.ClientSecret, oauth2.AuthStyleInHeader); err != nil {
			t.Errorf("client_credentials: %v", err)
		}
	})
	t.Run("a contradiction the caller wrote is refused", func(t *testing.T) {
		before := h.head(t)
		p := wantProblem(t, h.call(t, "POST", "/t/acme/admin/clients", map[string]any{"type": "confidential", "client_name": "Backend",
			"code": "urn:acme/backend-2", "grant_types": []string{"client_credentials"}, "response_types": []string{"code"}}), 422, httpapi.ProblemValidation)
		if !hasFieldError(p.Errors, "response_types[0]", "conflict") {
			t.Errorf("a written contradiction: errors %v", p.Errors)
		}
		h.unchanged(t, before, "a refused create")
	})
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
	id := decodeAs[clientResponse](t, created).ClientID
	base := "/t/acme/admin/clients/" + id
	reads := map[string]response{
		"create":  created,
		"get":     h.call(t, "GET", base, nil).want(t, 200),
		"list":    h.call(t, "GET", "/t/acme/admin/clients", nil).want(t, 200),
		"history": h.call(t, "GET", base+"/history", nil).want(t, 200),
		"export":  h.call(t, "GET", "/t/acme/admin/export", nil).want(t, 200),
	}
	for name, r := range reads {
		t.Run(name+" shows a marker, not the salt", func(t *testing.T) {
			type shown struct{ ShowsTheSalt, SaysOneIsSet bool }
			got := shown{strings.Contains(string(r.body), salt), strings.Contains(string(r.body), `"pairwise_subject_salt":"[REDACTED]"`)}
			if diff := cmp.Diff(shown{SaysOneIsSet: true}, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", r.body, diff)
			}
		})
	}
	t.Run("no public event shows the salt", func(t *testing.T) {
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
	})

	cfg := clientConfig("acme", created.object(t), "openid")
	subject := func(t *testing.T, cfg oauth2.Config) string {
		t.Helper()
		tok := h.codeFlow(t, h.browser(t), cfg, "alice")
		claims, _ := verifyAs[idClaims](t, h, "acme", tok.Extra("id_token").(string))
		return claims.Sub
	}
	sub := subject(t, cfg)
	if sub == "alice" {
		t.Fatalf("the subject is not pairwise: %s", sub)
	}

	t.Run("the marker sent back, and the export re-imported, change nothing", func(t *testing.T) {
		before := h.head(t)
		h.call(t, "PATCH", base, map[string]any{"pairwise_subject_salt": "[REDACTED]"}).want(t, 200)
		h.call(t, "POST", "/t/acme/admin/import", reads["export"].body).want(t, 200)
		h.unchanged(t, before, "sending the redacted salt back")
	})
	t.Run("a rename with the marker keeps the subjects", func(t *testing.T) {
		h.call(t, "PATCH", base, map[string]any{"pairwise_subject_salt": "[REDACTED]", "client_name": "Renamed"}).want(t, 200)
		if got := subject(t, cfg); got != sub {
			t.Errorf("after a rename with the marker the subject is %s, was %s", got, sub)
		}
	})

	// A clone has its own salt: its subjects are not its source's.
	clone := h.call(t, "POST", base+"/clone", map[string]any{"client_name": "Web copy", "code": "urn:acme/web-copy"}).want(t, 201)
	cc := decodeAs[clientResponse](t, clone)
	t.Run("a clone shows a marker, not the salt", func(t *testing.T) {
		type shown struct {
			ShowsTheSalt bool
			Salt         string
		}
		if diff := cmp.Diff(shown{Salt: "[REDACTED]"}, shown{strings.Contains(string(clone.body), salt), cc.PairwiseSubjectSalt}); diff != "" {
			t.Errorf("clone (-want +got):\n%s", diff)
		}
	})
	t.Run("a clone's subjects are neither its source's nor the user's own", func(t *testing.T) {
		source := subject(t, cfg)
		if got := subject(t, clientConfig("acme", clone.object(t), "openid")); got == sub || got == source || got == "alice" {
			t.Errorf("the clone's subject %s is its source's %s (or the user's own)", got, source)
		}
	})
	t.Run("the server made the clone's salt, of at least 128 random bits", func(t *testing.T) {
		stored, err := h.store.ReadStream(t.Context(), tenants.ClientStream("acme", cc.ClientID), 0)
		if err != nil || len(stored) == 0 {
			t.Fatalf("clone's stream: %v", err)
		}
		d, err := client.Decode(stored[0].Type, stored[0].Schema, stored[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		// base64url: 22 characters hold 128 bits.
		if got := d.(client.ClientRegistered).Settings.PairwiseSubjectSalt; len(got) < 22 || got == salt || got == client.Redacted {
			t.Errorf("the clone's salt is %q", got)
		}
	})
}
