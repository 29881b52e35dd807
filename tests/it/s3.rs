//! Ingest from S3 through a real S3-protocol server on 127.0.0.1 (moto, started by
//! `scripts/test.sh`), reached through the SDK's standard `AWS_ENDPOINT_URL` setting.
//!
//! These tests fail, never skip, when the server is missing.

use std::path::Path;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;

use crate::util::{agenttrail, log_files, query, run, sample_logs, stderr};

pub(crate) fn endpoint() -> String {
    let ep = std::env::var("AGENTTRAIL_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!("AGENTTRAIL_TEST_S3_ENDPOINT is not set: run the tests through scripts/test.sh, which starts the local S3 server")
    });
    assert!(
        ep.starts_with("http://127.0.0.1:"),
        "tests only talk to loopback, got {ep}"
    );
    ep
}

pub(crate) fn client() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Upload the log files of `root` (a trail folder) under `prefix`: digests and keys are left out,
/// since they are signed for one bucket and prefix (see `upload_signed_trail`).
pub(crate) async fn upload_tree(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    root: &Path,
) -> usize {
    upload(c, bucket, prefix, root, false).await
}

/// sample-logs/ with digests signed (test key) for `bucket`, uploaded whole; without a key file,
/// so a check asks CloudTrail for the keys (which moto does not serve: the digests are then
/// `key-unknown`, as for a job without `cloudtrail:ListPublicKeys`).
pub(crate) async fn upload_signed_sample(c: &aws_sdk_s3::Client, bucket: &str) {
    let signed = tempfile::tempdir().unwrap();
    crate::util::copy_tree(&sample_logs(), signed.path());
    let out = run(agenttrail()
        .args(["synth-digests", "--bucket", bucket, "--trail"])
        .arg(signed.path()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::remove_file(signed.path().join("public-keys.json")).unwrap();
    upload_signed_trail(c, bucket, signed.path()).await;
}

/// Upload a trail folder whole, as CloudTrail delivers it: each digest with its signature as
/// S3 object metadata (from the `<digest>.metadata.json` beside it, which is not uploaded).
pub(crate) async fn upload_signed_trail(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    root: &Path,
) -> usize {
    upload(c, bucket, "", root, true).await
}

async fn upload(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    root: &Path,
    digests: bool,
) -> usize {
    c.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let is_digest = rel.contains("/CloudTrail-Digest/") || rel == "public-keys.json";
            if (is_digest && !digests) || rel.ends_with(".metadata.json") {
                continue;
            }
            let mut put = c
                .put_object()
                .bucket(bucket)
                .key(format!("{prefix}{rel}"))
                .body(ByteStream::from(std::fs::read(&p).unwrap()));
            let meta = format!("{}.metadata.json", p.display());
            if let Ok(text) = std::fs::read_to_string(&meta) {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                for (k, val) in v.as_object().unwrap() {
                    put = put.metadata(k, val.as_str().unwrap());
                }
            }
            put.send().await.expect("put");
            n += 1;
        }
    }
    n
}

pub(crate) fn unique(name: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{}", std::process::id(), t % 1_000_000_000)
}

