package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/migrations"
)

// migrator is what `clavis migrate` needs of a database.
type migrator interface {
	Migrate(ctx context.Context) ([]int64, error)
	MigrationStatus(ctx context.Context) ([]migrations.Status, error)
	Close() error
}

// backend is what serve needs of a store: the event store itself and its
// migrations. Both backends have it.
type backend interface {
	eventstore.Store
	migrator
}

var (
	_ backend = (*postgres.Store)(nil)
	_ backend = (*sqlite.Store)(nil)
)

// The backends a database URL can select.
const (
	backendSQLite   = "sqlite"
	backendPostgres = "postgres"
)

// sqliteFile is the embedded database's file name inside the data dir.
const sqliteFile = "clavis.db"

// backendOf tells which backend a database URL selects: SQLite when it is
// empty, PostgreSQL for a postgres:// or postgresql:// URL. Errors never
// quote the URL, which may hold a password.
func backendOf(databaseURL string) (string, error) {
	if databaseURL == "" {
		return backendSQLite, nil
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", errors.New("is not a URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "postgres", "postgresql":
		return backendPostgres, nil
	case "":
		return "", errors.New("has no scheme: use postgres://… for PostgreSQL, or leave it empty for the embedded SQLite")
	}
	return "", fmt.Errorf("scheme %q is not supported: use postgres://… or postgresql://…, or leave it empty for the embedded SQLite", u.Scheme)
}

// openStore opens the store cfg.DatabaseURL selects — the one place the
// backend is picked — migrating it when cfg.Migrate is set. For SQLite it
// creates cfg.DataDir (mode 0700) if needed.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (backend, error) {
	kind, err := backendOf(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open event store: database url %w", err)
	}
	switch kind {
	case backendPostgres:
		s, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.WithMigrate(cfg.Migrate), postgres.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("open event store: %w", err)
		}
		u, _ := url.Parse(cfg.DatabaseURL) // parsed above
		log.Info("opened event store", "backend", kind, "host", u.Host, "database", strings.TrimPrefix(u.Path, "/"))
		return s, nil
	default:
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("open event store: create data dir: %w", err)
		}
		path := filepath.Join(cfg.DataDir, sqliteFile)
		s, err := sqlite.Open(ctx, path, sqlite.WithMigrate(cfg.Migrate), sqlite.WithLogger(log), sqlite.WithFullSync(cfg.SQLiteFullSync))
		if err != nil {
			return nil, fmt.Errorf("open event store: %w", err)
		}
		log.Info("opened event store", "backend", kind, "path", path)
		return s, nil
	}
}

// openMigrator opens the database cfg.DatabaseURL selects for `clavis
// migrate`, without migrating it.
func openMigrator(ctx context.Context, cfg Config, log *slog.Logger) (migrator, error) {
	cfg.Migrate = false
	return openStore(ctx, cfg, log)
}
