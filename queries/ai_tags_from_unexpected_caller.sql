-- id: ai_tags_from_unexpected_caller
-- severity: medium
-- summary: A session was tagged as AI by a caller that is not an approved MCP server role.
-- metric: Findings
-- mitre: T1078.004, T1550.001
--
-- ## What it detects
-- Sessions that are AI because of their own tags (not inherited through a chain) whose STS
-- caller does not match `classify.mcp_server_callers` in `agenttrail.toml` (globs on the caller
-- ARN). With the default empty list every tagged session is reported: list the roles your MCP
-- servers run as.
-- ## Why it matters
-- Session tags are set by whoever calls AssumeRole; anyone can claim (or fake) to be an agent.
-- ## Triage
-- Look first at the caller (`actor_arn`): a person or host marking their own session as AI can
-- hide activity among agent traffic or trigger agent-only allowances. Add legitimate MCP server
-- roles to `mcp_server_callers`.
-- ## False positives
-- MCP servers not yet listed in `mcp_server_callers`.
-- ## References
-- - https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html
SELECT
  'ai_tags_from_unexpected_caller' AS detection_id,
  s.issued_at AS event_time,
  s.sts_event_id AS event_id,
  s.account_id,
  s.caller_arn AS actor_arn,
  s.access_key_id,
  s.mcp_server,
  s.api AS event_name,
  'tags ' || s.tags || ' set by ' || coalesce(s.caller_arn, 'unknown caller') AS evidence
FROM sessions s
WHERE s.ai_mechanism = 'session-tag'
  AND s.parent_access_key_id IS NULL
  AND NOT mcp_server_caller(coalesce(s.caller_arn, ''))
