-- The `events` view: de-duplicated events with their AI classification (see src/correlate.rs).
-- Rules, strongest first: managed-mcp > session-tag/chained/source-identity/agent-role (decided on
-- the session the access key belongs to) > source-identity/agent-role on the event itself (when
-- its session is not in the lake) > session-name (no access key; low) > user-agent (low).
WITH base AS (
  SELECT
    e.*,
    ai_managed_mcp(e.invoked_by) OR ai_managed_mcp(e.event_source) AS r_managed,
    ai_source_identity(e.source_identity) AS r_source_identity,
    ai_agent_role(e.session_issuer_arn) AS r_agent_role,
    ai_user_agent_server(e.user_agent) AS r_ua_server,
    regexp_replace(e.identity_arn, '^.*/', '') AS r_session_name
  FROM events_dedup e
),
labelled AS (
  SELECT
    b.*,
    s.ai_mechanisms AS s_mechanisms,
    s.mcp_server AS s_mcp_server,
    s.tags AS s_tags,
    s.access_key_id AS s_key,
    f.mcp_server AS f_mcp_server,
    f.role_arn AS f_role,
    m.mcp_tool AS m_tool,
    m.mcp_client AS m_client,
    m.mcp_server AS m_server,
    concat_ws(',',
      CASE WHEN b.r_managed THEN 'managed-mcp' END,
      s.ai_mechanisms,
      CASE WHEN s.access_key_id IS NULL AND b.r_source_identity THEN 'source-identity' END,
      CASE WHEN s.access_key_id IS NULL AND b.r_agent_role THEN 'agent-role' END,
      CASE WHEN f.role_arn IS NOT NULL THEN 'session-name' END,
      CASE WHEN b.r_ua_server IS NOT NULL THEN 'user-agent' END
    ) AS all_mechanisms
  FROM base b
  LEFT JOIN sessions s ON b.access_key_id = s.access_key_id
  LEFT JOIN ai_session_names f
    ON b.access_key_id IS NULL
   AND b.session_issuer_arn = f.role_arn
   AND b.r_session_name = f.session_name
   AND b.event_time >= f.first_issued_at
   AND b.event_time <= f.last_expires_at
  LEFT JOIN mcp_links m ON b.request_id = m.request_id AND b.r_managed
)
SELECT
  l.* EXCLUDE (r_managed, r_source_identity, r_agent_role, r_ua_server, r_session_name,
               s_mechanisms, s_mcp_server, s_tags, s_key, f_mcp_server, f_role, m_tool, m_client,
               m_server, all_mechanisms),
  l.all_mechanisms <> '' AS is_ai,
  CASE WHEN l.all_mechanisms = '' THEN NULL ELSE split_part(l.all_mechanisms, ',', 1) END AS ai_mechanism,
  CASE WHEN l.all_mechanisms = '' THEN NULL ELSE l.all_mechanisms END AS ai_mechanisms,
  CASE
    WHEN l.all_mechanisms = '' THEN NULL
    WHEN split_part(l.all_mechanisms, ',', 1) IN ('session-name', 'user-agent') THEN 'low'
    ELSE 'high'
  END AS ai_confidence,
  CASE
    WHEN l.r_managed AND l.invoked_by IS NOT NULL AND ai_managed_mcp(l.invoked_by) THEN l.invoked_by
    WHEN l.r_managed THEN l.event_source
    ELSE coalesce(l.s_mcp_server, l.f_mcp_server, l.r_ua_server)
  END AS mcp_server,
  l.s_tags AS session_tags,
  l.m_tool AS mcp_tool,
  l.m_client AS mcp_client
FROM labelled l
