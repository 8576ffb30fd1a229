package tenants_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

var atSeed = flag.Uint64("at.seed", 0, "seed of TestClientsAtEqualsReadModel's workload (0: a new one)")

// pitWorld is a store, the read model a projector keeps from it, and the
// services that write to the store, with what the test knows of the
// clients it made.
type pitWorld struct {
	*env
	rm        projections.Backend
	projector *projections.Projector
	rng       *rand.Rand
	slugs     []string
	ids       map[string][]string // tenant → every client id ever made, in order
	codes     int
	failed    map[string]int // command → refused attempts
	done      map[string]int // command → applied ones
	latest    pitSnapshot    // the last snapshot
}

// pitSnapshot is the read model right after one command, at the store's
// head: every live client as the read model returns it, and for each
// client deleted by then what its past state must be (the read model
// keeps only a tombstone of it).
type pitSnapshot struct {
	pos      eventstore.Position
	recorded time.Time // when the event at pos was recorded
	command  string
	live     map[string]map[string]projections.ClientView // tenant → id → view
	deleted  map[string]map[string]projections.ClientView // tenant → id → expected past state
}

// TestClientsAtEqualsReadModel runs a long seeded random workload of
// client commands (registrations of every type, updates, secrets added,
// rotated and revoked, deactivations, activations, deletions, clones and
// imports of new and existing clients) over two tenants, brings the read
// model up to the store's head after every command and snapshots it.
// Then the past state that At folds from the store at each snapshot's
// position (and at the time its last event was recorded: one command
// runs after the other, so that is the same history) must be, for every
// client:
//   - the read model's view, field by field, when the read model held
//     the client then;
//   - when the read model held a tombstone of it (deleted by then), the
//     client as the read model last showed it, made inactive and marked
//     deleted, at the tombstone's version and updated when it was deleted;
//   - not found when the read model held neither (not yet created), and
//     in the other tenant always.
//
// AllAt must list at a sample of positions and times exactly the
// clients of the snapshot, live and deleted, as At shows each. The workload's seed is
// logged; -at.seed replays one.
func TestClientsAtEqualsReadModel(t *testing.T) {
	t.Parallel()
	seed := *atSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("workload seed %d (replay with -at.seed=%d)", seed, seed)
	for _, b := range []struct{ name, dbURL string }{{"sqlite", ""}, {"postgres", dbURL}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("workload seed %d: replay with -run 'TestClientsAtEqualsReadModel/%s' -at.seed=%d", seed, b.name, seed)
				}
			})
			store, rm := testnode.Open(t, testnode.Config(t, b.dbURL))
			w := &pitWorld{
				env: newEnv(t, store), rm: rm,
				rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
				ids:    map[string][]string{},
				failed: map[string]int{}, done: map[string]int{},
			}
			// The client commands check scopes against the read model's
			// catalogues and seal secrets, as serve's do. They snapshot
			// every third version, so that At starts from a snapshot for
			// most clients and instants; the streams here are shorter than
			// the default interval.
			var err error
			if w.clients, err = tenants.NewClients(w.store, tenants.WithClock(w.clock.Now), tenants.WithEventIDs(counter("cev-")),
				tenants.WithClientIDs(counter("c-")), tenants.WithCatalogues(rm), tenants.WithSecretSealer(w.keys),
				tenants.WithSnapshotEvery(3)); err != nil {
				t.Fatal(err)
			}
			if w.projector, err = projections.NewProjector(rm, store, nil); err != nil {
				t.Fatal(err)
			}
			snaps := w.run(t, 300, 30)
			t.Logf("%d commands applied %v, refused %v; %d snapshots up to %s", sum(w.done), w.done, w.failed, len(snaps), snaps[len(snaps)-1].pos)
			if sum(w.done) < 200 || w.done["delete"] == 0 || w.done["clone"] == 0 || w.done["import"] == 0 || w.done["rotate"] == 0 {
				t.Fatalf("the workload is too thin to prove anything: %v", w.done)
			}
			snapshotted := 0
			for tenant, ids := range w.ids {
				for _, id := range ids {
					_, ok, err := store.(eventstore.Snapshots).LatestSnapshot(t.Context(), tenants.ClientStream(tenant, id), func(eventstore.Snapshot) bool { return true })
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						snapshotted++
					}
				}
			}
			if snapshotted < 5 {
				t.Fatalf("only %d clients have a snapshot: At hardly starts from one", snapshotted)
			}
			w.checkAt(t, snaps)
			w.checkAllAt(t, snaps)
		})
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// run creates the two tenants, then runs that many random commands,
// registering up to maxClients clients in all, and snapshots the read
// model after each.
func (w *pitWorld) run(t *testing.T, commands, maxClients int) []pitSnapshot {
	t.Helper()
	var snaps []pitSnapshot
	gone := map[string]projections.ClientView{} // id → expected past state once deleted
	for _, slug := range []string{"acme", "beta"} {
		w.clock.Advance(time.Second)
		created := w.createTenant(t, slug)
		w.slugs = append(w.slugs, slug)
		w.ids[slug] = append(w.ids[slug], created.AdminClient.ClientID)
		snaps = w.snapshot(t, snaps, "create tenant "+slug, gone)
	}
	for k := range commands {
		w.clock.Advance(time.Duration(1+w.rng.IntN(90)) * time.Second)
		// Clients are made all along the workload, up to maxClients.
		room := w.total() < min(maxClients, 8+(maxClients-8)*(k+1)/commands)
		// Near the end, a kind of command that never applied yet.
		var force string
		if k >= commands-40 {
			for _, cmd := range []string{"register", "rotate", "delete", "clone", "import"} {
				if w.done[cmd] == 0 {
					force = cmd
					break
				}
			}
		}
		what := w.step(t, room, force)
		snaps = w.snapshot(t, snaps, what, gone)
	}
	return snaps
}

