//! The query stage: a DataFusion session over the lake.
//!
//! Tables are built from the manifest's file list, never from a directory listing, so files of an
//! interrupted commit are invisible. Registered names:
//! - `events_all`: every stored row;
//! - `events`: one row per `dedup_key` (CloudTrail can deliver an event twice, in two objects or
//!   two runs). Among copies, the one from the smallest `(source_object, source_index)` is kept, so
//!   the answer does not depend on ingestion order. `event_time` and `event_date` are grouping keys,
//!   so time filters are pushed below the de-duplication and prune files;
//! - `rejects`: records and objects that could not be read;
//! - `sessions`, `mcp_links`: derived from the whole lake by `correlate` (see `sessions.rs` here);
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
use datafusion::functions_aggregate::expr_fn::first_value;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, col};
use thiserror::Error;

use crate::correlate::rules::Rules;
use crate::schema::{EVENT_COLUMNS, events_schema, rejects_schema};
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

/// Build a session with the lake's tables and the JSON and rule functions registered.
pub async fn build_context(lake: &Lake, settings: &Settings) -> Result<SessionContext, QueryError> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("agenttrail", "lake");
    let mut ctx = SessionContext::new_with_config(config);
    datafusion_functions_json::register_all(&mut ctx)?;
    if let Some(remote) = lake.remote() {
        remote.pull_manifest(lake).await?;
    }
    let manifest = lake.manifest()?;
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
    register_files(&ctx, "events_all", events_schema(), paths("events")).await?;
    register_files(&ctx, "rejects", rejects_schema(), paths("rejects")).await?;
    let events = dedup_events(ctx.table("events_all").await?)?;
    ctx.register_table("events_dedup", events.into_view())?;
    let rules = Arc::new(Rules::new(&settings.classify));
    udf::register_all(&ctx, rules.clone());
    sessions::register(&ctx, &rules).await?;
    let events = ctx.sql(include_str!("query/events.sql")).await?;
    ctx.register_table("events", events.into_view())?;
    let ai = ctx.table("events").await?.filter(col("is_ai"))?;
    ctx.register_table("ai_events", ai.into_view())?;
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
fn dedup_events(all: DataFrame) -> Result<DataFrame, DataFusionError> {
    const KEYS: [&str; 3] = ["dedup_key", "event_time", "event_date"];
    let order = || {
        vec![
            col("source_object").sort(true, false),
            col("source_index").sort(true, false),
        ]
    };
    let aggs = EVENT_COLUMNS
        .iter()
        .map(|c| c.0)
        .filter(|c| !KEYS.contains(c))
        .map(|c| first_value(col(c), order()).alias(c))
        .collect::<Vec<_>>();
    let grouped = all.aggregate(KEYS.iter().map(|k| col(*k)).collect(), aggs)?;
    grouped.select(EVENT_COLUMNS.iter().map(|c| col(c.0)).collect::<Vec<_>>())
}

/// Options for ad-hoc SQL: read-only unless `allow_writes`.
pub fn sql_options(allow_writes: bool) -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(allow_writes)
        .with_allow_dml(allow_writes)
        .with_allow_statements(allow_writes)
}

/// Plan and run `sql`, returning its batches.
pub async fn run_sql(
    ctx: &SessionContext,
    sql: &str,
    allow_writes: bool,
) -> Result<(SchemaRef, Vec<arrow::array::RecordBatch>), QueryError> {
    let df = ctx.sql_with_options(sql, sql_options(allow_writes)).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok((schema, batches))
}
