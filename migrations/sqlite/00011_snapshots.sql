-- Snapshots of aggregates (eventstore.Snapshot): an aggregate's state at
-- a version of its stream, so that reading a client's past folds from the
-- nearest one rather than from the first event. A cache beside the
-- events: never a source of truth, checked against the stream (event id
-- and position of the event at version) before use. data holds secret
-- hashes: server-side, never shown. recorded_at is the latest recording
-- time of the stream's events up to version, as text in the event
-- store's format.

-- +goose Up
CREATE TABLE snapshots (
    tenant      TEXT    NOT NULL,
    stream_type TEXT    NOT NULL,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0),
    event_id    TEXT    NOT NULL,
    commit_id   INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    recorded_at TEXT    NOT NULL,
    data        BLOB    NOT NULL,
    PRIMARY KEY (tenant, stream_type, stream_id, version)
);

-- +goose Down
DROP TABLE snapshots;
