//! Command-line arguments (clap derive only; nothing past `commands` sees clap types).

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::env_vars;
use crate::render::Format;

/// agenttrail: see what AI agents do in your AWS accounts.
///
/// Reads CloudTrail logs, tells AI-driven calls from human ones, keeps them in a Parquet lake and
/// answers SQL over it.
#[derive(Debug, Parser)]
#[command(
    name = "agenttrail",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More logging (-v info details, -vv debug, -vvv trace). AGENTTRAIL_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Logging")]
    pub verbose: u8,
    /// Less logging (-q errors only, -qq nothing).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Logging")]
    pub quiet: u8,
    /// Never draw a progress bar (it is drawn only when stderr is a terminal anyway).
    #[arg(long, global = true, help_heading = "Logging")]
    pub no_progress: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read CloudTrail objects into the lake (only objects not already in it).
    #[command(after_help = INGEST_EXAMPLES)]
    Ingest(IngestArgs),
    /// Run one SQL statement over the lake (read-only).
    #[command(after_help = QUERY_EXAMPLES)]
    Query(QueryArgs),
    /// List STS sessions: tags, AI decision, role chains and downstream calls.
    #[command(after_help = SESSIONS_EXAMPLES)]
    Sessions(SessionsArgs),
    /// Write a realistic synthetic CloudTrail day with ground-truth labels (tests, benchmarks).
    #[command(after_help = SYNTH_EXAMPLES)]
    Synth(SynthArgs),
}

const SYNTH_EXAMPLES: &str = "\
Examples:
  agenttrail synth --events 1000000 --out /tmp/ct
  agenttrail ingest --source /tmp/ct --lake /tmp/lake

Writes DIR/AWSLogs/... (gzip, CloudTrail layout) and DIR/labels.csv with the expected is_ai,
ai_mechanism and mcp_server of every event.";

/// `agenttrail synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of events (approximately).
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed: the same seed writes the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The day the events happen on (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date, default_value = "2026-11-20")]
    pub day: NaiveDate,
    /// Records per file at most.
    #[arg(long, default_value_t = 2_000)]
    pub records_per_file: usize,
}

const SESSIONS_EXAMPLES: &str = "\
Examples:
  agenttrail sessions --lake ./lake
  agenttrail sessions --lake ./lake --ai-only --since 24h
  agenttrail sessions --lake ./lake --since 2026-11-20 --format csv

A session is identified by its access key only: the same role and session name reused by a
person is a different session. See `ai_mechanism` for why a session is AI-driven.";

/// `agenttrail sessions`.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Lake folder.
    #[arg(long, env = env_vars::LAKE)]
    pub lake: PathBuf,
    /// Only AI sessions.
    #[arg(long)]
    pub ai_only: bool,
    /// Only sessions issued since then: a duration back from now (30m, 24h, 7d) or a UTC date/time.
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Since>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Configuration file (default: ./agenttrail.toml when present).
    #[arg(long, env = env_vars::CONFIG)]
    pub config: Option<PathBuf>,
}

/// A point in time given on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Since {
    /// This long before now.
    Ago(chrono::Duration),
    /// This instant (UTC).
    At(chrono::DateTime<chrono::Utc>),
}

impl Since {
    /// The instant, relative to `now`.
    pub fn resolve(self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        match self {
            Since::Ago(d) => now - d,
            Since::At(t) => t,
        }
    }
}

/// Parse `30m`, `24h`, `7d`, `YYYY-MM-DD` or an RFC 3339 / CloudTrail timestamp.
pub fn parse_since(s: &str) -> Result<Since, String> {
    let s = s.trim();
    if let Some((num, unit)) = s.find(|c: char| !c.is_ascii_digit()).map(|i| s.split_at(i))
        && let Ok(n) = num.parse::<i64>()
    {
        let d = match unit {
            "s" => Some(chrono::Duration::seconds(n)),
            "m" => Some(chrono::Duration::minutes(n)),
            "h" => Some(chrono::Duration::hours(n)),
            "d" => Some(chrono::Duration::days(n)),
            "w" => Some(chrono::Duration::weeks(n)),
            _ => None,
        };
        if let Some(d) = d {
            return Ok(Since::Ago(d));
        }
    }
    if let Ok(d) = s.parse::<NaiveDate>() {
        return Ok(Since::At(
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc())
                .ok_or("invalid date")?,
        ));
    }
    crate::decode::time::parse_event_time(s)
        .map(Since::At)
        .ok_or_else(|| format!("expected a duration (30m, 24h, 7d) or a UTC date/time, got {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_dates_and_timestamps() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc();
        let cases = [
            ("30m", Some("2026-11-24T11:30:00+00:00")),
            ("24h", Some("2026-11-23T12:00:00+00:00")),
            ("7d", Some("2026-11-17T12:00:00+00:00")),
            ("2026-11-20", Some("2026-11-20T00:00:00+00:00")),
            ("2026-11-20T14:05:22Z", Some("2026-11-20T14:05:22+00:00")),
            ("7x", None),
            ("yesterday", None),
        ];
        for (input, want) in cases {
            let got = parse_since(input).ok().map(|s| s.resolve(now).to_rfc3339());
            assert_eq!(got.as_deref(), want, "{input}");
        }
    }
}

