//! Kill `agenttrail ingest` with SIGKILL at pseudo-random moments, re-run, and check the lake
//! equals the lake of one uninterrupted run: same events, no duplicate rows, no orphan or partial
//! file visible, every source object once in the ledger, and after `lake vacuum` every file on
//! disk named by its table.

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

    // Ledger consistency: every source object once (its ledger rows are the commit's last step).
    let ledger = Lake::open(lake.path()).ledger().await.unwrap();
    let sources: Vec<&str> = ledger.sources.iter().map(|s| s.uri.as_str()).collect();
    let unique: BTreeSet<&str> = sources.iter().copied().collect();
    assert_eq!(
        sources.len(),
        unique.len(),
        "a source object is in two commits"
    );
    // Files of killed writers are in no table version; `lake vacuum` deletes exactly those, and
    // then every data file on disk is named by its table and vice versa.
    let out = agenttrail()
        .args(["-q", "lake", "vacuum", "--retention-hours", "0", "--lake"])
        .arg(lake.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut named = BTreeSet::new();
    let mut on_disk = BTreeSet::new();
    for table in agenttrail::sink::TABLES {
        let root = lake.path().join(table);
        on_disk.extend(
            parquet_files(&root)
                .into_iter()
                .filter(|p| !p.starts_with("_delta_log"))
                .map(|p| format!("{table}/{p}")),
        );
        if let Some(t) = Lake::open(lake.path()).table(table).await.unwrap() {
            let base = std::path::absolute(&root).unwrap();
            named.extend(t.get_file_uris().unwrap().map(|u| {
                let path = u.strip_prefix("file://").unwrap_or(&u).to_string();
                let path = Path::new(&path)
                    .strip_prefix(&base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                format!("{table}/{}", percent_decode(&path))
            }));
        }
    }
    assert_eq!(on_disk, named, "orphan or missing files");
    assert_eq!(
        query(lake.path(), "SELECT dedup_key FROM events ORDER BY 1").await,
        ref_keys,
        "vacuum deleted nothing a table needs"
    );
    // Another engine reads the resumed lake as agenttrail does.
    let events = lake.path().join("events");
    crate::engines::assert_same(
        &crate::engines::duckdb_reads(events.to_str().unwrap(), None),
        &crate::engines::agenttrail_reads(lake.path()).await,
    );
}

/// File URIs are percent-encoded; the paths on disk are not.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
