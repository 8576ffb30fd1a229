package tenants_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/client/secret"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/tenants"
)

func TestRegister(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")

		res, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Secret == nil || res.Position.IsZero() || res.Position != e.head(t) {
			t.Fatalf("result = %+v", res)
		}
		v := res.Client
		if v.Tenant != "acme" || v.ClientID == "" || !v.Active || v.Version != 1 || v.Settings.Code != "urn:acme/web" ||
			v.Settings.Type != client.TypeConfidential || len(v.Secrets) != 1 || v.Secrets[0].ID != res.Secret.ID {
			t.Errorf("view = %+v", v)
		}
		stored := e.loadClient(t, "acme", v.ClientID)
		if !secret.Verify(stored.Secrets()[0].Hash, res.Secret.Value) {
			t.Error("the stored hash does not verify the returned secret")
		}
		if stored.Settings().ClientName != "Web urn:acme/web" || stored.Version() != 1 {
			t.Errorf("stored = %+v", stored.Settings())
		}

		// A public client gets no secret.
		pub, err := e.clients.Register(ctx, req, "acme", spa("urn:acme/spa"))
		if err != nil || pub.Secret != nil || len(pub.Client.Secrets) != 0 || pub.Client.Settings.TokenEndpointAuthMethod != client.AuthNone {
			t.Fatalf("public = %+v, %v", pub, err)
		}
		// A confidential client with private_key_jwt gets none either.
		jwt := webApp("urn:acme/jwt")
		jwt.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
		jwt.JWKSURI = "https://app.example.com/jwks.json"
		if r, err := e.clients.Register(ctx, req, "acme", jwt); err != nil || r.Secret != nil {
			t.Fatalf("private_key_jwt = %+v, %v", r, err)
		}
	})
}

func TestRegisterRefuses(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		e.createTenant(t, "paused")
		if _, err := e.tenants.Suspend(ctx, req, "paused", "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/taken")); err != nil {
			t.Fatal(err)
		}
		before := e.head(t)

		bad := func(mod func(*client.Settings)) client.Settings {
			s := webApp("urn:acme/new")
			mod(&s)
			return s
		}
		tests := []struct {
			name        string
			s           client.Settings
			field, code string
		}{
			{"http redirect", bad(func(s *client.Settings) { s.RedirectURIs = []string{"http://evil.example.com/cb"} }), "redirect_uris[0]", "not_allowed"},
			{"fragment", bad(func(s *client.Settings) { s.RedirectURIs = []string{"https://app.example.com/#/cb"} }), "redirect_uris[0]", "invalid_uri"},
			{"wildcard origin", bad(func(s *client.Settings) { s.AllowedCORSOrigins = []string{"https://*.example.com"} }), "allowed_cors_origins[0]", "not_allowed"},
			{"origin with path", bad(func(s *client.Settings) { s.AllowedCORSOrigins = []string{"https://app.example.com/x"} }), "allowed_cors_origins[0]", "invalid_uri"},
			{"unknown scope", bad(func(s *client.Settings) { s.DefaultScopes = []string{"urn:other/api:read"} }), "default_scopes[0]", "unknown_scope"},
			{"no name", bad(func(s *client.Settings) { s.ClientName = "" }), "client_name", "required"},
			{"bad code", bad(func(s *client.Settings) { s.Code = "web" }), "code", "invalid_value"},
			{"bad type", bad(func(s *client.Settings) { s.Type = "robot" }), "type", "invalid_value"},
		}
		for _, tt := range tests {
			_, err := e.clients.Register(ctx, req, "acme", tt.s)
			wantProblem(t, err, tt.field, tt.code)
		}

		_, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/taken"))
		var claim *eventstore.ClaimError
		if !errors.As(err, &claim) || claim.Kind != client.ClaimKindClientCode || claim.Value != "urn:acme/taken" {
			t.Errorf("taken code: %v, want a ClaimError on the code", err)
		}
		if _, err := e.clients.Register(ctx, req, "nope", webApp("urn:acme/x")); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("unknown tenant: %v, want not found", err)
		}
		if _, err := e.clients.Register(ctx, req, "paused", webApp("urn:acme/x")); !errors.Is(err, domain.ErrTenantSuspended) {
			t.Errorf("suspended tenant: %v, want tenant suspended", err)
		}
		if _, err := e.clients.Register(ctx, tenants.Request{}, "acme", webApp("urn:acme/x")); !errors.Is(err, tenants.ErrNoActor) {
			t.Errorf("no actor: %v", err)
		}
		e.unchanged(t, before)
	})
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		reg, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		id := reg.Client.ClientID

		var p client.Patch
		if err := json.Unmarshal([]byte(`{"client_name":"Renamed","code":"urn:acme/web2","allowed_cors_origins":["HTTPS://App.Example.com:443/"]}`), &p); err != nil {
			t.Fatal(err)
		}
		res, err := e.clients.Update(ctx, req, "acme", id, p, 1)
		if err != nil {
			t.Fatal(err)
		}
		s := res.Client.Settings
		if s.ClientName != "Renamed" || s.Code != "urn:acme/web2" || !slices.Equal(s.AllowedCORSOrigins, []string{"https://app.example.com"}) ||
			res.Client.Version != 2 || res.Secret != nil || res.Position != e.head(t) {
			t.Fatalf("update = %+v", res)
		}
		if got := e.loadClient(t, "acme", id).Settings(); got.Code != "urn:acme/web2" {
			t.Errorf("stored code = %s", got.Code)
		}
		// The old code is free again.
		if _, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web")); err != nil {
			t.Errorf("reuse the released code: %v", err)
		}

		// A patch that changes nothing appends nothing, at any version.
		before := e.head(t)
		if res, err := e.clients.Update(ctx, req, "acme", id, p, 0); err != nil || !res.Position.IsZero() || res.Client.Version != 2 {
			t.Fatalf("no-op update = %+v, %v", res, err)
		}
		e.unchanged(t, before)

		// Public to confidential: the client needs a secret; Update makes one.
		pub, err := e.clients.Register(ctx, req, "acme", spa("urn:acme/spa"))
		if err != nil {
			t.Fatal(err)
		}
		var toConf client.Patch
		if err := json.Unmarshal([]byte(`{"type":"confidential","token_endpoint_auth_method":"client_secret_post"}`), &toConf); err != nil {
			t.Fatal(err)
		}
		conf, err := e.clients.Update(ctx, req, "acme", pub.Client.ClientID, toConf, 0)
		if err != nil {
			t.Fatal(err)
		}
		if conf.Secret == nil || len(conf.Client.Secrets) != 1 || !secret.Verify(conf.Client.Secrets[0].Hash, conf.Secret.Value) {
			t.Fatalf("public to confidential = %+v", conf)
		}
		// And back to public: every secret is revoked.
		var toPub client.Patch
		if err := json.Unmarshal([]byte(`{"type":"public","token_endpoint_auth_method":"none"}`), &toPub); err != nil {
			t.Fatal(err)
		}
		back, err := e.clients.Update(ctx, req, "acme", pub.Client.ClientID, toPub, conf.Client.Version)
		if err != nil || len(back.Client.Secrets) != 0 || back.Secret != nil {
			t.Fatalf("back to public = %+v, %v", back, err)
		}
	})
}

