//! S3 and CloudWatch faults, injected by a proxy on loopback between agenttrail and moto.
//!
//! What must hold: transient faults are retried until they pass, and the lake and the metrics
//! then equal those of a run without faults; an object that keeps failing is reported, not marked
//! ingested, and picked up by the next run; a publish that keeps failing is owed to the next run,
//! and publishing twice (a response lost after CloudWatch applied the request) moves no alarm.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fault_proxy::{Fault, FaultProxy};
use crate::util::{agenttrail, log_files, query, run, sample_logs, stderr};
use crate::{publish, s3};

/// The S3 faults, in the order they are dealt out to objects.
const S3_FAULTS: [Fault; 7] = [
    Fault::Reset,
    Fault::Status(503, "SlowDown"),
    Fault::Status(500, "InternalError"),
    Fault::CutBody,
    Fault::ShortBody,
    Fault::Slow(Duration::from_millis(300)),
    Fault::LoseResponse,
];

fn ingest_through(proxy: &FaultProxy, source: &str, lake: &Path) -> std::process::Output {
    run(agenttrail()
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .args(["ingest", "--source", source, "--lake"])
        .arg(lake))
}

fn summary(injected: &[(String, Fault)]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (_, f) in injected {
        *out.entry(format!("{f:?}")).or_default() += 1;
    }
    out
}

