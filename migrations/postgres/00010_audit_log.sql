-- The tenants' audit logs (projections/auditlog): every event of a tenant,
-- in store order, a leaf of the tenant's Merkle tree. audit_leaves holds
-- the entries as auditors read them (data redacted), audit_hashes the
-- tree's hashes as golang.org/x/mod/sumdb/tlog stores them, audit_trees
-- each tenant's size, audit_checkpoints the signed tree heads, and
-- audit_progress how far in the event store the logs have got. All but
-- the checkpoints are derived from the events and rebuilt from them; the
-- checkpoints are what a rebuild must agree with.

-- +goose Up
CREATE TABLE audit_leaves (
    tenant         text        NOT NULL,
    leaf           bigint      NOT NULL CHECK (leaf >= 0),
    event_id       text        NOT NULL,
    commit_id      bigint      NOT NULL,
    position       bigint      NOT NULL,
    stream_type    text        NOT NULL,
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL,
    type           text        NOT NULL,
    schema         integer     NOT NULL,
    data           bytea       NOT NULL,
    data_digest    bytea       NOT NULL,
    actor          text        NOT NULL,
    correlation_id text        NOT NULL,
    causation_id   text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    traceparent    text        NOT NULL,
    reason         text        NOT NULL,
    source         text        NOT NULL,
    user_agent     text        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    CONSTRAINT audit_leaves_pkey PRIMARY KEY (tenant, leaf)
);
CREATE INDEX audit_leaves_stream_idx ON audit_leaves (tenant, stream_type, stream_id, leaf);
CREATE INDEX audit_leaves_type_idx ON audit_leaves (tenant, type, leaf);
CREATE INDEX audit_leaves_actor_idx ON audit_leaves (tenant, actor, leaf);
CREATE INDEX audit_leaves_event_idx ON audit_leaves (tenant, event_id);
CREATE INDEX audit_leaves_recorded_idx ON audit_leaves (tenant, recorded_at);

CREATE TABLE audit_hashes (
    tenant text   NOT NULL,
    idx    bigint NOT NULL CHECK (idx >= 0),
    hash   bytea  NOT NULL,
    CONSTRAINT audit_hashes_pkey PRIMARY KEY (tenant, idx)
);

CREATE TABLE audit_trees (
    tenant text   PRIMARY KEY,
    size   bigint NOT NULL CHECK (size > 0)
);

CREATE TABLE audit_checkpoints (
    tenant    text        NOT NULL,
    size      bigint      NOT NULL CHECK (size > 0),
    origin    text        NOT NULL,
    root      bytea       NOT NULL,
    note      bytea       NOT NULL,
    signed_at timestamptz NOT NULL,
    -- published says the relay has put it on the public stream.
    published boolean     NOT NULL DEFAULT false,
    CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (tenant, size)
);
CREATE INDEX audit_checkpoints_unpublished_idx ON audit_checkpoints (signed_at) WHERE NOT published;

CREATE TABLE audit_progress (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    commit_id bigint  NOT NULL,
    position  bigint  NOT NULL
);
INSERT INTO audit_progress (commit_id, position) VALUES (0, 0);

-- +goose Down
DROP TABLE audit_progress;
DROP TABLE audit_checkpoints;
DROP TABLE audit_trees;
DROP TABLE audit_hashes;
DROP TABLE audit_leaves;
