//! The lake's guarantees: re-runs change nothing, duplicates count once, order does not matter,
//! interrupted commits are invisible and vacuumed, concurrent writers store each event once, bad
//! objects do not stop a run.

use std::path::Path;

use agenttrail::ingest::{IngestOptions, NoProgress, ingest};
use agenttrail::sink::Lake;
use agenttrail::source::Source;

use crate::util::{copy_tree, files_under, gz, ingest_dir, log_files, query, sample_logs, scalar};

async fn event_ids(lake: &Path) -> Vec<String> {
    query(lake, "SELECT dedup_key FROM events ORDER BY dedup_key")
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sample_logs_ingest_with_the_documented_counts_and_a_rerun_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = ingest_dir(&sample_logs(), dir.path()).await;
    assert_eq!(s.objects_read, 14);
    assert_eq!(s.objects_skipped.get("digest"), Some(&16));
    assert_eq!(
        (s.records_ingested, s.records_rejected, s.records_duplicate),
        (220, 1, 1)
    );
    assert_eq!(
        scalar(dir.path(), "SELECT count(*) FROM events").await,
        "220"
    );
    let reject = query(
        dir.path(),
        "SELECT reason, event_id, record_index IS NOT NULL FROM rejects",
    )
    .await;
    assert_eq!(
        reject,
        vec![vec![
            "invalid-event-time".to_string(),
            "malformed-bad-time-0001".into(),
            "true".into()
        ]]
    );
    let commits_before = Lake::open(dir.path()).ledger().await.unwrap().commits;

    let again = ingest_dir(&sample_logs(), dir.path()).await;
    assert_eq!(again.objects_read, 0);
    assert_eq!(again.objects_skipped.get("already-ingested"), Some(&14));
    assert_eq!(again.commits, 0);
    assert_eq!(
        Lake::open(dir.path()).ledger().await.unwrap().commits,
        commits_before
    );
    assert_eq!(
        scalar(dir.path(), "SELECT count(*) FROM events").await,
        "220"
    );
}