async fn clean_keys() -> Vec<Vec<String>> {
    let lake = tempfile::tempdir().unwrap();
    crate::util::ingest_dir(&sample_logs(), lake.path()).await;
    query(
        lake.path(),
        "SELECT dedup_key, event_time, event_name, access_key_id FROM events ORDER BY 1",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_s3_faults_are_retried_and_the_lake_equals_a_clean_run() {
    let c = s3::client();
    let bucket = s3::unique("faulty");
    s3::upload_tree(&c, &bucket, "", &sample_logs()).await;

    // The first listing page is refused with SlowDown. Every log object's first GET gets the next
    // fault of S3_FAULTS in turn; every other object's second GET gets another one.
    let dealt: Mutex<HashMap<String, usize>> = Mutex::default();
    let proxy = FaultProxy::start(&s3::endpoint(), move |id, attempt| {
        if id.contains("list-type=2") {
            return (attempt == 1).then_some(Fault::Status(503, "SlowDown"));
        }
        if !(id.starts_with("GET ") && id.contains(".json.gz")) {
            return None;
        }
        let mut dealt = dealt.lock().unwrap();
        let next = dealt.len();
        let k = *dealt.entry(id.to_string()).or_insert(next);
        match attempt {
            1 => Some(S3_FAULTS[k % S3_FAULTS.len()]),
            2 if k.is_multiple_of(2) => Some(S3_FAULTS[(k + 3) % S3_FAULTS.len()]),
            _ => None,
        }
    });

    let lake = tempfile::tempdir().unwrap();
    let out = ingest_through(&proxy, &format!("s3://{bucket}"), lake.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("objects: 14 read, 1 skipped (not-json-gz 1), 0 failed; records: 220 ingested, 1 rejected, 1 duplicate"),
        "{err}"
    );
    let sql = "SELECT dedup_key, event_time, event_name, access_key_id FROM events ORDER BY 1";
    assert_eq!(query(lake.path(), sql).await, clean_keys().await);

    let injected = proxy.injected();
    let kinds = summary(&injected);
    assert_eq!(
        kinds.len(),
        S3_FAULTS.len(),
        "every kind of fault was injected: {kinds:?}"
    );
    // The listing, every object's first GET, and the second GET of even-numbered objects, except
    // where the first fault was only slowness (which succeeds, so there is no second GET).
    let expected = 1
        + (0..14)
            .map(|k| {
                let slow = matches!(S3_FAULTS[k % S3_FAULTS.len()], Fault::Slow(_));
                1 + usize::from(k.is_multiple_of(2) && !slow)
            })
            .sum::<usize>();
    assert_eq!(injected.len(), expected, "{injected:#?}");
    eprintln!(
        "S3 faults injected and recovered: {} {kinds:?}",
        injected.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_that_keeps_failing_is_reported_and_picked_up_by_the_next_run() {
    let c = s3::client();
    let bucket = s3::unique("stuck");
    s3::upload_tree(&c, &bucket, "", &sample_logs()).await;
    let stuck = log_files(&sample_logs())[3]
        .strip_prefix(sample_logs())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let failing = Arc::new(AtomicBool::new(true));
    let (f, key) = (failing.clone(), stuck.clone());
    let proxy = FaultProxy::start(&s3::endpoint(), move |id, _| {
        (f.load(Ordering::SeqCst) && id.starts_with("GET ") && id.contains(&key))
            .then_some(Fault::Status(503, "SlowDown"))
    });

    let lake = tempfile::tempdir().unwrap();
    let out = ingest_through(&proxy, &format!("s3://{bucket}"), lake.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("s3://{bucket}/{stuck}")) && err.contains("SlowDown"),
        "the failed object is named with its error: {err}"
    );
    assert!(err.contains("objects: 13 read, 1 skipped"), "{err}");
    assert!(err.contains("1 failed"), "{err}");
    let attempts = proxy.seen(&format!("GET /{bucket}/{stuck}"));
    assert!(
        attempts >= 4,
        "retried before giving up: {attempts} attempts"
    );
    let kept = query(
        lake.path(),
        &format!("SELECT count(*) FROM events WHERE source_object LIKE '%{stuck}'"),
    )
    .await;
    assert_eq!(kept, vec![vec!["0".to_string()]]);

    // The next run, with S3 healthy again, reads that object and only that one.
    failing.store(false, Ordering::SeqCst);
    let out = ingest_through(&proxy, &format!("s3://{bucket}"), lake.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("objects: 1 read"), "{err}");
    let sql = "SELECT dedup_key, event_time, event_name, access_key_id FROM events ORDER BY 1";
    assert_eq!(query(lake.path(), sql).await, clean_keys().await);
    eprintln!("persistent fault: {attempts} attempts, reported, recovered next run");
}

fn publish_through(proxy: &FaultProxy, lake: &Path, namespace: &str) -> std::process::Output {
    publish::run_job_via(&proxy.endpoint, lake, namespace)
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_faults_are_retried_and_a_lost_response_does_not_move_an_alarm() {
    let namespace = format!("AgentTrailFaults{}", std::process::id());
    // PutMetricData: throttled, then applied with its response lost, then reset; then healthy.
    let proxy = FaultProxy::start(&publish::endpoint(), |id, attempt| {
        if !id.ends_with(" PutMetricData") {
            return None;
        }
        match attempt {
            1 => Some(Fault::Status(400, "Throttling")),
            2 => Some(Fault::LoseResponse),
            3 => Some(Fault::Reset),
            4 => Some(Fault::Status(500, "InternalFailure")),
            _ => None,
        }
    });
    let lake = tempfile::tempdir().unwrap();
    let out = publish_through(&proxy, lake.path(), &namespace);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(proxy.injected().len(), 4);
    assert!(!lake.path().join("_publish_pending.json").exists());
    let c = publish::client();
    assert_eq!(
        publish::maxima(&c, &namespace, "ai_deletions").await,
        publish::sample_day_maxima()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_whose_responses_are_all_lost_is_owed_and_not_doubled() {
    let namespace = format!("AgentTrailLost{}", std::process::id());
    let failing = Arc::new(AtomicBool::new(true));
    let f = failing.clone();
    // CloudWatch applies every request but no response comes back: the job must assume failure.
    let proxy = FaultProxy::start(&publish::endpoint(), move |id, _| {
        (f.load(Ordering::SeqCst) && id.ends_with(" PutMetricData")).then_some(Fault::LoseResponse)
    });
    let lake = tempfile::tempdir().unwrap();
    let out = publish_through(&proxy, lake.path(), &namespace);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("PutMetricData failed"),
        "{}",
        stderr(&out)
    );
    assert!(lake.path().join("_publish_pending.json").exists());
    let lost = proxy.injected().len();
    assert!(lost >= 5, "every attempt was applied and lost: {lost}");

    failing.store(false, Ordering::SeqCst);
    let out = publish_through(&proxy, lake.path(), &namespace);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!lake.path().join("_publish_pending.json").exists());
    let c = publish::client();
    assert_eq!(
        publish::maxima(&c, &namespace, "ai_deletions").await,
        publish::sample_day_maxima(),
        "the same datums applied {} times leave every alarm's Maximum unchanged",
        lost + 1
    );
}

/// The answer to a Delta log PUT is lost after S3 applied it (every table's first log entries):
/// the retried conditional PUT finds the version taken, and the writer must recognise its own
/// commit rather than append its rows again or give up. The S3 lake then equals a clean lake,
/// table by table.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_a_delta_log_put_neither_loses_nor_doubles_a_commit() {
    let c = s3::client();
    let bucket = s3::unique("lost-log");
    c.create_bucket().bucket(&bucket).send().await.unwrap();
    let proxy = FaultProxy::start(&s3::endpoint(), move |id, attempt| {
        (id.starts_with("PUT ")
            && id.contains("/_delta_log/")
            && id.contains(".json")
            && attempt == 1)
            .then_some(Fault::LoseResponse)
    });
    let lake = format!("s3://{bucket}/agenttrail");
    let ingest = |endpoint: &str| {
        run(agenttrail()
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .args(["ingest", "--commit-rows", "60", "--source"])
            .arg(sample_logs())
            .args(["--lake", &lake]))
    };
    let out = ingest(&proxy.endpoint);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("records: 220 ingested, 1 rejected, 1 duplicate"),
        "{err}"
    );
    let lost = proxy.injected();
    assert!(
        lost.len() >= 8,
        "a lost answer for each table's first commit: {lost:?}"
    );

    let clean = assert_equals_a_clean_lake(&lake).await;
    // DuckDB reads the same events from S3 as agenttrail reads from the clean lake.
    let endpoint = s3::endpoint();
    crate::engines::assert_same(
        &crate::engines::duckdb_reads(&format!("{lake}/events"), Some(&endpoint)),
        &crate::engines::agenttrail_reads(clean.path()).await,
    );
    // A rerun finds every object in the ledger.
    let again = ingest(&s3::endpoint());
    assert!(
        stderr(&again).contains("objects: 0 read"),
        "{}",
        stderr(&again)
    );
}

/// Writing the events' files keeps failing (`403 AccessDenied` on every upload under `events/`,
/// as a bucket policy or a disabled KMS key would answer): the run fails naming the table and
/// the error, commits nothing for the objects whose events it could not write, and the next run,
/// with S3 healthy again, stores every event once: the S3 lake then equals a clean lake, table
/// by table.
#[tokio::test(flavor = "multi_thread")]
async fn a_lake_write_that_keeps_failing_fails_the_run_and_the_next_run_stores_each_event_once() {
    let c = s3::client();
    let bucket = s3::unique("denied");
    c.create_bucket().bucket(&bucket).send().await.unwrap();
    let failing = Arc::new(AtomicBool::new(true));
    let f = failing.clone();
    let proxy = FaultProxy::start(&s3::endpoint(), move |id, _| {
        (f.load(Ordering::SeqCst)
            && (id.starts_with("PUT ") || id.starts_with("POST "))
            && id.contains("/agenttrail/events/")
            && !id.contains("/_delta_log/"))
        .then_some(Fault::Status(403, "AccessDenied"))
    });
    let lake = format!("s3://{bucket}/agenttrail");
    let ingest = || {
        run(agenttrail()
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .args(["ingest", "--commit-rows", "60", "--source"])
            .arg(sample_logs())
            .args(["--lake", &lake]))
    };
    let out = ingest();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/agenttrail/events: writing a data file: ") && err.contains("AccessDenied"),
        "the table and the error are named: {err}"
    );
    let denied = proxy.injected().len();
    assert!(denied > 0);
    eprintln!(
        "denied writes: {denied}; the run said: {}",
        err.lines().rev().take(2).collect::<Vec<_>>().join(" / ")
    );
    for table in ["events_all", "ingested"] {
        assert_eq!(
            count_in(&lake, table),
            "n\n0\n",
            "{table}: nothing committed"
        );
    }

    failing.store(false, Ordering::SeqCst);
    let out = ingest();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("records: 220 ingested, 1 rejected, 1 duplicate"),
        "{err}"
    );
    assert_equals_a_clean_lake(&lake).await;
}

/// `SELECT count(*) AS n FROM table` in the S3 lake `lake`, as CSV.
fn count_in(lake: &str, table: &str) -> String {
    let out = run(agenttrail()
        .env("AWS_ENDPOINT_URL", s3::endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .args(["query", "--format", "csv", "--lake", lake])
        .arg(format!("SELECT count(*) AS n FROM {table}")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    crate::util::stdout(&out)
}

/// Every table of the S3 lake `lake` holds as many rows as a local lake into which the same
/// command (`ingest --commit-rows 60` of `sample-logs/`) ran without faults; that lake is returned.
async fn assert_equals_a_clean_lake(lake: &str) -> tempfile::TempDir {
    let clean = tempfile::tempdir().unwrap();
    let out = run(agenttrail()
        .args(["ingest", "--commit-rows", "60", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(clean.path()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for table in agenttrail::sink::TABLES {
        let table = if *table == "events" {
            "events_all"
        } else {
            table
        };
        let want =
            crate::util::scalar(clean.path(), &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(count_in(lake, table), format!("n\n{want}\n"), "{table}");
    }
    clean
}
