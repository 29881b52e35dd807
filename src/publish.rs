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

/// Split datums into requests; drop those CloudWatch would refuse (older than 14 days).
pub fn requests(
    namespace: &str,
    datums: Vec<Datum>,
    now: DateTime<Utc>,
) -> (Vec<PutMetricDataRequest>, usize) {
    let oldest = now - Duration::days(14) + Duration::minutes(5);
    let before = datums.len();
    let kept: Vec<Datum> = datums
        .into_iter()
        .filter(|d| d.timestamp >= oldest)
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
