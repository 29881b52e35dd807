//! The correlation facts a commit stores beside its events, so that no query parses raw JSON.
//!
//! Classifying a call needs what STS, the AWS MCP Server and AWS Sign-In said about the
//! credentials behind it: one STS event hours (or files, or runs) earlier. Reading those events'
//! JSON back from the whole lake for every query made query time grow with the history. Instead,
//! each commit extracts, from the events it writes, the facts they state, one small table each:
//! - `facts_credentials`: one row per STS credential issue (caller, tags, source identity,
//!   session policy, expiry): [`SessionRecord`];
//! - `facts_mcp_requests`: one row per request id an MCP server record names: [`McpLink`];
//! - `facts_signin_grants`: one row per AWS Sign-In OAuth grant: [`Grant`];
//! - `facts_mcp_announced`: the downstream calls a tool call under a sign-in session announced,
//!   with its tool, for records that carry no request id: [`Announced`].
//!
//! A fact depends on its own event only, never on the rules or on other events: decisions (chains,
//! AI mechanisms, which grant is an MCP grant) are still taken at query time over all facts, so
//! the answer stays independent of ingestion order, and a duplicate event yields a duplicate fact
//! that the query side drops by its event id.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use arrow::error::ArrowError;
use chrono::{DateTime, TimeZone, Utc};

use crate::schema::timestamp_type;

use super::mcp::{McpLink, links_from_event};
use super::signin::{Announced, Grant, announced, grant_from_event};
use super::sts::{SESSION_APIS, SessionRecord, StsEvent, session_from_event};

/// The fact tables, in the order [`extract`] returns them.
pub const FACT_TABLES: &[&str] = &[CREDENTIALS, MCP_REQUESTS, SIGNIN_GRANTS, MCP_ANNOUNCED];
/// One row per STS credential issue.
pub const CREDENTIALS: &str = "facts_credentials";
/// One row per request id named by an MCP server record.
pub const MCP_REQUESTS: &str = "facts_mcp_requests";
/// One row per AWS Sign-In OAuth grant.
pub const SIGNIN_GRANTS: &str = "facts_signin_grants";
/// One row per downstream call announced by a tool call under a sign-in session.
pub const MCP_ANNOUNCED: &str = "facts_mcp_announced";

fn s(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
fn req(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

/// Schema of a fact table by name (empty for a name that is not one).
pub fn schema(table: &str) -> SchemaRef {
    let ts = timestamp_type();
    let fields = match table {
        CREDENTIALS => vec![
            req("access_key_id"),
            req("sts_event_id"),
            req("api"),
            s("account_id"),
            s("region"),
            Field::new("issued_at", ts.clone(), false),
            Field::new("expires_at", ts, true),
            s("role_arn"),
            s("session_name"),
            s("assumed_role_arn"),
            s("assumed_role_id"),
            req("tags"),
            req("transitive_tag_keys"),
            s("source_identity"),
            Field::new("has_session_policy", DataType::Boolean, false),
            s("caller_arn"),
            s("caller_access_key_id"),
        ],
        MCP_REQUESTS => vec![
            req("request_id"),
            req("mcp_tool"),
            s("mcp_client"),
            req("mcp_event_id"),
            req("mcp_server"),
        ],
        SIGNIN_GRANTS => vec![
            req("signin_session_arn"),
            Field::new("granted_at", ts, false),
            s("resource"),
            s("client_id"),
            s("grant_type"),
            s("caller_arn"),
            s("caller_access_key_id"),
            req("event_id"),
        ],
        MCP_ANNOUNCED => vec![
            req("mcp_event_id"),
            Field::new("announced_at", ts, false),
            req("signin_session_arn"),
            req("api_name"),
            s("region"),
            req("mcp_tool"),
            s("mcp_client"),
            req("mcp_server"),
        ],
        _ => vec![],
    };
    Arc::new(Schema::new(fields))
}

/// Everything the facts of a set of events say.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Facts {
    /// STS credential issues.
    pub credentials: Vec<SessionRecord>,
    /// Request ids named by MCP server records.
    pub mcp_requests: Vec<McpLink>,
    /// Sign-In OAuth grants.
    pub grants: Vec<Grant>,
    /// Announced downstream calls, each with the tool call's link.
    pub announced: Vec<(Announced, McpLink)>,
}

/// Column accessors over one events batch (columns may be absent: then every value is null).
struct Row<'a> {
    batch: &'a RecordBatch,
}

