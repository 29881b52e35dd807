-- id: unapproved_mcp_server
-- severity: medium
-- summary: AI activity went through an MCP server that is not in the approved registry.
-- metric: Findings
-- mitre: T1078.004, T1199
--
-- ## What it detects
-- AI-driven calls whose MCP server (the managed server's `invokedBy`, the `MCPServer` session
-- tag, or the server named in an `awslabs/mcp/<server>` user agent) is not listed in
-- `classify.approved_mcp_servers` of `agenttrail.toml`. One finding per session, server and hour.
-- ## Why it matters
-- Unreviewed MCP servers run with someone's credentials; the registry is the control that says
-- which tools agents may use.
-- ## Triage
-- Look first at `mcp_server` and who runs it: add sanctioned servers to `approved_mcp_servers`;
-- anything else is shadow tooling with someone's credentials.
-- ## False positives
-- A newly adopted server not yet added to the registry: add it.
-- ## References
-- - https://modelcontextprotocol.io/specification
SELECT
  'unapproved_mcp_server' AS detection_id,
  min(e.event_time) AS event_time,
  first_value(e.event_id ORDER BY e.event_time, e.event_id) AS event_id,
  first_value(e.recipient_account_id ORDER BY e.event_time, e.event_id) AS account_id,
  first_value(e.identity_arn ORDER BY e.event_time, e.event_id) AS actor_arn,
  first_value(e.access_key_id ORDER BY e.event_time, e.event_id) AS access_key_id,
  e.mcp_server,
  first_value(e.event_name ORDER BY e.event_time, e.event_id) AS event_name,
  count(*) || ' calls through unapproved MCP server ' || e.mcp_server AS evidence
FROM events e
WHERE e.is_ai
  AND e.mcp_server IS NOT NULL
  AND NOT mcp_approved(e.mcp_server)
GROUP BY e.mcp_server, coalesce(e.access_key_id, e.identity_arn), date_bin(INTERVAL '1 hour', e.event_time, TIMESTAMP '1970-01-01T00:00:00Z')