func TestUpdateRefuses(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		e.createTenant(t, "other")
		reg, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/taken")); err != nil {
			t.Fatal(err)
		}
		id := reg.Client.ClientID
		before := e.head(t)

		patch := func(doc string) client.Patch {
			var p client.Patch
			if err := json.Unmarshal([]byte(doc), &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		_, err = e.clients.Update(ctx, req, "acme", id, patch(`{"client_name":"x"}`), 7)
		var conflict *eventstore.ConflictError
		if !errors.Is(err, eventstore.ErrConflict) || !errors.As(err, &conflict) || conflict.Expected != 7 || conflict.Actual != 1 {
			t.Errorf("stale version: %v, want a conflict", err)
		}
		_, err = e.clients.Update(ctx, req, "acme", id, patch(`{"redirect_uris":["javascript:alert(1)"]}`), 0)
		wantProblem(t, err, "redirect_uris[0]", "not_allowed")
		_, err = e.clients.Update(ctx, req, "acme", id, patch(`{"client_name":null}`), 0)
		wantProblem(t, err, "client_name", "required")
		_, err = e.clients.Update(ctx, req, "acme", id, patch(`{"code":"urn:acme/taken"}`), 0)
		if !errors.Is(err, eventstore.ErrClaimTaken) {
			t.Errorf("taken code: %v", err)
		}
		if _, err := e.clients.Update(ctx, req, "other", id, patch(`{"client_name":"x"}`), 0); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("another tenant's client: %v, want not found", err)
		}
		if _, err := e.clients.Update(ctx, req, "other", id, patch(`{"client_name":"x"}`), 1); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("another tenant's client at its version: %v, want not found", err)
		}
		for _, bad := range []string{"", "no such", "x\"y", strings.Repeat("a", 200)} {
			if _, err := e.clients.Update(ctx, req, "acme", bad, patch(`{"client_name":"x"}`), 0); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("client id %q: %v, want not found", bad, err)
			}
		}
		if _, err := e.clients.Update(ctx, req, "acme", id, patch(`{"client_name":"x"}`), -1); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("negative version: %v", err)
		}
		e.unchanged(t, before)
	})
}

