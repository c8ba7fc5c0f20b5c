-- The job table and its side tables. {table}, {meta}, {keys}, {views} and the index names are
-- quoted identifiers filled in by the store; values are always bound parameters.
-- Status literals (0 START, 1 RUNNING) are written out so that the planner can match the
-- partial indexes.

-- name: now
-- The database clock: every time in the table comes from it, never the client's.
now()

-- name: table_exists
-- pg_tables' test on pg_class itself: the view's joins cost a new connection 0.75 ms of server
-- time for three lookups (1.8 against 1.0), and every command and worker starts with two.
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class
               WHERE relname = %(name)s AND relkind IN ('r', 'p')
                 AND relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = current_schema()))

-- name: table_names
-- Every table of the schema: the job tables among them (those with a __meta) are named when
-- a command is given a table that does not exist.
SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() ORDER BY tablename

-- name: schema_version
SELECT value FROM {meta} WHERE key = 'schema_version'

-- name: lock_schema
SELECT pg_advisory_xact_lock(hashtext(%(lock)s))

-- name: create_schema
CREATE TABLE IF NOT EXISTS {table} (
    id          bigserial PRIMARY KEY,
    status      integer NOT NULL DEFAULT 0,
    priority    double precision NOT NULL DEFAULT 1.0,
    experiment  text NOT NULL,
    state       jsonb NOT NULL DEFAULT '{{}}',
    types       jsonb,
    hash        text NOT NULL,
    -- counters are bigint: an attempt number never overflows (schema version 4, migrate_3)
    copy        bigint NOT NULL DEFAULT 0,
    attempt     bigint NOT NULL DEFAULT 0,
    losses      bigint NOT NULL DEFAULT 0,
    lease_until timestamptz,
    host        text,
    worker      text,
    created     timestamptz NOT NULL DEFAULT {now},
    started     timestamptz,
    ended       timestamptz,
    updated     timestamptz NOT NULL DEFAULT {now},
    error       text,
    end_reason  text,
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
    seq   bigserial,
    name  text PRIMARY KEY,
    type  text NOT NULL
);
CREATE TABLE IF NOT EXISTS {views} (name text PRIMARY KEY);
-- Per-epoch metrics (channel.report), written with the fenced saves and the finish. The key
-- makes a retried write (first reply lost) idempotent, and serves the curves of a job by name.
CREATE TABLE IF NOT EXISTS {metrics} (
    job     bigint NOT NULL,
    attempt bigint NOT NULL,
    name    text NOT NULL,
    step    bigint NOT NULL,
    value   double precision,
    time    timestamptz NOT NULL,
    PRIMARY KEY (job, name, attempt, step)
);
CREATE TABLE IF NOT EXISTS {meta} (key text PRIMARY KEY, value text NOT NULL);
-- Searches (store/searches.py): their definition, and which job belongs to which search.
CREATE TABLE IF NOT EXISTS {searches} (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    experiment  text NOT NULL,
    space       text NOT NULL,
    fixed       text NOT NULL,
    fixed_types text,
    sampler     text NOT NULL,
    seed        bigint,
    objective   text NOT NULL,
    direction   text NOT NULL,
    budget      bigint NOT NULL,
    created     timestamptz NOT NULL DEFAULT {now}
);
CREATE TABLE IF NOT EXISTS {search_jobs} (job_id bigint PRIMARY KEY, search_id bigint NOT NULL);
CREATE INDEX IF NOT EXISTS {search_jobs_index} ON {search_jobs} (search_id, job_id);
-- Job directories kept in the database (jobman sql --jobdir=db): one compressed tar archive per
-- job, the last attempt's, written fenced by that attempt (store/jobdirs.py).
CREATE TABLE IF NOT EXISTS {jobdirs} (
    job     bigint PRIMARY KEY,
    attempt bigint NOT NULL,
    archive bytea NOT NULL,
    size    bigint NOT NULL,
    time    timestamptz NOT NULL
);
-- Errors a hand-requeue (sqlstatus --set_status=START) cleared from their rows: the attempt
-- history that sqlstatus --traceback shows (store/history.py); also created on first use.
CREATE TABLE IF NOT EXISTS {errors} (
    job        bigint NOT NULL,
    attempt    bigint NOT NULL,
    status     integer NOT NULL,
    end_reason text,
    error      text NOT NULL,
    ended      timestamptz,
    cleared    timestamptz NOT NULL DEFAULT {now}
);
CREATE INDEX IF NOT EXISTS {errors_index} ON {errors} (job);

-- name: table_uuid
-- The table's identity (a UUID made with it): job directories carry it in their marker
-- files, so that a re-created table or a namesake elsewhere never reuses them.
SELECT value FROM {meta} WHERE key = 'table_uuid'

-- name: insert_table_uuid
-- Made with the table by ensure_schema, and lazily for tables made before it: the first
-- writer wins, every reader then reads the same value back.
INSERT INTO {meta} (key, value) VALUES ('table_uuid', %(uuid)s)
ON CONFLICT (key) DO NOTHING

-- name: set_schema_version
INSERT INTO {meta} (key, value) VALUES ('schema_version', %(version)s)
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
-- Version 3 -> 4: every counter (attempt numbers, lost-lease and copy counts, search budgets) is
-- bigint, so that a job at attempt 2147483647 can still be claimed. create_schema already says
-- bigint for a new table; these rewrite the columns of an old one in place, rows kept (create_schema,
-- run next, also adds the dashboard's index of changed rows, {updated_index}). A side
-- table an old version never made is skipped (IF EXISTS): create_schema, run next, makes it.
ALTER TABLE {table} ALTER COLUMN attempt TYPE bigint, ALTER COLUMN losses TYPE bigint,
    ALTER COLUMN copy TYPE bigint;
ALTER TABLE IF EXISTS {metrics} ALTER COLUMN attempt TYPE bigint;
ALTER TABLE IF EXISTS {jobdirs} ALTER COLUMN attempt TYPE bigint;
ALTER TABLE IF EXISTS {errors} ALTER COLUMN attempt TYPE bigint;
ALTER TABLE IF EXISTS {searches} ALTER COLUMN budget TYPE bigint
