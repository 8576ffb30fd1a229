package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	espg "github.com/clavisiam/clavis/eventstore/postgres"
	essqlite "github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/tenants"
)

func TestProjectionsRebuildAndStatus(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, backend)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			store, err := node.OpenStore(t.Context(), cfg.Config, log)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := node.LoadMasterKeys(cfg.Config, log)
			if err != nil {
				t.Fatal(err)
			}
			ts, err := tenants.NewTenants(store, keys)
			if err != nil {
				t.Fatal(err)
			}
			var last eventstore.Position
			for i := range 3 {
				created, err := ts.Create(t.Context(), tenants.Request{Actor: "root"}, fmt.Sprintf("acme%d", i), "Acme")
				if err != nil {
					t.Fatal(err)
				}
				last = created.Position
			}
			// On PostgreSQL a commit is readable once every older
			// transaction in the cluster has ended; the rebuild reads
			// only what is readable.
			poll.UntilNil(t, 20*time.Second, func() error {
				head, err := store.Head(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if head.Less(last) {
					return fmt.Errorf("readers see the store up to %s, the tenants were written up to %s", head, last)
				}
				return nil
			})
			store.Close()

			flags := []string{"--data-dir", cfg.DataDir}
			if cfg.DatabaseURL != "" {
				flags = append(flags, "--database-url", cfg.DatabaseURL)
			}
			code, stdout, stderr := runCmd(t.Context(), append([]string{"projections", "rebuild", "read_model"}, flags...), nil)
			if code != exitOK || !regexp.MustCompile(`^rebuilt read_model: 12 events in \S+ \(\d+ events/s\), at position \d+\.\d+\n$`).MatchString(stdout) {
				t.Fatalf("rebuild = %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			code, stdout, stderr = runCmd(t.Context(), append([]string{"projections", "status"}, flags...), nil)
			if code != exitOK || !regexp.MustCompile(`(?m)^read_model\s+\d+\.\d+\s+\d+\.\d+\s+true\s`).MatchString(stdout) {
				t.Fatalf("status = %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if code, _, _ := runCmd(t.Context(), append([]string{"projections", "rebuild", "nope"}, flags...), nil); code != exitUsage {
				t.Fatalf("rebuild of an unknown projection exited %d, want %d", code, exitUsage)
			}
		})
	}
}

// auditKey signs every tenant's audit log with one test key.
type auditKey struct{ signer note.Signer }

func (k auditKey) AuditSigner(context.Context, string) (note.Signer, error) { return k.signer, nil }

