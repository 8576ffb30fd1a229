package tenants_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/client/secret"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

func TestCreateTenant(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		out, err := e.tenants.Create(t.Context(), req, "acme", "  Acme Corp ")
		if err != nil {
			t.Fatal(err)
		}
		if out.Tenant.Slug != "acme" || out.Tenant.Name != "Acme Corp" || out.Tenant.Suspended || out.Tenant.Version != 3 {
			t.Errorf("tenant = %+v", out.Tenant)
		}
		if out.Position.IsZero() || out.Position != e.head(t) {
			t.Errorf("position = %v, want the head %v", out.Position, e.head(t))
		}

		// The admin client, as the store has it.
		admin := e.loadClient(t, "acme", out.AdminClient.ClientID)
		s := admin.Settings()
		if s.Type != client.TypeM2M || s.Code != tenants.AdminClientCode || s.ClientName != "Acme Corp admin" ||
			!slices.Equal(s.GrantTypes, []string{client.GrantClientCredentials}) ||
			s.TokenEndpointAuthMethod != client.AuthClientSecretBasic ||
			!slices.Equal(s.DefaultScopes, []string{scope.Admin}) || !admin.Active() {
			t.Errorf("admin client settings = %+v", s)
		}
		secrets := admin.Secrets()
		if len(secrets) != 1 || secrets[0].ID != out.AdminSecret.ID || !secret.Verify(secrets[0].Hash, out.AdminSecret.Value) {
			t.Fatalf("the stored secret does not verify the returned one: %v", secrets)
		}
		if out.AdminClient.Version != 1 || out.AdminClient.Tenant != "acme" {
			t.Errorf("admin view = %+v", out.AdminClient)
		}

		// Its signing key, sealed, signing from now on.
		key, ok := out.Tenant.SigningKey(e.clock.Now())
		if !ok || key.Alg != tenant.AlgES256 || len(out.Tenant.Keys) != 1 {
			t.Fatalf("keys = %v", out.Tenant.Keys)
		}
		if _, err := e.keys.Open("acme", key); err != nil {
			t.Fatalf("the key does not open: %v", err)
		}

		// Metadata of every event.
		events := e.events(t)
		if len(events) != 4 || events[0].Type != "tenant.created" || events[1].Type != "tenant.signing_key_added" ||
			events[2].Type != "tenant.audit_key_added" || events[3].Type != "client.registered" {
			t.Fatalf("events = %v", eventTypes(events))
		}
		for _, ev := range events {
			if ev.Meta.Actor != "root" || ev.Meta.CorrelationID != "corr-1" || ev.Meta.CausationID != "req-1" || ev.Meta.TraceParent != req.TraceParent ||
				!ev.Meta.OccurredAt.Equal(e.clock.Now()) {
				t.Errorf("%s metadata = %+v", ev.Type, ev.Meta)
			}
		}

		// A retry, and a concurrent duplicate, never make a second tenant.
		before := e.head(t)
		_, err = e.tenants.Create(t.Context(), req, "acme", "Acme again")
		var exists *tenants.AlreadyExistsError
		if !errors.As(err, &exists) || !errors.Is(err, domain.ErrAlreadyExists) || exists.Field != "slug" || exists.Value != "acme" {
			t.Fatalf("second create: %v, want an AlreadyExistsError", err)
		}
		e.unchanged(t, before)
	})
}

func TestCreateTenantRefuses(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		tests := []struct {
			name, slug, tenantName string
			field, code            string
		}{
			{"empty slug", "", "Acme", "slug", "required"},
			{"uppercase slug", "Acme", "Acme", "slug", "invalid_value"},
			{"reserved slug", "admin", "Admin", "slug", "reserved"},
			{"slug with a slash", "a/b", "Acme", "slug", "invalid_value"},
			{"empty name", "acme", "  ", "name", "required"},
			{"long name", "acme", strings.Repeat("x", 201), "name", "too_long"},
			{"control character", "acme", "a\x00b", "name", "invalid_value"},
		}
		before := e.head(t)
		for _, tt := range tests {
			_, err := e.tenants.Create(t.Context(), req, tt.slug, tt.tenantName)
			wantProblem(t, err, tt.field, tt.code)
		}
		if _, err := e.tenants.Create(t.Context(), tenants.Request{}, "acme", "Acme"); !errors.Is(err, tenants.ErrNoActor) {
			t.Errorf("no actor: %v", err)
		}
		e.unchanged(t, before)
	})
}

