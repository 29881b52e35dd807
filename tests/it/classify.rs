//! Classification against ground truth, independent of ingestion order.

use std::path::Path;

use agenttrail::ingest::{IngestOptions, NoProgress, ingest};
use agenttrail::sink::Lake;
use agenttrail::source::Source;

use crate::util::{log_files, query, repo, sample_logs};

const LABELS_SQL: &str = "SELECT event_id, CAST(is_ai AS VARCHAR), coalesce(ai_mechanism, ''), coalesce(mcp_server, '') \
                          FROM events ORDER BY event_id";

fn expected_labels() -> Vec<Vec<String>> {
    let text =
        std::fs::read_to_string(repo().join("tests/fixtures/sample-logs.labels.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

async fn ingest_one_by_one(files: &[std::path::PathBuf], lake: &Path) {
    let lake = Lake::create(lake).unwrap();
    for f in files {
        let s = ingest(
            &Source::Local { root: f.clone() },
            &lake,
            &IngestOptions::default(),
            &NoProgress,
        )
        .await
        .unwrap();
        assert_eq!(s.objects_read, 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_match_the_fixture_whatever_the_ingestion_order() {
    let expected = expected_labels();
    assert_eq!(expected.len(), 220);

    // (a) one run
    let one = tempfile::tempdir().unwrap();
    crate::util::ingest_dir(&sample_logs(), one.path()).await;
    assert_eq!(query(one.path(), LABELS_SQL).await, expected, "one run");

    // (b) one object per run, in reverse order: calls arrive before the AssumeRole that explains them
    let mut files = log_files(&sample_logs());
    files.reverse();
    let rev = tempfile::tempdir().unwrap();
    ingest_one_by_one(&files, rev.path()).await;
    assert_eq!(
        query(rev.path(), LABELS_SQL).await,
        expected,
        "reverse order, one object per run"
    );

    // (c) one object per run, interleaved order
    let mut files = log_files(&sample_logs());
    let n = files.len();
    files = (0..n).map(|i| files[(i * 5) % n].clone()).collect();
    let shuffled = tempfile::tempdir().unwrap();
    ingest_one_by_one(&files, shuffled.path()).await;
    assert_eq!(
        query(shuffled.path(), LABELS_SQL).await,
        expected,
        "interleaved order"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_tell_the_stories_of_the_sample_logs() {
    let dir = tempfile::tempdir().unwrap();
    crate::util::ingest_dir(&sample_logs(), dir.path()).await;
    let rows = query(
        dir.path(),
        "SELECT access_key_id, api, region, is_ai, coalesce(ai_mechanism, ''), coalesce(mcp_server, ''), \
         tags, has_session_policy, chain_depth, coalesce(parent_access_key_id, ''), CAST(expires_at AS VARCHAR) \
         FROM sessions ORDER BY issued_at",
    )
    .await;
    let want: Vec<Vec<&str>> = vec![
        vec![
            "ASIAEXAMPLEAGENT0042",
            "AssumeRole",
            "us-east-1",
            "true",
            "session-tag",
            "s3-tools",
            r#"{"AccessType":"AI","MCPServer":"s3-tools"}"#,
            "false",
            "0",
            "",
            "2026-11-20T17:00:00Z",
        ],
        vec![
            "ASIAEXAMPLECHAIN0001",
            "AssumeRole",
            "us-east-1",
            "true",
            "chained",
            "s3-tools",
            r#"{"MCPServer":"s3-tools"}"#,
            "false",
            "1",
            "ASIAEXAMPLEAGENT0042",
            "2026-11-20T17:20:00Z",
        ],
        vec![
            "ASIAEXAMPLEHUMAN0042",
            "AssumeRole",
            "us-east-1",
            "false",
            "",
            "",
            "{}",
            "false",
            "0",
            "",
            "2026-11-20T18:00:00Z",
        ],
        vec![
            "ASIAEXAMPLEWEBID0007",
            "AssumeRoleWithWebIdentity",
            "us-east-1",
            "true",
            "session-tag",
            "cost-explorer",
            r#"{"AccessType":"AI","MCPServer":"cost-explorer"}"#,
            "true",
            "0",
            "",
            "2026-11-20T19:00:00Z",
        ],
    ];
    assert_eq!(rows, want, "the failed AssumeRole created no session");

    // The managed MCP server's calls carry the tool and the client from its own records.
    let mcp = query(
        dir.path(),
        "SELECT event_name, mcp_tool, mcp_client FROM events WHERE invoked_by = 'aws-mcp.amazonaws.com' \
         AND signin_session_arn IS NULL ORDER BY event_time",
    )
    .await;
    assert_eq!(
        mcp.len(),
        6,
        "through Alice's SSO role (Erin's OAuth session: below)"
    );
    assert!(
        mcp.iter()
            .all(|r| r[1] == "call_aws" && r[2] == "mcp-proxy-for-aws/1.2.0 claude-desktop/0.14.1"),
        "{mcp:?}"
    );

    // Every matching rule is kept: the tagged agent's SDK also carries the awslabs/mcp marker.
    let both = query(dir.path(), "SELECT DISTINCT ai_mechanisms, ai_confidence FROM events WHERE event_id LIKE 'ai-tagged-0%'").await;
    assert_eq!(
        both,
        vec![vec![
            "session-tag,user-agent".to_string(),
            "high".to_string()
        ]]
    );
    let low = query(
        dir.path(),
        "SELECT ai_confidence FROM events WHERE event_id LIKE 'ai-session-name-%'",
    )
    .await;
    assert_eq!(low, vec![vec!["low".to_string()]]);
    // ai_events is the AI subset.
    let n = query(
        dir.path(),
        "SELECT (SELECT count(*) FROM ai_events) = (SELECT count(*) FROM events WHERE is_ai)",
    )
    .await;
    assert_eq!(n, vec![vec!["true".to_string()]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_changes_the_answer_without_reingesting() {
    let dir = tempfile::tempdir().unwrap();
    crate::util::ingest_dir(&sample_logs(), dir.path()).await;
    let settings = agenttrail::settings::Settings::from_toml(
        "[classify]\nai_session_tags = [\"AccessType=Robot\"]\nuser_agent_markers = []\nagent_roles = [\"arn:aws:iam::*:role/lambda-*\"]\n",
        "test",
    )
    .unwrap();
    let ctx = agenttrail::query::build_context(&Lake::open(dir.path()), &settings)
        .await
        .unwrap();
    let (_, batches) = agenttrail::query::run_sql(
        &ctx,
        "SELECT ai_mechanism, count(*) FROM events WHERE is_ai GROUP BY 1 ORDER BY 1",
        false,
    )
    .await
    .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(text.contains("| agent-role   | 2        |"), "{text}");
    assert!(text.contains("| managed-mcp  | 15       |"), "{text}");
    assert!(
        !text.contains("session-tag") && !text.contains("user-agent"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_day_is_classified_exactly_as_labelled() {
    let data = tempfile::tempdir().unwrap();
    let opts = agenttrail::synth::SynthOptions {
        events: 6_000,
        seed: 7,
        records_per_file: 300,
        ..Default::default()
    };
    let summary = agenttrail::synth::generate(data.path(), &opts).unwrap();
    for m in [
        "human",
        "managed-mcp",
        "session-tag",
        "chained",
        "session-name",
        "user-agent",
    ] {
        assert!(
            summary.by_mechanism.get(m).copied().unwrap_or(0) > 0,
            "the mix lacks {m}: {:?}",
            summary.by_mechanism
        );
    }
    let lake_dir = tempfile::tempdir().unwrap();
    let s = crate::util::ingest_dir(data.path(), lake_dir.path()).await;
    assert_eq!(s.records_ingested, summary.events);

    let text = std::fs::read_to_string(data.path().join("labels.csv")).unwrap();
    let expected: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let got = query(lake_dir.path(), LABELS_SQL).await;
    assert_eq!(got.len(), expected.len());
    // Precision and recall per mechanism, then exact equality (which implies 100% of both).
    let mut wrong: Vec<String> = Vec::new();
    for (g, e) in got.iter().zip(&expected) {
        if g != e {
            wrong.push(format!("{g:?} expected {e:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} events misclassified, e.g. {:?}",
        wrong.len(),
        got.len(),
        &wrong[..wrong.len().min(5)]
    );
    // The day holds OAuth MCP sessions: every call under an MCP grant is `mcp-oauth` too, names
    // the person behind it and the client; downstream records without a request id are linked
    // (inferred) to their tool call; `aws login` sessions stay human (the labels above).
    let oauth = query(
        lake_dir.path(),
        "SELECT count(*), count(*) FILTER (WHERE ai_principal LIKE '%AWSReservedSSO_Dev%'), \
         count(*) FILTER (WHERE mcp_client = 'claude-code/2.1.202 (cli)'), \
         count(*) FILTER (WHERE mcp_link = 'inferred' AND mcp_tool = 'aws___call_aws') \
         FROM events WHERE ai_mechanisms LIKE '%mcp-oauth%'",
    )
    .await;
    let n: u64 = oauth[0][0].parse().unwrap();
    assert!(n > 0, "no mcp-oauth events in the generated day");
    assert_eq!(
        oauth[0][1], oauth[0][0],
        "every OAuth event names its person"
    );
    assert_eq!(
        oauth[0][2], oauth[0][0],
        "every OAuth event names its client"
    );
    assert!(oauth[0][3].parse::<u64>().unwrap() > 0, "{oauth:?}");
    let unlinked = query(
        lake_dir.path(),
        "SELECT count(*) FROM events WHERE ai_mechanisms LIKE '%mcp-oauth%' AND mcp_tool IS NULL",
    )
    .await;
    assert_eq!(unlinked, vec![vec!["0".to_string()]]);
}

/// The AWS MCP Server under an AWS Sign-In OAuth grant (shapes of a published capture of Claude
/// Code, July 2026): the grant, a tool call, a downstream call with a request id and one without,
/// a call made only under the token; and the same person's `aws login` session, which stays
/// human. Checked with every record in one object, and with one object per record ingested in
/// reverse, so the grant arrives last.
#[tokio::test(flavor = "multi_thread")]
async fn oauth_mcp_sessions_name_the_person_the_client_and_the_tool_in_any_order() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/oauth-mcp-session.json")).unwrap(),
    )
    .unwrap();
    let records = fixture["Records"].as_array().unwrap();
    let write = |dir: &Path, name: &str, recs: &[serde_json::Value]| {
        let day = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/07/10");
        std::fs::create_dir_all(&day).unwrap();
        let body = serde_json::json!({ "Records": recs }).to_string();
        std::fs::write(
            day.join(format!(
                "111122223333_CloudTrail_us-east-1_20260710T0910Z_{name}.json.gz"
            )),
            crate::util::gz(body.as_bytes()),
        )
        .unwrap();
    };
    let sql = "SELECT event_id, CAST(is_ai AS VARCHAR), coalesce(ai_mechanisms, ''), \
               coalesce(ai_principal, ''), coalesce(mcp_client, ''), coalesce(mcp_tool, ''), \
               coalesce(mcp_link, ''), coalesce(mcp_server, '') FROM events ORDER BY event_id";
    let alice =
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/alice@example.com";
    let client = "claude-code/2.1.202 (cli)";
    let row = |cells: [&str; 8]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let expected = vec![
        row([
            "downstream-no-request-id",
            "true",
            "managed-mcp,mcp-oauth",
            alice,
            client,
            "aws___call_aws",
            "inferred",
            "aws-mcp.amazonaws.com",
        ]),
        row([
            "downstream-with-request-id",
            "true",
            "managed-mcp,mcp-oauth",
            alice,
            client,
            "aws___call_aws",
            "request-id",
            "aws-mcp.amazonaws.com",
        ]),
        row(["grant-cli-login-0001", "false", "", "", "", "", "", ""]),
        row(["grant-mcp-0001", "false", "", "", "", "", "", ""]),
        row(["human-cli-login-call", "false", "", "", "", "", "", ""]),
        // Only the token marks it: the client is what the grant names.
        row([
            "oauth-only-call",
            "true",
            "mcp-oauth",
            alice,
            "arn:aws:signin:us-east-1::external-client/dcr/7f1e2d3c",
            "",
            "",
            "aws-mcp.us-east-1.api.aws",
        ]),
        row([
            "tool-call-0001",
            "true",
            "managed-mcp,mcp-oauth",
            alice,
            client,
            "aws___call_aws",
            "request-id",
            "aws-mcp.amazonaws.com",
        ]),
    ];

    let one_src = tempfile::tempdir().unwrap();
    write(one_src.path(), "all", records);
    let one = tempfile::tempdir().unwrap();
    crate::util::ingest_dir(one_src.path(), one.path()).await;
    assert_eq!(query(one.path(), sql).await, expected, "one object");

    let each = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let d = each.path().join(format!("r{i}"));
        write(&d, &format!("r{i}"), std::slice::from_ref(r));
        files.extend(log_files(&d));
    }
    files.reverse();
    let rev = tempfile::tempdir().unwrap();
    ingest_one_by_one(&files, rev.path()).await;
    assert_eq!(
        query(rev.path(), sql).await,
        expected,
        "one object per record, grant last"
    );

    let grants = query(
        one.path(),
        "SELECT event_id, CAST(is_mcp AS VARCHAR), grant_type, caller_arn FROM signin_grants ORDER BY granted_at",
    )
    .await;
    assert_eq!(
        grants,
        vec![
            row([
                "grant-cli-login-0001",
                "false",
                "authorization_code",
                alice,
                "",
                "",
                "",
                ""
            ])[..4]
                .to_vec(),
            row([
                "grant-mcp-0001",
                "true",
                "authorization_code",
                alice,
                "",
                "",
                "",
                ""
            ])[..4]
                .to_vec(),
        ]
    );
}

/// A context limited to a time range reads only the credentials that can be live in it and the
/// ancestors of their chains; every call in range is classified exactly as with the whole lake.
#[tokio::test(flavor = "multi_thread")]
async fn a_windowed_context_classifies_like_the_whole_lake() {
    use agenttrail::query::TimeRange;
    let since: chrono::DateTime<chrono::Utc> = "2026-11-20T12:00:00Z".parse().unwrap();
    let range = TimeRange {
        since: Some(since),
        until: None,
        every_role: false,
    };
    let labels = "SELECT event_id, CAST(is_ai AS VARCHAR), coalesce(ai_mechanisms, ''), \
                  coalesce(mcp_server, ''), coalesce(ai_principal, ''), coalesce(mcp_tool, '') \
                  FROM events WHERE event_time >= '2026-11-20T12:00:00Z' ORDER BY event_id";

    // (a) Three generated days: the window starts at noon of the last.
    let (_data, lake) = crate::util::generated_days_lake(2_000, 11).await;
    let whole = query(lake.path(), labels).await;
    assert!(whole.len() > 500, "{} events in the window", whole.len());
    assert!(whole.iter().any(|r| r[2].contains("chained")), "no chains");
    assert_eq!(
        crate::util::query_in(lake.path(), range, labels).await,
        whole,
        "generated days"
    );
    assert_eq!(
        crate::util::query_kept(lake.path(), range, labels).await,
        whole,
        "generated days, the whole lake's names and roles kept"
    );
    // Narrowed from a context of the whole day: its correlation tables hold more sessions, links
    // and names than the window needs, and classify the window's calls the same.
    let day = TimeRange {
        since: Some("2026-11-20T00:00:00Z".parse().unwrap()),
        ..range
    };
    assert_eq!(
        crate::util::query_narrowed(lake.path(), day, range, labels).await,
        whole,
        "generated days, narrowed from the day's context"
    );
    // (a') A range from before the lake's first event to that noon (read whole: every fact is
    // issued in it), against the whole lake's labels of the same calls.
    let before = "SELECT event_id, CAST(is_ai AS VARCHAR), coalesce(ai_mechanisms, ''), \
                  coalesce(mcp_server, ''), coalesce(ai_principal, ''), coalesce(mcp_tool, '') \
                  FROM events WHERE event_time < '2026-11-20T12:00:00Z' ORDER BY event_id";
    let from_start = TimeRange {
        since: Some("2026-11-01T00:00:00Z".parse().unwrap()),
        until: Some(since),
        every_role: false,
    };
    let whole_before = query(lake.path(), before).await;
    assert!(whole_before.len() > 1_000, "{} events", whole_before.len());
    assert_eq!(
        crate::util::query_in(lake.path(), from_start, before).await,
        whole_before,
        "from the start"
    );
    let count = "SELECT count(*) FROM sessions";
    let (all, live) = (
        query(lake.path(), count).await[0][0]
            .parse::<u64>()
            .unwrap(),
        crate::util::query_in(lake.path(), range, count).await[0][0]
            .parse::<u64>()
            .unwrap(),
    );
    assert!(live < all, "the window read {live} of {all} sessions");

    // (b) A chain whose ancestors were issued days before the window (forged: STS credentials
    // live 36 hours at most), plus an unrelated old session and a human one in the window.
    let user = serde_json::json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
        "accountId": "111122223333", "accessKeyId": "AKIAALICE00000000001", "userName": "alice"});
    let session = |key: &str, role: &str, name: &str| {
        serde_json::json!({"type": "AssumedRole", "accountId": "111122223333", "accessKeyId": key,
            "arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/{name}"),
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role,
                "arn": format!("arn:aws:iam::111122223333:role/{role}")}}})
    };
    let assume_named = |id: &str,
                        name: &str,
                        at: &str,
                        caller: &serde_json::Value,
                        role: &str,
                        key: &str,
                        server: Option<&str>| {
        let mut params = serde_json::json!({"roleArn": format!("arn:aws:iam::111122223333:role/{role}"),
            "roleSessionName": name});
        if let Some(server) = server {
            params["tags"] = serde_json::json!([{"key": "AccessType", "value": "AI"},
                {"key": "MCPServer", "value": server}]);
        }
        serde_json::json!({"eventVersion": "1.11", "userIdentity": caller, "eventTime": at,
            "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.10", "userAgent": "aws-sdk-python/1.35.0",
            "requestParameters": params,
            "responseElements": {"credentials": {"accessKeyId": key,
                "expiration": "Nov 20, 2026, 11:00:00 PM"},
                "assumedRoleUser": {"arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/{name}"),
                    "assumedRoleId": format!("AROA:{name}")}},
            "requestID": format!("req-{id}"), "eventID": id, "readOnly": true,
            "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": "111122223333", "eventCategory": "Management"})
    };
    let assume =
        |id: &str,
         at: &str,
         caller: &serde_json::Value,
         role: &str,
         key: &str,
         server: Option<&str>| { assume_named(id, id, at, caller, role, key, server) };
    let call = |id: &str, at: &str, who: &serde_json::Value| {
        serde_json::json!({"eventVersion": "1.11", "userIdentity": who, "eventTime": at,
            "eventSource": "s3.amazonaws.com", "eventName": "DeleteBucket", "awsRegion": "eu-west-1",
            "sourceIPAddress": "203.0.113.10", "userAgent": "aws-sdk-python/1.35.0",
            "requestParameters": {"bucketName": "prod"}, "responseElements": null,
            "requestID": format!("req-{id}"), "eventID": id, "readOnly": false,
            "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": "111122223333", "eventCategory": "Management"})
    };
    let records = serde_json::json!({"Records": [
        assume("root", "2026-11-10T09:00:00Z", &user, "agent", "ASIAROOT000000000001", Some("old-tools")),
        assume("child", "2026-11-13T09:00:00Z", &session("ASIAROOT000000000001", "agent", "root"),
            "worker", "ASIACHILD00000000001", None),
        assume("grandchild", "2026-11-20T11:00:00Z",
            &session("ASIACHILD00000000001", "worker", "child"), "cleaner", "ASIAGRAND00000000001", None),
        assume("old", "2026-11-10T10:00:00Z", &user, "reader", "ASIAOLD0000000000001", None),
        assume("human", "2026-11-20T11:30:00Z", &user, "admin", "ASIAHUMAN00000000001", None),
        call("by-root", "2026-11-10T10:00:00Z", &session("ASIAROOT000000000001", "agent", "root")),
        call("by-grandchild", "2026-11-20T12:30:00Z",
            &session("ASIAGRAND00000000001", "cleaner", "grandchild")),
        call("by-human", "2026-11-20T12:40:00Z", &session("ASIAHUMAN00000000001", "admin", "human")),
        // A call without an access key, named like AI sessions of role "bot": one in range starts
        // after it, one just before the range, and the first one days before (the session-name
        // window spans them all, and names the first one's MCP server).
        assume_named("bot-1", "nightly", "2026-11-15T09:00:00Z", &user, "bot", "ASIABOT1000000000001", Some("old-tools")),
        assume_named("bot-0", "nightly", "2026-11-20T11:45:00Z", &user, "bot", "ASIABOT0000000000001", Some("new-tools")),
        assume_named("bot-2", "nightly", "2026-11-20T14:00:00Z", &user, "bot", "ASIABOT2000000000001", Some("old-tools")),
        call("keyless", "2026-11-20T13:00:00Z", &{
            let mut who = session("", "bot", "nightly");
            who.as_object_mut().unwrap().remove("accessKeyId");
            who
        }),
    ]});
    let src =
        crate::util::one_object_trail("20261120T1300Z", "chain", records.to_string().as_bytes());
    let lake = tempfile::tempdir().unwrap();
    crate::util::ingest_dir(src.path(), lake.path()).await;
    let windowed = crate::util::query_in(lake.path(), range, labels).await;
    assert_eq!(windowed, query(lake.path(), labels).await, "forged chain");
    assert_eq!(
        crate::util::query_kept(lake.path(), range, labels).await,
        windowed,
        "forged chain, the whole lake's names and roles kept"
    );
    let day = TimeRange {
        since: Some("2026-11-20T00:00:00Z".parse().unwrap()),
        ..range
    };
    assert_eq!(
        crate::util::query_narrowed(lake.path(), day, range, labels).await,
        windowed,
        "forged chain, narrowed from the day's context"
    );
    assert_eq!(
        windowed,
        vec![
            vec![
                "bot-2".to_string(),
                "false".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
            vec![
                "by-grandchild".into(),
                "true".into(),
                "chained".into(),
                "old-tools".into(),
                "arn:aws:iam::111122223333:user/alice".into(),
                String::new(),
            ],
            vec![
                "by-human".into(),
                "false".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
            vec![
                "keyless".into(),
                "true".into(),
                "session-name".into(),
                "old-tools".into(),
                "arn:aws:sts::111122223333:assumed-role/bot/nightly".into(),
                String::new(),
            ],
        ]
    );
    // The grandchild, the human session, the two ancestors fetched by key and both "nightly"
    // sessions; not "old".
    assert_eq!(
        crate::util::query_in(
            lake.path(),
            range,
            "SELECT access_key_id FROM sessions ORDER BY access_key_id"
        )
        .await
        .concat(),
        [
            "ASIABOT0000000000001",
            "ASIABOT1000000000001",
            "ASIABOT2000000000001",
            "ASIACHILD00000000001",
            "ASIAGRAND00000000001",
            "ASIAHUMAN00000000001",
            "ASIAROOT000000000001"
        ]
    );
}
