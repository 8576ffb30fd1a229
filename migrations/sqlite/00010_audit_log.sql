-- The tenants' audit logs (projections/auditlog): every event of a tenant,
-- in store order, a leaf of the tenant's Merkle tree. audit_leaves holds
-- the entries as auditors read them (data redacted), audit_hashes the
-- tree's hashes as golang.org/x/mod/sumdb/tlog stores them, audit_trees
-- each tenant's size, audit_checkpoints the signed tree heads, and
-- audit_progress how far in the event store the logs have got. All but
-- the checkpoints are derived from the events and rebuilt from them; the
-- checkpoints are what a rebuild must agree with. Times are text in the
-- event store's format.

-- +goose Up
CREATE TABLE audit_leaves (
    tenant         TEXT    NOT NULL,
    leaf           INTEGER NOT NULL CHECK (leaf >= 0),
    event_id       TEXT    NOT NULL,
    commit_id      INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    stream_type    TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    type           TEXT    NOT NULL,
    schema         INTEGER NOT NULL,
    data           BLOB    NOT NULL,
    data_digest    BLOB    NOT NULL,
    actor          TEXT    NOT NULL,
    correlation_id TEXT    NOT NULL,
    causation_id   TEXT    NOT NULL,
    occurred_at    TEXT    NOT NULL,
    traceparent    TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    user_agent     TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    PRIMARY KEY (tenant, leaf)
) WITHOUT ROWID;
CREATE INDEX audit_leaves_stream_idx ON audit_leaves (tenant, stream_type, stream_id, leaf);
CREATE INDEX audit_leaves_type_idx ON audit_leaves (tenant, type, leaf);
CREATE INDEX audit_leaves_actor_idx ON audit_leaves (tenant, actor, leaf);
CREATE INDEX audit_leaves_event_idx ON audit_leaves (tenant, event_id);
CREATE INDEX audit_leaves_recorded_idx ON audit_leaves (tenant, recorded_at);

CREATE TABLE audit_hashes (
    tenant TEXT    NOT NULL,
    idx    INTEGER NOT NULL CHECK (idx >= 0),
    hash   BLOB    NOT NULL,
    PRIMARY KEY (tenant, idx)
) WITHOUT ROWID;

CREATE TABLE audit_trees (
    tenant TEXT    PRIMARY KEY,
    size   INTEGER NOT NULL CHECK (size > 0)
) WITHOUT ROWID;

CREATE TABLE audit_checkpoints (
    tenant    TEXT    NOT NULL,
    size      INTEGER NOT NULL CHECK (size > 0),
    origin    TEXT    NOT NULL,
    root      BLOB    NOT NULL,
    note      BLOB    NOT NULL,
    signed_at TEXT    NOT NULL,
    -- published says the relay has put it on the public stream.
    published INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, size)
) WITHOUT ROWID;
CREATE INDEX audit_checkpoints_unpublished_idx ON audit_checkpoints (signed_at) WHERE published = 0;

CREATE TABLE audit_progress (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    commit_id INTEGER NOT NULL,
    position  INTEGER NOT NULL
);
INSERT INTO audit_progress (id, commit_id, position) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE audit_progress;
DROP TABLE audit_checkpoints;
DROP TABLE audit_trees;
DROP TABLE audit_hashes;
DROP TABLE audit_leaves;