func TestCreateTenantLongName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, backends[0].open(t))
	name := strings.Repeat("é", 200)
	out, err := e.tenants.Create(t.Context(), req, "long", name)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.AdminClient.Settings.ClientName; got != strings.Repeat("é", 194)+" admin" {
		t.Errorf("admin client name = %q", got)
	}
}

func TestTenantCommands(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")

		e.clock.Advance(1)
		r, err := e.tenants.Update(ctx, req, "acme", tenants.TenantPatch{Name: ptr("ACME Inc.")})
		if err != nil || r.Tenant.Name != "ACME Inc." || r.Tenant.Version != 4 || r.Position != e.head(t) {
			t.Fatalf("rename = %+v, %v", r, err)
		}
		// Renaming to the same name changes nothing.
		before := e.head(t)
		if r, err := e.tenants.Update(ctx, req, "acme", tenants.TenantPatch{Name: ptr("ACME Inc.")}); err != nil || !r.Position.IsZero() || r.Tenant.Version != 4 {
			t.Fatalf("rename again = %+v, %v", r, err)
		}
		e.unchanged(t, before)

		r, err = e.tenants.Suspend(ctx, req, "acme", "unpaid invoices")
		if err != nil || !r.Tenant.Suspended || r.Tenant.SuspensionReason != "unpaid invoices" {
			t.Fatalf("suspend = %+v, %v", r, err)
		}
		last := e.events(t)
		if ev := last[len(last)-1]; ev.Type != "tenant.suspended" || ev.Meta.Reason != "unpaid invoices" {
			t.Errorf("suspension event = %s reason %q", ev.Type, ev.Meta.Reason)
		}
		before = e.head(t)
		if r, err := e.tenants.Suspend(ctx, req, "acme", "again"); err != nil || !r.Position.IsZero() || r.Tenant.SuspensionReason != "unpaid invoices" {
			t.Fatalf("suspend again = %+v, %v", r, err)
		}
		e.unchanged(t, before)

		// A suspended tenant may be renamed, and read.
		if _, err := e.tenants.Update(ctx, req, "acme", tenants.TenantPatch{Name: ptr("Acme")}); err != nil {
			t.Fatalf("rename while suspended: %v", err)
		}
		if v := projections.NewTenantView(e.loadTenant(t, "acme")); !v.Suspended || v.Name != "Acme" {
			t.Fatalf("stored tenant = %+v", v)
		}

		r, err = e.tenants.Resume(ctx, req, "acme")
		if err != nil || r.Tenant.Suspended || r.Tenant.SuspensionReason != "" {
			t.Fatalf("resume = %+v, %v", r, err)
		}
		if tn := e.loadTenant(t, "acme"); tn.Suspended() || tn.Name() != "Acme" || tn.Version() != 7 {
			t.Errorf("stored tenant: suspended=%v name=%q version=%d", tn.Suspended(), tn.Name(), tn.Version())
		}
	})
}

func TestTenantCommandsRefuse(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		before := e.head(t)
		for _, slug := range []string{"nope", "", "ADMIN", "admin", "a/b"} {
			if _, err := e.tenants.Update(ctx, req, slug, tenants.TenantPatch{Name: ptr("x")}); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("rename %q: %v, want not found", slug, err)
			}
			if _, err := e.tenants.Suspend(ctx, req, slug, ""); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("suspend %q: %v, want not found", slug, err)
			}
			if _, err := e.tenants.Resume(ctx, req, slug); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("resume %q: %v, want not found", slug, err)
			}
		}
		_, err := e.tenants.Update(ctx, req, "acme", tenants.TenantPatch{Name: ptr("")})
		wantProblem(t, err, "name", "required")
		_, err = e.tenants.Suspend(ctx, req, "acme", strings.Repeat("x", 501))
		wantProblem(t, err, "reason", "too_long")
		if _, err := e.tenants.Resume(ctx, tenants.Request{}, "acme"); !errors.Is(err, tenants.ErrNoActor) {
			t.Errorf("no actor: %v", err)
		}
		e.unchanged(t, before)
	})
}