func TestSecretCommands(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		reg, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		id, first := reg.Client.ClientID, reg.Secret
		now := e.clock.Now()

		// The only usable secret cannot be revoked.
		before := e.head(t)
		if _, err := e.clients.RevokeSecret(ctx, req, "acme", id, first.ID); !errors.Is(err, domain.ErrLastSecret) {
			t.Fatalf("revoke the last secret: %v", err)
		}
		if _, err := e.clients.RevokeSecret(ctx, req, "acme", id, "sec_nope"); !errors.Is(err, domain.ErrSecretNotFound) {
			t.Fatalf("revoke an unknown secret: %v", err)
		}
		_, err = e.clients.AddSecret(ctx, req, "acme", id, "old", ptr(now.Add(-time.Hour)))
		wantProblem(t, err, "client_secret.expires_at", "out_of_range")
		_, err = e.clients.AddSecret(ctx, req, "acme", id, strings.Repeat("d", 201), nil)
		wantProblem(t, err, "client_secret.description", "too_long")
		_, err = e.clients.RotateSecret(ctx, req, "acme", id, 31*24*time.Hour)
		wantProblem(t, err, "overlap", "out_of_range")
		e.unchanged(t, before)

		expires := now.Add(90 * 24 * time.Hour)
		added, err := e.clients.AddSecret(ctx, req, "acme", id, " CI deploys ", &expires)
		if err != nil {
			t.Fatal(err)
		}
		if added.Secret == nil || added.Secret.ExpiresAt == nil || !added.Secret.ExpiresAt.Equal(expires) || len(added.Client.Secrets) != 2 {
			t.Fatalf("add secret = %+v", added)
		}
		if sv := added.Client.Secrets[1]; sv.Description != "CI deploys" || !secret.Verify(sv.Hash, added.Secret.Value) {
			t.Errorf("added secret view = %+v", sv)
		}

		revoked, err := e.clients.RevokeSecret(ctx, req, "acme", id, first.ID)
		if err != nil || len(revoked.Client.Secrets) != 1 || revoked.Client.Secrets[0].ID != added.Secret.ID || revoked.Secret != nil {
			t.Fatalf("revoke = %+v, %v", revoked, err)
		}

		rotated, err := e.clients.RotateSecret(ctx, req, "acme", id, time.Hour)
		if err != nil || rotated.Secret == nil {
			t.Fatalf("rotate = %+v, %v", rotated, err)
		}
		stored := e.loadClient(t, "acme", id).Secrets()
		if len(stored) != 2 || !stored[0].ExpiresAt.Equal(now.Add(time.Hour)) || stored[1].ID != rotated.Secret.ID ||
			stored[1].ExpiresAt != nil || !secret.Verify(stored[1].Hash, rotated.Secret.Value) {
			t.Errorf("secrets after rotation = %v", stored)
		}

		// Secret ids come from the generator when one is given.
		e2 := newEnv(t, e.rec.Store)
		cs, err := tenants.NewClients(e2.store, tenants.WithClock(e.clock.Now), tenants.WithSecretIDs(counter("sec_test")))
		if err != nil {
			t.Fatal(err)
		}
		if r, err := cs.AddSecret(ctx, req, "acme", id, "", nil); err != nil || r.Secret.ID != "sec_test1" {
			t.Errorf("add with an id generator = %+v, %v", r, err)
		}

		// A public client holds no secret.
		pub, err := e.clients.Register(ctx, req, "acme", spa("urn:acme/spa"))
		if err != nil {
			t.Fatal(err)
		}
		before = e.head(t)
		_, err = e.clients.AddSecret(ctx, req, "acme", pub.Client.ClientID, "", nil)
		wantProblem(t, err, "client_secret", "not_allowed")
		_, err = e.clients.RotateSecret(ctx, req, "acme", pub.Client.ClientID, 0)
		wantProblem(t, err, "client_secret", "not_allowed")
		e.unchanged(t, before)
	})
}

