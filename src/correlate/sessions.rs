//! Decide which sessions are AI sessions, following role chains.
//!
//! A session is AI when its own STS call carries an AI tag (`session-tag`), when it was created
//! with the credentials of an AI session (`chained`, any depth), when its source identity or role
//! is designated for agents (`source-identity`, `agent-role`). All matches are kept; the first in
//! that order is the session's `ai_mechanism`. The MCP server is the session's own `MCPServer` tag,
//! else its parent's. Sessions are identified by access key only: the same role and session name
//! reused by a person is a different session.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::rules::Rules;

/// What classification reads of one credential fact (borrowed from the fact table's columns, so
/// a lake's hundreds of thousands of sessions are not copied into owned records first).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SessionFact<'a> {
    /// The new credentials' access key id.
    pub access_key_id: &'a str,
    /// The STS event that issued them.
    pub sts_event_id: &'a str,
    /// When (µs since the epoch).
    pub issued_at: i64,
    /// The role assumed.
    pub role_arn: Option<&'a str>,
    /// The source identity set or inherited.
    pub source_identity: Option<&'a str>,
    /// The caller's access key (for chaining).
    pub caller_access_key_id: Option<&'a str>,
    /// All session tags as a JSON object.
    pub tags: &'a str,
}

/// The decision on one session: which fact it is, and what was concluded.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Index of the session's fact in the input (the first issue of its access key).
    pub fact: usize,
    /// Every matching mechanism, strongest first.
    pub ai_mechanisms: Vec<&'static str>,
    /// The MCP server behind the session, if known.
    pub mcp_server: Option<String>,
    /// The caller's session (index into the output), when its credentials are in the lake.
    pub parent: Option<usize>,
    /// The first session of the chain (index into the output; itself when there is no parent).
    pub root: usize,
    /// 0 for a session created with long-term or unknown credentials.
    pub chain_depth: u32,
}

impl Session {
    /// True when any mechanism matched.
    pub fn is_ai(&self) -> bool {
        !self.ai_mechanisms.is_empty()
    }
}

