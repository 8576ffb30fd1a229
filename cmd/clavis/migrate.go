package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/migrations"
)

// migrateUp is `clavis migrate up`: it applies every pending migration
// and prints the versions applied, or that there were none.
func migrateUp(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	store, err := openMigrator(ctx, cfg, log)
	if err != nil {
		return err
	}
	applied, err := store.Migrate(ctx)
	for _, v := range applied {
		fmt.Fprintf(stdout, "applied migration %d\n", v)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(stdout, "already up to date")
	}
	return errors.Join(err, store.Close())
}

// migrateStatus is `clavis migrate status`: a table of every migration,
// whether it is applied, and its source file.
func migrateStatus(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	store, err := openMigrator(ctx, cfg, log)
	if err != nil {
		return err
	}
	st, err := store.MigrationStatus(ctx)
	if err != nil {
		return errors.Join(err, store.Close())
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tAPPLIED\tSOURCE")
	for _, m := range st {
		applied := "no"
		if m.Applied {
			applied = "yes"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\n", m.Version, applied, m.Source)
	}
	return errors.Join(w.Flush(), store.Close())
}

// migrator is what `clavis migrate` needs of a database.
type migrator interface {
	Migrate(ctx context.Context) ([]int64, error)
	MigrationStatus(ctx context.Context) ([]migrations.Status, error)
	Close() error
}

// openMigrator opens the database cfg.DatabaseURL selects for `clavis
// migrate`, without migrating it.
func openMigrator(ctx context.Context, cfg Config, log *slog.Logger) (migrator, error) {
	cfg.Migrate = false
	return node.OpenStore(ctx, cfg.Config, log)
}
