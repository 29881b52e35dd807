-- `agenttrail sessions`: every STS session with its AI decision and what it did.
SELECT
  s.issued_at,
  s.access_key_id,
  s.role_arn,
  s.session_name,
  s.is_ai,
  s.ai_mechanism,
  s.mcp_server,
  s.tags,
  s.source_identity,
  s.has_session_policy,
  s.chain_depth,
  s.parent_access_key_id,
  s.caller_arn,
  CASE WHEN s.is_ai THEN s.root_caller_arn END AS ai_principal,
  s.region AS sts_region,
  count(e.dedup_key) AS calls,
  count(e.error_code) AS errors,
  count(CASE WHEN e.read_only = false THEN 1 END) AS writes,
  min(e.event_time) AS first_call,
  max(e.event_time) AS last_call
FROM sessions s
LEFT JOIN events_dedup e ON e.access_key_id = s.access_key_id
GROUP BY s.issued_at, s.access_key_id, s.role_arn, s.session_name, s.is_ai, s.ai_mechanism,
         s.mcp_server, s.tags, s.source_identity, s.has_session_policy, s.chain_depth,
         s.parent_access_key_id, s.caller_arn, s.root_caller_arn, s.region