/// The correlation facts ingest stores say what the events' JSON says: one credential fact per
/// STS call that issued credentials, one request fact per request id an MCP record names, one
/// grant per sign-in OAuth grant; and `sessions` has one row per credential issue.
#[tokio::test(flavor = "multi_thread")]
async fn each_commit_stores_the_facts_its_sts_mcp_and_signin_events_state() {
    let dir = tempfile::tempdir().unwrap();
    ingest_dir(&sample_logs(), dir.path()).await;
    let lake = dir.path();
    let from_json = scalar(
        lake,
        "SELECT count(*) FROM events WHERE event_source = 'sts.amazonaws.com' \
         AND event_name IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity', 'GetFederationToken') \
         AND error_code IS NULL \
         AND json_get_str(response_elements, 'credentials', 'accessKeyId') IS NOT NULL",
    )
    .await;
    assert_ne!(from_json, "0");
    assert_eq!(
        scalar(
            lake,
            "SELECT count(DISTINCT sts_event_id) FROM facts_credentials"
        )
        .await,
        from_json
    );
    assert_eq!(
        scalar(lake, "SELECT count(*) FROM sessions").await,
        from_json
    );
    // The fact names the access key the response issued, for every STS event.
    assert_eq!(
        scalar(
            lake,
            "SELECT count(*) FROM events e JOIN facts_credentials f ON f.sts_event_id = e.dedup_key \
             WHERE json_get_str(e.response_elements, 'credentials', 'accessKeyId') = f.access_key_id \
             AND f.issued_at = e.event_time AND f.caller_arn IS NOT DISTINCT FROM e.identity_arn",
        )
        .await,
        from_json
    );
    // One request fact per request id an MCP record names: its own and each downstream one.
    let mcp_request_ids = scalar(
        lake,
        "SELECT count(request_id) + sum(coalesce(json_length(additional_event_data, 'downstreamRequests'), 0)) \
         FROM events WHERE event_type = 'AwsMcpEvent'",
    )
    .await;
    assert_ne!(mcp_request_ids, "0");
    assert_eq!(
        scalar(lake, "SELECT count(*) FROM facts_mcp_requests").await,
        mcp_request_ids
    );
    let grants = scalar(
        lake,
        "SELECT count(*) FROM events WHERE event_source = 'signin.amazonaws.com' \
         AND event_name = 'CreateOAuth2Token' AND error_code IS NULL",
    )
    .await;
    assert_ne!(grants, "0");
    assert_eq!(
        scalar(
            lake,
            "SELECT count(DISTINCT event_id) FROM facts_signin_grants"
        )
        .await,
        grants
    );
    assert_ne!(
        scalar(lake, "SELECT count(*) FROM facts_mcp_announced").await,
        "0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_delivered_in_two_runs_appears_once_and_the_order_of_runs_does_not_matter() {
    let files = log_files(&sample_logs());
    let whole = tempfile::tempdir().unwrap();
    ingest_dir(&sample_logs(), whole.path()).await;
    // Every column but the provenance of the kept copy (`source_object`, `source_index`).
    let content = "SELECT * EXCLUDE (source_object, source_index) FROM events ORDER BY dedup_key";
    let expected_rows = query(whole.path(), content).await;

    // One object per run, in reverse order: the redelivered duplicate arrives in its own run.
    let lake = tempfile::tempdir().unwrap();
    let stage = tempfile::tempdir().unwrap();
    let mut duplicates = 0;
    for f in files.iter().rev() {
        let rel = f.strip_prefix(sample_logs()).unwrap();
        let _ = std::fs::remove_dir_all(stage.path().join("AWSLogs"));
        std::fs::create_dir_all(stage.path().join(rel).parent().unwrap()).unwrap();
        std::fs::copy(f, stage.path().join(rel)).unwrap();
        duplicates += ingest_dir(stage.path(), lake.path())
            .await
            .records_duplicate;
    }
    assert_eq!(duplicates, 1, "the run that met the second copy counts it");
    assert_eq!(
        scalar(lake.path(), "SELECT count(*) FROM events_all").await,
        "220",
        "the duplicate is stored once"
    );
    // Whichever copy was committed first, every answer but its provenance is the same.
    assert_eq!(query(lake.path(), content).await, expected_rows);
}

/// Two copies of an event in one commit: the copy of the smaller `(source_object, source_index)`
/// is stored, whichever is delivered (and so encoded into the commit's files) first. When the
/// kept copy comes second, the first copy is already written and is left out of the files when
/// the commit is written; the other rows of its object are kept.
#[tokio::test(flavor = "multi_thread")]
async fn the_copy_kept_in_one_commit_does_not_depend_on_which_was_written_first() {
    use crate::util::records::{call, user};
    let who = user("alice", "AKIAALICE");
    let record = |id: &str| {
        call(
            id,
            "2026-11-20T00:20:00Z",
            &who,
            "s3.amazonaws.com",
            "GetObject",
        )
    };
    // eu-west-1 sorts before us-east-1: its copy is the one to keep.
    for (eu_time, us_time) in [
        ("20261120T0035Z", "20261120T0030Z"),
        ("20261120T0030Z", "20261120T0035Z"),
    ] {
        let src = tempfile::tempdir().unwrap();
        let mut kept_object = String::new();
        for (region, time, ids) in [
            ("eu-west-1", eu_time, vec!["copy"]),
            ("us-east-1", us_time, vec!["before", "copy", "after"]),
        ] {
            let day = src.path().join(format!(
                "AWSLogs/111122223333/CloudTrail/{region}/2026/11/20"
            ));
            std::fs::create_dir_all(&day).unwrap();
            let path = day.join(format!("111122223333_CloudTrail_{region}_{time}_x.json.gz"));
            let records: Vec<_> = ids.iter().map(|id| record(id)).collect();
            let body = serde_json::json!({ "Records": records }).to_string();
            std::fs::write(&path, gz(body.as_bytes())).unwrap();
            if region == "eu-west-1" {
                kept_object = path.display().to_string();
            }
        }
        let lake = tempfile::tempdir().unwrap();
        let summary = ingest_dir(src.path(), lake.path()).await;
        assert_eq!(
            (
                summary.records_ingested,
                summary.records_duplicate,
                summary.commits
            ),
            (3, 1, 1),
            "eu-west-1 delivered at {eu_time}"
        );
        // `events_all`: the stored rows themselves, before the query layer's de-duplication.
        let rows = query(
            lake.path(),
            "SELECT dedup_key, source_object FROM events_all ORDER BY dedup_key",
        )
        .await;
        let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            ids,
            ["after", "before", "copy"],
            "eu-west-1 delivered at {eu_time}"
        );
        assert_eq!(rows[2][1], kept_object, "eu-west-1 delivered at {eu_time}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn files_of_an_interrupted_commit_are_invisible_and_vacuum_removes_only_them() {
    let dir = tempfile::tempdir().unwrap();
    ingest_dir(&sample_logs(), dir.path()).await;
    let day = dir.path().join("events/event_date=2026-11-20");
    let committed: Vec<_> = std::fs::read_dir(&day)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // What a writer that died before its log entry leaves behind: a whole data file no version
    // names, and a half-written one.
    let orphan = day.join("part-00000-orphan-c000.zstd.parquet");
    std::fs::copy(&committed[0], &orphan).unwrap();
    let half = day.join("part-00001-half-c000.zstd.parquet");
    std::fs::write(&half, b"PAR1 half written").unwrap();

    assert_eq!(
        scalar(dir.path(), "SELECT count(*) FROM events_all").await,
        "220",
        "orphans are not read"
    );
    let lake = Lake::open(dir.path());
    let retention = chrono::Duration::zero();
    let dry = agenttrail::sink::maintain::vacuum(&lake, retention, true)
        .await
        .unwrap();
    let listed: usize = dry.iter().map(|t| t.files.len()).sum();
    assert_eq!(listed, 2, "{dry:?}");
    assert!(orphan.exists(), "a dry run deletes nothing");
    agenttrail::sink::maintain::vacuum(&lake, retention, false)
        .await
        .unwrap();
    assert!(!orphan.exists() && !half.exists());
    assert!(
        committed.iter().all(|p| p.exists()),
        "a committed file was deleted"
    );
    assert_eq!(
        scalar(dir.path(), "SELECT count(*) FROM events").await,
        "220"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_object_is_recorded_and_does_not_stop_the_run() {
    let src = tempfile::tempdir().unwrap();
    copy_tree(&sample_logs(), src.path());
    let day = src
        .path()
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20");
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20261120T2300Z_notgzip.json.gz"),
        b"{\"Records\":[]}",
    )
    .unwrap();
    let full = gz(br#"{"Records":[{"eventTime":"2026-11-20T23:00:00Z","eventID":"t1"}]}"#);
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20261120T2305Z_truncated.json.gz"),
        &full[..full.len() - 9],
    )
    .unwrap();
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20261120T2310Z_norecords.json.gz"),
        gz(b"{\"records\":[]}"),
    )
    .unwrap();
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20261120T2320Z_empty.json.gz"),
        b"",
    )
    .unwrap();
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20261120T2325Z_recordsobject.json.gz"),
        gz(b"{\"Records\":{\"eventID\":\"x\"}}"),
    )
    .unwrap();
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20261120T2315Z_notjson.json.gz"),
        gz(b"{\"Records\":[{\"a\":"),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let s = ingest_dir(src.path(), dir.path()).await;
    // Every good record is kept, including t1, read from the damaged gzip before its damage.
    assert_eq!(s.records_ingested, 221, "every good record is kept");
    assert_eq!(
        scalar(
            dir.path(),
            "SELECT count(*) FROM events WHERE event_id = 't1'"
        )
        .await,
        "1"
    );
    let mut failed: Vec<String> = s
        .objects_failed
        .iter()
        .map(|(u, e)| format!("{} {}", u.rsplit('_').next().unwrap(), e))
        .collect();
    failed.sort();
    assert_eq!(failed.len(), 5, "{failed:?}");
    assert!(
        failed[0].starts_with("empty.json.gz empty-object: the object is empty"),
        "{failed:?}"
    );
    assert!(
        failed[1].starts_with("norecords.json.gz no-records: the object has no \"Records\" key"),
        "{failed:?}"
    );
    assert!(
        failed[2].starts_with("notgzip.json.gz not-gzip: the object is not gzip"),
        "{failed:?}"
    );
    assert!(
        failed[3].starts_with(
            "recordsobject.json.gz no-records: \"Records\" is not an array of objects"
        ),
        "{failed:?}"
    );
    assert!(
        failed[4].starts_with("truncated.json.gz corrupt-gzip: "),
        "{failed:?}"
    );
    let rejects = query(
        dir.path(),
        "SELECT regexp_replace(source_object, '^.*_', ''), coalesce(CAST(record_index AS VARCHAR), '-'), reason \
         FROM rejects WHERE source_object NOT LIKE '%redelivered%' AND reason <> 'invalid-event-time' ORDER BY 1, 3",
    )
    .await;
    let want: Vec<Vec<String>> = [
        ["empty.json.gz", "-", "empty-object"],
        ["norecords.json.gz", "-", "no-records"],
        ["notgzip.json.gz", "-", "not-gzip"],
        ["notjson.json.gz", "0", "truncated-record"],
        ["recordsobject.json.gz", "-", "no-records"],
        ["truncated.json.gz", "-", "corrupt-gzip"],
    ]
    .iter()
    .map(|r| r.iter().map(|c| c.to_string()).collect())
    .collect();
    assert_eq!(rejects, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_broken_record_costs_only_itself() {
    let src = tempfile::tempdir().unwrap();
    let day = src
        .path()
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20");
    std::fs::create_dir_all(&day).unwrap();
    let good = |i: u32| {
        format!(r#"{{"eventTime":"2026-11-20T10:00:00Z","eventID":"ok-{i}","eventName":"X"}}"#)
            .into_bytes()
    };
    let write = |name: &str, middle: &[u8], n: u32| {
        let mut body = b"{\"Records\":[".to_vec();
        body.extend(good(n));
        body.push(b',');
        body.extend_from_slice(middle);
        body.push(b',');
        body.extend(good(n + 1));
        body.extend_from_slice(b"]}");
        std::fs::write(
            day.join(format!(
                "111122223333_CloudTrail_us-east-1_20261120T1000Z_{name}.json.gz"
            )),
            gz(&body),
        )
        .unwrap();
    };
    write(
        "utf8",
        b"{\"eventTime\":\"2026-11-20T10:00:00Z\",\"eventID\":\"bad\",\"userAgent\":\"\xff\xfe\"}",
        1,
    );
    write(
        "nul",
        b"{\"eventTime\":\"2026-11-20T10:00:00Z\",\"eventID\":\"nul\",\"userAgent\":\"a\x00b\"}",
        3,
    );
    let deep = format!(
        r#"{{"eventTime":"2026-11-20T10:00:00Z","eventID":"deep","requestParameters":{}{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    write("deep", deep.as_bytes(), 5);
    write(
        "numbers",
        br#"{"eventTime":"2026-11-20T10:00:00Z","eventID":7,"eventName":42,"readOnly":1}"#,
        7,
    );
    write("not-an-object", b"\"just a string\"", 9);
    let huge = format!(
        r#"{{"eventTime":"2026-11-20T10:00:00Z","eventID":"huge","userAgent":"{}"}}"#,
        "x".repeat(12 << 20)
    );
    write("huge", huge.as_bytes(), 11);
    // Over the 16 MiB record cap: rejected, its neighbours kept.
    let giant = format!(
        r#"{{"eventTime":"2026-11-20T10:00:00Z","eventID":"giant","userAgent":"{}"}}"#,
        "x".repeat(100 << 20)
    );
    write("giant", giant.as_bytes(), 13);
    // Far beyond any recursive parser's limit: valid JSON, so kept (the field is stored as text
    // and never descended into at ingest), and queried below without overflowing a stack.
    let deeper = format!(
        r#"{{"eventTime":"2026-11-20T10:00:00Z","eventID":"deeper","requestParameters":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    write("deeper", deeper.as_bytes(), 15);
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20261120T1000Z_empty-records.json.gz"),
        gz(b"{\"Records\":[]}"),
    )
    .unwrap();
    std::fs::write(
        day.join("not-cloudtrail-layout.json.gz"),
        gz(&[b"{\"Records\":[".as_ref(), &good(99), b"]}"].concat()),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let s = ingest_dir(src.path(), dir.path()).await;
    assert!(s.objects_failed.is_empty(), "{:?}", s.objects_failed);
    let kept = query(dir.path(), "SELECT event_id FROM events ORDER BY 1")
        .await
        .concat();
    let mut want: Vec<String> = (1..=16).map(|i| format!("ok-{i}")).collect();
    want.extend([
        "7".to_string(),
        "deep".into(),
        "deeper".into(),
        "huge".into(),
        "ok-99".into(),
    ]);
    want.sort();
    assert_eq!(kept, want);
    let rejects = query(dir.path(), "SELECT regexp_replace(source_object, '^.*_', ''), record_index, reason FROM rejects ORDER BY 1").await;
    assert_eq!(
        rejects,
        vec![
            vec![
                "giant.json.gz".to_string(),
                "1".into(),
                "too-large-record".into()
            ],
            vec![
                "not-an-object.json.gz".to_string(),
                "1".into(),
                "not-an-object".into()
            ],
            vec!["nul.json.gz".to_string(), "1".into(), "invalid-json".into()],
            vec![
                "utf8.json.gz".to_string(),
                "1".into(),
                "invalid-utf8".into()
            ],
        ]
    );
    // JSON functions over every row, the deep ones included, and the classification view: the
    // query completes (a path into a document deeper than the JSON reader's limit is null).
    assert_eq!(
        query(
            dir.path(),
            "SELECT event_id, json_get(request_parameters, 0, 0, 0) IS NOT NULL, json_get_str(request_parameters, 'bucketName') IS NULL, is_ai FROM events WHERE event_id LIKE 'deep%' ORDER BY 1"
        )
        .await,
        vec![
            vec!["deep".to_string(), "true".into(), "true".into(), "false".into()],
            vec!["deeper".to_string(), "false".into(), "true".into(), "false".into()]
        ]
    );
    // Numbers where strings belong are kept as text.
    assert_eq!(
        query(
            dir.path(),
            "SELECT event_name, read_only FROM events WHERE event_id = '7'"
        )
        .await,
        vec![vec!["42".to_string(), "true".into()]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_bomb_stops_at_the_cap_and_is_named() {
    let src = tempfile::tempdir().unwrap();
    let day = src
        .path()
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20");
    std::fs::create_dir_all(&day).unwrap();
    let mut bomb =
        b"{\"Records\":[{\"eventTime\":\"2026-11-20T10:00:00Z\",\"eventID\":\"b\",\"userAgent\":\""
            .to_vec();
    bomb.extend(std::iter::repeat_n(b'a', 64 << 20));
    bomb.extend_from_slice(b"\"}]}");
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20261120T1000Z_bomb.json.gz"),
        gz(&bomb),
    )
    .unwrap();
    copy_tree(&sample_logs(), src.path());
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(lake_dir.path()).unwrap();
    let opts = IngestOptions {
        limits: agenttrail::decode::DecodeLimits {
            max_decompressed_bytes: 8 << 20,
            ..Default::default()
        },
        ..Default::default()
    };
    let s = ingest(
        &Source::Local {
            root: src.path().to_path_buf(),
        },
        &lake,
        &opts,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(s.records_ingested, 220, "the other objects are read");
    assert_eq!(s.objects_failed.len(), 1);
    assert!(
        s.objects_failed[0]
            .1
            .contains("too-large: the object decompresses to more than the 8388608-byte cap"),
        "{:?}",
        s.objects_failed
    );
}

/// Four ingests of the same objects into one lake at once (each overlaps every other): the lake
/// ends with the event set of one ingest, each event once, and every object in the ledger.
#[tokio::test(flavor = "multi_thread")]
async fn four_concurrent_ingests_of_overlapping_sources_store_each_event_once() {
    let data = tempfile::tempdir().unwrap();
    let opts = agenttrail::synth::SynthOptions {
        events: 3_000,
        seed: 5,
        records_per_file: 100,
        ..Default::default()
    };
    agenttrail::synth::generate(data.path(), &opts).unwrap();
    let reference = tempfile::tempdir().unwrap();
    ingest_dir(data.path(), reference.path()).await;

    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path()).unwrap();
    let source = Source::Local {
        root: data.path().to_path_buf(),
    };
    let options = IngestOptions {
        commit_rows: 500,
        ..IngestOptions::default()
    };
    let run = || ingest(&source, &lake, &options, &NoProgress);
    let (a, b, c, d) = tokio::join!(run(), run(), run(), run());
    for s in [a, b, c, d] {
        let s = s.unwrap();
        assert!(s.objects_failed.is_empty(), "{:?}", s.objects_failed);
    }
    assert_eq!(
        event_ids(dir.path()).await,
        event_ids(reference.path()).await
    );
    assert_eq!(
        scalar(
            dir.path(),
            "SELECT count(*) - count(DISTINCT dedup_key) FROM events_all"
        )
        .await,
        "0"
    );
    let again = ingest(&source, &lake, &options, &NoProgress).await.unwrap();
    assert_eq!(again.objects_read, 0, "every object is in the ledger");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_object_is_read_again_and_its_events_count_once() {
    // A new version of the same key (a changed ETag, or size and mtime locally) is ingested
    // again: its records are the events already stored, and each must appear exactly once.
    let src = tempfile::tempdir().unwrap();
    let dir = src
        .path()
        .join("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("111122223333_CloudTrail_eu-west-1_20261120T1000Z_x.json.gz");
    let body = |extra: &str| {
        format!(
            r#"{{"Records":[{{"eventTime":"2026-11-20T10:00:00Z","eventName":"GetObject","eventID":"a"}},{{"eventTime":"2026-11-20T10:01:00Z","eventName":"PutObject","eventID":"b"}}]}}{extra}"#
        )
    };
    std::fs::write(&file, gz(body("").as_bytes())).unwrap();
    let lake = tempfile::tempdir().unwrap();
    assert_eq!(
        ingest_dir(src.path(), lake.path()).await.records_ingested,
        2
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, gz(body("  ").as_bytes())).unwrap();
    let again = ingest_dir(src.path(), lake.path()).await;
    assert_eq!(again.objects_read, 1, "the new version is read");
    assert_eq!(
        again.records_duplicate, 2,
        "its events are in the lake already"
    );
    assert_eq!(
        query(lake.path(), "SELECT count(*) FROM lake_events").await,
        vec![vec!["2".to_string()]]
    );
    assert_eq!(
        query(lake.path(), "SELECT event_id FROM events ORDER BY 1").await,
        vec![vec!["a".to_string()], vec!["b".to_string()]]
    );
}

/// The access keys of the credential facts (and events) carry a Bloom filter per row group, and
/// a lookup of a few keys reads it: a key inside a file's min/max range that it does not hold
/// skips the file's row group (a scheduled run's lookups of keys issued outside the lake, such as
/// another account's sessions, then read nothing).
#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_by_access_key_skips_the_row_groups_whose_bloom_filter_lacks_it() {
    let dir = tempfile::tempdir().unwrap();
    ingest_dir(&sample_logs(), dir.path()).await;
    let lake = dir.path();
    let first = scalar(lake, "SELECT min(access_key_id) FROM facts_credentials").await;
    // Sorts right after the smallest key: inside that file's range, and in no file.
    let absent = format!("{first}0");
    let bloom = |table: &'static str, key: String| async move {
        let plan = query(
            lake,
            &format!("EXPLAIN ANALYZE SELECT * FROM {table} WHERE access_key_id IN ('{key}')"),
        )
        .await
        .into_iter()
        .map(|r| r.join(" "))
        .collect::<String>();
        let metric = plan
            .split("row_groups_pruned_bloom_filter=")
            .nth(1)
            .unwrap_or_else(|| panic!("no Bloom filter pruning in {plan}"));
        let (total, rest) = metric.split_once(" total → ").expect("total");
        let matched = rest.split_once(" matched").expect("matched").0;
        (
            total.parse::<u64>().unwrap(),
            matched.parse::<u64>().unwrap(),
        )
    };
    let (total, matched) = bloom("facts_credentials", absent.clone()).await;
    assert!(total >= 1, "{total} row groups checked");
    assert_eq!(matched, 0, "the absent key {absent} passed a Bloom filter");
    let (_, matched) = bloom("facts_credentials", first.clone()).await;
    assert!(matched >= 1, "the key {first} is there");
    let (_, matched) = bloom("events", absent).await;
    assert_eq!(matched, 0);
}

/// A pinned lake (`detect`'s) reads each table at the version it first opened, whatever is
/// committed after: every context, the kept state and the days computed again see one snapshot.
#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_lake_reads_each_table_at_the_version_it_first_opened() {
    let trail = |at: &str, id: &str| {
        let body = format!(
            r#"{{"Records":[{{"eventTime":"{at}","eventName":"GetObject","eventID":"{id}"}}]}}"#
        );
        crate::util::one_object_trail("20261120T1000Z", id, body.as_bytes())
    };
    let lake_dir = tempfile::tempdir().unwrap();
    let first = trail("2026-11-20T10:00:00Z", "a");
    ingest_dir(first.path(), lake_dir.path()).await;
    let lake = Lake::open(lake_dir.path());
    let pinned = lake.pinned();
    let opened = pinned
        .tables(&["events", agenttrail::sink::ledger::TABLE])
        .await
        .unwrap();
    let version = |t: &Option<deltalake::DeltaTable>| t.as_ref().and_then(|t| t.version());
    let (events_at, ledger_at) = (version(&opened[0]), version(&opened[1]));
    assert!(events_at.is_some() && ledger_at.is_some());

    let second = trail("2026-11-20T10:05:00Z", "b");
    ingest_dir(second.path(), lake_dir.path()).await;
    assert!(version(&lake.table("events").await.unwrap()) > events_at);
    // The pinned lake and its clones: the versions first opened, and a context of one snapshot.
    assert_eq!(version(&pinned.table("events").await.unwrap()), events_at);
    assert_eq!(
        version(
            &pinned
                .clone()
                .table(agenttrail::sink::ledger::TABLE)
                .await
                .unwrap()
        ),
        ledger_at
    );
    let settings = agenttrail::settings::Settings::default();
    let count = |lake: Lake| {
        let settings = settings.clone();
        async move {
            let ctx = agenttrail::query::build_context(&lake, &settings)
                .await
                .unwrap();
            let rows = ctx
                .sql("SELECT count(*) FROM events")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            arrow::util::display::array_value_to_string(rows[0].column(0), 0).unwrap()
        }
    };
    assert_eq!(count(pinned.clone()).await, "1");
    assert_eq!(count(lake.clone()).await, "2");
    assert_eq!(
        count(lake.pinned()).await,
        "2",
        "a new pin sees the new commit"
    );
}

/// Each events file holds its objects whole, in the order of their delivery time (the time in
/// the object's file name), on a table's first commit and on later ones: the page statistics a
/// window prunes by depend on it, and so does a file's content not depending on which fetch
/// finished first.
#[tokio::test(flavor = "multi_thread")]
async fn each_events_file_holds_its_objects_whole_in_the_order_of_their_delivery() {
    let data = tempfile::tempdir().unwrap();
    let lake = tempfile::tempdir().unwrap();
    // Two runs: the first creates the table, the second appends. Objects are listed by account
    // and Region before time, so they are listed out of time order.
    for (seed, day, events) in [(7, "2026-11-19", 12_000), (8, "2026-11-20", 3_000)] {
        let opts = agenttrail::synth::SynthOptions {
            events,
            seed,
            day: day.parse().unwrap(),
            records_per_file: 40,
        };
        agenttrail::synth::generate(data.path(), &opts).unwrap();
        ingest_dir(data.path(), lake.path()).await;
    }
    let files = files_under(&lake.path().join("events"), |p| {
        p.extension().is_some_and(|e| e == "parquet")
    });
    let (mut checked_objects, mut reordered) = (0, 0);
    for file in &files {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(file).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        // The objects in file order, one entry per run of rows of one object.
        let mut runs: Vec<String> = Vec::new();
        for batch in reader {
            use arrow::array::AsArray;
            let batch = batch.unwrap();
            let objects = batch
                .column_by_name("source_object")
                .unwrap()
                .as_string::<i32>();
            for object in objects.iter().map(Option::unwrap) {
                if runs.last().is_none_or(|o| o != object) {
                    runs.push(object.to_string());
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for object in &runs {
            assert!(seen.insert(object), "{object}'s rows are split in {file:?}");
        }
        // (delivery time, object): the time is the fourth `_` field of the file name.
        let delivered: Vec<(String, String)> = runs
            .iter()
            .map(|object| {
                let name = object.rsplit('/').next().unwrap();
                (name.split('_').nth(3).unwrap().to_string(), object.clone())
            })
            .collect();
        assert!(
            delivered.is_sorted(),
            "objects out of delivery order in {file:?}: {delivered:?}"
        );
        let mut listed = delivered.clone();
        listed.sort_by(|a, b| a.1.cmp(&b.1));
        reordered += usize::from(listed != delivered);
        checked_objects += runs.len();
    }
    // Both days (some 300 and 75 objects) were checked, and the objects were listed (by account
    // and Region first) in another order than they were delivered.
    assert!(
        checked_objects > 300,
        "{checked_objects} objects in {files:?}"
    );
    assert!(reordered > 0, "every file in listing order: {files:?}");
}
