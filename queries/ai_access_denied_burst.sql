-- id: ai_access_denied_burst
-- severity: medium
-- summary: An AI session hit five or more access-denied errors within five minutes.
-- metric: Findings
-- mitre: T1526, T1580, T1069.003
--
-- ## What it detects
-- AI-driven calls failing with `AccessDenied`, `AccessDeniedException`, `UnauthorizedOperation`
-- or `Client.UnauthorizedOperation`, counted per session (access key, or ARN when there is none)
-- in 5-minute buckets; a bucket with 5 or more fires once, at its first denied call.
-- ## Why it matters
-- A burst of denials is what probing looks like, and what a prompt-injected agent does while it
-- looks for a way to reach what it was told to.
-- ## Triage
-- Look first at `evidence` (the denied APIs) and the session's `ai_principal`: an agent
-- enumerating what it may do is probing, a retry loop on one API is a bug. Then `agenttrail
-- session <access key>` for what succeeded in the same minutes. Common false positive: an agent
-- with a deliberately narrow role exploring its limits once after deployment.
-- ## False positives
-- Agents exploring an account with read-only discovery tools; raise the threshold (edit `>= 5`).
-- ## References
-- - https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
SELECT
  'ai_access_denied_burst' AS detection_id,
  min(e.event_time) AS event_time,
  first_value(e.event_id ORDER BY e.event_time, e.event_id) AS event_id,
  first_value(e.recipient_account_id ORDER BY e.event_time, e.event_id) AS account_id,
  first_value(e.identity_arn ORDER BY e.event_time, e.event_id) AS actor_arn,
  first_value(e.access_key_id ORDER BY e.event_time, e.event_id) AS access_key_id,
  first_value(e.mcp_server ORDER BY e.event_time, e.event_id) AS mcp_server,
  first_value(e.event_name ORDER BY e.event_time, e.event_id) AS event_name,
  count(*) || ' denied calls in 5 minutes: ' || array_to_string(array_sort(array_distinct(array_agg(e.event_name))), ',') AS evidence
FROM events e
WHERE e.is_ai
  AND e.error_code IN ('AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'Client.UnauthorizedOperation')
GROUP BY coalesce(e.access_key_id, e.identity_arn), date_bin(INTERVAL '5 minutes', e.event_time, TIMESTAMP '1970-01-01T00:00:00Z')
HAVING count(*) >= 5