func TestTenantLoginURL(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		const loginURL = "https://login.acme.example/signin"

		r, err := e.tenants.SetLoginURL(ctx, req, "acme", " "+loginURL+" ")
		if err != nil || r.Tenant.LoginURL != loginURL || r.Tenant.Version != 4 || r.Position != e.head(t) {
			t.Fatalf("set = %+v, %v", r, err)
		}
		last := e.events(t)
		if ev := last[len(last)-1]; ev.Type != "tenant.login_url_set" || ev.Meta.Actor != "root" {
			t.Errorf("event = %s by %q", ev.Type, ev.Meta.Actor)
		}
		// Setting the same URL changes nothing; an invalid one is refused.
		before := e.head(t)
		if r, err := e.tenants.SetLoginURL(ctx, req, "acme", loginURL); err != nil || !r.Position.IsZero() || r.Tenant.LoginURL != loginURL {
			t.Fatalf("set again = %+v, %v", r, err)
		}
		_, err = e.tenants.SetLoginURL(ctx, req, "acme", "http://login.acme.example/")
		wantProblem(t, err, "login_url", "not_allowed")
		_, err = e.tenants.SetLoginURL(ctx, req, "nope", loginURL)
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("unknown tenant: %v, want not found", err)
		}
		e.unchanged(t, before)

		// A suspended tenant may change it; clearing is setting "".
		if _, err := e.tenants.Suspend(ctx, req, "acme", ""); err != nil {
			t.Fatal(err)
		}
		r, err = e.tenants.SetLoginURL(ctx, req, "acme", "")
		if err != nil || r.Tenant.LoginURL != "" || !r.Tenant.Suspended {
			t.Fatalf("clear while suspended = %+v, %v", r, err)
		}
		if v := projections.NewTenantView(e.loadTenant(t, "acme")); v.LoginURL != "" || v.Version != 6 {
			t.Fatalf("stored tenant = %+v", v)
		}
	})
}

