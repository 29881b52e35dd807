//! The configured AI rules, compiled once: pure predicates over strings.

use wildmatch::WildMatch;

use crate::settings::ClassifySettings;

/// Compiled classification rules.
#[derive(Debug, Clone)]
pub struct Rules {
    ai_tags: Vec<(String, String)>,
    tag_values_exact: bool,
    /// Tag naming the MCP server of a tagged session.
    pub mcp_server_tag: String,
    managed_mcp: Vec<WildMatch>,
    oauth_resources: Vec<WildMatch>,
    approved: Vec<String>,
    agent_roles: Vec<WildMatch>,
    callers: Vec<WildMatch>,
    source_identities: Vec<WildMatch>,
    ua_markers: Vec<String>,
    /// Fallback window for session-name matching, in minutes.
    pub session_name_window_minutes: u32,
}

impl Rules {
    /// Compile `settings`.
    pub fn new(settings: &ClassifySettings) -> Rules {
        let globs = |v: &[String]| v.iter().map(|p| WildMatch::new(p)).collect::<Vec<_>>();
        Rules {
            ai_tags: settings
                .ai_session_tags
                .iter()
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect(),
            tag_values_exact: settings.ai_session_tag_values_case_sensitive,
            mcp_server_tag: settings.mcp_server_tag.clone(),
            managed_mcp: globs(&settings.managed_mcp_invoked_by),
            oauth_resources: globs(&settings.mcp_oauth_resources),
            approved: settings.approved_mcp_servers.clone(),
            agent_roles: globs(&settings.agent_roles),
            callers: globs(&settings.mcp_server_callers),
            source_identities: globs(&settings.ai_source_identities),
            ua_markers: settings.user_agent_markers.clone(),
            session_name_window_minutes: settings.session_name_window_minutes,
        }
    }

