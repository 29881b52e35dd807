//! The query stage: a DataFusion session over the lake.
//!
//! Every table is a Delta table of the lake read at its latest version (files of an interrupted
//! commit are in no version, hence invisible), in place: on S3 through range reads, with partition
//! and statistics pruning. Registered names:
//! - `events_all`: every stored row, one per `dedup_key` (ingest's MERGE stores an event delivered
//!   twice, in two objects, runs or workers, once);
//! - `rejects`: records and objects that could not be read; `ingested`: the ledger of source
//!   objects;
//! - `integrity`: every digest check (see `integrity`); `integrity_status` the latest per object,
//!   and `tainted_events` the events of files found modified or unknown to the digests;
//! - `facts_credentials`, `facts_mcp_requests`, `facts_signin_grants`, `facts_mcp_announced`: what
//!   the STS, MCP and sign-in events said, extracted by ingest (see `correlate::facts`);
//! - `sessions`, `mcp_links`: derived from the facts by `correlate` (see `sessions.rs` here): all
//!   of them, or in a context limited to a time range, those that can explain its events;
//! - `ai_roles`: every role an AI session of the lake has assumed, with its first marking
//!   (whole-lake contexts, and limited ones that ask for it: `TimeRange::every_role`);
//! - `events`: the de-duplicated rows with the AI classification columns (`is_ai`,
//!   `ai_mechanism`, `ai_mechanisms`, `ai_confidence`, `mcp_server`, `session_tags`, `mcp_tool`,
//!   `mcp_client`), defined in `query/events.sql`, which looks the derived tables up by key
//!   (`lookup`) rather than joining them; `ai_events` is its AI-driven subset;
//! - `ai_api_days`: one row per principal, API and day of AI-driven calls (`query/ai_api_days.sql`),
//!   the baseline of `ai_first_seen_api`; `detect` keeps its whole days in the lake (`kept`).
//!
//! JSON helpers from `datafusion-functions-json` (`json_get_str(request_parameters, 'bucketName')`,
//! `json_get(...)`, `->`/`->>` operators, …) are registered for the raw JSON columns.
//!
//! Ad-hoc SQL runs read-only: DDL, DML and `SET`-style statements are refused by DataFusion's
//! `SQLOptions` before planning.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext, col};
use thiserror::Error;

use crate::correlate::rules::Rules;
use crate::settings::Settings;
use crate::sink::{Lake, SinkError};

pub mod build_side;
pub mod compact;
pub mod kept;
pub mod lookup;
pub mod memory;
pub mod sessions;
pub mod udf;

/// Errors of the query stage.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The lake's tables could not be read.
    #[error(transparent)]
    Lake(#[from] SinkError),
    /// DataFusion rejected or failed the query.
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    /// Building a derived table failed.
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The configuration is invalid.
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
}

/// A time range that limits the rows of `events`/`events_all`, and the credential facts read to
/// those that can be live in it with their chains' ancestors (an AssumeRole precedes the calls
/// it explains by up to 36 hours; see `sessions::CREDENTIAL_LIFETIME`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeRange {
    /// Inclusive start.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Exclusive end.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Also register `ai_roles` in a context limited by `since`: the roles of every AI session
    /// of the lake, from all the credential facts (a whole-lake context always has it; the
    /// other tables stay limited to what can be live in the range).
    pub every_role: bool,
}

/// Build a session with the lake's tables and the JSON and rule functions registered.
pub async fn build_context(lake: &Lake, settings: &Settings) -> Result<SessionContext, QueryError> {
    build_context_in(lake, settings, TimeRange::default()).await
}

/// Like [`build_context`], with `events`, `events_all` and their views limited to `range`; only
/// the date partitions in range are listed and read for them (Delta partition pruning).
pub async fn build_context_in(
    lake: &Lake,
    settings: &Settings,
    range: TimeRange,
) -> Result<SessionContext, QueryError> {
    let (ctx, derivation) = lake_context_in(lake, settings, range).await?;
    register_derived(&ctx, &derivation, false).await?;
    Ok(ctx)
}

