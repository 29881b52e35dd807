//! Derive `sessions`, `mcp_links`, `ai_session_names` and the sign-in tables from the lake.
//!
//! Reads the lake's fact tables (`correlate::facts`: what every STS, MCP and sign-in event said,
//! extracted once at ingest), drops the facts of duplicate events, and hands them to `correlate`.
//! Rebuilt for every query context from the facts as stored now, so the answer reflects
//! everything in the lake, whatever order it arrived in; only the records of sign-in sessions
//! lacking a request id are read from the events, in range.
//!
//! A context limited to a time range reads only the credentials that can still be live in it:
//! those issued at most [`CREDENTIAL_LIFETIME`] before its start and those of the access keys its
//! events use, plus every ancestor of their role chains, fetched by access key whenever it was
//! issued. Classification of a session looks only at the session and its ancestors, so the
//! windowed answer equals the whole-lake answer for every call in range, and the cost of a
//! scheduled run follows its window, not the history. Keys are looked up among every earlier
//! credential in one lookup, bounded by its keys' smallest and largest value and, for a few
//! keys, checked against each file's Bloom filters, so that files that cannot hold them are not
//! read (the long-term keys of IAM users, which no credential fact has, sort before every STS
//! key). The contexts of `detect` and `run`, given the whole lake's
//! `ai_session_names` as kept, read fewer still: the sessions issued in range and those of the
//! keys its calls use (with their ancestors), which is all that `events` looks up and all that
//! a detection listing sessions keeps of its window.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimestampMicrosecondType};
use chrono::{DateTime, Duration, TimeZone, Utc};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use crate::correlate::facts::{
    self, CREDENTIALS, Facts, MCP_ANNOUNCED, MCP_REQUESTS, SIGNIN_GRANTS,
};
use crate::correlate::mcp::McpLink;
use crate::correlate::rules::Rules;
use crate::correlate::sessions::{Session, SessionFact, classify_sessions};
use crate::correlate::signin::{Announced, Grant, SigninSession, infer, mcp_sessions};
use crate::schema::timestamp_type;

use super::QueryError;
use super::compact::{self, Text};
use super::lookup::Lookups;

/// The tables this module derives (what a statement that reads none of them, nor the AI labels of
/// `events`, can run without: see `query::needs_derived`).
pub const DERIVED_TABLES: &[&str] = &[
    "sessions",
    "ai_roles",
    "ai_session_names",
    "mcp_links",
    "signin_grants",
    "signin_mcp_sessions",
    "mcp_inferred_links",
];

/// The text columns of `sessions` (and of the credential facts as read) kept dictionary-encoded
/// in memory (see `compact`): those whose values repeat over many sessions.
const SESSION_DICTIONARY: &[&str] = &[
    "api",
    "account_id",
    "region",
    "role_arn",
    "tags",
    "transitive_tag_keys",
    "source_identity",
    "caller_arn",
    "root_caller_arn",
    "ai_mechanism",
    "ai_mechanisms",
    "mcp_server",
];

/// The columns of `sessions`, in order: (name, description). The credential facts' columns
/// (`correlate::facts`), then what classification derived.
pub const SESSION_COLUMNS: &[(&str, &str)] = &[
    (
        "access_key_id",
        "Access key of the session's credentials: the session's identity.",
    ),
    ("sts_event_id", "`eventID` of the STS call that created it."),
    (
        "api",
        "`AssumeRole`, `AssumeRoleWithSAML`, `AssumeRoleWithWebIdentity` or `GetFederationToken`.",
    ),
    ("account_id", "Account whose trail logged the STS call."),
    (
        "region",
        "Region the STS call was logged in (us-east-1 for the global endpoint).",
    ),
    ("issued_at", "Time of the STS call."),
    (
        "expires_at",
        "Credential expiry (parsed from `\"Nov 20, 2026, 3:05:22 PM\"`).",
    ),
    ("role_arn", "Role assumed."),
    ("session_name", "`roleSessionName`."),
    (
        "assumed_role_arn",
        "ARN of the session (`assumed-role/<role>/<name>`).",
    ),
    ("assumed_role_id", "`assumedRoleId`."),
    (
        "tags",
        "All session tags as a JSON object (from `tags`, `principalTags` and `incomingTransitiveTags`).",
    ),
    (
        "transitive_tag_keys",
        "`transitiveTagKeys` as a JSON array.",
    ),
    (
        "source_identity",
        "`sourceIdentity`, set on the call or inherited from the caller.",
    ),
    (
        "has_session_policy",
        "A session policy (`policy` or `policyArns`) scoped the credentials.",
    ),
    ("caller_arn", "Who called STS."),
    ("caller_access_key_id", "The caller's access key."),
    (
        "parent_access_key_id",
        "The caller's session, when it is in the lake (role chaining).",
    ),
    ("root_access_key_id", "First session of the chain."),
    (
        "root_caller_arn",
        "Who called STS for the chain's first session: the person or workload behind an AI session.",
    ),
    (
        "chain_depth",
        "0 for a session created with long-term credentials, 1 for its child, …",
    ),
    ("is_ai", "The session is AI-driven."),
    (
        "ai_mechanism",
        "The strongest reason: `session-tag`, `chained`, `source-identity` or `agent-role`.",
    ),
    ("ai_mechanisms", "Every reason, comma-separated."),
    ("mcp_server", "The `MCPServer` tag value, or the parent's."),
];

/// First issue, last expiry and MCP server of the AI sessions sharing a role and session name,
/// and the first one's STS event id.
type NameWindow<'a> = (DateTime<Utc>, DateTime<Utc>, Option<String>, &'a str);

/// The columns `sessions` adds to the credential facts (nullable unless said).
fn derived_fields() -> Vec<Field> {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    vec![
        s("parent_access_key_id"),
        Field::new("root_access_key_id", DataType::Utf8, false),
        s("root_caller_arn"),
        Field::new("chain_depth", DataType::UInt32, false),
        Field::new("is_ai", DataType::Boolean, false),
        s("ai_mechanism"),
        s("ai_mechanisms"),
        s("mcp_server"),
    ]
}

/// The longest that STS credentials can live (`GetFederationToken` and `GetSessionToken`: 36
/// hours; `AssumeRole*` at most 12), plus an hour for clocks: a call at time t uses credentials
/// issued after t minus this.
pub const CREDENTIAL_LIFETIME: Duration = Duration::hours(37);

/// Role chains longer than this are not followed further back (a forged cycle ends anyway).
pub(crate) const MAX_CHAIN_FETCHES: usize = 64;

fn micros(t: &DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The schema of `sessions` as SQL sees it: the credential facts' columns, then the decisions.
fn sessions_schema() -> Arc<Schema> {
    let facts = facts::schema(CREDENTIALS);
    let mut fields: Vec<Field> = facts.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(derived_fields());
    Arc::new(Schema::new(fields))
}

/// The credential facts as read (one batch per file part, never concatenated: at millions of
/// sessions a copy costs hundreds of MiB), with the accessors classification needs. Fact `i` is
/// row `loc[i].1` of batch `loc[i].0`.
struct Credentials {
    batches: Vec<RecordBatch>,
    loc: Vec<(usize, usize)>,
}

/// One text column of every batch (plain or dictionary-encoded).
struct Column<'a>(Vec<Text<'a>>);

