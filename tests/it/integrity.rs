//! Log-file integrity against a trail in moto S3, as CloudTrail delivers it: hourly digests
//! signed by a test RSA key (agenttrail's digest writer), each signature in the digest object's
//! metadata (`x-amz-meta-signature`), the keys from a file (moto does not serve ListPublicKeys).
//! Each kind of damage yields exactly its statuses; a clean trail yields none; the metrics reach
//! CloudWatch (moto).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use agenttrail::integrity::forge::{Signer, TrailSpec, Written, write_digest, write_digests};
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::Statistic;
use serde_json::Value;

use crate::util::{agenttrail, gz, repo, run, stderr, stdout};

const ACCT: &str = "111122223333";

fn test_signer() -> Signer {
    Signer::from_pkcs8(&std::fs::read(repo().join("tests/fixtures/digest-test-key.pk8")).unwrap())
        .unwrap()
}

fn spec(bucket: &str) -> TrailSpec {
    TrailSpec {
        bucket: bucket.to_string(),
        trail: "org_trail".into(),
        home_region: "us-east-1".into(),
    }
}

/// Log file key under `base` (e.g. `AWSLogs/111122223333`) for a delivery time like `20261120T1005Z`.
fn log_key(base: &str, region: &str, time: &str, name: &str) -> String {
    let acct = base.rsplit('/').next().unwrap();
    format!(
        "{base}/CloudTrail/{region}/2026/11/20/{acct}_CloudTrail_{region}_{time}_{name}.json.gz"
    )
}

fn write_log(root: &Path, key: &str, event_id: &str, extra: &str) {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let body = format!(
        r#"{{"Records":[{{"eventVersion":"1.11","eventTime":"2026-11-20T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","eventID":"{event_id}","recipientAccountId":"{ACCT}"}}]}}{extra}"#
    );
    std::fs::write(path, gz(body.as_bytes())).unwrap();
}

/// `agenttrail verify` on `s3://bucket`; returns (object file name, status) of every row.
fn verify(bucket: &str, keys: &Path, lake: Option<&Path>) -> (BTreeSet<(String, String)>, String) {
    let mut cmd = agenttrail();
    crate::publish::with_aws(&mut cmd)
        .env("AWS_ENDPOINT_URL", crate::s3::endpoint())
        .args(["verify", "--all", "--format", "csv", "--source"])
        .arg(format!("s3://{bucket}"))
        .arg("--public-keys")
        .arg(keys);
    if let Some(l) = lake {
        cmd.arg("--lake").arg(l);
    }
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let name = cells[0].rsplit('/').next().unwrap().to_string();
            (name, cells[2].to_string())
        })
        .collect();
    (rows, stderr(&out))
}

fn problems(rows: &BTreeSet<(String, String)>) -> BTreeSet<(String, String)> {
    rows.iter().filter(|(_, s)| s != "valid").cloned().collect()
}

fn name_of(key: &str) -> String {
    key.rsplit('/').next().unwrap().to_string()
}

/// A trail of two hours in one Region: files at 10:05 and 10:35, an empty 11:00-12:00 hour, a
/// file at 12:05; digests ending 11:00, 12:00, 13:00; the keys in `root/public-keys.json`.
struct Trail {
    dir: tempfile::TempDir,
    digests: Vec<Written>,
    files: Vec<String>,
}

fn trail(bucket: &str, base: &str) -> Trail {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![
        log_key(base, "eu-west-1", "20261120T1005Z", "a"),
        log_key(base, "eu-west-1", "20261120T1035Z", "b"),
        log_key(base, "eu-west-1", "20261120T1205Z", "c"),
    ];
    for (i, f) in files.iter().enumerate() {
        write_log(dir.path(), f, &format!("evt-{i}"), "");
    }
    let digests = write_digests(dir.path(), &spec(bucket), &test_signer()).unwrap();
    assert_eq!(
        digests.len(),
        3,
        "one digest per hour, the empty one included"
    );
    Trail {
        dir,
        digests,
        files,
    }
}

