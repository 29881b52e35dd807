-- Report: AI calls per MCP server and tool.
SELECT coalesce(mcp_server, '(unknown)') AS mcp_server, coalesce(mcp_tool, '-') AS mcp_tool, count(*) AS calls
FROM ai_events
GROUP BY 1, 2
ORDER BY calls DESC, 1, 2
LIMIT 50