/// Like [`build_context_in`], with the derived tables (`sessions`, `mcp_links`, …) registered
/// empty and nothing read to build them: the same names, schemas and views, for planning a
/// statement and running one that [`needs_derived`] says does not read them. The
/// [`Derivation`] builds them in place later ([`Derivation::build`]), without opening the lake's
/// tables again.
pub async fn build_plain_context_in(
    lake: &Lake,
    settings: &Settings,
    range: TimeRange,
) -> Result<(SessionContext, Derivation), QueryError> {
    let (ctx, derivation) = lake_context_in(lake, settings, range).await?;
    register_derived(&ctx, &derivation, true).await?;
    Ok((ctx, derivation))
}

/// Like [`build_context_in`], with `ai_roles` and `ai_session_names` of the whole lake as kept in
/// it (`Derivation::keep`) when `range` limits the context: what `detect` and `run` use.
pub async fn build_kept_context_in(
    lake: &Lake,
    settings: &Settings,
    range: TimeRange,
) -> Result<SessionContext, QueryError> {
    let (ctx, mut derivation) = lake_context_in(lake, settings, range).await?;
    let how = derivation.keep(&ctx, lake, settings).await?;
    tracing::debug!(?how, "Summaries of every session of the lake.");
    register_derived(&ctx, &derivation, false).await?;
    Ok(ctx)
}

/// How a context's derived tables are built: the rules and what its range asks of the facts.
pub struct Derivation {
    rules: Arc<Rules>,
    facts_since: Option<chrono::DateTime<chrono::Utc>>,
    limited: bool,
    every_role: bool,
    /// `ai_roles` and `ai_session_names` of the whole lake, as kept (see [`Derivation::keep`]).
    whole: Option<(arrow::array::RecordBatch, arrow::array::RecordBatch)>,
    /// The range of the context's events.
    range: TimeRange,
    /// The lake's first event time, as its statistics say.
    first_event: Option<chrono::DateTime<chrono::Utc>>,
}

impl Derivation {
    /// For a context limited to a range: read `ai_roles` and `ai_session_names` of the whole
    /// lake as kept in it, brought up to date (`kept::summaries`; writes the lake's `_kept/`),
    /// so that [`Derivation::build`] registers them instead of reading every credential fact
    /// for `ai_roles` and every session named like a keyless call for `ai_session_names`.
    pub async fn keep(
        &mut self,
        ctx: &SessionContext,
        lake: &Lake,
        settings: &Settings,
    ) -> Result<Option<kept::RolesKept>, QueryError> {
        if !self.limited {
            return Ok(None);
        }
        let (roles, names, how) = kept::summaries(ctx, lake, settings, self.range.since).await?;
        self.whole = Some((roles, names));
        Ok(Some(how))
    }

    /// Build the derived tables of `ctx` (a context from [`build_plain_context_in`]) from the
    /// lake, replacing the empty ones and the views over them.
    pub async fn build(&self, ctx: &SessionContext) -> Result<(), QueryError> {
        register_derived(ctx, self, false).await
    }

