-- The dashboard's reads: each view costs one statement, served by an index where it can be
-- (running jobs by the partial lease index, pages in id order by the primary key). Times are
-- epoch seconds.

-- name: board_running
SELECT id, host, worker, attempt, {now} - updated AS heartbeat_age_s, {now} - started AS running_s,
       state, types
FROM {table} WHERE status = 1 ORDER BY id LIMIT :limit

-- name: board_timeline
SELECT CAST(ended / :bucket_s AS INTEGER) * :bucket_s AS t, status, count(*)
FROM {table} WHERE ended IS NOT NULL AND ended >= :since GROUP BY 1, 2 ORDER BY 1 DESC LIMIT :limit

-- name: board_page
SELECT id, status, priority, host, attempt, ended, state, types
FROM {table} WHERE {where} ORDER BY {order} LIMIT :limit OFFSET :offset

-- name: board_errors
SELECT id, status, end_reason, host, attempt, ended, error, state, types
FROM {table} WHERE status IN (3, 4, 5) ORDER BY ended IS NULL, ended DESC, id DESC LIMIT :limit

-- name: board_now
SELECT {now}

-- name: board_sorted_rows
-- A sorted or filtered page's ids (store/sorted_ids.py): the rows changed since SINCE (epoch
-- seconds) through the {updated_index}, and the rows inserted after the id AFTER_ID (0 for all
-- of them) through the primary key (inserts are serialised by lock_insert: ids grow in commit
-- order), with the sort key's value {expr} and whether they match the filter, beside the
-- database clock (alone when no row was written).
SELECT {now}, d.id, d.k, d.m
FROM (SELECT 1) AS clock LEFT JOIN (
    SELECT id, ({expr}) AS k, ({where}) AS m FROM {table} WHERE updated >= :since AND updated <> created
    UNION ALL
    SELECT id, ({expr}) AS k, ({where}) AS m FROM {table} WHERE id > :after_id
) AS d ON 1

-- name: board_rows_by_id
SELECT id, status, priority, host, attempt, ended, state, types
FROM {table} WHERE id IN (SELECT value FROM json_each(:ids))
