//! The binary as a user runs it: exit codes, stdout/stderr split, formats, filters, help.

use crate::util::{agenttrail, copy_tree, run, sample_logs, stderr, stdout};

#[test]
fn ingest_then_query_the_sample_logs() {
    let lake = tempfile::tempdir().unwrap();
    let out = run(agenttrail()
        .args(["ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).is_empty(),
        "results only on stdout; ingest prints none"
    );
    let err = stderr(&out);
    assert!(
        err.contains("objects: 14 read, 34 skipped (digest 16, not-json-gz 18), 0 failed; records: 220 ingested, 1 rejected, 1 duplicate"),
        "{err}"
    );

    let out = run(agenttrail()
        .args(["query", "--format", "csv", "--lake"])
        .arg(lake.path())
        .arg("SELECT event_name, count(*) AS n FROM events WHERE event_name LIKE 'Delete%' GROUP BY 1 ORDER BY 1"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "event_name,n\nDeleteBucket,2\nDeleteDBInstance,1\nDeleteFunction20150331,1\nDeleteObject,5\nDeleteObjects,1\nDeleteStack,1\nDeleteTable,1\n"
    );
}

#[test]
fn a_table_shows_max_rows_and_counts_them_all() {
    let lake = tempfile::tempdir().unwrap();
    run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    // The table's data rows: lines that start with "| " after the header.
    let data_rows = |text: &str| text.lines().filter(|l| l.starts_with("| ")).count() - 1;
    let sql = "SELECT event_id FROM events WHERE event_name LIKE 'Delete%' ORDER BY event_id";
    let query = |max: &str| {
        let out = run(agenttrail()
            .args(["query", "--max-rows", max, "--lake"])
            .arg(lake.path())
            .arg(sql));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let (two, all) = (query("2"), query("0"));
    assert_eq!(data_rows(&two), 2, "{two}");
    assert!(
        two.ends_with("12 rows (2 shown: --max-rows 0, or --format csv, for all)\n"),
        "{two}"
    );
    assert_eq!(data_rows(&all), 12, "{all}");
    assert!(all.ends_with("\n12 rows\n"), "{all}");
    // The rows shown are the first ones of the whole table.
    let cells = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("| "))
            .skip(1)
            .map(|l| l.trim_matches(|c| c == '|' || c == ' ').to_string())
            .collect()
    };
    assert_eq!(cells(&two), cells(&all)[..2], "{two}\n{all}");

    let out = run(agenttrail()
        .args([
            "detect",
            "--only",
            "ai_deletions",
            "--max-rows",
            "1",
            "--lake",
        ])
        .arg(lake.path()));
    let text = stdout(&out);
    assert_eq!(data_rows(&text), 1, "{text}");
    assert!(text.contains(" rows (1 shown: "), "{text}");
}

#[test]
fn table_output_neutralises_terminal_escapes_and_json_keeps_them_escaped() {
    let lake = tempfile::tempdir().unwrap();
    run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    let sql = "SELECT user_agent FROM events WHERE event_id LIKE 'hostile-user-agent-%'";
    let out = run(agenttrail()
        .args(["query", "--lake"])
        .arg(lake.path())
        .arg(sql));
    let text = stdout(&out);
    assert!(
        !text.contains('\u{1b}'),
        "raw ESC reached the terminal: {text:?}"
    );
    assert!(
        text.contains("aws-cli/2.22.0 \\x1b[2J\\x1b[31mAll clear\\x1b[0m"),
        "{text}"
    );
    let out = run(agenttrail()
        .args(["query", "--format", "json", "--lake"])
        .arg(lake.path())
        .arg(sql));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v[0]["user_agent"],
        "aws-cli/2.22.0 \u{1b}[2J\u{1b}[31mAll clear\u{1b}[0m"
    );
    assert!(
        !stdout(&out).contains('\u{1b}'),
        "JSON escapes control characters"
    );
}

#[test]
fn key_filters_select_objects_before_reading_them() {
    let cases: &[(&[&str], u64, &str)] = &[
        (&["--account", "444455556666"], 1, "filtered 13"),
        (&["--region", "us-east-1"], 5, "filtered 9"),
        (
            &[
                "--region",
                "eu-west-1,us-east-1",
                "--account",
                "111122223333",
            ],
            13,
            "filtered 1",
        ),
        (&["--since", "2026-11-21"], 0, "filtered 14"),
        (
            &["--since", "2026-11-20", "--until", "2026-11-20"],
            14,
            "digest 1",
        ),
    ];
    for (args, read, skipped) in cases {
        let lake = tempfile::tempdir().unwrap();
        let out = run(agenttrail()
            .args(["ingest", "--source"])
            .arg(sample_logs())
            .arg("--lake")
            .arg(lake.path())
            .args(*args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("objects: {read} read")),
            "{args:?}: {err}"
        );
        assert!(err.contains(skipped), "{args:?}: {err}");
    }
}

#[test]
fn a_partial_failure_exits_2_and_names_the_object() {
    let src = tempfile::tempdir().unwrap();
    copy_tree(&sample_logs(), src.path());
    let bad = src.path().join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T2300Z_broken.json.gz");
    std::fs::write(&bad, b"definitely not gzip").unwrap();
    let lake = tempfile::tempdir().unwrap();
    let out = run(agenttrail()
        .args(["ingest", "--source"])
        .arg(src.path())
        .arg("--lake")
        .arg(lake.path()));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("220 ingested"), "{err}");
    assert!(err.contains("1 failed"), "{err}");
    assert!(
        err.contains("failed: ") && err.contains("20261120T2300Z_broken.json.gz: not-gzip"),
        "{err}"
    );
}

