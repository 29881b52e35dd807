//! Every detection in queries/ against its fixture: the real path (gzip → ingest → classify →
//! the query file) must return exactly the reviewed rows in tests/detections/<id>.csv.
//! `AGENTTRAIL_UPDATE_EXPECTED=1` rewrites the expected files for review.

use agenttrail::detect::{catalog, run_one};
use agenttrail::render::{Format, write_batches};
use agenttrail::settings::Settings;
use agenttrail::sink::Lake;

use crate::util::{gz, repo};

/// A trail fixture (`{"files": [...]}`): log files signed with hourly digests by agenttrail's
/// digest writer and the committed test key, then tampered with as each file's `tamper` says;
/// ingested, then checked (integrity rows stamped at a fixed time). Returns the lake.
async fn trail_lake(files: &[serde_json::Value]) -> (tempfile::TempDir, tempfile::TempDir) {
    use agenttrail::integrity::forge::{Signer, TrailSpec, write_digest, write_digests};
    let src = tempfile::tempdir().unwrap();
    let rel = |f: &serde_json::Value| {
        format!(
            "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/111122223333_CloudTrail_eu-west-1_{}_{}.json.gz",
            f["time"].as_str().unwrap(),
            f["name"].as_str().unwrap()
        )
    };
    let write = |f: &serde_json::Value, extra: &str| {
        let path = src.path().join(rel(f));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let body = serde_json::json!({"Records": f["Records"]}).to_string() + extra;
        std::fs::write(path, gz(body.as_bytes())).unwrap();
    };
    let tamper = |f: &serde_json::Value| f["tamper"].as_str().unwrap_or("").to_string();
    for f in files
        .iter()
        .filter(|f| !["inject", "backfill"].contains(&tamper(f).as_str()))
    {
        write(f, "");
    }
    let key = std::fs::read(repo().join("tests/fixtures/digest-test-key.pk8")).unwrap();
    let signer = Signer::from_pkcs8(&key).unwrap();
    let spec = TrailSpec {
        bucket: "example-trail-bucket".into(),
        trail: "example-trail".into(),
        home_region: "us-east-1".into(),
    };
    write_digests(src.path(), &spec, &signer).unwrap();
    for f in files {
        match tamper(f).as_str() {
            "modify" => write(f, "\n"),
            "delete" => std::fs::remove_file(src.path().join(rel(f))).unwrap(),
            "inject" => write(f, ""),
            "backfill" => {
                write(f, "");
                let end = "2026-11-20T13:00:00Z".parse().unwrap();
                write_digest(
                    src.path(),
                    &spec,
                    &signer,
                    "AWSLogs/111122223333",
                    "eu-west-1",
                    end,
                    &[rel(f)],
                    None,
                    true,
                )
                .unwrap();
            }
            _ => {}
        }
    }
    let lake_dir = tempfile::tempdir().unwrap();
    crate::util::ingest_dir(src.path(), lake_dir.path()).await;
    let source = agenttrail::source::Source::Local {
        root: src.path().to_path_buf(),
    };
    let lake = Lake::open(lake_dir.path());
    let keys = agenttrail::integrity::check::public_keys(None, &source, Some(&lake))
        .await
        .unwrap();
    agenttrail::integrity::check::check(
        &source,
        Some(&lake),
        &Default::default(),
        &keys,
        None,
        "2026-11-20T14:00:00Z".parse().unwrap(),
    )
    .await
    .unwrap();
    (src, lake_dir)
}

