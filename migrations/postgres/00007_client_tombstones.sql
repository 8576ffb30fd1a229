-- What the read model keeps of a deleted client: its tenant, id and the
-- version of its deletion. The projector restores each client's
-- aggregate from the read model to apply the next events; with the
-- tombstone it refuses an event after the deletion as the aggregate
-- does, rather than taking the client for one never registered. Existing
-- stores get a tombstone for every deletion the projection has applied
-- (at or below its checkpoint); later ones it writes itself.

-- +goose Up
CREATE TABLE rm_deleted_clients (
    client_id text COLLATE "C" PRIMARY KEY,
    tenant    text COLLATE "C" NOT NULL,
    version   bigint NOT NULL CHECK (version > 0)
);

INSERT INTO rm_deleted_clients (client_id, tenant, version)
SELECT e.stream_id, e.tenant, e.version
  FROM events e
  JOIN projection_checkpoints cp ON cp.name = 'read_model'
 WHERE e.stream_type = 'client' AND e.type = 'client.deleted'
   AND (e.commit_id, e.position) <= (cp.commit_id, cp.position)
ON CONFLICT (client_id) DO NOTHING;

-- +goose Down
DROP TABLE rm_deleted_clients;
