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
-- ## How it is computed
-- The first call of each group (earliest `event_time`, then `event_id`, nulls last) is the `min`
-- of one sortable string per call: its event id, then the columns to report, each marked `a`
-- when present and `b` when null, separated by NUL (which none of these AWS-assigned fields
-- holds). A `first_value(… ORDER BY …)` per column kept a copy of the ordering per column and
-- group: 1 GiB more and 1 s longer at 5M events (703k groups), for the same rows.
WITH grouped AS (
  SELECT
    e.mcp_server,
    min(e.event_time) AS event_time,
    min(concat_ws(chr(0),
      lpad(CAST(arrow_cast(e.event_time, 'Int64') AS VARCHAR), 20, '0'),
      coalesce('a' || e.event_id, 'b'),
      coalesce('a' || e.recipient_account_id, 'b'),
      coalesce('a' || e.identity_arn, 'b'),
      coalesce('a' || e.access_key_id, 'b'),
      coalesce('a' || e.event_name, 'b'))) AS first_call,
    count(*) AS calls
  FROM events e
  WHERE e.is_ai
    AND e.mcp_server IS NOT NULL
    AND NOT mcp_approved(e.mcp_server)
  GROUP BY e.mcp_server, coalesce(e.access_key_id, e.identity_arn), date_bin(INTERVAL '1 hour', e.event_time, TIMESTAMP '1970-01-01T00:00:00Z')
),
firsts AS (
  SELECT g.*, string_to_array(first_call, chr(0)) AS f FROM grouped g
)
SELECT
  'unapproved_mcp_server' AS detection_id,
  event_time,
  CASE WHEN f[2] LIKE 'a%' THEN substr(f[2], 2) END AS event_id,
  CASE WHEN f[3] LIKE 'a%' THEN substr(f[3], 2) END AS account_id,
  CASE WHEN f[4] LIKE 'a%' THEN substr(f[4], 2) END AS actor_arn,
  CASE WHEN f[5] LIKE 'a%' THEN substr(f[5], 2) END AS access_key_id,
  mcp_server,
  CASE WHEN f[6] LIKE 'a%' THEN substr(f[6], 2) END AS event_name,
  calls || ' calls through unapproved MCP server ' || mcp_server AS evidence
FROM firsts