fn s3_ingest(source: &str, lake: &Path, extra: &[&str]) -> std::process::Output {
    run(agenttrail()
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .args(["ingest", "--source", source, "--lake"])
        .arg(lake)
        .args(extra))
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_from_s3_matches_the_local_ingest_and_pages_through_listings() {
    let c = client();
    let bucket = unique("trail");
    let uploaded = upload_tree(&c, &bucket, "", &sample_logs()).await;
    assert_eq!(
        uploaded, 15,
        "14 logs, 1 README (digests are signed for another bucket)"
    );

    let local = tempfile::tempdir().unwrap();
    let out = run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(local.path()));
    assert_eq!(out.status.code(), Some(0));

    let lake = tempfile::tempdir().unwrap();
    // Three keys per page: the 16 keys need six ListObjectsV2 pages.
    let out = s3_ingest(
        &format!("s3://{bucket}"),
        lake.path(),
        &["--list-page-size", "3"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("objects: 14 read, 1 skipped (not-json-gz 1), 0 failed; records: 220 ingested, 1 rejected, 1 duplicate"), "{err}");

    let sql = "SELECT dedup_key, event_time, event_name, access_key_id, user_agent, request_parameters FROM events ORDER BY 1";
    assert_eq!(
        query(lake.path(), sql).await,
        query(local.path(), sql).await
    );
    let objects = query(
        lake.path(),
        "SELECT DISTINCT source_object FROM events WHERE source_object NOT LIKE 's3://%'",
    )
    .await;
    assert!(objects.is_empty(), "{objects:?}");

    // A re-run lists only the recent delivery dates (the README at the root is not in one) and
    // reads nothing; a full scan lists everything again.
    let out = s3_ingest(&format!("s3://{bucket}"), lake.path(), &[]);
    assert!(
        stderr(&out).contains("objects: 0 read, 14 skipped (already-ingested 14)"),
        "{}",
        stderr(&out)
    );
    let out = s3_ingest(&format!("s3://{bucket}"), lake.path(), &["--full-scan"]);
    assert!(
        stderr(&out).contains("objects: 0 read, 15 skipped (already-ingested 14, not-json-gz 1)"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn organization_trails_under_a_prefix_with_account_and_region_filters() {
    let c = client();
    let bucket = unique("org");
    let staged = tempfile::tempdir().unwrap();
    // Re-lay the sample logs as an organization trail under a prefix.
    for f in log_files(&sample_logs()) {
        let rel = f.strip_prefix(sample_logs().join("AWSLogs")).unwrap();
        let dst = staged.path().join("AWSLogs/o-exampleorg1").join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&f, dst).unwrap();
    }
    upload_tree(&c, &bucket, "trails/prod/", staged.path()).await;
    c.put_object()
        .bucket(&bucket)
        .key("other/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/x.json.gz")
        .body(ByteStream::from_static(b"outside the prefix"))
        .send()
        .await
        .unwrap();

    let lake = tempfile::tempdir().unwrap();
    let out = s3_ingest(
        &format!("s3://{bucket}/trails/prod/"),
        lake.path(),
        &["--account", "111122223333", "--region", "eu-west-1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("objects: 9 read, 5 skipped (filtered 5), 0 failed"),
        "{}",
        stderr(&out)
    );
    let regions = query(lake.path(), "SELECT DISTINCT source_object LIKE '%/AWSLogs/o-exampleorg1/111122223333/CloudTrail/eu-west-1/%' FROM events").await;
    assert_eq!(regions, vec![vec!["true".to_string()]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_is_a_clear_error() {
    let lake = tempfile::tempdir().unwrap();
    let out = s3_ingest("s3://no-such-bucket-agenttrail", lake.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("failed to list s3://no-such-bucket-agenttrail/")
            && err.contains("NoSuchBucket"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lake_on_s3_is_shared_through_fresh_caches() {
    let c = client();
    let bucket = unique("lake");
    c.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let lake_uri = format!("s3://{bucket}/agenttrail");
    let with_cache = |cache: &Path, args: &[&str]| {
        run(agenttrail()
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AGENTTRAIL_CACHE_DIR", cache)
            .args(args))
    };
    let sample = sample_logs();
    let sample = sample.to_str().unwrap();
    let first = tempfile::tempdir().unwrap();
    let out = with_cache(
        first.path(),
        &["ingest", "--source", sample, "--lake", &lake_uri],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The lake is Delta tables in place on S3: data files, and one log entry per commit step.
    let keys = c
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("agenttrail/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = keys.contents().iter().filter_map(|o| o.key()).collect();
    for want in [
        "agenttrail/events/event_date=2026-11-20/part-",
        "agenttrail/events/_delta_log/00000000000000000000.json",
        "agenttrail/rejects/part-",
        "agenttrail/ingested/_delta_log/00000000000000000000.json",
    ] {
        assert!(
            keys.iter().any(|k| k.starts_with(want)),
            "{want} missing from {keys:?}"
        );
    }
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("_manifest") || k.contains("_staging")),
        "{keys:?}"
    );

    // Another machine (a fresh cache) sees the same lake and does not ingest anything again.
    let second = tempfile::tempdir().unwrap();
    let out = with_cache(
        second.path(),
        &[
            "query",
            "--format",
            "csv",
            "--lake",
            &lake_uri,
            "SELECT count(*) AS n, count(*) FILTER (WHERE is_ai) AS ai FROM events",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(crate::util::stdout(&out), "n,ai\n220,36\n");
    let third = tempfile::tempdir().unwrap();
    let out = with_cache(
        third.path(),
        &["ingest", "--source", sample, "--lake", &lake_uri],
    );
    assert!(stderr(&out).contains("objects: 0 read"), "{}", stderr(&out));
}

/// A scheduled run over a month of history lists only where new objects can be: the
/// account/Region folders (delimiter listings), then the delivery dates from the latest one
/// ingested minus the look-back to tomorrow. Counted through the recording proxy, not timed.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_lists_only_recent_delivery_dates_and_still_reads_a_late_file() {
    let c = client();
    let bucket = unique("history");
    c.create_bucket()
        .bucket(bucket.as_str())
        .send()
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    let put = |key: String, id: String| {
        let c = c.clone();
        let bucket = bucket.clone();
        async move {
            let body = format!(
                r#"{{"Records":[{{"eventTime":"2026-11-20T10:00:00Z","eventName":"GetObject","eventID":"{id}"}}]}}"#
            );
            c.put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(crate::util::gz(body.as_bytes())))
                .send()
                .await
                .unwrap();
        }
    };
    let bases = ["AWSLogs/111122223333", "AWSLogs/o-abc123def4/444455556666"];
    let regions = ["eu-west-1", "us-east-1"];
    let key = |base: &str, region: &str, day: chrono::NaiveDate, name: &str| {
        let acct = base.rsplit('/').next().unwrap();
        format!(
            "{base}/CloudTrail/{region}/{}/{acct}_CloudTrail_{region}_{}T0000Z_{name}.json.gz",
            day.format("%Y/%m/%d"),
            day.format("%Y%m%d")
        )
    };
    let mut n = 0;
    for base in bases {
        for region in regions {
            for back in 0..30 {
                let day = today - chrono::Duration::days(back);
                put(key(base, region, day, "h"), format!("h-{n}")).await;
                n += 1;
            }
        }
    }
    let lake = tempfile::tempdir().unwrap();
    let proxy = crate::fault_proxy::FaultProxy::start(&endpoint(), |_, _| None);
    let ingest_paged = |page: &str, extra: &[&str]| {
        run(agenttrail()
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .args(["ingest", "--source", &format!("s3://{bucket}"), "--lake"])
            .arg(lake.path())
            .args(["--list-page-size", page])
            .args(extra))
    };
    let ingest = |extra: &[&str]| ingest_paged("10", extra);
    let lists = || -> u32 {
        proxy
            .identities()
            .iter()
            .filter(|id| id.contains("list-type=2"))
            .map(|id| proxy.count(id))
            .sum()
    };
    // The first run has no ledger: it lists everything (120 keys, 10 a page).
    let out = ingest(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("objects: 120 read"),
        "{}",
        stderr(&out)
    );
    let first = lists();
    assert_eq!(first, 12, "120 keys in pages of 10: {}", stderr(&out));

    // New today, and a file delivered late into yesterday's folder of another account.
    put(key(bases[0], regions[0], today, "new"), "new-1".into()).await;
    put(
        key(
            bases[1],
            regions[1],
            today - chrono::Duration::days(1),
            "late",
        ),
        "late-1".into(),
    )
    .await;
    let out = ingest(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("objects: 2 read"), "{err}");
    let second = lists() - first;
    // Discovery: the root, AWSLogs/, the org folder, 2 accounts, 2 CloudTrail folders = 7; then
    // each of the 4 Region folders once, from today - 2 (StartAfter) on: 3 or 4 keys, one page
    // (the 27 older days of each folder are not listed).
    let prefixes = 4;
    assert_eq!(second, 7 + prefixes, "{err}");
    assert!(err.contains(&format!("{second} list requests")), "{err}");
    let ids = crate::util::query(
        lake.path(),
        "SELECT event_id FROM events WHERE event_id IN ('new-1', 'late-1') ORDER BY 1",
    )
    .await;
    assert_eq!(
        ids,
        vec![vec!["late-1".to_string()], vec!["new-1".to_string()]]
    );

    // --full-scan lists everything again, as a periodic catch-up would.
    let before = lists();
    let out = ingest(&["--full-scan"]);
    assert!(
        stderr(&out).contains("objects: 0 read, 122 skipped"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lists() - before, 13);

    // So does a run whose last full scan is a week old (the catch-up needs no schedule of its
    // own); it records the new one, and the next run lists by date again.
    let week_ago = chrono::Utc::now() - chrono::Duration::days(8);
    std::fs::write(lake.path().join("_full_scan"), week_ago.to_rfc3339()).unwrap();
    let before = lists();
    let out = ingest(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lists() - before, 13, "{}", stderr(&out));
    let before = lists();
    let out = ingest(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lists() - before, 7 + prefixes);

    // --until ends each folder's listing at the first key past it. One key a page: the 9 keys of
    // today - 2 and today - 1 (the late file among them), then one page per folder that reaches
    // today's first key and stops (each folder holds 1 or 2 more keys after it).
    let before = lists();
    let until = (today - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let out = ingest_paged("1", &["--until", &until]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("objects: 0 read, 9 skipped"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lists() - before, 7 + 9 + prefixes, "{}", stderr(&out));
}
