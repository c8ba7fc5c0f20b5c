-- Searches: registered by jobman sqlsearch, served by the workers (store/searches.py).

-- name: search_lock
-- One per search, held until the transaction ends (works through PgBouncer's transaction pooling).
SELECT pg_advisory_xact_lock(hashtext(%(lock)s))

-- name: search_next_number
SELECT coalesce(max(id), 0) + 1 FROM {searches}

-- name: search_insert
INSERT INTO {searches} (name, experiment, space, fixed, fixed_types, sampler, seed, objective,
                        direction, budget)
VALUES (%(name)s, %(experiment)s, %(space)s, %(fixed)s, %(fixed_types)s, %(sampler)s, %(seed)s,
        %(objective)s, %(direction)s, %(budget)s)
ON CONFLICT (name) DO NOTHING
RETURNING id

-- name: search_all
SELECT s.id, s.name, s.experiment, s.space, s.fixed, s.fixed_types, s.sampler, s.seed, s.objective,
       s.direction, s.budget FROM {searches} AS s ORDER BY s.id

-- name: search_open
-- Searches whose budget is not spent yet, oldest first.
SELECT s.id, s.name, s.experiment, s.space, s.fixed, s.fixed_types, s.sampler, s.seed, s.objective,
       s.direction, s.budget FROM {searches} AS s
WHERE s.budget > (SELECT count(*) FROM {search_jobs} AS j WHERE j.search_id = s.id)
ORDER BY s.id

-- name: search_count
SELECT count(*) FROM {search_jobs} WHERE search_id = %(search_id)s

-- name: search_history
SELECT t.id, t.status, t.state, t.types FROM {search_jobs} AS j JOIN {table} AS t ON t.id = j.job_id
WHERE j.search_id = %(search_id)s ORDER BY t.id

-- name: search_insert_claimed
-- The asked job, inserted already claimed (RUNNING, attempt 1, a lease): nobody else can take it
-- between the insert and the claim. Nothing is returned when an identical job exists.
INSERT INTO {table} AS t (status, priority, experiment, state, types, hash, copy, attempt,
                          lease_until, host, worker, started)
VALUES (1, %(priority)s, %(experiment)s, %(state)s::jsonb, %(types)s::jsonb, %(hash)s, 0, 1,
        {now} + %(lease_s)s * interval '1 second', %(host)s, %(worker)s, {now})
ON CONFLICT (hash, copy) DO NOTHING
RETURNING {job_columns}

-- name: search_link
INSERT INTO {search_jobs} (job_id, search_id) VALUES (%(job_id)s, %(search_id)s)

-- name: search_trials
-- The dashboard's best-so-far curves: every search's jobs above the id %(after)s in id order,
-- with their status and their objective when it is a JSON number (at most %(limit)s rows).
SELECT s.id, s.name, s.objective, s.direction, s.budget, j.job_id, t.status,
       CASE WHEN jsonb_typeof(t.state -> s.objective) = 'number' THEN (t.state ->> s.objective)::float8 END
FROM {search_jobs} AS j JOIN {searches} AS s ON s.id = j.search_id JOIN {table} AS t ON t.id = j.job_id
WHERE j.job_id > %(after)s ORDER BY j.job_id LIMIT %(limit)s
