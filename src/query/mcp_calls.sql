-- The `mcp_calls` view: each call an AWS-managed MCP server logged (`AwsMcpEvent`), with its tool,
-- its client and the downstream AWS calls it made (linked by request id).
SELECT
  m.event_time,
  m.event_id,
  m.recipient_account_id AS account_id,
  m.identity_arn,
  m.event_source AS mcp_server,
  m.event_name,
  m.mcp_tool,
  m.mcp_client,
  count(d.event_id) AS downstream_calls,
  array_to_string(array_agg(d.event_source || ':' || d.event_name ORDER BY d.event_time) FILTER (WHERE d.event_id IS NOT NULL), ', ') AS downstream,
  count(d.error_code) AS downstream_errors
FROM events m
LEFT JOIN mcp_links l ON l.mcp_event_id = m.dedup_key AND l.request_id <> coalesce(m.request_id, '')
LEFT JOIN events d ON d.request_id = l.request_id AND d.dedup_key <> m.dedup_key
WHERE m.event_type = 'AwsMcpEvent'
GROUP BY m.event_time, m.event_id, m.recipient_account_id, m.identity_arn, m.event_source, m.event_name, m.mcp_tool, m.mcp_client
