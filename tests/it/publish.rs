//! `run` and `alarms` against a real CloudWatch-protocol server on 127.0.0.1 (moto, started by
//! scripts/test.sh). Metrics are read back with GetMetricStatistics; alarms with DescribeAlarms.

use std::path::Path;

use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};

use crate::util::{agenttrail, repo, run, sample_logs, stderr, stdout};

pub(crate) fn endpoint() -> String {
    let ep = std::env::var("AGENTTRAIL_TEST_CLOUDWATCH_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "AGENTTRAIL_TEST_CLOUDWATCH_ENDPOINT is not set: run the tests through scripts/test.sh"
        )
    });
    assert!(
        ep.starts_with("http://127.0.0.1:"),
        "tests only talk to loopback, got {ep}"
    );
    ep
}

pub(crate) fn client() -> aws_sdk_cloudwatch::Client {
    let conf = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    aws_sdk_cloudwatch::Client::from_conf(conf)
}

pub(crate) fn with_aws(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .current_dir(repo())
}

fn run_job(lake: &Path, namespace: &str) -> std::process::Output {
    run_job_via(&endpoint(), lake, namespace)
}

/// What the runs that publish the sample logs take as now (`AGENTTRAIL_NOW`): the midnight after
/// the sample day. CloudWatch refuses datums older than two weeks, so on the real clock the
/// sample day stopped being publishable on 2026-12-04.
pub(crate) const SAMPLE_NOW: &str = "2026-11-21T00:00:00Z";

/// `run --publish` on the sample logs, with CloudWatch at `endpoint`.
pub(crate) fn run_job_via(endpoint: &str, lake: &Path, namespace: &str) -> std::process::Output {
    run(with_aws(&mut agenttrail())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AGENTTRAIL_NOW", SAMPLE_NOW)
        .args([
            "-q",
            "run",
            "--publish",
            "--namespace",
            namespace,
            "--source",
        ])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake))
}

/// Maximum per 5-minute period of Findings{Detection=id} over the sample day, non-zero only.
pub(crate) async fn maxima(
    c: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    id: &str,
) -> Vec<(i64, f64)> {
    let resp = c
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name("Findings")
        .dimensions(Dimension::builder().name("Detection").value(id).build())
        .start_time(AwsDateTime::from_secs(1_795_132_800)) // 2026-11-20T00:00:00Z
        .end_time(AwsDateTime::from_secs(1_795_219_200))
        .period(300)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .expect("GetMetricStatistics");
    let mut points: Vec<(i64, f64)> = resp
        .datapoints()
        .iter()
        .filter(|d| d.maximum().unwrap_or(0.0) > 0.0)
        .map(|d| {
            (
                d.timestamp().map(|t| t.secs()).unwrap_or(0),
                d.maximum().unwrap_or(0.0),
            )
        })
        .collect();
    points.sort_by_key(|p| p.0);
    points
}

