package main

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
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
