-- The worker's side: claim, then writes fenced by (id, attempt, status RUNNING).

-- name: reap
-- Jobs whose lease expired (their worker is presumed dead) go back to START with at least the
-- restart priority, or to ERR_RUN once they have been lost max_attempts times. Uses the partial
-- lease index, so it costs O(log n) however large the table.
UPDATE {table} AS t SET
    losses = t.losses + 1,
    status = CASE WHEN t.losses + 1 >= %(max_attempts)s THEN 5 ELSE 0 END,
    priority = CASE WHEN t.losses + 1 >= %(max_attempts)s THEN t.priority
                    ELSE GREATEST(t.priority, %(restart_priority)s) END,
    end_reason = 'lost',
    error = 'lease expired on attempt ' || t.attempt::text || ' (worker '
            || coalesce(t.worker, '?') || ' on ' || coalesce(t.host, '?') || ' presumed dead); lost '
            || (t.losses + 1)::text || ' time(s), max attempts ' || %(max_attempts)s::text,
    ended = {now},
    lease_until = NULL,
    updated = {now}
WHERE t.id IN (SELECT id FROM {table} WHERE status = 1 AND lease_until < {now}
               ORDER BY lease_until LIMIT 1000 FOR UPDATE SKIP LOCKED)

-- name: claim_set
-- What a claim sets (the claim and finish_claim). A job whose attempt counter is at its maximum
-- (2**63 - 1) cannot take another fencing token: it ends ERR_START instead, counter untouched, and
-- the store claims the next job (SqlStore.claim).
status = CASE WHEN attempt < 9223372036854775807 THEN 1 ELSE 3 END,
attempt = CASE WHEN attempt < 9223372036854775807 THEN attempt + 1 ELSE attempt END,
lease_until = CASE WHEN attempt < 9223372036854775807 THEN {now} + %(lease_s)s * interval '1 second' END,
error = CASE WHEN attempt < 9223372036854775807 THEN error
             ELSE 'attempt counter at its maximum (' || attempt || '): no further attempt can be fenced' END,
host = %(host)s,
worker = %(worker)s,
started = {now},
ended = CASE WHEN attempt < 9223372036854775807 THEN NULL ELSE {now} END,
end_reason = CASE WHEN attempt < 9223372036854775807 THEN NULL ELSE 'start-error' END,
updated = {now}

-- name: claimable
-- The id of the job a claim takes. A START job may still carry the lease of an attempt that runs
-- on after the job was set to START by hand (set_status keeps it): it is claimable once that
-- attempt stops or the lease expires.
SELECT id FROM {table} WHERE status = 0 AND (lease_until IS NULL OR lease_until < {now})
ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED

-- name: claim
UPDATE {table} SET {claim_set}
WHERE id = ({claimable})
RETURNING {job_columns}

-- name: heartbeat
UPDATE {table} SET lease_until = {now} + %(lease_s)s * interval '1 second', updated = {now}
WHERE id = %(id)s AND attempt = %(attempt)s AND status = 1

-- name: save
UPDATE {table} SET
    state = %(state)s::jsonb,
    types = %(types)s::jsonb,
    lease_until = {now} + %(lease_s)s * interval '1 second',
    updated = {now}
WHERE id = %(id)s AND attempt = %(attempt)s AND status = 1

-- name: finish_set
-- What a finish sets (finish and finish_claim).
status = %(status)s,
end_reason = %(end_reason)s,
state = CASE WHEN %(set_state)s THEN %(state)s::jsonb ELSE state END,
types = CASE WHEN %(set_state)s THEN %(types)s::jsonb ELSE types END,
priority = coalesce(%(priority)s::float8, priority),
error = coalesce(%(error)s::text, error),
ended = {now},
lease_until = NULL,
updated = {now}

-- name: finish
UPDATE {table} SET {finish_set}
WHERE id = %(id)s AND attempt = %(attempt)s AND status = 1

-- name: finish_claim
-- A worker that goes on: the finish of its job and the claim of the next in one statement, one
-- round trip per job instead of two (bench/bench_claim.py). They touch different rows: the
-- finished one is RUNNING in the statement's snapshot, the claimed one START. The first column is
-- 1 when the finish was accepted, the others are the claimed job's (all NULL when none was left).
-- PostgreSQL only: SQLite has no UPDATE inside WITH, and a local file no round trip to save.
WITH finished AS (
    UPDATE {table} SET {finish_set}
    WHERE id = %(id)s AND attempt = %(attempt)s AND status = 1
    RETURNING 1
), claimed AS (
    UPDATE {table} SET {claim_set}
    WHERE id = ({claimable})
    RETURNING {job_columns}
)
SELECT (SELECT count(*) FROM finished)::int, claimed.* FROM (SELECT 1) AS one LEFT JOIN claimed ON true

-- name: stale_leases
-- Jobs still leased whose holder is presumed dead (no heartbeat nor save for stale_s): how many,
-- and the seconds until the first of those leases expires. A worker with nothing to claim waits
-- for them rather than leave them behind (worker/leftbehind.py).
SELECT count(*), EXTRACT(EPOCH FROM min(lease_until) - {now})::float8
FROM {table} WHERE status = 1 AND updated < {now} - %(stale_s)s * interval '1 second'

-- name: hand_back_lost_claims
-- After a claim (or a finish_claim) that was retried: a try whose reply was lost may have committed
-- the claim of a job this worker never heard of. That job (RUNNING under this worker's name and
-- host, claimed within the call, not the one the retry returned) goes back to START at once, untried
-- like any job handed back: waiting for its lease to expire would delay it and count a loss.
-- PostgreSQL only: a reply is lost on a network; SQLite's transient errors come before a commit.
UPDATE {table} SET status = 0, end_reason = 'handed-back', ended = {now}, lease_until = NULL, updated = {now}
WHERE status = 1 AND worker = %(worker)s AND host = %(host)s AND id IS DISTINCT FROM %(keep)s::bigint
  AND started >= {now} - %(window_s)s * interval '1 second'

-- name: release_lease
-- The attempt fenced out by a set_status to START (by its status: writes need RUNNING) has stopped: the job
-- is claimable now rather than when the lease it kept expires.
UPDATE {table} SET lease_until = NULL, updated = {now}
WHERE id = %(id)s AND attempt = %(attempt)s AND status <> 1 AND lease_until IS NOT NULL
