-- Named queries. Every state change is one guarded statement: it says which state it
-- moves a row *from*, and a caller that sees zero rows changed knows someone else already
-- moved it (a duplicate callback, a stale attempt, a concurrent worker).
--
-- Blocks start with `-- name: <name>`. Placeholders filled from the stage table (never
-- from input): ${stage} the stage's column prefix, ${next} the next stage's, ${inputs}
-- extra columns a claim returns. A query with ${next} exists only for stages that have one.
-- Batched statements take their rows as one jsonb array (jsonb_to_recordset), so a batch
-- of N leads costs one round trip, not N. They also take the rows' ids as :ids and say
-- `l.id = ANY(:ids)`: the planner guesses 100 rows for any jsonb_to_recordset, which could
-- make a scan of the whole table look cheaper than that many primary-key lookups; an id
-- array it can count (or guesses at 10) keeps every callback on the primary key.

-- name: insert_leads
-- Each lead's email and company domain are registered (the first lead of each owns the
-- entry), so a CSV import finds them as duplicates. Ids come back in input order.
WITH inserted AS (
    INSERT INTO leads (account_id, name, email, company, company_url, title)
    SELECT :account_id, coalesce(r.name, ''), r.email, coalesce(r.company, ''),
           nullif(r.company_url, ''), coalesce(r.title, '')
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS r (name text, email text, company text, company_url text, title text)
    RETURNING id, email, company_url
), emails AS (
    INSERT INTO lead_emails (account_id, email, lead_id)
    SELECT :account_id, i.email, i.id FROM inserted i ORDER BY i.id
    ON CONFLICT (account_id, email) DO NOTHING
), domains AS (
    INSERT INTO lead_domains (account_id, domain, lead_id)
    SELECT :account_id, company_domain(i.company_url), i.id FROM inserted i
    WHERE company_domain(i.company_url) IS NOT NULL ORDER BY i.id
    ON CONFLICT (account_id, domain) DO NOTHING
)
SELECT id FROM inserted ORDER BY id;

-- name: lock_leads
-- Lock rows in ascending id order before a multi-row change. Every transaction that
-- touches several leads takes its locks this way, so two of them (a callback and the
-- submitter storing job ids, a callback and its duplicate) can never deadlock.
SELECT id FROM leads WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR UPDATE;

-- name: existing_lead_ids
-- Which of these leads exist: a callback naming a lead that never existed is refused (404),
-- while a late or duplicate one about a real lead is answered 200 and changes nothing.
SELECT id FROM leads WHERE id = ANY(CAST(:ids AS bigint[]));

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
        run_input_tokens = 0, run_output_tokens = 0,
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
-- With a :cap (the service's jobs-in-flight limit) only as many rows are taken as the cap
-- leaves room for, counting the stage's started rows through its in-flight index.
-- Concurrent claims may each see the same room, so the cap is soft by at most one batch
-- per claiming thread. Always one row more than claimed or exactly one: held_back says
-- whether ready rows were left for want of room (the row with a NULL id carries it when
-- nothing was claimed), so the caller knows to look again once jobs finish.
WITH room AS (
    SELECT CASE WHEN CAST(:cap AS integer) IS NULL THEN CAST(:limit AS integer)
                ELSE least(CAST(:limit AS integer), greatest(0, CAST(:cap AS integer) - (
                    SELECT count(*) FROM leads
                    WHERE ${stage}_status = 'started' AND ${stage}_started_at IS NOT NULL)))
           END AS n
), claimed AS (
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
        LIMIT (SELECT n FROM room)
        FOR UPDATE SKIP LOCKED
    ) AS claimable
    WHERE l.id = claimable.id
    RETURNING l.id, l.${stage}_attempt AS attempt, l.account_id, l.name, l.email, l.company,
              l.title, l.company_url, l.site_key${inputs}
)
SELECT claimed.*, room.held_back
FROM (
    SELECT room.n < CAST(:limit AS integer) AND EXISTS (
        SELECT 1 FROM leads
        WHERE ${stage}_status = 'queued' AND ${stage}_run_after <= :now
        OFFSET room.n) AS held_back
    FROM room
) AS room
LEFT JOIN claimed ON true;

