package auditlogtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

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

// Services are the command services the workload runs through, as the
// admin API does, over an event store, with a keyring of their own: the
// tenants' audit keys are theirs, and Tenants is the [auditlog.Keys]
// that signs their checkpoints.
type Services struct {
	Tenants *tenants.Tenants
	Clients *tenants.Clients
	store   *trackedStore
}

// NewServices returns the services over store.
func NewServices(t testing.TB, store eventstore.Store) *Services {
	t.Helper()
	keys, err := signing.NewKeyring(tamperMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	tracked := &trackedStore{Store: store}
	ts, err := tenants.NewTenants(tracked, keys)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := tenants.NewClients(tracked, tenants.WithSecretSealer(keys))
	if err != nil {
		t.Fatal(err)
	}
	return &Services{Tenants: ts, Clients: cs, store: tracked}
}

// Workload writes a realistic history for two tenants into store, through
// the same command services the admin API calls: Acme and Globex are
// created (each with its admin client), Acme's clients are registered,
// patched, their secrets added, rotated and revoked, one deactivated,
// one deleted, the tenant renamed, its signing key and its audit key
// rotated, with
// Globex's own commands interleaved; actors, reasons and correlation ids
// vary. Between its two halves it calls mid, where a test signs the
// checkpoint an auditor saves, with the position of the last event
// written so far; it returns that of the last event.
func (sv *Services) Workload(t testing.TB, mid func(last eventstore.Position)) eventstore.Position {
	t.Helper()
	ctx := t.Context()
	ts, cs, store := sv.Tenants, sv.Clients, sv.store
	var err error
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

	_, err = ts.Update(ctx, req("root", "rebrand"), Acme, tenants.TenantPatch{Name: tamperPtr("Acme Corp")})
	must("rename acme", err)
	portalName := "Globex Portal"
	_, err = cs.Update(ctx, req(globexAdmin, "rename"), Globex, portal, domclient.Patch{ClientName: &portalName}, 0)
	must("update portal", err)
	_, err = cs.RevokeSecret(ctx, req(acmeAdmin, "leaked in a log"), Acme, batch, added.Secret.ID)
	must("revoke batch's secret", err)
	_, err = ts.RotateKey(ctx, req("root", "key rotation"), Acme, "", time.Hour)
	must("rotate acme's key", err)
	_, err = ts.RotateAuditKey(ctx, req("root", "audit key rotation"), Acme)
	must("rotate acme's audit key", err)
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

// trackedStore is a store that remembers the position of the last event
// appended.
type trackedStore struct {
	eventstore.Store
	last eventstore.Position
}

func (s *trackedStore) Append(ctx context.Context, stream eventstore.StreamID, expected int64, events []eventstore.Event, claims ...eventstore.Claim) (eventstore.Position, error) {
	pos, err := s.Store.Append(ctx, stream, expected, events, claims...)
	if err == nil && s.last.Less(pos) {
		s.last = pos
	}
	return pos, err
}

func tamperPtr[T any](v T) *T { return &v }

func tamperMasterKey() []byte {
	master := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(master)
	return master
}