// live is the latest snapshot's live clients of tenant, by id, but the
// platform-managed admin client, which no command here changes.
func live(s pitSnapshot, tenant string) []projections.ClientView {
	var out []projections.ClientView
	for _, id := range slices.Sorted(maps.Keys(s.live[tenant])) {
		if v := s.live[tenant][id]; !strings.HasPrefix(v.Settings.Code, client.PlatformCodePrefix) {
			out = append(out, v)
		}
	}
	return out
}

// step runs one random command, or the command force, and returns what
// it was; it makes a client only when there is room, or fewer than three
// live in the tenant. The services may refuse the command (a patch the
// domain rejects, a last secret), which changes nothing and is counted.
func (w *pitWorld) step(t *testing.T, room bool, force string) string {
	t.Helper()
	ctx := t.Context()
	tenant := w.slugs[w.rng.IntN(len(w.slugs))]
	clients := live(w.latest, tenant)
	var cmd string
	switch r := w.rng.IntN(100); {
	case len(clients) < 3 || r < 5 && room:
		cmd = "register"
	case force != "":
		cmd = force
	case r < 30:
		cmd = "update"
	case r < 40:
		cmd = "add secret"
	case r < 48:
		cmd = "rotate"
	case r < 55:
		cmd = "revoke"
	case r < 63:
		cmd = "deactivate"
	case r < 71:
		cmd = "activate"
	case r < 76:
		cmd = "delete"
	case r < 86 && room:
		cmd = "clone"
	case room:
		cmd = "import"
	default:
		cmd = "update"
	}
	if cmd == "revoke" {
		// Mostly a client with a secret to spare: a last one stays.
		spare := slices.DeleteFunc(slices.Clone(clients), func(v projections.ClientView) bool { return len(v.Secrets) < 2 })
		if len(spare) > 0 && w.rng.IntN(4) > 0 {
			clients = spare
		}
	}
	var pick projections.ClientView
	if len(clients) > 0 {
		pick = clients[w.rng.IntN(len(clients))]
	}
	id := pick.ClientID
	var err error
	var what string
	switch cmd {
	case "register":
		var res tenants.ClientResult
		s := w.newSettings(tenant)
		what = fmt.Sprintf("register %s %s in %s", s.Type, s.Code, tenant)
		if res, err = w.clients.Register(ctx, req, tenant, s); err == nil {
			w.ids[tenant] = append(w.ids[tenant], res.Client.ClientID)
		}
	case "update":
		p := w.patch(pick)
		what = fmt.Sprintf("update %s/%s with %s", tenant, id, describePatch(p))
		_, err = w.clients.Update(ctx, req, tenant, id, p, 0)
	case "add secret":
		var exp *time.Time
		if w.rng.IntN(2) == 0 {
			exp = ptr(w.clock.Now().Add(time.Duration(1+w.rng.IntN(48)) * time.Hour))
		}
		what = fmt.Sprintf("add a secret to %s/%s", tenant, id)
		_, err = w.clients.AddSecret(ctx, req, tenant, id, fmt.Sprintf("key %d", w.rng.IntN(100)), exp)
	case "rotate":
		overlap := []time.Duration{0, time.Minute, time.Hour}[w.rng.IntN(3)]
		what = fmt.Sprintf("rotate the secret of %s/%s, overlap %s", tenant, id, overlap)
		_, err = w.clients.RotateSecret(ctx, req, tenant, id, overlap)
	case "revoke":
		secret := "no-such-secret"
		if len(pick.Secrets) > 0 {
			secret = pick.Secrets[w.rng.IntN(len(pick.Secrets))].ID
		}
		what = fmt.Sprintf("revoke secret %s of %s/%s", secret, tenant, id)
		_, err = w.clients.RevokeSecret(ctx, req, tenant, id, secret)
	case "deactivate":
		reason := []string{"", "paused", "compromised"}[w.rng.IntN(3)]
		what = fmt.Sprintf("deactivate %s/%s (%q)", tenant, id, reason)
		_, err = w.clients.Deactivate(ctx, req, tenant, id, reason)
	case "activate":
		what = fmt.Sprintf("activate %s/%s", tenant, id)
		_, err = w.clients.Activate(ctx, req, tenant, id)
	case "delete":
		what = fmt.Sprintf("delete %s/%s", tenant, id)
		_, err = w.clients.Delete(ctx, req, tenant, id)
	case "clone":
		var res tenants.ClientResult
		code := w.newCode(tenant)
		what = fmt.Sprintf("clone %s/%s as %s", tenant, id, code)
		if res, err = w.clients.Clone(ctx, req, tenant, id, "Clone of "+pick.Settings.ClientName, code); err == nil {
			w.ids[tenant] = append(w.ids[tenant], res.Client.ClientID)
		}
	case "import":
		batch := w.importBatch(tenant, clients)
		what = fmt.Sprintf("import %d clients into %s", len(batch.Clients), tenant)
		var rep tenants.ImportReport
		rep, err = w.clients.Import(ctx, req, tenant, batch)
		for _, r := range rep.Clients {
			if r.Action == tenants.ActionCreate {
				w.ids[tenant] = append(w.ids[tenant], r.ClientID)
			}
		}
	}
	if err != nil {
		var ve *domain.ValidationError
		var de *domain.Error
		if !errors.As(err, &ve) && !errors.As(err, &de) && !errors.Is(err, domain.ErrValidation) {
			t.Fatalf("%s: %v", what, err)
		}
		w.failed[cmd]++
		return what + ": refused: " + err.Error()
	}
	w.done[cmd]++
	return what
}

