-- Per-epoch metrics ({metrics}: job, attempt, name, step, value, time). Written in the
-- transaction of a fenced save or finish (so a refused attempt writes none); a retried write
-- replaces its own points instead of doubling them. Lists arrive as JSON arrays.

-- name: insert_metrics
INSERT INTO {metrics} (job, attempt, name, step, value, time)
SELECT :id, :attempt, n.value, s.value, v.value, {now}
FROM json_each(:steps) AS s
JOIN json_each(:names) AS n ON n.key = s.key
JOIN json_each(:values) AS v ON v.key = s.key
WHERE true
ON CONFLICT (job, name, attempt, step) DO UPDATE SET value = excluded.value, time = excluded.time

-- name: metric_names
SELECT DISTINCT name FROM {metrics} WHERE job IN (SELECT value FROM json_each(:ids)) ORDER BY name

-- name: metric_series
SELECT job, attempt, step, value FROM {metrics}
WHERE job IN (SELECT value FROM json_each(:ids)) AND name = :name
ORDER BY job, attempt, step

-- name: metric_rows
SELECT job, attempt, step, name, value, time FROM {metrics}
ORDER BY job, name, attempt, step
