//! The detect stage: run every `queries/*.sql` over the lake and collect findings.
//!
//! Each detection returns the contract columns (`CONTRACT`), checked on the plan before anything
//! runs, so `publish` and the printers are generic and a broken query fails with its file named.
//! A time window is applied to the detection's *result* (`event_time` in `[since, until)`), which
//! keeps window logic out of every query and lets DataFusion push it down where it can.

pub mod catalog;

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use chrono::{DateTime, Utc};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use datafusion::scalar::ScalarValue;

pub use catalog::Detection;

/// Columns every detection returns, with their types.
pub const CONTRACT: &[(&str, &str)] = &[
    ("detection_id", "string"),
    ("event_time", "timestamp"),
    ("event_id", "string"),
    ("account_id", "string"),
    ("actor_arn", "string"),
    ("access_key_id", "string"),
    ("mcp_server", "string"),
    ("event_name", "string"),
    ("evidence", "string"),
];

/// Errors of the detect stage; each names the detection file.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A file of the catalog is malformed.
    #[error("{path}: {message}")]
    Catalog {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A detection does not plan or breaks the column contract.
    #[error("detection {id} ({path}): {message}")]
    Query {
        /// Detection id.
        id: String,
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The findings of one detection.
#[derive(Debug, Clone)]
pub struct DetectionRun {
    /// The detection.
    pub detection: Detection,
    /// Result schema (the contract columns).
    pub schema: SchemaRef,
    /// Findings.
    pub batches: Vec<RecordBatch>,
}

impl DetectionRun {
    /// Number of findings.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

fn type_ok(expected: &str, t: &DataType) -> bool {
    match expected {
        "timestamp" => matches!(t, DataType::Timestamp(_, _)),
        _ => matches!(
            t,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
        ),
    }
}

/// Plan one detection, check its contract, apply the window and the order of its findings.
async fn plan_one(
    ctx: &SessionContext,
    d: &Detection,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<DataFrame, DetectError> {
    let qerr = |e: &dyn std::fmt::Display| query_error(d, e);
    let df = ctx
        .sql_with_options(&d.sql, crate::query::sql_options(false))
        .await
        .map_err(|e| qerr(&e))?;
    let schema = df.schema().as_arrow().clone();
    for (name, ty) in CONTRACT {
        let f = schema
            .field_with_name(name)
            .map_err(|_| qerr(&format!("missing required column {name}")))?;
        if !type_ok(ty, f.data_type()) {
            return Err(qerr(&format!(
                "column {name} is {} but must be a {ty}",
                f.data_type()
            )));
        }
    }
    let ts = |t: DateTime<Utc>| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(t.timestamp_micros()),
            Some(Arc::from("UTC")),
        ))
    };
    let mut df = df
        .select(CONTRACT.iter().map(|(n, _)| col(*n)).collect::<Vec<_>>())
        .map_err(|e| qerr(&e))?;
    if let Some(s) = since {
        df = df
            .filter(col("event_time").gt_eq(ts(s)))
            .map_err(|e| qerr(&e))?;
    }
    if let Some(u) = until {
        df = df
            .filter(col("event_time").lt(ts(u)))
            .map_err(|e| qerr(&e))?;
    }
    df.sort(vec![
        col("event_time").sort(true, false),
        col("event_id").sort(true, false),
    ])
    .map_err(|e| qerr(&e))
}

/// The error of detection `d`.
pub fn query_error(d: &Detection, e: &dyn std::fmt::Display) -> DetectError {
    DetectError::Query {
        id: d.id.clone(),
        path: d.path.display().to_string(),
        message: e.to_string(),
    }
}

/// Plan one detection, check its contract, apply the window, run it.
pub async fn run_one(
    ctx: &SessionContext,
    d: &Detection,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<DetectionRun, DetectError> {
    let df = plan_one(ctx, d, since, until).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(|e| query_error(d, &e))?;
    Ok(DetectionRun {
        detection: d.clone(),
        schema,
        batches,
    })
}

/// Like [`run_one`], the findings as a stream, in order, for a caller that writes each batch as
/// it comes: the sorted findings are then never all in memory a second time (at 5M events a
/// detection can find 700k rows).
pub async fn stream_one(
    ctx: &SessionContext,
    d: &Detection,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<(SchemaRef, SendableRecordBatchStream), DetectError> {
    let df = plan_one(ctx, d, since, until).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let stream = df.execute_stream().await.map_err(|e| query_error(d, &e))?;
    Ok((schema, stream))
}

/// Run every detection; the first broken one stops the run (a broken query is a bug to fix, not
/// data to skip).
pub async fn run_all(
    ctx: &SessionContext,
    catalog: &[Detection],
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<Vec<DetectionRun>, DetectError> {
    let mut out = Vec::with_capacity(catalog.len());
    run_each(ctx, catalog, since, until, |run| {
        out.push(run);
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Like [`run_all`], handing each run to `each` as soon as it is done, in catalog order, so a
/// caller that prints it and keeps only its count holds one detection's findings at a time.
pub async fn run_each<E: From<DetectError>>(
    ctx: &SessionContext,
    catalog: &[Detection],
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    mut each: impl FnMut(DetectionRun) -> Result<(), E>,
) -> Result<(), E> {
    for d in catalog {
        let started = std::time::Instant::now();
        let run = run_one(ctx, d, since, until).await?;
        tracing::debug!(
            detection = %d.id,
            rows = run.rows(),
            ms = started.elapsed().as_millis() as u64,
            peak_rss_mib = crate::query::peak_rss_mib(),
            "Detection run."
        );
        each(run)?;
    }
    Ok(())
}
