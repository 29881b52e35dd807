//! `agenttrail.toml`: what describes the organisation (which tags, roles and servers mean "AI").
//!
//! Precedence: flags > environment (`AGENTTRAIL_CONFIG` names the file) > `./agenttrail.toml` >
//! the defaults below. Unknown keys are errors, so a typo cannot silently disable a rule.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// How events are recognised as AI-driven.
    pub classify: ClassifySettings,
}

/// Rules that decide whether an event is AI-driven (see DESIGN.md and the README).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifySettings {
    /// Session tags (`Key=Value`) that mark an STS session as an AI session; any one suffices.
    /// Keys compare case-insensitively (as IAM does), prefixed keys included
    /// (`vouch:AccessType=ai`); values case-insensitively unless
    /// `ai_session_tag_values_case_sensitive` (users write `ai`, `AI` and `Ai` alike).
    pub ai_session_tags: Vec<String>,
    /// Compare the values of `ai_session_tags` exactly (IAM tag values are case-sensitive).
    pub ai_session_tag_values_case_sensitive: bool,
    /// The tag whose value names the MCP server behind a tagged session.
    pub mcp_server_tag: String,
    /// Glob patterns of MCP endpoints (`requestParameters.resource` of AWS Sign-In
    /// `CreateOAuth2Token`): events under a sign-in session granted to one are `mcp-oauth`.
    pub mcp_oauth_resources: Vec<String>,
    /// Glob patterns for `userIdentity.invokedBy` of AWS-managed MCP servers.
    pub managed_mcp_invoked_by: Vec<String>,
    /// MCP servers the organisation approves (invokedBy values or `MCPServer` tag values).
    pub approved_mcp_servers: Vec<String>,
    /// Glob patterns of the STS callers (ARNs) allowed to create AI-tagged sessions: the roles
    /// your self-managed MCP servers run as. Empty: every tagged session is reported by
    /// `ai_tags_from_unexpected_caller`.
    pub mcp_server_callers: Vec<String>,
    /// Glob patterns of IAM role ARNs designated for agents.
    pub agent_roles: Vec<String>,
    /// Glob patterns of `sourceIdentity` values that agents set.
    pub ai_source_identities: Vec<String>,
    /// Substrings of the user agent that self-hosted MCP servers add (low confidence, spoofable).
    pub user_agent_markers: Vec<String>,
    /// For calls without an access key: how long after an AI session's issue time a call with
    /// the same role and session name is attributed to it when its expiry is unknown, in minutes.
    pub session_name_window_minutes: u32,
}

impl Default for ClassifySettings {
    fn default() -> Self {
        ClassifySettings {
            ai_session_tags: vec!["AccessType=AI".into()],
            ai_session_tag_values_case_sensitive: false,
            mcp_server_tag: "MCPServer".into(),
            mcp_oauth_resources: vec![
                "https://*-mcp.*.api.aws/*".into(),
                "https://aws-mcp.*".into(),
            ],
            managed_mcp_invoked_by: vec!["*-mcp.amazonaws.com".into()],
            approved_mcp_servers: vec![
                "aws-mcp.amazonaws.com".into(),
                "eks-mcp.amazonaws.com".into(),
                "ecs-mcp.amazonaws.com".into(),
            ],
            mcp_server_callers: vec![],
            agent_roles: vec![],
            ai_source_identities: vec![],
            user_agent_markers: vec!["awslabs/mcp/".into()],
            session_name_window_minutes: 60,
        }
    }
}

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("invalid configuration {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
}

impl Settings {
    /// Parse TOML text.
    pub fn from_toml(text: &str, origin: &str) -> Result<Settings, SettingsError> {
        let s: Settings = toml::from_str(text).map_err(|e| SettingsError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        for tag in &s.classify.ai_session_tags {
            if !tag.contains('=') {
                return Err(SettingsError::Parse {
                    path: origin.to_string(),
                    message: format!("classify.ai_session_tags entry {tag:?} is not Key=Value"),
                });
            }
        }
        Ok(s)
    }

    /// Load from `explicit` (a flag or `AGENTTRAIL_CONFIG`), else `./agenttrail.toml` if present,
    /// else the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Settings, SettingsError> {
        let path: Option<PathBuf> = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("agenttrail.toml")).filter(|p| p.is_file()),
        };
        let Some(path) = path else {
            return Ok(Settings::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| SettingsError::Read {
            path: path.display().to_string(),
            source: e,
        })?;
        Settings::from_toml(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_unknown_keys_are_errors() {
        let s = Settings::from_toml("", "t").unwrap();
        assert_eq!(s, Settings::default());
        let s = Settings::from_toml(
            "[classify]\nagent_roles = [\"arn:aws:iam::*:role/agent-*\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(s.classify.agent_roles, vec!["arn:aws:iam::*:role/agent-*"]);
        assert_eq!(
            s.classify.ai_session_tags,
            vec!["AccessType=AI"],
            "other defaults kept"
        );
        let e = Settings::from_toml("[classify]\nai_sesion_tags = []\n", "agenttrail.toml")
            .unwrap_err();
        assert!(e.to_string().contains("ai_sesion_tags"), "{e}");
        let e = Settings::from_toml("[classify]\nai_session_tags = [\"AccessType\"]\n", "f")
            .unwrap_err();
        assert!(e.to_string().contains("not Key=Value"), "{e}");
    }

    #[test]
    fn the_example_file_in_the_repo_parses() {
        let text = include_str!("../agenttrail.example.toml");
        Settings::from_toml(text, "agenttrail.example.toml").unwrap();
    }
}