    /// Whether `range` lies within this context's range.
    fn covers(&self, range: &TimeRange) -> bool {
        let since = match (self.range.since, range.since) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => mine <= theirs,
            (Some(_), None) => false,
        };
        let until = match (self.range.until, range.until) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => theirs <= mine,
            (Some(_), None) => false,
        };
        since && until && (self.every_role || !range.every_role)
    }

    /// A context whose `events` are limited to `range`, a part of this context's range, that
    /// shares the lake tables and the derived tables `ctx` built (see [`Derivation::build`])
    /// instead of reading the facts again; `None` when `range` is not within this one.
    ///
    /// Exact because every derived table of a limited context is a superset of what a narrower
    /// range needs, and `events.sql` only looks its rows up by key (a session by access key, a
    /// link by request id, a name by role, name and time): the rows a wider range adds are never
    /// found by the narrower range's events. The detections that list the derived tables
    /// themselves (`sessions`) have their findings cut to the window like every other.
    pub async fn narrow(
        &self,
        ctx: &SessionContext,
        range: TimeRange,
    ) -> Result<Option<SessionContext>, QueryError> {
        if !self.covers(&range) {
            return Ok(None);
        }
        let mut narrow = new_session(ctx.runtime_env());
        datafusion_functions_json::register_all(&mut narrow)?;
        let mut shared: Vec<String> = vec!["integrity_status".into()];
        for table in crate::sink::TABLES {
            shared.push(lake_name(table).to_string());
            shared.push(format!("{}_delta", lake_name(table)));
        }
        shared.extend(sessions::DERIVED_TABLES.iter().map(|t| t.to_string()));
        for name in shared {
            if let Ok(provider) = ctx.table_provider(name.as_str()).await {
                narrow.register_table(name.as_str(), provider)?;
            }
        }
        for (name, f) in ctx.state().scalar_functions() {
            if name.starts_with("lookup_") {
                narrow.register_udf(f.as_ref().clone());
            }
        }
        limit_events(&narrow, range, self.first_event, self.rules.clone()).await?;
        register_views(&narrow).await?;
        Ok(Some(narrow))
    }
}

/// The views over the derived tables, registered after them.
const DERIVED_VIEWS: &[&str] = &[
    "events",
    "ai_events",
    "mcp_calls",
    "tainted_events",
    kept::TABLE,
];

/// Register the derived tables (built, or empty when `plain`) and the views over them, replacing
/// any registered already.
async fn register_derived(
    ctx: &SessionContext,
    d: &Derivation,
    plain: bool,
) -> Result<(), QueryError> {
    for name in sessions::DERIVED_TABLES.iter().chain(DERIVED_VIEWS) {
        ctx.deregister_table(*name)?;
    }
    sessions::register(
        ctx,
        &d.rules,
        d.facts_since,
        d.limited,
        d.every_role,
        plain,
        d.whole.as_ref(),
    )
    .await?;
    register_views(ctx).await
}

/// Register the views over the derived tables (`DERIVED_VIEWS`).
async fn register_views(ctx: &SessionContext) -> Result<(), QueryError> {
    let events = ctx.sql(include_str!("query/events.sql")).await?;
    ctx.register_table("events", events.into_view())?;
    let ai = ctx.table("events").await?.filter(col("is_ai"))?;
    ctx.register_table("ai_events", ai.into_view())?;
    let mcp_calls = ctx.sql(include_str!("query/mcp_calls.sql")).await?;
    ctx.register_table("mcp_calls", mcp_calls.into_view())?;
    let tainted = ctx.sql(include_str!("query/tainted_events.sql")).await?;
    ctx.register_table("tainted_events", tainted.into_view())?;
    let days = ctx.sql(kept::SQL).await?;
    ctx.register_table(kept::TABLE, days.into_view())?;
    Ok(())
}

/// Whether `sql`, planned in `ctx` and optimized, reads a derived table or the AI labels of
/// `events` (the lookups of `events.sql`); `true` also when it does not plan read-only (a write
/// asked for with `--allow-writes`, or an error, reported as before). Columns a statement does
/// not use are pruned before this looks, so `SELECT count(*) FROM events` or a query of the raw
/// columns needs none of them.
pub async fn needs_derived(ctx: &SessionContext, sql: &str) -> bool {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::logical_expr::LogicalPlan;
    let Ok(df) = ctx.sql_with_options(sql, sql_options(false)).await else {
        return true;
    };
    let Ok(plan) = df.into_optimized_plan() else {
        return true;
    };
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && sessions::DERIVED_TABLES.contains(&scan.table_name.table())
        {
            found = true;
        }
        for e in node.expressions() {
            let _ = e.apply(|e| {
                if let datafusion::prelude::Expr::ScalarFunction(f) = e
                    && f.func.name().starts_with("lookup_")
                {
                    found = true;
                }
                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
            });
        }
        Ok(if found {
            datafusion::common::tree_node::TreeNodeRecursion::Stop
        } else {
            datafusion::common::tree_node::TreeNodeRecursion::Continue
        })
    });
    found
}

