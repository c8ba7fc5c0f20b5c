-- The worker's side (SQLite): claim inside BEGIN IMMEDIATE, then writes fenced by
-- (id, attempt, status RUNNING).

-- name: reap
UPDATE {table} SET
    losses = losses + 1,
    status = CASE WHEN losses + 1 >= :max_attempts THEN 5 ELSE 0 END,
    priority = CASE WHEN losses + 1 >= :max_attempts THEN priority
                    ELSE max(priority, :restart_priority) END,
    end_reason = 'lost',
    error = 'lease expired on attempt ' || attempt || ' (worker ' || coalesce(worker, '?') || ' on '
            || coalesce(host, '?') || ' presumed dead); lost ' || (losses + 1) || ' time(s), max attempts '
            || :max_attempts,
    ended = {now},
    lease_until = NULL,
    updated = {now}
WHERE id IN (SELECT id FROM {table} WHERE status = 1
             AND lease_until < {now}
             ORDER BY lease_until LIMIT 1000)

-- name: claim_set
-- What a claim sets. A job whose attempt counter is at its maximum (2**63 - 1) cannot take another
-- fencing token: it ends ERR_START instead, counter untouched, and the store claims the next job
-- (SqlStore.claim).
status = CASE WHEN attempt < 9223372036854775807 THEN 1 ELSE 3 END,
attempt = CASE WHEN attempt < 9223372036854775807 THEN attempt + 1 ELSE attempt END,
lease_until = CASE WHEN attempt < 9223372036854775807 THEN {now} + :lease_s END,
error = CASE WHEN attempt < 9223372036854775807 THEN error
             ELSE 'attempt counter at its maximum (' || attempt || '): no further attempt can be fenced' END,
host = :host,
worker = :worker,
started = {now},
ended = CASE WHEN attempt < 9223372036854775807 THEN NULL ELSE {now} END,
end_reason = CASE WHEN attempt < 9223372036854775807 THEN NULL ELSE 'start-error' END,
updated = {now}

-- name: claimable
-- The id of the job a claim takes. A START job may still carry the lease of an attempt that runs
-- on after the job was set to START by hand (set_status keeps it): it is claimable once that
-- attempt stops or the lease expires.
SELECT id FROM {table} WHERE status = 0 AND (lease_until IS NULL OR lease_until < {now})
ORDER BY priority DESC, id LIMIT 1

-- name: claim
UPDATE {table} SET {claim_set}
WHERE id = ({claimable})
RETURNING {job_columns}

-- name: heartbeat
UPDATE {table} SET
    lease_until = {now} + :lease_s,
    updated = {now}
WHERE id = :id AND attempt = :attempt AND status = 1

-- name: save
UPDATE {table} SET
    state = :state,
    types = :types,
    lease_until = {now} + :lease_s,
    updated = {now}
WHERE id = :id AND attempt = :attempt AND status = 1

-- name: finish_set
-- What a finish sets.
status = :status,
end_reason = :end_reason,
state = CASE WHEN :set_state THEN :state ELSE state END,
types = CASE WHEN :set_state THEN :types ELSE types END,
priority = coalesce(:priority, priority),
error = coalesce(:error, error),
ended = {now},
lease_until = NULL,
updated = {now}

-- name: finish
UPDATE {table} SET {finish_set}
WHERE id = :id AND attempt = :attempt AND status = 1

-- name: stale_leases
-- Jobs still leased whose holder is presumed dead (no heartbeat nor save for stale_s): how many,
-- and the seconds until the first of those leases expires (worker/leftbehind.py).
SELECT count(*), min(lease_until) - {now}
FROM {table} WHERE status = 1 AND updated < {now} - :stale_s

-- name: release_lease
-- The attempt fenced out by a set_status to START (by its status: writes need RUNNING) has stopped: the job
-- is claimable now rather than when the lease it kept expires.
UPDATE {table} SET lease_until = NULL, updated = {now}
WHERE id = :id AND attempt = :attempt AND status <> 1 AND lease_until IS NOT NULL