impl<'a> Column<'a> {
    fn get(&self, (b, r): (usize, usize)) -> Option<&'a str> {
        self.0[b].get(r)
    }
}

/// One time column of every batch.
struct Times<'a>(Vec<&'a TimestampMicrosecondArray>);

impl Times<'_> {
    fn get(&self, (b, r): (usize, usize)) -> Option<i64> {
        let a = self.0[b];
        (!a.is_null(r)).then(|| a.value(r))
    }
}

impl Credentials {
    fn new(batches: Vec<RecordBatch>) -> Credentials {
        let loc = batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r)))
            .collect();
        Credentials { batches, loc }
    }

    fn strings(&self, name: &str) -> Column<'_> {
        // The fact table's schema is ours: these columns exist and are text.
        Column(
            self.batches
                .iter()
                .map(|b| {
                    b.column_by_name(name)
                        .and_then(|c| Text::of(c.as_ref()))
                        .expect("credential facts column")
                })
                .collect(),
        )
    }

    fn times(&self, name: &str) -> Times<'_> {
        Times(
            self.batches
                .iter()
                .map(|b| {
                    b.column_by_name(name)
                        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                        .expect("credential facts column")
                })
                .collect(),
        )
    }

    /// The classification inputs (the first columns of [`SUMMARY_COLUMNS`]).
    fn facts(&self) -> Vec<SessionFact<'_>> {
        let (key, event, role, si, caller, tags) = (
            self.strings("access_key_id"),
            self.strings("sts_event_id"),
            self.strings("role_arn"),
            self.strings("source_identity"),
            self.strings("caller_access_key_id"),
            self.strings("tags"),
        );
        let issued = self.times("issued_at");
        self.loc
            .iter()
            .map(|&l| SessionFact {
                access_key_id: key.get(l).unwrap_or_default(),
                sts_event_id: event.get(l).unwrap_or_default(),
                issued_at: issued.get(l).unwrap_or_default(),
                role_arn: role.get(l),
                source_identity: si.get(l),
                caller_access_key_id: caller.get(l),
                tags: tags.get(l).unwrap_or("{}"),
            })
            .collect()
    }

    /// `sessions`: the facts of the sessions kept and the decisions, one batch per batch of
    /// facts, in the facts' order. The fact columns are the facts' own arrays, filtered (shared,
    /// not copied, when every fact of a batch is kept; only a later issue of the same access key
    /// is dropped); only the decisions are new. Consumes the facts: each batch read is released
    /// as soon as its filtered copy exists, so the two are never all in memory at once.
    fn into_sessions_batches(
        self,
        sessions: &[Session],
    ) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
        let plain = sessions_schema();
        let schema = compact::schema(&plain, SESSION_DICTIONARY);
        // The session of each fact, when it is the one kept for its access key.
        let mut session_of: Vec<Option<usize>> = vec![None; self.loc.len()];
        for (i, s) in sessions.iter().enumerate() {
            session_of[s.fact] = Some(i);
        }
        // The decisions first (a chain's root can be in any batch), then each batch's facts.
        let mut derived: Vec<Vec<ArrayRef>> = Vec::with_capacity(self.batches.len());
        {
            let (key, caller_key, caller) = (
                self.strings("access_key_id"),
                self.strings("caller_access_key_id"),
                self.strings("caller_arn"),
            );
            let loc = |i: usize| self.loc[sessions[i].fact];
            let mut first = 0;
            for batch in &self.batches {
                let here = &session_of[first..first + batch.num_rows()];
                first += batch.num_rows();
                let kept: Vec<&Session> = here.iter().flatten().map(|&i| &sessions[i]).collect();
                // The repetitive ones built as dictionaries (`SESSION_DICTIONARY`) straight away:
                // at hundreds of thousands of sessions their text would add up before encoding.
                derived.push(vec![
                    Arc::new(
                        kept.iter()
                            .map(|s| s.parent.and_then(|_| caller_key.get(self.loc[s.fact])))
                            .collect::<StringArray>(),
                    ),
                    Arc::new(
                        kept.iter()
                            .map(|s| key.get(loc(s.root)))
                            .collect::<StringArray>(),
                    ),
                    Arc::new(
                        kept.iter()
                            .map(|s| caller.get(loc(s.root)))
                            .collect::<DictionaryArray<Int32Type>>(),
                    ),
                    Arc::new(UInt32Array::from_iter_values(
                        kept.iter().map(|s| s.chain_depth),
                    )),
                    Arc::new(
                        kept.iter()
                            .map(|s| Some(s.is_ai()))
                            .collect::<BooleanArray>(),
                    ),
                    Arc::new(
                        kept.iter()
                            .map(|s| s.ai_mechanisms.first().copied())
                            .collect::<DictionaryArray<Int32Type>>(),
                    ),
                    Arc::new(
                        kept.iter()
                            .map(|s| {
                                (!s.ai_mechanisms.is_empty()).then(|| s.ai_mechanisms.join(","))
                            })
                            .collect::<Vec<_>>()
                            .iter()
                            .map(Option::as_deref)
                            .collect::<DictionaryArray<Int32Type>>(),
                    ),
                    Arc::new(
                        kept.iter()
                            .map(|s| s.mcp_server.as_deref())
                            .collect::<DictionaryArray<Int32Type>>(),
                    ),
                ]);
            }
        }
        let mut out = Vec::with_capacity(self.batches.len());
        let mut first = 0;
        for (batch, decisions) in self.batches.into_iter().zip(derived) {
            let here = &session_of[first..first + batch.num_rows()];
            first += batch.num_rows();
            if decisions[0].is_empty() {
                continue;
            }
            let mask: BooleanArray = here.iter().map(|s| Some(s.is_some())).collect();
            let mut cols = arrow::compute::filter_record_batch(&batch, &mask)?
                .columns()
                .to_vec();
            drop(batch);
            cols.extend(decisions);
            // The facts' columns as read (encoded or not), then every one encoded.
            let fields: Vec<Field> = plain
                .fields()
                .iter()
                .zip(&cols)
                .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), f.is_nullable()))
                .collect();
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?;
            out.push(compact::encode(&batch, SESSION_DICTIONARY)?);
        }
        if out.is_empty() {
            out.push(RecordBatch::new_empty(schema));
        }
        Ok(out)
    }
}

