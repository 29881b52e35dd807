//! The publish stage: CloudWatch metrics for findings and for the job itself.
//!
//! `datums` is pure (tested without a network); this module sends them with PutMetricData in
//! batches within the API limits (1,000 datums and 1 MB per request; no datum older than two
//! weeks, which CloudWatch refuses), with the SDK's standard retries raised to 5 attempts.
//! Credentials and endpoint come from the standard chain (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_CLOUDWATCH`, profiles, …).

pub mod alarms;
pub mod datums;

use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use datums::Datum;

/// Default namespace.
pub const DEFAULT_NAMESPACE: &str = "AgentTrail";
/// Datums per PutMetricData request.
pub const MAX_DATUMS_PER_REQUEST: usize = 1000;

/// Errors of the publish stage.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A CloudWatch call failed after retries.
    #[error("CloudWatch {operation} failed: {message}")]
    Api {
        /// The operation.
        operation: &'static str,
        /// The error chain.
        message: String,
    },
    /// An alarm definition is invalid.
    #[error("{path}: {message}")]
    Alarm {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// One PutMetricData request, as printed by `--dry-run`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutMetricDataRequest {
    /// Namespace.
    pub namespace: String,
    /// Datums.
    pub metric_data: Vec<Datum>,
}

/// The oldest datum timestamp CloudWatch accepts at `now`: two weeks back, less five minutes'
/// margin for the time the requests take.
pub fn oldest_accepted(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(14) + Duration::minutes(5)
}

/// Split datums into requests, dropping those older than `oldest` (see [`oldest_accepted`];
/// `None` keeps every datum, as a dry run does). Returns the requests and how many were dropped.
pub fn requests(
    namespace: &str,
    datums: Vec<Datum>,
    oldest: Option<DateTime<Utc>>,
) -> (Vec<PutMetricDataRequest>, usize) {
    let before = datums.len();
    let kept: Vec<Datum> = datums
        .into_iter()
        .filter(|d| oldest.is_none_or(|o| d.timestamp >= o))
        .collect();
    let dropped = before - kept.len();
    let reqs = kept
        .chunks(MAX_DATUMS_PER_REQUEST)
        .map(|c| PutMetricDataRequest {
            namespace: namespace.to_string(),
            metric_data: c.to_vec(),
        })
        .collect();
    (reqs, dropped)
}

/// A CloudWatch client from the standard chain, with 5 attempts per call.
pub async fn client() -> aws_sdk_cloudwatch::Client {
    let shared = crate::aws::sdk_config().await;
    let conf = aws_sdk_cloudwatch::config::Builder::from(&shared)
        .retry_config(
            aws_sdk_cloudwatch::config::retry::RetryConfig::standard().with_max_attempts(5),
        )
        .build();
    aws_sdk_cloudwatch::Client::from_conf(conf)
}

fn to_sdk(d: &Datum) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(&d.metric_name)
        .set_dimensions(Some(
            d.dimensions
                .iter()
                .map(|x| Dimension::builder().name(&x.name).value(&x.value).build())
                .collect(),
        ))
        .timestamp(AwsDateTime::from_millis(d.timestamp.timestamp_millis()))
        .value(d.value)
        .unit(StandardUnit::Count)
        .build()
}

/// Send `reqs`. Returns the number of datums sent.
pub async fn send(
    client: &aws_sdk_cloudwatch::Client,
    reqs: &[PutMetricDataRequest],
) -> Result<usize, PublishError> {
    let mut sent = 0;
    for r in reqs {
        client
            .put_metric_data()
            .namespace(&r.namespace)
            .set_metric_data(Some(r.metric_data.iter().map(to_sdk).collect()))
            .send()
            .await
            .map_err(|e| PublishError::Api {
                operation: "PutMetricData",
                message: crate::source::error_chain(&e),
            })?;
        sent += r.metric_data.len();
    }
    Ok(sent)
}

/// One line of the dry-run plan: what would be sent for one metric and dimension set.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRow {
    /// Metric name.
    pub metric: String,
    /// Dimensions as `Name=value` joined by `, ` (empty for none).
    pub dimensions: String,
    /// Datums (one per 5-minute bucket, or one per run for job metrics).
    pub datums: u64,
    /// Datums whose value is not zero.
    pub nonzero: u64,
    /// The largest value: what an alarm on `Maximum` would see.
    pub max: f64,
}

