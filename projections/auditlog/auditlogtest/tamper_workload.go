package auditlogtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	domclient "github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
)

// The two tenants of the workload: the tampering is done to Acme's
// history; Globex's events are interleaved with Acme's and must verify
// whatever is done to Acme's.
const (
	Acme   = "acme"
	Globex = "globex"
)

// TestKeys are audit keys generated in the test, one a tenant, standing
// for the tenants' own: they sign checkpoints as a node does, and their
// verifier keys are what an auditor holds.
type TestKeys struct {
	signers   map[string]note.Signer
	verifiers map[string]string
}

// NewTestKeys generates a key for each tenant, named as the tenant's log
// is: origin(tenant).
func NewTestKeys(t testing.TB, origin func(tenant string) string, tenantSlugs ...string) *TestKeys {
	t.Helper()
	k := &TestKeys{signers: map[string]note.Signer{}, verifiers: map[string]string{}}
	for _, slug := range tenantSlugs {
		skey, vkey, err := note.GenerateKey(rand.Reader, origin(slug))
		if err != nil {
			t.Fatal(err)
		}
		s, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		k.signers[slug], k.verifiers[slug] = s, vkey
	}
	return k
}

// AuditSigner returns the tenant's signer.
func (k *TestKeys) AuditSigner(_ context.Context, tenant string) (note.Signer, error) {
	s, ok := k.signers[tenant]
	if !ok {
		return nil, fmt.Errorf("auditlogtest: no audit key for tenant %q", tenant)
	}
	return s, nil
}

// Verifier returns the tenant's verifier key, in the note format.
func (k *TestKeys) Verifier(tenant string) string { return k.verifiers[tenant] }

// Workload writes a realistic history for two tenants into store, through
// the same command services the admin API calls: Acme and Globex are
// created (each with its admin client), Acme's clients are registered,
// patched, their secrets added, rotated and revoked, one deactivated,
// one deleted, the tenant renamed and its signing key rotated, with
// Globex's own commands interleaved; actors, reasons and correlation ids
// vary. Between its two halves it calls mid, where a test signs the
// checkpoint an auditor saves, with the position of the last event
// written so far; it returns that of the last event.
func Workload(t testing.TB, s eventstore.Store, mid func(last eventstore.Position)) eventstore.Position {
	t.Helper()
	ctx := t.Context()
	store := &tracked{Store: s}
	keys, err := signing.NewKeyring(masterKey())
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tenants.NewTenants(store, keys)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := tenants.NewClients(store, tenants.WithSecretSealer(keys))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	req := func(actor, reason string) tenants.Request {
		n++
		return tenants.Request{Actor: actor, CorrelationID: fmt.Sprintf("req-%04d", n), Reason: reason}
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("workload: %s: %v", what, err)
		}
	}
	register := func(tenant, actor, name, code string, typ domclient.Type) string {
		t.Helper()
		s := domclient.DefaultSettings(typ)
		s.ClientName, s.Code = name, "urn:"+tenant+"/"+code
		s.DefaultScopes = []string{scope.OpenID}
		if typ != domclient.TypeM2M {
			s.RedirectURIs = []string{"https://app." + tenant + ".example/cb"}
		}
		res, err := cs.Register(ctx, req(actor, "onboarding "+name), tenant, s)
		must("register "+name, err)
		return res.Client.ClientID
	}

	acme, err := ts.Create(ctx, req("root", "new customer"), Acme, "Acme")
	must("create acme", err)
	globex, err := ts.Create(ctx, req("root", "new customer"), Globex, "Globex")
	must("create globex", err)
	acmeAdmin := "client:" + acme.AdminClient.ClientID
	globexAdmin := "client:" + globex.AdminClient.ClientID

	orders := register(Acme, acmeAdmin, "Orders API", "orders", domclient.TypeConfidential)
	portal := register(Globex, globexAdmin, "Portal", "portal", domclient.TypeConfidential)
	spa := register(Acme, acmeAdmin, "Shop SPA", "spa", domclient.TypePublic)
	batch := register(Acme, "user:alice@"+acmeAdmin, "Nightly batch", "batch", domclient.TypeM2M)

	name, desc := "Orders API v2", "Takes orders"
	_, err = cs.Update(ctx, req(acmeAdmin, "rename"), Acme, orders, domclient.Patch{ClientName: &name, Description: &desc}, 0)
	must("update orders", err)
	_, err = cs.RotateSecret(ctx, req(acmeAdmin, "quarterly rotation"), Acme, orders, time.Hour)
	must("rotate orders' secret", err)
	added, err := cs.AddSecret(ctx, req("user:bob@"+acmeAdmin, "second deployment"), Acme, batch, "eu-west", nil)
	must("add batch's secret", err)
	_, err = cs.RotateSecret(ctx, req(globexAdmin, ""), Globex, portal, 0)
	must("rotate portal's secret", err)

	mid(store.last)

	_, err = ts.Update(ctx, req("root", "rebrand"), Acme, tenants.TenantPatch{Name: ptr("Acme Corp")})
	must("rename acme", err)
	portalName := "Globex Portal"
	_, err = cs.Update(ctx, req(globexAdmin, "rename"), Globex, portal, domclient.Patch{ClientName: &portalName}, 0)
	must("update portal", err)
	_, err = cs.RevokeSecret(ctx, req(acmeAdmin, "leaked in a log"), Acme, batch, added.Secret.ID)
	must("revoke batch's secret", err)
	_, err = ts.RotateKey(ctx, req("root", "key rotation"), Acme, "", time.Hour)
	must("rotate acme's key", err)
	_, err = cs.Deactivate(ctx, req(acmeAdmin, ""), Acme, spa, "replaced by the new shop")
	must("deactivate spa", err)
	_, err = cs.Delete(ctx, req(acmeAdmin, "decommissioned"), Acme, spa)
	must("delete spa", err)
	_, err = cs.AddSecret(ctx, req(globexAdmin, "ci"), Globex, portal, "ci", nil)
	must("add portal's secret", err)
	desc = "Takes and tracks orders"
	_, err = cs.Update(ctx, req("user:carol@"+acmeAdmin, "docs"), Acme, orders, domclient.Patch{Description: &desc}, 0)
	must("update orders again", err)
	_, err = cs.Deactivate(ctx, req(acmeAdmin, ""), Acme, batch, "paused")
	must("deactivate batch", err)
	_, err = cs.Activate(ctx, req(acmeAdmin, "resumed"), Acme, batch)
	must("activate batch", err)
	_, err = cs.RotateSecret(ctx, req(acmeAdmin, "rotation"), Acme, batch, 0)
	must("rotate batch's secret", err)
	return store.last
}

// tracked is a store that remembers the position of the last event
// appended.
type tracked struct {
	eventstore.Store
	last eventstore.Position
}

func (s *tracked) Append(ctx context.Context, stream eventstore.StreamID, expected int64, events []eventstore.Event, claims ...eventstore.Claim) (eventstore.Position, error) {
	pos, err := s.Store.Append(ctx, stream, expected, events, claims...)
	if err == nil && s.last.Less(pos) {
		s.last = pos
	}
	return pos, err
}

func ptr[T any](v T) *T { return &v }

func masterKey() []byte {
	master := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(master)
	return master
}
