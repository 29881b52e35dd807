//! The query stage: a DataFusion session over the lake.
//!
//! Tables are built from the manifest's file list, never from a directory listing, so files of an
//! interrupted commit are invisible. Registered names:
//! - `events_all`: every stored row;
//! - `events`: one row per `dedup_key` (CloudTrail can deliver an event twice, in two objects or
//!   two runs). Among copies, the one from the smallest `(source_object, source_index)` is kept, so
//!   the answer does not depend on ingestion order (see `dedup_events`);
//! - `rejects`: records and objects that could not be read;
//! - `integrity`: every digest check (see `integrity`); `integrity_status` the latest per object,
//!   and `tainted_events` the events of files found modified or unknown to the digests;
//! - `facts_credentials`, `facts_mcp_requests`, `facts_signin_grants`, `facts_mcp_announced`: what
//!   the STS, MCP and sign-in events said, extracted by ingest (see `correlate::facts`);
//! - `sessions`, `mcp_links`: derived from all the facts by `correlate` (see `sessions.rs` here);
//! - `events`: the de-duplicated rows with the AI classification columns (`is_ai`,
//!   `ai_mechanism`, `ai_mechanisms`, `ai_confidence`, `mcp_server`, `session_tags`, `mcp_tool`,
//!   `mcp_client`), defined in `query/events.sql`; `ai_events` is its AI-driven subset.
//!
//! JSON helpers from `datafusion-functions-json` (`json_get_str(request_parameters, 'bucketName')`,
//! `json_get(...)`, `->`/`->>` operators, …) are registered for the raw JSON columns.
//!
//! Ad-hoc SQL runs read-only: DDL, DML and `SET`-style statements are refused by DataFusion's
//! `SQLOptions` before planning.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, col};
use thiserror::Error;

use crate::correlate::rules::Rules;
use crate::schema::{events_schema, rejects_schema};
use crate::settings::Settings;
use crate::sink::{Lake, SinkError};

pub mod sessions;
pub mod udf;

/// Errors of the query stage.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The lake's manifest could not be read.
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

/// A time range that limits the rows of `events`/`events_all` (sessions still come from all the
/// lake's facts, since an AssumeRole can precede the window by hours).
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeRange {
    /// Inclusive start.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Exclusive end.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl TimeRange {
    /// Whether a file of partition `date` can hold rows in the range.
    fn keeps_date(&self, date: Option<&str>) -> bool {
        let Some(d) = date.and_then(|d| d.parse::<chrono::NaiveDate>().ok()) else {
            return true;
        };
        self.since.is_none_or(|s| d >= s.date_naive())
            && self.until.is_none_or(|u| d <= u.date_naive())
    }
}

/// Build a session with the lake's tables and the JSON and rule functions registered.
pub async fn build_context(lake: &Lake, settings: &Settings) -> Result<SessionContext, QueryError> {
    build_context_in(lake, settings, TimeRange::default()).await
}