// TestProjectionsRebuildAuditLog rebuilds the audit logs by name and
// with every projection, and refuses a rebuild whose events no longer
// give a checkpoint that was signed, naming the tenant and the size.
func TestProjectionsRebuildAuditLog(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, backend)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			store, err := node.OpenStore(t.Context(), cfg.Config, log)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			keys, err := node.LoadMasterKeys(cfg.Config, log)
			if err != nil {
				t.Fatal(err)
			}
			ts, err := tenants.NewTenants(store, keys)
			if err != nil {
				t.Fatal(err)
			}
			var last eventstore.Position
			for i := range 2 {
				created, err := ts.Create(t.Context(), tenants.Request{Actor: "root"}, fmt.Sprintf("audit%d", i), "Audit")
				if err != nil {
					t.Fatal(err)
				}
				last = created.Position
			}
			poll.UntilNil(t, 20*time.Second, func() error {
				head, err := store.Head(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if head.Less(last) {
					return fmt.Errorf("readers see the store up to %s, the tenants were written up to %s", head, last)
				}
				return nil
			})
			flags := []string{"--data-dir", cfg.DataDir}
			if cfg.DatabaseURL != "" {
				flags = append(flags, "--database-url", cfg.DatabaseURL)
			}
			code, stdout, stderr := runCmd(t.Context(), append([]string{"projections", "rebuild", "audit_log"}, flags...), nil)
			if code != exitOK || !regexp.MustCompile(`^rebuilt audit_log: \d+ events in \S+ \(\d+ events/s\)\n$`).MatchString(stdout) {
				t.Fatalf("rebuild audit_log = %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			code, stdout, stderr = runCmd(t.Context(), append([]string{"projections", "rebuild"}, flags...), nil)
			both := regexp.MustCompile(`^rebuilt read_model: (\d+) events .*\nrebuilt audit_log: (\d+) events .*\nrebuilt webhooks in \S+, at position \d+\.\d+; deliveries kept\n$`).FindStringSubmatch(stdout)
			if code != exitOK || both == nil || both[1] != both[2] {
				t.Fatalf("rebuild = %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}

			// Sign both logs, then change one stored event of audit1.
			as, err := node.AuditStore(store)
			if err != nil {
				t.Fatal(err)
			}
			l, err := auditlog.New(as, store, nil)
			if err != nil {
				t.Fatal(err)
			}
			skey, _, err := note.GenerateKey(rand.Reader, "clavis.test/audit")
			if err != nil {
				t.Fatal(err)
			}
			signer, err := note.NewSigner(skey)
			if err != nil {
				t.Fatal(err)
			}
			if cs, err := l.Sign(t.Context(), auditKey{signer}); err != nil || len(cs) != 2 {
				t.Fatalf("sign = %v, %v", cs, err)
			}
			var edit string
			switch backend {
			case node.Postgres:
				edit = `UPDATE events SET data = convert_to(replace(convert_from(data, 'UTF8'), 'Audit', 'Aud1t'), 'UTF8') WHERE tenant = 'audit1' AND type = 'tenant.created'`
			default:
				edit = `UPDATE events SET data = CAST(replace(CAST(data AS TEXT), 'Audit', 'Aud1t') AS BLOB) WHERE tenant = 'audit1' AND type = 'tenant.created'`
			}
			execSQL(t, store, edit)
			code, stdout, stderr = runCmd(t.Context(), append([]string{"projections", "rebuild", "audit_log"}, flags...), nil)
			if code != exitFailure || !regexp.MustCompile(`tenant audit1's checkpoint at size \d+`).MatchString(stderr) || strings.Contains(stderr, "audit0") {
				t.Fatalf("rebuild after an edit = %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
		})
	}
}

// execSQL runs stmt in the store's database, behind the store's back.
func execSQL(t *testing.T, store node.Backend, stmt string) {
	t.Helper()
	var err error
	switch s := store.(type) {
	case *espg.Store:
		_, err = s.Pool().Exec(t.Context(), stmt)
	case *essqlite.Store:
		w, _ := s.DB()
		_, err = w.ExecContext(t.Context(), stmt)
	default:
		t.Fatalf("no SQL for a %T store", store)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestProjectionsRebuildWebhooks rebuilds the webhook endpoints by name:
// they come back from the events, and a delivery cursor a deliverer moved
// stays where it was.
func TestProjectionsRebuildWebhooks(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, backend)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			store, err := node.OpenStore(t.Context(), cfg.Config, log)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			now := time.Now().UTC()
			res, err := aggregate.Execute(t.Context(), store, aggregate.Command[*webhook.Webhook]{
				Stream: webhooks.Stream("acme", "w1"),
				Decode: webhook.Decode,
				Replay: webhook.Replay,
				Decide: func(*webhook.Webhook) ([]domain.Event, error) {
					return webhook.Create("w1", webhook.Settings{URL: "https://hooks.example.com/w1"}, webhook.NewSecret{ID: "s1", Sealed: "sealed"}, now)
				},
				Meta:  eventstore.Metadata{Actor: "root", OccurredAt: now},
				NewID: func() string { return "evt-w1" },
			})
			if err != nil {
				t.Fatal(err)
			}
			ws, err := node.WebhookStore(store)
			if err != nil {
				t.Fatal(err)
			}
			p, err := webhooks.NewProjection(ws, store, log)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := p.WaitFor(ctx, res.Position); err != nil {
				t.Fatal(err)
			}
			held, err := ws.Acquire(t.Context(), "node-1", now, now.Add(time.Minute), 1)
			if err != nil || len(held) != 1 {
				t.Fatalf("Acquire = %v, %v", held, err)
			}
			d := held[0].Delivery
			d.Cursor = eventstore.Position{Commit: res.Position.Commit + 7, Seq: res.Position.Seq + 7}
			if err := ws.Record(t.Context(), "node-1", "acme", "w1", now, d, nil); err != nil {
				t.Fatal(err)
			}
			flags := []string{"--data-dir", cfg.DataDir}
			if cfg.DatabaseURL != "" {
				flags = append(flags, "--database-url", cfg.DatabaseURL)
			}
			code, stdout, stderr := runCmd(t.Context(), append([]string{"projections", "rebuild", "webhooks"}, flags...), nil)
			if code != exitOK || !regexp.MustCompile(`^rebuilt webhooks in \S+, at position \d+\.\d+; deliveries kept\n$`).MatchString(stdout) {
				t.Fatalf("rebuild webhooks = %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			e, err := ws.Endpoint(t.Context(), "acme", "w1")
			if err != nil {
				t.Fatalf("w1 after the rebuild: %v", err)
			}
			if e.Delivery.Cursor != d.Cursor || e.Delivery.Epoch != d.Epoch {
				t.Errorf("w1's delivery after the rebuild: cursor %s, epoch %d; want %s, %d (kept)", e.Delivery.Cursor, e.Delivery.Epoch, d.Cursor, d.Epoch)
			}
		})
	}
}
