-- Snapshots of aggregates (eventstore.Snapshot): an aggregate's state at
-- a version of its stream, so that reading a client's past folds from the
-- nearest one rather than from the first event. A cache beside the
-- events: never a source of truth, checked against the stream (event id
-- and position of the event at version) before use. data holds secret
-- hashes: server-side, never shown. recorded_at is the latest recording
-- time of the stream's events up to version.

-- +goose Up
CREATE TABLE snapshots (
    tenant      text        NOT NULL,
    stream_type text        NOT NULL,
    stream_id   text        NOT NULL,
    version     bigint      NOT NULL CHECK (version > 0),
    event_id    text        NOT NULL,
    commit_id   bigint      NOT NULL,
    position    bigint      NOT NULL,
    recorded_at timestamptz NOT NULL,
    data        bytea       NOT NULL,
    PRIMARY KEY (tenant, stream_type, stream_id, version)
);

-- +goose Down
DROP TABLE snapshots;