#[test]
fn usage_errors_are_clear_and_exit_2() {
    let lake = tempfile::tempdir().unwrap();
    let out = run(agenttrail()
        .args(["ingest", "--source", "/no/such/folder", "--lake"])
        .arg(lake.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid source \"/no/such/folder\": no such file or directory"),
        "{}",
        stderr(&out)
    );

    let out = run(agenttrail()
        .args(["query", "--lake"])
        .arg(lake.path())
        .arg("SELECT 1"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not an agenttrail lake"),
        "{}",
        stderr(&out)
    );

    run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    let out = run(agenttrail()
        .args(["query", "--lake"])
        .arg(lake.path())
        .arg("SELECT nope FROM events"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}

#[test]
fn ad_hoc_sql_is_read_only() {
    let lake = tempfile::tempdir().unwrap();
    run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    for sql in [
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO events_all SELECT * FROM events_all",
        "DROP TABLE events_all",
        "COPY (SELECT 1) TO '/tmp/agenttrail-should-not-exist.csv'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let out = run(agenttrail()
            .args(["query", "--lake"])
            .arg(lake.path())
            .arg(sql));
        assert_eq!(out.status.code(), Some(2), "{sql} was allowed");
        assert!(
            stderr(&out).contains("not supported") || stderr(&out).contains("not allowed"),
            "{sql}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn help_shows_examples() {
    for cmd in ["ingest", "query"] {
        let out = run(agenttrail().args([cmd, "--help"]));
        assert_eq!(out.status.code(), Some(0));
        assert!(
            stdout(&out).contains(&format!("agenttrail {cmd} --")),
            "{cmd}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn the_readme_documents_every_column() {
    let readme = std::fs::read_to_string(crate::util::repo().join("README.md")).unwrap();
    for (name, ..) in agenttrail::schema::EVENT_COLUMNS
        .iter()
        .chain(agenttrail::schema::REJECT_COLUMNS)
        .chain(agenttrail::schema::INTEGRITY_COLUMNS)
    {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README lacks column {name}"
        );
    }
}

#[test]
fn sessions_lists_ai_sessions_with_their_calls() {
    let lake = tempfile::tempdir().unwrap();
    run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    let out = run(agenttrail()
        .args([
            "sessions",
            "--ai-only",
            "--since",
            "2026-11-20",
            "--format",
            "csv",
            "--lake",
        ])
        .arg(lake.path()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let summary: Vec<(&str, &str, &str)> =
        rows.iter().map(|r| (r[1], r[5], r[r.len() - 5])).collect();
    assert_eq!(
        summary,
        vec![
            ("ASIAEXAMPLEAGENT0042", "session-tag", "14"),
            ("ASIAEXAMPLECHAIN0001", "chained", "2"),
            ("ASIAEXAMPLEWEBID0007", "session-tag", "3"),
        ],
        "{text}"
    );
    let out = run(agenttrail()
        .args(["sessions", "--since", "2026-11-21", "--lake"])
        .arg(lake.path()));
    assert!(stdout(&out).ends_with("0 rows\n"), "{}", stdout(&out));
}

#[test]
fn query_reads_files_prunes_by_time_writes_parquet_and_explains_unknown_columns() {
    let lake = tempfile::tempdir().unwrap();
    run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    let sql = lake.path().join("q.sql");
    std::fs::write(&sql, "SELECT count(*) AS n FROM events").unwrap();
    let out = run(agenttrail()
        .args([
            "query",
            "--format",
            "csv",
            "--since",
            "2026-11-20T16:00:00Z",
            "--until",
            "2026-11-20T16:10:00Z",
            "--lake",
        ])
        .arg(lake.path())
        .arg("-f")
        .arg(&sql));
    assert_eq!(stdout(&out), "n\n8\n", "{}", stderr(&out));
    let out = run(agenttrail()
        .args([
            "query",
            "--format",
            "csv",
            "--since",
            "2026-11-21",
            "--lake",
        ])
        .arg(lake.path())
        .arg("SELECT count(*) AS n FROM events"));
    assert_eq!(stdout(&out), "n\n0\n");

    let parquet = lake.path().join("out.parquet");
    let out = run(agenttrail()
        .args(["query", "--lake"])
        .arg(lake.path())
        .arg("--output")
        .arg(&parquet)
        .arg("SELECT event_id, mcp_tool FROM events WHERE mcp_tool IS NOT NULL"));
    assert!(stderr(&out).contains("wrote 15 rows"), "{}", stderr(&out));
    let file = std::fs::File::open(&parquet).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 15);
    // A statement that fails while its rows stream out leaves no file, whole or partial.
    let broken = lake.path().join("broken.parquet");
    let out = run(agenttrail()
        .args(["query", "--lake"])
        .arg(lake.path())
        .arg("--output")
        .arg(&broken)
        .arg("SELECT event_id, CAST(event_name AS INT) AS n FROM events"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("Cannot cast"), "{}", stderr(&out));
    assert!(!broken.exists());
    assert!(!lake.path().join("broken.parquet.tmp").exists());

    let out = run(agenttrail()
        .args(["query", "--lake"])
        .arg(lake.path())
        .arg("SELECT event_nam FROM events"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("unknown column event_nam; did you mean event_name"),
        "{err}"
    );

    let out = run(agenttrail().args(["query", "--format", "csv", "--lake"]).arg(lake.path()).arg("SELECT mcp_tool, mcp_client, downstream FROM mcp_calls WHERE downstream LIKE '%DeleteBucket%'"));
    assert_eq!(
        stdout(&out),
        "mcp_tool,mcp_client,downstream\ncall_aws,mcp-proxy-for-aws/1.2.0 claude-desktop/0.14.1,s3.amazonaws.com:DeleteBucket\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_shell_runs_multi_line_statements_meta_commands_and_refuses_writes() {
    let lake = tempfile::tempdir().unwrap();
    run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    let script = "\\d\n\\d sessions\nSELECT ai_mechanism,\n  count(*) AS n\nFROM ai_events\nGROUP BY 1 ORDER BY 1;\n\
                  CREATE TABLE x AS SELECT 1;\nCOPY (SELECT 1) TO '/tmp/agenttrail-shell-copy.csv';\n\\timing\nSELECT 42 AS answer;\n\\q\nSELECT 'not reached';\n";
    let out = crate::util::run_with_stdin(
        agenttrail()
            .args(["shell", "--format", "csv", "--lake"])
            .arg(lake.path()),
        script,
    );
    let text = stdout(&out);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a refused statement makes the run fail: {err}"
    );
    assert!(
        text.contains("table_name,table_type\n") && text.contains("mcp_calls,VIEW"),
        "{text}"
    );
    assert!(
        text.contains("column_name,data_type,is_nullable\naccess_key_id,Utf8,NO\n"),
        "{text}"
    );
    assert!(text.contains("ai_mechanism,n\nchained,2\nmanaged-mcp,15\nsession-name,1\nsession-tag,17\nuser-agent,1\n"), "{text}");
    assert!(text.contains("answer\n42\n"), "{text}");
    assert!(!text.contains("not reached"), "\\q stops the shell");
    assert_eq!(err.matches("not supported").count(), 2, "{err}");
    assert!(err.contains("Elapsed "), "{err}");
    assert!(!std::path::Path::new("/tmp/agenttrail-shell-copy.csv").exists());

    // A table shows --max-rows rows and counts them all; an error while rows come fails the run.
    let out = crate::util::run_with_stdin(
        agenttrail()
            .args(["shell", "--max-rows", "1", "--lake"])
            .arg(lake.path()),
        "SELECT event_id FROM events WHERE event_name LIKE 'Delete%' ORDER BY event_id;\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("12 rows (1 shown: "),
        "{}",
        stdout(&out)
    );
    let out = crate::util::run_with_stdin(
        agenttrail()
            .args(["shell", "--format", "csv", "--lake"])
            .arg(lake.path()),
        "SELECT CAST(event_name AS INT) AS n FROM events;\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("Cannot cast"), "{}", stderr(&out));
}

#[test]
fn a_session_timeline_shows_creation_calls_and_chained_sessions() {
    let lake = tempfile::tempdir().unwrap();
    run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    let out = run(agenttrail()
        .args(["session", "--lake"])
        .arg(lake.path())
        .arg("ASIAEXAMPLEAGENT0042"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "Session ASIAEXAMPLEAGENT0042 — AI (session-tag), MCP server s3-tools",
        "by arn:aws:sts::111122223333:assumed-role/mcp-server-host/i-0abc123def4567890 (AssumeRole in us-east-1",
        "tags     {\"AccessType\":\"AI\",\"MCPServer\":\"s3-tools\"}",
        "session policy NO",
        "calls    15",
        "2026-11-20T16:12:00Z  iam.amazonaws.com:ListAttachedRolePolicies  ERROR AccessDenied",
        "2026-11-20T16:30:00Z  s3.amazonaws.com:DeleteBucket  [no access key: matched by session name]",
        "  chained session:\n    Session ASIAEXAMPLECHAIN0001 — AI (chained), MCP server s3-tools",
        "        2026-11-20T16:22:00Z  lambda.amazonaws.com:DeleteFunction20150331",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // By session name: the agent's session and the person's reuse of the name, told apart.
    let out = run(agenttrail()
        .args(["session", "--lake"])
        .arg(lake.path())
        .arg("agent-session-42"));
    let text = stdout(&out);
    assert!(
        text.contains("Session ASIAEXAMPLEAGENT0042 — AI")
            && text.contains("Session ASIAEXAMPLEHUMAN0042 — not AI"),
        "{text}"
    );
    // The managed MCP server's calls show their tool.
    let out = run(agenttrail()
        .args(["session", "--lake"])
        .arg(lake.path())
        .arg("no-such-session"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no session with session_name no-such-session"),
        "{}",
        stderr(&out)
    );
}

/// Headless Chromium, installed by scripts/test.sh (Debian's `chromium`).
fn chromium() -> String {
    let bin = std::env::var("AGENTTRAIL_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let ok = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{bin} is not installed: run the tests through scripts/test.sh, which installs it"
    );
    bin
}

#[test]
fn the_report_renders_in_a_browser_and_shows_the_figures() {
    let lake = tempfile::tempdir().unwrap();
    run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    let html = lake.path().join("report.html");
    let out = run(agenttrail()
        .current_dir(crate::util::repo())
        .args(["report", "--lake"])
        .arg(lake.path())
        .arg("--out")
        .arg(&html));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let profile = tempfile::tempdir().unwrap();
    let dom = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    for want in [
        r#"<b id="total-ai">36</b>"#,
        r#"<b id="total-human">184</b>"#,
        r#"<tr data-detection="ai_deletions"><td>ai_deletions</td><td class="sev-high">high</td><td class="n">10</td>"#,
        r#"<tr data-detection="ai_logging_tampering"><td>ai_logging_tampering</td><td class="sev-critical">critical</td><td class="n">0</td>"#,
        "<tr><td>aws-mcp.amazonaws.com</td><td>call_aws</td><td class=\"n\">12</td></tr>",
        "<tr><td>ASIAEXAMPLEAGENT0042</td>",
    ] {
        assert!(dom.contains(want), "the rendered page lacks {want}:\n{dom}");
    }
    // One bar per hour for each kind: 9 hours of sample data.
    assert_eq!(dom.matches(r#"<rect class="ai""#).count(), 9, "{dom}");
    assert_eq!(dom.matches(r#"<rect class="human""#).count(), 9);
    assert!(
        dom.contains(r#"data-hour="2026-11-20T16:00:00Z" data-count="17""#),
        "the 16:00 AI bar counts the agent session's 17 calls: {dom}"
    );
    assert!(!dom.contains("<script"), "the report runs no script");
}

#[test]
fn a_statement_over_the_raw_columns_builds_no_correlation_table_and_answers_the_same() {
    let lake = tempfile::tempdir().unwrap();
    run(agenttrail()
        .args(["-q", "ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(lake.path()));
    let query = |sql: &str| {
        let out = run(agenttrail()
            .env("AGENTTRAIL_LOG", "agenttrail=debug")
            .args(["-vv", "query", "--format", "csv", "--lake"])
            .arg(lake.path())
            .arg(sql));
        assert_eq!(out.status.code(), Some(0), "{sql}: {}", stderr(&out));
        let skipped = stderr(&out).contains("none was built");
        (stdout(&out), skipped)
    };
    let (raw, skipped) =
        query("SELECT event_name, count(*) AS n FROM events GROUP BY 1 ORDER BY 1");
    assert!(skipped, "a count by event name needs no correlation table");
    assert!(raw.contains("DeleteObject,5\n"), "{raw}");
    // The same rows through the AI label (never null), which needs every table.
    let (labelled, skipped) = query(
        "SELECT event_name, count(*) AS n FROM events WHERE is_ai OR NOT is_ai GROUP BY 1 ORDER BY 1",
    );
    assert!(!skipped, "is_ai is looked up in the correlation tables");
    assert_eq!(raw, labelled);
    for sql in [
        "SELECT count(*) AS n FROM sessions",
        "SELECT count(*) AS n FROM mcp_calls",
        "SELECT count(*) AS n FROM events WHERE mcp_server IS NOT NULL",
    ] {
        let (out, skipped) = query(sql);
        assert!(!skipped, "{sql} reads a correlation table");
        assert_ne!(out, "n\n0\n", "{sql}: the tables were built, not empty");
    }
    // The shell builds them at the first statement that needs them, once.
    let out = crate::util::run_with_stdin(
        agenttrail()
            .env("AGENTTRAIL_LOG", "agenttrail=debug")
            .args(["-vv", "shell", "--format", "csv", "--lake"])
            .arg(lake.path()),
        "SELECT count(*) AS n FROM events;\nSELECT count(*) AS n FROM events WHERE is_ai OR NOT is_ai;\n\
         SELECT count(*) AS n FROM sessions;\n",
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(err.matches("building them").count(), 1, "{err}");
    let counts: Vec<&str> = text.lines().filter(|l| *l != "n").collect();
    assert_eq!(counts.len(), 3, "{text}");
    assert_eq!(counts[0], counts[1], "{text}");
    assert_ne!(counts[2], "0", "{text}");
    let built_at = err.find("building them").unwrap();
    let first_statement_done = err.find("sign-in sessions built").unwrap();
    assert!(
        first_statement_done < built_at,
        "the plain context came first: {err}"
    );
}
