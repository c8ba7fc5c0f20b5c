-- Job directories kept in the database ({jobdirs}, store/jobdirs.py).

-- name: jobdir_put
-- Fenced: written only while attempt still holds the job (RUNNING), as saves are.
INSERT INTO {jobdirs} (job, attempt, archive, size, time)
SELECT :id, :attempt, :archive, :size, {now}
WHERE EXISTS (SELECT 1 FROM {table} WHERE id = :id AND attempt = :attempt AND status = 1)
ON CONFLICT (job) DO UPDATE SET attempt = excluded.attempt, archive = excluded.archive,
                                size = excluded.size, time = excluded.time

-- name: jobdir_get
SELECT attempt, archive, size, time FROM {jobdirs} WHERE job = :id
