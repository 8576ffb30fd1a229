package projectiontest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/projections"
)

// sortingWorld registers clients of tenant acme (and one of globex) whose
// names, creation and update times tie in groups, so that the orders'
// tie-breaks are what is tested, and applies them. It returns the
// clients as the aggregates have them.
func sortingWorld(t *testing.T, env Env) model {
	w := newWorld(t, env.Store)
	w.createTenant("acme", "Acme")
	w.createTenant("globex", "Globex")
	// Equal names in other cases, names beyond ASCII and names that
	// sort differently by case than by byte.
	names := []string{"Orders", "billing", "orders", "Zeta", "ORDERS", "Ärger", "alpha", "Billing", "Alpha", "zeta", "Übersicht", "shop"}
	types := []client.Type{client.TypePublic, client.TypeConfidential, client.TypeM2M}
	base := w.now
	for i := range 24 {
		// Ids out of insertion order and in mixed case, so that byte
		// order is what breaks the ties.
		id := fmt.Sprintf("%s-%02d", []string{"b", "A", "c", "a"}[i%4], (i*7)%24)
		// Three clients a second: their created_at is the same.
		w.now = base.Add(time.Duration(i/3) * time.Second)
		w.register("acme", id, settings(types[i%3], names[i%len(names)], fmt.Sprintf("urn:acme/app-%d", i)))
	}
	// Updates, some at the same instant, so that updated_at ties too
	// and differs from created_at's order.
	w.now = base.Add(time.Hour)
	for i := 23; i >= 0; i -= 5 {
		id := fmt.Sprintf("%s-%02d", []string{"b", "A", "c", "a"}[i%4], (i*7)%24)
		w.onClient("acme", id, func(c *client.Client, now time.Time) ([]domain.Event, error) { return c.Deactivate("", now) })
		w.now = w.now.Add(-time.Second) // the next update ticks to the same instant
		if i%2 == 0 {
			w.now = w.now.Add(time.Second)
		}
	}
	w.register("globex", "g-orders", settings(client.TypePublic, "Orders", "urn:globex/orders"))
	if err := projector(t, env.Backend, env.Store).Apply(t.Context(), w.events()); err != nil {
		t.Fatal(err)
	}
	return w.want()
}

// sorts are every order of a client list, ascending and descending, the
// default ("") included.
func sorts() []projections.ClientFilter {
	var out []projections.ClientFilter
	for _, s := range append([]projections.ClientSort{""}, projections.ClientSorts...) {
		out = append(out, projections.ClientFilter{Sort: s}, projections.ClientFilter{Sort: s, Desc: true})
	}
	return out
}

// expect is the client_ids of tenant's clients in all that keep selects,
// in f's order.
func expect(all model, tenant string, f projections.ClientFilter, keep func(projections.ClientView) bool) []string {
	var views []projections.ClientView
	for _, v := range all.Clients {
		if v.Tenant == tenant && keep(v) {
			views = append(views, v)
		}
	}
	slices.SortFunc(views, clientOrder(f))
	ids := make([]string, len(views))
	for i, v := range views {
		ids[i] = v.ClientID
	}
	return ids
}

// ids are the client_ids of views.
func ids(views []projections.ClientView) []string {
	out := make([]string, len(views))
	for i, v := range views {
		out[i] = v.ClientID
	}
	return out
}

func testClientSorting(t *testing.T, env Env) {
	all := sortingWorld(t, env)
	yes, no := true, false
	filters := []struct {
		name string
		f    projections.ClientFilter
		keep func(projections.ClientView) bool
	}{
		{"all", projections.ClientFilter{}, func(projections.ClientView) bool { return true }},
		{"m2m", projections.ClientFilter{Type: client.TypeM2M}, func(v projections.ClientView) bool { return v.Settings.Type == client.TypeM2M }},
		{"inactive", projections.ClientFilter{Active: &no}, func(v projections.ClientView) bool { return !v.Active }},
		{"search", projections.ClientFilter{Search: "ORDER"}, func(v projections.ClientView) bool {
			return strings.Contains(strings.ToLower(v.Settings.ClientName), "order")
		}},
		{"search and type and active", projections.ClientFilter{Search: "a", Type: client.TypeConfidential, Active: &yes}, func(v projections.ClientView) bool {
			return v.Settings.Type == client.TypeConfidential && v.Active &&
				(strings.Contains(strings.ToLower(v.Settings.ClientName), "a") || strings.Contains(v.Settings.Code, "a") ||
					strings.HasPrefix(v.ClientID, "a"))
		}},
	}
	for _, order := range sorts() {
		for _, c := range filters {
			f := c.f
			f.Sort, f.Desc = order.Sort, order.Desc
			want := expect(all, "acme", f, c.keep)
			if c.name == "all" && len(want) != 24 {
				t.Fatalf("the world has %d clients of acme, want 24", len(want))
			}
			for _, limit := range []int{1, 5, projections.MaxPage} {
				f.Limit = limit
				got := walk(t, env.Backend, "acme", f)
				for _, v := range got {
					if v.Tenant != "acme" {
						t.Fatalf("%s order lists %s of %s", clientOrderName(f), v.ClientID, v.Tenant)
					}
				}
				if !slices.Equal(ids(got), want) {
					t.Errorf("%s, %s order, pages of %d:\ngot  %v\nwant %v", c.name, clientOrderName(f), limit, ids(got), want)
				}
			}
		}
	}
}