async fn upload(bucket: &str, root: &Path) {
    let keys = root.join("public-keys.json");
    let saved = std::fs::read(&keys).unwrap();
    std::fs::remove_file(&keys).unwrap();
    crate::s3::upload_signed_trail(&crate::s3::client(), bucket, root).await;
    std::fs::write(&keys, saved).unwrap();
}

async fn delete(bucket: &str, key: &str) {
    crate::s3::client()
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
}

fn keys_of(t: &Trail) -> PathBuf {
    t.dir.path().join("public-keys.json")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_trail_an_empty_hour_a_backfill_and_an_organisation_layout_are_all_valid() {
    let bucket = crate::s3::unique("integrity-clean");
    let base = format!("AWSLogs/o-abc123def4/{ACCT}");
    let t = trail(&bucket, &base);
    // A file delivered late (10:50, after its hour's digest) and named by a backfill digest.
    let late = log_key(&base, "eu-west-1", "20261120T1050Z", "late");
    write_log(t.dir.path(), &late, "evt-late", "");
    write_digest(
        t.dir.path(),
        &spec(&bucket),
        &test_signer(),
        &base,
        "eu-west-1",
        "2026-11-20T14:00:00Z".parse().unwrap(),
        std::slice::from_ref(&late),
        None,
        true,
    )
    .unwrap();
    upload(&bucket, t.dir.path()).await;
    let (rows, err) = verify(&bucket, &keys_of(&t), None);
    assert_eq!(problems(&rows), BTreeSet::new(), "{err}");
    // Every digest (3 hourly + 1 backfill) and every log file was checked and is valid.
    assert_eq!(rows.len(), 4 + 4, "{rows:?}");
    assert!(rows.contains(&(name_of(&late), "valid".into())));
    assert!(err.contains("no problems"), "{err}");
}

/// The (file name, status) problems a case must yield, given the trail.
type Expected = Box<dyn Fn(&Trail) -> BTreeSet<(String, String)>>;

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_damage_yields_exactly_its_status() {
    let base = format!("AWSLogs/{ACCT}");
    let cases: Vec<(&str, Expected)> = vec![
        (
            "log file deleted",
            Box::new(|t: &Trail| [(name_of(&t.files[0]), "missing".into())].into()),
        ),
        (
            "one byte of a record changed",
            Box::new(|t: &Trail| [(name_of(&t.files[1]), "modified".into())].into()),
        ),
        (
            "digest deleted",
            // The empty hour's digest (11:00-12:00) goes: the next one names it as previous.
            Box::new(|t: &Trail| [(name_of(&t.digests[1].key), "digest-missing".into())].into()),
        ),
        (
            "digest altered",
            // Its signature no longer verifies, and the next digest's link to it no longer holds.
            Box::new(|t: &Trail| {
                [
                    (name_of(&t.digests[0].key), "signature-invalid".into()),
                    (name_of(&t.digests[1].key), "digest-invalid".into()),
                ]
                .into()
            }),
        ),
        (
            "chain restarted",
            Box::new(|t: &Trail| [(name_of(&t.digests[2].key), "chain-gap".into())].into()),
        ),
        (
            "signed by an unknown key",
            Box::new(|t: &Trail| {
                t.digests
                    .iter()
                    .map(|d| (name_of(&d.key), "key-unknown".to_string()))
                    .collect()
            }),
        ),
        (
            "log file injected",
            Box::new(|_: &Trail| {
                let k = log_key(
                    &format!("AWSLogs/{ACCT}"),
                    "eu-west-1",
                    "20261120T1010Z",
                    "injected",
                );
                [(name_of(&k), "not-in-digest".to_string())].into()
            }),
        ),
    ];
    for (case, expected) in cases {
        let bucket = crate::s3::unique("integrity-damage");
        let t = trail(&bucket, &base);
        let keys = keys_of(&t);
        match case {
            "signed by an unknown key" => {
                // Re-sign everything with another key; the keys file still holds the first.
                let other = Signer::generate().unwrap();
                let saved = std::fs::read(&keys).unwrap();
                write_digests(t.dir.path(), &spec(&bucket), &other).unwrap();
                std::fs::write(&keys, saved).unwrap();
            }
            "chain restarted" => {
                // The 13:00 digest names no previous one (logging was off and on again).
                write_digest(
                    t.dir.path(),
                    &spec(&bucket),
                    &test_signer(),
                    &base,
                    "eu-west-1",
                    "2026-11-20T13:00:00Z".parse().unwrap(),
                    std::slice::from_ref(&t.files[2]),
                    None,
                    false,
                )
                .unwrap();
            }
            "log file injected" => {
                let k = log_key(&base, "eu-west-1", "20261120T1010Z", "injected");
                write_log(t.dir.path(), &k, "evt-injected", "");
            }
            _ => {}
        }
        upload(&bucket, t.dir.path()).await;
        match case {
            "log file deleted" => delete(&bucket, &t.files[0]).await,
            "one byte of a record changed" => {
                let path = t.dir.path().join(&t.files[1]);
                let plain = agenttrail::decode::gzip::gunzip_capped(
                    &std::fs::read(&path).unwrap(),
                    1 << 20,
                )
                .unwrap();
                let changed = String::from_utf8(plain)
                    .unwrap()
                    .replace("GetObject", "GetObjecT");
                crate::s3::client()
                    .put_object()
                    .bucket(&bucket)
                    .key(&t.files[1])
                    .body(gz(changed.as_bytes()).into())
                    .send()
                    .await
                    .unwrap();
            }
            "digest deleted" => delete(&bucket, &t.digests[1].key).await,
            "digest altered" => {
                // The first digest's body changes (one more log file claimed); its signature,
                // in the metadata, stays.
                let path = t.dir.path().join(&t.digests[0].key);
                let plain = agenttrail::decode::gzip::gunzip_capped(
                    &std::fs::read(&path).unwrap(),
                    1 << 20,
                )
                .unwrap();
                let mut d: Value = serde_json::from_slice(&plain).unwrap();
                d["digestStartTime"] = "2026-11-20T09:59:59Z".into();
                let meta: Value = serde_json::from_str(
                    &std::fs::read_to_string(format!("{}.metadata.json", path.display())).unwrap(),
                )
                .unwrap();
                let body = serde_json::to_vec(&d).unwrap();
                crate::s3::client()
                    .put_object()
                    .bucket(&bucket)
                    .key(&t.digests[0].key)
                    .metadata("signature", meta["signature"].as_str().unwrap())
                    .body(gz(&body).into())
                    .send()
                    .await
                    .unwrap();
            }
            _ => {}
        }
        let (rows, err) = verify(&bucket, &keys, None);
        let found = problems(&rows);
        assert_eq!(found, expected(&t), "{case}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_publishes_the_integrity_metrics_and_a_rerun_does_not_check_settled_digests() {
    let bucket = crate::s3::unique("integrity-run");
    let base = format!("AWSLogs/{ACCT}");
    let t = trail(&bucket, &base);
    upload(&bucket, t.dir.path()).await;
    delete(&bucket, &t.files[0]).await;
    let lake = tempfile::tempdir().unwrap();
    let namespace = format!("AgentTrailIntegrity{}", std::process::id());
    let started = chrono::Utc::now();
    let job = || {
        let mut cmd = agenttrail();
        crate::publish::with_aws(&mut cmd)
            .env("AWS_ENDPOINT_URL", crate::s3::endpoint())
            .args([
                "--log-format",
                "json",
                "run",
                "--publish",
                "--namespace",
                &namespace,
            ])
            .arg("--source")
            .arg(format!("s3://{bucket}"))
            .arg("--lake")
            .arg(lake.path())
            .arg("--public-keys")
            .arg(keys_of(&t));
        run(&mut cmd)
    };
    let out = job();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = |text: &str| -> Value {
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|l| l["target"] == "agenttrail::summary")
            .unwrap()["fields"]["summary"]["integrity"]
            .clone()
    };
    let first = summary(&stderr(&out));
    assert_eq!(first["digests_checked"], 3, "{first}");
    assert_eq!(first["problems"]["missing"], 1, "{first}");
    assert_eq!(first["metrics"]["LogFilesMissing"], 1, "{first}");
    // The finding is in the lake and in the detection.
    let status = crate::util::query(
        lake.path(),
        "SELECT status FROM integrity_status WHERE status <> 'valid'",
    )
    .await;
    assert_eq!(status, vec![vec!["missing".to_string()]]);

    // Published through CloudWatch (moto): the job metric and the detection's finding.
    let cw = crate::publish::client();
    let max = |metric: &'static str, dims: Vec<(&'static str, &'static str)>| {
        let cw = cw.clone();
        let namespace = namespace.clone();
        async move {
            let mut req = cw
                .get_metric_statistics()
                .namespace(namespace)
                .metric_name(metric)
                .start_time(AwsDateTime::from_secs(started.timestamp() - 600))
                .end_time(AwsDateTime::from_secs(started.timestamp() + 3600))
                .period(60)
                .statistics(Statistic::Maximum);
            for (k, v) in dims {
                req = req.dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name(k)
                        .value(v)
                        .build(),
                );
            }
            let resp = req.send().await.unwrap();
            resp.datapoints()
                .iter()
                .filter_map(|d| d.maximum())
                .fold(0.0, f64::max)
        }
    };
    assert_eq!(max("LogFilesMissing", vec![]).await, 1.0);
    assert_eq!(max("LogFilesModified", vec![]).await, 0.0);
    assert_eq!(max("DigestsInvalid", vec![]).await, 0.0);
    assert_eq!(max("DigestChainGaps", vec![]).await, 0.0);
    assert_eq!(
        max("Findings", vec![("Detection", "log_integrity")]).await,
        1.0
    );

    // The next run finds everything settled: no digest is fetched again.
    let out = job();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let second = summary(&stderr(&out));
    assert_eq!(second["digests_checked"], 0, "{second}");
    assert_eq!(second["digests_settled"], 3, "{second}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_replaced_after_its_check_is_caught_and_its_events_are_marked_tainted() {
    let base = format!("AWSLogs/{ACCT}");
    let t = trail("example-trail-bucket", &base);
    let lake = tempfile::tempdir().unwrap();
    let ingest = || {
        run(agenttrail()
            .args(["ingest", "--source"])
            .arg(t.dir.path())
            .arg("--lake")
            .arg(lake.path()))
    };
    let out = ingest();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("digests: 3 checked"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("no problems"), "{}", stderr(&out));
    assert_eq!(
        crate::util::query(lake.path(), "SELECT count(*) FROM tainted_events").await,
        vec![vec!["0".to_string()]]
    );
    // The file is replaced (a record edited) after the check: ingest reads the new version, and
    // the check compares its hash with the settled digest's without fetching the digest again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_log(t.dir.path(), &t.files[1], "evt-1", " ");
    let out = ingest();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "digests: 0 checked, 3 settled earlier; log files fetched for hashing: 0; modified 1"
        ),
        "{}",
        stderr(&out)
    );
    let rows = crate::util::query(
        lake.path(),
        "SELECT event_id, integrity_status FROM tainted_events",
    )
    .await;
    assert_eq!(
        rows,
        vec![vec!["evt-1".to_string(), "modified".to_string()]]
    );
}

#[test]
fn a_generated_day_with_digests_verifies_clean_and_one_deleted_file_is_missing() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(agenttrail()
        .args([
            "synth",
            "--events",
            "3000",
            "--records-per-file",
            "500",
            "--digests",
            "--out",
        ])
        .arg(out_dir.path()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let verify = || {
        run(agenttrail()
            .args([
                "verify",
                "--fail-on-problems",
                "--format",
                "csv",
                "--source",
            ])
            .arg(out_dir.path()))
    };
    let out = verify();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("no problems"), "{}", stderr(&out));
    let victim = crate::util::log_files(out_dir.path()).remove(0);
    std::fs::remove_file(&victim).unwrap();
    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert!(
        rows[0].starts_with(&format!("{},log-file,missing,", victim.display())),
        "{text}"
    );
}