/// `ai_roles`: one row per role that an AI session has assumed, with how the first such session
/// was marked (the smallest mechanism, as `min` orders strings), the smallest MCP server named
/// and the first issue: what `sessions WHERE is_ai GROUP BY role_arn` gives, computed here so
/// that a windowed context can have it for every session of the lake without building the
/// whole `sessions` table.
fn ai_roles_batch(
    credentials: &Credentials,
    sessions: &[Session],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    type Mark<'a> = (&'static str, Option<&'a str>, i64);
    let (roles, issued) = (
        credentials.strings("role_arn"),
        credentials.times("issued_at"),
    );
    let mut marks: HashMap<&str, Mark<'_>> = HashMap::new();
    for s in sessions.iter().filter(|s| s.is_ai()) {
        let l = credentials.loc[s.fact];
        let (Some(role), Some(how)) = (roles.get(l), s.ai_mechanisms.first().copied()) else {
            continue;
        };
        let at = issued.get(l).unwrap_or_default();
        let server = s.mcp_server.as_deref();
        marks
            .entry(role)
            .and_modify(|m| {
                m.0 = m.0.min(how);
                m.1 = match (m.1, server) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                m.2 = m.2.min(at);
            })
            .or_insert((how, server, at));
    }
    let mut marks: Vec<(&str, Mark<'_>)> = marks.into_iter().collect();
    marks.sort_unstable_by(|a, b| a.0.cmp(b.0));
    RecordBatch::try_new(
        ai_roles_schema(),
        vec![
            Arc::new(marks.iter().map(|m| Some(m.0)).collect::<StringArray>()),
            Arc::new(marks.iter().map(|m| Some(m.1.0)).collect::<StringArray>()),
            Arc::new(marks.iter().map(|m| m.1.1).collect::<StringArray>()),
            Arc::new(
                marks
                    .iter()
                    .map(|m| Some(m.1.2))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
        ],
    )
}

/// `ai_session_names`: per role and session name of AI sessions, the first issue, the last
/// expiry (or issue plus the rules' window) and the first session's MCP server, for the calls
/// that carry no access key.
fn session_names_batch<'a>(
    credentials: &'a Credentials,
    facts: &[SessionFact<'a>],
    sessions: &[Session],
    rules: &Rules,
    with_first_event: bool,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let window = Duration::minutes(i64::from(rules.session_name_window_minutes));
    let mut names: HashMap<(&str, &str), NameWindow<'a>> = HashMap::new();
    let (roles, names_col, expires) = (
        credentials.strings("role_arn"),
        credentials.strings("session_name"),
        credentials.times("expires_at"),
    );
    let at = |micros: i64| Utc.timestamp_micros(micros).single().unwrap_or_default();
    for s in sessions.iter().filter(|s| s.is_ai()) {
        let l = credentials.loc[s.fact];
        let (Some(role), Some(name)) = (roles.get(l), names_col.get(l)) else {
            continue;
        };
        let issued = at(facts[s.fact].issued_at);
        let end = expires.get(l).map_or(issued + window, at);
        let e = names.entry((role, name)).or_insert((
            issued,
            end,
            s.mcp_server.clone(),
            facts[s.fact].sts_event_id,
        ));
        e.0 = e.0.min(issued);
        e.1 = e.1.max(end);
    }
    let mut names: Vec<((&str, &str), NameWindow<'a>)> = names.into_iter().collect();
    names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(
            names
                .iter()
                .map(|(k, _)| Some(k.0))
                .collect::<StringArray>(),
        ),
        Arc::new(
            names
                .iter()
                .map(|(k, _)| Some(k.1))
                .collect::<StringArray>(),
        ),
        Arc::new(
            names
                .iter()
                .map(|(_, v)| Some(micros(&v.0)))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ),
        Arc::new(
            names
                .iter()
                .map(|(_, v)| Some(micros(&v.1)))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ),
        Arc::new(
            names
                .iter()
                .map(|(_, v)| v.2.as_deref())
                .collect::<StringArray>(),
        ),
    ];
    let mut schema = session_names_schema().fields().to_vec();
    if with_first_event {
        columns.push(Arc::new(
            names
                .iter()
                .map(|(_, v)| Some(v.3))
                .collect::<StringArray>(),
        ));
        schema.push(Arc::new(Field::new(FIRST_EVENT, DataType::Utf8, false)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(schema)), columns)
}

/// The column [`session_names_batch`] adds for keeping (`query::kept`): the STS event id of the
/// first AI session of the name (the earliest issue, then the smallest event id: the one whose
/// MCP server the name gets).
pub(crate) const FIRST_EVENT: &str = "first_sts_event_id";

/// The schema of `ai_session_names`.
pub(crate) fn session_names_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("role_arn", DataType::Utf8, false),
        Field::new("session_name", DataType::Utf8, false),
        Field::new("first_issued_at", timestamp_type(), false),
        Field::new("last_expires_at", timestamp_type(), false),
        Field::new("mcp_server", DataType::Utf8, true),
    ]))
}

/// `mcp_links`: one row per request id, that of the MCP record with the smallest event id (two
/// MCP events naming one request: deterministic), in request id order. Done here rather than as
/// a `GROUP BY` with `first_value`: that kept every column of every group as a scalar per
/// accumulator, 380 MiB at 5M events, where this keeps a position per request id.
fn mcp_links_batch(requests: &[RecordBatch]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = facts::schema(MCP_REQUESTS);
    let column = |b: &RecordBatch, name: &str| -> Result<StringArray, arrow::error::ArrowError> {
        b.column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .cloned()
            .ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("{name} missing")))
    };
    let (mut ids, mut events) = (Vec::new(), Vec::new());
    for b in requests {
        ids.push(column(b, "request_id")?);
        events.push(column(b, "mcp_event_id")?);
    }
    let mut best: HashMap<&str, (usize, usize)> = HashMap::new();
    for (b, (id, event)) in ids.iter().zip(&events).enumerate() {
        for r in 0..id.len() {
            if id.is_null(r) || event.is_null(r) {
                continue;
            }
            best.entry(id.value(r))
                .and_modify(|at| {
                    if event.value(r) < events[at.0].value(at.1) {
                        *at = (b, r);
                    }
                })
                .or_insert((b, r));
        }
    }
    let mut picks: Vec<(&str, (usize, usize))> = best.into_iter().collect();
    picks.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let rows: Vec<(usize, usize)> = picks.into_iter().map(|p| p.1).collect();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let parts: Vec<ArrayRef> = requests
            .iter()
            .map(|b| {
                b.column_by_name(f.name()).cloned().ok_or_else(|| {
                    arrow::error::ArrowError::SchemaError(format!("{} missing", f.name()))
                })
            })
            .collect::<Result<_, _>>()?;
        let parts: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        cols.push(if parts.is_empty() {
            arrow::array::new_empty_array(f.data_type())
        } else {
            arrow::compute::interleave(&parts, &rows)?
        });
    }
    RecordBatch::try_new(schema, cols)
}

/// The credential columns the whole-lake summaries read: classification's (those
/// [`Credentials::facts`] takes: keep the two together), and what `ai_session_names` adds
/// (session name, expiry).
const SUMMARY_COLUMNS: &str = "access_key_id, sts_event_id, issued_at, role_arn, source_identity, \
                               caller_access_key_id, tags, session_name, expires_at";

/// The credential columns of [`summaries_of`], by name.
pub(crate) fn summary_columns() -> Vec<&'static str> {
    SUMMARY_COLUMNS.split(", ").map(str::trim).collect()
}

/// `ai_roles` and `ai_session_names` (with [`FIRST_EVENT`]) of every credential fact of the lake,
/// classified again (a read of the columns they need, not the whole `sessions` table).
pub(crate) async fn every_summary(
    ctx: &SessionContext,
    rules: &Rules,
) -> Result<(RecordBatch, RecordBatch), QueryError> {
    let batches = collect(ctx, &format!("SELECT {SUMMARY_COLUMNS} FROM {CREDENTIALS}")).await?;
    summaries_of(batches, None, rules)
}