/// Summarise requests per metric and dimension set, in first-seen order of metric, then by
/// dimensions: the short view of a dry run (the requests themselves can hold thousands of datums).
pub fn plan(reqs: &[PutMetricDataRequest]) -> Vec<PlanRow> {
    let mut rows: Vec<PlanRow> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for d in reqs.iter().flat_map(|r| r.metric_data.iter()) {
        let dimensions = d
            .dimensions
            .iter()
            .map(|x| format!("{}={}", x.name, x.value))
            .collect::<Vec<_>>()
            .join(", ");
        let i = *index
            .entry((d.metric_name.clone(), dimensions.clone()))
            .or_insert_with(|| {
                rows.push(PlanRow {
                    metric: d.metric_name.clone(),
                    dimensions,
                    datums: 0,
                    nonzero: 0,
                    max: 0.0,
                });
                rows.len() - 1
            });
        let row = &mut rows[i];
        row.datums += 1;
        row.nonzero += u64::from(d.value != 0.0);
        row.max = row.max.max(d.value);
    }
    rows
}

/// The plan as one Arrow batch (metric, dimensions, datums, nonzero, max), for the renderers.
pub fn plan_batch(rows: &[PlanRow]) -> arrow::record_batch::RecordBatch {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("dimensions", DataType::Utf8, false),
        Field::new("datums", DataType::Int64, false),
        Field::new("nonzero", DataType::Int64, false),
        Field::new("max", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.metric.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.dimensions.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.datums as i64),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.nonzero as i64),
        )),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.max))),
    ];
    arrow::record_batch::RecordBatch::try_new(schema, columns)
        .expect("the plan's columns match its schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datums::Dim;

    fn datum(metric: &str, dims: &[(&str, &str)], minute: i64, value: f64) -> Datum {
        Datum {
            metric_name: metric.into(),
            dimensions: dims.iter().map(|(k, v)| Dim::new(k, v)).collect(),
            timestamp: DateTime::from_timestamp(1_700_000_000 + minute * 60, 0).unwrap(),
            value,
            unit: "Count",
        }
    }

    #[test]
    fn the_plan_counts_datums_per_metric_and_dimensions_across_requests() {
        let mut ds = Vec::new();
        for m in 0..1500 {
            ds.push(datum("Findings", &[("Detection", "ai_deletions")], m, 0.0));
        }
        ds.push(datum("Findings", &[("Detection", "ai_deletions")], 5, 3.0));
        ds.push(datum("Findings", &[("Detection", "mcp_bypass")], 5, 2.0));
        ds.push(datum("JobHeartbeat", &[], 0, 1.0));
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let (reqs, dropped) = requests("AgentTrail", ds.clone(), Some(oldest_accepted(now)));
        assert_eq!((reqs.len(), dropped), (2, 0));
        // Sixteen days later every datum (the last is 25 hours after the first) is older than
        // CloudWatch accepts; a dry run keeps them.
        let later = now + Duration::days(16);
        let (gone, dropped) = requests("AgentTrail", ds.clone(), Some(oldest_accepted(later)));
        assert_eq!((gone.len(), dropped), (0, 1503));
        let (all, dropped) = requests("AgentTrail", ds, None);
        assert_eq!((all.len(), dropped), (2, 0));
        let plan = plan(&reqs);
        assert_eq!(
            plan,
            vec![
                PlanRow {
                    metric: "Findings".into(),
                    dimensions: "Detection=ai_deletions".into(),
                    datums: 1501,
                    nonzero: 1,
                    max: 3.0
                },
                PlanRow {
                    metric: "Findings".into(),
                    dimensions: "Detection=mcp_bypass".into(),
                    datums: 1,
                    nonzero: 1,
                    max: 2.0
                },
                PlanRow {
                    metric: "JobHeartbeat".into(),
                    dimensions: String::new(),
                    datums: 1,
                    nonzero: 1,
                    max: 1.0
                },
            ]
        );
        assert_eq!(plan_batch(&plan).num_rows(), 3);
    }
}
