//! Shared helpers: paths, running the binary, querying a lake.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agenttrail::query::{build_context_in, run_sql};
use agenttrail::sink::Lake;
use arrow::util::display::array_value_to_string;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample_logs() -> PathBuf {
    repo().join("sample-logs")
}

pub fn conformance() -> PathBuf {
    let p = repo().join("../shared/conformance");
    assert!(
        p.is_dir(),
        "the conformance corpus is expected at {} (../shared beside the clone)",
        p.display()
    );
    p
}

/// The binary with a clean, loopback-only AWS environment.
pub fn agenttrail() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agenttrail"));
    c.env_remove("AGENTTRAIL_LOG")
        .env_remove("AGENTTRAIL_LAKE")
        .env_remove("AGENTTRAIL_SOURCE")
        .env_remove("AGENTTRAIL_CONFIG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the agenttrail binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Ingest `src` (a folder or one file) into the lake at `lake` through the library.
pub async fn ingest_dir(src: &Path, lake: &Path) -> agenttrail::ingest::IngestSummary {
    let lake = Lake::create(lake).unwrap();
    let source = agenttrail::source::Source::Local {
        root: src.to_path_buf(),
    };
    let opts = agenttrail::ingest::IngestOptions::default();
    agenttrail::ingest::ingest(&source, &lake, &opts, &agenttrail::ingest::NoProgress)
        .await
        .unwrap()
}

/// Three generated days (2026-11-18 to 20, `events` a day, seeds from `seed`) ingested into a
/// fresh lake: (the trail, the lake).
pub async fn generated_days_lake(events: u64, seed: u64) -> (tempfile::TempDir, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    for (i, day) in ["2026-11-18", "2026-11-19", "2026-11-20"]
        .iter()
        .enumerate()
    {
        let opts = agenttrail::synth::SynthOptions {
            events,
            seed: seed + i as u64,
            day: day.parse().unwrap(),
            records_per_file: 400,
        };
        agenttrail::synth::generate(data.path(), &opts).unwrap();
    }
    let lake = tempfile::tempdir().unwrap();
    ingest_dir(data.path(), lake.path()).await;
    (data, lake)
}

/// Run SQL over a lake through the library; every value rendered as text ("" for null).
pub async fn query(lake: &Path, sql: &str) -> Vec<Vec<String>> {
    query_in(lake, Default::default(), sql).await
}

/// Like [`query`], in a context limited to `range` (as `query --since/--until` and `detect`
/// build it).
pub async fn query_in(
    lake: &Path,
    range: agenttrail::query::TimeRange,
    sql: &str,
) -> Vec<Vec<String>> {
    rows_of(&context_in(lake, range, false).await, sql).await
}

/// A context over `lake` limited to `range`, built as `query` does, or with the kept summaries
/// (`kept`) as `detect` does.
async fn context_in(
    lake: &Path,
    range: agenttrail::query::TimeRange,
    kept: bool,
) -> datafusion::prelude::SessionContext {
    let (lake, settings) = (Lake::open(lake), agenttrail::settings::Settings::default());
    if kept {
        agenttrail::query::build_kept_context_in(&lake, &settings, range).await
    } else {
        build_context_in(&lake, &settings, range).await
    }
    .expect("context")
}

/// Like [`query_in`], with the whole lake's `ai_roles` and `ai_session_names` as kept in the lake
/// (`build_kept_context_in`: what `detect` and `run` build their windowed contexts with).
pub async fn query_kept(
    lake: &Path,
    range: agenttrail::query::TimeRange,
    sql: &str,
) -> Vec<Vec<String>> {
    rows_of(&context_in(lake, range, true).await, sql).await
}

/// Like [`query_kept`], in a context narrowed to `range` from one built for `wide`
/// (`Derivation::narrow`: what `detect` runs the detections of a short look-back in, sharing the
/// correlation tables of its context of the window's day). Panics when `wide` does not cover
/// `range`.
pub async fn query_narrowed(
    lake: &Path,
    wide: agenttrail::query::TimeRange,
    range: agenttrail::query::TimeRange,
    sql: &str,
) -> Vec<Vec<String>> {
    let (lake, settings) = (Lake::open(lake), agenttrail::settings::Settings::default());
    let (ctx, mut derivation) = agenttrail::query::build_plain_context_in(&lake, &settings, wide)
        .await
        .expect("context");
    derivation
        .keep(&ctx, &lake, &settings)
        .await
        .expect("kept summaries");
    derivation.build(&ctx).await.expect("derived tables");
    let narrow = derivation
        .narrow(&ctx, range)
        .await
        .expect("narrowed")
        .expect("the wide range covers the narrow one");
    rows_of(&narrow, sql).await
}

/// The rows of `sql` in `ctx`, as text.
async fn rows_of(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Vec<Vec<String>> {
    let (_, batches) = run_sql(ctx, sql, false)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| array_value_to_string(c, r).unwrap())
                    .collect(),
            );
        }
    }
    rows
}