/// Classify `facts` (one session per access key: the earliest issue, then the smallest event
/// id; later issues of the same key are ignored). The output is in that order, whatever the
/// order of the input.
pub fn classify_sessions(facts: &[SessionFact<'_>], rules: &Rules) -> Vec<Session> {
    let mut order: Vec<usize> = (0..facts.len()).collect();
    order.sort_by(|&a, &b| {
        (facts[a].issued_at, facts[a].sts_event_id)
            .cmp(&(facts[b].issued_at, facts[b].sts_event_id))
    });
    let mut by_key: HashMap<&str, usize> = HashMap::with_capacity(facts.len());
    let mut sessions: Vec<Session> = Vec::with_capacity(facts.len());
    for i in order {
        let r = &facts[i];
        if by_key.contains_key(r.access_key_id) {
            continue;
        }
        let mut mechanisms = Vec::new();
        // Most sessions carry no tags: parse only when there is something to read.
        let tags: BTreeMap<String, String> = if r.tags.len() > 2 {
            serde_json::from_str(r.tags).unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        if rules.ai_tag(tags.iter()).is_some() {
            mechanisms.push("session-tag");
        }
        if r.source_identity
            .is_some_and(|s| rules.is_ai_source_identity(s))
        {
            mechanisms.push("source-identity");
        }
        if r.role_arn.is_some_and(|a| rules.is_agent_role(a)) {
            mechanisms.push("agent-role");
        }
        let mcp_server = tags.get(&rules.mcp_server_tag).cloned().or_else(|| {
            tags.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&rules.mcp_server_tag))
                .map(|(_, v)| v.clone())
        });
        let n = sessions.len();
        by_key.insert(r.access_key_id, n);
        sessions.push(Session {
            fact: i,
            ai_mechanisms: mechanisms,
            mcp_server,
            parent: None,
            root: n,
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
            facts[s.fact]
                .caller_access_key_id
                .and_then(|k| by_key.get(k))
                .copied()
                .filter(|p| *p != i)
        })
        .collect();
    let own_ai: Vec<bool> = sessions.iter().map(|s| s.is_ai()).collect();
    let own_server: Vec<Option<String>> = sessions.iter().map(|s| s.mcp_server.clone()).collect();
    let mut seen = HashSet::new();
    for i in 0..sessions.len() {
        seen.clear();
        seen.insert(i);
        let (mut cur, mut depth, mut chained, mut server) = (i, 0u32, false, None);
        while let Some(p) = parent_of[cur] {
            if !seen.insert(p) {
                break;
            }
            chained |= own_ai[p];
            if server.is_none() {
                server.clone_from(&own_server[p]);
            }
            cur = p;
            depth += 1;
        }
        let s = &mut sessions[i];
        s.parent = parent_of[i];
        s.root = cur;
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

    /// Owned test data a `SessionFact` borrows from.
    struct Rec {
        key: String,
        event: String,
        minute: i64,
        role: Option<String>,
        source_identity: Option<String>,
        caller: Option<String>,
        tags: String,
    }

    fn rec(key: &str, caller: Option<&str>, tags: &[(&str, &str)], minute: i64) -> Rec {
        let tags: BTreeMap<&str, &str> = tags.iter().copied().collect();
        Rec {
            key: key.into(),
            event: format!("sts-{key}-{minute}"),
            minute,
            role: Some("arn:aws:iam::1:role/agent-prod".into()),
            source_identity: None,
            caller: caller.map(str::to_string),
            tags: serde_json::to_string(&tags).unwrap(),
        }
    }

    fn facts(recs: &[Rec]) -> Vec<SessionFact<'_>> {
        recs.iter()
            .map(|r| SessionFact {
                access_key_id: &r.key,
                sts_event_id: &r.event,
                issued_at: r.minute * 60_000_000,
                role_arn: r.role.as_deref(),
                source_identity: r.source_identity.as_deref(),
                caller_access_key_id: r.caller.as_deref(),
                tags: &r.tags,
            })
            .collect()
    }

    /// (mechanisms, server, depth, parent key, root key) of the session of `key`.
    type Seen = (
        Vec<&'static str>,
        Option<String>,
        u32,
        Option<String>,
        String,
    );

    fn by_key(recs: &[Rec], sessions: &[Session], key: &str) -> Seen {
        let k = |i: usize| recs[sessions[i].fact].key.clone();
        let s = sessions.iter().find(|s| recs[s.fact].key == key).unwrap();
        (
            s.ai_mechanisms.clone(),
            s.mcp_server.clone(),
            s.chain_depth,
            s.parent.map(k),
            k(s.root),
        )
    }

    #[test]
    fn tags_chaining_and_reuse() {
        let rules = Rules::new(&ClassifySettings::default());
        // Given in reverse order on purpose: the answer must not depend on it.
        let recs = vec![
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
        ];
        let sessions = classify_sessions(&facts(&recs), &rules);
        assert_eq!(sessions.len(), 4, "one session per access key");
        let s3 = Some("s3-tools".to_string());
        assert_eq!(
            by_key(&recs, &sessions, "AI"),
            (vec!["session-tag"], s3.clone(), 0, None, "AI".into())
        );
        assert_eq!(
            by_key(&recs, &sessions, "CHILD"),
            (
                vec!["chained"],
                s3.clone(),
                1,
                Some("AI".into()),
                "AI".into()
            )
        );
        assert_eq!(
            by_key(&recs, &sessions, "GRANDCHILD"),
            (vec!["chained"], s3, 2, Some("CHILD".into()), "AI".into())
        );
        assert_eq!(
            by_key(&recs, &sessions, "HUMAN").0,
            Vec::<&str>::new(),
            "same role and session name without tags is not AI"
        );
        // The later issue of the key AI (minute 9, no tags) is ignored, in any input order.
        let mut reversed = recs;
        reversed.reverse();
        let again = classify_sessions(&facts(&reversed), &rules);
        assert_eq!(by_key(&reversed, &again, "AI").0, vec!["session-tag"]);
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
        let out = classify_sessions(&facts(&[r]), &rules);
        assert_eq!(
            out[0].ai_mechanisms,
            vec!["session-tag", "source-identity", "agent-role"]
        );
        let mut r = rec("K2", None, &[], 1);
        r.role = Some("arn:aws:iam::1:role/ops".into());
        r.source_identity = Some("alice".into());
        assert!(!classify_sessions(&facts(&[r]), &rules)[0].is_ai());
    }

    #[test]
    fn a_forged_cycle_terminates() {
        let rules = Rules::new(&ClassifySettings::default());
        let recs = [rec("A", Some("B"), &[], 1), rec("B", Some("A"), &[], 2)];
        let out = classify_sessions(&facts(&recs), &rules);
        assert!(out.iter().all(|s| !s.is_ai()));
    }
}
