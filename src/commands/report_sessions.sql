-- Report: the AI sessions with the most destructive calls.
SELECT
  coalesce(access_key_id, identity_arn) AS session,
  min(identity_arn) AS actor,
  coalesce(min(mcp_server), '-') AS mcp_server,
  count(*) FILTER (WHERE error_code IS NULL AND (event_name LIKE 'Delete%' OR event_name IN ('TerminateInstances', 'ScheduleKeyDeletion', 'PurgeQueue', 'DeregisterImage'))) AS destructive,
  count(*) FILTER (WHERE read_only = false) AS writes,
  count(*) AS calls
FROM ai_events
GROUP BY 1
ORDER BY destructive DESC, calls DESC, 1
LIMIT 10
