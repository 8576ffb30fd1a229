-- The read models that projections/postgres keeps in step with the event
-- store, and the checkpoints that say how far each projection got. Every
-- row here can be dropped and rebuilt from the events (clavis projections
-- rebuild); nothing else writes to these tables.

-- +goose Up
-- Keys use the "C" collation so that pages and cursors follow byte order,
-- as they do on SQLite, whatever the database's locale.
CREATE TABLE rm_tenants (
    slug              text COLLATE "C" PRIMARY KEY,
    name              text        NOT NULL,
    suspended         boolean     NOT NULL,
    suspension_reason text        NOT NULL,
    version           bigint      NOT NULL CHECK (version > 0),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

-- One row per live client; a deleted client's row is removed (its history
-- stays in the event store). doc is the whole projections.ClientView; the
-- other columns are copies of its fields for filtering and the catalogue.
-- doc is json rather than jsonb so that it reads back byte for byte (jsonb
-- would reorder the keys of an inline jwks), and it is never queried inside.
CREATE TABLE rm_clients (
    tenant      text COLLATE "C" NOT NULL,
    client_id   text COLLATE "C" NOT NULL,
    code        text        NOT NULL,
    client_name text        NOT NULL,
    type        text        NOT NULL,
    active      boolean     NOT NULL,
    version     bigint      NOT NULL CHECK (version > 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    -- the api_scopes suffixes, a JSON array of strings ('[]' when none)
    api_scopes  jsonb       NOT NULL,
    -- lowercase client_name, a newline and lowercase code, computed by the
    -- projector so that case-insensitive search agrees on both databases
    search      text        NOT NULL,
    doc         json        NOT NULL,
    CONSTRAINT rm_clients_pkey PRIMARY KEY (tenant, client_id),
    CONSTRAINT rm_clients_client_id_key UNIQUE (client_id)
);
-- Listing pages walk the tenant's range of the primary key, in client_id
-- order, and test the filters (type, active, search) on each row: a short
-- row, since a doc of more than about 2 kB is stored out of line. A
-- trigram index on search would be the next step for tenants with very
-- many clients; it needs the pg_trgm extension, which Clavis does not
-- require.
-- The catalogue reads only the clients that define API scopes.
CREATE INDEX rm_clients_catalogue_idx ON rm_clients (tenant) WHERE api_scopes <> '[]'::jsonb;

-- A projection's checkpoint: every event up to (commit_id, position) is
-- applied. It is written in the transaction that applies the events, and
-- only forward; recorded_at is when the newest applied event was recorded.
CREATE TABLE projection_checkpoints (
    name        text PRIMARY KEY,
    commit_id   bigint      NOT NULL,
    position    bigint      NOT NULL,
    recorded_at timestamptz,
    updated_at  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE projection_checkpoints;
DROP TABLE rm_clients;
DROP TABLE rm_tenants;
