-- The ids of every secret a client ever held, revoked ones included: a
-- JSON array of strings, sorted. Secret ids are never reused, and the
-- projector restores each client's aggregate from its row to apply the
-- next events, so the row must know them to refuse a reused id as the
-- aggregate does. Existing rows get them from the client's events up to
-- the version the row reflects (events the projection has not applied
-- yet are left to it).

-- +goose Up
ALTER TABLE rm_clients ADD COLUMN used_secret_ids TEXT NOT NULL DEFAULT '[]';

UPDATE rm_clients
   SET used_secret_ids = coalesce((
       SELECT json_group_array(id) FROM (
           SELECT DISTINCT id FROM (
               SELECT json_extract(s.value, '$.id') AS id
                 FROM events e, json_each(CAST(e.data AS TEXT), '$.secrets') s
                WHERE e.tenant = rm_clients.tenant AND e.stream_type = 'client'
                  AND e.stream_id = rm_clients.client_id AND e.version <= rm_clients.version
                  AND e.type = 'client.registered'
               UNION ALL
               SELECT json_extract(CAST(e.data AS TEXT), '$.secret.id')
                 FROM events e
                WHERE e.tenant = rm_clients.tenant AND e.stream_type = 'client'
                  AND e.stream_id = rm_clients.client_id AND e.version <= rm_clients.version
                  AND e.type = 'client.secret_added'
               UNION ALL
               SELECT json_extract(CAST(e.data AS TEXT), '$.new.id')
                 FROM events e
                WHERE e.tenant = rm_clients.tenant AND e.stream_type = 'client'
                  AND e.stream_id = rm_clients.client_id AND e.version <= rm_clients.version
                  AND e.type = 'client.secret_rotated')
            WHERE id IS NOT NULL
            ORDER BY id)), '[]');

-- +goose Down
ALTER TABLE rm_clients DROP COLUMN used_secret_ids;
