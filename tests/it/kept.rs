//! Whole days of `ai_api_days` kept in the lake between runs (`query::kept`): reused while what
//! classified them is unchanged, computed again when a late fact or event changes it, and always
//! equal to what the lake as it is now says.

use agenttrail::query::kept;
use agenttrail::settings::Settings;
use agenttrail::sink::Lake;
use arrow::util::display::array_value_to_string;
use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::util::records::{assume_role, call, session, user};
use crate::util::{ingest_dir, one_object_trail, query};

const EXPIRES: &str = "Nov 21, 2026, 11:00:00 AM";

/// A day of November 2026.
fn nov(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, day).expect("a day of November")
}

/// Alice starts the AI agent's session (`agent-role`/`agent-1`, key `ASIAAGENT00000000001`, tagged
/// AI for MCP server `s3-tools` when `tagged`) at `at`.
fn assume_agent(id: &str, at: &str, tagged: bool) -> Value {
    assume_role(
        id,
        at,
        &user("alice", "AKIAALICE00000000001"),
        "agent-role",
        "agent-1",
        "ASIAAGENT00000000001",
        EXPIRES,
        tagged.then_some("s3-tools"),
    )
}

/// Ingest `records` as one more object (named `name`) into the lake.
async fn add(lake: &std::path::Path, name: &str, records: Vec<Value>) {
    let body = json!({ "Records": records }).to_string();
    let src = one_object_trail("20261121T1200Z", name, body.as_bytes());
    ingest_dir(src.path(), lake).await;
}

/// The kept days `[first, end)` as sorted text rows, and what `kept::days` did.
async fn kept_rows(
    lake: &std::path::Path,
    first: NaiveDate,
    end: NaiveDate,
) -> (Vec<String>, kept::KeptStats) {
    let lake = Lake::open(lake);
    let settings = Settings::default();
    let (batches, stats) = kept::days(&lake, &settings, first, end).await.unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = (0..b.num_columns())
                .map(|c| array_value_to_string(b.column(c), r).unwrap())
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    (rows, stats)
}

