-- id: ai_session_without_session_policy
-- severity: low
-- summary: An AI session was created without a session policy to scope its credentials.
-- metric: Findings
-- mitre: T1078.004
--
-- ## What it detects
-- AI sessions (tagged, chained, agent role or source identity) whose `AssumeRole*` call carried
-- neither `policy` nor `policyArns`, so the agent holds every permission of the role.
-- ## Why it matters
-- Scoping each tool's credentials with a session policy limits what a misled agent can do.
-- ## Triage
-- Look at the role's own permissions: without a session policy the agent holds all of them. Common
-- false positive: roles already scoped to exactly what the agent needs.
-- ## False positives
-- Roles that are already narrowly scoped for one agent task.
-- ## References
-- - https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session
SELECT
  'ai_session_without_session_policy' AS detection_id,
  s.issued_at AS event_time,
  s.sts_event_id AS event_id,
  s.account_id,
  s.assumed_role_arn AS actor_arn,
  s.access_key_id,
  s.mcp_server,
  s.api AS event_name,
  'role ' || coalesce(s.role_arn, '?') || ' via ' || s.ai_mechanism AS evidence
FROM sessions s
WHERE s.is_ai AND NOT s.has_session_policy
