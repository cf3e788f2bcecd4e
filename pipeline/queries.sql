-- Named queries. Every state change is one guarded statement: it says which state it
-- moves a row *from*, and a caller that sees zero rows changed knows someone else already
-- moved it (a duplicate callback, a stale attempt, a concurrent worker).
--
-- Blocks start with `-- name: <name>`. Placeholders filled from the stage table (never
-- from input): ${stage} the stage's column prefix, ${next} the next stage's, ${inputs}
-- extra columns a claim returns. A query with ${next} exists only for stages that have one.
-- Batched statements take their rows as one jsonb array (jsonb_to_recordset), so a batch
-- of N leads costs one round trip, not N.

-- name: insert_leads
INSERT INTO leads (account_id, name, email, company, company_url, title)
SELECT :account_id, coalesce(r.name, ''), r.email, coalesce(r.company, ''),
       nullif(r.company_url, ''), coalesce(r.title, '')
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r (name text, email text, company text, company_url text, title text)
RETURNING id;

-- name: lock_leads
-- Lock rows in ascending id order before a multi-row change. Every transaction that
-- touches several leads takes its locks this way, so two of them (a callback and the
-- submitter storing job ids, a callback and its duplicate) can never deadlock.
SELECT id FROM leads WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR UPDATE;

-- name: customize
-- Put leads into a run and queue their first stage. Only leads that have not started
-- (scrape pending, or cancelled with their run) and are in no active run are taken; the
-- rows are locked in id order. No company URL: nothing to scrape, the lead is skipped.
WITH chosen AS (
    SELECT l.id FROM leads l
    WHERE l.id = ANY(CAST(:ids AS bigint[]))
      AND l.account_id = :account_id
      AND l.scrape_status IN ('pending', 'cancelled')
      AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = l.run_id
                      AND r.status IN ('queued', 'running', 'paused'))
    ORDER BY l.id
    FOR UPDATE
), moved AS (
    UPDATE leads AS l
    SET run_id = :run_id,
        scrape_status = CASE WHEN l.company_url IS NULL THEN 'skipped' ELSE 'queued' END,
        scrape_run_after = CASE WHEN l.company_url IS NULL THEN NULL ELSE :now END,
        scrape_completed_at = CASE WHEN l.company_url IS NULL THEN :now END,
        scrape_error = CASE WHEN l.company_url IS NULL THEN 'no company URL' END,
        scrape_retry_count = 0,
        intel_status = 'pending', strategy_status = 'pending',
        subject_status = 'pending', messaging_status = 'pending',
        updated_at = :now
    FROM chosen
    WHERE l.id = chosen.id
    RETURNING l.id, l.scrape_status
), linked AS (
    INSERT INTO run_leads (run_id, lead_id) SELECT :run_id, id FROM moved
)
SELECT id, scrape_status AS status FROM moved;

-- name: claim
-- Take up to :limit ready rows of a stage; two workers never get the same row. Rows of a
-- paused run are not taken (pausing also parks them at run_after = 9999-01-01, the far end
-- of the index, so this check meets only the few queued while the run was pausing).
UPDATE leads AS l
SET ${stage}_status = 'started',
    ${stage}_attempt = l.${stage}_attempt + 1,
    ${stage}_started_at = :now,
    ${stage}_job_id = NULL,
    ${stage}_polled_at = NULL,
    updated_at = :now
FROM (
    SELECT id FROM leads
    WHERE ${stage}_status = 'queued' AND ${stage}_run_after <= :now
      AND NOT EXISTS (SELECT 1 FROM runs
                      WHERE runs.id = leads.run_id AND runs.status = 'paused')
    ORDER BY ${stage}_run_after, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
) AS claimable
WHERE l.id = claimable.id
RETURNING l.id, l.${stage}_attempt AS attempt, l.name, l.email, l.company, l.title,
          l.company_url${inputs};

-- name: record_job
-- Store the service's job ids for attempts still running. A row whose callback already
-- completed it (the callback outran the submit response) is not touched.
UPDATE leads AS l
SET ${stage}_job_id = r.job_id
FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS integer[]), CAST(:job_ids AS text[]))
    AS r (id, attempt, job_id)
WHERE l.id = r.id
  AND l.${stage}_status = 'started'
  AND l.${stage}_attempt = r.attempt
  AND l.${stage}_job_id IS NULL
RETURNING l.id;

