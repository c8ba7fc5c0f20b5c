-- The key registry and the typed views built from it (SQLite).

-- name: lock_keys
SELECT :lock

-- name: all_keys
SELECT name, type FROM {keys} ORDER BY seq

-- name: upsert_key
INSERT INTO {keys} (name, type) VALUES (:name, :type)
ON CONFLICT (name) DO UPDATE SET type = excluded.type

-- name: registered_views
SELECT name FROM {views} ORDER BY name

-- name: register_view
INSERT INTO {views} (name) VALUES (:name) ON CONFLICT (name) DO NOTHING

-- name: unregister_view
DELETE FROM {views} WHERE name = :name

-- name: view_exists
SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = :name)

-- name: drop_view
DROP VIEW IF EXISTS {view}

-- name: create_view
CREATE VIEW {view} AS SELECT {columns} FROM {table}

-- name: view_lock_timeout
SELECT 1

-- name: view_row_time
-- A time column of the row in a view: epoch seconds ({column} is REAL already).
{column}

-- name: view_iso_time
-- Epoch seconds as ISO 8601 text in UTC, the column beside each time in a view.
strftime('%Y-%m-%dT%H:%M:%SZ', {epoch}, 'unixepoch')

-- name: view_extra_keys
-- The column extra_keys of a view past the column cap (views.VIEW_MAX_KEY_COLUMNS): the keys of
-- the state that have no column of their own, as one JSON object ({chosen}: the keys that do,
-- as string literals); NULL for a job with none. JSON booleans stay booleans (json_each says 1/0).
NULLIF((SELECT json_group_object(key, CASE type WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
                                                ELSE value END)
        FROM json_each({table}.state) WHERE key NOT IN ({chosen})), '{{}}')