/// What the sessions of `keys` (all, for None) add to `ai_roles` and `ai_session_names` (with
/// [`FIRST_EVENT`]), classified from `batches` (credential facts in the columns of
/// [`summary_columns`]: those sessions' and their chains' ancestors').
pub(crate) fn summaries_of(
    batches: Vec<RecordBatch>,
    keys: Option<&HashSet<String>>,
    rules: &Rules,
) -> Result<(RecordBatch, RecordBatch), QueryError> {
    let credentials = Credentials::new(batches);
    let facts = credentials.facts();
    let sessions: Vec<Session> = classify_sessions(&facts, rules)
        .into_iter()
        .filter(|s| keys.is_none_or(|k| k.contains(facts[s.fact].access_key_id)))
        .collect();
    Ok((
        ai_roles_batch(&credentials, &sessions)?,
        session_names_batch(&credentials, &facts, &sessions, rules, true)?,
    ))
}

/// The schema of `ai_roles`.
pub(crate) fn ai_roles_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("role_arn", DataType::Utf8, false),
        Field::new("how", DataType::Utf8, false),
        Field::new("mcp_server", DataType::Utf8, true),
        Field::new("first_marked", timestamp_type(), false),
    ]))
}

fn col_str(b: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let c = b.column_by_name(name)?;
    let c = c.as_string_opt::<i32>()?;
    (!c.is_null(row)).then(|| c.value(row).to_string())
}

fn col_time(b: &RecordBatch, name: &str, row: usize) -> Option<DateTime<Utc>> {
    let c = b
        .column_by_name(name)?
        .as_primitive_opt::<TimestampMicrosecondType>()?;
    (!c.is_null(row))
        .then(|| Utc.timestamp_micros(c.value(row)).single())
        .flatten()
}

async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, DataFusionError> {
    ctx.sql(sql).await?.collect().await
}

/// Read the sign-in facts: all of them, or in a context limited to a range (`limited`), those of
/// the sign-in sessions its events name (a sign-in session's MCP grant and its announced calls
/// are looked up by its ARN only, so the answer for those events is the same).
async fn read_facts(
    ctx: &SessionContext,
    limited: bool,
    ids_in: &str,
) -> Result<Facts, QueryError> {
    let in_range = if limited {
        format!(
            " WHERE signin_session_arn IN (SELECT signin_session_arn FROM {ids_in} \
             WHERE signin_session_arn IS NOT NULL)"
        )
    } else {
        String::new()
    };
    let mut facts = Facts::default();
    for table in [SIGNIN_GRANTS, MCP_ANNOUNCED] {
        for b in collect(ctx, &format!("SELECT * FROM {table}{in_range}")).await? {
            facts.read(table, &b)?;
        }
    }
    Ok(facts)
}

/// The credential facts read for a context limited to a range: the rows and their access keys.
struct Fetched {
    batches: Vec<RecordBatch>,
    keys: HashSet<String>,
    /// Credentials issued before this were fetched by key or by name, never by time.
    from: DateTime<Utc>,
}

/// A timestamp literal for a filter on `issued_at`.
fn at(t: DateTime<Utc>) -> datafusion::prelude::Expr {
    datafusion::prelude::lit(datafusion::scalar::ScalarValue::TimestampMicrosecond(
        Some(micros(&t)),
        Some(Arc::from("UTC")),
    ))
}

impl Fetched {
    fn issued_before(&self) -> datafusion::prelude::Expr {
        datafusion::prelude::col("issued_at").lt(at(self.from))
    }

    /// Add `found` (rows not read yet); the keys of their callers that are not here yet (from
    /// now on counted as here, to be fetched by the caller of this).
    fn add(&mut self, mut found: Vec<RecordBatch>) -> Vec<String> {
        for b in &found {
            for r in 0..b.num_rows() {
                if let Some(k) = col_str(b, "access_key_id", r) {
                    self.keys.insert(k);
                }
            }
        }
        let mut callers: Vec<String> = Vec::new();
        for b in &found {
            for r in 0..b.num_rows() {
                if let Some(k) = col_str(b, "caller_access_key_id", r)
                    && self.keys.insert(k.clone())
                {
                    callers.push(k);
                }
            }
        }
        self.batches.append(&mut found);
        callers
    }

    /// Add `found` (rows not read yet), then fetch the callers' sessions that are not here,
    /// level by level, whenever they were issued.
    async fn add_with_ancestors(
        &mut self,
        ctx: &SessionContext,
        found: Vec<RecordBatch>,
    ) -> Result<(), QueryError> {
        let callers = self.add(found);
        self.fetch_with_ancestors(ctx, callers).await
    }

    /// Fetch the sessions of `keys` (counted as here already), then their callers' that are
    /// not here, level by level, whenever they were issued.
    async fn fetch_with_ancestors(
        &mut self,
        ctx: &SessionContext,
        mut keys: Vec<String>,
    ) -> Result<(), QueryError> {
        for _ in 0..MAX_CHAIN_FETCHES {
            if keys.is_empty() {
                break;
            }
            let found = self.fetch_keys(ctx, &keys).await?;
            keys = self.add(found);
        }
        Ok(())
    }

    /// The credentials issued before `from` with one of `keys`, whenever they were issued: one
    /// lookup over every earlier file (each skipped by its statistics or its Bloom filters where
    /// it cannot hold one of the keys). Every earlier issue of a key looked up is found, so a
    /// key issued twice before the range (never by STS: a forged log) keeps its first issue, as
    /// in the whole lake; one issued in range is not looked up before it. (Looking in the
    /// 37 hours before first, then elsewhere for the keys not found, read the older files as
    /// well whenever one key was issued outside the lake, such as an IAM user's: two lookups
    /// where one does.)
    async fn fetch_keys(
        &self,
        ctx: &SessionContext,
        keys: &[String],
    ) -> Result<Vec<RecordBatch>, QueryError> {
        let rows: Vec<Vec<&str>> = keys.iter().map(|k| vec![k.as_str()]).collect();
        let credentials = ctx.table(CREDENTIALS).await?.filter(self.issued_before())?;
        Ok(matching(ctx, credentials, &["access_key_id"], &rows)?
            .collect()
            .await?)
    }

    /// The credentials issued before `from` whose `columns` equal one of `rows`.
    async fn fetch_matching(
        &self,
        ctx: &SessionContext,
        columns: &[&str],
        rows: &[Vec<&str>],
    ) -> Result<Vec<RecordBatch>, QueryError> {
        let credentials = ctx.table(CREDENTIALS).await?.filter(self.issued_before())?;
        Ok(matching(ctx, credentials, columns, rows)?.collect().await?)
    }
}

/// The table of a limited context's access keys, request ids and sign-in sessions while its
/// derived tables are built (see [`register`]).
const RANGE_IDS: &str = "range_ids";

/// The most events whose ids [`register_range_ids`] keeps in memory (~60 bytes each), unless
/// `AGENTTRAIL_RANGE_IDS_MAX_ROWS` says otherwise.
const RANGE_IDS_MAX_ROWS: usize = 1 << 20;

