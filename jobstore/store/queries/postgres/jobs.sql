-- Scheduling, queries and administration of the job table.

-- name: job_columns
-- date_part gives the epoch as float8 directly; extract(epoch ...) computes a numeric since
-- PostgreSQL 14, whose cast costs a claim about 5% of its server time (the same value: both are
-- the correctly rounded microseconds / 10^6).
id, status, priority, experiment, state, types, hash, copy, attempt, losses, host, worker,
date_part('epoch', lease_until), date_part('epoch', created),
date_part('epoch', started), date_part('epoch', ended),
date_part('epoch', updated), error, end_reason

-- name: insert_tmp_create
CREATE TEMP TABLE IF NOT EXISTS jobstore_insert (
    ord integer, experiment text, priority double precision, state text, types text,
    hash text, copy bigint
) ON COMMIT DROP

-- name: insert_copy
COPY jobstore_insert (ord, experiment, priority, state, types, hash, copy) FROM STDIN

-- name: insert_from_tmp
INSERT INTO {table} AS t (status, priority, experiment, state, types, hash, copy)
SELECT 0, priority, experiment, state::jsonb, types::jsonb, hash, copy
FROM jobstore_insert ORDER BY ord
ON CONFLICT (hash, copy) DO NOTHING
RETURNING id, hash, copy

-- name: lock_insert
SELECT pg_advisory_xact_lock(hashtext(%(lock)s))

-- name: max_copies
SELECT hash, max(copy) FROM {table} WHERE hash = ANY(%(hashes)s) GROUP BY hash

-- name: get
SELECT {job_columns} FROM {table} WHERE id = %(id)s

-- name: jobs
SELECT {job_columns} FROM {table} WHERE {where} ORDER BY id

-- name: by_hashes
-- The jobs already scheduled with these contents (every copy): what a re-run of sqlschedules skipped.
SELECT {job_columns} FROM {table} WHERE hash = ANY(%(hashes)s) ORDER BY id

-- name: count
SELECT count(*) FROM {table} WHERE {where}

-- name: count_by_status
SELECT status, count(*) FROM {table} GROUP BY status ORDER BY status

-- name: where_ids
id = ANY(%(ids)s)

-- name: where_statuses
status = ANY(%(statuses)s)

-- name: where_column
{column} = ANY(%(v{n})s)

-- name: where_key
state -> %(k{n})s::text = ANY(%(v{n})s::text[]::jsonb[])

-- name: limit
LIMIT %(limit)s

-- name: set_status
UPDATE {table} SET
    status = %(status)s,
    -- A new token only for a RUNNING set by hand: a job set to anything else is fenced by its status
    -- (writes need RUNNING) until the next claim takes a new attempt, so a requeue costs no attempt.
    attempt = CASE WHEN %(status)s = 1 THEN attempt + 1 ELSE attempt END,
    -- A hand-requeue starts afresh: the error (archived first, store/history.py) and lost leases go.
    error = CASE WHEN %(status)s = 0 THEN NULL ELSE error END,
    losses = CASE WHEN %(status)s = 0 THEN 0 ELSE losses END,
    -- a running job set to START keeps its lease: not claimable while its attempt runs on
    -- (release_lease frees it as soon as that attempt stops)
    lease_until = CASE WHEN %(status)s = 1 THEN {now} WHEN %(status)s = 0 THEN lease_until ELSE NULL END,
    end_reason = CASE WHEN %(status)s = -1 THEN 'canceled' ELSE end_reason END,
    ended = CASE WHEN status = 1 AND %(status)s <> 1 THEN {now} ELSE ended END,
    updated = {now}
WHERE id = ANY(%(ids)s)

-- name: set_priority
UPDATE {table} SET priority = %(priority)s, updated = {now} WHERE id = ANY(%(ids)s)

-- name: insert_tmp_clear
DELETE FROM jobstore_insert

-- name: next_id
-- The first id of a direct insert; run under lock_insert (all inserts take it) so that no other
-- insert draws from the sequence until rewind_ids.
SELECT nextval(pg_get_serial_sequence(%(table)s, 'id'))

-- name: rewind_ids
-- After a direct insert: the next id drawn is %(next)s (the one after the last used).
SELECT setval(pg_get_serial_sequence(%(table)s, 'id'), %(next)s, false)

-- name: insert_direct
COPY {table} (id, experiment, priority, state, types, hash, copy) FROM STDIN
