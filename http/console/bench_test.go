package console_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
)

// benchClients is how many clients the tenant of [BenchmarkPages] has.
const benchClients = 10_000

// BenchmarkPages measures the console's pages as a person gets them, over
// HTTP through a signed-in agent, for a tenant with 10,000 clients (the
// issue's figure: every page in at most 20 ms at p99). Each sub-benchmark
// is one page; it reports the median and 99th percentile of its
// requests in milliseconds (p50-ms, p99-ms), and the CPU time the whole
// process (server and agent) spent a request (cpu-ms/op), which tells
// the page's own cost on a busy machine, where the wall clock also
// counts the waits for a core. A page that answers 404 is
// one this build does not have yet, and is skipped. Run it with a fixed
// number of requests a page, for example:
//
//	go test ./http/console/ -run '^$' -bench 'Pages$' -benchtime 400x
//
// The node keeps its data in SQLite, as the other tests of the console
// do; [BenchmarkPagesPostgres] runs the same on PostgreSQL.
func BenchmarkPages(b *testing.B) { benchPages(b, start(b), nil) }

// BenchmarkPagesPostgres is [BenchmarkPages] with the node's data in
// PostgreSQL: the tests' server (CLAVIS_TEST_DATABASE_URL, by default the
// local one), in a schema of its own, dropped after.
//
//	go test ./http/console/ -run '^$' -bench PagesPostgres -benchtime 400x
func BenchmarkPagesPostgres(b *testing.B) {
	h, dbURL := startOn(b, pgtest.ServerURL())
	benchPages(b, h, func() {
		// What autovacuum does to a table that has taken 10,000 rows,
		// within a minute or so: statistics for the planner, and the
		// visibility map that lets index-only scans skip the table.
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err == nil {
			_, err = conn.Exec(context.Background(), "VACUUM (ANALYZE) rm_clients")
			conn.Close(context.Background())
		}
		if err != nil {
			b.Fatalf("vacuum the read model: %v", err)
		}
	})
}

// startOn is [start] with the node's data in a schema of its own in the
// PostgreSQL database of dbURL, whose URL it returns too.
func startOn(tb testing.TB, dbURL string) (*harness, string) {
	tb.Helper()
	ns := testnode.StartNATS(tb)
	cfg := testnode.Config(tb, dbURL)
	cfg.PublicURL = ""
	cfg.RootToken = rootToken
	cfg.DevLogin = true
	cfg.NATSURL, cfg.NATSPrefix = ns.URL, "test"
	n := testnode.Start(tb, cfg)
	return &harness{node: n, url: n.URL}, cfg.DatabaseURL
}

// benchPages runs [BenchmarkPages] on the node of h; rest, when not nil,
// brings the database to rest after the seeding.
func benchPages(b *testing.B, h *harness, rest func()) {
	h.tenant(b, "big")
	began := time.Now()
	clients := h.seed(b, "big", benchClients, 8)
	ctx := context.Background()
	// Some inactive clients, for the filter that finds few.
	for _, v := range clients[:20] {
		res, err := h.node.Admin.Clients.Deactivate(ctx, rootRequest, "big", v.ClientID, "benchmark")
		if err == nil {
			err = h.node.Projector.WaitFor(ctx, res.Position)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	seeding := time.Since(began)
	// Let the audit log take in the seeding, so that the pages are
	// measured on a node at rest.
	if _, err := h.node.Audit.CatchUp(ctx); err != nil {
		b.Fatal(err)
	}
	if rest != nil {
		rest()
	}
	b.Logf("seeded %d clients in %s; the audit log caught up %s later", benchClients, seeding.Round(time.Millisecond), (time.Since(began) - seeding).Round(time.Millisecond))
	a := h.signIn(b, "big", "alice")

	// A cursor half-way through the list by name.
	f := projections.ClientFilter{Sort: projections.SortName, Limit: projections.MaxPage}
	for range benchClients / 2 / projections.MaxPage {
		_, next, err := h.node.Admin.ReadModel.Clients(ctx, "big", f)
		if err != nil || next == "" {
			b.Fatalf("walk to the middle of the list: %q, %v", next, err)
		}
		f.After = next
	}
	target := clients[benchClients/2].ClientID
	pages := []struct{ name, path string }{
		{"list", "clients"},
		{"list-later-page", "clients?" + url.Values{"sort": {"name"}, "after": {f.After}}.Encode()},
		{"list-by-client_id", "clients?sort=client_id"},
		{"list-by-name-desc", "clients?sort=name&order=desc"},
		{"list-by-created", "clients?sort=created"},
		{"list-by-updated-asc", "clients?sort=updated&order=asc"},
		{"list-search-name", "clients?q=zeta+shop+2"},
		{"list-search-client_id", "clients?q=" + target[:8]},
		{"list-search-no-match", "clients?q=no-such-client"},
		{"list-filter-inactive", "clients?active=false&sort=created"},
		{"list-filter-type", "clients?type=m2m&sort=name&order=desc"},
		{"client", "clients/" + target},
		{"client-edit", "clients/" + target + "/edit"},
		{"client-history", "clients/" + target + "/history"},
		{"audit", "audit"},
		{"settings", "settings"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			path := "/t/big/console/" + p.path
			switch status, body := a.get(b, path); status {
			case http.StatusOK:
			case http.StatusNotFound:
				b.Skipf("%s answers 404: this build has no such page", path)
			default:
				b.Fatalf("%s: %d\n%s", path, status, excerpt(body))
			}
			var times []time.Duration
			cpu0, cpuOK := processCPU()
			for b.Loop() {
				start := time.Now()
				if status, _ := a.get(b, path); status != http.StatusOK {
					b.Fatalf("%s: %d", path, status)
				}
				times = append(times, time.Since(start))
			}
			if cpu1, ok := processCPU(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(len(times))/float64(time.Millisecond), "cpu-ms/op")
			}
			slices.Sort(times)
			at := func(q float64) float64 {
				return float64(times[int(q*float64(len(times)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(at(0.5), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
		})
	}
}