/// The limit of [`register_range_ids`]: `AGENTTRAIL_RANGE_IDS_MAX_ROWS`, or
/// [`RANGE_IDS_MAX_ROWS`]. An unreadable value is an error naming the variable.
fn range_ids_max_rows() -> Result<usize, QueryError> {
    crate::env_vars::whole_number(
        crate::env_vars::RANGE_IDS_MAX_ROWS,
        RANGE_IDS_MAX_ROWS,
        "a whole number of events (0: never held in memory)",
    )
    .map_err(|e| QueryError::DataFusion(DataFusionError::Configuration(e)))
}

/// Register [`RANGE_IDS`], the access keys, request ids and sign-in sessions of the context's
/// events, if there are at most `max_rows`; false (nothing registered) otherwise.
async fn register_range_ids(ctx: &SessionContext, max_rows: usize) -> Result<bool, QueryError> {
    use futures::StreamExt;
    let df = ctx
        .sql("SELECT access_key_id, request_id, signin_session_arn FROM events_all")
        .await?;
    let schema: arrow::datatypes::SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let mut stream = df.execute_stream().await?;
    let (mut ids, mut rows) = (Vec::new(), 0);
    while let Some(b) = stream.next().await {
        let b = b?;
        rows += b.num_rows();
        if rows > max_rows {
            return Ok(false);
        }
        ids.push(b);
    }
    ctx.register_table(RANGE_IDS, Arc::new(MemTable::try_new(schema, vec![ids])?))?;
    Ok(true)
}

/// The most values [`matching`] puts in an `IN` list.
const IN_LIST_MAX: usize = 256;

/// The rows of `table` whose `columns` equal one of `rows`: a semi-join with the values as a
/// table (an `IN` list of tens of thousands of keys overflowed the stack through the Delta
/// provider on a 5M-event lake; values from the logs never become SQL text).
pub(crate) fn matching(
    ctx: &SessionContext,
    table: datafusion::dataframe::DataFrame,
    columns: &[&str],
    rows: &[Vec<&str>],
) -> Result<datafusion::dataframe::DataFrame, QueryError> {
    // A few values of one column: an `IN` list, which the Parquet scan also checks against each
    // row group's Bloom filter (see `sink::parquet`). (Not tens of thousands: see above.)
    if let [column] = columns
        && !rows.is_empty()
        && rows.len() <= IN_LIST_MAX
    {
        let list = rows
            .iter()
            .map(|r| datafusion::prelude::lit(r[0]))
            .collect();
        let c = datafusion::prelude::col(datafusion::common::Column::new_unqualified(*column));
        return Ok(table.filter(c.in_list(list, false))?);
    }
    let names: Vec<String> = (0..columns.len()).map(|i| format!("wanted_{i}")).collect();
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| Arc::new(rows.iter().map(|r| Some(r[i])).collect::<StringArray>()) as ArrayRef)
        .collect();
    let wanted = ctx.read_batch(RecordBatch::try_new(schema, arrays)?)?;
    let right: Vec<&str> = names.iter().map(String::as_str).collect();
    // The smallest and largest value of each column, as a filter the join implies: the table's
    // files and row groups whose statistics lie outside are not read (a range's keys are all in
    // the last day's files, the long-lived keys of IAM users sort before every STS key).
    let mut table = table;
    for (i, c) in columns.iter().enumerate() {
        let (Some(lo), Some(hi)) = (
            rows.iter().map(|r| r[i]).min(),
            rows.iter().map(|r| r[i]).max(),
        ) else {
            continue;
        };
        let c = datafusion::prelude::col(datafusion::common::Column::new_unqualified(*c));
        table = table.filter(
            c.clone()
                .gt_eq(datafusion::prelude::lit(lo))
                .and(c.lt_eq(datafusion::prelude::lit(hi))),
        )?;
    }
    Ok(table.join(
        wanted,
        datafusion::common::JoinType::LeftSemi,
        columns,
        &right,
        None,
    )?)
}

/// The credentials issued from the start of what a limited context fetches by time (see
/// [`read_credentials`]), and that start.
struct IssuedInRange {
    fetched: Fetched,
    live: Vec<RecordBatch>,
}

/// Read the credentials issued in range: the first read of [`read_credentials`], which needs
/// nothing else and so runs while the range's ids are read (two small scans at once instead of
/// one after the other: a window's context is round trips to files, not bytes).
async fn issued_in_range(
    ctx: &SessionContext,
    since: DateTime<Utc>,
    names_kept: bool,
) -> Result<IssuedInRange, QueryError> {
    let fetched = Fetched {
        batches: Vec::new(),
        keys: HashSet::new(),
        from: if names_kept {
            since
        } else {
            since - CREDENTIAL_LIFETIME
        },
    };
    let live = ctx
        .table(CREDENTIALS)
        .await?
        .filter(datafusion::prelude::not(fetched.issued_before()))?
        .collect()
        .await?;
    Ok(IssuedInRange { fetched, live })
}