-- name: record_job
-- Store the service's job ids for attempts still running. A row whose callback already
-- completed it (the callback outran the submit response) is not touched.
UPDATE leads AS l
SET ${stage}_job_id = r.job_id
FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS integer[]), CAST(:job_ids AS text[]))
    AS r (id, attempt, job_id)
WHERE l.id = r.id
  AND l.id = ANY(CAST(:ids AS bigint[]))
  AND l.${stage}_status = 'started'
  AND l.${stage}_attempt = r.attempt
  AND l.${stage}_job_id IS NULL
RETURNING l.id;

-- name: complete_and_queue_next
-- Completion and the queueing of the next stage are one statement on one row: there is
-- no moment at which a stage is completed and its successor not yet queued. The LLM's
-- token usage is added to the lead's totals in the same statement.
UPDATE leads AS l
SET ${stage}_status = 'completed',
    ${stage}_result = r.result,
    ${stage}_error = NULL,
    ${stage}_completed_at = :now,
    ${stage}_job_id = coalesce(l.${stage}_job_id, r.job_id),
    ${next}_status = 'queued',
    ${next}_run_after = :now,
    llm_input_tokens = l.llm_input_tokens
        + coalesce(CAST(r.result #>> '{usage,input_tokens}' AS bigint), 0),
    llm_output_tokens = l.llm_output_tokens
        + coalesce(CAST(r.result #>> '{usage,output_tokens}' AS bigint), 0),
    run_input_tokens = l.run_input_tokens
        + coalesce(CAST(r.result #>> '{usage,input_tokens}' AS bigint), 0),
    run_output_tokens = l.run_output_tokens
        + coalesce(CAST(r.result #>> '{usage,output_tokens}' AS bigint), 0),
    updated_at = :now
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r (id bigint, attempt integer, job_id text, result jsonb)
WHERE l.id = r.id
  AND l.id = ANY(CAST(:ids AS bigint[]))
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
    llm_input_tokens = l.llm_input_tokens
        + coalesce(CAST(r.result #>> '{usage,input_tokens}' AS bigint), 0),
    llm_output_tokens = l.llm_output_tokens
        + coalesce(CAST(r.result #>> '{usage,output_tokens}' AS bigint), 0),
    run_input_tokens = l.run_input_tokens
        + coalesce(CAST(r.result #>> '{usage,input_tokens}' AS bigint), 0),
    run_output_tokens = l.run_output_tokens
        + coalesce(CAST(r.result #>> '{usage,output_tokens}' AS bigint), 0),
    updated_at = :now
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r (id bigint, attempt integer, job_id text, result jsonb)
WHERE l.id = r.id
  AND l.id = ANY(CAST(:ids AS bigint[]))
  AND l.${stage}_status = 'started'
  AND l.${stage}_attempt = r.attempt
RETURNING l.id;

-- name: store_late_result
-- A result that arrives after its run was cancelled is kept (it was paid for) but
-- queues nothing.
UPDATE leads AS l
SET ${stage}_result = r.result,
    llm_input_tokens = l.llm_input_tokens
        + coalesce(CAST(r.result #>> '{usage,input_tokens}' AS bigint), 0),
    llm_output_tokens = l.llm_output_tokens
        + coalesce(CAST(r.result #>> '{usage,output_tokens}' AS bigint), 0),
    run_input_tokens = l.run_input_tokens
        + coalesce(CAST(r.result #>> '{usage,input_tokens}' AS bigint), 0),
    run_output_tokens = l.run_output_tokens
        + coalesce(CAST(r.result #>> '{usage,output_tokens}' AS bigint), 0),
    ${stage}_job_id = coalesce(l.${stage}_job_id, r.job_id)
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r (id bigint, attempt integer, job_id text, result jsonb)
WHERE l.id = r.id
  AND l.id = ANY(CAST(:ids AS bigint[]))
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
  AND l.id = ANY(CAST(:ids AS bigint[]))
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
  AND l.id = ANY(CAST(:ids AS bigint[]))
  AND l.${stage}_status = 'started'
  AND l.${stage}_attempt = r.attempt
RETURNING l.id, l.${stage}_status AS status, l.${stage}_run_after AS run_after;

-- name: claim_late
-- Started attempts whose callback is overdue and that were not asked about recently.
-- Marking them polled is the claim, so two pollers never ask about the same attempt.
-- "Recently" grows with the attempt's age: the poll interval, or half the time the job
-- has run if that is longer. A job running for ten minutes is asked about every five, so
-- a slow service's backlog is not asked about job by job every few seconds.
UPDATE leads AS l
SET ${stage}_polled_at = :now
FROM (
    SELECT id FROM leads
    WHERE ${stage}_status = 'started'
      AND ${stage}_started_at < :grace_before
      AND ${stage}_job_id IS NOT NULL
      AND (${stage}_polled_at IS NULL
           OR ${stage}_polled_at < CAST(:now AS timestamptz) - greatest(
               CAST(:now AS timestamptz) - CAST(:poll_before AS timestamptz),
               (CAST(:now AS timestamptz) - ${stage}_started_at) / 2))
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
  AND ${stage}_started_at IS NOT NULL  -- lets the in-flight index serve it (schema.sql)
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
SELECT stage,
       count(*) FILTER (WHERE status = 'pending')   AS pending,
       count(*) FILTER (WHERE status = 'queued')    AS queued,
       count(*) FILTER (WHERE status = 'started')   AS started,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed')    AS failed,
       count(*) FILTER (WHERE status = 'skipped')   AS skipped,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled
FROM lead_stage_statuses
WHERE account_id = :account_id
GROUP BY stage, position
ORDER BY position;

-- name: create_run
INSERT INTO runs (account_id, status, selection, from_stage, budget_usd, started_at, updated_at)
VALUES (:account_id, 'running', CAST(:selection AS jsonb), :from_stage, :budget_usd, :now, :now)
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
UPDATE runs SET status = 'running', paused_at = NULL, paused_reason = NULL, updated_at = :now
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
-- Counts, fit score, tokens, cost and state of every active run, from its leads. A run
-- with no queued or started work left finishes by itself: failed if none of its leads got
-- an email, otherwise completed. A run whose spend plus the likely cost of its attempts in
-- flight reaches its budget is paused, saying why. A paused run keeps its state until
-- someone resumes or cancels it.
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
        avg((m.intel_result ->> 'fit_score')::double precision) AS fit,
        sum(m.run_input_tokens) AS input_tokens,
        sum(m.run_output_tokens) AS output_tokens,
        sum((m.intel_status = 'completed')::int + (m.strategy_status = 'completed')::int
            + (m.subject_status = 'completed')::int
            + (m.messaging_status = 'completed')::int) AS llm_done,
        sum((m.intel_status = 'started')::int + (m.strategy_status = 'started')::int
            + (m.subject_status = 'started')::int
            + (m.messaging_status = 'started')::int) AS llm_in_flight
    FROM members m GROUP BY 1
), priced AS (
    SELECT s.*,
        (s.input_tokens * :input_price + s.output_tokens * :output_price) / 1e6 AS spent,
        -- what the attempts in flight will likely cost, at this run's average so far
        (s.input_tokens * :input_price + s.output_tokens * :output_price) / 1e6
            / greatest(s.llm_done, 1) * s.llm_in_flight AS in_flight_cost
    FROM leads_state s
)
UPDATE runs AS r
SET counts = c.counts,
    lead_states = jsonb_build_object('active', s.active, 'completed', s.completed,
                                     'failed', s.failed, 'skipped', s.skipped),
    fit_score_avg = s.fit,
    input_tokens = s.input_tokens,
    output_tokens = s.output_tokens,
    spent_usd = s.spent,
    status = CASE WHEN r.status = 'paused' THEN r.status
                  WHEN s.active > 0 AND r.budget_usd IS NOT NULL
                       AND s.spent + s.in_flight_cost >= r.budget_usd THEN 'paused'
                  WHEN s.active > 0 THEN r.status
                  WHEN s.completed = 0 AND s.failed > 0 THEN 'failed'
                  ELSE 'completed' END,
    paused_reason = CASE WHEN r.status <> 'paused' AND s.active > 0
                          AND r.budget_usd IS NOT NULL
                          AND s.spent + s.in_flight_cost >= r.budget_usd
                         THEN format('budget cap reached: spent $%s of $%s',
                                     round(CAST(s.spent AS numeric), 4), r.budget_usd)
                         ELSE r.paused_reason END,
    paused_at = CASE WHEN r.status <> 'paused' AND s.active > 0 AND r.budget_usd IS NOT NULL
                      AND s.spent + s.in_flight_cost >= r.budget_usd THEN :now
                     ELSE r.paused_at END,
    finished_at = CASE WHEN r.status <> 'paused' AND s.active = 0 THEN :now
                       ELSE r.finished_at END,
    updated_at = :now
FROM counts c JOIN priced s ON s.run_id = c.run_id
WHERE r.id = c.run_id
RETURNING r.id, r.status, r.paused_reason;

-- name: delete_empty_run
DELETE FROM runs WHERE id = :run_id AND lead_count = 0;

-- name: import_lead_ids
-- An import's leads lie in its id range: a primary-key range scan, no index on import_id.
SELECT id FROM leads
WHERE id BETWEEN :first_id AND :last_id
  AND account_id = :account_id AND import_id = :import_id
ORDER BY id
LIMIT :limit;


-- Lists, exports and estimates -------------------------------------------------------------
-- They read `lead_summaries` (schema.sql) and share one filter block; pipeline/listing.py
-- binds it. ${stage} is the stage whose status :state filters (the clause is void when
-- :state is null); :current_stage / :current_state filter where the lead is now (the
-- lead_pipeline_status semantics); :run_id the leads a run covers (run_leads); :import_id
-- the leads an import created. A null parameter switches its filter off. :first_id and
-- :last_id bound the ids (an import's leads lie in its id range, so naming an import
-- narrows the primary-key scan to that range; otherwise they span every id).

-- name: run_in_account
SELECT id FROM runs WHERE id = :run_id AND account_id = :account_id;

-- name: import_in_account
SELECT id, first_lead_id, last_lead_id FROM imports
WHERE id = :import_id AND account_id = :account_id;

-- name: list_leads
-- Leads in id order from :after_id (the keyset walk: ids never change, so a walk neither
-- skips nor repeats a lead however the pipeline moves them). Plan: an index scan of the
-- primary key from :after_id, filtered, stopped after :limit rows; with :state queued or
-- started the planner may take the stage's partial index instead. :limit null = all
-- (the exports stream this through a server-side cursor).
SELECT l.*
FROM lead_summaries l
WHERE l.account_id = :account_id
  AND l.id > :after_id
  AND l.id BETWEEN :first_id AND :last_id
  AND (CAST(:state AS text) IS NULL OR l.${stage}_status = :state)
  AND (CAST(:current_stage AS text) IS NULL OR l.current_stage = :current_stage)
  AND (CAST(:current_state AS text) IS NULL OR l.current_state = :current_state)
  AND (CAST(:import_id AS bigint) IS NULL OR l.import_id = :import_id)
ORDER BY l.id
LIMIT :limit;

-- name: list_run_leads
-- The same walk over the leads a run covers. Plan: the primary key of run_leads
-- (run_id, lead_id) from :after_id, each lead fetched by its primary key; the cost of a
-- page follows the page, not the size of the leads table.
SELECT l.*
FROM run_leads rl
JOIN lead_summaries l ON l.id = rl.lead_id
WHERE rl.run_id = :run_id
  AND rl.lead_id > :after_id
  AND rl.lead_id BETWEEN :first_id AND :last_id
  AND l.account_id = :account_id
  AND (CAST(:state AS text) IS NULL OR l.${stage}_status = :state)
  AND (CAST(:current_stage AS text) IS NULL OR l.current_stage = :current_stage)
  AND (CAST(:current_state AS text) IS NULL OR l.current_state = :current_state)
  AND (CAST(:import_id AS bigint) IS NULL OR l.import_id = :import_id)
ORDER BY rl.lead_id
LIMIT :limit;

-- name: list_leads_by_update
-- The change feed: (updated_at, id) order from the cursor. A lead that changes after it
-- was read comes again with its new state; none is skipped (updated_at never decreases,
-- see the trigger in schema.sql). Plan: no index has updated_at (it would be rewritten on
-- every transition), so each page scans the matching leads once and keeps the first
-- :limit in a bounded top-N sort: memory stays flat, time grows with the account.
SELECT l.*
FROM lead_summaries l
WHERE l.account_id = :account_id
  AND (CAST(:after_updated_at AS timestamptz) IS NULL
       OR (l.updated_at, l.id) > (CAST(:after_updated_at AS timestamptz), :after_id))
  AND l.id BETWEEN :first_id AND :last_id
  AND (CAST(:state AS text) IS NULL OR l.${stage}_status = :state)
  AND (CAST(:current_stage AS text) IS NULL OR l.current_stage = :current_stage)
  AND (CAST(:current_state AS text) IS NULL OR l.current_state = :current_state)
  AND (CAST(:import_id AS bigint) IS NULL OR l.import_id = :import_id)
  AND (CAST(:run_id AS bigint) IS NULL
       OR l.id IN (SELECT rl.lead_id FROM run_leads rl WHERE rl.run_id = :run_id))
ORDER BY l.updated_at, l.id
LIMIT :limit;

-- name: estimate_counts
-- What Customize would do with each matching lead (:ids, or the filters), mirroring the
-- customize query: it takes leads that never started (or were cancelled) and are in no
-- active run; a lead without a company URL is skipped at once. One pass, one row per
-- outcome: in_flight, no_url, already_done, to_process.
SELECT CASE
           WHEN r.id IS NOT NULL
                OR 'queued' IN (l.scrape_status, l.intel_status, l.strategy_status,
                                l.subject_status, l.messaging_status)
                OR 'started' IN (l.scrape_status, l.intel_status, l.strategy_status,
                                 l.subject_status, l.messaging_status) THEN 'in_flight'
           WHEN l.company_url IS NULL THEN 'no_url'
           WHEN l.scrape_status IN ('pending', 'cancelled') THEN 'to_process'
           ELSE 'already_done'
       END AS outcome,
       count(*) AS leads
FROM lead_summaries l
LEFT JOIN runs r ON r.id = l.run_id AND r.status IN ('queued', 'running', 'paused')
WHERE l.account_id = :account_id
  AND (CAST(:ids AS bigint[]) IS NULL OR l.id = ANY(CAST(:ids AS bigint[])))
  AND l.id BETWEEN :first_id AND :last_id
  AND (CAST(:state AS text) IS NULL OR l.${stage}_status = :state)
  AND (CAST(:current_stage AS text) IS NULL OR l.current_stage = :current_stage)
  AND (CAST(:current_state AS text) IS NULL OR l.current_state = :current_state)
  AND (CAST(:import_id AS bigint) IS NULL OR l.import_id = :import_id)
  AND (CAST(:run_id AS bigint) IS NULL
       OR l.id IN (SELECT rl.lead_id FROM run_leads rl WHERE rl.run_id = :run_id))
GROUP BY 1;

-- name: usage_samples
-- Token usage the LLM reported for a stage, over the account's :limit most recent
-- completed results (those without a numeric usage are left out of the average). Plan: a
-- backward walk of the primary key that stops after :limit completed rows.
SELECT count(*) AS samples,
       avg(CAST(s.usage ->> 'input_tokens' AS numeric)) AS input_tokens,
       avg(CAST(s.usage ->> 'output_tokens' AS numeric)) AS output_tokens
FROM (
    SELECT l.${stage}_result -> 'usage' AS usage
    FROM leads l
    WHERE l.account_id = :account_id
      AND l.${stage}_status = 'completed'
    ORDER BY l.id DESC
    LIMIT :limit
) AS s
WHERE jsonb_typeof(s.usage -> 'input_tokens') = 'number'
  AND jsonb_typeof(s.usage -> 'output_tokens') = 'number';

-- Accounts and imports -----
-- API keys are found by the sha256 of the key (api_keys.key_hash is unique), never by
-- comparing secrets. An import runs in one transaction: its row, its leads (in batches of
-- ~1000 rows, each batch one statement) and its rejections commit together or not at all.

-- name: ensure_account
-- The account called :name, created if missing; `created` says which.
WITH made AS (
    INSERT INTO accounts (name) VALUES (:name)
    ON CONFLICT (name) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM made
UNION ALL
SELECT id, false FROM accounts WHERE name = :name AND NOT EXISTS (SELECT 1 FROM made);

-- name: account_by_name
SELECT id, name FROM accounts WHERE name = :name;

-- name: insert_api_key
INSERT INTO api_keys (account_id, key_hash, prefix, label)
VALUES (:account_id, :key_hash, :prefix, :label)
RETURNING id, created_at;

-- name: find_api_key
SELECT id, account_id, revoked_at IS NOT NULL AS revoked
FROM api_keys WHERE key_hash = :key_hash;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = :now
WHERE id = :id AND revoked_at IS NULL
RETURNING id, account_id;

-- name: list_api_keys
SELECT k.id, k.account_id, a.name AS account, k.prefix, k.label, k.created_at, k.revoked_at
FROM api_keys k JOIN accounts a ON a.id = k.account_id
WHERE CAST(:account_id AS bigint) IS NULL OR k.account_id = :account_id
ORDER BY k.id;

-- name: create_import
INSERT INTO imports (account_id, filename, dedupe, columns, ignored, created_at)
VALUES (:account_id, :filename, :dedupe, CAST(:columns AS jsonb), CAST(:ignored AS jsonb),
        :now)
RETURNING id;

-- name: finish_import
UPDATE imports
SET bytes = :bytes, rows_total = :rows_total, accepted = :accepted, rejected = :rejected,
    duplicates = :duplicates, first_lead_id = :first_lead_id, last_lead_id = :last_lead_id,
    completed_at = :now
WHERE id = :import_id AND completed_at IS NULL
RETURNING *;

-- name: get_import
SELECT * FROM imports WHERE id = :import_id AND account_id = :account_id;

-- name: list_imports
-- Newest first, keyset on id (:after_id null = from the newest).
SELECT * FROM imports
WHERE account_id = :account_id AND (CAST(:after_id AS bigint) IS NULL OR id < :after_id)
ORDER BY id DESC
LIMIT :limit;

-- name: import_rejections
-- Keyset on line: the primary key (import_id, line) serves it.
SELECT r.line, r.reason, r.message, r.lead_id
FROM import_rejections r
WHERE r.import_id = :import_id AND r.line > :after_line
ORDER BY r.line
LIMIT :limit;

-- name: insert_rejections
INSERT INTO import_rejections (import_id, line, reason, message, lead_id)
SELECT :import_id, r.line, r.reason, r.message, r.lead_id
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r (line integer, reason text, message text, lead_id bigint);

-- name: emails_taken
-- Which of these emails the account already has, and the lead that owns each.
SELECT email, lead_id FROM lead_emails
WHERE account_id = :account_id AND email = ANY(CAST(:emails AS text[]));

-- name: import_leads
-- One batch of an import: rows with distinct emails the account did not have (the caller
-- checked). With :by_domain, a row whose company domain the account already has, or that
-- an earlier row of the batch has, is left out. Each remaining row claims its email in
-- lead_emails first (ON CONFLICT DO NOTHING: an email a concurrent import claimed in the
-- meantime is not inserted twice), with the id its lead gets; the leads are then inserted
-- with those ids, a lead without a company URL skipped at once. Returns every row's line
-- with its new lead id, or why it was left out (the domain and the lead that has it).
WITH batch AS (
    SELECT r.*, company_domain(r.company_url) AS domain
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS r (line integer, name text, email text, company text, company_url text,
              title text)
), ranked AS (
    SELECT b.*, row_number() OVER (PARTITION BY b.domain ORDER BY b.line) AS nth
    FROM batch b
), fresh AS (
    SELECT r.* FROM ranked r
    WHERE NOT CAST(:by_domain AS boolean) OR r.domain IS NULL
       OR (r.nth = 1 AND NOT EXISTS (
           SELECT 1 FROM lead_domains d
           WHERE d.account_id = :account_id AND d.domain = r.domain))
), claimed AS (
    INSERT INTO lead_emails (account_id, email, lead_id)
    SELECT :account_id, f.email, nextval(pg_get_serial_sequence('leads', 'id'))
    FROM (SELECT email FROM fresh ORDER BY line) AS f
    ON CONFLICT (account_id, email) DO NOTHING
    RETURNING email, lead_id
), inserted AS (
    INSERT INTO leads (id, account_id, import_id, name, email, company, company_url, title,
                       scrape_status, scrape_completed_at, scrape_error,
                       created_at, updated_at)
    OVERRIDING SYSTEM VALUE
    SELECT c.lead_id, :account_id, :import_id, coalesce(f.name, ''), f.email,
           coalesce(f.company, ''), nullif(f.company_url, ''), coalesce(f.title, ''),
           CASE WHEN nullif(f.company_url, '') IS NULL THEN 'skipped' ELSE 'pending' END,
           CASE WHEN nullif(f.company_url, '') IS NULL THEN CAST(:now AS timestamptz) END,
           CASE WHEN nullif(f.company_url, '') IS NULL THEN 'no company URL' END,
           :now, :now
    FROM fresh f JOIN claimed c ON c.email = f.email
    ORDER BY c.lead_id
    RETURNING id
), domains AS (
    INSERT INTO lead_domains (account_id, domain, lead_id)
    SELECT :account_id, f.domain, c.lead_id
    FROM fresh f JOIN claimed c ON c.email = f.email
    WHERE f.domain IS NOT NULL
    ORDER BY c.lead_id
    ON CONFLICT (account_id, domain) DO NOTHING
)
SELECT b.line, b.domain, c.lead_id, f.line IS NOT NULL AS considered,
       coalesce(d.lead_id, w.lead_id) AS domain_lead_id
FROM batch b
LEFT JOIN fresh f ON f.line = b.line
LEFT JOIN claimed c ON c.email = b.email AND f.line IS NOT NULL
LEFT JOIN lead_domains d
    ON f.line IS NULL AND d.account_id = :account_id AND d.domain = b.domain
LEFT JOIN (SELECT f2.domain, c2.lead_id FROM fresh f2 JOIN claimed c2 ON c2.email = f2.email)
    AS w ON f.line IS NULL AND w.domain = b.domain
ORDER BY b.line;

-- Budgets, re-runs and scrape reuse -----------------------------------------------------

-- name: set_run_budget
UPDATE runs SET budget_usd = :budget_usd, updated_at = :now
WHERE id = :run_id AND account_id = :account_id
RETURNING id;

-- name: recent_site_scrapes
-- The newest original scrape of each site, if fresh enough (index leads_scraped_sites).
-- One index descent per site key (LATERAL … LIMIT 1), whatever the statistics say: with
-- "site_key = ANY(…)" the planner, trusting stale counts of completed scrapes, kept the
-- site key as a filter and read every fresh completed scrape of the account per claim
-- (105 ms a claim in a 10,000-lead benchmark run; it grows with the table).
SELECT k.site_key, s.id, s.scrape_result
FROM unnest(CAST(:site_keys AS text[])) AS k (site_key)
CROSS JOIN LATERAL (
    SELECT id, scrape_result FROM leads
    WHERE account_id = :account_id
      AND site_key = k.site_key
      AND scrape_status = 'completed'
      AND NOT (scrape_result ? 'reused_from')
      AND scrape_completed_at > :fresh_after
    ORDER BY scrape_completed_at DESC
    LIMIT 1
) AS s;

-- name: rerun_from
-- Re-run from stage :pos (1 = scrape … 5 = messaging): that stage is queued, later ones
-- go back to pending, earlier results are kept. Only leads in no active run whose earlier
-- stages are all completed are taken. The results and errors being replaced are kept in
-- lead_stage_versions first (the CTEs read the rows as they were before the update).
WITH chosen AS (
    SELECT l.id FROM leads l
    WHERE l.id = ANY(CAST(:ids AS bigint[]))
      AND l.account_id = :account_id
      AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = l.run_id
                      AND r.status IN ('queued', 'running', 'paused'))
      AND (:pos > 1 OR l.company_url IS NOT NULL)
      AND (:pos <= 1 OR l.scrape_status = 'completed')
      AND (:pos <= 2 OR l.intel_status = 'completed')
      AND (:pos <= 3 OR l.strategy_status = 'completed')
      AND (:pos <= 4 OR l.subject_status = 'completed')
    ORDER BY l.id
    FOR UPDATE
), archived AS (
    INSERT INTO lead_stage_versions (lead_id, stage, attempt, status, result, error,
                                     completed_at, run_id, replaced_at)
    SELECT l.id, s.stage, s.attempt, s.status, s.result, s.error, s.completed_at, l.run_id,
           :now
    FROM leads l JOIN chosen ON chosen.id = l.id
    CROSS JOIN LATERAL (VALUES
        (1, 'scrape', l.scrape_attempt, l.scrape_status, l.scrape_result, l.scrape_error,
            l.scrape_completed_at),
        (2, 'intel', l.intel_attempt, l.intel_status, l.intel_result, l.intel_error,
            l.intel_completed_at),
        (3, 'strategy', l.strategy_attempt, l.strategy_status, l.strategy_result,
            l.strategy_error, l.strategy_completed_at),
        (4, 'subject', l.subject_attempt, l.subject_status, l.subject_result,
            l.subject_error, l.subject_completed_at),
        (5, 'messaging', l.messaging_attempt, l.messaging_status, l.messaging_result,
            l.messaging_error, l.messaging_completed_at)
    ) AS s (pos, stage, attempt, status, result, error, completed_at)
    WHERE s.pos >= :pos AND (s.result IS NOT NULL OR s.error IS NOT NULL)
), moved AS (
    UPDATE leads AS l
    SET run_id = :run_id,
        run_input_tokens = 0,
        run_output_tokens = 0,
        scrape_status = CASE WHEN :pos = 1 THEN 'queued' ELSE l.scrape_status END,
        scrape_run_after = CASE WHEN :pos = 1 THEN :now ELSE l.scrape_run_after END,
        scrape_result = CASE WHEN :pos <= 1 THEN NULL ELSE l.scrape_result END,
        scrape_error = CASE WHEN :pos <= 1 THEN NULL ELSE l.scrape_error END,
        scrape_retry_count = CASE WHEN :pos <= 1 THEN 0 ELSE l.scrape_retry_count END,
        scrape_completed_at = CASE WHEN :pos <= 1 THEN NULL ELSE l.scrape_completed_at END,
        intel_status = CASE WHEN :pos = 2 THEN 'queued' WHEN :pos < 2 THEN 'pending'
                            ELSE l.intel_status END,
        intel_run_after = CASE WHEN :pos = 2 THEN :now ELSE l.intel_run_after END,
        intel_result = CASE WHEN :pos <= 2 THEN NULL ELSE l.intel_result END,
        intel_error = CASE WHEN :pos <= 2 THEN NULL ELSE l.intel_error END,
        intel_retry_count = CASE WHEN :pos <= 2 THEN 0 ELSE l.intel_retry_count END,
        intel_completed_at = CASE WHEN :pos <= 2 THEN NULL ELSE l.intel_completed_at END,
        strategy_status = CASE WHEN :pos = 3 THEN 'queued' WHEN :pos < 3 THEN 'pending'
                               ELSE l.strategy_status END,
        strategy_run_after = CASE WHEN :pos = 3 THEN :now ELSE l.strategy_run_after END,
        strategy_result = CASE WHEN :pos <= 3 THEN NULL ELSE l.strategy_result END,
        strategy_error = CASE WHEN :pos <= 3 THEN NULL ELSE l.strategy_error END,
        strategy_retry_count = CASE WHEN :pos <= 3 THEN 0 ELSE l.strategy_retry_count END,
        strategy_completed_at = CASE WHEN :pos <= 3 THEN NULL
                                     ELSE l.strategy_completed_at END,
        subject_status = CASE WHEN :pos = 4 THEN 'queued' WHEN :pos < 4 THEN 'pending'
                              ELSE l.subject_status END,
        subject_run_after = CASE WHEN :pos = 4 THEN :now ELSE l.subject_run_after END,
        subject_result = CASE WHEN :pos <= 4 THEN NULL ELSE l.subject_result END,
        subject_error = CASE WHEN :pos <= 4 THEN NULL ELSE l.subject_error END,
        subject_retry_count = CASE WHEN :pos <= 4 THEN 0 ELSE l.subject_retry_count END,
        subject_completed_at = CASE WHEN :pos <= 4 THEN NULL ELSE l.subject_completed_at END,
        messaging_status = CASE WHEN :pos = 5 THEN 'queued' ELSE 'pending' END,
        messaging_run_after = :now,
        messaging_result = NULL,
        messaging_error = NULL,
        messaging_retry_count = 0,
        messaging_completed_at = NULL,
        updated_at = :now
    FROM chosen
    WHERE l.id = chosen.id
    RETURNING l.id
), linked AS (
    INSERT INTO run_leads (run_id, lead_id) SELECT :run_id, id FROM moved
)
SELECT id, 'queued' AS status FROM moved;

-- name: lead_versions
SELECT v.stage, v.attempt, v.status, v.result, v.error, v.completed_at, v.run_id,
       v.replaced_at
FROM lead_stage_versions v JOIN leads l ON l.id = v.lead_id
WHERE v.lead_id = :lead_id AND l.account_id = :account_id
  AND (CAST(:stage AS text) IS NULL OR v.stage = :stage)
ORDER BY v.id;
