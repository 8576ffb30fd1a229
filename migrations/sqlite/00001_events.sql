-- The event store: one append-only table and the uniqueness claims that
-- commit with it. SQLite runs one write transaction at a time, so position
-- order is commit order and commit_id is the position of the first event a
-- transaction wrote.

-- +goose Up
CREATE TABLE events (
    position    INTEGER PRIMARY KEY AUTOINCREMENT,
    commit_id   INTEGER NOT NULL,
    id          TEXT    NOT NULL,
    tenant      TEXT    NOT NULL,
    stream_type TEXT    NOT NULL,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0),
    type        TEXT    NOT NULL,
    schema      INTEGER NOT NULL CHECK (schema > 0),
    data        BLOB    NOT NULL,
    actor          TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id   TEXT NOT NULL,
    occurred_at    TEXT NOT NULL,
    traceparent    TEXT NOT NULL,
    reason         TEXT NOT NULL,
    recorded_at TEXT    NOT NULL,
    CONSTRAINT events_id_key UNIQUE (id),
    CONSTRAINT events_stream_version_key UNIQUE (tenant, stream_type, stream_id, version)
);
CREATE INDEX events_tenant_order_idx ON events (tenant, position);

CREATE TABLE claims (
    scope       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    stream_type TEXT NOT NULL,
    stream_id   TEXT NOT NULL,
    PRIMARY KEY (scope, kind, value)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE claims;
DROP TABLE events;
