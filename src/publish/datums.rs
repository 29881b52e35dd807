//! Turn detection results into CloudWatch datums (pure; no I/O).
//!
//! Idempotence: findings are counted per detection in fixed 5-minute buckets of `event_time`,
//! and each bucket is published as one datum timestamped at the bucket's start. Running the same
//! window again publishes the same values at the same timestamps, so an alarm on `Maximum` sees
//! the same thing; a later run that saw late-delivered events publishes a larger count for that
//! bucket, which is the truth. Every bucket of the window gets a datum for every detection, zero
//! included, so an alarm can tell "no deletions" from "the job did not run" (the latter is the
//! `JobHeartbeat` metric's job).

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;

use crate::detect::DetectionRun;

/// Bucket width in seconds.
pub const BUCKET_SECONDS: i64 = 300;
/// Dimension naming the detection.
pub const DIM_DETECTION: &str = "Detection";
/// Dimension naming the account.
pub const DIM_ACCOUNT: &str = "AccountId";
/// Dimension naming the MCP server.
pub const DIM_MCP_SERVER: &str = "McpServer";
/// Heartbeat metric, one datum (value 1) per run.
pub const HEARTBEAT: &str = "JobHeartbeat";

/// A metric dimension.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dim {
    /// Dimension name.
    pub name: String,
    /// Dimension value.
    pub value: String,
}

impl Dim {
    /// A dimension.
    pub fn new(name: &str, value: &str) -> Dim {
        Dim {
            name: name.to_string(),
            value: value.to_string(),
        }
    }
}

/// One CloudWatch datum.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Datum {
    /// Metric name.
    pub metric_name: String,
    /// Dimensions, sorted by name.
    pub dimensions: Vec<Dim>,
    /// Timestamp (bucket start, or the run time for job metrics).
    #[serde(serialize_with = "rfc3339")]
    pub timestamp: DateTime<Utc>,
    /// Value.
    pub value: f64,
    /// Unit.
    pub unit: &'static str,
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Floor `t` to its bucket.
pub fn bucket_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp().div_euclid(BUCKET_SECONDS) * BUCKET_SECONDS;
    Utc.timestamp_opt(s, 0).single().unwrap_or(t)
}

/// The buckets covering `[start, end)`.
pub fn buckets(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut b = bucket_start(start);
    while b < end {
        out.push(b);
        b += Duration::seconds(BUCKET_SECONDS);
    }
    out
}

/// Datums for `runs` over the given buckets (bucket starts); findings outside them are ignored.
pub fn finding_datums(runs: &[DetectionRun], window: &[DateTime<Utc>]) -> Vec<Datum> {
    let mut out = Vec::new();
    for run in runs {
        let mut total: BTreeMap<DateTime<Utc>, u64> = window.iter().map(|b| (*b, 0)).collect();
        let mut by_dim: BTreeMap<(&'static str, String, DateTime<Utc>), u64> = BTreeMap::new();
        for batch in &run.batches {
            // A query may type its text columns Utf8View (e.g. `CAST(NULL AS VARCHAR)`): read
            // every text column as Utf8, so no finding is skipped for its column type.
            let Ok(batch) = &as_utf8(batch) else {
                continue;
            };
            let (Some(times), Some(accounts), Some(servers)) = (
                batch
                    .column_by_name("event_time")
                    .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>()),
                batch
                    .column_by_name("account_id")
                    .and_then(|c| c.as_string_opt::<i32>()),
                batch
                    .column_by_name("mcp_server")
                    .and_then(|c| c.as_string_opt::<i32>()),
            ) else {
                continue;
            };
            for i in 0..batch.num_rows() {
                let Some(t) = Utc.timestamp_micros(times.value(i)).single() else {
                    continue;
                };
                let b = bucket_start(t);
                let Some(slot) = total.get_mut(&b) else {
                    continue;
                };
                *slot += 1;
                if !accounts.is_null(i) {
                    *by_dim
                        .entry((DIM_ACCOUNT, accounts.value(i).to_string(), b))
                        .or_default() += 1;
                }
                if !servers.is_null(i) {
                    *by_dim
                        .entry((DIM_MCP_SERVER, servers.value(i).to_string(), b))
                        .or_default() += 1;
                }
            }
        }
        let id = &run.detection.id;
        let metric = &run.detection.metric;
        for (b, n) in total {
            out.push(Datum {
                metric_name: metric.clone(),
                dimensions: vec![Dim::new(DIM_DETECTION, id)],
                timestamp: b,
                value: n as f64,
                unit: "Count",
            });
        }
        for ((dim, value, b), n) in by_dim {
            let mut dims = vec![Dim::new(DIM_DETECTION, id), Dim::new(dim, &value)];
            dims.sort();
            out.push(Datum {
                metric_name: metric.clone(),
                dimensions: dims,
                timestamp: b,
                value: n as f64,
                unit: "Count",
            });
        }
    }
    out
}

fn as_utf8(batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::datatypes::{DataType, Field, Schema};
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if matches!(f.data_type(), DataType::Utf8View | DataType::LargeUtf8) {
            columns.push(arrow::compute::cast(c, &DataType::Utf8)?);
            fields.push(Field::new(f.name(), DataType::Utf8, f.is_nullable()));
        } else {
            columns.push(c.clone());
            fields.push(f.as_ref().clone());
        }
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
}

/// Job metrics at `now`: the heartbeat and the ingest counters.
pub fn job_datums(now: DateTime<Utc>, counters: &[(&str, u64)]) -> Vec<Datum> {
    let mut out = vec![Datum {
        metric_name: HEARTBEAT.into(),
        dimensions: vec![],
        timestamp: now,
        value: 1.0,
        unit: "Count",
    }];
    for (name, v) in counters {
        out.push(Datum {
            metric_name: name.to_string(),
            dimensions: vec![],
            timestamp: now,
            value: *v as f64,
            unit: "Count",
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_fixed_five_minute_slots() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(
            bucket_start(t("2026-11-20T16:12:59Z")),
            t("2026-11-20T16:10:00Z")
        );
        assert_eq!(
            bucket_start(t("2026-11-20T16:10:00Z")),
            t("2026-11-20T16:10:00Z")
        );
        let b = buckets(t("2026-11-20T16:03:00Z"), t("2026-11-20T16:15:00Z"));
        assert_eq!(
            b,
            vec![
                t("2026-11-20T16:00:00Z"),
                t("2026-11-20T16:05:00Z"),
                t("2026-11-20T16:10:00Z")
            ]
        );
        assert!(buckets(t("2026-11-20T16:05:00Z"), t("2026-11-20T16:05:00Z")).is_empty());
    }
}