impl Row<'_> {
    fn str(&self, name: &str, row: usize) -> Option<&str> {
        let c = self.batch.column_by_name(name)?.as_string_opt::<i32>()?;
        (!c.is_null(row)).then(|| c.value(row))
    }
    fn time(&self, name: &str, row: usize) -> Option<DateTime<Utc>> {
        let c = self
            .batch
            .column_by_name(name)?
            .as_primitive_opt::<TimestampMicrosecondType>()?;
        (!c.is_null(row))
            .then(|| Utc.timestamp_micros(c.value(row)).single())
            .flatten()
    }
}

/// The value of a string column at `row`, None when null or when the column is absent.
fn value(c: Option<&arrow::array::StringArray>, row: usize) -> Option<&str> {
    c.and_then(|c| (!c.is_null(row)).then(|| c.value(row)))
}

/// The facts stated by the rows of an events batch (stored schema).
pub fn from_events(batch: &RecordBatch) -> Facts {
    let r = Row { batch };
    let mut facts = Facts::default();
    // Most events state no fact: screen them on columns looked up once per batch.
    let column = |n: &str| {
        batch
            .column_by_name(n)
            .and_then(|c| c.as_string_opt::<i32>())
    };
    let (sources, names, types) = (
        column("event_source"),
        column("event_name"),
        column("event_type"),
    );
    for row in 0..batch.num_rows() {
        let source = value(sources, row).unwrap_or_default();
        let name = value(names, row).unwrap_or_default();
        let stating = source == "sts.amazonaws.com"
            || source == "signin.amazonaws.com"
            || value(types, row) == Some("AwsMcpEvent");
        if !stating {
            continue;
        }
        let Some(id) = r.str("dedup_key", row) else {
            continue;
        };
        let failed = r.str("error_code", row).is_some();
        if source == "sts.amazonaws.com" && SESSION_APIS.contains(&name) && !failed {
            let ev = StsEvent {
                event_id: id,
                event_time: r.time("event_time", row).unwrap_or_default(),
                api: name,
                account_id: r.str("recipient_account_id", row),
                region: r.str("aws_region", row),
                caller_arn: r.str("identity_arn", row),
                caller_access_key_id: r.str("access_key_id", row),
                caller_source_identity: r.str("source_identity", row),
                request_parameters: r.str("request_parameters", row),
                response_elements: r.str("response_elements", row),
            };
            facts.credentials.extend(session_from_event(&ev));
        } else if source == "signin.amazonaws.com" && name == "CreateOAuth2Token" && !failed {
            facts.grants.extend(grant_from_event(
                id,
                r.time("event_time", row).unwrap_or_default(),
                r.str("identity_arn", row),
                r.str("access_key_id", row),
                r.str("request_parameters", row),
                r.str("additional_event_data", row),
            ));
        }
        if r.str("event_type", row) != Some("AwsMcpEvent") {
            continue;
        }
        let ua = r.str("user_agent", row);
        let params = r.str("request_parameters", row);
        let extra = r.str("additional_event_data", row);
        facts.mcp_requests.extend(links_from_event(
            id,
            name,
            source,
            r.str("request_id", row),
            ua,
            params,
            extra,
        ));
        // A tool call under a sign-in session: what it announced, with the tool that did it.
        if let (Some(arn), Some(at)) = (r.str("signin_session_arn", row), r.time("event_time", row))
        {
            let calls = announced(id, at, arn, extra);
            if let Some(tool) = (!calls.is_empty())
                .then(|| links_from_event(id, name, source, Some(id), ua, params, None))
                .and_then(|l| l.into_iter().next())
            {
                facts
                    .announced
                    .extend(calls.into_iter().map(|a| (a, tool.clone())));
            }
        }
    }
    facts
}