/// The same days of `ai_api_days` computed from the whole lake now.
async fn whole(lake: &std::path::Path) -> Vec<String> {
    let mut rows: Vec<String> = query(
        lake,
        "SELECT * FROM ai_api_days WHERE day >= '2026-11-20T00:00:00Z' AND day < '2026-11-22T00:00:00Z'",
    )
    .await
    .into_iter()
    .map(|r| r.join("|"))
    .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_days_are_reused_until_a_late_fact_or_event_changes_their_calls() {
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = lake_dir.path();
    let (d1, d3) = (nov(20), nov(22));
    let alice = user("alice", "AKIAALICE00000000001");
    let s3 = "s3.amazonaws.com";
    // Day 1: an AI agent's calls; a session whose AssumeRole is not in the lake yet; a chained
    // session whose parent's is not; a call without an access key named like no AI session yet.
    // Day 2: the agent again.
    add(
        lake,
        "base",
        vec![
            assume_agent("assume-agent", "2026-11-20T08:00:00Z", true),
            call(
                "agent-list",
                "2026-11-20T09:00:00Z",
                &session(Some("ASIAAGENT00000000001"), "agent-role", "agent-1"),
                s3,
                "ListBuckets",
            ),
            call(
                "agent-get",
                "2026-11-21T09:00:00Z",
                &session(Some("ASIAAGENT00000000001"), "agent-role", "agent-1"),
                s3,
                "GetObject",
            ),
            call(
                "orphan-call",
                "2026-11-20T01:00:00Z",
                &session(Some("ASIAORPHAN0000000001"), "worker-role", "w1"),
                "ec2.amazonaws.com",
                "DescribeInstances",
            ),
            assume_role(
                "assume-child",
                "2026-11-20T00:10:00Z",
                &session(Some("ASIAPARENT0000000001"), "parent-role", "p1"),
                "tool-role",
                "c1",
                "ASIACHILD00000000001",
                EXPIRES,
                None,
            ),
            call(
                "child-call",
                "2026-11-20T00:20:00Z",
                &session(Some("ASIACHILD00000000001"), "tool-role", "c1"),
                "iam.amazonaws.com",
                "ListRoles",
            ),
            call(
                "keyless-call",
                "2026-11-20T02:00:00Z",
                &session(None, "named-role", "n1"),
                s3,
                "ListBuckets",
            ),
        ],
    )
    .await;

    let (first, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.computed, stats.written, stats.reused), (2, 2, 0));
    assert_eq!(first, whole(lake).await);
    assert_eq!(
        first.len(),
        2,
        "only the agent's two calls are AI: {first:?}"
    );
    assert!(std::fs::exists(lake.join(kept::DIR).join("2026-11-20.parquet")).unwrap());

    let (again, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.computed, stats.reused), (0, 2), "kept days reused");
    assert_eq!(again, first);

    // A new session of another person on day 2: day 2's events changed, day 1 is kept.
    add(
        lake,
        "unrelated",
        vec![
            assume_role(
                "assume-bob",
                "2026-11-21T15:00:00Z",
                &user("bob", "AKIABOB0000000000001"),
                "other-role",
                "b1",
                "ASIANEW0000000000001",
                EXPIRES,
                Some("ec2-tools"),
            ),
            call(
                "bob-call",
                "2026-11-21T15:10:00Z",
                &session(Some("ASIANEW0000000000001"), "other-role", "b1"),
                s3,
                "ListBuckets",
            ),
        ],
    )
    .await;
    let (rows, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!(
        (stats.computed, stats.reused),
        (1, 1),
        "day 1 kept, day 2 again"
    );
    assert_eq!(rows, whole(lake).await);
    assert_eq!(rows.len(), 3);

    // Each late fact below is an event of the day before the kept days (its own day's events do
    // not change): only the facts of day 1's calls do, and day 1 alone is computed again.
    let late = [
        // The orphan session's AssumeRole, tagged AI.
        (
            "late-orphan",
            assume_role(
                "assume-orphan",
                "2026-11-19T23:00:00Z",
                &alice,
                "worker-role",
                "w1",
                "ASIAORPHAN0000000001",
                EXPIRES,
                Some("ec2-tools"),
            ),
            "worker-role",
        ),
        // The chained session's parent, tagged AI: the child becomes AI (chained).
        (
            "late-parent",
            assume_role(
                "assume-parent",
                "2026-11-19T22:00:00Z",
                &alice,
                "parent-role",
                "p1",
                "ASIAPARENT0000000001",
                EXPIRES,
                Some("iam-tools"),
            ),
            "tool-role",
        ),
        // An AI session named like the keyless call, spanning it.
        (
            "late-name",
            assume_role(
                "assume-named",
                "2026-11-19T23:30:00Z",
                &alice,
                "named-role",
                "n1",
                "ASIANAMED00000000001",
                EXPIRES,
                Some("s3-tools"),
            ),
            "named-role",
        ),
    ];
    let mut before = 3;
    for (name, record, role) in late {
        add(lake, name, vec![record]).await;
        let (rows, stats) = kept_rows(lake, d1, d3).await;
        assert_eq!(
            (stats.computed, stats.reused),
            (1, 1),
            "{name}: day 1 again, day 2 kept"
        );
        assert_eq!(rows, whole(lake).await, "{name}");
        assert!(rows.len() > before, "{name}: no new AI call: {rows:?}");
        before = rows.len();
        assert!(
            rows.iter()
                .any(|r| r.starts_with(&format!("arn:aws:iam::111122223333:role/{role}|"))),
            "{name}: no row of {role}: {rows:?}"
        );
    }

    // A late event of day 2 (delivered in a later object): day 2 again.
    add(
        lake,
        "late-event",
        vec![call(
            "agent-late",
            "2026-11-21T07:00:00Z",
            &session(Some("ASIAAGENT00000000001"), "agent-role", "agent-1"),
            s3,
            "GetObject",
        )],
    )
    .await;
    let (rows, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.computed, stats.reused), (1, 1));
    assert_eq!(rows, whole(lake).await);
    assert!(rows.iter().any(|r| r.contains("agent-late")), "{rows:?}");

    // Other classification settings: every day again.
    let lake_h = Lake::open(lake);
    let mut settings = Settings::default();
    settings.classify.agent_roles = vec!["nothing-matches-this".into()];
    let (_, stats) = kept::days(&lake_h, &settings, d1, d3).await.unwrap();
    assert_eq!((stats.computed, stats.reused), (2, 0), "settings changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_kept_day_is_computed_again() {
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = lake_dir.path();
    let (d1, d3) = (nov(20), nov(22));
    let agent = session(Some("ASIAAGENT00000000001"), "agent-role", "agent-1");
    add(
        lake,
        "base",
        vec![
            assume_agent("assume-agent", "2026-11-20T08:00:00Z", true),
            call(
                "a",
                "2026-11-20T09:00:00Z",
                &agent,
                "s3.amazonaws.com",
                "ListBuckets",
            ),
        ],
    )
    .await;
    let (first, _) = kept_rows(lake, d1, d3).await;
    let file = lake.join(kept::DIR).join("2026-11-20.parquet");
    std::fs::write(&file, b"not parquet").unwrap();
    let (rows, stats) = kept_rows(lake, d1, d3).await;
    // (Day 2 has no events: nothing is kept for it.)
    assert_eq!((stats.computed, stats.reused), (1, 0));
    assert_eq!(rows, first);
    assert_ne!(
        std::fs::read(&file).unwrap(),
        b"not parquet",
        "written again"
    );
}