func TestUpdateTenant(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		name, loginURL := "Acme Inc.", "http://localhost:3000/login"

		r, err := e.tenants.Update(ctx, req, "acme", tenants.TenantPatch{Name: &name, LoginURL: &loginURL})
		if err != nil || r.Tenant.Name != name || r.Tenant.LoginURL != loginURL || r.Tenant.Version != 5 || r.Position != e.head(t) {
			t.Fatalf("update = %+v, %v", r, err)
		}
		all := eventTypes(e.events(t))
		if got := all[len(all)-2:]; strings.Join(got, ",") != "tenant.renamed,tenant.login_url_set" {
			t.Errorf("events = %v", got)
		}
		before := e.head(t)
		for _, p := range []tenants.TenantPatch{{}, {Name: &name}, {LoginURL: &loginURL}, {Name: &name, LoginURL: &loginURL}} {
			if r, err := e.tenants.Update(ctx, req, "acme", p); err != nil || !r.Position.IsZero() || r.Tenant.Version != 5 {
				t.Fatalf("update to the same = %+v, %v", r, err)
			}
		}
		// One bad field and nothing is written: not even the good one.
		other, bad, empty := "Other", "https://login.acme.example/#frag", ""
		_, err = e.tenants.Update(ctx, req, "acme", tenants.TenantPatch{Name: &other, LoginURL: &bad})
		wantProblem(t, err, "login_url", "invalid_uri")
		_, err = e.tenants.Update(ctx, req, "acme", tenants.TenantPatch{Name: &empty, LoginURL: &bad})
		wantProblem(t, err, "name", "required")
		wantProblem(t, err, "login_url", "invalid_uri")
		if _, err := e.tenants.Update(ctx, req, "nope", tenants.TenantPatch{Name: &other}); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("unknown tenant: %v, want not found", err)
		}
		e.unchanged(t, before)
		if tn := e.loadTenant(t, "acme"); tn.Name() != name || tn.LoginURL() != loginURL {
			t.Errorf("stored tenant: %q %q", tn.Name(), tn.LoginURL())
		}
	})
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	store := backends[0].open(t)
	for name, opt := range map[string]tenants.Option{
		"nil option":     nil,
		"nil clock":      tenants.WithClock(nil),
		"nil event ids":  tenants.WithEventIDs(nil),
		"nil client ids": tenants.WithClientIDs(nil),
		"nil secret ids": tenants.WithSecretIDs(nil),
		"nil catalogues": tenants.WithCatalogues(nil),
		"snapshots -1":   tenants.WithSnapshotEvery(-1),
	} {
		if _, err := tenants.NewClients(store, opt); !errors.Is(err, tenants.ErrInvalidOption) {
			t.Errorf("%s: NewClients: %v, want %v", name, err, tenants.ErrInvalidOption)
		}
		if _, err := tenants.NewTenants(store, testnode.Keyring(t), opt); !errors.Is(err, tenants.ErrInvalidOption) {
			t.Errorf("%s: NewTenants: %v, want %v", name, err, tenants.ErrInvalidOption)
		}
	}
	// A nil logger means what it means everywhere: log nothing.
	if _, err := tenants.NewClients(store, tenants.WithLogger(nil)); err != nil {
		t.Errorf("NewClients with a nil logger: %v", err)
	}
	if _, err := tenants.NewTenants(store, testnode.Keyring(t), tenants.WithLogger(nil)); err != nil {
		t.Errorf("NewTenants with a nil logger: %v", err)
	}
	if _, err := tenants.NewClients(nil); err == nil {
		t.Error("NewClients accepted a nil store")
	}
	if _, err := tenants.NewTenants(nil, testnode.Keyring(t)); err == nil {
		t.Error("NewTenants accepted a nil store")
	}
	if _, err := tenants.NewTenants(store, nil); err == nil {
		t.Error("NewTenants accepted no key maker")
	}
	var _ eventstore.Store = store
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		first := projections.NewTenantView(e.loadTenant(t, "acme"))
		old, _ := first.SigningKey(e.clock.Now())

		before := e.head(t)
		for _, alg := range []string{"HS256", "none", "es256"} {
			_, err := e.tenants.RotateKey(ctx, req, "acme", alg, 0)
			wantProblem(t, err, "signing_key.alg", "invalid_value")
		}
		if _, err := e.tenants.RotateKey(ctx, req, "nope", tenant.AlgES256, 0); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("rotate an unknown tenant: %v", err)
		}
		e.unchanged(t, before)

		now := e.clock.Now()
		r, err := e.tenants.RotateKey(ctx, req, "acme", tenant.AlgRS256, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if r.Position != e.head(t) || len(r.Tenant.Keys) != 2 {
			t.Fatalf("rotate = %+v", r)
		}
		if k, _ := r.Tenant.SigningKey(now); k.KID != old.KID {
			t.Errorf("the new key signs before its lead time: %s", k.KID)
		}
		next, ok := r.Tenant.SigningKey(now.Add(time.Minute))
		if !ok || next.Alg != tenant.AlgRS256 || next.KID == old.KID {
			t.Fatalf("after the lead time %v signs", next)
		}
		if _, err := e.keys.Open("acme", next); err != nil {
			t.Fatalf("the new key does not open: %v", err)
		}
		if got := len(r.Tenant.PublishedKeys(now)); got != 2 {
			t.Errorf("%d keys published during the lead time, want both", got)
		}
		gone := now.Add(time.Minute + tenants.KeyTokenLifetime)
		if got := r.Tenant.PublishedKeys(gone); len(got) != 1 || got[0].KID != next.KID {
			t.Errorf("published once the old key's tokens expired: %v", got)
		}
		if got := r.Tenant.PublishedKeys(gone.Add(-time.Second)); len(got) != 2 {
			t.Errorf("the old key left before its last token expired: %v", got)
		}
	})
}