/// A context with the lake's tables, `events_all` limited to `range` and the rule functions;
/// the derived tables and their views are registered by [`register_derived`].
async fn lake_context_in(
    lake: &Lake,
    settings: &Settings,
    range: TimeRange,
) -> Result<(SessionContext, Derivation), QueryError> {
    let mut runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new();
    if let Some(pool) = memory::pool_from_env()? {
        runtime = runtime.with_memory_pool(pool);
    }
    let mut ctx = new_session(runtime.build_arc()?);
    datafusion_functions_json::register_all(&mut ctx)?;
    let mut first_event = None;
    let opened = lake.tables(crate::sink::TABLES).await?;
    for (table, delta) in crate::sink::TABLES.iter().zip(opened) {
        register_table(&ctx, table, delta.as_ref(), lake_name(table)).await?;
        if *table == "events" {
            first_event = delta.as_ref().and_then(first_event_time);
        }
    }
    tracing::debug!(peak_rss_mib = peak_rss_mib(), "Lake tables opened.");
    let status = ctx.sql(include_str!("query/integrity_status.sql")).await?;
    ctx.register_table("integrity_status", status.into_view())?;
    let rules = Arc::new(Rules::new(&settings.classify));
    let derivation = limit_events(&ctx, range, first_event, rules).await?;
    Ok((ctx, derivation))
}

/// The name a lake table is registered under (`events` is `lake_events`: `events` is the view
/// with the AI columns).
fn lake_name(table: &str) -> &str {
    if table == "events" {
        "lake_events"
    } else {
        table
    }
}

/// A session with the lake's settings over `runtime` (its object stores and memory pool), with
/// no table registered.
fn new_session(runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>) -> SessionContext {
    // Filters are evaluated inside the Parquet scan (late materialisation): a detection that
    // keeps a few rows by event_name or event_source decodes the wide JSON columns of those rows
    // only, not of the whole lake.
    let mut config = SessionConfig::new();
    config.options_mut().execution.parquet.pushdown_filters = true;
    config.options_mut().execution.parquet.reorder_filters = true;
    // The lake's tables are declared Utf8: reading strings as Utf8View only to cast every batch
    // back doubled the memory of wide scans.
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    // The derived tables (sessions, links, sign-in sessions) are small next to `events`: broadcast
    // them to every partition (CollectLeft) instead of hash-repartitioning every event row, all
    // its columns copied, once per join.
    config
        .options_mut()
        .optimizer
        .hash_join_single_partition_threshold = 256 << 20;
    config
        .options_mut()
        .optimizer
        .hash_join_single_partition_threshold_rows = 4_000_000;
    let config = config
        .with_information_schema(true)
        .with_default_catalog_and_schema("agenttrail", "lake");
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rules(build_side::BuildOnMemory::with_default_rules())
        .build();
    SessionContext::new_with_state(state)
}

