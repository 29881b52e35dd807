-- Report: the AI sessions with the most destructive calls.
SELECT
  coalesce(access_key_id, identity_arn) AS session,
  CASE WHEN min(ai_principal) <> min(identity_arn)
       THEN min(identity_arn) || ' for ' || min(ai_principal) ELSE min(identity_arn) END AS actor,
  coalesce(min(mcp_server), '-') AS mcp_server,
  count(*) FILTER (WHERE error_code IS NULL AND (event_name LIKE 'Delete%' OR event_name IN ('TerminateInstances', 'ScheduleKeyDeletion', 'PurgeQueue', 'DeregisterImage'))) AS destructive,
  count(*) FILTER (WHERE read_only = false) AS writes,
  count(*) AS calls
FROM ai_events
GROUP BY 1
ORDER BY destructive DESC, calls DESC, 1
LIMIT 10
