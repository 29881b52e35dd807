-- id: ai_first_seen_api
-- severity: medium
-- summary: An AI-driven principal called an API it had not called in the previous 14 days.
-- metric: Findings
-- mitre: T1526, T1078.004
-- lookback: 15d
--
-- ## What it detects
-- AI-driven calls of an `event_source:event_name` that the same principal (the role behind an
-- assumed-role session, else the person behind the agent, `ai_principal`, else the identity)
-- had not called in the 14 days before, once that principal has a baseline: AI activity in those
-- 14 days, at least a day before the call (a principal back from a long silence is not reported
-- for everything it does). The baseline is read from the lake: `detect` reads the 15 days before
-- its window (`lookback`). The calls are read as one row per principal, API and day (first and
-- last call; exact for both tests, see `days` and `points`) from `ai_api_days`, whose whole days
-- before the window `detect` keeps in the lake between runs, so a scheduled run classifies only
-- its own day again. Edit the intervals below (and
-- `lookback`) to change them; the summary by day holds for a baseline span (14 days - 1 day)
-- longer than a day.
-- ## Why it matters
-- Agents repeat the same few tools; a new API — above all a write or a delete — is where a
-- hallucination, a prompt injection or a stolen agent credential shows first.
-- ## Triage
-- Look first at `event_name` and whether it writes or deletes; then at the tool that made it
-- (`agenttrail query "SELECT mcp_tool, mcp_client FROM events WHERE event_id = '…'"`) and the
-- input the agent was given just before. Common false positive: a new release of the agent or of
-- its MCP server adding a tool.
-- ## False positives
-- Agents whose work legitimately varies (general-purpose assistants); raise the look-back, or
-- keep this detection out of the alarms (it publishes `Findings`, no alarm watches it by default).
-- ## References
-- - https://attack.mitre.org/techniques/T1526/
-- One row per principal, API and day (`ai_api_days`: first and last call, and the first call's
-- row). Only a day's first call of an API can follow 14 days without one, so it is the only
-- candidate; its previous call is the last call of the API's latest earlier day.
WITH days AS (
  SELECT * FROM ai_api_days
),
apis AS (
  SELECT *,
         lag(last_call) OVER (PARTITION BY principal, event_source, event_name ORDER BY day)
           AS previous_call
  FROM days
),
-- The baseline: a call of the principal between 14 days and 1 day before the candidate. One
-- exists exactly when the first or the last call of one of the principal's days lies there (the
-- span is longer than a day), so each day row stands for its first and its last call.
points AS (
  SELECT *,
         unnest(CASE WHEN first_call = last_call THEN make_array(first_call)
                     ELSE make_array(first_call, last_call) END) AS at
  FROM apis
),
counted AS (
  SELECT *,
         count(*) OVER (PARTITION BY principal ORDER BY at
                        RANGE BETWEEN INTERVAL '14 days' PRECEDING AND INTERVAL '1 day' PRECEDING)
           AS baseline_calls
  FROM points
)
SELECT
  'ai_first_seen_api' AS detection_id,
  first_call AS event_time,
  event_id,
  recipient_account_id AS account_id,
  identity_arn AS actor_arn,
  access_key_id,
  mcp_server,
  event_name,
  concat_ws(' ', event_source || ':' || event_name, 'first call by', principal,
    CASE WHEN previous_call IS NULL THEN 'ever'
         ELSE 'since ' || CAST(previous_call AS VARCHAR) END,
    '(behind it: ' || coalesce(ai_principal, '?') || '; via ' || ai_mechanism || ')') AS evidence
FROM counted
WHERE at = first_call
  AND (previous_call IS NULL OR previous_call < first_call - INTERVAL '14 days')
  AND baseline_calls > 0
