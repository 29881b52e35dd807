-- id: mcp_bypass
-- severity: medium
-- summary: A role marked for agents was used without the marking, outside any MCP server.
-- metric: Findings
-- mitre: T1078.004
-- sessions: all
--
-- ## What it detects
-- Calls that are not AI-driven made with a role that the organisation marks for agents: a role
-- that AI sessions assume (sessions tagged as AI by a self-managed MCP server, chained from one,
-- or carrying an agent source identity), used by a session without that marking — a person or a
-- script acting with the agent's permissions outside the MCP server. A person's own role used by
-- that person, after their agent used it through the AWS MCP Server (`managed-mcp`, `mcp-oauth`),
-- is how that server is meant to be used and stays quiet.
-- A role stays marked once any AI session in the lake has assumed it: this detection reads
-- `ai_roles`, the roles of every AI session of the lake (`sessions: all`), not only of the
-- sessions that can be live in its window.
-- ## Why it matters
-- Controls enforced in an MCP server (tool allow-lists, confirmations, session policies) do not
-- apply to calls made with the agent's role directly from the CLI or an SDK; a person borrowing
-- the agent's role also hides their actions among the agent's.
-- ## Triage
-- Look first at who created the unmarked session (`agenttrail session <access key>`: its caller)
-- and what it did; then whether the role should trust that caller at all. Common false positive:
-- an engineer debugging the agent with its role; give them a role of their own.
-- ## False positives
-- People who legitimately share a role with agents; give agents their own roles. To also report
-- people acting with their own roles near their agents' activity (noisy: about 9% of events on
-- a held-out set), widen `marked` to every principal with AI activity.
-- ## References
-- - https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html
WITH marked AS (
  -- Roles of AI sessions, with how they were marked and the server behind them: `sessions WHERE
  -- is_ai GROUP BY role_arn` with min(ai_mechanism), min(mcp_server), min(issued_at), over every
  -- session of the lake.
  SELECT role_arn, how, mcp_server, first_marked
  FROM ai_roles
)
SELECT
  'mcp_bypass' AS detection_id,
  h.event_time,
  h.event_id,
  h.recipient_account_id AS account_id,
  h.identity_arn AS actor_arn,
  h.access_key_id,
  m.mcp_server,
  h.event_name,
  'role ' || m.role_arn || ' is marked for agents (' || m.how || ', first ' ||
    CAST(m.first_marked AS VARCHAR) || ') but this session carries no marking' AS evidence
FROM events h
JOIN marked m ON h.session_issuer_arn = m.role_arn
WHERE NOT h.is_ai
  AND h.identity_type = 'AssumedRole'
