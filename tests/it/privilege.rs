//! Least privilege: every AWS operation the commands send is one the README's IAM policy grants.
//! The commands talk to moto through a proxy that records every request (injecting no fault);
//! the setup happens directly against moto, unrecorded.

use std::collections::BTreeSet;

use crate::fault_proxy::FaultProxy;
use crate::util::{agenttrail, repo, run, stderr};

/// The IAM action of one request, from its identity (`METHOD /target [Action]`).
pub(crate) fn action(identity: &str, buckets: &[&str]) -> String {
    let mut parts = identity.split(' ');
    let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
    if let Some(a) = parts.next() {
        return if a.contains(':') {
            a.to_string()
        } else {
            format!("cloudwatch:{a}")
        };
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = path.trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    assert!(
        buckets.contains(&bucket),
        "a request outside the test's buckets: {identity}"
    );
    match (method, key.is_empty()) {
        ("GET", true) if query.contains("list-type=2") => "s3:ListBucket".into(),
        ("GET", false) => "s3:GetObject".into(),
        ("PUT", false) => "s3:PutObject".into(),
        _ => format!("unknown: {identity}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_commands_use_no_api_outside_the_documented_policy() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = crate::s3::client();
    let (trail, lake_bucket) = (
        crate::s3::unique("iam-trail"),
        crate::s3::unique("iam-lake"),
    );
    s3.create_bucket()
        .bucket(lake_bucket.as_str())
        .send()
        .await
        .unwrap();
    // The trail with digests signed for its bucket, as CloudTrail delivers it: ingest checks them,
    // asking CloudTrail for its public keys (moto does not serve ListPublicKeys; the request is
    // what counts here).
    crate::s3::upload_signed_sample(&s3, &trail).await;
    // A clean slate for `alarms apply` (moto keeps alarms per region; this region is the test's).
    let cw = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::Config::builder()
            .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
            .endpoint_url(crate::publish::endpoint())
            .region(aws_sdk_cloudwatch::config::Region::new("eu-west-2"))
            .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build(),
    );
    let existing = cw.describe_alarms().send().await.unwrap();
    let names: Vec<String> = existing
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_string))
        .collect();
    if !names.is_empty() {
        cw.delete_alarms()
            .set_alarm_names(Some(names))
            .send()
            .await
            .unwrap();
    }
    let proxy = FaultProxy::start(&crate::s3::endpoint(), |_, _| None);
    let (trail_uri, lake_uri) = (
        format!("s3://{trail}"),
        format!("s3://{lake_bucket}/agenttrail"),
    );

    let aws = |cmd: &mut std::process::Command| -> std::process::Output {
        run(cmd
            .current_dir(repo())
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            // moto keeps alarms per region: this one is the test's own.
            .env("AWS_REGION", "eu-west-2")
            .env("AGENTTRAIL_CACHE_DIR", dir.path().join("cache")))
    };
    let lake = dir.path().join("lake");
    let out = aws(agenttrail()
        .args(["-q", "run", "--publish", "--source", &trail_uri, "--lake"])
        .arg(&lake));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = aws(agenttrail().args(["-q", "ingest", "--source", &trail_uri, "--lake", &lake_uri]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = aws(agenttrail()
        .env("AGENTTRAIL_CACHE_DIR", dir.path().join("cache2"))
        .args(["query", "--lake", &lake_uri, "SELECT count(*) FROM events"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = aws(agenttrail().args([
        "alarms",
        "apply",
        "--param",
        "AlarmTopicArn=arn:aws:sns:us-east-1:111122223333:t",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let buckets = [trail.as_str(), lake_bucket.as_str()];
    let used: BTreeSet<String> = proxy
        .identities()
        .iter()
        .map(|id| action(id, &buckets))
        .collect();
    let policy: BTreeSet<String> = [
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "cloudtrail:ListPublicKeys",
        "cloudwatch:PutMetricData",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:PutMetricAlarm",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(
        used.is_subset(&policy),
        "operations outside the policy: {:?}",
        used.difference(&policy).collect::<Vec<_>>()
    );
    assert_eq!(
        used, policy,
        "every documented permission is needed by some command"
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for a in &policy {
        let (_, name) = a.split_once(':').unwrap();
        assert!(readme.contains(name), "the README's policy lacks {a}");
    }
}