func testClientSearchByID(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.createTenant("acme", "Acme")
	w.createTenant("globex", "Globex")
	for i, id := range []string{"svc-orders", "svc-billing", "orders-7f3a", "ORDERS-x", "svc_x", "web"} {
		w.register("acme", id, settings(client.TypePublic, fmt.Sprintf("App %d", i), fmt.Sprintf("urn:acme/app-%d", i)))
	}
	w.register("acme", "other", settings(client.TypePublic, "The svc- team", "urn:acme/team"))
	w.register("globex", "svc-globex", settings(client.TypePublic, "Globex", "urn:globex/svc"))
	if err := projector(t, env.Backend, env.Store).Apply(t.Context(), w.events()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, search string
		f            projections.ClientFilter
		want         []string
	}{
		{"exact client_id", "svc-orders", projections.ClientFilter{}, []string{"svc-orders"}},
		{"client_id prefix, or name", "svc-", projections.ClientFilter{}, []string{"other", "svc-billing", "svc-orders"}},
		{"client_id is case-sensitive", "ORDERS-", projections.ClientFilter{}, []string{"ORDERS-x"}},
		{"client_id prefix only, not within", "orders-", projections.ClientFilter{}, []string{"orders-7f3a"}},
		{"not within a client_id", "7f3a", projections.ClientFilter{}, nil},
		{"no wildcard", "svc_", projections.ClientFilter{}, []string{"svc_x"}},
		{"no wildcard, percent", "%", projections.ClientFilter{}, nil},
		{"with a sort", "svc", projections.ClientFilter{Sort: projections.SortName, Desc: true}, []string{"other", "svc_x", "svc-billing", "svc-orders"}},
		{"with a filter", "svc", projections.ClientFilter{Sort: projections.SortCreated, Active: new(bool)}, nil},
	} {
		f := c.f
		f.Search, f.Limit = c.search, 2
		got := ids(walk(t, env.Backend, "acme", f))
		want := c.want
		if f.Sort != "" {
			// The order of the expected clients is the contract's.
			want = expect(w.want(), "acme", f, func(v projections.ClientView) bool { return slices.Contains(c.want, v.ClientID) })
		} else {
			slices.Sort(want)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: search %q: got %v, want %v", c.name, c.search, got, want)
		}
	}
}

