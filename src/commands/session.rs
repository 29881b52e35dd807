//! `agenttrail session <access key | assumed-role ARN | session name>`: one session's timeline.
//!
//! How the session was created (STS API, caller, tags, source identity, session policy), every
//! call it made in order (errors, MCP tool where known, calls without an access key attributed by
//! session name marked as such), then the sessions chained beneath it, each with its own timeline.
//! Every value comes from CloudTrail and is escaped before it reaches the terminal.

use std::io::Write;

use arrow::array::{Array, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{SessionContext, col, lit};

use crate::cli::SessionArgs;
use crate::exit::ExitStatus;
use crate::query::build_context;
use crate::render::escape_control;
use crate::settings::Settings;

/// Rows as maps of column name → display text ("" for null).
fn rows(batches: &[RecordBatch]) -> anyhow::Result<Vec<Vec<(String, String)>>> {
    let opts = FormatOptions::default();
    let mut out = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            let row = b
                .schema()
                .fields()
                .iter()
                .zip(b.columns().iter().zip(&fmts))
                .map(|(f, (c, fmt))| {
                    let v = if c.is_null(r) {
                        String::new()
                    } else {
                        fmt.value(r).to_string()
                    };
                    (f.name().clone(), v)
                })
                .collect();
            out.push(row);
        }
    }
    Ok(out)
}

fn get<'a>(row: &'a [(String, String)], name: &str) -> &'a str {
    row.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn esc(s: &str) -> String {
    escape_control(s).into_owned()
}

async fn print_session(
    ctx: &SessionContext,
    out: &mut dyn Write,
    session: &[(String, String)],
    indent: usize,
) -> anyhow::Result<()> {
    let pad = " ".repeat(indent);
    let key = get(session, "access_key_id").to_string();
    let ai = if get(session, "is_ai") == "true" {
        format!(
            "AI ({}), MCP server {}",
            get(session, "ai_mechanisms"),
            or_dash(get(session, "mcp_server"))
        )
    } else {
        "not AI".to_string()
    };
    writeln!(out, "{pad}Session {} — {}", esc(&key), esc(&ai))?;
    writeln!(
        out,
        "{pad}  created  {} by {} ({} in {}, event {})",
        get(session, "issued_at"),
        esc(or_dash(get(session, "caller_arn"))),
        esc(get(session, "api")),
        esc(get(session, "region")),
        esc(get(session, "sts_event_id"))
    )?;
    writeln!(
        out,
        "{pad}  role     {} as {}",
        esc(or_dash(get(session, "role_arn"))),
        esc(or_dash(get(session, "session_name")))
    )?;
    if get(session, "is_ai") == "true" {
        writeln!(
            out,
            "{pad}  behind   {} (who the agent acts for: the chain's first caller)",
            esc(or_dash(get(session, "root_caller_arn")))
        )?;
    }
    writeln!(out, "{pad}  tags     {}", esc(get(session, "tags")))?;
    writeln!(
        out,
        "{pad}  source identity {}; session policy {}; expires {}",
        esc(or_dash(get(session, "source_identity"))),
        if get(session, "has_session_policy") == "true" {
            "yes"
        } else {
            "NO"
        },
        or_dash(get(session, "expires_at"))
    )?;

    let by_key = ctx
        .table("events")
        .await?
        .filter(col("access_key_id").eq(lit(key.clone())))?;
    let mut calls = rows(
        &by_key
            .sort(vec![
                col("event_time").sort(true, false),
                col("event_id").sort(true, false),
            ])?
            .collect()
            .await?,
    )?;
    // Calls without an access key attributed to this session by role and session name.
    if get(session, "is_ai") == "true" {
        let keyless = ctx
            .table("events")
            .await?
            .filter(col("access_key_id").is_null())?
            .filter(col("ai_mechanism").eq(lit("session-name")))?
            .filter(col("session_issuer_arn").eq(lit(get(session, "role_arn").to_string())))?
            .filter(col("identity_arn").eq(lit(get(session, "assumed_role_arn").to_string())))?;
        calls.extend(rows(&keyless.collect().await?)?);
        calls.sort_by(|a, b| {
            (get(a, "event_time"), get(a, "event_id"))
                .cmp(&(get(b, "event_time"), get(b, "event_id")))
        });
    }
    writeln!(out, "{pad}  calls    {}", calls.len())?;
    for c in &calls {
        let error = get(c, "error_code");
        let tool = match (get(c, "mcp_tool"), get(c, "mcp_client")) {
            ("", _) => String::new(),
            (t, "") => t.to_string(),
            (t, client) => format!("{t} from {client}"),
        };
        let keyless = if get(c, "access_key_id").is_empty() {
            "  [no access key: matched by session name]"
        } else {
            ""
        };
        writeln!(
            out,
            "{pad}    {}  {}:{}{}{}{}",
            get(c, "event_time"),
            esc(get(c, "event_source")),
            esc(get(c, "event_name")),
            if error.is_empty() {
                String::new()
            } else {
                format!("  ERROR {}", esc(error))
            },
            if tool.is_empty() {
                String::new()
            } else {
                format!("  tool {}", esc(&tool))
            },
            keyless,
        )?;
    }
    let children = ctx
        .table("sessions")
        .await?
        .filter(col("parent_access_key_id").eq(lit(key)))?;
    let children = rows(
        &children
            .sort(vec![col("issued_at").sort(true, false)])?
            .collect()
            .await?,
    )?;
    for child in &children {
        writeln!(out, "{pad}  chained session:")?;
        Box::pin(print_session(ctx, out, child, indent + 4)).await?;
    }
    Ok(())
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Print the timeline of every session matching the identifier.
pub async fn run(args: SessionArgs) -> anyhow::Result<ExitStatus> {
    let lake = super::query::open_lake(&args.lake).await?;
    let settings = Settings::load(args.config.as_deref())?;
    let ctx = build_context(&lake, &settings).await?;
    let id = args.id.trim().to_string();
    let column = if id.starts_with("arn:") {
        "assumed_role_arn"
    } else if id.len() == 20
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        "access_key_id"
    } else {
        "session_name"
    };
    let found = ctx
        .table("sessions")
        .await?
        .filter(col(column).eq(lit(id.clone())))?;
    let found = rows(
        &found
            .sort(vec![col("issued_at").sort(true, false)])?
            .collect()
            .await?,
    )?;
    if found.is_empty() {
        anyhow::bail!("no session with {column} {} in the lake", esc(&id));
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (i, s) in found.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        print_session(&ctx, &mut out, s, 0).await?;
    }
    out.flush()?;
    Ok(ExitStatus::Success)
}
