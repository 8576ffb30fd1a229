-- clavis_move_checkpoint moves a projection's checkpoint from the position
-- its writer read to the one its changes reach, and fails the surrounding
-- transaction with SQLSTATE CL412 when the checkpoint is no longer where
-- the writer read it (another writer applied in between). The projector
-- sends it first in one pipelined batch with the view writes, as one
-- implicit transaction: a mismatch undoes the whole batch, and the
-- transaction takes its id only as it writes, so it holds back what
-- readers of the event store may see (pg_snapshot_xmin) for one round
-- trip rather than for the whole update. Read-model writes need not wait
-- for the disk: they can always be rebuilt from the events, so the
-- transaction does not wait for its commit record to be flushed.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION clavis_move_checkpoint(p_name text, p_from_commit bigint, p_from_position bigint,
                                       p_to_commit bigint, p_to_position bigint, p_recorded_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    IF (p_to_commit, p_to_position) <= (p_from_commit, p_from_position) THEN
        RAISE EXCEPTION 'checkpoint % would move from %/% back to %/%', p_name,
            p_from_commit, p_from_position, p_to_commit, p_to_position;
    END IF;
    INSERT INTO projection_checkpoints (name, commit_id, position, updated_at)
    VALUES (p_name, 0, 0, now()) ON CONFLICT (name) DO NOTHING;
    UPDATE projection_checkpoints
       SET commit_id = p_to_commit, position = p_to_position, recorded_at = p_recorded_at, updated_at = now()
     WHERE name = p_name AND commit_id = p_from_commit AND position = p_from_position;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'CL412', MESSAGE = 'checkpoint moved';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION clavis_move_checkpoint(text, bigint, bigint, bigint, bigint, timestamptz);
