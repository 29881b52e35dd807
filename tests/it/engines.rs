//! The lake is Delta Lake that another engine reads as agenttrail does: DuckDB's `delta`
//! extension (not delta-rs) gets exactly agenttrail's events, on a local lake and on an S3 lake
//! in moto, after many small commits, `optimize`, `vacuum`, and concurrent writers.

use std::path::Path;

use serde_json::Value;

use crate::util::{agenttrail, query, run, sample_logs, scalar, stderr, stdout};

/// What DuckDB reads from an `events` table (see `duckdb_reader.py`).
pub(crate) fn duckdb_reads(table: &str, endpoint: Option<&str>) -> Value {
    let python = std::env::var("AGENTTRAIL_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("AGENTTRAIL_TEST_PYTHON is not set: run the tests through scripts/test.sh, which installs DuckDB and its delta extension")
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/duckdb_reader.py");
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script).arg(table);
    if let Some(e) = endpoint {
        cmd.arg(e)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
    }
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "duckdb: {}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

/// The same figures, from agenttrail's own reading of a local lake.
pub(crate) async fn agenttrail_reads(lake: &Path) -> (u64, u64, String) {
    use sha2::Digest;
    let rows: u64 = scalar(lake, "SELECT count(*) FROM events_all")
        .await
        .parse()
        .unwrap();
    let distinct: u64 = scalar(lake, "SELECT count(DISTINCT dedup_key) FROM events_all")
        .await
        .parse()
        .unwrap();
    let mut h = sha2::Sha256::new();
    for r in query(
        lake,
        "SELECT dedup_key, CAST(event_time AS BIGINT), event_name FROM events_all ORDER BY 1",
    )
    .await
    {
        h.update(format!("{}\t{}\t{}\n", r[0], r[1], r[2]).as_bytes());
    }
    (rows, distinct, hex::encode(h.finalize()))
}

pub(crate) fn assert_same(duck: &Value, ours: &(u64, u64, String)) {
    assert_eq!(duck["rows"], ours.0, "{duck}");
    assert_eq!(duck["distinct"], ours.1, "{duck}");
    assert_eq!(
        duck["rows"], duck["distinct"],
        "a duplicate reached events: {duck}"
    );
    assert_eq!(
        duck["sha256"],
        ours.2.as_str(),
        "a different event set: {duck}"
    );
}

/// The `AWSLogs/<account>/CloudTrail/<region>/` folders of a trail folder.
fn region_prefixes(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for account in std::fs::read_dir(root.join("AWSLogs")).unwrap().flatten() {
        let ct = account.path().join("CloudTrail");
        let Ok(regions) = std::fs::read_dir(&ct) else {
            continue;
        };
        for r in regions.flatten() {
            let rel = r
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push(format!("{rel}/"));
        }
    }
    out.sort();
    out
}

fn lake_cmd(lake: &Path, args: &[&str]) -> std::process::Output {
    let out = run(agenttrail()
        .arg("-q")
        .arg("lake")
        .args(args)
        .arg("--lake")
        .arg(lake));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

fn data_files(table: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![table.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if !p.ends_with("_delta_log") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "parquet") {
                n += 1;
            }
        }
    }
    n
}

/// 100 small commits, then `optimize` and `vacuum`: DuckDB reads agenttrail's rows at every
/// step, the file count drops, and no detection answer or query result changes.
#[tokio::test(flavor = "multi_thread")]
async fn duckdb_reads_a_local_lake_of_100_small_commits_before_and_after_optimize_and_vacuum() {
    let data = tempfile::tempdir().unwrap();
    let opts = agenttrail::synth::SynthOptions {
        events: 2_400,
        seed: 3,
        ..Default::default()
    };
    agenttrail::synth::generate(data.path(), &opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // One commit per object: 100 small commits, as a job run every few minutes makes.
    let out = run(agenttrail()
        .args([
            "-q",
            "ingest",
            "--commit-rows",
            "1",
            "--fetch-concurrency",
            "1",
            "--source",
        ])
        .arg(data.path())
        .arg("--lake")
        .arg(&lake));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The sample logs too (an event delivered twice, a reject), into the same lake.
    let out = run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(&lake));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = lake.join("events");
    let table = events.to_str().unwrap();

    let ours = agenttrail_reads(&lake).await;
    assert_eq!(ours.0, ours.1);
    assert_same(&duckdb_reads(table, None), &ours);
    let detect = |lake: &Path| {
        let out = run(agenttrail()
            .args(["-q", "detect", "--format", "json", "--lake"])
            .arg(lake));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let findings = detect(&lake);
    let classified = query(
        &lake,
        "SELECT dedup_key, is_ai, ai_mechanism, mcp_server FROM events ORDER BY 1",
    )
    .await;
    let files_before = data_files(&events);
    assert!(files_before >= 100, "{files_before} files");

    lake_cmd(&lake, &["optimize"]);
    let files_after = data_files(&events);
    assert_same(&duckdb_reads(table, None), &ours);
    assert_eq!(detect(&lake), findings);
    assert_eq!(
        query(
            &lake,
            "SELECT dedup_key, is_ai, ai_mechanism, mcp_server FROM events ORDER BY 1"
        )
        .await,
        classified
    );

    // The compacted-away files stay for readers of older versions until vacuum removes them.
    assert!(
        files_after > files_before,
        "optimize only adds until vacuum"
    );
    lake_cmd(&lake, &["vacuum", "--retention-hours", "0"]);
    let files_vacuumed = data_files(&events);
    assert!(
        files_vacuumed * 10 < files_before,
        "{files_before} files before optimize, {files_vacuumed} after optimize and vacuum"
    );
    assert_same(&duckdb_reads(table, None), &ours);
    assert_eq!(detect(&lake), findings);

    let info = lake_cmd(&lake, &["info", "--format", "json"]);
    let info: Value = serde_json::from_str(&stdout(&info)).unwrap();
    let ev = info
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "events")
        .unwrap();
    assert_eq!(ev["totals"]["rows"], ours.0);
    assert_eq!(ev["totals"]["files"], files_vacuumed as u64);
}

