//! Decide which sessions are AI sessions, following role chains.
//!
//! A session is AI when its own STS call carries an AI tag (`session-tag`), when it was created
//! with the credentials of an AI session (`chained`, any depth), when its source identity or role
//! is designated for agents (`source-identity`, `agent-role`). All matches are kept; the first in
//! that order is the session's `ai_mechanism`. The MCP server is the session's own `MCPServer` tag,
//! else its parent's. Sessions are identified by access key only: the same role and session name
//! reused by a person is a different session.

use std::collections::{HashMap, HashSet};

use super::rules::Rules;
use super::sts::SessionRecord;

/// A session with its AI decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// What the STS call created.
    pub record: SessionRecord,
    /// Every matching mechanism, strongest first.
    pub ai_mechanisms: Vec<&'static str>,
    /// The MCP server behind the session, if known.
    pub mcp_server: Option<String>,
    /// The caller's session, when the caller used session credentials that are in the lake.
    pub parent_access_key_id: Option<String>,
    /// The first session of the chain.
    pub root_access_key_id: String,
    /// 0 for a session created with long-term or unknown credentials.
    pub chain_depth: u32,
}

impl Session {
    /// True when any mechanism matched.
    pub fn is_ai(&self) -> bool {
        !self.ai_mechanisms.is_empty()
    }
}

