package node

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
	"github.com/clavisiam/clavis/projections"
	projpostgres "github.com/clavisiam/clavis/projections/postgres"
	projsqlite "github.com/clavisiam/clavis/projections/sqlite"
)

// Backend is what a node needs of a store: the event store itself and
// its migrations. Both backends have it.
type Backend interface {
	eventstore.Store
	Migrate(ctx context.Context) ([]int64, error)
	MigrationStatus(ctx context.Context) ([]migrations.Status, error)
	Close() error
}

var (
	_ Backend = (*postgres.Store)(nil)
	_ Backend = (*sqlite.Store)(nil)
)

// The backends a database URL can select.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// SQLiteFile is the embedded database's file name inside the data dir.
const SQLiteFile = "clavis.db"

// StoreKind tells which backend a database URL selects: SQLite when it is
// empty, PostgreSQL for a postgres:// or postgresql:// URL. Errors never
// quote the URL, which may hold a password.
func StoreKind(databaseURL string) (string, error) {
	if databaseURL == "" {
		return SQLite, nil
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", errors.New("is not a URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "postgres", "postgresql":
		return Postgres, nil
	case "":
		return "", errors.New("has no scheme: use postgres://… for PostgreSQL, or leave it empty for the embedded SQLite")
	}
	return "", fmt.Errorf("scheme %q is not supported: use postgres://… or postgresql://…, or leave it empty for the embedded SQLite", u.Scheme)
}

// OpenStore opens the store cfg.DatabaseURL selects — the one place the
// backend is picked — migrating it when cfg.Migrate is set. For SQLite it
// creates cfg.DataDir (mode 0700) if needed.
func OpenStore(ctx context.Context, cfg Config, log *slog.Logger) (Backend, error) {
	kind, err := StoreKind(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open event store: database url %w", err)
	}
	switch kind {
	case Postgres:
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
		path := filepath.Join(cfg.DataDir, SQLiteFile)
		s, err := sqlite.Open(ctx, path, sqlite.WithMigrate(cfg.Migrate), sqlite.WithLogger(log), sqlite.WithFullSync(cfg.SQLiteFullSync))
		if err != nil {
			return nil, fmt.Errorf("open event store: %w", err)
		}
		log.Info("opened event store", "backend", kind, "path", path)
		return s, nil
	}
}

// ReadModel is the read-model backend in the store's own database.
func ReadModel(store Backend) (projections.Backend, error) {
	switch s := store.(type) {
	case *sqlite.Store:
		w, r := s.DB()
		return projsqlite.New(w, r), nil
	case *postgres.Store:
		return projpostgres.New(s.Pool()), nil
	}
	return nil, fmt.Errorf("no read model for a %T store", store)
}