/// Four `agenttrail ingest` processes write one S3 lake at once, with overlapping prefixes; the
/// lake holds exactly the events of one process ingesting everything, and DuckDB reads them from
/// S3.
#[tokio::test(flavor = "multi_thread")]
async fn four_processes_write_one_s3_lake_and_duckdb_reads_it_from_s3() {
    let s3 = crate::s3::client();
    let bucket = crate::s3::unique("delta-lake");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let trail = crate::s3::unique("delta-trail");
    let data = tempfile::tempdir().unwrap();
    let opts = agenttrail::synth::SynthOptions {
        events: 3_000,
        seed: 9,
        records_per_file: 100,
        ..Default::default()
    };
    agenttrail::synth::generate(data.path(), &opts).unwrap();
    crate::s3::upload_tree(&s3, &trail, "", data.path()).await;

    let ingest = |source: &str, lake: &str| {
        crate::publish::with_aws(&mut agenttrail())
            .env("AWS_ENDPOINT_URL", crate::s3::endpoint())
            .args([
                "-q",
                "ingest",
                "--commit-rows",
                "300",
                "--source",
                source,
                "--lake",
                lake,
            ])
            .spawn()
            .unwrap()
    };
    let reference = format!("s3://{bucket}/reference");
    let out = ingest(&format!("s3://{trail}"), &reference)
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));

    // Two workers on the whole trail, two on one Region prefix each: every object is read by at
    // least two of them.
    let lake = format!("s3://{bucket}/agenttrail");
    let regions = region_prefixes(data.path());
    assert!(regions.len() >= 2, "{regions:?}");
    let sources = [
        format!("s3://{trail}"),
        format!("s3://{trail}"),
        format!("s3://{trail}/{}", regions[0]),
        format!("s3://{trail}/{}", regions[regions.len() - 1]),
    ];
    let children: Vec<_> = sources.iter().map(|s| ingest(s, &lake)).collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
    }

    let read = |uri: String| {
        let endpoint = crate::s3::endpoint();
        duckdb_reads(&format!("{uri}/events"), Some(&endpoint))
    };
    let theirs = read(lake.clone());
    let single = read(reference);
    assert_eq!(theirs["rows"], single["rows"], "{theirs} vs {single}");
    assert_eq!(
        theirs["rows"], theirs["distinct"],
        "a duplicate reached events"
    );
    assert_eq!(theirs["sha256"], single["sha256"], "a different event set");
    assert_eq!(theirs["types"]["source_index"], "BIGINT");
    assert_eq!(theirs["types"]["event_date"], "DATE");

    // agenttrail reads the same rows from S3 in place.
    let out = run(crate::publish::with_aws(&mut agenttrail())
        .env("AWS_ENDPOINT_URL", crate::s3::endpoint())
        .args([
            "query",
            "--format",
            "csv",
            "--lake",
            &lake,
            "SELECT count(*) AS n FROM events",
        ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("n\n{}", theirs["rows"]));
}

/// What `lake export-ddl --engine duckdb` prints is what a DuckDB user runs to attach the lake:
/// run as printed, every table's view holds the rows agenttrail holds.
#[tokio::test(flavor = "multi_thread")]
async fn the_exported_duckdb_ddl_attaches_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = run(agenttrail()
        .args(["-q", "run", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(&lake));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(agenttrail()
        .args(["lake", "export-ddl", "--engine", "duckdb", "--lake"])
        .arg(&lake));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ddl = stdout(&out);
    let python = std::env::var("AGENTTRAIL_TEST_PYTHON")
        .expect("AGENTTRAIL_TEST_PYTHON is not set: run the tests through scripts/test.sh");
    let out = crate::util::run_with_stdin(
        std::process::Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/duckdb_ddl.py"))
            .args(agenttrail::sink::TABLES),
        &ddl,
    );
    assert_eq!(out.status.code(), Some(0), "duckdb: {}", stderr(&out));
    let counts: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    for table in agenttrail::sink::TABLES {
        let name = if *table == "events" {
            "events_all"
        } else {
            table
        };
        let ours: u64 = scalar(&lake, &format!("SELECT count(*) FROM {name}"))
            .await
            .parse()
            .unwrap();
        assert_eq!(counts[table].as_u64(), Some(ours), "{table}: {counts}");
    }
    assert_eq!(
        counts["events"].as_u64(),
        Some(220),
        "the sample logs' events"
    );
}
