package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
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