func TestActivation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		reg, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		id := reg.Client.ClientID

		before := e.head(t)
		_, err = e.clients.Deactivate(ctx, req, "acme", id, "bad\x00reason")
		wantProblem(t, err, "reason", "invalid_value")
		if r, err := e.clients.Activate(ctx, req, "acme", id); err != nil || !r.Position.IsZero() || !r.Client.Active {
			t.Fatalf("activate an active client = %+v, %v", r, err)
		}
		e.unchanged(t, before)

		off, err := e.clients.Deactivate(ctx, req, "acme", id, "compromised")
		if err != nil || off.Client.Active || off.Client.DeactivationReason != "compromised" {
			t.Fatalf("deactivate = %+v, %v", off, err)
		}
		events := e.events(t)
		if ev := events[len(events)-1]; ev.Type != "client.deactivated" || ev.Meta.Reason != "compromised" {
			t.Errorf("deactivation event %s with reason %q", ev.Type, ev.Meta.Reason)
		}
		if e.loadClient(t, "acme", id).Active() {
			t.Error("the stored client is active")
		}
		on, err := e.clients.Activate(ctx, req, "acme", id)
		if err != nil || !on.Client.Active || on.Client.Version != 3 {
			t.Fatalf("activate = %+v, %v", on, err)
		}
	})
}

func TestCloneAndDelete(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		e.createTenant(t, "other")
		reg, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		id := reg.Client.ClientID
		if _, err := e.clients.Deactivate(ctx, req, "acme", id, ""); err != nil {
			t.Fatal(err)
		}

		clone, err := e.clients.Clone(ctx, req, "acme", id, "Web copy", "urn:acme/web-copy")
		if err != nil {
			t.Fatal(err)
		}
		cv := clone.Client
		if cv.ClientID == id || cv.ClonedFrom != id || !cv.Active || cv.Settings.ClientName != "Web copy" || cv.Settings.Code != "urn:acme/web-copy" ||
			!slices.Equal(cv.Settings.RedirectURIs, reg.Client.Settings.RedirectURIs) || clone.Secret == nil ||
			len(cv.Secrets) != 1 || cv.Secrets[0].ID == reg.Secret.ID {
			t.Fatalf("clone = %+v", clone)
		}
		if !secret.Verify(e.loadClient(t, "acme", cv.ClientID).Secrets()[0].Hash, clone.Secret.Value) {
			t.Error("the clone's stored hash does not verify its secret")
		}

		before := e.head(t)
		if _, err := e.clients.Clone(ctx, req, "acme", id, "Again", "urn:acme/web-copy"); !errors.Is(err, eventstore.ErrClaimTaken) {
			t.Errorf("clone onto a taken code: %v", err)
		}
		_, err = e.clients.Clone(ctx, req, "acme", id, "", "urn:acme/x")
		wantProblem(t, err, "client_name", "required")
		if _, err := e.clients.Clone(ctx, req, "other", id, "X", "urn:acme/x"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("clone another tenant's client: %v", err)
		}
		if _, err := e.clients.Delete(ctx, req, "other", id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("delete another tenant's client: %v", err)
		}
		e.unchanged(t, before)

		del, err := e.clients.Delete(ctx, req, "acme", id)
		if err != nil || del.Position.IsZero() || del.Client.Active {
			t.Fatalf("delete = %+v, %v", del, err)
		}
		if !e.loadClient(t, "acme", id).Deleted() {
			t.Error("the stored client is not deleted")
		}
		before = e.head(t)
		for name, run := range map[string]func() error{
			"update": func() error {
				_, err := e.clients.Update(ctx, req, "acme", id, client.Patch{ClientName: ptr("x")}, 0)
				return err
			},
			"update v3": func() error {
				_, err := e.clients.Update(ctx, req, "acme", id, client.Patch{ClientName: ptr("x")}, 2)
				return err
			},
			"delete":     func() error { _, err := e.clients.Delete(ctx, req, "acme", id); return err },
			"activate":   func() error { _, err := e.clients.Activate(ctx, req, "acme", id); return err },
			"add secret": func() error { _, err := e.clients.AddSecret(ctx, req, "acme", id, "", nil); return err },
			"clone":      func() error { _, err := e.clients.Clone(ctx, req, "acme", id, "X", "urn:acme/x"); return err },
			"get":        func() error { _, err := e.clients.Get(ctx, "acme", id); return err },
		} {
			if err := run(); !errors.Is(err, domain.ErrDeleted) {
				t.Errorf("%s on a deleted client: %v, want deleted", name, err)
			}
		}
		e.unchanged(t, before)
		// The code is free again.
		if _, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web")); err != nil {
			t.Errorf("reuse a deleted client's code: %v", err)
		}
	})
}