-- name: complete_and_queue_next
-- Completion and the queueing of the next stage are one statement on one row: there is
-- no moment at which a stage is completed and its successor not yet queued.
UPDATE leads AS l
SET ${stage}_status = 'completed',
    ${stage}_result = r.result,
    ${stage}_error = NULL,
    ${stage}_completed_at = :now,
    ${stage}_job_id = coalesce(l.${stage}_job_id, r.job_id),
    ${next}_status = 'queued',
    ${next}_run_after = :now,
    updated_at = :now
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r (id bigint, attempt integer, job_id text, result jsonb)
WHERE l.id = r.id
  AND l.${stage}_status = 'started'
  AND l.${stage}_attempt = r.attempt
  AND l.${next}_status = 'pending'
RETURNING l.id;

-- name: complete_last
UPDATE leads AS l
SET ${stage}_status = 'completed',
    ${stage}_result = r.result,
    ${stage}_error = NULL,
    ${stage}_completed_at = :now,
    ${stage}_job_id = coalesce(l.${stage}_job_id, r.job_id),
    updated_at = :now
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r (id bigint, attempt integer, job_id text, result jsonb)
WHERE l.id = r.id
  AND l.${stage}_status = 'started'
  AND l.${stage}_attempt = r.attempt
RETURNING l.id;

-- name: store_late_result
-- A result that arrives after its run was cancelled is kept (it was paid for) but
-- queues nothing.
UPDATE leads AS l
SET ${stage}_result = r.result,
    ${stage}_job_id = coalesce(l.${stage}_job_id, r.job_id)
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r (id bigint, attempt integer, job_id text, result jsonb)
WHERE l.id = r.id
  AND l.${stage}_status = 'cancelled'
  AND l.${stage}_attempt = r.attempt
  AND l.${stage}_result IS NULL
RETURNING l.id;

-- name: fail
-- A hard error: the attempt fails at once with its reason.
UPDATE leads AS l
SET ${stage}_status = 'failed',
    ${stage}_error = r.error,
    ${stage}_completed_at = :now,
    updated_at = :now
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r (id bigint, attempt integer, error text)
WHERE l.id = r.id
  AND l.${stage}_status = 'started'
  AND l.${stage}_attempt = r.attempt
RETURNING l.id;

-- name: retry
-- A retriable error: back to queued after a delay while retries remain, else failed.
-- :delays[n + 1] is the (jittered) delay before retry n + 1; a service's Retry-After
-- raises it. retry_count < max_retries is the test, so max_retries = 3 means at most
-- four attempts in all.
UPDATE leads AS l
SET ${stage}_status = CASE WHEN l.${stage}_retry_count < :max_retries
                           THEN 'queued' ELSE 'failed' END,
    ${stage}_run_after = CASE WHEN l.${stage}_retry_count < :max_retries
        THEN CAST(:now AS timestamptz) + make_interval(secs => greatest(
            coalesce(r.retry_after, 0),
            (CAST(:delays AS double precision[]))[l.${stage}_retry_count + 1]))
        END,
    ${stage}_completed_at = CASE WHEN l.${stage}_retry_count < :max_retries
                                 THEN NULL ELSE :now END,
    ${stage}_retry_count = l.${stage}_retry_count
        + CASE WHEN l.${stage}_retry_count < :max_retries THEN 1 ELSE 0 END,
    ${stage}_error = r.error,
    updated_at = :now
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r (id bigint, attempt integer, error text, retry_after double precision)
WHERE l.id = r.id
  AND l.${stage}_status = 'started'
  AND l.${stage}_attempt = r.attempt
RETURNING l.id, l.${stage}_status AS status, l.${stage}_run_after AS run_after;

-- name: claim_late
-- Started attempts whose callback is overdue and that were not asked about recently.
-- Marking them polled is the claim, so two pollers never ask about the same attempt.
UPDATE leads AS l
SET ${stage}_polled_at = :now
FROM (
    SELECT id FROM leads
    WHERE ${stage}_status = 'started'
      AND ${stage}_started_at < :grace_before
      AND ${stage}_job_id IS NOT NULL
      AND (${stage}_polled_at IS NULL OR ${stage}_polled_at < :poll_before)
    ORDER BY ${stage}_started_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
) AS late
WHERE l.id = late.id
RETURNING l.id, l.${stage}_attempt AS attempt, l.${stage}_job_id AS job_id;