/// One scalar from a query.
pub async fn scalar(lake: &Path, sql: &str) -> String {
    let rows = query(lake, sql).await;
    assert_eq!(rows.len(), 1, "{sql} returned {rows:?}");
    rows[0][0].clone()
}

/// Copy a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dst = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_tree(&entry.path(), &dst);
        } else {
            std::fs::copy(entry.path(), dst).unwrap();
        }
    }
}

/// All `.json.gz` log files (not digests) under `root`, sorted.
pub fn log_files(root: &Path) -> Vec<PathBuf> {
    files_under(root, |p| {
        let p = p.to_string_lossy();
        p.ends_with(".json.gz") && !p.contains("Digest")
    })
}

/// The files under `root` (at any depth) that `keep` accepts, sorted.
pub fn files_under(root: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// gzip `text` (one member).
pub fn gz(text: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

/// Run `cmd` with `input` on its standard input; its output captured.
pub fn run_with_stdin(cmd: &mut std::process::Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// One gzip CloudTrail object, `body` as given, written under the day folder of account
/// 111122223333 in eu-west-1 on 2026-11-20 (`<time>_<name>.json.gz`), in a fresh trail folder.
pub fn one_object_trail(time: &str, name: &str, body: &[u8]) -> tempfile::TempDir {
    let src = tempfile::tempdir().unwrap();
    let day = src
        .path()
        .join("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(
        day.join(format!(
            "111122223333_CloudTrail_eu-west-1_{time}_{name}.json.gz"
        )),
        gz(body),
    )
    .unwrap();
    src
}

/// CloudTrail records built in tests: an IAM user, an assumed-role session, an `AssumeRole` and
/// an API call (account 111122223333).
pub mod records {
    use serde_json::{Value, json};

    /// IAM user `name` with long-term key `key`.
    pub fn user(name: &str, key: &str) -> Value {
        json!({"type": "IAMUser", "arn": format!("arn:aws:iam::111122223333:user/{name}"),
            "accountId": "111122223333", "accessKeyId": key, "userName": name})
    }

    /// The identity of a session of `role` named `name` calling with `key` (`None`: a call that
    /// carries no access key).
    pub fn session(key: Option<&str>, role: &str, name: &str) -> Value {
        let mut who = json!({"type": "AssumedRole", "accountId": "111122223333",
            "arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/{name}"),
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role,
                "arn": format!("arn:aws:iam::111122223333:role/{role}")}}});
        if let Some(key) = key {
            who["accessKeyId"] = key.into();
        }
        who
    }

    /// `caller` assumes `role` as session `name` at `at`, getting `key` (expiring `expires`, as
    /// CloudTrail writes it); tagged as an AI session of MCP server `server` when given.
    #[allow(clippy::too_many_arguments)]
    pub fn assume_role(
        id: &str,
        at: &str,
        caller: &Value,
        role: &str,
        name: &str,
        key: &str,
        expires: &str,
        server: Option<&str>,
    ) -> Value {
        let mut params = json!({"roleArn": format!("arn:aws:iam::111122223333:role/{role}"),
            "roleSessionName": name});
        if let Some(server) = server {
            params["tags"] = json!([{"key": "AccessType", "value": "AI"},
                {"key": "MCPServer", "value": server}]);
        }
        json!({"eventVersion": "1.11", "userIdentity": caller, "eventTime": at,
            "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.10", "userAgent": "aws-sdk-python/1.35.0",
            "requestParameters": params,
            "responseElements": {"credentials": {"accessKeyId": key, "expiration": expires},
                "assumedRoleUser": {"arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/{name}"),
                    "assumedRoleId": format!("AROA:{name}")}},
            "requestID": format!("req-{id}"), "eventID": id, "readOnly": true,
            "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": "111122223333", "eventCategory": "Management"})
    }

    /// `who` calls `source`:`name` at `at`.
    pub fn call(id: &str, at: &str, who: &Value, source: &str, name: &str) -> Value {
        json!({"eventVersion": "1.11", "userIdentity": who, "eventTime": at,
            "eventSource": source, "eventName": name, "awsRegion": "eu-west-1",
            "sourceIPAddress": "203.0.113.10", "userAgent": "aws-sdk-python/1.35.0",
            "requestParameters": {}, "responseElements": null,
            "requestID": format!("req-{id}"), "eventID": id, "readOnly": true,
            "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": "111122223333", "eventCategory": "Management"})
    }
}
