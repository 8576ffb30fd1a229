-- A tenant's signing keys, as the tenant events left them: a JSON array
-- of {kid, alg, public_jwk, sealed_private_key, added_at, active_from,
-- signs_until, published_until}, the private keys sealed under the
-- platform master key. Tenants created before keys existed have none
-- until an operator rotates their key.

-- +goose Up
ALTER TABLE rm_tenants ADD COLUMN keys json NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE rm_tenants DROP COLUMN keys;
