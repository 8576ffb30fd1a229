-- Where each event came from: the network address of the client that sent
-- the request (as the server decided it, trusting forwarding headers only
-- from configured proxies) and its User-Agent. Events written before this
-- migration, and those of the CLI or the system, have neither: ''.

-- +goose Up
ALTER TABLE events
    ADD COLUMN source     text NOT NULL DEFAULT '',
    ADD COLUMN user_agent text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE events
    DROP COLUMN source,
    DROP COLUMN user_agent;
