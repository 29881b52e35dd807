-- id: mcp_bypass
-- severity: medium
-- summary: A principal used by AI agents also acted directly, outside any MCP server, within an hour.
-- metric: Findings
-- mitre: T1078.004
--
-- ## What it detects
-- Human (not AI-driven) calls by a principal — the role behind an assumed-role session, or an
-- IAM user — that has AI-driven activity within 60 minutes before or after. Edit the interval
-- below to change the window.
-- ## Why it matters
-- Controls enforced in an MCP server (tool allow-lists, confirmations, session policies) do not
-- apply to calls made with the same credentials or role directly from the CLI or an SDK.
-- ## Triage
-- Look first at whether the principal is one marked for agents (a tagged session's role, an agent
-- role, an agent source identity) and what it did directly. Common false positive: a person using
-- their own role shortly after their agent used it through the AWS MCP server.
-- ## False positives
-- People who legitimately share a role with agents; give agents their own roles.
-- ## References
-- - https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html
SELECT
  'mcp_bypass' AS detection_id,
  h.event_time,
  h.event_id,
  h.recipient_account_id AS account_id,
  h.identity_arn AS actor_arn,
  h.access_key_id,
  a.mcp_server,
  h.event_name,
  'principal ' || a.principal || ' had AI activity ' || CAST(a.first_ai AS VARCHAR) || ' to ' || CAST(a.last_ai AS VARCHAR) AS evidence
FROM events h
JOIN (
  SELECT coalesce(session_issuer_arn, identity_arn) AS principal,
         min(event_time) AS first_ai, max(event_time) AS last_ai, min(mcp_server) AS mcp_server
  FROM events
  WHERE is_ai AND coalesce(session_issuer_arn, identity_arn) IS NOT NULL
  GROUP BY 1
) a ON coalesce(h.session_issuer_arn, h.identity_arn) = a.principal
WHERE NOT h.is_ai
  AND h.event_time >= a.first_ai - INTERVAL '60 minutes'
  AND h.event_time <= a.last_ai + INTERVAL '60 minutes'
