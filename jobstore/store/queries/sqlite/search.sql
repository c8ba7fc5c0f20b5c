-- Searches: registered by jobman sqlsearch, served by the workers (store/searches.py).

-- name: search_lock
-- BEGIN IMMEDIATE already serialises every writer of the file.
SELECT :lock

-- name: search_next_number
SELECT coalesce(max(id), 0) + 1 FROM {searches}

-- name: search_insert
INSERT INTO {searches} (name, experiment, space, fixed, fixed_types, sampler, seed, objective,
                        direction, budget)
VALUES (:name, :experiment, :space, :fixed, :fixed_types, :sampler, :seed, :objective,
        :direction, :budget)
ON CONFLICT (name) DO NOTHING
RETURNING id

-- name: search_all
SELECT s.id, s.name, s.experiment, s.space, s.fixed, s.fixed_types, s.sampler, s.seed, s.objective,
       s.direction, s.budget FROM {searches} AS s ORDER BY s.id

-- name: search_open
SELECT s.id, s.name, s.experiment, s.space, s.fixed, s.fixed_types, s.sampler, s.seed, s.objective,
       s.direction, s.budget FROM {searches} AS s
WHERE s.budget > (SELECT count(*) FROM {search_jobs} AS j WHERE j.search_id = s.id)
ORDER BY s.id

-- name: search_count
SELECT count(*) FROM {search_jobs} WHERE search_id = :search_id

-- name: search_history
SELECT t.id, t.status, t.state, t.types FROM {search_jobs} AS j JOIN {table} AS t ON t.id = j.job_id
WHERE j.search_id = :search_id ORDER BY t.id

-- name: search_insert_claimed
INSERT INTO {table} (status, priority, experiment, state, types, hash, copy, attempt,
                     lease_until, host, worker, started)
VALUES (1, :priority, :experiment, :state, :types, :hash, 0, 1, {now} + :lease_s, :host, :worker, {now})
ON CONFLICT (hash, copy) DO NOTHING
RETURNING {job_columns}

-- name: search_link
INSERT INTO {search_jobs} (job_id, search_id) VALUES (:job_id, :search_id)

-- name: search_trials
-- The dashboard's best-so-far curves: every search's jobs above the id :after in id order,
-- with their status and their objective when it is a JSON number (at most :limit rows).
SELECT s.id, s.name, s.objective, s.direction, s.budget, j.job_id, t.status,
       (SELECT e.value FROM json_each(t.state) AS e WHERE e.key = s.objective AND e.type IN ('integer', 'real'))
FROM {search_jobs} AS j JOIN {searches} AS s ON s.id = j.search_id JOIN {table} AS t ON t.id = j.job_id
WHERE j.job_id > :after ORDER BY j.job_id LIMIT :limit