func TestSuspendedTenantRefusesWrites(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		reg, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		id := reg.Client.ClientID
		if _, err := e.tenants.Suspend(ctx, req, "acme", "audit"); err != nil {
			t.Fatal(err)
		}
		before := e.head(t)
		for name, run := range map[string]func() error{
			"register": func() error { _, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/x")); return err },
			"update": func() error {
				_, err := e.clients.Update(ctx, req, "acme", id, client.Patch{ClientName: ptr("x")}, 0)
				return err
			},
			"add secret": func() error { _, err := e.clients.AddSecret(ctx, req, "acme", id, "", nil); return err },
			"revoke":     func() error { _, err := e.clients.RevokeSecret(ctx, req, "acme", id, reg.Secret.ID); return err },
			"rotate":     func() error { _, err := e.clients.RotateSecret(ctx, req, "acme", id, 0); return err },
			"activate":   func() error { _, err := e.clients.Activate(ctx, req, "acme", id); return err },
			"deactivate": func() error { _, err := e.clients.Deactivate(ctx, req, "acme", id, ""); return err },
			"clone":      func() error { _, err := e.clients.Clone(ctx, req, "acme", id, "X", "urn:acme/x"); return err },
			"delete":     func() error { _, err := e.clients.Delete(ctx, req, "acme", id); return err },
			"import": func() error {
				_, err := importJSON(ctx, e.clients.Import, "acme", []byte(`{"format":"clavis.clients/v1","clients":[]}`))
				return err
			},
		} {
			if err := run(); !errors.Is(err, domain.ErrTenantSuspended) {
				t.Errorf("%s: %v, want tenant suspended", name, err)
			}
		}
		e.unchanged(t, before)
		// Reads still work.
		if _, err := e.clients.Get(ctx, "acme", id); err != nil {
			t.Errorf("get: %v", err)
		}
		if _, err := e.clients.History(ctx, "acme", id); err != nil {
			t.Errorf("history: %v", err)
		}
		if _, err := e.clients.Export(ctx, "acme"); err != nil {
			t.Errorf("export: %v", err)
		}
		if _, err := importJSON(ctx, e.clients.DryRunImport, "acme", []byte(`{"format":"clavis.clients/v1","clients":[]}`)); err != nil {
			t.Errorf("dry run import: %v", err)
		}
	})
}

// TestSecretsNeverInEvents runs every command that makes a secret, then
// scans every stored event, data and metadata, for every plaintext and
// for the "cls_" prefix.
func TestSecretsNeverInEvents(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		var plaintexts []string
		keep := func(s *tenants.Secret) {
			if s == nil {
				t.Fatal("no secret returned")
			}
			plaintexts = append(plaintexts, s.Value)
		}
		created := e.createTenant(t, "acme")
		keep(&created.AdminSecret)
		reg, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		keep(reg.Secret)
		id := reg.Client.ClientID
		added, err := e.clients.AddSecret(ctx, req, "acme", id, "x", nil)
		if err != nil {
			t.Fatal(err)
		}
		keep(added.Secret)
		rotated, err := e.clients.RotateSecret(ctx, req, "acme", id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		keep(rotated.Secret)
		clone, err := e.clients.Clone(ctx, req, "acme", id, "Copy", "urn:acme/copy")
		if err != nil {
			t.Fatal(err)
		}
		keep(clone.Secret)
		pub, err := e.clients.Register(ctx, req, "acme", spa("urn:acme/spa"))
		if err != nil {
			t.Fatal(err)
		}
		conf, err := e.clients.Update(ctx, req, "acme", pub.Client.ClientID, client.Patch{Type: ptr(client.TypeConfidential), TokenEndpointAuthMethod: ptr(client.AuthClientSecretBasic)}, 0)
		if err != nil {
			t.Fatal(err)
		}
		keep(conf.Secret)
		e.createTenant(t, "beta")
		e.settle(t)
		pkg, err := e.clients.Export(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(pkg)
		rep, err := importJSON(ctx, e.clients.Import, "beta", data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Clients {
			if r.Secret != nil {
				keep(r.Secret)
			}
		}

		events := e.events(t)
		if len(events) < 10 {
			t.Fatalf("only %d events", len(events))
		}
		for _, ev := range events {
			all := string(ev.Data) + ev.Meta.Actor + ev.Meta.CorrelationID + ev.Meta.CausationID + ev.Meta.Reason + ev.Meta.TraceParent
			if strings.Contains(all, "cls_") {
				t.Errorf("%s %s holds cls_", ev.Stream, ev.Type)
			}
			for _, p := range plaintexts {
				if strings.Contains(all, p) || strings.Contains(all, strings.TrimPrefix(p, "cls_")) {
					t.Errorf("%s %s holds a plaintext secret", ev.Stream, ev.Type)
				}
			}
		}
	})
}