-- name: select_stuck
-- Attempts that were claimed but never got a job id within the submit timeout (the
-- worker died between claim and submit) or that have run past the stuck timeout.
SELECT id, ${stage}_attempt AS attempt, ${stage}_job_id AS job_id,
       ${stage}_started_at AS started_at
FROM leads
WHERE ${stage}_status = 'started'
  AND ${stage}_started_at < :submit_before
  AND (${stage}_job_id IS NULL OR ${stage}_started_at < :stuck_before)
ORDER BY ${stage}_started_at
LIMIT :limit;

-- name: ready_stages
-- Stages that have rows ready to claim; the sweeper kicks each (lost messages cost nothing).
SELECT 'scrape' AS stage WHERE EXISTS (
    SELECT 1 FROM leads WHERE scrape_status = 'queued' AND scrape_run_after <= :now)
UNION ALL
SELECT 'intel' WHERE EXISTS (
    SELECT 1 FROM leads WHERE intel_status = 'queued' AND intel_run_after <= :now)
UNION ALL
SELECT 'strategy' WHERE EXISTS (
    SELECT 1 FROM leads WHERE strategy_status = 'queued' AND strategy_run_after <= :now)
UNION ALL
SELECT 'subject' WHERE EXISTS (
    SELECT 1 FROM leads WHERE subject_status = 'queued' AND subject_run_after <= :now)
UNION ALL
SELECT 'messaging' WHERE EXISTS (
    SELECT 1 FROM leads WHERE messaging_status = 'queued' AND messaging_run_after <= :now);

-- name: other_attempts_on_job
-- Whether a service job (an LLM batch carries many leads) still serves any running attempt
-- besides the given ones; only a job nobody waits for is cancelled.
SELECT count(*) AS n FROM leads
WHERE ${stage}_status = 'started'
  AND ${stage}_job_id = :job_id
  AND NOT (id = ANY(CAST(:ids AS bigint[])));

-- name: take_lease
-- Periodic work runs once per period however many clock processes fire it.
INSERT INTO periodic_leases (name, last_run_at) VALUES (:name, :period_start)
ON CONFLICT (name) DO UPDATE SET last_run_at = EXCLUDED.last_run_at
    WHERE periodic_leases.last_run_at < EXCLUDED.last_run_at
RETURNING name;

-- name: get_lead
SELECT * FROM leads WHERE id = :id AND account_id = :account_id;

-- name: lead_status
SELECT * FROM lead_pipeline_status WHERE id = ANY(CAST(:ids AS bigint[])) AND account_id = :account_id
ORDER BY id;

-- name: queue_depth
SELECT stage, pending, queued, started, completed, failed, skipped, cancelled
FROM stage_queue_depth ORDER BY position;

-- name: stage_durations
SELECT stage, completed, avg_seconds, p50_seconds, p95_seconds, max_seconds
FROM stage_durations ORDER BY position;

