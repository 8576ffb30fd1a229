-- The orders of a tenant's client list (projections.ClientSort): by
-- client_id, by name, by creation and by last change, each ending with
-- client_id so that equal keys still have one order, which keyset pages
-- follow (WHERE (key, client_id) > cursor ORDER BY key, client_id). The
-- same indexes serve both directions.
--
-- Each index also holds what the filters test (type, active, search), so
-- that a page is found by an index-only scan, which tests the filters
-- without visiting the table, and only the rows of the page are read
-- from it: a search that matches few of 10,000 clients reads 10,000
-- short index entries rather than 10,000 rows. Index-only scans skip the
-- table for the pages that vacuum has marked all-visible, which the
-- pages of clients that have not changed lately are. An entry stays far
-- below a B-tree's limit (2,704 bytes): a name is at most 200 characters
-- (800 bytes, in sort_name and again in search), a code 196 bytes, a
-- client_id 128 and a slug 63, about 2,000 bytes in all.

-- +goose Up
-- sort_name is the name order's key: the lowercase client_name, which is
-- the first line of search (lowercased by the projector in Go, so that
-- PostgreSQL and SQLite agree), in byte order.
ALTER TABLE rm_clients ADD COLUMN sort_name text COLLATE "C"
    GENERATED ALWAYS AS (split_part(search, E'\n', 1)) STORED;
CREATE INDEX rm_clients_id_list_idx ON rm_clients (tenant, client_id) INCLUDE (type, active, search);
CREATE INDEX rm_clients_name_idx ON rm_clients (tenant, sort_name, client_id) INCLUDE (type, active, search);
CREATE INDEX rm_clients_created_idx ON rm_clients (tenant, created_at, client_id) INCLUDE (type, active, search);
CREATE INDEX rm_clients_updated_idx ON rm_clients (tenant, updated_at, client_id) INCLUDE (type, active, search);

-- +goose Down
DROP INDEX rm_clients_updated_idx;
DROP INDEX rm_clients_created_idx;
DROP INDEX rm_clients_name_idx;
DROP INDEX rm_clients_id_list_idx;
ALTER TABLE rm_clients DROP COLUMN sort_name;
