//! Kill `agenttrail ingest` with SIGKILL at pseudo-random moments, re-run, and check the lake
//! equals the lake of one uninterrupted run: same events, no duplicate rows, no orphan or partial
//! file visible, manifest consistent.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use agenttrail::sink::Lake;

use crate::util::{agenttrail, query, scalar, stderr};

fn ingest_cmd(src: &Path, lake: &Path) -> std::process::Command {
    let mut c = agenttrail();
    c.args([
        "-q",
        "ingest",
        "--commit-rows",
        "400",
        "--fetch-concurrency",
        "4",
        "--source",
    ])
    .arg(src)
    .arg("--lake")
    .arg(lake);
    c
}

fn parquet_files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_any_moment_then_rerun_gives_the_uninterrupted_lake() {
    let data = tempfile::tempdir().unwrap();
    let opts = agenttrail::synth::SynthOptions {
        events: 12_000,
        seed: 11,
        records_per_file: 150,
        ..Default::default()
    };
    agenttrail::synth::generate(data.path(), &opts).unwrap();

    let reference = tempfile::tempdir().unwrap();
    let out = ingest_cmd(data.path(), reference.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ref_keys = query(reference.path(), "SELECT dedup_key FROM events ORDER BY 1").await;
    let ref_rows = scalar(reference.path(), "SELECT count(*) FROM events_all").await;

    let lake = tempfile::tempdir().unwrap();
    let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
    let mut killed_mid_run = 0;
    for _ in 0..20 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = Duration::from_millis(10 + rng % 150);
        let mut child = ingest_cmd(data.path(), lake.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Between kills, what a reader sees is always a whole set of commits: no duplicate rows.
        let rows = scalar(
            lake.path(),
            "SELECT count(*) - count(DISTINCT dedup_key) FROM events_all",
        )
        .await;
        assert_eq!(rows, "0", "a partial or repeated commit is visible");
    }
    eprintln!("crash test: {killed_mid_run} of 20 SIGKILLs hit a running ingest");
    assert!(
        killed_mid_run >= 10,
        "only {killed_mid_run} of 20 kills hit a running ingest: raise the data size"
    );

    let out = ingest_cmd(data.path(), lake.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        query(lake.path(), "SELECT dedup_key FROM events ORDER BY 1").await,
        ref_keys
    );
    assert_eq!(
        scalar(lake.path(), "SELECT count(*) FROM events_all").await,
        ref_rows,
        "no row stored twice"
    );

    // Manifest consistency: every source once, every file on disk named by a commit and vice versa.
    let manifest = Lake::open(lake.path()).manifest().unwrap();
    let sources: Vec<&str> = manifest
        .commits
        .iter()
        .flat_map(|c| c.sources.iter().map(|s| s.uri.as_str()))
        .collect();
    let unique: BTreeSet<&str> = sources.iter().copied().collect();
    assert_eq!(
        sources.len(),
        unique.len(),
        "a source object is in two commits"
    );
    let named: BTreeSet<String> = manifest
        .commits
        .iter()
        .flat_map(|c| c.files.iter().map(|f| f.path.clone()))
        .collect();
    let mut on_disk = BTreeSet::new();
    for table in ["events", "rejects"]
        .iter()
        .chain(agenttrail::sink::SMALL_TABLES)
    {
        on_disk.extend(
            parquet_files(&lake.path().join(table))
                .into_iter()
                .map(|p| format!("{table}/{p}")),
        );
    }
    assert_eq!(on_disk, named, "orphan or missing files");
    assert!(!lake.path().join("_staging").exists());
}
