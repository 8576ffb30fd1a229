-- Webhook endpoints (projections/webhooks): webhook_endpoints holds each
-- endpoint as the domain folds its events (state, the JSON of
-- webhook.State) at the position of its last event, webhook_progress how
-- far in the event store that projection has got. webhook_deliveries is
-- where each endpoint's deliveries stand: a cursor into the tenant's
-- events, the epoch that fences deliverers, the failures and the lease of
-- the node delivering it. webhook_attempts is the delivery log. Only the
-- endpoints and the progress are derived from the events; the deliveries
-- and the log are operational state, kept nowhere else, which a rebuild
-- of the endpoints keeps. Zero times are NULL.

-- +goose Up
CREATE TABLE webhook_endpoints (
    tenant    text    NOT NULL,
    id        text    NOT NULL,
    -- created orders a tenant's endpoints as they were first applied.
    created   bigint  GENERATED ALWAYS AS IDENTITY,
    state     jsonb   NOT NULL,
    active    boolean NOT NULL,
    deleted   boolean NOT NULL,
    commit_id bigint  NOT NULL,
    position  bigint  NOT NULL,
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (tenant, id)
);
CREATE INDEX webhook_endpoints_created_idx ON webhook_endpoints (tenant, created);

CREATE TABLE webhook_deliveries (
    tenant          text        NOT NULL,
    id              text        NOT NULL,
    cursor_commit   bigint      NOT NULL,
    cursor_position bigint      NOT NULL,
    epoch           bigint      NOT NULL,
    -- applied is the position of the last change that started or resumed
    -- it: a rebuild that applies the events again leaves it be.
    applied_commit   bigint      NOT NULL,
    applied_position bigint      NOT NULL,
    failures        integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    failing_since   timestamptz,
    next_attempt    timestamptz,
    last_attempt    timestamptz,
    last_status     integer     NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT '',
    owner           text        NOT NULL DEFAULT '',
    lease_until     timestamptz,
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (tenant, id)
);
CREATE INDEX webhook_deliveries_owner_idx ON webhook_deliveries (owner, lease_until);

CREATE TABLE webhook_attempts (
    -- id grows with every attempt: an endpoint's attempts ascend.
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant     text        NOT NULL,
    webhook    text        NOT NULL,
    message_id text        NOT NULL,
    event_type text        NOT NULL,
    cursor     text        NOT NULL,
    kind       text        NOT NULL,
    at         timestamptz NOT NULL,
    status     integer     NOT NULL,
    latency_us bigint      NOT NULL,
    error      text        NOT NULL,
    next_retry timestamptz
);
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (tenant, webhook, id DESC);
CREATE INDEX webhook_attempts_at_idx ON webhook_attempts (at);

CREATE TABLE webhook_progress (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    commit_id bigint  NOT NULL,
    position  bigint  NOT NULL
);
INSERT INTO webhook_progress (commit_id, position) VALUES (0, 0);

-- +goose Down
DROP TABLE webhook_progress;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