/// Classify `records` (one per access key; later duplicates are ignored).
pub fn classify_sessions(records: Vec<SessionRecord>, rules: &Rules) -> Vec<Session> {
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut sessions: Vec<Session> = Vec::new();
    let mut sorted = records;
    sorted.sort_by(|a, b| (a.issued_at, &a.sts_event_id).cmp(&(b.issued_at, &b.sts_event_id)));
    for r in sorted {
        if by_key.contains_key(&r.access_key_id) {
            continue;
        }
        let mut mechanisms = Vec::new();
        if rules.ai_tag(r.tags.iter()).is_some() {
            mechanisms.push("session-tag");
        }
        if r.source_identity
            .as_deref()
            .is_some_and(|s| rules.is_ai_source_identity(s))
        {
            mechanisms.push("source-identity");
        }
        if r.role_arn
            .as_deref()
            .is_some_and(|a| rules.is_agent_role(a))
        {
            mechanisms.push("agent-role");
        }
        let mcp_server = r.tags.get(&rules.mcp_server_tag).cloned().or_else(|| {
            r.tags
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&rules.mcp_server_tag))
                .map(|(_, v)| v.clone())
        });
        by_key.insert(r.access_key_id.clone(), sessions.len());
        sessions.push(Session {
            root_access_key_id: r.access_key_id.clone(),
            record: r,
            ai_mechanisms: mechanisms,
            mcp_server,
            parent_access_key_id: None,
            chain_depth: 0,
        });
    }
    // Walk each session's chain of parents (bounded, so a forged cycle in the logs terminates):
    // it is `chained` when any ancestor is AI by its own STS call, inherits the nearest
    // ancestor's MCP server when it names none, and records its root and depth.
    let parent_of: Vec<Option<usize>> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.record
                .caller_access_key_id
                .as_ref()
                .and_then(|k| by_key.get(k))
                .copied()
                .filter(|p| *p != i)
        })
        .collect();
    let own_ai: Vec<bool> = sessions.iter().map(|s| s.is_ai()).collect();
    let own_server: Vec<Option<String>> = sessions.iter().map(|s| s.mcp_server.clone()).collect();
    for i in 0..sessions.len() {
        let mut seen = HashSet::from([i]);
        let (mut cur, mut depth, mut chained, mut server) = (i, 0u32, false, None);
        while let Some(p) = parent_of[cur] {
            if !seen.insert(p) {
                break;
            }
            chained |= own_ai[p];
            if server.is_none() {
                server = own_server[p].clone();
            }
            cur = p;
            depth += 1;
        }
        let root = sessions[cur].record.access_key_id.clone();
        let s = &mut sessions[i];
        s.parent_access_key_id =
            parent_of[i].map(|_| s.record.caller_access_key_id.clone().unwrap_or_default());
        s.root_access_key_id = root;
        s.chain_depth = depth;
        if chained {
            let pos = usize::from(s.ai_mechanisms.first() == Some(&"session-tag"));
            s.ai_mechanisms.insert(pos, "chained");
        }
        if s.mcp_server.is_none() {
            s.mcp_server = server;
        }
    }
    sessions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ClassifySettings;
    use chrono::{TimeZone, Utc};

    fn rec(key: &str, caller: Option<&str>, tags: &[(&str, &str)], minute: u32) -> SessionRecord {
        SessionRecord {
            access_key_id: key.into(),
            sts_event_id: format!("sts-{key}"),
            api: "AssumeRole".into(),
            issued_at: Utc.with_ymd_and_hms(2026, 11, 20, 16, minute, 0).unwrap(),
            role_arn: Some("arn:aws:iam::1:role/agent-prod".into()),
            session_name: Some("s".into()),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            caller_access_key_id: caller.map(str::to_string),
            ..Default::default()
        }
    }

    fn by_key(sessions: &[Session], key: &str) -> Session {
        sessions
            .iter()
            .find(|s| s.record.access_key_id == key)
            .unwrap()
            .clone()
    }

    #[test]
    fn tags_chaining_and_reuse() {
        let rules = Rules::new(&ClassifySettings::default());
        // Given in reverse order on purpose: the answer must not depend on it.
        let sessions = classify_sessions(
            vec![
                rec("GRANDCHILD", Some("CHILD"), &[], 3),
                rec("CHILD", Some("AI"), &[], 2),
                rec("HUMAN", Some("AKIADAVE"), &[], 4),
                rec(
                    "AI",
                    Some("ASIAHOST"),
                    &[("AccessType", "AI"), ("MCPServer", "s3-tools")],
                    1,
                ),
                rec("AI", Some("ASIAHOST"), &[], 9),
            ],
            &rules,
        );
        assert_eq!(sessions.len(), 4, "one session per access key");
        let ai = by_key(&sessions, "AI");
        assert_eq!(ai.ai_mechanisms, vec!["session-tag"]);
        assert_eq!(ai.mcp_server.as_deref(), Some("s3-tools"));
        assert_eq!(
            (ai.chain_depth, ai.parent_access_key_id.as_deref()),
            (0, None)
        );
        let child = by_key(&sessions, "CHILD");
        assert_eq!(child.ai_mechanisms, vec!["chained"]);
        assert_eq!(child.mcp_server.as_deref(), Some("s3-tools"));
        assert_eq!(
            (child.chain_depth, child.root_access_key_id.as_str()),
            (1, "AI")
        );
        let grandchild = by_key(&sessions, "GRANDCHILD");
        assert_eq!(grandchild.ai_mechanisms, vec!["chained"]);
        assert_eq!(
            (
                grandchild.chain_depth,
                grandchild.root_access_key_id.as_str()
            ),
            (2, "AI")
        );
        let human = by_key(&sessions, "HUMAN");
        assert!(
            !human.is_ai(),
            "same role and session name without tags is not AI"
        );
    }

    #[test]
    fn source_identity_and_agent_role_rules() {
        let s = ClassifySettings {
            agent_roles: vec!["arn:aws:iam::*:role/agent-*".into()],
            ai_source_identities: vec!["agent:*".into()],
            ..Default::default()
        };
        let rules = Rules::new(&s);
        let mut r = rec("K", None, &[("AccessType", "AI")], 1);
        r.source_identity = Some("agent:claude".into());
        let out = classify_sessions(vec![r], &rules);
        assert_eq!(
            out[0].ai_mechanisms,
            vec!["session-tag", "source-identity", "agent-role"]
        );
        let mut r = rec("K2", None, &[], 1);
        r.role_arn = Some("arn:aws:iam::1:role/ops".into());
        r.source_identity = Some("alice".into());
        assert!(!classify_sessions(vec![r], &rules)[0].is_ai());
    }

    #[test]
    fn a_forged_cycle_terminates() {
        let rules = Rules::new(&ClassifySettings::default());
        let out = classify_sessions(
            vec![rec("A", Some("B"), &[], 1), rec("B", Some("A"), &[], 2)],
            &rules,
        );
        assert!(out.iter().all(|s| !s.is_ai()));
    }
}
