//! `agenttrail shell`: an interactive SQL shell over the lake.
//!
//! On a terminal it edits lines with history (rustyline; history in the cache folder); otherwise
//! it reads statements from standard input, so scripts and tests drive it the same way. A
//! statement ends with `;` and may span lines. Meta commands: `\d` / `.tables`, `\d NAME` /
//! `.schema NAME`, `\timing`, `\format table|csv|json|ndjson`, `\q` / `.quit`, `\?` / `.help`.
//! An error is printed as one line and the shell goes on; without a terminal the exit status is 2
//! if any statement failed. The correlation tables are built the first time a statement reads
//! them or the AI columns of `events` (see `query::needs_derived`): a session of raw-column
//! searches never pays for them.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Instant;

use datafusion::prelude::SessionContext;

use crate::cli::ShellArgs;
use crate::exit::ExitStatus;
use crate::query::{Derivation, build_plain_context_in, needs_derived, run_sql_stream};
use crate::render::{Format, escape_control, write_result};
use crate::settings::Settings;

const HELP: &str = "\\
Statements end with ';' and may span lines. Tables: events, ai_events, sessions, mcp_calls,
mcp_links, events_all, lake_events, rejects.
  \\d, .tables            list tables and views
  \\d NAME, .schema NAME  columns of a table
  \\timing                toggle timing of each statement
  \\format FORMAT         table, csv, json or ndjson
  \\q, .quit              leave";

struct Shell {
    ctx: SessionContext,
    /// How the correlation tables are built, until a statement needs them.
    unbuilt: Option<Derivation>,
    format: Format,
    /// Rows a table shows.
    max_rows: usize,
    timing: bool,
    allow_writes: bool,
    failed: bool,
}

impl Shell {
    async fn sql(&mut self, sql: &str) {
        let started = Instant::now();
        if self.unbuilt.is_some()
            && needs_derived(&self.ctx, sql).await
            && let Some(derivation) = self.unbuilt.take()
        {
            tracing::debug!("The statement reads the correlation tables; building them.");
            if let Err(e) = derivation.build(&self.ctx).await {
                self.failed = true;
                let msg = crate::source::error_chain(&e);
                eprintln!("error: {}", escape_control(&msg).replace("\\n", " "));
                self.unbuilt = Some(derivation);
                return;
            }
        }
        match run_sql_stream(&self.ctx, sql, self.allow_writes).await {
            Ok((schema, stream)) => {
                // As `query` prints: CSV and NDJSON as the rows come, a table of the first
                // `--max-rows` with the count of all; an error while the rows come fails it.
                let stdout = std::io::stdout();
                let written = write_result(
                    &mut stdout.lock(),
                    &schema,
                    stream,
                    self.format,
                    self.max_rows,
                )
                .await;
                let _ = stdout.lock().flush();
                if let Err(e) = written {
                    self.failed = true;
                    eprintln!(
                        "error: {}",
                        escape_control(&format!("{e:#}")).replace("\n", " ")
                    );
                }
            }
            Err(e) => {
                self.failed = true;
                let msg = crate::source::error_chain(&e);
                eprintln!("error: {}", escape_control(&msg).replace("\\n", " "));
            }
        }
        if self.timing {
            eprintln!("Elapsed {:.3} s", started.elapsed().as_secs_f64());
        }
    }

    /// Handle a meta command; returns false to quit.
    async fn meta(&mut self, line: &str) -> bool {
        let mut parts = line.split_whitespace();
        let cmd = parts.next().unwrap_or_default();
        let arg = parts.next();
        match (cmd, arg) {
            ("\\q" | ".quit" | ".exit", _) => return false,
            ("\\?" | ".help", _) => println!("{HELP}"),
            ("\\timing" | ".timer", _) => {
                self.timing = !self.timing;
                eprintln!("Timing is {}.", if self.timing { "on" } else { "off" });
            }
            ("\\format" | ".mode", Some(f)) => match f {
                "table" => self.format = Format::Table,
                "csv" => self.format = Format::Csv,
                "json" => self.format = Format::Json,
                "ndjson" => self.format = Format::Ndjson,
                other => eprintln!("error: unknown format {}", escape_control(other)),
            },
            ("\\d" | ".tables", None) => {
                self.sql(
                    "SELECT table_name, table_type FROM information_schema.tables \
                     WHERE table_schema = 'lake' ORDER BY table_name",
                )
                .await
            }
            ("\\d" | ".schema", Some(t)) => {
                let t = t.trim_end_matches(';').replace('\'', "''");
                self.sql(&format!(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                     WHERE table_schema = 'lake' AND table_name = '{t}' ORDER BY ordinal_position"
                ))
                .await
            }
            _ => {
                self.failed = true;
                eprintln!(
                    "error: unknown command {} (\\? for help)",
                    escape_control(cmd)
                );
            }
        }
        true
    }
}

/// Run the shell.
pub async fn run(args: ShellArgs) -> anyhow::Result<ExitStatus> {
    let lake = super::query::open_lake(&args.lake).await?;
    let settings = Settings::load(args.config.as_deref())?;
    let range = super::query::time_range(args.since, args.until)?;
    let (ctx, derivation) = build_plain_context_in(&lake, &settings, range).await?;
    let mut shell = Shell {
        ctx,
        unbuilt: Some(derivation),
        format: args.format,
        max_rows: args.max_rows,
        timing: false,
        allow_writes: args.allow_writes,
        failed: false,
    };
    let interactive = std::io::stdin().is_terminal();
    let mut buffer = String::new();
    if interactive {
        eprintln!(
            "agenttrail shell over {} (\\? for help, \\q to quit)",
            escape_control(&args.lake)
        );
        let mut editor = rustyline::DefaultEditor::new()?;
        let history = crate::env_vars::cache_dir().join("shell_history");
        let _ = editor.load_history(&history);
        loop {
            let prompt = if buffer.is_empty() {
                "agenttrail> "
            } else {
                "        ...> "
            };
            match editor.readline(prompt) {
                Ok(line) => {
                    let _ = editor.add_history_entry(line.as_str());
                    if !feed(&mut shell, &mut buffer, &line).await {
                        break;
                    }
                }
                Err(rustyline::error::ReadlineError::Interrupted) => buffer.clear(),
                Err(_) => break,
            }
        }
        if let Some(dir) = history.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(&history);
        Ok(ExitStatus::Success)
    } else {
        for line in std::io::stdin().lock().lines() {
            if !feed(&mut shell, &mut buffer, &line?).await {
                break;
            }
        }
        if !buffer.trim().is_empty() {
            shell.sql(buffer.trim()).await;
        }
        Ok(if shell.failed {
            ExitStatus::Error
        } else {
            ExitStatus::Success
        })
    }
}

/// Add a line; run meta commands and complete statements. Returns false to quit.
async fn feed(shell: &mut Shell, buffer: &mut String, line: &str) -> bool {
    let trimmed = line.trim();
    if buffer.is_empty() && (trimmed.starts_with('\\') || trimmed.starts_with('.')) {
        return shell.meta(trimmed).await;
    }
    if buffer.is_empty() && (trimmed.is_empty() || trimmed.starts_with("--")) {
        return true;
    }
    buffer.push_str(line);
    buffer.push('\n');
    if trimmed.ends_with(';') {
        let sql = std::mem::take(buffer);
        shell.sql(sql.trim().trim_end_matches(';')).await;
    }
    true
}