    /// The tag that marks `tags` as an AI session, as `Key=Value`, if any.
    pub fn ai_tag<'a, I: IntoIterator<Item = (&'a String, &'a String)>>(
        &self,
        tags: I,
    ) -> Option<String> {
        tags.into_iter().find_map(|(k, v)| {
            self.ai_tags
                .iter()
                .any(|(rk, rv)| {
                    k.eq_ignore_ascii_case(rk)
                        && if self.tag_values_exact {
                            v == rv
                        } else {
                            v.eq_ignore_ascii_case(rv)
                        }
                })
                .then(|| format!("{k}={v}"))
        })
    }

    /// `invokedBy` (or an event source) of an AWS-managed MCP server.
    pub fn is_managed_mcp(&self, invoked_by: &str) -> bool {
        self.managed_mcp.iter().any(|g| g.matches(invoked_by))
    }

    /// An MCP endpoint an OAuth grant can be for (`mcp-oauth`).
    pub fn is_mcp_oauth_resource(&self, resource: &str) -> bool {
        self.oauth_resources.iter().any(|g| g.matches(resource))
    }

    /// An approved MCP server.
    pub fn is_approved_mcp(&self, server: &str) -> bool {
        self.approved.iter().any(|a| a == server)
    }

    /// An STS caller allowed to create AI-tagged sessions.
    pub fn is_mcp_server_caller(&self, caller_arn: &str) -> bool {
        self.callers.iter().any(|g| g.matches(caller_arn))
    }

    /// A role designated for agents.
    pub fn is_agent_role(&self, role_arn: &str) -> bool {
        self.agent_roles.iter().any(|g| g.matches(role_arn))
    }

    /// A source identity agents set.
    pub fn is_ai_source_identity(&self, si: &str) -> bool {
        self.source_identities.iter().any(|g| g.matches(si))
    }

    /// The user-agent marker found, if any.
    pub fn user_agent_marker(&self, ua: &str) -> Option<&str> {
        self.ua_markers
            .iter()
            .find(|m| !m.is_empty() && ua.contains(m.as_str()))
            .map(String::as_str)
    }

    /// The MCP server named after a marker (`awslabs/mcp/<server>/<version>` → `<server>`).
    pub fn user_agent_server(&self, ua: &str) -> Option<String> {
        let marker = self.user_agent_marker(ua)?;
        let start = ua.find(marker)? + marker.len();
        let name: String = ua[start..]
            .chars()
            .take_while(|c| !matches!(c, '/' | ' ' | ';' | ')'))
            .collect();
        Some(if name.is_empty() {
            marker.trim_end_matches('/').to_string()
        } else {
            name
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        let s = ClassifySettings {
            agent_roles: vec!["arn:aws:iam::*:role/agent-*".into()],
            ai_source_identities: vec!["agent:*".into()],
            ..Default::default()
        };
        Rules::new(&s)
    }

    #[test]
    fn prefixed_keys_match_when_configured_and_exact_values_when_asked() {
        let r = Rules::new(&ClassifySettings {
            ai_session_tags: vec!["AccessType=AI".into(), "vouch:AccessType=ai".into()],
            ..Default::default()
        });
        let m = |k: &str, v: &str| {
            let t = [(k.to_string(), v.to_string())];
            r.ai_tag(t.iter().map(|(k, v)| (k, v)))
        };
        assert_eq!(
            m("vouch:AccessType", "ai").as_deref(),
            Some("vouch:AccessType=ai")
        );
        assert!(m("VOUCH:accesstype", "AI").is_some());
        assert!(m("vouch:Agent", "ai").is_none());
        assert!(m("other:AccessType", "ai").is_none());
        let exact = Rules::new(&ClassifySettings {
            ai_session_tag_values_case_sensitive: true,
            ..Default::default()
        });
        let t = [("AccessType".to_string(), "ai".to_string())];
        assert!(exact.ai_tag(t.iter().map(|(k, v)| (k, v))).is_none());
        let t = [("accesstype".to_string(), "AI".to_string())];
        assert!(exact.ai_tag(t.iter().map(|(k, v)| (k, v))).is_some());
    }

    #[test]
    fn each_rule_matches_and_near_misses_do_not() {
        let r = rules();
        let tags = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let t = tags(&[("AccessType", "AI")]);
        assert_eq!(
            r.ai_tag(t.iter().map(|(k, v)| (k, v))),
            Some("AccessType=AI".into())
        );
        let t = tags(&[("accesstype", "AI")]);
        assert!(
            r.ai_tag(t.iter().map(|(k, v)| (k, v))).is_some(),
            "tag keys are case-insensitive"
        );
        for value in ["ai", "Ai"] {
            let t = tags(&[("AccessType", value)]);
            assert!(
                r.ai_tag(t.iter().map(|(k, v)| (k, v))).is_some(),
                "values compare case-insensitively by default: {value}"
            );
        }
        for near in [
            ("AccessType", "Human"),
            ("Access", "AI"),
            ("vouch:AccessType", "AI"),
        ] {
            let t = tags(&[near]);
            assert_eq!(r.ai_tag(t.iter().map(|(k, v)| (k, v))), None, "{near:?}");
        }
        for (s, want) in [
            ("aws-mcp.amazonaws.com", true),
            ("eks-mcp.amazonaws.com", true),
            ("ecs-mcp.amazonaws.com", true),
            ("mcp.amazonaws.com", false),
            ("aws-mcp.amazonaws.com.evil.example", false),
            ("cloudformation.amazonaws.com", false),
        ] {
            assert_eq!(r.is_managed_mcp(s), want, "{s}");
        }
        assert!(r.is_agent_role("arn:aws:iam::111122223333:role/agent-ops"));
        assert!(!r.is_agent_role("arn:aws:iam::111122223333:role/ops-agent"));
        assert!(r.is_ai_source_identity("agent:claude"));
        assert!(!r.is_ai_source_identity("alice"));
        assert_eq!(
            r.user_agent_marker("boto3/1.35 awslabs/mcp/s3-tools/0.4.2"),
            Some("awslabs/mcp/")
        );
        assert_eq!(
            r.user_agent_server("boto3/1.35 awslabs/mcp/s3-tools/0.4.2")
                .as_deref(),
            Some("s3-tools")
        );
        assert_eq!(r.user_agent_marker("aws-cli/2.22.0"), None);
        assert!(r.is_approved_mcp("aws-mcp.amazonaws.com"));
        assert!(!r.is_approved_mcp("s3-tools"));
    }
}