/// Each kept day's S3 object and its ETag.
async fn kept_objects(
    c: &aws_sdk_s3::Client,
    bucket: &str,
) -> std::collections::BTreeMap<String, String> {
    let listed = c
        .list_objects_v2()
        .bucket(bucket)
        .prefix(format!("agenttrail/{}/", kept::DIR))
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .map(|o| {
            (
                o.key().unwrap().rsplit('/').next().unwrap().to_string(),
                o.e_tag().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_days_live_on_an_s3_lake_and_a_late_fact_there_renews_only_its_day() {
    let c = crate::s3::client();
    let bucket = crate::s3::unique("kept");
    c.create_bucket().bucket(&bucket).send().await.unwrap();
    let lake = format!("s3://{bucket}/agenttrail");
    let cache = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let out = crate::util::run(
            crate::util::agenttrail()
                .current_dir(crate::util::repo())
                .env("AWS_ENDPOINT_URL", crate::s3::endpoint())
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_REGION", "us-east-1")
                .env("AGENTTRAIL_CACHE_DIR", cache.path())
                .args(args),
        );
        assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
        crate::util::stdout(&out)
    };
    let ingest = |name: &str, records: Vec<Value>| {
        let body = json!({ "Records": records }).to_string();
        let src = one_object_trail("20261121T1200Z", name, body.as_bytes());
        cli(&[
            "-q",
            "ingest",
            "--source",
            src.path().to_str().unwrap(),
            "--lake",
            &lake,
        ]);
    };
    let agent = session(Some("ASIAAGENT00000000001"), "agent-role", "agent-1");
    ingest(
        "base",
        vec![
            assume_agent("assume-agent", "2026-11-20T08:00:00Z", true),
            call(
                "a1",
                "2026-11-20T09:00:00Z",
                &agent,
                "s3.amazonaws.com",
                "ListBuckets",
            ),
            call(
                "a2",
                "2026-11-21T09:00:00Z",
                &agent,
                "s3.amazonaws.com",
                "GetObject",
            ),
            call(
                "a3",
                "2026-11-22T09:00:00Z",
                &agent,
                "iam.amazonaws.com",
                "ListRoles",
            ),
            call(
                "orphan-call",
                "2026-11-20T01:00:00Z",
                &session(Some("ASIAORPHAN0000000001"), "worker-role", "w1"),
                "ec2.amazonaws.com",
                "DescribeInstances",
            ),
        ],
    );
    let detect = || {
        cli(&[
            "detect",
            "--only",
            "ai_first_seen_api",
            "--format",
            "csv",
            "--since",
            "2026-11-22T00:00:00Z",
            "--lake",
            &lake,
        ])
    };
    let first = detect();
    let before = kept_objects(&c, &bucket).await;
    assert!(
        before.contains_key("2026-11-20.parquet") && before.contains_key("2026-11-21.parquet"),
        "{before:?}"
    );
    assert_eq!(detect(), first);
    assert_eq!(
        kept_objects(&c, &bucket).await,
        before,
        "reused, not written again"
    );

    // The orphan's AssumeRole arrives (an event of the day before): its fact file is read from
    // S3 as added since, and only the day of the orphan's call is computed again.
    ingest(
        "late",
        vec![assume_role(
            "assume-orphan",
            "2026-11-19T23:00:00Z",
            &user("alice", "AKIAALICE00000000001"),
            "worker-role",
            "w1",
            "ASIAORPHAN0000000001",
            EXPIRES,
            Some("ec2-tools"),
        )],
    );
    detect();
    let after = kept_objects(&c, &bucket).await;
    assert_ne!(after["2026-11-20.parquet"], before["2026-11-20.parquet"]);
    assert_eq!(after["2026-11-21.parquet"], before["2026-11-21.parquet"]);
    // What was kept is what the whole lake says.
    let whole = cli(&[
        "query",
        "--format",
        "csv",
        "--lake",
        &lake,
        "SELECT principal, event_name, day FROM ai_api_days WHERE day < '2026-11-22T00:00:00Z' ORDER BY 1, 2, 3",
    ]);
    assert!(whole.contains("worker-role"), "{whole}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_days_outlive_a_compaction_but_not_a_fact_table_made_again_or_a_late_fact() {
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = lake_dir.path();
    // Two days without events (nothing kept: no rows whatever the facts), then two with.
    let (d1, d3) = (nov(18), nov(22));
    let agent = session(Some("ASIAAGENT00000000001"), "agent-role", "agent-1");
    let alice = user("alice", "AKIAALICE00000000001");
    // A call on the 20th of a session whose AssumeRole arrives at the end (not AI until then).
    let late = session(Some("ASIALATE000000000001"), "agent-role", "late-1");
    for (i, day) in ["2026-11-20", "2026-11-21"].iter().enumerate() {
        add(
            lake,
            &format!("part-{i}"),
            vec![
                assume_agent(&format!("assume-{i}"), &format!("{day}T08:00:00Z"), true),
                call(
                    &format!("c-{i}"),
                    &format!("{day}T09:00:00Z"),
                    &agent,
                    "s3.amazonaws.com",
                    "ListBuckets",
                ),
            ]
            .into_iter()
            .chain((i == 0).then(|| {
                call(
                    "late-0",
                    &format!("{day}T10:00:00Z"),
                    &late,
                    "ec2.amazonaws.com",
                    "DescribeInstances",
                )
            }))
            .collect(),
        )
        .await;
    }
    let (first, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!(stats.computed, 2);
    assert_eq!(std::fs::read_dir(lake.join(kept::DIR)).unwrap().count(), 2);
    // The credential facts table made again (deleted, then created by a later commit): its
    // version is below the one the days were kept at. Nothing is trusted, nothing fails.
    let saved = tempfile::tempdir().unwrap();
    crate::util::copy_tree(&lake.join("facts_credentials"), saved.path());
    std::fs::remove_dir_all(lake.join("facts_credentials")).unwrap();
    add(
        lake,
        "again",
        vec![assume_role(
            "assume-again",
            "2026-11-25T08:00:00Z",
            &alice,
            "agent-role",
            "agent-1",
            "ASIAAGAIN00000000001",
            EXPIRES,
            None,
        )],
    )
    .await;
    let (_, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.computed, stats.reused), (2, 0));
    std::fs::remove_dir_all(lake.join("facts_credentials")).unwrap();
    std::fs::create_dir_all(lake.join("facts_credentials")).unwrap();
    crate::util::copy_tree(saved.path(), &lake.join("facts_credentials"));
    // The first table back: another table than the days were last kept against.
    let (_, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.computed, stats.reused), (2, 0));
    // A compaction rewrites the fact files without changing a row (`dataChange: false` in the
    // log): the days stay kept.
    let files = || {
        std::fs::read_dir(lake.join("facts_credentials"))
            .unwrap()
            .count()
    };
    let before = files();
    agenttrail::sink::maintain::optimize(&Lake::open(lake), 64 << 20)
        .await
        .unwrap();
    assert!(files() > before, "the compaction added a file");
    let (rows, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.reused, stats.computed), (2, 0), "{stats:?}");
    assert_eq!(rows, first);
    assert_eq!(rows, whole(lake).await);
    // A late fact compacted into another file before the next run is still read (from the file
    // the compaction removed, on storage until vacuumed): the tagged AssumeRole of the key the
    // 20th's late call used, delivered with the 19th's events, makes that call AI. The 20th is
    // computed again (and the 19th, which now has events, for the first time); the 21st stays.
    add(
        lake,
        "late",
        vec![assume_role(
            "assume-late",
            "2026-11-19T23:00:00Z",
            &alice,
            "agent-role",
            "late-1",
            "ASIALATE000000000001",
            "Nov 20, 2026, 11:00:00 AM",
            Some("s3-tools"),
        )],
    )
    .await;
    agenttrail::sink::maintain::optimize(&Lake::open(lake), 64 << 20)
        .await
        .unwrap();
    let (rows, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.reused, stats.computed), (1, 2), "{stats:?}");
    assert!(
        rows.iter().any(|r| r.contains("|late-0|")),
        "the late call is AI: {rows:?}"
    );
    assert_eq!(rows, whole(lake).await);
}

/// The agent's calls on the 20th in two commits and on the 21st in one; `more` joins the 20th's
/// first commit.
async fn three_commits(lake: &std::path::Path, more: Vec<Value>) {
    let agent = session(Some("ASIAAGENT00000000001"), "agent-role", "agent-1");
    let agent_call = |id: &str, at: &str, api: &str| call(id, at, &agent, "s3.amazonaws.com", api);
    let mut first = vec![
        assume_agent("assume-0", "2026-11-20T08:00:00Z", true),
        agent_call("c-0", "2026-11-20T09:00:00Z", "ListBuckets"),
    ];
    first.extend(more);
    add(lake, "a", first).await;
    add(
        lake,
        "b",
        vec![agent_call("c-1", "2026-11-20T10:00:00Z", "GetObject")],
    )
    .await;
    add(
        lake,
        "c",
        vec![
            assume_agent("assume-2", "2026-11-21T08:00:00Z", true),
            agent_call("c-2", "2026-11-21T09:00:00Z", "ListBuckets"),
        ],
    )
    .await;
}

/// The agent's calls on the 20th in two commits (two files in its date folder) and on the 21st in
/// one, both days then kept; returns their rows and the number of Parquet files in the 20th's
/// folder, as a function.
async fn two_days_kept_from_three_commits(
    lake: &std::path::Path,
) -> (Vec<String>, impl Fn() -> usize) {
    three_commits(lake, Vec::new()).await;
    let folder = lake.join("events/event_date=2026-11-20");
    let parquet = move || {
        std::fs::read_dir(&folder)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count()
    };
    assert_eq!(parquet(), 2);
    let (first, stats) = kept_rows(lake, nov(20), nov(22)).await;
    assert_eq!(stats.computed, 2);
    (first, parquet)
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_days_outlive_a_compaction_of_their_events_but_not_a_late_event() {
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = lake_dir.path();
    let (d1, d3) = (nov(20), nov(22));
    let (first, parquet) = two_days_kept_from_three_commits(lake).await;
    // The compaction rewrites the 20th's files (and the facts): no row changed, both days stay
    // kept, and the 20th's record is renewed to the new files.
    agenttrail::sink::maintain::optimize(&Lake::open(lake), 64 << 20)
        .await
        .unwrap();
    assert!(parquet() > 2, "a compacted file was added");
    let (rows, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.reused, stats.computed), (2, 0), "{stats:?}");
    assert_eq!(rows, first);
    assert_eq!(rows, whole(lake).await);
    let (_, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.reused, stats.computed), (2, 0), "renewed: {stats:?}");
    // A late event of the 20th, then a compaction that folds it in: the 20th is computed again
    // (its new API is there), the 21st stays.
    let agent = session(Some("ASIAAGENT00000000001"), "agent-role", "agent-1");
    add(
        lake,
        "late",
        vec![call(
            "c-late",
            "2026-11-20T11:00:00Z",
            &agent,
            "s3.amazonaws.com",
            "DeleteBucket",
        )],
    )
    .await;
    agenttrail::sink::maintain::optimize(&Lake::open(lake), 64 << 20)
        .await
        .unwrap();
    let (rows, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.reused, stats.computed), (1, 1), "{stats:?}");
    assert!(rows.iter().any(|r| r.contains("DeleteBucket")), "{rows:?}");
    assert_eq!(rows, whole(lake).await);
}