fn strs<T>(items: &[T], f: impl Fn(&T) -> Option<&str>) -> ArrayRef {
    Arc::new(items.iter().map(f).collect::<StringArray>())
}
fn times<T>(items: &[T], f: impl Fn(&T) -> Option<DateTime<Utc>>) -> ArrayRef {
    Arc::new(
        items
            .iter()
            .map(|x| f(x).map(|t| t.timestamp_micros()))
            .collect::<TimestampMicrosecondArray>()
            .with_timezone("UTC"),
    )
}

impl Facts {
    /// Append the facts of `other`.
    pub fn extend(&mut self, other: Facts) {
        self.credentials.extend(other.credentials);
        self.mcp_requests.extend(other.mcp_requests);
        self.grants.extend(other.grants);
        self.announced.extend(other.announced);
    }

    /// The facts as (table, batch) pairs; tables without rows are left out.
    pub fn to_batches(&self) -> Result<Vec<(&'static str, RecordBatch)>, ArrowError> {
        let mut out = Vec::new();
        let c = &self.credentials;
        if !c.is_empty() {
            let json = |f: &dyn Fn(&SessionRecord) -> String| -> ArrayRef {
                Arc::new(c.iter().map(|x| Some(f(x))).collect::<StringArray>())
            };
            let cols: Vec<ArrayRef> = vec![
                strs(c, |x| Some(&x.access_key_id)),
                strs(c, |x| Some(&x.sts_event_id)),
                strs(c, |x| Some(&x.api)),
                strs(c, |x| x.account_id.as_deref()),
                strs(c, |x| x.region.as_deref()),
                times(c, |x| Some(x.issued_at)),
                times(c, |x| x.expires_at),
                strs(c, |x| x.role_arn.as_deref()),
                strs(c, |x| x.session_name.as_deref()),
                strs(c, |x| x.assumed_role_arn.as_deref()),
                strs(c, |x| x.assumed_role_id.as_deref()),
                json(&|x| serde_json::to_string(&x.tags).unwrap_or_default()),
                json(&|x| serde_json::to_string(&x.transitive_tag_keys).unwrap_or_default()),
                strs(c, |x| x.source_identity.as_deref()),
                Arc::new(
                    c.iter()
                        .map(|x| Some(x.has_session_policy))
                        .collect::<BooleanArray>(),
                ),
                strs(c, |x| x.caller_arn.as_deref()),
                strs(c, |x| x.caller_access_key_id.as_deref()),
            ];
            out.push((
                CREDENTIALS,
                RecordBatch::try_new(schema(CREDENTIALS), cols)?,
            ));
        }
        let l = &self.mcp_requests;
        if !l.is_empty() {
            let cols = vec![
                strs(l, |x| Some(&x.request_id)),
                strs(l, |x| Some(&x.mcp_tool)),
                strs(l, |x| x.mcp_client.as_deref()),
                strs(l, |x| Some(&x.mcp_event_id)),
                strs(l, |x| Some(&x.mcp_server)),
            ];
            out.push((
                MCP_REQUESTS,
                RecordBatch::try_new(schema(MCP_REQUESTS), cols)?,
            ));
        }
        let g = &self.grants;
        if !g.is_empty() {
            let cols = vec![
                strs(g, |x| Some(&x.signin_session_arn)),
                times(g, |x| Some(x.granted_at)),
                strs(g, |x| x.resource.as_deref()),
                strs(g, |x| x.client_id.as_deref()),
                strs(g, |x| x.grant_type.as_deref()),
                strs(g, |x| x.caller_arn.as_deref()),
                strs(g, |x| x.caller_access_key_id.as_deref()),
                strs(g, |x| Some(&x.event_id)),
            ];
            out.push((
                SIGNIN_GRANTS,
                RecordBatch::try_new(schema(SIGNIN_GRANTS), cols)?,
            ));
        }
        let a = &self.announced;
        if !a.is_empty() {
            let cols = vec![
                strs(a, |x| Some(&x.0.mcp_event_id)),
                times(a, |x| Some(x.0.at)),
                strs(a, |x| Some(&x.0.signin_session_arn)),
                strs(a, |x| Some(&x.0.api_name)),
                strs(a, |x| x.0.region.as_deref()),
                strs(a, |x| Some(&x.1.mcp_tool)),
                strs(a, |x| x.1.mcp_client.as_deref()),
                strs(a, |x| Some(&x.1.mcp_server)),
            ];
            out.push((
                MCP_ANNOUNCED,
                RecordBatch::try_new(schema(MCP_ANNOUNCED), cols)?,
            ));
        }
        Ok(out)
    }

