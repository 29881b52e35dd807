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
-- The correlation tables hold one row per key: each is looked up (src/query/lookup.rs), which
-- is a left join that adds only the looked-up columns instead of copying every event's row.
keyed AS (
  SELECT
    b.*,
    lookup_row('sessions', b.access_key_id) AS s_row,
    CASE WHEN b.access_key_id IS NULL
      THEN lookup_name_row(b.session_issuer_arn, b.r_session_name, b.event_time) END AS f_row,
    CASE WHEN b.r_managed THEN lookup_row('mcp_links', b.request_id) END AS m_row,
    lookup_row('signin_mcp_sessions', b.signin_session_arn) AS g_row,
    CASE WHEN b.request_id IS NULL
      THEN lookup_row('mcp_inferred_links', b.dedup_key) END AS i_row
  FROM base b
),
labelled AS (
  SELECT
    k.* EXCLUDE (s_row, f_row, m_row, g_row, i_row),
    lookup_value('sessions', k.s_row, 'ai_mechanisms') AS s_mechanisms,
    lookup_value('sessions', k.s_row, 'mcp_server') AS s_mcp_server,
    lookup_value('sessions', k.s_row, 'tags') AS s_tags,
    lookup_value('sessions', k.s_row, 'access_key_id') AS s_key,
    lookup_value('sessions', k.s_row, 'root_caller_arn') AS s_root_caller,
    lookup_value('signin_mcp_sessions', k.g_row, 'caller_arn') AS g_caller,
    lookup_value('signin_mcp_sessions', k.g_row, 'client_id') AS g_client,
    lookup_value('signin_mcp_sessions', k.g_row, 'resource') AS g_resource,
    lookup_value('mcp_inferred_links', k.i_row, 'mcp_tool') AS i_tool,
    lookup_value('mcp_inferred_links', k.i_row, 'mcp_client') AS i_client,
    lookup_value('ai_session_names', k.f_row, 'mcp_server') AS f_mcp_server,
    lookup_value('ai_session_names', k.f_row, 'role_arn') AS f_role,
    lookup_value('mcp_links', k.m_row, 'mcp_tool') AS m_tool,
    lookup_value('mcp_links', k.m_row, 'mcp_client') AS m_client,
    lookup_value('mcp_links', k.m_row, 'mcp_server') AS m_server,
    concat_ws(',',
      CASE WHEN k.r_managed THEN 'managed-mcp' END,
      CASE WHEN k.g_row IS NOT NULL THEN 'mcp-oauth' END,
      lookup_value('sessions', k.s_row, 'ai_mechanisms'),
      CASE WHEN k.s_row IS NULL AND k.r_source_identity THEN 'source-identity' END,
      CASE WHEN k.s_row IS NULL AND k.r_agent_role THEN 'agent-role' END,
      CASE WHEN k.f_row IS NOT NULL THEN 'session-name' END,
      CASE WHEN k.r_ua_server IS NOT NULL THEN 'user-agent' END
    ) AS all_mechanisms
  FROM keyed k
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