// total is the number of clients made in every tenant.
func (w *pitWorld) total() int {
	n := 0
	for _, ids := range w.ids {
		n += len(ids)
	}
	return n
}

func (w *pitWorld) newCode(tenant string) string {
	w.codes++
	return fmt.Sprintf("urn:%s/c%03d", tenant, w.codes)
}

// newSettings are valid settings of a random type.
func (w *pitWorld) newSettings(tenant string) client.Settings {
	code := w.newCode(tenant)
	switch w.rng.IntN(3) {
	case 0:
		return spa(code)
	case 1:
		return webApp(code)
	default:
		s := client.DefaultSettings(client.TypeM2M)
		s.ClientName, s.Code = "API "+code, code
		if w.rng.IntN(2) == 0 {
			s.APIScopes = []string{"read", "write"}
		}
		return s
	}
}

// patch changes a few random settings of v, most of them valid.
func (w *pitWorld) patch(v projections.ClientView) client.Patch {
	var p client.Patch
	n := w.rng.IntN(1000)
	for range 1 + w.rng.IntN(3) {
		switch w.rng.IntN(9) {
		case 0:
			p.ClientName = ptr(fmt.Sprintf("Client %d", n))
		case 1:
			p.Description = ptr([]string{"", "the shop", fmt.Sprintf("v%d", n)}[w.rng.IntN(3)])
		case 2:
			p.AccessTokenLifetime = ptr(300 + w.rng.IntN(7000))
		case 3:
			p.Metadata = ptr(map[string]string{"team": fmt.Sprintf("t%d", w.rng.IntN(4)), "n": fmt.Sprint(n)})
		case 4:
			p.LogoURI = ptr(fmt.Sprintf("https://cdn.example.com/logo-%d.png", n))
		case 5:
			if v.Settings.Type != client.TypeM2M {
				p.RedirectURIs = ptr([]string{fmt.Sprintf("https://app%d.example.com/callback", n)})
			}
		case 6:
			if v.Settings.Type != client.TypeM2M {
				p.DefaultScopes = ptr([][]string{{"openid"}, {"openid", "profile"}, {"openid", "profile", "email"}}[w.rng.IntN(3)])
			}
		case 7:
			// A confidential client turned public loses its secrets; a
			// public one turned confidential gets one.
			switch v.Settings.Type {
			case client.TypeConfidential:
				p.Type, p.TokenEndpointAuthMethod = ptr(client.TypePublic), ptr(client.AuthNone)
			case client.TypePublic:
				p.Type, p.TokenEndpointAuthMethod = ptr(client.TypeConfidential), ptr(client.AuthClientSecretBasic)
			}
		case 8:
			p.Properties = ptr(map[string]string{"tier": []string{"gold", "silver"}[w.rng.IntN(2)]})
		}
	}
	return p
}