    /// Read the rows of fact table `table` (as written by [`Facts::to_batches`]) and add them.
    pub fn read(&mut self, table: &str, batch: &RecordBatch) -> Result<(), ArrowError> {
        let r = Row { batch };
        let owned = |name: &str, row: usize| r.str(name, row).map(str::to_string);
        let need = |name: &str, row: usize| {
            owned(name, row)
                .ok_or_else(|| ArrowError::SchemaError(format!("{table}.{name} is null")))
        };
        let at = |name: &str, row: usize| {
            r.time(name, row)
                .ok_or_else(|| ArrowError::SchemaError(format!("{table}.{name} is null")))
        };
        for row in 0..batch.num_rows() {
            match table {
                CREDENTIALS => self.credentials.push(SessionRecord {
                    access_key_id: need("access_key_id", row)?,
                    sts_event_id: need("sts_event_id", row)?,
                    api: need("api", row)?,
                    account_id: owned("account_id", row),
                    region: owned("region", row),
                    issued_at: at("issued_at", row)?,
                    expires_at: r.time("expires_at", row),
                    role_arn: owned("role_arn", row),
                    session_name: owned("session_name", row),
                    assumed_role_arn: owned("assumed_role_arn", row),
                    assumed_role_id: owned("assumed_role_id", row),
                    tags: r
                        .str("tags", row)
                        .and_then(|t| serde_json::from_str::<BTreeMap<String, String>>(t).ok())
                        .unwrap_or_default(),
                    transitive_tag_keys: r
                        .str("transitive_tag_keys", row)
                        .and_then(|t| serde_json::from_str(t).ok())
                        .unwrap_or_default(),
                    source_identity: owned("source_identity", row),
                    has_session_policy: batch
                        .column_by_name("has_session_policy")
                        .and_then(|c| c.as_boolean_opt().map(|b| b.value(row)))
                        .unwrap_or(false),
                    caller_arn: owned("caller_arn", row),
                    caller_access_key_id: owned("caller_access_key_id", row),
                }),
                MCP_REQUESTS => self.mcp_requests.push(McpLink {
                    request_id: need("request_id", row)?,
                    mcp_tool: need("mcp_tool", row)?,
                    mcp_client: owned("mcp_client", row),
                    mcp_event_id: need("mcp_event_id", row)?,
                    mcp_server: need("mcp_server", row)?,
                }),
                SIGNIN_GRANTS => self.grants.push(Grant {
                    signin_session_arn: need("signin_session_arn", row)?,
                    granted_at: at("granted_at", row)?,
                    resource: owned("resource", row),
                    client_id: owned("client_id", row),
                    grant_type: owned("grant_type", row),
                    caller_arn: owned("caller_arn", row),
                    caller_access_key_id: owned("caller_access_key_id", row),
                    event_id: need("event_id", row)?,
                }),
                MCP_ANNOUNCED => {
                    let event = need("mcp_event_id", row)?;
                    self.announced.push((
                        Announced {
                            mcp_event_id: event.clone(),
                            at: at("announced_at", row)?,
                            signin_session_arn: need("signin_session_arn", row)?,
                            api_name: need("api_name", row)?,
                            region: owned("region", row),
                        },
                        McpLink {
                            request_id: event.clone(),
                            mcp_tool: need("mcp_tool", row)?,
                            mcp_client: owned("mcp_client", row),
                            mcp_event_id: event,
                            mcp_server: need("mcp_server", row)?,
                        },
                    ))
                }
                other => {
                    return Err(ArrowError::SchemaError(format!(
                        "{other} is not a fact table"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn link(rid: &str, client: Option<&str>) -> McpLink {
        McpLink {
            request_id: rid.into(),
            mcp_tool: "aws___call_aws".into(),
            mcp_client: client.map(str::to_string),
            mcp_event_id: "mcp-1".into(),
            mcp_server: "aws-mcp.amazonaws.com".into(),
        }
    }

    #[test]
    fn facts_come_back_from_their_tables_unchanged() {
        let full = SessionRecord {
            access_key_id: "ASIAA".into(),
            sts_event_id: "e1".into(),
            api: "AssumeRole".into(),
            account_id: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            issued_at: t("2026-11-20T10:00:00.123456Z"),
            expires_at: Some(t("2026-11-20T11:00:00Z")),
            role_arn: Some("arn:aws:iam::111122223333:role/agent".into()),
            session_name: Some("bot".into()),
            assumed_role_arn: Some("arn:aws:sts::111122223333:assumed-role/agent/bot".into()),
            assumed_role_id: Some("AROA:bot".into()),
            tags: [("AccessType".to_string(), "AI".to_string())].into(),
            transitive_tag_keys: vec!["AccessType".into()],
            source_identity: Some("alice".into()),
            has_session_policy: true,
            caller_arn: Some("arn:aws:iam::111122223333:user/alice".into()),
            caller_access_key_id: Some("AKIAA".into()),
        };
        // Every optional field empty.
        let bare = SessionRecord {
            access_key_id: "ASIAB".into(),
            sts_event_id: "e2".into(),
            api: "GetFederationToken".into(),
            issued_at: t("2026-11-20T10:00:00Z"),
            ..SessionRecord::default()
        };
        let facts = Facts {
            credentials: vec![full, bare],
            mcp_requests: vec![link("r1", Some("claude-code")), link("r2", None)],
            grants: vec![Grant {
                signin_session_arn: "arn:aws:signin:us-east-1:111122223333:session/s1".into(),
                granted_at: t("2026-11-20T09:00:00Z"),
                resource: Some("https://aws-mcp.us-east-1.api.aws/mcp".into()),
                client_id: Some("client".into()),
                grant_type: None,
                caller_arn: None,
                caller_access_key_id: Some("ASIAC".into()),
                event_id: "g1".into(),
            }],
            announced: vec![(
                Announced {
                    mcp_event_id: "mcp-1".into(),
                    at: t("2026-11-20T09:01:00Z"),
                    signin_session_arn: "arn:aws:signin:us-east-1:111122223333:session/s1".into(),
                    api_name: "iam:ListUsers".into(),
                    region: None,
                },
                link("mcp-1", Some("kiro")),
            )],
        };
        let batches = facts.to_batches().unwrap();
        assert_eq!(
            batches.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            FACT_TABLES
        );
        let mut back = Facts::default();
        for (table, batch) in &batches {
            assert_eq!(batch.schema(), schema(table));
            back.read(table, batch).unwrap();
        }
        assert_eq!(back, facts);
        assert!(Facts::default().to_batches().unwrap().is_empty());
        assert!(back.read("events", &batches[0].1).is_err());
    }
}