/// Rewrite a kept day's file as an older build wrote it: its record without the events version.
fn as_written_by_an_older_build(file: &std::path::Path) {
    let bytes = bytes::Bytes::from(std::fs::read(file).unwrap());
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let mut record: Value = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .find(|k| k.key == "agenttrail.kept")
        .and_then(|k| serde_json::from_str(k.value.as_deref()?).ok())
        .expect("a record");
    assert!(record["events_version"].is_u64(), "{record}");
    record.as_object_mut().unwrap().remove("events_version");
    let schema = builder.schema().clone();
    let batches: Vec<_> = builder.build().unwrap().map(Result::unwrap).collect();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(file).unwrap(), schema, None)
            .unwrap();
    w.append_key_value_metadata(parquet::file::metadata::KeyValue::new(
        "agenttrail.kept".to_string(),
        record.to_string(),
    ));
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_day_kept_by_an_older_build_is_renewed_and_then_outlives_a_compaction() {
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = lake_dir.path();
    let (d1, d3) = (nov(20), nov(22));
    let (first, _) = two_days_kept_from_three_commits(lake).await;
    as_written_by_an_older_build(&lake.join(kept::DIR).join("2026-11-20.parquet"));
    // Reused as it is (its files are as recorded), and its record given the events version.
    let (rows, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.reused, stats.computed), (2, 0), "{stats:?}");
    assert_eq!(rows, first);
    agenttrail::sink::maintain::optimize(&Lake::open(lake), 64 << 20)
        .await
        .unwrap();
    let (rows, stats) = kept_rows(lake, d1, d3).await;
    assert_eq!((stats.reused, stats.computed), (2, 0), "{stats:?}");
    assert_eq!(rows, whole(lake).await);
}

