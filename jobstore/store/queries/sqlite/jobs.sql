-- Scheduling, queries and administration of the job table (SQLite).

-- name: job_columns
id, status, priority, experiment, state, types, hash, copy, attempt, losses, host, worker,
lease_until, created, started, ended, updated, error, end_reason

-- name: insert_tmp_create
CREATE TEMP TABLE IF NOT EXISTS jobstore_insert (
    ord INTEGER, experiment TEXT, priority REAL, state TEXT, types TEXT, hash TEXT, copy INTEGER
)

-- name: insert_copy
INSERT INTO temp.jobstore_insert (ord, experiment, priority, state, types, hash, copy)
VALUES (?, ?, ?, ?, ?, ?, ?)

-- name: insert_from_tmp
INSERT INTO {table} (status, priority, experiment, state, types, hash, copy)
SELECT 0, priority, experiment, state, types, hash, copy
FROM temp.jobstore_insert WHERE true ORDER BY ord
ON CONFLICT (hash, copy) DO NOTHING
RETURNING id, hash, copy

-- name: insert_tmp_clear
DELETE FROM temp.jobstore_insert

-- name: lock_insert
SELECT :lock

-- name: max_copies
SELECT hash, max(copy) FROM {table} WHERE hash IN (SELECT value FROM json_each(:hashes)) GROUP BY hash

-- name: get
SELECT {job_columns} FROM {table} WHERE id = :id

-- name: jobs
SELECT {job_columns} FROM {table} WHERE {where} ORDER BY id

-- name: by_hashes
-- The jobs already scheduled with these contents (every copy): what a re-run of sqlschedules skipped.
SELECT {job_columns} FROM {table} WHERE hash IN (SELECT value FROM json_each(:hashes)) ORDER BY id

-- name: count
SELECT count(*) FROM {table} WHERE {where}

-- name: count_by_status
SELECT status, count(*) FROM {table} GROUP BY status ORDER BY status

-- name: where_ids
id IN (SELECT value FROM json_each(:ids))

-- name: where_statuses
status IN (SELECT value FROM json_each(:statuses))

-- name: where_column
{column} IN (SELECT value FROM json_each(:v{n}))

-- name: where_key
{extract} IN (SELECT CASE type WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE value END
              FROM json_each(:v{n}))

-- name: limit
LIMIT :limit

-- name: set_status
UPDATE {table} SET
    status = :status,
    -- A new token only for a RUNNING set by hand: a job set to anything else is fenced by its status
    -- (writes need RUNNING) until the next claim takes a new attempt, so a requeue costs no attempt.
    attempt = CASE WHEN :status = 1 THEN attempt + 1 ELSE attempt END,
    -- A hand-requeue starts afresh: the error (archived first, store/history.py) and lost leases go.
    error = CASE WHEN :status = 0 THEN NULL ELSE error END,
    losses = CASE WHEN :status = 0 THEN 0 ELSE losses END,
    -- a running job set to START keeps its lease: not claimable while its attempt runs on
    -- (release_lease frees it as soon as that attempt stops)
    lease_until = CASE WHEN :status = 1 THEN {now} WHEN :status = 0 THEN lease_until ELSE NULL END,
    end_reason = CASE WHEN :status = -1 THEN 'canceled' ELSE end_reason END,
    ended = CASE WHEN status = 1 AND :status <> 1 THEN {now} ELSE ended END,
    updated = {now}
WHERE id IN (SELECT value FROM json_each(:ids))

-- name: set_priority
UPDATE {table} SET priority = :priority, updated = {now}
WHERE id IN (SELECT value FROM json_each(:ids))

-- name: next_id
SELECT NULL WHERE :table IS NULL

-- name: rewind_ids
SELECT NULL WHERE :next < 0 AND :table IS NULL

-- name: insert_direct
SELECT NULL
