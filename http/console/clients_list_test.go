package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// seedSettings are the settings of the i-th client a test seeds: every
// type in turn, a name from a short list (so that names tie), a code of
// its own.
func seedSettings(slug string, i int) client.Settings {
	types := []client.Type{client.TypePublic, client.TypeConfidential, client.TypeM2M}
	names := []string{"Orders", "billing", "Zeta shop", "alpha", "Ärger app", "orders", "Reports"}
	s := client.DefaultSettings(types[i%len(types)])
	s.ClientName = fmt.Sprintf("%s %d", names[i%len(names)], i%4)
	s.Code = fmt.Sprintf("urn:%s/app-%d", slug, i)
	if s.Type != client.TypeM2M {
		s.RedirectURIs = []string{"https://app.example.com/cb"}
	}
	return s
}

// seed registers n clients of tenant slug (see seedSettings) with
// workers goroutines, waits until the read model has them all, and
// returns them in no particular order.
func (h *harness) seed(t testing.TB, slug string, n, workers int) []projections.ClientView {
	t.Helper()
	ctx := context.Background()
	out := make([]projections.ClientView, n)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last eventstore.Position
		errs = make(chan error, workers)
	)
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				res, err := h.node.Admin.Clients.Register(ctx, rootRequest, slug, seedSettings(slug, i))
				if err != nil {
					errs <- fmt.Errorf("register client %d: %w", i, err)
					for range next {
					}
					return
				}
				out[i] = res.Client
				mu.Lock()
				if last.Less(res.Position) {
					last = res.Position
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if err := h.node.Projector.WaitFor(ctx, last); err != nil {
		t.Fatalf("wait for the seeded clients: %v", err)
	}
	return out
}

var (
	// rowLink is the link of a row of the clients list to its client.
	rowLink = regexp.MustCompile(`<td><a href="/t/[a-z0-9-]+/console/clients/([^"]+)">`)
	// pageLink is a pager's link (rel first or next).
	pageLink = regexp.MustCompile(`<a href="([^"]+)" rel="(first|next)">`)
	// headerLink is a sortable column's header: its aria-sort and link.
	headerLink = regexp.MustCompile(`<th scope="col"(?: class="opt")?(?: aria-sort="([a-z]+)")?><a href="([^"]+)">([^<]+)</a>`)
)

// listPage is a clients page as the test reads it.
type listPage struct {
	status int
	body   string
	ids    []string
	links  map[string]string // rel → path
	// headers are the sortable columns by label: their aria-sort and link.
	headers map[string][2]string
}

// list gets a clients page of tenant slug with query q.
func (a *agent) list(t testing.TB, slug string, q url.Values) listPage {
	t.Helper()
	path := "/t/" + slug + "/console/clients"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return a.listAt(t, path)
}

// listAt gets the clients page at path.
func (a *agent) listAt(t testing.TB, path string) listPage {
	t.Helper()
	status, body := a.get(t, path)
	p := listPage{status: status, body: body, links: map[string]string{}, headers: map[string][2]string{}}
	for _, m := range rowLink.FindAllStringSubmatch(body, -1) {
		p.ids = append(p.ids, m[1])
	}
	for _, m := range pageLink.FindAllStringSubmatch(body, -1) {
		p.links[m[2]] = html.UnescapeString(m[1])
	}
	for _, m := range headerLink.FindAllStringSubmatch(body, -1) {
		p.headers[m[3]] = [2]string{m[1], html.UnescapeString(m[2])}
	}
	return p
}

// want is the client_ids of the first page of slug's clients that f
// selects, as the read model lists them.
func (h *harness) want(t testing.TB, slug string, f projections.ClientFilter) []string {
	t.Helper()
	if f.Limit == 0 {
		f.Limit = 50
	}
	views, _, err := h.node.Admin.ReadModel.Clients(context.Background(), slug, f)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(views))
	for i, v := range views {
		ids[i] = v.ClientID
	}
	return ids
}

