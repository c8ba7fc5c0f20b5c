-- The dashboard's reads: each view costs one statement, served by an index where it can be
-- (running jobs by the partial lease index, pages in id order by the primary key). Times are
-- epoch seconds.

-- name: board_running
SELECT id, host, worker, attempt,
       extract(epoch FROM {now} - updated)::double precision AS heartbeat_age_s,
       extract(epoch FROM {now} - started)::double precision AS running_s, state, types
FROM {table} WHERE status = 1 ORDER BY id LIMIT %(limit)s

-- name: board_timeline
-- Jobs ended per time bucket and status (a sweep's history) from %(since)s on (epoch seconds: a
-- refresh asks only for its last bucket onwards, read through the {ended_index}); at most %(limit)s buckets.
SELECT (floor(extract(epoch FROM ended) / %(bucket_s)s) * %(bucket_s)s)::double precision AS t,
       status, count(*)
FROM {table} WHERE ended IS NOT NULL AND ended >= to_timestamp(%(since)s)
GROUP BY 1, 2 ORDER BY 1 DESC LIMIT %(limit)s

-- name: board_page
SELECT id, status, priority, host, attempt, extract(epoch FROM ended)::double precision, state, types
FROM {table} WHERE {where} ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s

-- name: board_errors
SELECT id, status, end_reason, host, attempt, extract(epoch FROM ended)::double precision, error, state, types
FROM {table} WHERE status IN (3, 4, 5) ORDER BY ended DESC NULLS LAST, id DESC LIMIT %(limit)s

-- name: board_now
SELECT extract(epoch FROM {now})::double precision

-- name: board_sorted_rows
-- A sorted or filtered page's ids (store/sorted_ids.py): the rows changed since SINCE (epoch
-- seconds) through the {updated_index}, and the rows inserted after the id AFTER_ID (0 for all
-- of them) through the primary key (inserts are serialised by lock_insert: ids grow in commit
-- order), with the sort key's value {expr} and whether they match the filter, beside the
-- database clock (alone when no row was written).
SELECT extract(epoch FROM {now})::double precision, d.id, d.k, d.m
FROM (SELECT 1) AS clock LEFT JOIN (
    SELECT id, ({expr}) AS k, ({where}) AS m FROM {table} WHERE updated >= to_timestamp(%(since)s) AND updated <> created
    UNION ALL
    SELECT id, ({expr}) AS k, ({where}) AS m FROM {table} WHERE id > %(after_id)s
) AS d ON true

-- name: board_rows_by_id
SELECT id, status, priority, host, attempt, extract(epoch FROM ended)::double precision, state, types
FROM {table} WHERE id = ANY(%(ids)s)
