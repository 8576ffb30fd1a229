-- The orders of a tenant's client list (projections.ClientSort) other
-- than client_id's: by name, by creation and by last change, each ending
-- with client_id so that equal keys still have one order, which keyset
-- pages follow (WHERE (key, client_id) > cursor ORDER BY key, client_id).
-- The same indexes serve both directions. The filters (type, active,
-- search) are tested on each row in order, as for the client_id order.

-- +goose Up
-- sort_name is the name order's key: the lowercase client_name, which is
-- the first line of search (lowercased by the projector in Go, so that
-- PostgreSQL and SQLite agree), in byte order.
ALTER TABLE rm_clients ADD COLUMN sort_name text COLLATE "C"
    GENERATED ALWAYS AS (split_part(search, E'\n', 1)) STORED;
CREATE INDEX rm_clients_name_idx ON rm_clients (tenant, sort_name, client_id);
CREATE INDEX rm_clients_created_idx ON rm_clients (tenant, created_at, client_id);
CREATE INDEX rm_clients_updated_idx ON rm_clients (tenant, updated_at, client_id);

-- +goose Down
DROP INDEX rm_clients_updated_idx;
DROP INDEX rm_clients_created_idx;
DROP INDEX rm_clients_name_idx;
ALTER TABLE rm_clients DROP COLUMN sort_name;