func TestClientList(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	seeded := h.seed(t, "acme", 61, 4)
	off, err := h.node.Admin.Clients.Deactivate(context.Background(), rootRequest, "acme", seeded[7].ClientID, "paused")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.node.Projector.WaitFor(context.Background(), off.Position); err != nil {
		t.Fatal(err)
	}
	a := h.signIn(t, "acme", "alice")
	// The tenant's own clients (its admin client, and the console's,
	// registered at the first sign-in) are listed too.
	all := h.want(t, "acme", projections.ClientFilter{Limit: projections.MaxPage})

	t.Run("sorts both ways", func(t *testing.T) {
		for _, c := range []struct {
			sort, order, header, aria string
			f                         projections.ClientFilter
		}{
			{"", "", "Name", "ascending", projections.ClientFilter{Sort: projections.SortName}},
			{"name", "desc", "Name", "descending", projections.ClientFilter{Sort: projections.SortName, Desc: true}},
			{"client_id", "", "client_id", "ascending", projections.ClientFilter{}},
			{"client_id", "desc", "client_id", "descending", projections.ClientFilter{Desc: true}},
			{"created", "", "Created", "descending", projections.ClientFilter{Sort: projections.SortCreated, Desc: true}},
			{"created", "asc", "Created", "ascending", projections.ClientFilter{Sort: projections.SortCreated}},
			{"updated", "", "Last changed", "descending", projections.ClientFilter{Sort: projections.SortUpdated, Desc: true}},
		} {
			q := url.Values{}
			if c.sort != "" {
				q.Set("sort", c.sort)
			}
			if c.order != "" {
				q.Set("order", c.order)
			}
			p := a.list(t, "acme", q)
			if p.status != http.StatusOK {
				t.Fatalf("%v: %d\n%s", q, p.status, excerpt(p.body))
			}
			if want := h.want(t, "acme", c.f); !slices.Equal(p.ids, want) {
				t.Errorf("%v: rows\n%v\nwant\n%v", q, p.ids, want)
			}
			for label, hd := range p.headers {
				if want := map[bool]string{true: c.aria}[label == c.header]; hd[0] != want {
					t.Errorf("%v: header %s has aria-sort %q, want %q", q, label, hd[0], want)
				}
			}
			if len(p.headers) != 4 {
				t.Errorf("%v: %d sortable headers, want 4", q, len(p.headers))
			}
			// The sorted column's header reverses the order.
			if u, _ := url.Parse(p.headers[c.header][1]); u == nil || u.Query().Get("order") == map[string]string{"ascending": "asc", "descending": "desc"}[c.aria] {
				t.Errorf("%v: the header of the sorted column links to %q", q, p.headers[c.header][1])
			}
		}
		// By last change, the client deactivated after the seeding comes
		// before every other seeded client.
		p := a.list(t, "acme", url.Values{"sort": {"updated"}})
		for _, id := range p.ids {
			if id == seeded[7].ClientID {
				break
			}
			if slices.ContainsFunc(seeded, func(v projections.ClientView) bool { return v.ClientID == id }) {
				t.Fatalf("by last change, seeded client %s comes before the one deactivated after it: %v", id, p.ids)
			}
		}
	})

	t.Run("pages chain", func(t *testing.T) {
		for _, q := range []url.Values{{}, {"sort": {"name"}, "order": {"desc"}}, {"sort": {"created"}}, {"sort": {"client_id"}}} {
			var got []string
			p := a.list(t, "acme", q)
			for pages := 1; ; pages++ {
				if p.status != http.StatusOK {
					t.Fatalf("%v, page %d: %d\n%s", q, pages, p.status, excerpt(p.body))
				}
				got = append(got, p.ids...)
				if pages > 1 {
					if p.links["first"] == "" {
						t.Errorf("%v, page %d has no first page link", q, pages)
					}
					mustContain(t, p.body, "on this page")
				} else if _, ok := p.links["first"]; ok {
					t.Errorf("%v: the first page links to the first page", q)
				}
				next := p.links["next"]
				if next == "" {
					break
				}
				if len(p.ids) != 50 {
					t.Fatalf("%v, page %d: %d rows and a next page", q, pages, len(p.ids))
				}
				p = a.listAt(t, next)
			}
			sorted := slices.Clone(got)
			slices.Sort(sorted)
			if !slices.Equal(sorted, all) {
				t.Errorf("%v: the pages list %d clients, want each of %d once", q, len(got), len(all))
			}
			mustContain(t, a.listAt(t, p.links["first"]).body, "50 clients on the first page")
		}
	})

	t.Run("search by client_id, name or code", func(t *testing.T) {
		target := seeded[12]
		for _, c := range []struct {
			name string
			q    url.Values
			keep func(projections.ClientView) bool
		}{
			{"client_id", url.Values{"q": {target.ClientID}}, func(v projections.ClientView) bool { return v.ClientID == target.ClientID }},
			{"client_id prefix", url.Values{"q": {target.ClientID[:13]}}, func(v projections.ClientView) bool { return strings.HasPrefix(v.ClientID, target.ClientID[:13]) }},
			{"name, any case", url.Values{"q": {"ZETA SHOP 2"}}, func(v projections.ClientView) bool { return v.Settings.ClientName == "Zeta shop 2" }},
			{"code", url.Values{"q": {"urn:acme/app-5"}}, func(v projections.ClientView) bool { return strings.HasPrefix(v.Settings.Code, "urn:acme/app-5") }},
		} {
			p := a.list(t, "acme", c.q)
			var want []string
			for _, v := range seeded {
				if c.keep(v) {
					want = append(want, v.ClientID)
				}
			}
			got := slices.Clone(p.ids)
			slices.Sort(got)
			slices.Sort(want)
			if p.status != http.StatusOK || len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("%s: %d, rows %v, want %v", c.name, p.status, got, want)
			}
			mustContain(t, p.body, `value="`+html.EscapeString(c.q.Get("q"))+`"`, "Clear the filters")
		}
	})

	t.Run("filters with a sort", func(t *testing.T) {
		no := false
		q := url.Values{"type": {"confidential"}, "active": {"false"}, "sort": {"name"}}
		p := a.list(t, "acme", q)
		want := h.want(t, "acme", projections.ClientFilter{Type: client.TypeConfidential, Active: &no, Sort: projections.SortName})
		if p.status != http.StatusOK || len(want) != 1 || !slices.Equal(p.ids, want) {
			t.Fatalf("%v: %d, rows %v, want %v", q, p.status, p.ids, want)
		}
		mustContain(t, p.body, "1 client on the first page")
		// The headers keep the filters.
		for label, hd := range p.headers {
			u, err := url.Parse(hd[1])
			if err != nil || u.Query().Get("type") != "confidential" || u.Query().Get("active") != "false" || u.Query().Has("after") {
				t.Errorf("header %s links to %q, which drops the filters", label, hd[1])
			}
		}
		q = url.Values{"type": {"m2m"}, "q": {"Orders"}, "sort": {"created"}, "order": {"asc"}}
		p = a.list(t, "acme", q)
		want = h.want(t, "acme", projections.ClientFilter{Type: client.TypeM2M, Search: "Orders", Sort: projections.SortCreated})
		if p.status != http.StatusOK || len(want) == 0 || !slices.Equal(p.ids, want) {
			t.Fatalf("%v: %d, rows %v, want %v", q, p.status, p.ids, want)
		}
		mustContain(t, p.body, `<option value="m2m" selected>`, `<option value="created" selected>`, `<option value="asc" selected>`)
	})

	t.Run("empty", func(t *testing.T) {
		p := a.list(t, "acme", url.Values{"q": {"no such client"}})
		if p.status != http.StatusOK || len(p.ids) != 0 {
			t.Fatalf("%d, rows %v", p.status, p.ids)
		}
		mustContain(t, p.body, `id="empty"`, "No client matches", "Clear the filters")
	})

	t.Run("bad parameters", func(t *testing.T) {
		byName := a.list(t, "acme", url.Values{"sort": {"name"}}).links["next"]
		u, err := url.Parse(byName)
		if err != nil || byName == "" {
			t.Fatalf("no next page by name: %q", byName)
		}
		nameCursor := u.Query().Get("after")
		for _, q := range []url.Values{
			{"sort": {"size"}},
			{"order": {"up"}},
			{"type": {"robot"}},
			{"active": {"yes"}},
			{"page": {"2"}},
			{"sort": {"name"}, "after": {seeded[0].ClientID}},
			{"sort": {"created"}, "after": {nameCursor}},
			{"sort": {"name"}, "order": {"desc"}, "after": {nameCursor}},
			{"sort": {"client_id"}, "after": {nameCursor}},
			{"sort": {"name"}, "after": {"name !!"}},
		} {
			if p := a.list(t, "acme", q); p.status != http.StatusBadRequest {
				t.Errorf("%v: %d, want 400", q, p.status)
			}
		}
	})

	t.Run("read-only", func(t *testing.T) {
		bob := h.signIn(t, "acme", "bob", "clavis:clients:read")
		p := bob.list(t, "acme", nil)
		if p.status != http.StatusOK || len(p.ids) != 50 {
			t.Fatalf("%d, %d rows", p.status, len(p.ids))
		}
		if strings.Contains(p.body, "New client") || strings.Contains(p.body, "clients/new") {
			t.Error("a read-only person is offered a new client")
		}
		if !strings.Contains(a.list(t, "acme", nil).body, "New client") {
			t.Error("a person who may write is not offered a new client")
		}
	})
}

// TestClientListEscapes checks that names render as text.
func TestClientListEscapes(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	s := seedSettings("acme", 0)
	s.ClientName = `<script>alert(1)</script>`
	res, err := h.node.Admin.Clients.Register(context.Background(), tenants.Request{Actor: "root"}, "acme", s)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.node.Projector.WaitFor(context.Background(), res.Position); err != nil {
		t.Fatal(err)
	}
	p := h.signIn(t, "acme", "alice").list(t, "acme", url.Values{"q": {"<script>"}})
	if p.status != http.StatusOK || len(p.ids) != 1 {
		t.Fatalf("%d, rows %v", p.status, p.ids)
	}
	if strings.Contains(p.body, "<script>alert") {
		t.Fatal("a client's name is rendered as markup")
	}
	mustContain(t, p.body, "&lt;script&gt;alert(1)&lt;/script&gt;")
}
