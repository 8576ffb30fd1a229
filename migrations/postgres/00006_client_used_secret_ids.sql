-- The ids of every secret a client ever held, revoked ones included: a
-- JSON array of strings, sorted. Secret ids are never reused, and the
-- projector restores each client's aggregate from its row to apply the
-- next events, so the row must know them to refuse a reused id as the
-- aggregate does. Existing rows get them from the client's events up to
-- the version the row reflects (events the projection has not applied
-- yet are left to it).

-- +goose Up
ALTER TABLE rm_clients ADD COLUMN used_secret_ids json NOT NULL DEFAULT '[]';

UPDATE rm_clients r
   SET used_secret_ids = u.ids
  FROM (SELECT c.tenant, c.client_id,
               json_agg(DISTINCT s.id COLLATE "C" ORDER BY s.id COLLATE "C") AS ids
          FROM rm_clients c
          JOIN events e
            ON e.tenant = c.tenant AND e.stream_type = 'client' AND e.stream_id = c.client_id
           AND e.version <= c.version
           AND e.type IN ('client.registered', 'client.secret_added', 'client.secret_rotated')
         CROSS JOIN LATERAL (SELECT convert_from(e.data, 'UTF8')::jsonb AS d) j
         CROSS JOIN LATERAL (
               SELECT x->>'id' FROM jsonb_array_elements(
                   CASE WHEN e.type = 'client.registered' AND jsonb_typeof(j.d->'secrets') = 'array'
                        THEN j.d->'secrets' ELSE '[]'::jsonb END) AS x
               UNION ALL
               SELECT j.d->'secret'->>'id' WHERE e.type = 'client.secret_added'
               UNION ALL
               SELECT j.d->'new'->>'id' WHERE e.type = 'client.secret_rotated'
             ) AS s(id)
         WHERE s.id IS NOT NULL
         GROUP BY c.tenant, c.client_id) u
 WHERE r.tenant = u.tenant AND r.client_id = u.client_id;

-- +goose Down
ALTER TABLE rm_clients DROP COLUMN used_secret_ids;
