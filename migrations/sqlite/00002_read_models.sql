-- The read models that projections/sqlite keeps in step with the event
-- store, and the checkpoints that say how far each projection got. Every
-- row here can be dropped and rebuilt from the events (clavis projections
-- rebuild); nothing else writes to these tables. Times are TEXT in the
-- event store's format (UTC, microseconds), booleans 0 or 1.

-- +goose Up
CREATE TABLE rm_tenants (
    slug              TEXT    NOT NULL PRIMARY KEY,
    name              TEXT    NOT NULL,
    suspended         INTEGER NOT NULL,
    suspension_reason TEXT    NOT NULL,
    version           INTEGER NOT NULL CHECK (version > 0),
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
) WITHOUT ROWID;

-- One row per live client; a deleted client's row is removed (its history
-- stays in the event store). doc is the whole projections.ClientView as
-- JSON; the other columns are copies of its fields for filtering and the
-- catalogue.
CREATE TABLE rm_clients (
    tenant      TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    client_name TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    active      INTEGER NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    -- the api_scopes suffixes, a JSON array of strings ('[]' when none)
    api_scopes  TEXT    NOT NULL,
    -- lowercase client_name, a newline and lowercase code, computed by the
    -- projector (SQLite's lower() only knows ASCII)
    search      TEXT    NOT NULL,
    doc         TEXT    NOT NULL,
    CONSTRAINT rm_clients_pkey PRIMARY KEY (tenant, client_id),
    CONSTRAINT rm_clients_client_id_key UNIQUE (client_id)
);
-- Listing pages walk this index, which holds everything the filters
-- (type, active, search) test, in client_id order: a row that does not
-- match is never read. Queries name it (INDEXED BY), because without
-- statistics SQLite would pick the primary key.
CREATE INDEX rm_clients_filter_idx ON rm_clients (tenant, client_id, type, active, search);
-- The catalogue reads only the clients that define API scopes.
CREATE INDEX rm_clients_catalogue_idx ON rm_clients (tenant) WHERE api_scopes <> '[]';

-- A projection's checkpoint: every event up to (commit_id, position) is
-- applied. It is written in the transaction that applies the events, and
-- only forward; recorded_at is when the newest applied event was recorded.
CREATE TABLE projection_checkpoints (
    name        TEXT    NOT NULL PRIMARY KEY,
    commit_id   INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    recorded_at TEXT,
    updated_at  TEXT    NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE projection_checkpoints;
DROP TABLE rm_clients;
DROP TABLE rm_tenants;