/// Register `events_all` (and `events_dedup`) as the lake's events limited to `range`, and the
/// rule functions; returns how the derived tables of such a context are built.
async fn limit_events(
    ctx: &SessionContext,
    range: TimeRange,
    first_event: Option<chrono::DateTime<chrono::Utc>>,
    rules: Arc<Rules>,
) -> Result<Derivation, QueryError> {
    // A range that starts before the lake's first event reads every credential fact anyway
    // (all are issued in it): read them whole instead of through semi-joins over its events.
    let from_the_start = range
        .since
        .is_some_and(|s| first_event.is_some_and(|first| s <= first));
    if from_the_start {
        tracing::debug!(?range, "The range starts before the lake's first event.");
    }
    let mut df = ctx.table("lake_events").await?;
    // Partition pruning: only the date folders of the range are listed and read.
    let day = |t: chrono::DateTime<chrono::Utc>| {
        datafusion::prelude::lit(datafusion::scalar::ScalarValue::Date32(Some(
            (t.date_naive() - chrono::NaiveDate::default()).num_days() as i32,
        )))
    };
    let ts = |t: chrono::DateTime<chrono::Utc>| {
        datafusion::prelude::lit(datafusion::scalar::ScalarValue::TimestampMicrosecond(
            Some(t.timestamp_micros()),
            Some(Arc::from("UTC")),
        ))
    };
    if let Some(s) = range.since {
        df = df.filter(
            col("event_date")
                .gt_eq(day(s))
                .and(col("event_time").gt_eq(ts(s))),
        )?;
    }
    if let Some(u) = range.until {
        df = df.filter(
            col("event_date")
                .lt_eq(day(u))
                .and(col("event_time").lt(ts(u))),
        )?;
    }
    ctx.register_table("events_all", df.into_view())?;
    udf::register_all(ctx, rules.clone());
    ctx.register_table("events_dedup", ctx.table("events_all").await?.into_view())?;
    let limited = !from_the_start && (range.since.is_some() || range.until.is_some());
    Ok(Derivation {
        rules,
        facts_since: range.since.filter(|_| !from_the_start),
        limited,
        every_role: range.every_role,
        whole: None,
        range,
        first_event,
    })
}

/// The first `event_time` of the events table, from the statistics its log keeps of every file
/// (no data read; Delta keeps timestamps to the millisecond, truncated down); `None` when a
/// file has none.
fn first_event_time(delta: &deltalake::DeltaTable) -> Option<chrono::DateTime<chrono::Utc>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
    let adds = delta.snapshot().ok()?.add_actions_table(true).ok()?;
    let min = adds.column_by_name("min.event_time")?;
    let min = arrow::compute::cast(min, &DataType::Timestamp(TimeUnit::Microsecond, None)).ok()?;
    let min = min.as_primitive::<TimestampMicrosecondType>();
    if min.null_count() > 0 {
        return None;
    }
    chrono::DateTime::from_timestamp_micros(arrow::compute::min(min)?)
}

/// Register lake table `table` as `name`: the Delta table `delta` as opened, read in its
/// declared schema (strings as `Utf8`, as the session's Parquet options ask), or an empty table
/// of that schema before the table's first commit (`None`).
async fn register_table(
    ctx: &SessionContext,
    table: &str,
    delta: Option<&deltalake::DeltaTable>,
    name: &str,
) -> Result<(), QueryError> {
    let schema = crate::sink::table_schema(table).expect("a lake table");
    let Some(delta) = delta else {
        ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
        return Ok(());
    };
    delta
        .update_datafusion_session(&ctx.state())
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let provider = delta
        .table_provider()
        .with_session(Arc::new(ctx.state()))
        .await?;
    let raw = format!("{name}_delta");
    ctx.register_table(raw.as_str(), provider)?;
    // The declared column order and types (Delta stores the partition column last, and may hand
    // partition values out dictionary-encoded).
    let found = ctx.table(raw.as_str()).await?;
    let exprs: Vec<datafusion::prelude::Expr> = schema
        .fields()
        .iter()
        .map(|f| {
            let c = col(datafusion::common::Column::new_unqualified(f.name()));
            let same = found
                .schema()
                .field_with_unqualified_name(f.name())
                .is_ok_and(|x| x.data_type() == f.data_type());
            if same {
                c
            } else {
                datafusion::prelude::cast(c, f.data_type().clone()).alias(f.name())
            }
        })
        .collect();
    ctx.register_table(name, found.select(exprs)?.into_view())?;
    Ok(())
}

/// The process's peak resident memory so far in MiB (Linux `VmHWM`; 0 elsewhere), for the debug
/// log of the steps that build a query context.
pub fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// Options for ad-hoc SQL: read-only unless `allow_writes`.
pub fn sql_options(allow_writes: bool) -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(allow_writes)
        .with_allow_dml(allow_writes)
        .with_allow_statements(allow_writes)
}

