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
-- its window (`lookback`), and keeps of the calls before its window one row per principal, API
-- and day (exact for both tests; see `earlier`). Edit the intervals below (and `lookback`) to
-- change them; the summary by day holds for a baseline span (14 days - 1 day) longer than a day.
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
WITH ai AS (
  SELECT event_time, event_id, recipient_account_id, identity_arn, access_key_id, mcp_server,
         event_name, event_source, ai_mechanism, ai_principal,
         coalesce(session_issuer_arn, ai_principal, identity_arn) AS principal
  FROM events
  WHERE is_ai AND event_name IS NOT NULL
),
-- Before the window `detect` reports on (`detect_since()`; none without a window) a call is
-- history only, and one row per principal, API and day with the day's first and last call is
-- all the two tests below need of it: an API's previous call is the latest of its last calls,
-- and a principal has a call between 14 days and 1 day before a call exactly when the first
-- or the last call of one of its days lies there (that span is longer than a day). The window
-- functions then sort the window's calls and two rows per principal, API and day.
earlier AS (
  SELECT principal, event_source, event_name, date_trunc('day', event_time) AS day,
         min(event_time) AS first_call, max(event_time) AS last_call
  FROM ai
  WHERE event_time < detect_since()
  GROUP BY principal, event_source, event_name, date_trunc('day', event_time)
),
calls AS (
  SELECT event_time, event_id, recipient_account_id, identity_arn, access_key_id, mcp_server,
         event_name, event_source, ai_mechanism, ai_principal, principal, true AS reported
  FROM ai
  WHERE detect_since() IS NULL OR event_time >= detect_since()
  UNION ALL
  SELECT unnest(make_array(first_call, last_call)) AS event_time, NULL, NULL, NULL, NULL, NULL,
         event_name, event_source, NULL, NULL, principal, false
  FROM earlier
),
history AS (
  SELECT *,
         lag(event_time) OVER (PARTITION BY principal, event_source, event_name
                               ORDER BY event_time, event_id) AS previous_call,
         min(event_time) OVER (PARTITION BY principal ORDER BY event_time
                               RANGE BETWEEN INTERVAL '14 days' PRECEDING AND CURRENT ROW)
           AS baseline_start
  FROM calls
)
SELECT
  'ai_first_seen_api' AS detection_id,
  event_time,
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
FROM history
WHERE reported
  AND principal IS NOT NULL
  AND (previous_call IS NULL OR previous_call < event_time - INTERVAL '14 days')
  AND baseline_start <= event_time - INTERVAL '1 day'