/// The ai_deletions maxima per 5-minute period of the sample day, from its labelled stories.
pub(crate) fn sample_day_maxima() -> Vec<(i64, f64)> {
    let at = |hh: i64, mm: i64| 1_795_132_800 + hh * 3600 + mm * 60;
    vec![
        (at(15, 10), 1.0),
        (at(15, 15), 2.0),
        (at(16, 5), 5.0),
        (at(16, 20), 1.0),
        (at(16, 30), 1.0),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn run_publishes_findings_per_bucket_and_a_rerun_does_not_inflate_them() {
    let namespace = format!("AgentTrailTest{}", std::process::id());
    let lake = tempfile::tempdir().unwrap();
    let out = run_job(lake.path(), &namespace);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("== ai_deletions (high)"),
        "{}",
        stdout(&out)
    );
    let c = client();
    let expected = sample_day_maxima();
    assert_eq!(maxima(&c, &namespace, "ai_deletions").await, expected);

    // The same window again (a fresh lake re-reads every object): the maxima do not move.
    let again = tempfile::tempdir().unwrap();
    assert_eq!(run_job(again.path(), &namespace).status.code(), Some(0));
    // And a re-run on the same lake reads nothing new.
    let out = run_job(lake.path(), &namespace);
    assert!(
        stderr(&out).is_empty() || !stderr(&out).contains("error"),
        "{}",
        stderr(&out)
    );
    assert_eq!(maxima(&c, &namespace, "ai_deletions").await, expected);

    // Quiet detections are published as zeros; the job's heartbeat is there.
    let metrics = c.list_metrics().namespace(&namespace).send().await.unwrap();
    let names: std::collections::BTreeSet<String> = metrics
        .metrics()
        .iter()
        .filter_map(|m| {
            let det = m
                .dimensions()
                .iter()
                .find(|d| d.name() == Some("Detection"))?;
            Some(det.value()?.to_string())
        })
        .collect();
    assert!(
        names.contains("ai_logging_tampering"),
        "zero datums for quiet detections: {names:?}"
    );
    assert!(
        metrics
            .metrics()
            .iter()
            .any(|m| m.metric_name() == Some("JobHeartbeat"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alarms_apply_creates_exactly_the_definitions_and_reapplying_is_a_no_op() {
    let c = client();
    let param = "AlarmTopicArn=arn:aws:sns:us-east-1:111122223333:agenttrail-alerts";
    let out = run(with_aws(&mut agenttrail()).args(["alarms", "plan", "--param", param]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(with_aws(&mut agenttrail()).args(["alarms", "apply", "--param", param]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let defined = agenttrail::publish::alarms::load(&repo().join("alarms")).unwrap();
    let names: Vec<String> = defined.iter().map(|a| a.spec.name.clone()).collect();
    let described = c
        .describe_alarms()
        .set_alarm_names(Some(names.clone()))
        .send()
        .await
        .unwrap();
    let mut got: Vec<String> = described
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_string))
        .collect();
    got.sort();
    assert_eq!(got, names);
    let deletions = described
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some("agenttrail-ai-deletions"))
        .unwrap();
    assert_eq!(deletions.threshold(), Some(1.0));
    assert_eq!(deletions.period(), Some(300));
    assert_eq!(
        deletions.alarm_actions(),
        ["arn:aws:sns:us-east-1:111122223333:agenttrail-alerts"]
    );

    let out = run(with_aws(&mut agenttrail()).args(["alarms", "apply", "--param", param]));
    assert!(
        stderr(&out).contains(&format!(
            "0 to create, 0 to update, {} unchanged",
            names.len()
        )),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    let out = run(with_aws(&mut agenttrail()).args(["alarms", "plan"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("parameter AlarmTopicArn is not set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn alarms_export_is_a_cloudformation_template() {
    let out = run(agenttrail().current_dir(repo()).args([
        "alarms",
        "export",
        "--format",
        "cloudformation",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let t: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        t["Resources"]["AgenttrailAiDeletionsAlarm"]["Type"],
        "AWS::CloudWatch::Alarm"
    );
    assert_eq!(
        t["Resources"]["AgenttrailAiDeletionsAlarm"]["Properties"]["AlarmActions"][0]["Fn::Sub"],
        "${AlarmTopicArn}"
    );
    assert_eq!(t["Parameters"]["AlarmTopicArn"]["Type"], "String");
}

#[test]
fn run_without_arguments_shows_the_whole_product_on_the_sample_logs() {
    let dir = tempfile::tempdir().unwrap();
    crate::util::copy_tree(&repo().join("queries"), &{
        let q = dir.path().join("queries");
        std::fs::create_dir_all(&q).unwrap();
        q
    });
    std::fs::create_dir_all(dir.path().join("sample-logs")).unwrap();
    crate::util::copy_tree(&sample_logs(), &dir.path().join("sample-logs"));
    let out = run(agenttrail().current_dir(dir.path()).arg("run"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("== ai_deletions (high)"), "{text}");
    // A newcomer's first look: the metrics as a short table, one row per metric and dimension
    // set, not the thousands of lines of the requests themselves.
    assert!(
        text.contains("== CloudWatch metrics (dry run, not sent; namespace AgentTrail)"),
        "{text}"
    );
    assert!(!text.contains("\"MetricName\""), "{text}");
    let plan_row = |metric: &str, dims: &str| {
        text.lines().find(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            cells.len() > 3 && cells[1] == metric && cells[2] == dims
        })
    };
    let deletions = plan_row("Findings", "Detection=ai_deletions").expect("ai_deletions row");
    let cells: Vec<&str> = deletions.split('|').map(str::trim).collect();
    assert!(cells[3].parse::<u64>().unwrap() > 1, "{deletions}");
    assert!(cells[4].parse::<u64>().unwrap() >= 1, "{deletions}");
    assert!(plan_row("JobHeartbeat", "").is_some(), "{text}");
    assert!(text.lines().count() < 200, "{} lines", text.lines().count());
    assert!(
        stderr(&out).contains("--show-requests prints them"),
        "{}",
        stderr(&out)
    );
    // The sample day is older than CloudWatch accepts on the real clock (from 2026-12-04): the
    // dry run still shows its datums above, and says --publish would skip them.
    assert!(
        stderr(&out)
            .contains("are older than the 14 days CloudWatch accepts, which --publish skips"),
        "{}",
        stderr(&out)
    );

    // The whole requests on request.
    let out = run(agenttrail()
        .current_dir(dir.path())
        .args(["run", "--show-requests"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("== PutMetricData requests (dry run, not sent)"),
        "{text}"
    );
    assert!(text.contains("\"MetricName\": \"JobHeartbeat\""), "{text}");
    assert!(dir.path().join("lake/events/_delta_log").is_dir());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_that_failed_to_publish_is_published_by_the_next_run() {
    let namespace = format!("AgentTrailRetry{}", std::process::id());
    let lake = tempfile::tempdir().unwrap();
    // CloudWatch unreachable (a closed loopback port): ingest commits, publishing fails.
    let out = run(with_aws(&mut agenttrail())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AGENTTRAIL_NOW", SAMPLE_NOW)
        .args([
            "-q",
            "run",
            "--publish",
            "--namespace",
            &namespace,
            "--source",
        ])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("PutMetricData failed"),
        "{}",
        stderr(&out)
    );
    assert!(lake.path().join("_publish_pending.json").exists());

    // The next run reads no new object but still publishes the owed window.
    let out = run_job(lake.path(), &namespace);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!lake.path().join("_publish_pending.json").exists());
    let c = client();
    assert_eq!(
        maxima(&c, &namespace, "ai_deletions").await,
        sample_day_maxima()
    );
}