/// The credential facts a context needs: all of them, or, for a context whose events start at
/// `since`, those issued from `since - CREDENTIAL_LIFETIME` on, those of the access keys its
/// events use, the ancestors of their chains (fetched by `access_key_id`, whenever they were
/// issued), and the earlier sessions sharing a role and session name with an AI session among
/// them that calls without an access key in range name (`ai_session_names` spans them all).
/// `names_kept`: the whole lake's `ai_session_names` is given (`detect`, `run`): the same-name
/// sessions are not read, and of the sessions before `since` only those of the keys used.
/// `ids_in`: where the range's access keys are listed (`events_all`, or [`RANGE_IDS`]).
/// `issued`: the credentials issued in range, read already ([`issued_in_range`]).
async fn read_credentials(
    ctx: &SessionContext,
    rules: &Rules,
    since: Option<DateTime<Utc>>,
    names_kept: bool,
    ids_in: &str,
    issued: Option<IssuedInRange>,
) -> Result<Vec<RecordBatch>, QueryError> {
    let Some(since) = since else {
        // Every credential of the lake: encoded batch by batch as read, so they are never all
        // in memory as plain text.
        use futures::StreamExt;
        let mut stream = ctx
            .sql(&format!("SELECT * FROM {CREDENTIALS}"))
            .await?
            .execute_stream()
            .await?;
        let mut batches = Vec::new();
        while let Some(b) = stream.next().await {
            batches.push(compact::encode(&b?, SESSION_DICTIONARY)?);
        }
        return Ok(batches);
    };
    // Every session that can be live in range, or, with the whole lake's names given (`detect`,
    // `run`), only those issued in range and those of the keys its calls use: nothing else of
    // `sessions` is looked up there, and a detection that lists sessions keeps those issued in
    // its window.
    let IssuedInRange { mut fetched, live } = match issued {
        Some(issued) => issued,
        None => issued_in_range(ctx, since, names_kept).await?,
    };
    let started = std::time::Instant::now();
    let trace = |what: &str, fetched: &Fetched| {
        tracing::debug!(
            step = what,
            ms = started.elapsed().as_millis() as u64,
            keys = fetched.keys.len(),
            "Reading the credentials live in range."
        )
    };
    // Their callers not issued in range are fetched with the keys below, in one lookup.
    let mut wanted = fetched.add(live);
    trace("issued in range", &fetched);
    // The sessions of the keys that the range's calls use, however long ago they were issued
    // (logs can hold credentials used past 36 hours: forged, or a clock far off).
    for b in collect(
        ctx,
        &format!("SELECT DISTINCT access_key_id FROM {ids_in} WHERE access_key_id IS NOT NULL"),
    )
    .await?
    {
        for r in 0..b.num_rows() {
            if let Some(k) = col_str(&b, "access_key_id", r)
                && fetched.keys.insert(k.clone())
            {
                wanted.push(k);
            }
        }
    }
    trace("keys used in range listed", &fetched);
    fetched.fetch_with_ancestors(ctx, wanted).await?;
    trace("keys used in range and ancestors fetched", &fetched);
    // `ai_session_names` spans, per role and session name, the first issue to the last expiry of
    // its AI sessions, with the first one's MCP server; it classifies the calls that carry no
    // access key. Earlier sessions change that only for the names such calls in range use: fetch
    // every session of those names (unless the whole lake's table is given, see `register`).
    if names_kept {
        return Ok(fetched
            .batches
            .iter()
            .map(|b| compact::encode(b, SESSION_DICTIONARY))
            .collect::<Result<_, _>>()?);
    }
    let mut keyless: HashSet<(String, String)> = HashSet::new();
    for b in collect(
        ctx,
        "SELECT DISTINCT session_issuer_arn, regexp_replace(identity_arn, '^.*/', '') AS name \
         FROM events_all WHERE access_key_id IS NULL AND session_issuer_arn IS NOT NULL \
         AND identity_arn IS NOT NULL",
    )
    .await?
    {
        for r in 0..b.num_rows() {
            if let (Some(role), Some(name)) =
                (col_str(&b, "session_issuer_arn", r), col_str(&b, "name", r))
            {
                keyless.insert((role, name));
            }
        }
    }
    let mut pairs: HashSet<(String, String)> = HashSet::new();
    if !keyless.is_empty() {
        let credentials = Credentials::new(fetched.batches.clone());
        let (role, name) = (
            credentials.strings("role_arn"),
            credentials.strings("session_name"),
        );
        let facts = credentials.facts();
        for s in classify_sessions(&facts, rules)
            .iter()
            .filter(|s| s.is_ai())
        {
            let l = credentials.loc[s.fact];
            if let (Some(r), Some(n)) = (role.get(l), name.get(l)) {
                let pair = (r.to_string(), n.to_string());
                if keyless.contains(&pair) {
                    pairs.insert(pair);
                }
            }
        }
    }
    if !pairs.is_empty() {
        let rows: Vec<Vec<&str>> = pairs
            .iter()
            .map(|(r, n)| vec![r.as_str(), n.as_str()])
            .collect();
        let same_name = fetched
            .fetch_matching(ctx, &["role_arn", "session_name"], &rows)
            .await?;
        // Rows already fetched as ancestors come back: keep the new ones only.
        let mut fresh = Vec::with_capacity(same_name.len());
        for b in same_name {
            let keep: BooleanArray = (0..b.num_rows())
                .map(|r| {
                    Some(col_str(&b, "access_key_id", r).is_none_or(|k| !fetched.keys.contains(&k)))
                })
                .collect();
            fresh.push(arrow::compute::filter_record_batch(&b, &keep)?);
        }
        fetched.add_with_ancestors(ctx, fresh).await?;
    }
    trace("same-name sessions fetched", &fetched);
    Ok(fetched
        .batches
        .iter()
        .map(|b| compact::encode(b, SESSION_DICTIONARY))
        .collect::<Result<_, _>>()?)
}

/// Build and register `sessions`, `ai_session_names`, `mcp_links` and the sign-in tables from
/// the lake's fact tables (see `correlate::facts`), never from the events' raw JSON: from all
/// the credentials, or from those that can be live from `since` on (see the module's docs).
/// `limited`: the context's events are limited to a time range (`mcp_links` then keeps the
/// request ids they carry). `empty`: read nothing and register every table empty, in its schema
/// (a context for planning, see `query::needs_derived`).
///
/// `whole`: `ai_roles` and `ai_session_names` of the whole lake, as kept (`query::kept`), for a
/// context limited to a range: then registered as they are (`ai_roles` whether asked for or not),
/// and the sessions sharing a name with the range's keyless calls are not read.
pub async fn register(
    ctx: &SessionContext,
    rules: &Rules,
    since: Option<DateTime<Utc>>,
    limited: bool,
    every_role: bool,
    empty: bool,
    whole: Option<&(RecordBatch, RecordBatch)>,
) -> Result<(), QueryError> {
    let whole = whole.filter(|_| since.is_some() && !empty);
    let started = std::time::Instant::now();
    let step = |what: &str| {
        tracing::debug!(
            step = what,
            ms = started.elapsed().as_millis() as u64,
            peak_rss_mib = super::peak_rss_mib(),
            "Building correlation tables."
        )
    };
    // The range's access keys, request ids and sign-in sessions, read from its events once
    // when they are few (a window's): each fact table is then looked up by a semi-join with
    // them, not by another scan of the events. (A table of this context for as long as the
    // tables are built.) A longer range streams its events through each lookup instead, which
    // holds the fact table's side in memory, not the range's.
    // The credentials issued in range are read meanwhile: they need nothing of the events.
    let (ranged, issued) = futures::future::try_join(
        async {
            if limited && !empty {
                register_range_ids(ctx, range_ids_max_rows()?).await
            } else {
                Ok(false)
            }
        },
        async {
            match since {
                Some(since) if !empty => {
                    issued_in_range(ctx, since, whole.is_some()).await.map(Some)
                }
                _ => Ok(None),
            }
        },
    )
    .await?;
    let ids_in = if ranged {
        step("range's keys and ids read, with the credentials issued in range");
        RANGE_IDS
    } else {
        "events_all"
    };
    let read_creds = async {
        if empty {
            Ok(Vec::new())
        } else {
            read_credentials(ctx, rules, since, whole.is_some(), ids_in, issued).await
        }
    };
    // MCP links: one per request id, from the MCP server's own records; when two MCP events
    // name one request, the smallest event id wins (deterministic). A windowed context keeps the
    // links of the request ids its events carry (only those can join).
    let in_range = if limited {
        format!(
            " WHERE request_id IN (SELECT request_id FROM {ids_in} WHERE request_id IS NOT NULL)"
        )
    } else {
        String::new()
    };
    let read_requests = || async {
        if empty {
            Ok(Vec::new())
        } else {
            collect(
                ctx,
                &format!(
                    "SELECT request_id, mcp_tool, mcp_client, mcp_event_id, mcp_server \
                     FROM {MCP_REQUESTS}{in_range}"
                ),
            )
            .await
            .map_err(QueryError::from)
        }
    };
    let read_signin = || async {
        if empty {
            Ok(Facts::default())
        } else {
            read_facts(ctx, limited, ids_in).await
        }
    };
    // A window's few facts are read at once, each a few round trips to small files; a longer
    // range's one after another, so that they are not in memory together with the sessions
    // being built.
    let (credentials, early_requests, early_signin) = if ids_in == RANGE_IDS {
        let (c, r, f) =
            futures::future::try_join3(read_creds, read_requests(), read_signin()).await?;
        (c, Some(r), Some(f))
    } else {
        (read_creds.await?, None, None)
    };
    let credentials = Credentials::new(credentials);
    step("credentials read");
    let facts = credentials.facts();
    // A fact is stored once per stored copy of its event: classification keeps one session per
    // access key, the first issue (copies are equal).
    let sessions = classify_sessions(&facts, rules);
    step("sessions classified");
    // `ai_roles` spans every session of the lake: from these sessions when they are all of them,
    // else (a windowed context asked for it) from every credential fact, classified again: a
    // read of seven columns and the classification, not the whole `sessions` table.
    let roles = if since.is_none() || (every_role && empty) {
        Some(ai_roles_batch(&credentials, &sessions)?)
    } else if let Some((roles, _)) = whole {
        Some(roles.clone())
    } else if every_role {
        Some(every_summary(ctx, rules).await?.0)
    } else {
        None
    };
    if let Some(roles) = roles {
        ctx.register_table(
            "ai_roles",
            Arc::new(MemTable::try_new(ai_roles_schema(), vec![vec![roles]])?),
        )?;
        step("roles of every AI session built");
    }

    // AI sessions by role + session name, for calls that carry no access key (low confidence).
    // (The key columns stay plain: the lookups compare them as text.)
    let names_batch = match (whole, since) {
        // The whole lake's names whose span reaches the range: a call at t matches a span only
        // when t <= its last expiry, and the range's calls are from `since` on.
        (Some((_, names)), Some(since)) => {
            let names = names.project(&[0, 1, 2, 3, 4])?;
            let last = names
                .column_by_name("last_expires_at")
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                .ok_or_else(|| {
                    QueryError::DataFusion(DataFusionError::Internal(
                        "ai_session_names.last_expires_at".into(),
                    ))
                })?;
            let from = micros(&since);
            let reach: BooleanArray = last
                .iter()
                .map(|t| Some(t.is_some_and(|t| t >= from)))
                .collect();
            arrow::compute::filter_record_batch(&names, &reach)?
        }
        _ => session_names_batch(&credentials, &facts, &sessions, rules, false)?,
    };
    let names_batch = compact::encode(&names_batch, &["mcp_server"])?;
    let mut lookups = Lookups::default();
    lookups.add(
        "ai_session_names",
        vec![names_batch.clone()],
        &["role_arn", "session_name"],
    )?;
    compact::register(
        ctx,
        "ai_session_names",
        names_batch.schema(),
        vec![names_batch],
    )?;
    step("session names built");
    // The facts as read are not needed past this: the sessions table keeps its own rows, so the
    // tables built next do not add to both.
    drop(facts);
    let batches = credentials.into_sessions_batches(&sessions)?;
    drop(sessions);
    step("sessions table built");
    lookups.add("sessions", batches.clone(), &["access_key_id"])?;
    compact::register(ctx, "sessions", batches[0].schema(), batches)?;
    let requests = match early_requests {
        Some(r) => r,
        None => read_requests().await?,
    };
    let links = compact::encode(
        &mcp_links_batch(&requests)?,
        &["mcp_tool", "mcp_client", "mcp_server"],
    )?;
    drop(requests);
    lookups.add("mcp_links", vec![links.clone()], &["request_id"])?;
    compact::register(ctx, "mcp_links", links.schema(), vec![links])?;
    step("mcp links built");
    // Outside a window, the sign-in facts are read only now (see above).
    let Facts {
        grants, announced, ..
    } = match early_signin {
        Some(f) => f,
        None => read_signin().await?,
    };
    register_signin(ctx, rules, grants, announced, &mut lookups).await?;
    if ids_in == RANGE_IDS {
        ctx.deregister_table(RANGE_IDS)?;
    }
    lookups.register(ctx);
    step("sign-in sessions built");
    Ok(())
}

