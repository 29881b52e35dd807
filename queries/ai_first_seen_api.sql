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
-- its window (`lookback`). Edit the intervals below (and `lookback`) to change them.
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
history AS (
  SELECT *,
         lag(event_time) OVER (PARTITION BY principal, event_source, event_name
                               ORDER BY event_time, event_id) AS previous_call,
         min(event_time) OVER (PARTITION BY principal ORDER BY event_time
                               RANGE BETWEEN INTERVAL '14 days' PRECEDING AND CURRENT ROW)
           AS baseline_start
  FROM ai
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
WHERE principal IS NOT NULL
  AND (previous_call IS NULL OR previous_call < event_time - INTERVAL '14 days')
  AND baseline_start <= event_time - INTERVAL '1 day'