-- name: account_queue_depth
-- The queue-depth view scoped to one account (the API never shows another's leads).
SELECT s.stage,
       count(*) FILTER (WHERE s.status = 'pending')   AS pending,
       count(*) FILTER (WHERE s.status = 'queued')    AS queued,
       count(*) FILTER (WHERE s.status = 'started')   AS started,
       count(*) FILTER (WHERE s.status = 'completed') AS completed,
       count(*) FILTER (WHERE s.status = 'failed')    AS failed,
       count(*) FILTER (WHERE s.status = 'skipped')   AS skipped,
       count(*) FILTER (WHERE s.status = 'cancelled') AS cancelled
FROM leads l
CROSS JOIN LATERAL (VALUES
    ('scrape', 1, l.scrape_status), ('intel', 2, l.intel_status),
    ('strategy', 3, l.strategy_status), ('subject', 4, l.subject_status),
    ('messaging', 5, l.messaging_status)
) AS s (stage, position, status)
WHERE l.account_id = :account_id
GROUP BY s.stage, s.position
ORDER BY s.position;


-- Runs ---------------------------------------------------------------------------------

-- name: create_run
INSERT INTO runs (account_id, status, selection, started_at, updated_at)
VALUES (:account_id, 'running', CAST(:selection AS jsonb), :now, :now)
RETURNING id;

-- name: set_run_size
UPDATE runs SET lead_count = :lead_count WHERE id = :run_id;

-- name: pending_lead_ids
-- "All pending": leads of the account that never started.
SELECT id FROM leads
WHERE account_id = :account_id AND scrape_status = 'pending'
ORDER BY id
LIMIT :limit;

-- name: get_run
SELECT * FROM runs WHERE id = :run_id AND account_id = :account_id;

-- name: list_runs
SELECT * FROM runs
WHERE account_id = :account_id AND (CAST(:after AS bigint) IS NULL OR id < :after)
ORDER BY id DESC
LIMIT :limit;

-- name: pause_run
UPDATE runs SET status = 'paused', paused_at = :now, updated_at = :now
WHERE id = :run_id AND account_id = :account_id AND status IN ('queued', 'running')
RETURNING id;

-- name: park_run_leads
-- Move the run's queued rows to the far end of the claim indexes while it is paused
-- (a finite far-future instant: 'infinity' does not fit a Python datetime).
UPDATE leads AS l
SET scrape_run_after = CASE WHEN l.scrape_status = 'queued'
                            THEN CAST('9999-01-01 00:00:00+00' AS timestamptz) ELSE l.scrape_run_after END,
    intel_run_after = CASE WHEN l.intel_status = 'queued'
                           THEN CAST('9999-01-01 00:00:00+00' AS timestamptz) ELSE l.intel_run_after END,
    strategy_run_after = CASE WHEN l.strategy_status = 'queued'
                              THEN CAST('9999-01-01 00:00:00+00' AS timestamptz) ELSE l.strategy_run_after END,
    subject_run_after = CASE WHEN l.subject_status = 'queued'
                             THEN CAST('9999-01-01 00:00:00+00' AS timestamptz) ELSE l.subject_run_after END,
    messaging_run_after = CASE WHEN l.messaging_status = 'queued'
                               THEN CAST('9999-01-01 00:00:00+00' AS timestamptz) ELSE l.messaging_run_after END
FROM run_leads AS rl
WHERE rl.run_id = :run_id AND l.id = rl.lead_id AND l.run_id = :run_id
  AND 'queued' IN (l.scrape_status, l.intel_status, l.strategy_status,
                   l.subject_status, l.messaging_status);

-- name: resume_run
UPDATE runs SET status = 'running', paused_at = NULL, updated_at = :now
WHERE id = :run_id AND account_id = :account_id AND status = 'paused'
RETURNING id;

-- name: unpark_run_leads
UPDATE leads AS l
SET scrape_run_after = CASE WHEN l.scrape_status = 'queued'
                            THEN :now ELSE l.scrape_run_after END,
    intel_run_after = CASE WHEN l.intel_status = 'queued'
                           THEN :now ELSE l.intel_run_after END,
    strategy_run_after = CASE WHEN l.strategy_status = 'queued'
                              THEN :now ELSE l.strategy_run_after END,
    subject_run_after = CASE WHEN l.subject_status = 'queued'
                             THEN :now ELSE l.subject_run_after END,
    messaging_run_after = CASE WHEN l.messaging_status = 'queued'
                               THEN :now ELSE l.messaging_run_after END,
    updated_at = :now
FROM run_leads AS rl
WHERE rl.run_id = :run_id AND l.id = rl.lead_id AND l.run_id = :run_id
  AND 'queued' IN (l.scrape_status, l.intel_status, l.strategy_status,
                   l.subject_status, l.messaging_status)
RETURNING l.id;

-- name: cancel_run
UPDATE runs SET status = 'cancelled', finished_at = :now, updated_at = :now
WHERE id = :run_id AND account_id = :account_id AND status IN ('queued', 'running', 'paused')
RETURNING id;

-- name: cancel_run_leads
-- Every unfinished stage of the run's leads becomes cancelled. A started attempt's
-- service job may still answer; store_late_result keeps what it sends, nothing chains.
UPDATE leads AS l
SET scrape_status = CASE WHEN l.scrape_status IN ('pending', 'queued', 'started')
                         THEN 'cancelled' ELSE l.scrape_status END,
    intel_status = CASE WHEN l.intel_status IN ('pending', 'queued', 'started')
                        THEN 'cancelled' ELSE l.intel_status END,
    strategy_status = CASE WHEN l.strategy_status IN ('pending', 'queued', 'started')
                           THEN 'cancelled' ELSE l.strategy_status END,
    subject_status = CASE WHEN l.subject_status IN ('pending', 'queued', 'started')
                          THEN 'cancelled' ELSE l.subject_status END,
    messaging_status = CASE WHEN l.messaging_status IN ('pending', 'queued', 'started')
                            THEN 'cancelled' ELSE l.messaging_status END,
    updated_at = :now
FROM run_leads AS rl
WHERE rl.run_id = :run_id AND l.id = rl.lead_id AND l.run_id = :run_id
  AND l.messaging_status <> 'completed'
RETURNING l.id;

-- name: requeue_failed
-- retry-failed: the run's failed attempts of a stage go back to queued with their retry
-- budget reset (the attempt number keeps counting: it is the fencing token). :patterns
-- limits it to errors matching any of the LIKE patterns.
UPDATE leads AS l
SET ${stage}_status = 'queued',
    ${stage}_run_after = :now,
    ${stage}_retry_count = 0,
    ${stage}_completed_at = NULL,
    updated_at = :now
FROM run_leads AS rl
WHERE rl.run_id = :run_id AND l.id = rl.lead_id AND l.run_id = :run_id
  AND l.${stage}_status = 'failed'
  AND l.${stage}_error LIKE ANY (CAST(:patterns AS text[]))
RETURNING l.id;

-- name: reopen_run
UPDATE runs SET status = 'running', finished_at = NULL, updated_at = :now
WHERE id = :run_id AND account_id = :account_id AND status IN ('completed', 'failed', 'running')
RETURNING id;

-- name: add_run_event
INSERT INTO run_events (run_id, kind, detail) VALUES (:run_id, :kind, CAST(:detail AS jsonb));

-- name: run_events
SELECT kind, detail, created_at FROM run_events WHERE run_id = :run_id ORDER BY id;

-- name: rollup_runs
-- Counts, fit score and state of every active run, from its leads. A run with no queued
-- or started work left finishes by itself: failed if none of its leads got an email,
-- otherwise completed. A paused run keeps its state until someone resumes or cancels it.
WITH active AS (
    SELECT id FROM runs WHERE status IN ('queued', 'running', 'paused')
), members AS (
    SELECT l.*
    FROM active JOIN run_leads rl ON rl.run_id = active.id
    JOIN leads l ON l.id = rl.lead_id AND l.run_id = rl.run_id
), per_state AS (
    SELECT m.run_id, s.stage, s.status, count(*) AS n
    FROM members m
    CROSS JOIN LATERAL (VALUES
        ('scrape', m.scrape_status), ('intel', m.intel_status),
        ('strategy', m.strategy_status), ('subject', m.subject_status),
        ('messaging', m.messaging_status)
    ) AS s (stage, status)
    GROUP BY 1, 2, 3
), per_stage AS (
    SELECT run_id, stage, jsonb_object_agg(status, n) AS states
    FROM per_state GROUP BY 1, 2
), counts AS (
    SELECT run_id, jsonb_object_agg(stage, states) AS counts FROM per_stage GROUP BY 1
), leads_state AS (
    SELECT m.run_id,
        count(*) FILTER (WHERE 'queued' IN (m.scrape_status, m.intel_status,
            m.strategy_status, m.subject_status, m.messaging_status)
            OR 'started' IN (m.scrape_status, m.intel_status, m.strategy_status,
            m.subject_status, m.messaging_status)) AS active,
        count(*) FILTER (WHERE m.messaging_status = 'completed') AS completed,
        count(*) FILTER (WHERE 'failed' IN (m.scrape_status, m.intel_status,
            m.strategy_status, m.subject_status, m.messaging_status)) AS failed,
        count(*) FILTER (WHERE m.scrape_status = 'skipped') AS skipped,
        avg((m.intel_result ->> 'fit_score')::double precision) AS fit
    FROM members m GROUP BY 1
)
UPDATE runs AS r
SET counts = c.counts,
    lead_states = jsonb_build_object('active', s.active, 'completed', s.completed,
                                     'failed', s.failed, 'skipped', s.skipped),
    fit_score_avg = s.fit,
    status = CASE WHEN r.status = 'paused' OR s.active > 0 THEN r.status
                  WHEN s.completed = 0 AND s.failed > 0 THEN 'failed'
                  ELSE 'completed' END,
    finished_at = CASE WHEN r.status <> 'paused' AND s.active = 0 THEN :now
                       ELSE r.finished_at END,
    updated_at = :now
FROM counts c JOIN leads_state s ON s.run_id = c.run_id
WHERE r.id = c.run_id
RETURNING r.id, r.status;

-- name: delete_empty_run
DELETE FROM runs WHERE id = :run_id AND lead_count = 0;

-- name: import_lead_ids
SELECT id FROM leads
WHERE account_id = :account_id AND import_id = :import_id
ORDER BY id
LIMIT :limit;
