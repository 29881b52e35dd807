-- The `ai_api_days` view: one row per principal, API and day of AI-driven calls, with the day's
-- first and last call and the first call's row (ties broken by event id). A principal is the role
-- behind an assumed-role session, else the person behind the agent (`ai_principal`), else the
-- identity. What a baseline over many days reads (`ai_first_seen_api`): `detect` keeps the rows of
-- whole days in the lake between runs (`query::kept`) instead of classifying those days again.
WITH ai AS (
  SELECT event_time, event_id, recipient_account_id, identity_arn, access_key_id, mcp_server,
         event_name, event_source, ai_mechanism, ai_principal,
         coalesce(session_issuer_arn, ai_principal, identity_arn) AS principal
  FROM events
  WHERE is_ai AND event_name IS NOT NULL
)
SELECT principal, event_source, event_name, date_trunc('day', event_time) AS day,
       min(event_time) AS first_call, max(event_time) AS last_call,
       first_value(event_id ORDER BY event_time, event_id) AS event_id,
       first_value(recipient_account_id ORDER BY event_time, event_id) AS recipient_account_id,
       first_value(identity_arn ORDER BY event_time, event_id) AS identity_arn,
       first_value(access_key_id ORDER BY event_time, event_id) AS access_key_id,
       first_value(mcp_server ORDER BY event_time, event_id) AS mcp_server,
       first_value(ai_mechanism ORDER BY event_time, event_id) AS ai_mechanism,
       first_value(ai_principal ORDER BY event_time, event_id) AS ai_principal
FROM ai
WHERE principal IS NOT NULL
GROUP BY principal, event_source, event_name, date_trunc('day', event_time)