/// Text rows of a batch's first `n` columns.
fn text_rows(b: &arrow::array::RecordBatch, n: usize) -> Vec<String> {
    (0..b.num_rows())
        .map(|r| {
            (0..n)
                .map(|c| array_value_to_string(b.column(c), r).unwrap())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// `ai_roles` and `ai_session_names` as kept and brought up to date, as text rows, and how.
async fn kept_roles(lake: &std::path::Path) -> ((Vec<String>, Vec<String>), kept::RolesKept) {
    let lake = Lake::open(lake);
    let settings = Settings::default();
    let ctx = agenttrail::query::build_context(&lake, &settings)
        .await
        .unwrap();
    let (roles, names, how) = kept::summaries(&ctx, &lake, &settings, None).await.unwrap();
    // Sets of rows: the kept names are stored in the order of their last expiry.
    let sorted = |mut rows: Vec<String>| {
        rows.sort();
        rows
    };
    (
        (sorted(text_rows(&roles, 4)), sorted(text_rows(&names, 5))),
        how,
    )
}

/// The same two tables of the whole lake now.
async fn whole_roles(lake: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let rows = |sql: &'static str| async move {
        let mut rows: Vec<String> = query(lake, sql)
            .await
            .into_iter()
            .map(|r| r.join("|"))
            .collect();
        rows.sort();
        rows
    };
    (
        rows("SELECT * FROM ai_roles ORDER BY role_arn").await,
        rows("SELECT * FROM ai_session_names ORDER BY role_arn, session_name").await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_roles_and_names_take_new_sessions_in_and_are_computed_again_when_one_changes_a_kept_one()
 {
    use kept::RolesKept::{Computed, Reused, Updated};
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = lake_dir.path();
    let alice = user("alice", "AKIAALICE00000000001");
    add(
        lake,
        "base",
        vec![
            assume_agent("assume-agent", "2026-11-20T08:00:00Z", true),
            // A human session whose caller's AssumeRole is not in the lake.
            assume_role(
                "assume-helper",
                "2026-11-20T09:00:00Z",
                &session(Some("ASIAMISSING000000001"), "boss-role", "b"),
                "helper-role",
                "h1",
                "ASIAHELPER0000000001",
                EXPIRES,
                None,
            ),
        ],
    )
    .await;
    let (first, how) = kept_roles(lake).await;
    assert_eq!(how, Computed);
    assert_eq!(first, whole_roles(lake).await);
    assert_eq!((first.0.len(), first.1.len()), (1, 1), "{first:?}");
    assert!(std::fs::exists(lake.join(kept::ROLES)).unwrap());
    assert!(std::fs::exists(lake.join(kept::NAMES)).unwrap());
    assert_eq!(kept_roles(lake).await, (first, Reused));

    // New sessions only: an AI session of another role, and a child of the kept AI session
    // (chained): merged into what was kept.
    add(
        lake,
        "new-sessions",
        vec![
            assume_role(
                "assume-bot",
                "2026-11-21T08:00:00Z",
                &alice,
                "bot-role",
                "bot",
                "ASIABOT0000000000001",
                EXPIRES,
                Some("ec2-tools"),
            ),
            assume_role(
                "assume-sub",
                "2026-11-20T09:30:00Z",
                &session(Some("ASIAAGENT00000000001"), "agent-role", "agent-1"),
                "sub-role",
                "s1",
                "ASIASUB0000000000001",
                EXPIRES,
                None,
            ),
        ],
    )
    .await;
    let (rows, how) = kept_roles(lake).await;
    assert_eq!(how, Updated(2));
    assert_eq!(rows, whole_roles(lake).await);
    assert!(
        rows.0.iter().any(|r| r.contains("sub-role|chained")),
        "{rows:?}"
    );
    assert_eq!(rows.0.len(), 3);

    // The agent's name again, later and (another key) earlier: its span widens both ways and
    // the earlier session's MCP server is the name's.
    add(
        lake,
        "same-name",
        vec![
            assume_role(
                "assume-agent-later",
                "2026-11-22T08:00:00Z",
                &alice,
                "agent-role",
                "agent-1",
                "ASIAAGENT00000000002",
                "Nov 23, 2026, 11:00:00 AM",
                Some("later-tools"),
            ),
            assume_role(
                "assume-agent-earlier",
                "2026-11-19T08:00:00Z",
                &alice,
                "agent-role",
                "agent-1",
                "ASIAAGENT00000000003",
                EXPIRES,
                Some("earlier-tools"),
            ),
        ],
    )
    .await;
    let (rows, how) = kept_roles(lake).await;
    assert_eq!(how, Updated(2));
    assert_eq!(rows, whole_roles(lake).await);
    assert!(
        rows.1.iter().any(|r| r.starts_with(
            "arn:aws:iam::111122223333:role/agent-role|agent-1|2026-11-19T08:00:00Z|2026-11-23T11:00:00Z|earlier-tools"
        )),
        "{rows:?}"
    );

    // The missing caller of a kept session arrives, tagged AI: the helper becomes AI (chained),
    // which merging cannot know: computed from every fact.
    add(
        lake,
        "late-parent",
        vec![assume_role(
            "assume-missing",
            "2026-11-20T07:00:00Z",
            &alice,
            "boss-role",
            "b",
            "ASIAMISSING000000001",
            EXPIRES,
            Some("iam-tools"),
        )],
    )
    .await;
    let (rows, how) = kept_roles(lake).await;
    assert_eq!(how, Computed);
    assert_eq!(rows, whole_roles(lake).await);
    assert!(rows.0.iter().any(|r| r.contains("helper-role")), "{rows:?}");

    // A second, earlier issue of a kept access key (another event): the session kept for the
    // key changes (the earlier one wins): computed from every fact.
    add(
        lake,
        "reissued",
        vec![assume_role(
            "assume-bot-earlier",
            "2026-11-21T07:00:00Z",
            &alice,
            "plain-role",
            "bot",
            "ASIABOT0000000000001",
            EXPIRES,
            None,
        )],
    )
    .await;
    let (rows, how) = kept_roles(lake).await;
    assert_eq!(how, Computed);
    assert_eq!(rows, whole_roles(lake).await);
    assert!(!rows.0.iter().any(|r| r.contains("bot-role")), "{rows:?}");
}

/// The lake's tables made again from the objects (its `_kept/` left as it was), with one more
/// event of a kept day and more commits than the kept records name: no kept day's record may be
/// taken for the new tables' (their log at the recorded version holds other files).
#[tokio::test(flavor = "multi_thread")]
async fn kept_days_are_computed_again_when_the_lake_s_tables_are_made_again() {
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = lake_dir.path();
    let (d1, d3) = (nov(20), nov(22));
    let (first, _) = two_days_kept_from_three_commits(lake).await;
    assert!(!first.iter().any(|r| r.contains("DeleteBucket")));
    for entry in std::fs::read_dir(lake).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.ends_with("_kept") {
            std::fs::remove_dir_all(&path).unwrap();
        }
    }
    let agent = session(Some("ASIAAGENT00000000001"), "agent-role", "agent-1");
    let agent_call = |id: &str, at: &str, api: &str| call(id, at, &agent, "s3.amazonaws.com", api);
    three_commits(
        lake,
        vec![agent_call("c-x", "2026-11-20T09:30:00Z", "DeleteBucket")],
    )
    .await;
    add(
        lake,
        "d",
        vec![agent_call("c-3", "2026-11-23T09:00:00Z", "ListBuckets")],
    )
    .await;
    let (rows, stats) = kept_rows(lake, d1, d3).await;
    assert!(stats.computed >= 1, "{stats:?}");
    assert!(rows.iter().any(|r| r.contains("DeleteBucket")), "{rows:?}");
    assert_eq!(rows, whole(lake).await);
}
