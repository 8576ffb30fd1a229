package tenants_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/tenants"
)

// signAndOpen has slug's current signer sign a checkpoint-like note and
// opens it with the tenant's verifier keys; it returns the hash of the
// key that signed.
func signAndOpen(t *testing.T, ts *tenants.Tenants, slug string) uint32 {
	t.Helper()
	signer, err := ts.AuditSigner(t.Context(), slug)
	if err != nil {
		t.Fatalf("audit signer: %v", err)
	}
	msg, err := note.Sign(&note.Note{Text: signer.Name() + "\n7\nq83v1mz2bVRy4ZDQAtsnU/3/nhZDC6OCNwsUF9ylF6U=\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(msg), "PRIVATE") {
		t.Fatalf("the signed note shows the signer key: %s", msg)
	}
	n, err := note.Open(msg, verifierList(t, ts, slug))
	if err != nil {
		t.Fatalf("the signed note does not open with the tenant's verifier keys: %v\n%s", err, msg)
	}
	return n.Sigs[0].Hash
}

func verifierList(t *testing.T, ts *tenants.Tenants, slug string) note.Verifiers {
	t.Helper()
	vkeys, err := ts.AuditVerifiers(t.Context(), slug)
	if err != nil {
		t.Fatalf("audit verifiers: %v", err)
	}
	var vs []note.Verifier
	for _, vk := range vkeys {
		v, err := note.NewVerifier(vk)
		if err != nil {
			t.Fatalf("verifier key %q: %v", vk, err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...)
}

func hashOf(t *testing.T, vkey string) uint32 {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v.KeyHash()
}

func TestCreateTenantGivesAuditKey(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		out := e.createTenant(t, "acme")
		keys := out.Tenant.AuditKeys
		if len(keys) != 1 || keys[0].Name != "localhost:8080/t/acme/audit" || !strings.HasPrefix(keys[0].Verifier, keys[0].Name+"+") {
			t.Fatalf("audit keys = %v", keys)
		}
		if strings.Contains(keys[0].Sealed, "PRIVATE") {
			t.Fatal("the audit key is stored unsealed")
		}
		vkeys, err := e.tenants.AuditVerifiers(t.Context(), "acme")
		if err != nil || len(vkeys) != 1 || vkeys[0] != keys[0].Verifier {
			t.Fatalf("verifiers = %q, %v", vkeys, err)
		}
		if got := signAndOpen(t, e.tenants, "acme"); got != hashOf(t, keys[0].Verifier) {
			t.Errorf("signed by %08x, not the tenant's key", got)
		}
	})
}

func TestAuditKeyNamedAfterPublicURL(t *testing.T) {
	t.Parallel()
	ts, err := tenants.NewTenants(testnode.Store(t, ""), testnode.Keyring(t), tenants.WithPublicURL("https://id.example.com/auth/"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ts.Create(t.Context(), req, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.Tenant.AuditKeys[0].Name, "id.example.com/auth/t/acme/audit"; got != want || ts.AuditKeyName("acme") != want {
		t.Errorf("audit key name = %q, want %q", got, want)
	}
}

func TestWithPublicURLRefusesWhatCannotNameAKey(t *testing.T) {
	t.Parallel()
	store := testnode.Store(t, "")
	for _, u := range []string{
		"", "localhost:8080", "ftp://id.example.com", "https://", "https://id.example.com/a b",
		"https://id.example.com/a+b", "https://id.example.com/?x=1", "https://id.example.com/#f",
		"https://" + strings.Repeat("a", 130) + ".example.com",
	} {
		if _, err := tenants.NewTenants(store, testnode.Keyring(t), tenants.WithPublicURL(u)); !errors.Is(err, tenants.ErrInvalidOption) {
			t.Errorf("WithPublicURL(%q): err = %v, want ErrInvalidOption", u, err)
		}
	}
	if _, err := tenants.NewTenants(store, testnode.Keyring(t), tenants.WithTenantViews(nil)); !errors.Is(err, tenants.ErrInvalidOption) {
		t.Errorf("WithTenantViews(nil): err = %v", err)
	}
}

func TestRotateAuditKey(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		first := e.createTenant(t, "acme").Tenant.AuditKeys[0]
		oldSigner, err := e.tenants.AuditSigner(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := e.tenants.AuditSigner(ctx, "acme"); again != oldSigner {
			t.Error("the opened signer is not kept")
		}
		oldNote, err := note.Sign(&note.Note{Text: "acme before\n"}, oldSigner)
		if err != nil {
			t.Fatal(err)
		}
		// A suspended tenant rotates, and its keys stay readable.
		if _, err := e.tenants.Suspend(ctx, req, "acme", "audit"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		r, err := e.tenants.RotateAuditKey(ctx, req, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if r.Position != e.head(t) || len(r.Tenant.AuditKeys) != 2 {
			t.Fatalf("rotate = %+v", r)
		}
		second := r.Tenant.AuditKeys[1]
		if second.Verifier == first.Verifier || second.Name != first.Name {
			t.Fatalf("keys = %v", r.Tenant.AuditKeys)
		}
		if evs := e.events(t); evs[len(evs)-1].Type != tenant.EventTypeAuditKeyAdded || evs[len(evs)-1].Meta.Actor != "root" {
			t.Errorf("last event = %s by %s", evs[len(evs)-1].Type, evs[len(evs)-1].Meta.Actor)
		}
		vkeys, err := e.tenants.AuditVerifiers(ctx, "acme")
		if err != nil || len(vkeys) != 2 || vkeys[0] != second.Verifier || vkeys[1] != first.Verifier {
			t.Fatalf("verifiers = %q, %v; want the new key first", vkeys, err)
		}
		if got := signAndOpen(t, e.tenants, "acme"); got != second.Hash {
			t.Errorf("signed by %08x after the rotation, want the new key %08x", got, second.Hash)
		}
		// What the old key signed still verifies.
		if _, err := note.Open(oldNote, verifierList(t, e.tenants, "acme")); err != nil {
			t.Errorf("a note signed before the rotation no longer opens: %v", err)
		}

		before := e.head(t)
		for _, slug := range []string{"nope", "Not A Slug"} {
			if _, err := e.tenants.RotateAuditKey(ctx, req, slug); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("rotate %q: %v, want not found", slug, err)
			}
			if _, err := e.tenants.AuditVerifiers(ctx, slug); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("verifiers of %q: %v, want not found", slug, err)
			}
			if _, err := e.tenants.AuditSigner(ctx, slug); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("signer of %q: %v, want not found", slug, err)
			}
		}
		if _, err := e.tenants.RotateAuditKey(ctx, tenants.Request{}, "acme"); !errors.Is(err, tenants.ErrNoActor) {
			t.Errorf("no actor: %v", err)
		}
		e.unchanged(t, before)
	})
}

// createOld creates tenant slug as a version without audit keys did.
func createOld(t *testing.T, e *env, slug string) {
	t.Helper()
	key, err := e.keys.Generate(slug, tenant.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	_, err = aggregate.Execute(t.Context(), e.store, aggregate.Command[*tenant.Tenant]{
		Stream: tenants.TenantStream(slug), Decode: tenant.Decode, Replay: tenant.Replay,
		Decide: func(*tenant.Tenant) ([]domain.Event, error) { return tenant.Create(slug, "Old", key, e.clock.Now()) },
		Meta:   eventstore.Metadata{Actor: "root", OccurredAt: e.clock.Now()}, NewID: counter(slug + "-evt-"),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEnsureAuditKey(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		createOld(t, e, "old")
		if _, err := e.tenants.AuditVerifiers(ctx, "old"); !errors.Is(err, tenants.ErrNoAuditKey) {
			t.Fatalf("verifiers of a tenant without keys: %v, want ErrNoAuditKey", err)
		}
		if _, err := e.tenants.AuditSigner(ctx, "old"); !errors.Is(err, tenants.ErrNoAuditKey) {
			t.Fatalf("signer of a tenant without keys: %v, want ErrNoAuditKey", err)
		}
		sys := tenants.Request{Actor: "system"}
		r, err := e.tenants.EnsureAuditKey(ctx, sys, "old")
		if err != nil || r.Position.IsZero() || len(r.Tenant.AuditKeys) != 1 {
			t.Fatalf("ensure = %+v, %v", r, err)
		}
		if evs := e.events(t); evs[len(evs)-1].Type != tenant.EventTypeAuditKeyAdded || evs[len(evs)-1].Meta.Actor != "system" {
			t.Errorf("last event = %s by %s", evs[len(evs)-1].Type, evs[len(evs)-1].Meta.Actor)
		}
		signAndOpen(t, e.tenants, "old")

		// Again, and on a tenant created with a key: nothing changes.
		e.createTenant(t, "acme")
		before := e.head(t)
		for _, slug := range []string{"old", "acme"} {
			r, err := e.tenants.EnsureAuditKey(ctx, sys, slug)
			if err != nil || !r.Position.IsZero() || len(r.Tenant.AuditKeys) != 1 {
				t.Errorf("ensure %s again = %+v, %v", slug, r, err)
			}
		}
		if _, err := e.tenants.EnsureAuditKey(ctx, sys, "nope"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("ensure unknown: %v", err)
		}
		e.unchanged(t, before)
	})
}

// TestEnsureAuditKeyConcurrently has several callers, as several nodes
// starting at once, ensure the same tenant's key: it gets exactly one.
func TestEnsureAuditKeyConcurrently(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		createOld(t, e, "old")
		const callers = 6
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for range callers {
			wg.Go(func() {
				_, err := e.tenants.EnsureAuditKey(t.Context(), tenants.Request{Actor: "system"}, "old")
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("ensure: %v", err)
			}
		}
		if keys := e.loadTenant(t, "old").AuditKeys(); len(keys) != 1 {
			t.Errorf("audit keys = %v, want exactly one", keys)
		}
	})
}

// TestAuditReadersFromTenantViews reads the keys through the read model,
// falling back to the store while it has not caught up.
func TestAuditReadersFromTenantViews(t *testing.T) {
	t.Parallel()
	n := testnode.New(t)
	ts, err := tenants.NewTenants(n.Store, n.Keys, tenants.WithTenantViews(n.ReadModel))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ts.Create(t.Context(), req, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	want := out.Tenant.AuditKeys[0].Verifier
	for _, caughtUp := range []bool{false, true} {
		if caughtUp {
			n.CatchUp(t)
		}
		vkeys, err := ts.AuditVerifiers(t.Context(), "acme")
		if err != nil || len(vkeys) != 1 || vkeys[0] != want {
			t.Errorf("caught up %v: verifiers = %q, %v", caughtUp, vkeys, err)
		}
		signAndOpen(t, ts, "acme")
	}
	if _, err := ts.AuditVerifiers(t.Context(), "nope"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("unknown tenant: %v", err)
	}
}

// TestAuditSignerSignsCheckpoints signs an audit log checkpoint with a
// tenant's signer and opens it with its published verifier keys, across
// a rotation.
func TestAuditSignerSignsCheckpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testnode.Store(t, ""))
	e.createTenant(t, "acme")
	sign := func(size int64) []byte {
		t.Helper()
		s, err := e.tenants.AuditSigner(t.Context(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		signed, err := auditlog.Sign(auditlog.Checkpoint{Origin: e.tenants.AuditKeyName("acme"), Size: size}, s)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	before := sign(1)
	if _, err := e.tenants.RotateAuditKey(t.Context(), req, "acme"); err != nil {
		t.Fatal(err)
	}
	after := sign(2)
	vkeys, err := e.tenants.AuditVerifiers(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	for i, signed := range [][]byte{before, after} {
		c, err := auditlog.Open(signed, vkeys...)
		if err != nil || c.Size != int64(i+1) || c.Origin != "localhost:8080/t/acme/audit" {
			t.Errorf("checkpoint %d: %+v, %v", i+1, c, err)
		}
	}
	if _, err := auditlog.Open(after, vkeys[1:]...); err == nil {
		t.Error("a checkpoint signed after the rotation opens with the old key alone")
	}
}