const INGEST_EXAMPLES: &str = "\
Examples:
  agenttrail ingest --source ./sample-logs --lake ./lake
  agenttrail ingest --source s3://my-trail-bucket/optional/prefix --lake ./lake
  agenttrail ingest --source ./sample-logs --lake ./lake --since 2026-11-01 --until 2026-11-03
  agenttrail ingest --source s3://org-trail --lake ./lake --account 111122223333 --region eu-west-1

S3 is reached through the standard AWS provider chain (AWS_PROFILE, SSO, environment, IMDS) and
endpoint settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3). Re-running is always safe: objects
already in the lake's manifest are skipped.

Exit status: 0 success, 2 error or partial failure (failed objects are listed on stderr).";

const QUERY_EXAMPLES: &str = "\
Examples:
  agenttrail query --lake ./lake \"SELECT event_name, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC\"
  agenttrail query --lake ./lake --format csv \"SELECT event_time, identity_arn, event_name FROM events WHERE error_code IS NOT NULL\"
  agenttrail query --lake ./lake \"SELECT json_get_str(request_parameters, 'bucketName') AS bucket, count(*) FROM events WHERE event_source = 's3.amazonaws.com' GROUP BY 1\"
  agenttrail query --lake ./lake \"SELECT reason, count(*) FROM rejects GROUP BY 1\"

Tables: events (one row per event, duplicates removed), events_all (every stored row), rejects.
Statements that write (DDL, DML, SET, COPY) are refused.";

/// `agenttrail ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// s3://bucket[/prefix], a local folder, or one .json.gz file.
    #[arg(long, env = env_vars::SOURCE, help_heading = "Source")]
    pub source: String,
    /// Lake folder (created if missing).
    #[arg(long, env = env_vars::LAKE, help_heading = "Lake")]
    pub lake: PathBuf,
    /// Only objects delivered on or after this date (from the key, YYYY-MM-DD).
    #[arg(long, value_parser = parse_date, help_heading = "Source")]
    pub since: Option<NaiveDate>,
    /// Only objects delivered on or before this date (from the key, YYYY-MM-DD).
    #[arg(long, value_parser = parse_date, help_heading = "Source")]
    pub until: Option<NaiveDate>,
    /// Only these accounts (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', help_heading = "Source")]
    pub account: Vec<String>,
    /// Only these regions (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', help_heading = "Source")]
    pub region: Vec<String>,
    /// Objects fetched at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=512), help_heading = "Performance")]
    pub fetch_concurrency: u16,
    /// Rows per commit.
    #[arg(long, default_value_t = 1_000_000, help_heading = "Performance")]
    pub commit_rows: usize,
    /// Keys per S3 ListObjectsV2 page (1-1000).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=1000), help_heading = "Performance")]
    pub list_page_size: Option<i32>,
    /// Cap on one object's decompressed size, in MiB (a larger object is rejected).
    #[arg(long, default_value_t = 1024, help_heading = "Limits")]
    pub max_decompressed_mib: u64,
}

/// `agenttrail query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Lake folder.
    #[arg(long, env = env_vars::LAKE)]
    pub lake: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Configuration file (default: ./agenttrail.toml when present).
    #[arg(long, env = env_vars::CONFIG)]
    pub config: Option<PathBuf>,
    /// The SQL statement.
    pub sql: String,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    s.parse::<NaiveDate>()
        .map_err(|e| format!("expected YYYY-MM-DD: {e}"))
}
