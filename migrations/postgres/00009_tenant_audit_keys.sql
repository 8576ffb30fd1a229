-- A tenant's audit keys, as the tenant events left them: a JSON array of
-- {name, verifier, sealed, added_at} in the order added, the last one
-- signing the audit log's checkpoints, the signer keys sealed under the
-- platform master key. Tenants created before audit keys existed have
-- none until a node starts and gives them one.

-- +goose Up
ALTER TABLE rm_tenants ADD COLUMN audit_keys json NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE rm_tenants DROP COLUMN audit_keys;