/// Like [`build_context`], with `events`, `events_all` and their views limited to `range`; only
/// the Parquet files of the partitions in range are read for them (partition pruning from the
/// manifest).
pub async fn build_context_in(
    lake: &Lake,
    settings: &Settings,
    range: TimeRange,
) -> Result<SessionContext, QueryError> {
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
    let mut ctx = SessionContext::new_with_config(config);
    datafusion_functions_json::register_all(&mut ctx)?;
    if let Some(remote) = lake.remote() {
        remote.pull_manifest(lake).await?;
    }
    let manifest = lake.manifest()?;
    tracing::debug!(
        commits = manifest.commits.len(),
        peak_rss_mib = peak_rss_mib(),
        "Manifest read."
    );
    if let Some(remote) = lake.remote() {
        remote.pull_files(lake, &manifest).await?;
    }
    let root = lake
        .root()
        .canonicalize()
        .unwrap_or_else(|_| lake.root().to_path_buf());
    let paths = |table: &str| -> Vec<String> {
        manifest
            .files(table)
            .map(|f| root.join(&f.path).display().to_string())
            .collect()
    };
    register_files(&ctx, "lake_events", events_schema(), paths("events")).await?;
    register_files(&ctx, "rejects", rejects_schema(), paths("rejects")).await?;
    register_files(
        &ctx,
        "integrity",
        crate::schema::integrity_schema(),
        paths("integrity"),
    )
    .await?;
    for table in crate::correlate::facts::FACT_TABLES {
        let schema = crate::correlate::facts::schema(table);
        register_files(&ctx, table, schema, paths(table)).await?;
    }
    let status = ctx.sql(include_str!("query/integrity_status.sql")).await?;
    ctx.register_table("integrity_status", status.into_view())?;
    if range.since.is_none() && range.until.is_none() {
        ctx.register_table("events_all", ctx.table("lake_events").await?.into_view())?;
    } else {
        let pruned: Vec<String> = manifest
            .files("events")
            .filter(|f| range.keeps_date(f.date.as_deref()))
            .map(|f| root.join(&f.path).display().to_string())
            .collect();
        register_files(&ctx, "events_in_range", events_schema(), pruned).await?;
        let ts = |t: chrono::DateTime<chrono::Utc>| {
            datafusion::prelude::lit(datafusion::scalar::ScalarValue::TimestampMicrosecond(
                Some(t.timestamp_micros()),
                Some(Arc::from("UTC")),
            ))
        };
        let mut df = ctx.table("events_in_range").await?;
        if let Some(s) = range.since {
            df = df.filter(col("event_time").gt_eq(ts(s)))?;
        }
        if let Some(u) = range.until {
            df = df.filter(col("event_time").lt(ts(u)))?;
        }
        ctx.register_table("events_all", df.into_view())?;
    }
    let rules = Arc::new(Rules::new(&settings.classify));
    udf::register_all(&ctx, rules.clone());
    let started = std::time::Instant::now();
    // Copies of one event share its event time, hence its date partition: only dates stored by
    // two commits or more can hold duplicates, and each is checked on its own (memory bounded by
    // one day's keys, not the lake's).
    let mut by_date: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for f in manifest.files("events") {
        if range.keeps_date(f.date.as_deref()) {
            by_date
                .entry(f.date.as_deref().unwrap_or(""))
                .or_default()
                .push(root.join(&f.path).display().to_string());
        }
    }
    let scopes: Vec<Vec<String>> = by_date.into_values().filter(|f| f.len() > 1).collect();
    let events = dedup_events(&ctx, ctx.table("events_all").await?, scopes).await?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        peak_rss_mib = peak_rss_mib(),
        "Duplicates across commits found."
    );
    ctx.register_table("events_dedup", events.into_view())?;
    sessions::register(&ctx, &rules).await?;
    let events = ctx.sql(include_str!("query/events.sql")).await?;
    ctx.register_table("events", events.into_view())?;
    let ai = ctx.table("events").await?.filter(col("is_ai"))?;
    ctx.register_table("ai_events", ai.into_view())?;
    let mcp_calls = ctx.sql(include_str!("query/mcp_calls.sql")).await?;
    ctx.register_table("mcp_calls", mcp_calls.into_view())?;
    let tainted = ctx.sql(include_str!("query/tainted_events.sql")).await?;
    ctx.register_table("tainted_events", tainted.into_view())?;
    Ok(ctx)
}

