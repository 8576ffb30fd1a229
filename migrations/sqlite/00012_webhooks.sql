-- Webhook endpoints (projections/webhooks): webhook_endpoints holds each
-- endpoint as the domain folds its events (state, the JSON of
-- webhook.State) at the position of its last event, webhook_progress how
-- far in the event store that projection has got. webhook_deliveries is
-- where each endpoint's deliveries stand: a cursor into the tenant's
-- events, the epoch that fences deliverers, the failures and the lease of
-- the node delivering it. webhook_attempts is the delivery log. Only the
-- endpoints and the progress are derived from the events; the deliveries
-- and the log are operational state, kept nowhere else, which a rebuild
-- of the endpoints keeps. Times are text in
-- the event store's format; zero times are NULL.

-- +goose Up
CREATE TABLE webhook_endpoints (
    tenant    TEXT    NOT NULL,
    id        TEXT    NOT NULL,
    -- created orders a tenant's endpoints as they were first applied.
    created   INTEGER NOT NULL,
    state     TEXT    NOT NULL,
    active    INTEGER NOT NULL,
    deleted   INTEGER NOT NULL,
    commit_id INTEGER NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX webhook_endpoints_created_idx ON webhook_endpoints (tenant, created);

CREATE TABLE webhook_deliveries (
    tenant          TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    cursor_commit   INTEGER NOT NULL,
    cursor_position INTEGER NOT NULL,
    epoch           INTEGER NOT NULL,
    -- applied is the position of the last change that started or resumed
    -- it: a rebuild that applies the events again leaves it be.
    applied_commit   INTEGER NOT NULL,
    applied_position INTEGER NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    failing_since   TEXT,
    next_attempt    TEXT,
    last_attempt    TEXT,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    owner           TEXT    NOT NULL DEFAULT '',
    lease_until     TEXT,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_owner_idx ON webhook_deliveries (owner, lease_until);

CREATE TABLE webhook_attempts (
    -- id grows with every attempt (AUTOINCREMENT never reuses one): an
    -- endpoint's attempts ascend.
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT    NOT NULL,
    webhook    TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    cursor     TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    at         TEXT    NOT NULL,
    status     INTEGER NOT NULL,
    latency_us INTEGER NOT NULL,
    error      TEXT    NOT NULL,
    next_retry TEXT
);
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (tenant, webhook, id);
CREATE INDEX webhook_attempts_at_idx ON webhook_attempts (at);

CREATE TABLE webhook_progress (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    commit_id INTEGER NOT NULL,
    position  INTEGER NOT NULL
);
INSERT INTO webhook_progress (id, commit_id, position) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE webhook_progress;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