// describePatch is p as JSON: the settings it changes.
func describePatch(p client.Patch) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// importBatch is a package of a few clients: one or two new ones and
// existing ones of tenant, renamed, some of them (de)activated.
func (w *pitWorld) importBatch(tenant string, existing []projections.ClientView) tenants.ImportBatch {
	b := tenants.ImportBatch{Format: tenants.PackageFormat}
	for range 1 + w.rng.IntN(2) {
		s := w.newSettings(tenant)
		b.Clients = append(b.Clients, tenants.ImportClient{SourceID: "src-" + s.Code, Settings: s, Active: w.rng.IntN(4) > 0})
	}
	for _, i := range w.rng.Perm(len(existing))[:min(len(existing), 1+w.rng.IntN(3))] {
		v := existing[i]
		s := v.Settings
		if w.rng.IntN(3) > 0 {
			s.ClientName = fmt.Sprintf("Imported %d", w.rng.IntN(1000))
		}
		active := v.Active
		if w.rng.IntN(3) == 0 {
			active = !active
		}
		b.Clients = append(b.Clients, tenants.ImportClient{SourceID: v.ClientID, Settings: s, Active: active})
	}
	return b
}

// snapshot brings the read model up to the store's head and records it,
// unless the head did not move since the last snapshot.
func (w *pitWorld) snapshot(t *testing.T, snaps []pitSnapshot, command string, gone map[string]projections.ClientView) []pitSnapshot {
	t.Helper()
	ctx := t.Context()
	head := w.head(t)
	if err := w.projector.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if len(snaps) > 0 && snaps[len(snaps)-1].pos == head {
		return snaps
	}
	var after eventstore.Position
	if len(snaps) > 0 {
		after = snaps[len(snaps)-1].pos
	}
	events, err := w.store.ReadAll(ctx, after, eventstore.MaxRead)
	if err != nil || len(events) == 0 || events[len(events)-1].Position != head {
		t.Fatalf("after %s: the events after %s end at %v (%v), not at the head %s", command, after, eventTypes(events), err, head)
	}
	s := pitSnapshot{pos: head, recorded: events[len(events)-1].RecordedAt, command: command, live: map[string]map[string]projections.ClientView{}, deleted: map[string]map[string]projections.ClientView{}}
	var all []string
	for _, slug := range w.slugs {
		s.live[slug] = map[string]projections.ClientView{}
		s.deleted[slug] = map[string]projections.ClientView{}
		all = append(all, w.ids[slug]...)
		for _, v := range walkAll(t, w.rm, slug) {
			s.live[slug][v.ClientID] = v
		}
	}
	// The tombstones, and the checkpoint, as the fold sees them.
	var stored []projections.ClientView
	err = w.rm.Update(ctx, projections.Name, func(ctx context.Context, cp eventstore.Position, load projections.Loader) (*projections.Changes, error) {
		if cp != head {
			return nil, fmt.Errorf("the read model is at %s after catching up to %s", cp, head)
		}
		var err error
		stored, err = load.Clients(ctx, all)
		return nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	prev := w.latest
	for _, v := range stored {
		_, isLive := s.live[v.Tenant][v.ClientID]
		if isLive == v.Deleted {
			t.Fatalf("after %s: client %s/%s is listed %v and a tombstone %v", command, v.Tenant, v.ClientID, isLive, v.Deleted)
		}
		if !v.Deleted {
			continue
		}
		want, ok := gone[v.ClientID]
		if !ok {
			// Deleted by this command: as the read model showed it
			// before, made inactive, at the deletion's version and time.
			last, was := prev.live[v.Tenant][v.ClientID]
			if !was || v.Version != last.Version+1 {
				t.Fatalf("after %s: tombstone of %s/%s at version %d, was live %v at version %d", command, v.Tenant, v.ClientID, v.Version, was, last.Version)
			}
			want = last
			want.Active, want.Deleted, want.Version, want.UpdatedAt = false, true, v.Version, w.clock.Now()
			gone[v.ClientID] = want
		}
		s.deleted[v.Tenant][v.ClientID] = want
	}
	for _, slug := range w.slugs {
		if n := len(s.live[slug]) + len(s.deleted[slug]); n != len(w.ids[slug]) {
			t.Fatalf("after %s: the read model knows %d clients of %s, the test made %d", command, n, slug, len(w.ids[slug]))
		}
	}
	w.latest = s
	return append(snaps, s)
}

// walkAll lists every live client of tenant from the read model.
func walkAll(t *testing.T, rm projections.ReadModel, tenant string) []projections.ClientView {
	t.Helper()
	var all []projections.ClientView
	f := projections.ClientFilter{Limit: projections.MaxPage}
	for {
		page, next, err := rm.Clients(t.Context(), tenant, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		f.After = next
	}
}

// want is what At must answer for client id of tenant at s: the view
// and true, or false for not found.
func (s pitSnapshot) want(tenant, id string) (projections.ClientView, bool) {
	if v, ok := s.live[tenant][id]; ok {
		return v, true
	}
	v, ok := s.deleted[tenant][id]
	return v, ok
}

// checkAt compares At with the snapshots: every client at every
// position where its state changed and the one before, three clients at
// every position, and every client at every eighth, where it must also
// be unknown to the other tenant.
func (w *pitWorld) checkAt(t *testing.T, snaps []pitSnapshot) {
	t.Helper()
	ctx := t.Context()
	type key struct{ tenant, id string }
	var every []key
	for _, slug := range w.slugs {
		for _, id := range w.ids[slug] {
			every = append(every, key{slug, id})
		}
	}
	full := map[key]bool{}
	for _, i := range w.rng.Perm(len(every))[:3] {
		full[every[i]] = true
	}
	var checks []func()
	for i, s := range snaps {
		for _, k := range every {
			v, ok := s.want(k.tenant, k.id)
			changed := i == 0 || i == len(snaps)-1
			if !changed {
				before, was := snaps[i-1].want(k.tenant, k.id)
				after, will := snaps[i+1].want(k.tenant, k.id)
				// Every change moves the version; a deletion too.
				changed = was != ok || will != ok || before.Version != v.Version || after.Version != v.Version
			}
			if !changed && !full[k] && i%8 != 0 {
				continue
			}
			at := tenants.AtPosition(s.pos)
			instants := []tenants.Instant{at}
			if changed || i%8 == 0 {
				// One command after the other: the events recorded by
				// the time of the head's are those up to it.
				instants = append(instants, tenants.AtTime(s.recorded))
			}
			for _, in := range instants {
				checks = append(checks, func() {
					got, err := w.clients.At(ctx, k.tenant, k.id, in)
					switch {
					case !ok:
						if !errors.Is(err, domain.ErrNotFound) {
							t.Errorf("at %s (%s, after %s): %s/%s is not in the read model; At = %+v, %v; want not found", in, s.pos, s.command, k.tenant, k.id, got, err)
						}
					case err != nil:
						t.Errorf("at %s (%s, after %s): At(%s/%s): %v", in, s.pos, s.command, k.tenant, k.id, err)
					default:
						if diff := cmp.Diff(v, got); diff != "" {
							t.Errorf("at %s (%s, after %s): %s/%s (-read model +At):\n%s", in, s.pos, s.command, k.tenant, k.id, diff)
						}
					}
				})
			}
			if i%8 == 0 {
				other := w.slugs[0]
				if other == k.tenant {
					other = w.slugs[1]
				}
				checks = append(checks, func() {
					if got, err := w.clients.At(ctx, other, k.id, at); !errors.Is(err, domain.ErrNotFound) {
						t.Errorf("at %s: %s/%s seen in %s: %+v, %v", s.pos, k.tenant, k.id, other, got, err)
					}
				})
			}
		}
	}
	runAll(checks)
	t.Logf("%d clients at %d positions: %d reads of a past client", len(every), len(snaps), len(checks))
}

// runAll runs fs on a few goroutines.
func runAll(fs []func()) {
	jobs := make(chan func())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for f := range jobs {
				f()
			}
		})
	}
	for _, f := range fs {
		jobs <- f
	}
	close(jobs)
	wg.Wait()
}

