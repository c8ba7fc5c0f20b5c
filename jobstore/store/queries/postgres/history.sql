-- The errors cleared from their rows by a hand-requeue ({errors}, store/history.py).

-- name: errors_archive
-- Before a requeue clears them: every selected row's error, with the attempt that made it.
INSERT INTO {errors} (job, attempt, status, end_reason, error, ended)
SELECT id, attempt, status, end_reason, error, ended FROM {table}
WHERE id = ANY(%(ids)s) AND error IS NOT NULL

-- name: errors_of
SELECT attempt, status, end_reason, error, extract(epoch FROM ended)::float8, extract(epoch FROM cleared)::float8
FROM {errors} WHERE job = %(id)s ORDER BY cleared, attempt