/// Rewrite DataFusion's "No field named x. Valid fields are …" (which lists every column) into
/// one line naming the closest columns.
pub fn explain_error(e: &DataFusionError) -> Option<String> {
    let msg = e.to_string();
    let rest = msg.split("No field named ").nth(1)?;
    let (head, valid) = rest.split_once("Valid fields are ")?;
    let head = head.split(" Did you mean").next().unwrap_or(head);
    let name = head
        .trim_end()
        .trim_end_matches(['.', '\n', ' ', '?'])
        .trim_matches('"');
    let valid = valid.split(".: ").next().unwrap_or(valid);
    let bare = name.rsplit('.').next().unwrap_or(name);
    let mut fields: Vec<&str> = valid
        .trim_end_matches('.')
        .split(", ")
        .map(|f| f.rsplit('.').next().unwrap_or(f).trim_matches('"'))
        .collect();
    fields.sort();
    fields.dedup();
    let mut scored: Vec<(f64, &str)> = fields
        .iter()
        .map(|f| (strsim::jaro_winkler(bare, f), *f))
        .filter(|(s, _)| *s > 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let close: Vec<&str> = scored.iter().take(3).map(|(_, f)| *f).collect();
    Some(if close.is_empty() {
        format!("unknown column {name}")
    } else {
        format!("unknown column {name}; did you mean {}?", close.join(", "))
    })
}

/// Plan and run `sql`, returning its batches.
pub async fn run_sql(
    ctx: &SessionContext,
    sql: &str,
    allow_writes: bool,
) -> Result<(SchemaRef, Vec<arrow::array::RecordBatch>), QueryError> {
    let df = plan_sql(ctx, sql, allow_writes).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok((schema, batches))
}

/// Like [`run_sql`], the batches as a stream (for a caller that writes each as it comes).
pub async fn run_sql_stream(
    ctx: &SessionContext,
    sql: &str,
    allow_writes: bool,
) -> Result<(SchemaRef, datafusion::execution::SendableRecordBatchStream), QueryError> {
    let df = plan_sql(ctx, sql, allow_writes).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    Ok((schema, df.execute_stream().await?))
}

/// Plan `sql` (read-only unless `allow_writes`), with the column hints of `explain_error`.
async fn plan_sql(
    ctx: &SessionContext,
    sql: &str,
    allow_writes: bool,
) -> Result<datafusion::prelude::DataFrame, QueryError> {
    ctx.sql_with_options(sql, sql_options(allow_writes))
        .await
        .map_err(|e| match explain_error(&e) {
            Some(m) => QueryError::DataFusion(DataFusionError::Plan(m)),
            None => QueryError::DataFusion(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(since: Option<&str>, until: Option<&str>) -> TimeRange {
        TimeRange {
            since: since.map(|s| s.parse().unwrap()),
            until: until.map(|s| s.parse().unwrap()),
            every_role: false,
        }
    }

    /// A context is narrowed only to a range inside its own: the rows a narrower range needs are
    /// then all in its correlation tables.
    #[test]
    fn a_context_covers_the_ranges_inside_its_own() {
        let day = Derivation {
            rules: Arc::new(Rules::new(&Settings::default().classify)),
            facts_since: None,
            limited: true,
            every_role: false,
            whole: None,
            range: range(Some("2026-11-29T00:00:00Z"), Some("2026-11-29T13:00:00Z")),
            first_event: None,
        };
        let hour = range(Some("2026-11-29T12:00:00Z"), Some("2026-11-29T13:00:00Z"));
        assert!(day.covers(&hour));
        assert!(day.covers(&day.range));
        for outside in [
            range(Some("2026-11-28T23:00:00Z"), Some("2026-11-29T13:00:00Z")),
            range(Some("2026-11-29T12:00:00Z"), Some("2026-11-29T14:00:00Z")),
            range(None, Some("2026-11-29T13:00:00Z")),
            range(Some("2026-11-29T12:00:00Z"), None),
            TimeRange {
                every_role: true,
                ..hour
            },
        ] {
            assert!(!day.covers(&outside), "{outside:?}");
        }
        let open = Derivation {
            range: range(None, None),
            ..day
        };
        assert!(open.covers(&range(None, None)) && open.covers(&hour));
    }
}
