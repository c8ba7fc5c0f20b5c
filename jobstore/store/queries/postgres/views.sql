-- The key registry and the typed views built from it.

-- name: lock_keys
SELECT pg_advisory_xact_lock(hashtext(%(lock)s))

-- name: all_keys
SELECT name, type FROM {keys} ORDER BY seq

-- name: upsert_key
INSERT INTO {keys} (name, type) VALUES (%(name)s, %(type)s)
ON CONFLICT (name) DO UPDATE SET type = %(type)s

-- name: registered_views
SELECT name FROM {views} ORDER BY name

-- name: register_view
INSERT INTO {views} (name) VALUES (%(name)s) ON CONFLICT (name) DO NOTHING

-- name: unregister_view
DELETE FROM {views} WHERE name = %(name)s

-- name: view_exists
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_views
               WHERE schemaname = current_schema() AND viewname = %(name)s)

-- name: drop_view
DROP VIEW IF EXISTS {view}

-- name: create_view
CREATE VIEW {view} AS SELECT {columns} FROM {table}

-- name: view_lock_timeout
SET LOCAL lock_timeout = '10s'

-- name: view_row_time
-- A time column of the row in a view: epoch seconds ({column} is a timestamptz).
extract(epoch FROM {column})::float8

-- name: view_iso_time
-- Epoch seconds as ISO 8601 text in UTC, the column beside each time in a view.
to_char(to_timestamp({epoch}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')

-- name: view_extra_keys
-- The column extra_keys of a view past the column cap (views.VIEW_MAX_KEY_COLUMNS): the keys of
-- the state that have no column of their own, as one JSON object ({chosen}: the keys that do,
-- as string literals); NULL for a job with none.
NULLIF(state - ARRAY[{chosen}]::text[], '{{}}'::jsonb)
