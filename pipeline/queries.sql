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
-- Queue the first stage. No company URL: nothing to scrape, the lead is skipped.
-- Leads already queued, running or done are left alone (the caller reports them).
UPDATE leads
SET scrape_status = CASE WHEN company_url IS NULL THEN 'skipped' ELSE 'queued' END,
    scrape_run_after = CASE WHEN company_url IS NULL THEN NULL ELSE :now END,
    scrape_completed_at = CASE WHEN company_url IS NULL THEN :now END,
    scrape_error = CASE WHEN company_url IS NULL THEN 'no company URL' END,
    updated_at = :now
WHERE id = ANY(CAST(:ids AS bigint[]))
  AND account_id = :account_id
  AND scrape_status = 'pending'
RETURNING id, scrape_status AS status;

-- name: claim
-- Take up to :limit ready rows of a stage; two workers never get the same row.
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
