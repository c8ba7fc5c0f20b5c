-- The errors cleared from their rows by a hand-requeue ({errors}, store/history.py).

-- name: errors_archive
-- Before a requeue clears them: every selected row's error, with the attempt that made it.
INSERT INTO {errors} (job, attempt, status, end_reason, error, ended)
SELECT id, attempt, status, end_reason, error, ended FROM {table}
WHERE id IN (SELECT value FROM json_each(:ids)) AND error IS NOT NULL

-- name: errors_of
SELECT attempt, status, end_reason, error, ended, cleared
FROM {errors} WHERE job = :id ORDER BY cleared, attempt
