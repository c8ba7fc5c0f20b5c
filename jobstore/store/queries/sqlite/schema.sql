-- The job table and its side tables (SQLite). Times are epoch seconds (REAL) from the database
-- clock (the fragment {now} below). Status literals are written out so that the
-- planner can use the partial indexes.

-- name: now
-- The database clock in epoch seconds: every time in the table comes from it, never the client's.
(julianday('now') - 2440587.5) * 86400.0

-- name: table_exists
SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name)

-- name: table_names
-- Every table of the schema: the job tables among them (those with a __meta) are named when
-- a command is given a table that does not exist.
SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name

-- name: schema_version
SELECT value FROM {meta} WHERE key = 'schema_version'

-- name: lock_schema
SELECT :lock

-- name: create_schema
CREATE TABLE IF NOT EXISTS {table} (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    status      INTEGER NOT NULL DEFAULT 0,
    priority    REAL NOT NULL DEFAULT 1.0,
    experiment  TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT '{{}}',
    types       TEXT,
    hash        TEXT NOT NULL,
    copy        INTEGER NOT NULL DEFAULT 0,
    attempt     INTEGER NOT NULL DEFAULT 0,
    losses      INTEGER NOT NULL DEFAULT 0,
    lease_until REAL,
    host        TEXT,
    worker      TEXT,
    created     REAL NOT NULL DEFAULT ({now}),
    started     REAL,
    ended       REAL,
    updated     REAL NOT NULL DEFAULT ({now}),
    error       TEXT,
    end_reason  TEXT,
    CONSTRAINT {unique_hash} UNIQUE (hash, copy)
);
CREATE INDEX IF NOT EXISTS {claim_index} ON {table} (priority DESC, id) WHERE status = 0;
CREATE INDEX IF NOT EXISTS {lease_index} ON {table} (lease_until) WHERE status = 1;
CREATE INDEX IF NOT EXISTS {status_index} ON {table} (status);
-- The dashboard's timeline reads only the jobs ended since its last refresh.
CREATE INDEX IF NOT EXISTS {ended_index} ON {table} (ended) WHERE ended IS NOT NULL;
-- Its sorted and filtered pages read only the rows changed since their last refresh (a row never
-- written since its insert has updated = created and is found by its id).
CREATE INDEX IF NOT EXISTS {updated_index} ON {table} (updated) WHERE updated <> created;
CREATE TABLE IF NOT EXISTS {keys} (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    name  TEXT NOT NULL UNIQUE,
    type  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {views} (name TEXT PRIMARY KEY);
-- Per-epoch metrics (channel.report), written with the fenced saves and the finish. The key
-- makes a retried write (first reply lost) idempotent, and serves the curves of a job by name.
CREATE TABLE IF NOT EXISTS {metrics} (
    job     INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    name    TEXT NOT NULL,
    step    INTEGER NOT NULL,
    value   REAL,
    time    REAL NOT NULL,
    PRIMARY KEY (job, name, attempt, step)
);
CREATE TABLE IF NOT EXISTS {meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Searches (store/searches.py): their definition, and which job belongs to which search.
CREATE TABLE IF NOT EXISTS {searches} (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    experiment  TEXT NOT NULL,
    space       TEXT NOT NULL,
    fixed       TEXT NOT NULL,
    fixed_types TEXT,
    sampler     TEXT NOT NULL,
    seed        INTEGER,
    objective   TEXT NOT NULL,
    direction   TEXT NOT NULL,
    budget      INTEGER NOT NULL,
    created     REAL NOT NULL DEFAULT ({now})
);
CREATE TABLE IF NOT EXISTS {search_jobs} (job_id INTEGER PRIMARY KEY, search_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS {search_jobs_index} ON {search_jobs} (search_id, job_id);
-- Job directories kept in the database (jobman sql --jobdir=db): one compressed tar archive per
-- job, the last attempt's, written fenced by that attempt (store/jobdirs.py).
CREATE TABLE IF NOT EXISTS {jobdirs} (
    job     INTEGER PRIMARY KEY,
    attempt INTEGER NOT NULL,
    archive BLOB NOT NULL,
    size    INTEGER NOT NULL,
    time    REAL NOT NULL
);
-- Errors a hand-requeue (sqlstatus --set_status=START) cleared from their rows: the attempt
-- history that sqlstatus --traceback shows (store/history.py); also created on first use.
CREATE TABLE IF NOT EXISTS {errors} (
    job        INTEGER NOT NULL,
    attempt    INTEGER NOT NULL,
    status     INTEGER NOT NULL,
    end_reason TEXT,
    error      TEXT NOT NULL,
    ended      REAL,
    cleared    REAL NOT NULL DEFAULT ({now})
);
CREATE INDEX IF NOT EXISTS {errors_index} ON {errors} (job);

-- name: table_uuid
-- The table's identity (a UUID made with it): job directories carry it in their marker
-- files, so that a re-created table or a namesake elsewhere never reuses them.
SELECT value FROM {meta} WHERE key = 'table_uuid'

-- name: insert_table_uuid
-- Made with the table by ensure_schema, and lazily for tables made before it: the first
-- writer wins, every reader then reads the same value back.
INSERT OR IGNORE INTO {meta} (key, value) VALUES ('table_uuid', :uuid)

-- name: set_schema_version
INSERT INTO {meta} (key, value) VALUES ('schema_version', :version)
ON CONFLICT (key) DO UPDATE SET value = excluded.value

-- name: migrate_1
-- Version 1 -> 2 adds only side tables and indexes (metrics, searches and their jobs, the index
-- on ended): create_schema, run after every migration, creates them (every statement there is IF
-- NOT EXISTS), so this step itself has nothing to change.
SELECT 1

-- name: migrate_2
-- Version 2 -> 3 adds only the side table of job directories ({jobdirs}, jobman sql --jobdir=db):
-- create_schema, run after every migration, creates it, so this step has nothing to change.
SELECT 1

-- name: migrate_3
-- Version 3 -> 4 made the counters bigint on PostgreSQL; SQLite's INTEGER is already 64-bit, so
-- this step has nothing to change (create_schema, run next, adds the dashboard's {updated_index}).
SELECT 1
