-- A tenant's login application URL, as its tenant.login_url_set events
-- left it: where the authorization endpoint sends browsers with a
-- login_challenge or consent_challenge. Empty when the tenant has none,
-- which is what every tenant had before the setting existed.

-- +goose Up
ALTER TABLE rm_tenants ADD COLUMN login_url text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE rm_tenants DROP COLUMN login_url;
