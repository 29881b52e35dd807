//! `agenttrail lake info|optimize|vacuum|export-ddl`.

use std::io::Write;

use anyhow::Context;

use crate::cli::{LakeCommand, LakeInfoFormat};
use crate::exit::ExitStatus;
use crate::render::escape_control;
use crate::sink::{Lake, maintain};

/// Run one `lake` subcommand.
pub async fn run(cmd: LakeCommand) -> anyhow::Result<ExitStatus> {
    let uri = match &cmd {
        LakeCommand::Info(a) => &a.lake,
        LakeCommand::Optimize(a) => &a.lake,
        LakeCommand::Vacuum(a) => &a.lake,
        LakeCommand::ExportDdl(a) => &a.lake,
    };
    let lake = Lake::resolve(uri)
        .await
        .with_context(|| format!("cannot open the lake {uri}"))?;
    let mut out = std::io::stdout().lock();
    match cmd {
        LakeCommand::Info(args) => {
            let tables = maintain::info(&lake).await?;
            if args.format == LakeInfoFormat::Json {
                serde_json::to_writer_pretty(&mut out, &tables)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "{:<22} {:>8} {:>8} {:>12} {:>14}",
                    "table", "version", "files", "rows", "bytes"
                )?;
                for t in &tables {
                    let version = t.version.map_or("-".to_string(), |v| v.to_string());
                    writeln!(
                        out,
                        "{:<22} {:>8} {:>8} {:>12} {:>14}",
                        t.table, version, t.totals.files, t.totals.rows, t.totals.bytes
                    )?;
                    for (p, n) in &t.partitions {
                        writeln!(
                            out,
                            "  {:<20} {:>8} {:>8} {:>12} {:>14}",
                            escape_control(p),
                            "",
                            n.files,
                            n.rows,
                            n.bytes
                        )?;
                    }
                }
            }
        }
        LakeCommand::Optimize(args) => {
            let done = maintain::optimize(&lake, args.target_mib << 20).await?;
            for t in &done {
                writeln!(
                    out,
                    "{}: {} files compacted into {}; version {}",
                    t.table,
                    t.files_removed,
                    t.files_added,
                    t.version.map_or("-".to_string(), |v| v.to_string())
                )?;
            }
        }
        LakeCommand::Vacuum(args) => {
            let hours = i64::try_from(args.retention_hours).unwrap_or(i64::MAX / 3600);
            let done =
                maintain::vacuum(&lake, chrono::Duration::hours(hours), args.dry_run).await?;
            let verb = if args.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            for t in &done {
                writeln!(
                    out,
                    "{}: {verb} {} files, {} expired log entries",
                    t.table,
                    t.files.len(),
                    t.log_entries
                )?;
                for f in &t.files {
                    writeln!(out, "  {}", escape_control(f))?;
                }
            }
        }
        LakeCommand::ExportDdl(args) => {
            let ddl = crate::sink::ddl::export(&lake, args.engine, &args.database)?;
            out.write_all(ddl.as_bytes())?;
        }
    }
    Ok(ExitStatus::Success)
}