// checkAllAt lists every client at a sample of positions, the last one
// included, in pages of random sizes; before a tenant's creation, AllAt
// does not find it.
func (w *pitWorld) checkAllAt(t *testing.T, snaps []pitSnapshot) {
	t.Helper()
	ctx := t.Context()
	var checks []func()
	for i, s := range snaps {
		if i%12 != 0 && i != len(snaps)-1 {
			continue
		}
		for _, at := range []tenants.Instant{tenants.AtPosition(s.pos), tenants.AtTime(s.recorded)} {
			for _, slug := range w.slugs {
				if _, ok := s.live[slug]; !ok {
					checks = append(checks, func() {
						if _, _, err := w.clients.AllAt(ctx, slug, at, "", 10); !errors.Is(err, domain.ErrNotFound) {
							t.Errorf("at %s, before tenant %s: AllAt: %v; want not found", at, slug, err)
						}
					})
					continue
				}
				var want []projections.ClientView
				for _, m := range []map[string]projections.ClientView{s.live[slug], s.deleted[slug]} {
					want = append(want, slices.Collect(maps.Values(m))...)
				}
				slices.SortFunc(want, func(a, b projections.ClientView) int { return strings.Compare(a.ClientID, b.ClientID) })
				limit := 2 + w.rng.IntN(8)
				checks = append(checks, func() {
					var got []projections.ClientView
					after := ""
					for pages := 0; ; pages++ {
						if pages > len(want)+1 {
							t.Errorf("at %s: the pages of %s do not end", at, slug)
							return
						}
						page, next, err := w.clients.AllAt(ctx, slug, at, after, limit)
						if err != nil {
							t.Errorf("AllAt(%s, %s, %q, %d): %v", slug, at, after, limit, err)
							return
						}
						got = append(got, page...)
						if next == "" {
							break
						}
						after = next
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("at %s (%s, after %s): clients of %s by %d (-read model +AllAt):\n%s", at, s.pos, s.command, slug, limit, diff)
					}
				})
			}
		}
	}
	runAll(checks)
}
