-- Per-epoch metrics ({metrics}: job, attempt, name, step, value, time). Written in the
-- transaction of a fenced save or finish (so a refused attempt writes none); a retried write
-- replaces its own points instead of doubling them.

-- name: insert_metrics
INSERT INTO {metrics} (job, attempt, name, step, value, time)
SELECT %(id)s, %(attempt)s, p.name, p.step, p.value, {now}
FROM unnest(%(steps)s::bigint[], %(names)s::text[], %(values)s::double precision[]) AS p(step, name, value)
ON CONFLICT (job, name, attempt, step) DO UPDATE SET value = excluded.value, time = excluded.time

-- name: metric_names
-- The names reported by the jobs %(ids)s (an index range per job).
SELECT DISTINCT name FROM {metrics} WHERE job = ANY(%(ids)s) ORDER BY name

-- name: metric_series
-- One metric of the jobs %(ids)s, point by point, each job's attempts in order.
SELECT job, attempt, step, value FROM {metrics}
WHERE job = ANY(%(ids)s) AND name = %(name)s
ORDER BY job, attempt, step

-- name: metric_rows
-- Every point, for export (long format), time in epoch seconds.
SELECT job, attempt, step, name, value, extract(epoch FROM time)::double precision FROM {metrics}
ORDER BY job, name, attempt, step
