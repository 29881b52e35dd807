//! Link AWS-managed MCP server records (`AwsMcpEvent`) to the calls they made.
//!
//! The MCP server logs its own event (`eventSource` `aws-mcp.amazonaws.com`, e.g.
//! `CallReadWriteTool`) whose `additionalEventData.downstreamRequests[].requestId` equals the
//! downstream event's `requestID`. From it we learn the tool and the client (its user agent names
//! `mcp-proxy-for-aws/<v>` and often the host application). The tool name is read from the first
//! of `requestParameters.toolName`, `.name`, `.tool`, `.params.name`, else the event name.

use serde_json::Value;

/// One link: a request id and the MCP context behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct McpLink {
    /// `requestID` of the downstream call (or of the MCP event itself).
    pub request_id: String,
    /// Tool name.
    pub mcp_tool: String,
    /// The client's user agent.
    pub mcp_client: Option<String>,
    /// The MCP event's `eventID`.
    pub mcp_event_id: String,
    /// The MCP server (`eventSource` of the MCP event).
    pub mcp_server: String,
}

/// Links from one `AwsMcpEvent` record: one per downstream request, plus one for the event itself.
pub fn links_from_event(
    event_id: &str,
    event_name: &str,
    event_source: &str,
    request_id: Option<&str>,
    user_agent: Option<&str>,
    request_parameters: Option<&str>,
    additional_event_data: Option<&str>,
) -> Vec<McpLink> {
    let params: Value = request_parameters
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null);
    let tool = ["toolName", "name", "tool"]
        .iter()
        .find_map(|k| params.get(*k).and_then(Value::as_str))
        .or_else(|| params.pointer("/params/name").and_then(Value::as_str))
        .unwrap_or(event_name)
        .to_string();
    let link = |rid: &str| McpLink {
        request_id: rid.to_string(),
        mcp_tool: tool.clone(),
        mcp_client: user_agent.map(str::to_string),
        mcp_event_id: event_id.to_string(),
        mcp_server: event_source.to_string(),
    };
    let mut out: Vec<McpLink> = request_id.into_iter().map(link).collect();
    let extra: Value = additional_event_data
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null);
    if let Some(reqs) = extra.get("downstreamRequests").and_then(Value::as_array) {
        for r in reqs {
            if let Some(rid) = r
                .get("requestId")
                .or_else(|| r.get("requestID"))
                .and_then(Value::as_str)
            {
                out.push(link(rid));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downstream_requests_become_links() {
        let links = links_from_event(
            "mcp-1",
            "CallReadWriteTool",
            "aws-mcp.amazonaws.com",
            Some("OWN"),
            Some("mcp-proxy-for-aws/1.2.0 claude-desktop/0.14.1"),
            Some(r#"{"toolName":"call_aws"}"#),
            Some(r#"{"downstreamRequests":[{"requestId":"R1"},{"requestId":"R2"},{"other":1}]}"#),
        );
        let ids: Vec<_> = links.iter().map(|l| l.request_id.as_str()).collect();
        assert_eq!(ids, vec!["OWN", "R1", "R2"]);
        assert!(
            links
                .iter()
                .all(|l| l.mcp_tool == "call_aws" && l.mcp_server == "aws-mcp.amazonaws.com")
        );
        assert_eq!(
            links[1].mcp_client.as_deref(),
            Some("mcp-proxy-for-aws/1.2.0 claude-desktop/0.14.1")
        );
    }

    #[test]
    fn tool_name_falls_back() {
        let tool = |params: Option<&str>| {
            links_from_event(
                "e",
                "CallReadOnlyTool",
                "aws-mcp.amazonaws.com",
                Some("X"),
                None,
                params,
                None,
            )[0]
            .mcp_tool
            .clone()
        };
        assert_eq!(tool(Some(r#"{"name":"n"}"#)), "n");
        assert_eq!(tool(Some(r#"{"params":{"name":"p"}}"#)), "p");
        assert_eq!(tool(Some("{}")), "CallReadOnlyTool");
        assert_eq!(tool(None), "CallReadOnlyTool");
        assert_eq!(tool(Some("not json")), "CallReadOnlyTool");
    }
}
