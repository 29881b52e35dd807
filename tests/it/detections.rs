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
    let detect = |extra: &[&str]| {
        let out = crate::util::run(
            crate::util::agenttrail()
                .current_dir(repo())
                .args(["detect", "--format", "csv", "--lake"])
                .arg(lake.path())
                .args(extra),
        );
        assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
        crate::util::stdout(&out)
    };
    let since = "2026-11-20T12:00:00";
    let whole: Vec<String> = detect(&[])
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1).is_some_and(|t| t >= since))
        .map(str::to_string)
        .collect();
    let windowed: Vec<String> = detect(&["--since", "2026-11-20T12:00:00Z"])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    let fired: std::collections::BTreeSet<&str> = windowed
        .iter()
        .filter_map(|l| l.split(',').next())
        .collect();
    assert!(
        fired.len() >= 4 && fired.contains("ai_deletions"),
        "too few detections fire in the window: {fired:?}"
    );
    assert_eq!(windowed, whole);
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
    let src = crate::util::one_object_trail(
        "20261120T1000Z",
        "bypass",
        &serde_json::to_vec(&fixture).unwrap(),
    );
    let lake = tempfile::tempdir().unwrap();
    crate::util::ingest_dir(src.path(), lake.path()).await;
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