async fn register_files(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    files: Vec<String>,
) -> Result<(), QueryError> {
    if files.is_empty() {
        let empty = MemTable::try_new(schema, vec![vec![]])?;
        ctx.register_table(name, Arc::new(empty))?;
        return Ok(());
    }
    let urls = files
        .iter()
        .map(ListingTableUrl::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// One row per `dedup_key`: the copy with the smallest `(source_object, source_index)`.
///
/// The losing copies are computed once, by `query/dedup_losers.sql` (one narrow GROUP BY) over
/// each of `scopes` (the files of one date partition that two commits or more wrote), and kept
/// in memory; `events` is then `events_all` minus those rows (an anti
/// join with a tiny build side, through which filters still reach the Parquet scan), or simply
/// `events_all` when nothing is duplicated, the usual case.
async fn dedup_events(
    ctx: &SessionContext,
    all: DataFrame,
    scopes: Vec<Vec<String>>,
) -> Result<DataFrame, QueryError> {
    use arrow::array::{Array, AsArray};
    let mut batches = Vec::new();
    for files in scopes {
        register_files(ctx, "dedup_scope", events_schema(), files).await?;
        let candidates = repeated_keys(ctx).await?;
        if !candidates.is_empty() {
            let schema = Arc::new(arrow::datatypes::Schema::new(vec![
                arrow::datatypes::Field::new(
                    "candidate_key",
                    arrow::datatypes::DataType::Utf8,
                    false,
                ),
            ]));
            let batch = arrow::array::RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(arrow::array::StringArray::from(candidates))],
            )?;
            ctx.register_table(
                "dedup_candidates",
                Arc::new(MemTable::try_new(schema, vec![vec![batch]])?),
            )?;
            let losers = ctx.sql(include_str!("query/dedup_losers.sql")).await?;
            batches.extend(losers.collect().await?);
            ctx.deregister_table("dedup_candidates")?;
        }
        ctx.deregister_table("dedup_scope")?;
    }
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok(all);
    }
    // Losing copies told apart from the winner by (source_object, source_index) go through the
    // anti-join; "tied" ones (a replaced object read again: same object, same index) cannot, so
    // their keys are removed whole and one copy per key is added back.
    let mut plain = Vec::new();
    let mut tied: Vec<String> = Vec::new();
    for b in &batches {
        let flags = b.column(3).as_boolean();
        let keys = b.column(0).as_string::<i32>();
        let mask: arrow::array::BooleanArray = (0..b.num_rows())
            .map(|i| Some(!(flags.is_valid(i) && flags.value(i))))
            .collect();
        for i in 0..b.num_rows() {
            if flags.is_valid(i) && flags.value(i) {
                tied.push(keys.value(i).to_string());
            }
        }
        plain.push(arrow::compute::filter_record_batch(b, &mask)?.project(&[0, 1, 2])?);
    }
    let schema: SchemaRef = match plain.first() {
        Some(b) => b.schema(),
        None => return Ok(all),
    };
    let losers = ctx.read_table(Arc::new(MemTable::try_new(schema, vec![plain])?))?;
    let mut events = all.join(
        losers,
        datafusion::logical_expr::JoinType::LeftAnti,
        &["dedup_key", "source_object", "source_index"],
        &["loser_key", "loser_object", "loser_index"],
        None,
    )?;
    if !tied.is_empty() {
        tied.sort();
        tied.dedup();
        let keys = arrow::array::StringArray::from(tied);
        let keys_schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("tied_key", arrow::datatypes::DataType::Utf8, false),
        ]));
        let batch = arrow::array::RecordBatch::try_new(keys_schema.clone(), vec![Arc::new(keys)])?;
        ctx.register_table(
            "dedup_tied_keys",
            Arc::new(MemTable::try_new(keys_schema, vec![vec![batch]])?),
        )?;
        let one_each = ctx
            .sql(
                "SELECT * EXCLUDE (dedup_rn) FROM ( \
                   SELECT *, row_number() OVER (PARTITION BY dedup_key ORDER BY source_object, source_index) AS dedup_rn \
                   FROM events_all WHERE dedup_key IN (SELECT tied_key FROM dedup_tied_keys)) \
                 WHERE dedup_rn = 1",
            )
            .await?;
        let keys = ctx.table("dedup_tied_keys").await?;
        events = events
            .join(
                keys,
                datafusion::logical_expr::JoinType::LeftAnti,
                &["dedup_key"],
                &["tied_key"],
                None,
            )?
            .union(one_each)?;
    }
    Ok(events)
}

/// The `dedup_key`s stored more than once in `dedup_scope`. A first pass over the one narrow
/// column keeps a set of 64-bit hashes (a few MiB for a day of a million events, where a GROUP BY
/// on the keys held every key string); a second pass counts only the keys whose hash repeated,
/// so a hash collision costs a little work, never a wrong answer.
async fn repeated_keys(ctx: &SessionContext) -> Result<Vec<String>, QueryError> {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut seen = std::collections::HashSet::new();
    let mut repeated = std::collections::HashSet::new();
    for_each_scope_key(ctx, |key| {
        let h = hasher.hash_one(key);
        if !seen.insert(h) {
            repeated.insert(h);
        }
    })
    .await?;
    drop(seen);
    if repeated.is_empty() {
        return Ok(Vec::new());
    }
    let mut counts: std::collections::HashMap<String, u32> = Default::default();
    for_each_scope_key(ctx, |key| {
        if repeated.contains(&hasher.hash_one(key)) {
            *counts.entry(key.to_string()).or_default() += 1;
        }
    })
    .await?;
    let mut keys: Vec<String> = counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect();
    keys.sort_unstable();
    Ok(keys)
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

/// Stream the `dedup_key` column of `dedup_scope` through `f`, one key at a time.
async fn for_each_scope_key(
    ctx: &SessionContext,
    mut f: impl FnMut(&str),
) -> Result<(), QueryError> {
    use arrow::array::AsArray;
    use futures::StreamExt;
    let mut stream = ctx
        .sql("SELECT dedup_key FROM dedup_scope")
        .await?
        .execute_stream()
        .await?;
    while let Some(batch) = stream.next().await {
        batch?
            .column(0)
            .as_string::<i32>()
            .iter()
            .flatten()
            .for_each(&mut f);
    }
    Ok(())
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
    let df = ctx
        .sql_with_options(sql, sql_options(allow_writes))
        .await
        .map_err(|e| match explain_error(&e) {
            Some(m) => QueryError::DataFusion(DataFusionError::Plan(m)),
            None => QueryError::DataFusion(e),
        })?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok((schema, batches))
}
