-- The orders of a tenant's client list (projections.ClientSort) other
-- than client_id's: by name, by creation and by last change, each ending
-- with client_id so that equal keys still have one order, which keyset
-- pages follow (WHERE (key, client_id) > cursor ORDER BY key, client_id).
-- Like rm_clients_filter_idx for the client_id order, each index also
-- holds what the filters (type, active, search) test, so that a row is
-- read only once it matches; queries name their index (INDEXED BY). The
-- same indexes serve both directions.

-- +goose Up
-- sort_name is the name order's key: the lowercase client_name, which is
-- the first line of search (lowercased by the projector in Go: SQLite's
-- lower() only knows ASCII), in byte order. A virtual column: computed
-- when read, stored only in its index.
ALTER TABLE rm_clients ADD COLUMN sort_name TEXT
    GENERATED ALWAYS AS (substr(search, 1, instr(search, char(10)) - 1)) VIRTUAL;
CREATE INDEX rm_clients_name_idx ON rm_clients (tenant, sort_name, client_id, type, active, search);
CREATE INDEX rm_clients_created_idx ON rm_clients (tenant, created_at, client_id, type, active, search);
CREATE INDEX rm_clients_updated_idx ON rm_clients (tenant, updated_at, client_id, type, active, search);

-- +goose Down
DROP INDEX rm_clients_updated_idx;
DROP INDEX rm_clients_created_idx;
DROP INDEX rm_clients_name_idx;
ALTER TABLE rm_clients DROP COLUMN sort_name;
