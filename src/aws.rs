//! AWS clients from the standard provider chain.
//!
//! Credentials and region come only from aws-config's chain (environment, profiles, SSO, web
//! identity, IMDS). Endpoints follow the SDK's standard settings (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_S3`, `endpoint_url` in a profile), so the same binary talks to AWS, a VPC
//! endpoint, LocalStack or the test server. When a custom S3 endpoint is set, path-style
//! addressing is used (most S3-compatible servers need it); `AGENTTRAIL_S3_PATH_STYLE=false|true`
//! overrides that choice.

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::env_vars;

/// Load the shared SDK configuration; `us-east-1` when no region is configured anywhere.
pub async fn sdk_config() -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    let config = loader.load().await;
    if config.region().is_some() {
        config
    } else {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .load()
            .await
    }
}

/// Whether S3 requests use path-style addressing.
pub fn s3_path_style() -> bool {
    match std::env::var(env_vars::S3_PATH_STYLE).ok().as_deref() {
        Some("true" | "1") => true,
        Some("false" | "0") => false,
        _ => ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty())),
    }
}

/// An S3 client.
pub async fn s3_client() -> aws_sdk_s3::Client {
    let shared = sdk_config().await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(s3_path_style())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
