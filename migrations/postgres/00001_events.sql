-- The event store: one append-only table, the uniqueness claims that commit
-- with it, and the version check that makes an append fail as a whole.

-- +goose Up
CREATE TABLE events (
    -- Global order is (commit_id, position): commit_id is the id of the
    -- transaction that wrote the event, so readers can stop below the oldest
    -- transaction still in flight and never skip an event that commits late.
    position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    commit_id   bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    id          text        NOT NULL,
    tenant      text        NOT NULL,
    stream_type text        NOT NULL,
    stream_id   text        NOT NULL,
    version     bigint      NOT NULL CHECK (version > 0),
    type        text        NOT NULL,
    schema      integer     NOT NULL CHECK (schema > 0),
    -- data is kept byte for byte (not jsonb) so that hashes over it hold.
    data        bytea       NOT NULL,
    -- metadata, one column a field: cheaper to read than a JSON document
    -- and open to SQL for audits.
    actor          text        NOT NULL,
    correlation_id text        NOT NULL,
    causation_id   text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    traceparent    text        NOT NULL,
    reason         text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_id_key UNIQUE (id),
    CONSTRAINT events_stream_version_key UNIQUE (tenant, stream_type, stream_id, version)
);
CREATE INDEX events_order_idx ON events (commit_id, position);
CREATE INDEX events_tenant_order_idx ON events (tenant, commit_id, position);

-- A claim reserves a unique value for the stream that owns it. scope is the
-- tenant, or '' for values unique across the platform.
CREATE TABLE claims (
    scope       text NOT NULL,
    kind        text NOT NULL,
    value       text NOT NULL,
    tenant      text NOT NULL,
    stream_type text NOT NULL,
    stream_id   text NOT NULL,
    CONSTRAINT claims_pkey PRIMARY KEY (scope, kind, value)
);

-- clavis_expect_version fails the surrounding transaction with SQLSTATE
-- CL409 unless the stream is at the expected version. The append sends it
-- first in one pipelined batch, so a mismatch undoes the whole batch. It
-- refuses to run in a transaction that already has an id: the id must be
-- taken after the check, so that a stream's versions and the global order
-- agree.
-- +goose StatementBegin
CREATE FUNCTION clavis_expect_version(p_tenant text, p_type text, p_id text, p_expected bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    actual bigint;
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'append must start its own transaction, or write nothing before it';
    END IF;
    SELECT coalesce(max(version), 0) INTO actual
      FROM events
     WHERE tenant = p_tenant AND stream_type = p_type AND stream_id = p_id;
    IF actual <> p_expected THEN
        RAISE EXCEPTION USING ERRCODE = 'CL409', MESSAGE = 'version conflict', DETAIL = actual::text;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION clavis_expect_version(text, text, text, bigint);
DROP TABLE claims;
DROP TABLE events;