/// Build and register `signin_grants` (every AWS Sign-In OAuth grant), `signin_mcp_sessions`
/// (sign-in sessions granted to an MCP endpoint, with the person and client behind them) and
/// `mcp_inferred_links` (downstream records without a request id, linked to the tool call that
/// announced them; see `correlate::signin`).
async fn register_signin(
    ctx: &SessionContext,
    rules: &Rules,
    grants: Vec<Grant>,
    announced: Vec<(Announced, McpLink)>,
    lookups: &mut Lookups,
) -> Result<(), QueryError> {
    // A fact is stored once per stored copy of its event: keep one per event.
    let mut seen = std::collections::HashSet::new();
    let mut grants: Vec<Grant> = grants
        .into_iter()
        .filter(|g| seen.insert(g.event_id.clone()))
        .collect();
    grants.sort_by(|a, b| (a.granted_at, &a.event_id).cmp(&(b.granted_at, &b.event_id)));
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let grants_schema = Arc::new(Schema::new(vec![
        Field::new("signin_session_arn", DataType::Utf8, false),
        Field::new("granted_at", timestamp_type(), false),
        s("resource"),
        s("client_id"),
        s("grant_type"),
        s("caller_arn"),
        s("caller_access_key_id"),
        Field::new("event_id", DataType::Utf8, false),
        Field::new("is_mcp", DataType::Boolean, false),
    ]));
    let gs = |f: &dyn Fn(&Grant) -> Option<String>| -> ArrayRef {
        Arc::new(grants.iter().map(f).collect::<StringArray>())
    };
    let is_mcp = |g: &Grant| {
        g.resource
            .as_deref()
            .is_some_and(|r| rules.is_mcp_oauth_resource(r))
    };
    let batch = RecordBatch::try_new(
        grants_schema.clone(),
        vec![
            gs(&|g| Some(g.signin_session_arn.clone())),
            Arc::new(
                grants
                    .iter()
                    .map(|g| Some(micros(&g.granted_at)))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
            gs(&|g| g.resource.clone()),
            gs(&|g| g.client_id.clone()),
            gs(&|g| g.grant_type.clone()),
            gs(&|g| g.caller_arn.clone()),
            gs(&|g| g.caller_access_key_id.clone()),
            gs(&|g| Some(g.event_id.clone())),
            Arc::new(
                grants
                    .iter()
                    .map(|g| Some(is_mcp(g)))
                    .collect::<BooleanArray>(),
            ),
        ],
    )?;
    ctx.register_table(
        "signin_grants",
        Arc::new(MemTable::try_new(grants_schema, vec![vec![batch]])?),
    )?;

    let sessions = mcp_sessions(&grants, |r| rules.is_mcp_oauth_resource(r));
    let mcp_schema = Arc::new(Schema::new(vec![
        Field::new("signin_session_arn", DataType::Utf8, false),
        s("caller_arn"),
        s("client_id"),
        s("resource"),
    ]));
    let ss = |f: &dyn Fn(&SigninSession) -> Option<String>| -> ArrayRef {
        Arc::new(sessions.iter().map(f).collect::<StringArray>())
    };
    let batch = RecordBatch::try_new(
        mcp_schema.clone(),
        vec![
            ss(&|x| Some(x.signin_session_arn.clone())),
            ss(&|x| x.caller_arn.clone()),
            ss(&|x| x.client_id.clone()),
            ss(&|x| x.resource.clone()),
        ],
    )?;
    lookups.add(
        "signin_mcp_sessions",
        vec![batch.clone()],
        &["signin_session_arn"],
    )?;
    ctx.register_table(
        "signin_mcp_sessions",
        Arc::new(MemTable::try_new(mcp_schema, vec![vec![batch]])?),
    )?;

    // Downstream records of sign-in sessions that carry no request id, matched to the tool call
    // that announced them. Only the queried range is read, and only its narrow columns.
    let mut inferred: Vec<(String, McpLink)> = Vec::new();
    if !announced.is_empty() {
        // Candidates are matched within their own sign-in session only (no cross product).
        let mut by_session: HashMap<String, Vec<Announced>> = HashMap::new();
        let mut tool_of: HashMap<String, McpLink> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for (a, tool) in announced {
            if !seen.insert((a.mcp_event_id.clone(), a.api_name.clone(), a.region.clone())) {
                continue;
            }
            tool_of.insert(a.mcp_event_id.clone(), tool);
            by_session
                .entry(a.signin_session_arn.clone())
                .or_default()
                .push(a);
        }
        let rows = collect(
            ctx,
            "SELECT dedup_key, event_time, event_source, event_name, aws_region, signin_session_arn \
             FROM events_all WHERE signin_session_arn IS NOT NULL AND request_id IS NULL \
             AND event_type IS DISTINCT FROM 'AwsMcpEvent'",
        )
        .await?;
        let mut seen = std::collections::HashSet::new();
        for b in &rows {
            for r in 0..b.num_rows() {
                let (Some(key), Some(at), Some(arn), Some(src), Some(name)) = (
                    col_str(b, "dedup_key", r),
                    col_time(b, "event_time", r),
                    col_str(b, "signin_session_arn", r),
                    col_str(b, "event_source", r),
                    col_str(b, "event_name", r),
                ) else {
                    continue;
                };
                if !seen.insert(key.clone()) {
                    continue;
                }
                let region = col_str(b, "aws_region", r);
                let Some(announced_here) = by_session.get(&arn) else {
                    continue;
                };
                if let Some(a) = infer(announced_here, &arn, &src, &name, region.as_deref(), at)
                    && let Some(l) = tool_of.get(&a.mcp_event_id)
                {
                    inferred.push((key, l.clone()));
                }
            }
        }
    }
    inferred.sort_by(|a, b| a.0.cmp(&b.0));
    let inferred_schema = Arc::new(Schema::new(vec![
        Field::new("dedup_key", DataType::Utf8, false),
        Field::new("mcp_tool", DataType::Utf8, false),
        s("mcp_client"),
        Field::new("mcp_event_id", DataType::Utf8, false),
        Field::new("mcp_server", DataType::Utf8, false),
    ]));
    let is = |f: &dyn Fn(&(String, McpLink)) -> Option<String>| -> ArrayRef {
        Arc::new(inferred.iter().map(f).collect::<StringArray>())
    };
    let batch = RecordBatch::try_new(
        inferred_schema.clone(),
        vec![
            is(&|x| Some(x.0.clone())),
            is(&|x| Some(x.1.mcp_tool.clone())),
            is(&|x| x.1.mcp_client.clone()),
            is(&|x| Some(x.1.mcp_event_id.clone())),
            is(&|x| Some(x.1.mcp_server.clone())),
        ],
    )?;
    lookups.add("mcp_inferred_links", vec![batch.clone()], &["dedup_key"])?;
    ctx.register_table(
        "mcp_inferred_links",
        Arc::new(MemTable::try_new(inferred_schema, vec![vec![batch]])?),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_range_s_ids_are_kept_in_memory_only_up_to_the_limit() {
        let ctx = SessionContext::new();
        let schema = Arc::new(Schema::new(
            [
                "access_key_id",
                "request_id",
                "signin_session_arn",
                "event_name",
            ]
            .map(|n| Field::new(n, DataType::Utf8, true))
            .to_vec(),
        ));
        let column = |f: &dyn Fn(usize) -> String| -> ArrayRef {
            Arc::new((0..10).map(|i| Some(f(i))).collect::<StringArray>())
        };
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                column(&|i| format!("ASIA{i}")),
                column(&|i| format!("req-{i}")),
                column(&|i| format!("arn:signin:{i}")),
                column(&|_| "GetObject".to_string()),
            ],
        )
        .unwrap();
        ctx.register_table(
            "events_all",
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
        )
        .unwrap();
        assert!(!register_range_ids(&ctx, 9).await.unwrap());
        assert!(!ctx.table_exist(RANGE_IDS).unwrap());
        assert!(register_range_ids(&ctx, 10).await.unwrap());
        let rows = collect(
            &ctx,
            "SELECT count(DISTINCT request_id), count(*), max(access_key_id) FROM range_ids",
        )
        .await
        .unwrap();
        assert_eq!(
            arrow::util::pretty::pretty_format_batches(&rows)
                .unwrap()
                .to_string()
                .lines()
                .nth(3)
                .unwrap()
                .split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>(),
            ["10", "10", "ASIA9"]
        );
    }

    /// A window whose calls use tens of thousands of keys not issued in it: fetching their
    /// sessions by key from a Parquet table finds every one and nothing else. (The stack
    /// overflow that an `IN` list of that size caused through the Delta provider, on a 5M-event
    /// lake, does not reproduce on a plain Parquet file; BENCHMARKS.md records that run.)
    #[tokio::test(flavor = "multi_thread")]
    async fn fetching_sessions_by_fifty_thousand_keys() {
        let schema = facts::schema(CREDENTIALS);
        let n = 60_000usize;
        let key = |i: usize| format!("ASIA{i:016}");
        let cols: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match (f.name().as_str(), f.data_type()) {
                    ("access_key_id", _) => {
                        Arc::new((0..n).map(|i| Some(key(i))).collect::<StringArray>())
                    }
                    (_, DataType::Timestamp(_, _)) => Arc::new(
                        TimestampMicrosecondArray::from_iter_values((0..n).map(|_| 0))
                            .with_timezone("UTC"),
                    ),
                    (_, DataType::Boolean) => Arc::new(BooleanArray::from(vec![false; n])),
                    _ => Arc::new((0..n).map(|_| Some("{}")).collect::<StringArray>()),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        // A Parquet file, as in the lake (its scan builds a pruning predicate from the filter).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("facts.parquet");
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema,
            None,
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let mut config = datafusion::prelude::SessionConfig::new();
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
        config.options_mut().execution.parquet.pushdown_filters = true;
        let ctx = SessionContext::new_with_config(config);
        ctx.register_parquet(
            CREDENTIALS,
            path.to_str().unwrap(),
            datafusion::prelude::ParquetReadOptions::default(),
        )
        .await
        .unwrap();
        let fetched = Fetched {
            batches: Vec::new(),
            keys: HashSet::new(),
            from: Utc.timestamp_micros(1).unwrap(),
        };
        // Every other key, and keys that are not there.
        let wanted: Vec<String> = (0..n)
            .step_by(2)
            .map(key)
            .chain((n..n + 1000).map(key))
            .collect();
        let found = fetched.fetch_keys(&ctx, &wanted).await.unwrap();
        let mut got: Vec<String> = found
            .iter()
            .flat_map(|b| (0..b.num_rows()).filter_map(move |r| col_str(b, "access_key_id", r)))
            .collect();
        got.sort();
        let mut expected: Vec<String> = (0..n).step_by(2).map(key).collect();
        expected.sort();
        assert_eq!(got, expected);
    }
}