func testBadCursors(t *testing.T, env Env) {
	all := sortingWorld(t, env)
	ctx := t.Context()
	first := func(f projections.ClientFilter) string {
		t.Helper()
		f.Limit = 3
		_, next, err := env.Backend.Clients(ctx, "acme", f)
		if err != nil || next == "" {
			t.Fatalf("first page in %s order: cursor %q, %v", clientOrderName(f), next, err)
		}
		return next
	}
	byName := first(projections.ClientFilter{Sort: projections.SortName})
	byCreated := first(projections.ClientFilter{Sort: projections.SortCreated})
	byUpdatedDesc := first(projections.ClientFilter{Sort: projections.SortUpdated, Desc: true})
	for _, c := range []struct {
		name string
		f    projections.ClientFilter
	}{
		{"a client_id in name order", projections.ClientFilter{Sort: projections.SortName, After: "a-01"}},
		{"a client_id in created order", projections.ClientFilter{Sort: projections.SortCreated, After: "a-01"}},
		{"name cursor in created order", projections.ClientFilter{Sort: projections.SortCreated, After: byName}},
		{"name cursor in name order, descending", projections.ClientFilter{Sort: projections.SortName, Desc: true, After: byName}},
		{"created cursor in updated order", projections.ClientFilter{Sort: projections.SortUpdated, After: byCreated}},
		{"updated descending cursor in updated order", projections.ClientFilter{Sort: projections.SortUpdated, After: byUpdatedDesc}},
		{"name cursor in client_id order", projections.ClientFilter{After: byName}},
		{"created cursor in client_id order, descending", projections.ClientFilter{Sort: projections.SortClientID, Desc: true, After: byCreated}},
		{"not base64", projections.ClientFilter{Sort: projections.SortName, After: "name !!!"}},
		{"no client_id", projections.ClientFilter{Sort: projections.SortName, After: "name b3JkZXJz"}},
		{"time that is no time", projections.ClientFilter{Sort: projections.SortCreated, After: "created c29vbgphLTAx"}},
		{"unknown order", projections.ClientFilter{Sort: projections.SortName, After: "size YS0wMQ"}},
	} {
		c.f.Limit = 5
		_, _, err := env.Backend.Clients(ctx, "acme", c.f)
		if !errors.Is(err, projections.ErrBadCursor) || !errors.Is(err, projections.ErrInvalid) {
			t.Errorf("%s (%q): err = %v, want ErrBadCursor and ErrInvalid", c.name, c.f.After, err)
		}
		if _, _, err := env.Backend.ClientSummaries(ctx, "acme", c.f); !errors.Is(err, projections.ErrBadCursor) {
			t.Errorf("summaries, %s (%q): err = %v, want ErrBadCursor", c.name, c.f.After, err)
		}
	}
	if _, _, err := env.Backend.Clients(ctx, "acme", projections.ClientFilter{Sort: "size", Limit: 5}); !errors.Is(err, projections.ErrInvalid) {
		t.Errorf("sort by size: err = %v, want ErrInvalid", err)
	}
	// In client_id order any string is a place, as the admin API's after
	// has always been: a client that does not exist, or what no
	// client_id can be.
	for _, after := range []string{"a-1", "zzz", "not a client"} {
		f := projections.ClientFilter{After: after, Limit: projections.MaxPage}
		got, _, err := env.Backend.Clients(ctx, "acme", f)
		if err != nil {
			t.Errorf("client_id order after %q: %v", after, err)
			continue
		}
		want := expect(all, "acme", f, func(v projections.ClientView) bool { return v.ClientID > after })
		if !slices.Equal(ids(got), want) {
			t.Errorf("client_id order after %q: got %v, want %v", after, ids(got), want)
		}
	}
}

// testCursorOutlivesItsClient checks that pages chain on when the client
// a cursor names is deleted, and another renamed, between the pages: the
// cursor is a place in the order, not a client.
func testCursorOutlivesItsClient(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	orders := sorts()
	// One tenant for each order, with nine clients.
	slug := func(i int) string { return fmt.Sprintf("order-%d", i) }
	for i := range orders {
		w.createTenant(slug(i), "T")
		for j := range 9 {
			w.register(slug(i), fmt.Sprintf("o%d-c%d", i, j),
				settings(client.TypePublic, fmt.Sprintf("Client %d", (j*4)%9), fmt.Sprintf("urn:o%d/c%d", i, j)))
		}
	}
	p := projector(t, env.Backend, env.Store)
	if err := p.Apply(t.Context(), w.events()); err != nil {
		t.Fatal(err)
	}
	cursors := make([]string, len(orders))
	lasts := make([]projections.ClientView, len(orders))
	for i, f := range orders {
		f.Limit = 3
		page, next, err := env.Backend.Clients(t.Context(), slug(i), f)
		if err != nil || len(page) != 3 || next == "" {
			t.Fatalf("first page in %s order: %d clients, cursor %q, %v", clientOrderName(f), len(page), next, err)
		}
		cursors[i], lasts[i] = next, page[2]
		w.onClient(slug(i), page[2].ClientID, func(c *client.Client, now time.Time) ([]domain.Event, error) { return c.Delete(now) })
		w.onClient(slug(i), page[1].ClientID, func(c *client.Client, now time.Time) ([]domain.Event, error) {
			name := "Renamed"
			return c.Update(client.Patch{ClientName: &name}, scope.NewCatalogue(), now)
		})
	}
	if err := p.Apply(t.Context(), w.events()); err != nil {
		t.Fatal(err)
	}
	now := w.want()
	for i, f := range orders {
		f.Limit, f.After = 3, cursors[i]
		rest := walk(t, env.Backend, slug(i), f)
		// What follows is every client after the cursor in the order as
		// it is now, the renamed one wherever it went.
		cmp := clientOrder(f)
		want := expect(now, slug(i), f, func(v projections.ClientView) bool { return cmp(v, lasts[i]) > 0 })
		if !slices.Equal(ids(rest), want) {
			t.Errorf("%s order, after the cursor of deleted %s: got %v, want %v", clientOrderName(f), lasts[i].ClientID, ids(rest), want)
		}
	}
}