async fn findings_csv(id: &str) -> String {
    let dir = repo().join("tests/detections");
    let body = std::fs::read(dir.join(format!("{id}.json")))
        .unwrap_or_else(|_| panic!("detection {id} has no fixture tests/detections/{id}.json"));
    let fixture: serde_json::Value = serde_json::from_slice(&body).unwrap();
    // The trail the fixture becomes (kept alive while the lake is queried) and the lake.
    let (src, lake_dir) = match fixture["files"].as_array() {
        Some(files) => trail_lake(files).await,
        None => {
            let src = tempfile::tempdir().unwrap();
            let day = src
                .path()
                .join("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20");
            std::fs::create_dir_all(&day).unwrap();
            std::fs::write(
                day.join(format!(
                    "111122223333_CloudTrail_eu-west-1_20261120T1000Z_{id}.json.gz"
                )),
                gz(&body),
            )
            .unwrap();
            let lake_dir = tempfile::tempdir().unwrap();
            let s = crate::util::ingest_dir(src.path(), lake_dir.path()).await;
            assert_eq!(s.records_rejected, 0, "fixture {id} has unreadable records");
            (src, lake_dir)
        }
    };
    let lake = Lake::open(lake_dir.path());
    let settings = match std::fs::read_to_string(dir.join(format!("{id}.toml"))) {
        Ok(text) => Settings::from_toml(&text, id).unwrap(),
        Err(_) => Settings::default(),
    };
    let ctx = agenttrail::query::build_context(&lake, &settings)
        .await
        .unwrap();
    let detections = catalog::load(&repo().join("queries")).unwrap();
    let d = detections.iter().find(|d| d.id == id).unwrap();
    let run = run_one(&ctx, d, None, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    write_batches(&mut out, &run.schema, &run.batches, Format::Csv).unwrap();
    // Paths of a temporary trail (integrity findings name files), made stable.
    String::from_utf8(out)
        .unwrap()
        .replace(&format!("{}/", src.path().display()), "trail/")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_detection_returns_its_expected_rows() {
    let detections = catalog::load(&repo().join("queries")).unwrap();
    assert!(detections.len() >= 8, "{} detections", detections.len());
    let update = std::env::var("AGENTTRAIL_UPDATE_EXPECTED").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for d in &detections {
        let got = findings_csv(&d.id).await;
        let path = repo().join(format!("tests/detections/{}.csv", d.id));
        if update {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!("detection {} has no expected rows {}", d.id, path.display())
        });
        if got != want {
            failures.push(format!("== {}\n-- expected\n{want}-- got\n{got}", d.id));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_detection_has_a_fixture_that_fires_and_near_misses_that_do_not() {
    let detections = catalog::load(&repo().join("queries")).unwrap();
    for d in &detections {
        let dir = repo().join("tests/detections");
        let fixture = std::fs::read_to_string(dir.join(format!("{}.json", d.id))).unwrap();
        assert!(
            fixture.contains("\"eventID\": \"quiet-"),
            "{}: the fixture has no near-miss (quiet-…) event",
            d.id
        );
        let expected = std::fs::read_to_string(dir.join(format!("{}.csv", d.id))).unwrap();
        let rows: Vec<&str> = expected.lines().skip(1).collect();
        assert!(
            !rows.is_empty(),
            "{}: the expected result is empty: it never fires",
            d.id
        );
        let trail = fixture.contains("\"files\"");
        for row in rows {
            let event_id = row.split(',').nth(2).unwrap();
            // A trail fixture's findings are files: their names carry fires-/quiet-.
            let name = if trail {
                event_id.rsplit('_').next().unwrap()
            } else {
                event_id
            };
            assert!(
                name.starts_with("fires-"),
                "{}: a finding on {event_id}, which is not a fires-… event",
                d.id
            );
        }
        for col in agenttrail::detect::CONTRACT {
            assert!(
                expected
                    .lines()
                    .next()
                    .unwrap()
                    .split(',')
                    .any(|c| c == col.0),
                "{}: {} missing",
                d.id,
                col.0
            );
        }
    }
}

#[test]
fn every_detection_names_its_attack_techniques_and_how_to_triage_it() {
    let detections = catalog::load(&repo().join("queries")).unwrap();
    for d in &detections {
        assert!(!d.mitre.is_empty(), "{}: no `-- mitre:` techniques", d.id);
        assert!(
            d.doc.contains("## Triage"),
            "{}: no `## Triage` section",
            d.id
        );
        let text = d.explain();
        for t in &d.mitre {
            assert!(
                text.contains(&format!(
                    "https://attack.mitre.org/techniques/{}/",
                    t.replace('.', "/")
                )),
                "{}: {t} not linked",
                d.id
            );
        }
    }
    // `detect --explain` prints it; an unknown id is an error naming the known ones.
    let out = crate::util::run(crate::util::agenttrail().current_dir(repo()).args([
        "detect",
        "--explain",
        "ai_deletions",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
    let text = crate::util::stdout(&out);
    assert!(
        text.contains("T1485  https://attack.mitre.org/techniques/T1485/"),
        "{text}"
    );
    assert!(text.contains("## Triage"), "{text}");
    let out = crate::util::run(crate::util::agenttrail().current_dir(repo()).args([
        "detect",
        "--explain",
        "no_such",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(crate::util::stderr(&out).contains("ai_deletions"));
}

#[test]
fn every_alarm_watches_a_metric_something_emits() {
    let detections = catalog::load(&repo().join("queries")).unwrap();
    let alarms = agenttrail::publish::alarms::load(&repo().join("alarms")).unwrap();
    for a in &alarms {
        let s = &a.spec;
        if s.metric == agenttrail::publish::datums::HEARTBEAT {
            assert!(s.dimensions.is_empty(), "{}", s.name);
            continue;
        }
        let det = s
            .dimensions
            .get("Detection")
            .unwrap_or_else(|| panic!("{}: no Detection dimension", s.name));
        let d = detections
            .iter()
            .find(|d| &d.id == det)
            .unwrap_or_else(|| panic!("{}: no detection {det}", s.name));
        assert_eq!(
            d.metric, s.metric,
            "{}: detection {det} publishes {}",
            s.name, d.metric
        );
    }
    for must in ["ai_deletions", "ai_logging_tampering", "ai_iam_changes"] {
        assert!(
            alarms
                .iter()
                .any(|a| a.spec.dimensions.get("Detection").map(String::as_str) == Some(must)),
            "no alarm on {must}"
        );
    }
    assert!(
        alarms.iter().any(|a| a.spec.metric == "JobHeartbeat"),
        "no heartbeat alarm"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_windowed_detection_reads_its_lookback_and_finds_what_the_whole_lake_finds() {
    // ai_first_seen_api's fixture spans 20 days; a window on the last day must still see the
    // baseline of the 14 days before it (`-- lookback: 15d`), and nothing older is needed.
    let body = std::fs::read(repo().join("tests/detections/ai_first_seen_api.json")).unwrap();
    let src = crate::util::one_object_trail("20261120T1000Z", "w", &body);
    let lake = tempfile::tempdir().unwrap();
    crate::util::ingest_dir(src.path(), lake.path()).await;
    let out = crate::util::run(
        crate::util::agenttrail()
            .current_dir(repo())
            .args([
                "detect",
                "--only",
                "ai_first_seen_api",
                "--format",
                "csv",
                "--since",
                "2026-12-10",
                "--lake",
            ])
            .arg(lake.path()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
    let ids: Vec<String> = crate::util::stdout(&out)
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["fires-api-unused-for-17-days"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_suite_over_a_window_finds_what_the_whole_lake_finds_in_it() {
    // Three generated days; each detection's context reads its window, its lookback and only
    // the sessions that can be live in it (mcp_bypass: every session).
    let (_data, lake) = crate::util::generated_days_lake(3_000, 21).await;
    // `range_ids`: the most events of a window whose ids are held in memory (None: the default).
    // Returns the findings and the debug log of building the correlation tables.
    let detect_with = |extra: &[&str], range_ids: Option<&str>| {
        let mut cmd = crate::util::agenttrail();
        if let Some(n) = range_ids {
            cmd.env(agenttrail::env_vars::RANGE_IDS_MAX_ROWS, n);
        }
        let out = crate::util::run(
            cmd.env(
                agenttrail::env_vars::LOG,
                "agenttrail::query::sessions=debug",
            )
            .current_dir(repo())
            .args(["detect", "--format", "csv", "--lake"])
            .arg(lake.path())
            .args(extra),
        );
        assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
        (crate::util::stdout(&out), crate::util::stderr(&out))
    };
    let detect = |extra: &[&str]| detect_with(extra, None).0;
    let held = "range's keys and ids read";
    let since = "2026-11-20T12:00:00";
    let whole: Vec<String> = detect(&[])
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1).is_some_and(|t| t >= since))
        .map(str::to_string)
        .collect();
    // A window too long for its ids to be held in memory (here: any window) streams its events
    // through each fact lookup instead, and finds the same. It runs first, so the look-back's
    // days kept in the lake are computed that way too.
    let (streamed, log) = detect_with(&["--since", "2026-11-20T12:00:00Z"], Some("0"));
    assert!(!log.contains(held), "{log}");
    let streamed: Vec<String> = streamed.lines().skip(1).map(str::to_string).collect();
    assert_eq!(streamed, whole, "the window's events streamed");
    std::fs::remove_dir_all(lake.path().join(agenttrail::query::kept::DIR)).unwrap();
    let (windowed, log) = detect_with(&["--since", "2026-11-20T12:00:00Z"], None);
    assert!(log.contains(held), "the window's ids held in memory: {log}");
    let windowed: Vec<String> = windowed.lines().skip(1).map(str::to_string).collect();
    let fired: std::collections::BTreeSet<&str> = windowed
        .iter()
        .filter_map(|l| l.split(',').next())
        .collect();
    assert!(
        fired.len() >= 4 && fired.contains("ai_deletions"),
        "too few detections fire in the window: {fired:?}"
    );
    assert_eq!(windowed, whole);
    // The look-back's earlier days were kept in the lake (`query::kept`); a second run reads
    // them back and finds the same.
    let kept = std::fs::read_dir(lake.path().join(agenttrail::query::kept::DIR))
        .unwrap()
        .count();
    assert!(kept >= 2, "{kept} days kept");
    let again: Vec<String> = detect(&["--since", "2026-11-20T12:00:00Z"])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    assert_eq!(again, whole);
    // An unreadable limit is an error naming the variable, not the default taken silently.
    let out = crate::util::run(
        crate::util::agenttrail()
            .env(agenttrail::env_vars::RANGE_IDS_MAX_ROWS, "lots")
            .current_dir(repo())
            .args([
                "detect",
                "--format",
                "csv",
                "--since",
                "2026-11-20T12:00:00Z",
                "--lake",
            ])
            .arg(lake.path()),
    );
    let err = crate::util::stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("AGENTTRAIL_RANGE_IDS_MAX_ROWS=\"lots\""),
        "{err}"
    );
}

/// A fixture edited in the test (`{"Records": [...]}`), as one object of a fresh trail, ingested
/// into a fresh lake: (trail, lake).
async fn json_lake(
    fixture: &serde_json::Value,
    name: &str,
) -> (tempfile::TempDir, tempfile::TempDir) {
    let src = crate::util::one_object_trail(
        "20261120T1000Z",
        name,
        &serde_json::to_vec(fixture).unwrap(),
    );
    let lake = tempfile::tempdir().unwrap();
    crate::util::ingest_dir(src.path(), lake.path()).await;
    (src, lake)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_windowed_mcp_bypass_knows_roles_marked_by_sessions_far_outside_its_window() {
    // mcp_bypass's fixture with the agent's session (and its call) moved five days earlier:
    // more than a credential lifetime before the window, so no session a windowed context reads
    // for the window's calls marks the role. The role stays marked (`ai_roles` spans every
    // session of the lake), so the window finds what the whole lake finds in it.
    let body = std::fs::read(repo().join("tests/detections/mcp_bypass.json")).unwrap();
    let mut fixture: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for r in fixture["Records"].as_array_mut().unwrap() {
        if matches!(
            r["eventID"].as_str(),
            Some("setup-assume-agent" | "quiet-agent-call")
        ) {
            let t = r["eventTime"]
                .as_str()
                .unwrap()
                .replace("2026-11-20", "2026-11-15");
            r["eventTime"] = serde_json::Value::String(t);
        }
    }
    let (_src, lake) = json_lake(&fixture, "bypass").await;
    let detect = |window: &[&str]| {
        let out = crate::util::run(
            crate::util::agenttrail()
                .current_dir(repo())
                .args(["detect", "--only", "mcp_bypass", "--format", "csv"])
                .args(window)
                .arg("--lake")
                .arg(lake.path()),
        );
        assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
        crate::util::stdout(&out)
    };
    let whole = detect(&[]);
    let ids: Vec<&str> = whole
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "fires-direct-call-with-agent-role",
            "fires-direct-call-hours-later"
        ]
    );
    assert!(
        whole.contains("(session-tag, first 2026-11-15T10:00:00Z)"),
        "{whole}"
    );
    let windowed = detect(&[
        "--since",
        "2026-11-20T10:25:00Z",
        "--until",
        "2026-11-20T14:00:00Z",
    ]);
    assert_eq!(windowed, whole);
}

/// `ai_first_seen_api` as first written: every AI call of the look-back through both window
/// functions. The detection now keeps one row per principal, API and day (first and last call);
/// this is the reference it must agree with, row for row, in the same context.
const FIRST_SEEN_REFERENCE: &str = "
WITH ai AS (
  SELECT event_time, event_id, event_name, event_source, ai_mechanism, ai_principal,
         coalesce(session_issuer_arn, ai_principal, identity_arn) AS principal
  FROM events WHERE is_ai AND event_name IS NOT NULL
),
history AS (
  SELECT *,
         lag(event_time) OVER (PARTITION BY principal, event_source, event_name
                               ORDER BY event_time, event_id) AS previous_call,
         min(event_time) OVER (PARTITION BY principal ORDER BY event_time
                               RANGE BETWEEN INTERVAL '14 days' PRECEDING AND CURRENT ROW)
           AS baseline_start
  FROM ai
)
SELECT event_id, CAST(previous_call AS VARCHAR) AS previous, event_time FROM history
WHERE principal IS NOT NULL
  AND (previous_call IS NULL OR previous_call < event_time - INTERVAL '14 days')
  AND baseline_start <= event_time - INTERVAL '1 day'";

#[tokio::test(flavor = "multi_thread")]
async fn ai_first_seen_api_summarised_by_day_agrees_with_sorting_every_call() {
    use agenttrail::query::{TimeRange, build_context_in};
    // The fixture's agent, calling five APIs in bursts on a few days of a month (days apart,
    // so that a principal's baseline can rest on one summarised day; calls near midnight too),
    // and windows starting at every call, which put the 14-day and 1-day edges on every side
    // of a summarised day.
    let body = std::fs::read(repo().join("tests/detections/ai_first_seen_api.json")).unwrap();
    let mut fixture: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let records = fixture["Records"].as_array_mut().unwrap();
    let template = records
        .iter()
        .find(|r| r["eventID"] == "quiet-known-api-day-10")
        .unwrap()
        .clone();
    // Only the generated calls: the fixture's own agent calls would fill the gaps.
    records.retain(|r| r["eventID"] == "setup-assume-agent");
    let apis = [
        ("s3.amazonaws.com", "ListBuckets"),
        ("s3.amazonaws.com", "GetObject"),
        ("s3.amazonaws.com", "DeleteObject"),
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("iam.amazonaws.com", "ListRoles"),
    ];
    let start: chrono::DateTime<chrono::Utc> = "2026-11-21T00:00:00Z".parse().unwrap();
    let days = [1, 6, 15, 16, 29, 31];
    let mut state: u64 = 7;
    let mut times = Vec::new();
    for i in 0..40 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Any second of a burst day; every seventh call at 00:00:00 or 23:59:59.
        let k = (state >> 40) as usize % days.len();
        let day = days[k] * 86_400;
        let secs = match i % 7 {
            0 => day,
            3 => day + 86_399,
            _ => day + (state >> 13) % 86_400,
        };
        let t = start + chrono::Duration::seconds(secs as i64);
        // Three of the five APIs a day, a different three each day: new APIs keep appearing.
        let (source, name) = apis[((state >> 20) as usize % 3 + k) % apis.len()];
        let mut r = template.clone();
        r["eventTime"] = t.format("%Y-%m-%dT%H:%M:%SZ").to_string().into();
        r["eventID"] = format!("call-{i:02}").into();
        r["eventSource"] = source.into();
        r["eventName"] = name.into();
        records.push(r);
        times.push(t);
    }
    // And the edges of the baseline, each alone after a long silence: the only baseline day's
    // first call is more than a day before a new API's call and its last call less than a day
    // before (a summary by last calls alone misses it); the only baseline day's first call is
    // more than 14 days before and its last call less (by first calls alone); the only call
    // before is less than a day before (no baseline).
    for (id, at, name) in [
        ("edge-first", "2026-11-21T00:00:00Z", "ListBuckets"),
        ("edge-last", "2026-11-21T23:59:59Z", "ListBuckets"),
        ("edge-new-api", "2026-11-22T12:00:00Z", "ListRoles"),
        ("gap-first", "2027-01-05T02:00:00Z", "ListBuckets"),
        ("gap-last", "2027-01-05T22:00:00Z", "ListBuckets"),
        ("gap-new-api", "2027-01-19T12:00:00Z", "ListRoles"),
        ("late-only", "2027-02-10T10:00:00Z", "ListBuckets"),
        ("late-new-api", "2027-02-10T12:00:00Z", "DeleteObject"),
    ] {
        let mut r = template.clone();
        r["eventTime"] = at.into();
        r["eventID"] = id.into();
        r["eventSource"] = if name == "ListRoles" {
            "iam.amazonaws.com"
        } else {
            "s3.amazonaws.com"
        }
        .into();
        r["eventName"] = name.into();
        records.push(r);
        times.push(at.parse().unwrap());
    }
    let (_src, lake_dir) = json_lake(&fixture, "scattered").await;
    let lake = Lake::open(lake_dir.path());
    let settings = Settings::default();
    let detections = catalog::load(&repo().join("queries")).unwrap();
    let d = detections
        .iter()
        .find(|d| d.id == "ai_first_seen_api")
        .unwrap();
    let rows = |batches: &[arrow::array::RecordBatch], id: usize, prev: Option<usize>| {
        let mut out = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                let v =
                    |c: usize| arrow::util::display::array_value_to_string(b.column(c), r).unwrap();
                out.push((v(id), prev.map(&v)));
            }
        }
        out.sort();
        out
    };
    let mut windows: Vec<Option<chrono::DateTime<chrono::Utc>>> = vec![None];
    for t in &times {
        for delta in [0, 1] {
            windows.push(Some(*t + chrono::Duration::seconds(delta)));
        }
    }
    let mut fired = 0;
    for since in windows {
        let range = TimeRange {
            since: since.map(|s| s - d.lookback),
            until: None,
            every_role: false,
        };
        let ctx = build_context_in(&lake, &settings, range).await.unwrap();
        let run = run_one(&ctx, d, since, None).await.unwrap();
        let evidence = run.schema.index_of("evidence").unwrap();
        let found: Vec<(String, Option<String>)> = rows(&run.batches, 2, Some(evidence))
            .into_iter()
            .map(|(id, ev)| {
                // The evidence names the previous call ("since <time>") or says "ever".
                let ev = ev.unwrap();
                let prev = ev
                    .split(" since ")
                    .nth(1)
                    .map(|rest| rest.split(' ').next().unwrap().replace('T', " "));
                (id, prev.map(|p| p.trim_end_matches('Z').to_string()))
            })
            .collect();
        let reference = ctx.sql(FIRST_SEEN_REFERENCE).await.unwrap();
        let reference = match since {
            Some(s) => reference
                .filter(
                    datafusion::prelude::col("event_time").gt_eq(datafusion::prelude::lit(
                        datafusion::scalar::ScalarValue::TimestampMicrosecond(
                            Some(s.timestamp_micros()),
                            Some("UTC".into()),
                        ),
                    )),
                )
                .unwrap(),
            None => reference,
        };
        let expected: Vec<(String, Option<String>)> =
            rows(&reference.collect().await.unwrap(), 0, Some(1))
                .into_iter()
                .map(|(id, prev)| {
                    let prev = prev.filter(|p| !p.is_empty());
                    (
                        id,
                        prev.map(|p| p.replace('T', " ").trim_end_matches('Z').to_string()),
                    )
                })
                .collect();
        assert_eq!(found, expected, "window from {since:?}");
        fired += found.len();
    }
    assert!(fired > 20, "too few findings to compare: {fired}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_lake_detect_printed_as_each_detection_finishes_matches_the_collected_output() {
    // Without a window or publishing, `detect` prints each detection's findings when it is done
    // (memory holds one detection's rows); with `--until` it collects them all first. Same bytes,
    // same status line, same exit code, in every streamed format.
    let (_data, lake) = crate::util::generated_days_lake(3_000, 21).await;
    let detect = |format: &str, extra: &[&str]| {
        crate::util::run(
            crate::util::agenttrail()
                .current_dir(repo())
                .args(["detect", "--fail-on-findings", "--format", format, "--lake"])
                .arg(lake.path())
                .args(extra),
        )
    };
    // Tables show 1000 rows of each detection by default, every row with `--max-rows 0`.
    let all: &[&str] = &["--max-rows", "0"];
    for (format, rows) in [
        ("table", &[][..]),
        ("table", all),
        ("csv", &[]),
        ("ndjson", &[]),
    ] {
        let streamed = detect(format, rows);
        let collected = detect(
            format,
            &[rows, &["--until", "2100-01-01T00:00:00Z"]].concat(),
        );
        assert_eq!(
            streamed.status.code(),
            Some(1),
            "{}",
            crate::util::stderr(&streamed)
        );
        assert_eq!(streamed.status.code(), collected.status.code(), "{format}");
        let text = crate::util::stdout(&streamed);
        assert!(text.lines().count() > 10, "{format}: {text}");
        assert_eq!(text, crate::util::stdout(&collected), "{format}");
        assert_eq!(
            crate::util::stderr(&streamed),
            crate::util::stderr(&collected),
            "{format}"
        );
    }
    // No detection fires: CSV still prints its header.
    let none = crate::util::run(
        crate::util::agenttrail()
            .current_dir(repo())
            .args([
                "detect",
                "--only",
                "log_integrity",
                "--format",
                "csv",
                "--lake",
            ])
            .arg(lake.path()),
    );
    assert_eq!(
        crate::util::stdout(&none),
        "detection_id,event_time,event_id,account_id,actor_arn,access_key_id,mcp_server,event_name,evidence\n"
    );
}
