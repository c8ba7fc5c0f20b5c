-- Job directories kept in the database ({jobdirs}, store/jobdirs.py).

-- name: jobdir_put
-- Fenced: written only while attempt still holds the job (RUNNING), as saves are.
INSERT INTO {jobdirs} (job, attempt, archive, size, time)
SELECT %(id)s, %(attempt)s, %(archive)s, %(size)s, {now}
WHERE EXISTS (SELECT 1 FROM {table} WHERE id = %(id)s AND attempt = %(attempt)s AND status = 1)
ON CONFLICT (job) DO UPDATE SET attempt = excluded.attempt, archive = excluded.archive,
                                size = excluded.size, time = excluded.time

-- name: jobdir_get
SELECT attempt, archive, size, EXTRACT(EPOCH FROM time)::float8 FROM {jobdirs} WHERE job = %(id)s
