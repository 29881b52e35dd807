-- The `events` view: de-duplicated events with their AI classification (see src/correlate.rs).
-- Rules, strongest first: managed-mcp > mcp-oauth (a sign-in session granted to an MCP endpoint) >
-- session-tag/chained/source-identity/agent-role (decided on
-- the session the access key belongs to) > source-identity/agent-role on the event itself (when
-- its session is not in the lake) > session-name (no access key; low) > user-agent (low).
WITH base AS (
  SELECT
    e.*,
    ai_managed_mcp(e.invoked_by) OR ai_managed_mcp(e.event_source) AS r_managed,
    ai_source_identity(e.source_identity) AS r_source_identity,
    ai_agent_role(e.session_issuer_arn) AS r_agent_role,
    ai_user_agent_server(e.user_agent) AS r_ua_server,
    CASE WHEN e.access_key_id IS NULL THEN regexp_replace(e.identity_arn, '^.*/', '') END
      AS r_session_name
  FROM events_dedup e
),
labelled AS (
  SELECT
    b.*,
    s.ai_mechanisms AS s_mechanisms,
    s.mcp_server AS s_mcp_server,
    s.tags AS s_tags,
    s.access_key_id AS s_key,
    s.root_caller_arn AS s_root_caller,
    g.caller_arn AS g_caller,
    g.client_id AS g_client,
    g.resource AS g_resource,
    i.mcp_tool AS i_tool,
    i.mcp_client AS i_client,
    f.mcp_server AS f_mcp_server,
    f.role_arn AS f_role,
    m.mcp_tool AS m_tool,
    m.mcp_client AS m_client,
    m.mcp_server AS m_server,
    concat_ws(',',
      CASE WHEN b.r_managed THEN 'managed-mcp' END,
      CASE WHEN g.signin_session_arn IS NOT NULL THEN 'mcp-oauth' END,
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
  LEFT JOIN signin_mcp_sessions g ON b.signin_session_arn = g.signin_session_arn
  LEFT JOIN mcp_inferred_links i ON b.dedup_key = i.dedup_key AND b.request_id IS NULL
)
SELECT
  l.* EXCLUDE (r_managed, r_source_identity, r_agent_role, r_ua_server, r_session_name,
               s_mechanisms, s_mcp_server, s_tags, s_key, s_root_caller, g_caller, g_client,
               g_resource, i_tool, i_client, f_mcp_server, f_role, m_tool, m_client, m_server,
               all_mechanisms),
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
    ELSE coalesce(l.s_mcp_server, l.f_mcp_server, l.r_ua_server,
                  regexp_replace(l.g_resource, '^https?://([^/]+).*$', '\\1'))
  END AS mcp_server,
  l.s_tags AS session_tags,
  coalesce(l.m_tool, l.i_tool) AS mcp_tool,
  coalesce(l.m_client, l.i_client, l.g_client) AS mcp_client,
  CASE WHEN l.m_tool IS NOT NULL THEN 'request-id' WHEN l.i_tool IS NOT NULL THEN 'inferred' END AS mcp_link,
  CASE WHEN l.all_mechanisms <> '' THEN coalesce(l.g_caller, l.s_root_caller, l.identity_arn) END
    AS ai_principal
FROM labelled l
