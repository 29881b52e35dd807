//! Command-line arguments (clap derive only; nothing past `commands` sees clap types).

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::env_vars;
use crate::logging::LogFormat;
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
    /// stderr as text for people, or json: one object per line (level, message, fields, run id)
    /// for CloudWatch Logs Insights, with the end-of-run summary as one record.
    #[arg(long, value_enum, env = env_vars::LOG_FORMAT, default_value_t = LogFormat::Text, global = true, help_heading = "Logging")]
    pub log_format: LogFormat,
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
    /// Interactive SQL shell over the lake (reads statements from stdin when not a terminal).
    #[command(after_help = SHELL_EXAMPLES)]
    Shell(ShellArgs),
    /// Write a self-contained HTML report of AI activity (timeline, servers, findings, sessions).
    #[command(
        after_help = "Examples:\n  agenttrail report --lake ./lake --since 7d --out report.html"
    )]
    Report(ReportArgs),
    /// The timeline of one session: how it was created, every call, chained sessions.
    #[command(after_help = SESSION_EXAMPLES)]
    Session(SessionArgs),
    /// List STS sessions: tags, AI decision, role chains and downstream calls.
    #[command(after_help = SESSIONS_EXAMPLES)]
    Sessions(SessionsArgs),
    /// Run the detections in queries/ over the lake; optionally publish CloudWatch metrics.
    #[command(after_help = DETECT_EXAMPLES)]
    Detect(DetectArgs),
    /// The scheduled job: ingest new objects, detect over what they cover, publish metrics.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// CloudWatch alarms defined in alarms/: plan, apply, export.
    #[command(subcommand)]
    Alarms(AlarmsCommand),
    /// The lake's Delta tables: info, optimize, vacuum, export-ddl for other engines.
    #[command(subcommand)]
    Lake(LakeCommand),
    /// Check CloudTrail digests: every log file present and unchanged, every digest signed and chained.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Sign a trail folder with hourly CloudTrail-style digests (test keys; for tests and demos).
    #[command(after_help = SYNTH_DIGESTS_EXAMPLES)]
    SynthDigests(SynthDigestsArgs),
    /// Deploy the scheduled job: print its CloudFormation template (Fargate task, schedule, alarms).
    #[command(subcommand)]
    Deploy(DeployCommand),
    /// Write a realistic synthetic CloudTrail day with ground-truth labels (tests, benchmarks).
    #[command(after_help = SYNTH_EXAMPLES)]
    Synth(SynthArgs),
}

const DETECT_EXAMPLES: &str = "\
Examples:
  agenttrail detect --lake ./lake
  agenttrail detect --lake ./lake --window 1h --format json
  agenttrail detect --lake ./lake --since 2026-11-20 --until 2026-11-21 --publish --dry-run
  agenttrail detect --lake ./lake --only ai_deletions --fail-on-findings
  agenttrail detect --explain ai_deletions

With a window, the whole days of a look-back before it (ai_first_seen_api's 14 days) and the
roles of every AI session are kept in the lake under _kept/ and read back by later runs while
nothing they depend on has changed (README, *The lake*); deleting _kept/ is always safe.

Exit status: 0, or 1 with --fail-on-findings when any detection fired; 2 on error.";

const RUN_EXAMPLES: &str = "\
Examples:
  agenttrail run                                  # sample-logs/ into ./lake, prints findings and the metrics it would publish
  agenttrail run --show-requests                  # ... and the whole PutMetricData requests
  agenttrail run --source s3://trail-bucket --lake s3://lake-bucket/agenttrail --publish --log-format json

Publishing is idempotent: findings are counted in fixed 5-minute buckets of event time and each
bucket is sent with its own timestamp, so re-running a window does not change an alarm on Maximum.";

/// Detection selection, window and publishing options shared by `detect` and `run`.
#[derive(Debug, Args)]
pub struct DetectOptions {
    /// Folder of detection files.
    #[arg(long, default_value = "queries", help_heading = "Detections")]
    pub queries: PathBuf,
    /// Only these detections (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', help_heading = "Detections")]
    pub only: Vec<String>,
    /// Output format for findings.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,
    /// Rows of each detection shown in table format (0: all); the count line says how many
    /// there are. CSV, JSON and NDJSON print every row.
    #[arg(long, default_value_t = crate::render::DEFAULT_MAX_ROWS, help_heading = "Output")]
    pub max_rows: usize,
    /// Exit 1 when any detection fired.
    #[arg(long, help_heading = "Output")]
    pub fail_on_findings: bool,
    /// CloudWatch namespace.
    #[arg(long, default_value = "AgentTrail", help_heading = "CloudWatch")]
    pub namespace: String,
    /// Print what would be published instead of sending it (a table of metrics, dimensions and
    /// datums; the whole requests with --show-requests or --format json/ndjson).
    #[arg(long, help_heading = "CloudWatch")]
    pub dry_run: bool,
    /// In a dry run, print the whole PutMetricData requests, not the summary table.
    #[arg(long, help_heading = "CloudWatch")]
    pub show_requests: bool,
    /// Configuration file (default: ./agenttrail.toml when present).
    #[arg(long, env = env_vars::CONFIG)]
    pub config: Option<PathBuf>,
}

/// `agenttrail detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Lake folder, or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE, required_unless_present = "explain")]
    pub lake: Option<String>,
    /// Explain a detection (what it detects, MITRE ATT&CK techniques, triage, false positives)
    /// instead of running anything.
    #[arg(long, value_name = "ID")]
    pub explain: Option<String>,
    /// Findings with event time at or after this (30m, 24h, 7d, a date or a timestamp).
    #[arg(long, value_parser = parse_since, conflicts_with = "window")]
    pub since: Option<Since>,
    /// Findings with event time before this.
    #[arg(long, value_parser = parse_since)]
    pub until: Option<Since>,
    /// Shorthand for --since <window> (e.g. 1h).
    #[arg(long, value_parser = parse_since)]
    pub window: Option<Since>,
    /// Publish findings as CloudWatch metrics (requires a window: --since/--window).
    #[arg(long)]
    pub publish: bool,
    /// Shared options.
    #[command(flatten)]
    pub opts: DetectOptions,
}

/// `agenttrail run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// s3://bucket[/prefix], a local folder, or one file.
    #[arg(long, env = env_vars::SOURCE, default_value = "sample-logs")]
    pub source: String,
    /// Lake folder, or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE, default_value = "lake")]
    pub lake: String,
    /// Send the metrics to CloudWatch (without it, `run` prints what it would send).
    #[arg(long)]
    pub publish: bool,
    /// List every key of the source (a catch-up), not only recent delivery dates.
    #[arg(long)]
    pub full_scan: bool,
    /// Scan everything when the lake's last full scan is this many days old; 0 every run.
    #[arg(long, default_value_t = 7)]
    pub full_scan_days: u32,
    /// Digest checking.
    #[command(flatten)]
    pub verify: VerifyOptions,
    /// Shared options.
    #[command(flatten)]
    pub opts: DetectOptions,
}

/// `agenttrail lake …`.
#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Versions, files, rows and bytes of every table, and of each date of `events`.
    #[command(
        after_help = "Examples:\n  agenttrail lake info --lake ./lake\n  agenttrail lake info --lake s3://lake-bucket/agenttrail --format json"
    )]
    Info(LakeInfoArgs),
    /// Compact the small files frequent runs create into large ones, then checkpoint the log.
    #[command(after_help = LAKE_OPTIMIZE_EXAMPLES)]
    Optimize(LakeOptimizeArgs),
    /// Delete files no table version needs (orphans of crashed writers included) and expired log
    /// entries, once older than the retention period. The only command that deletes.
    #[command(after_help = LAKE_VACUUM_EXAMPLES)]
    Vacuum(LakeVacuumArgs),
    /// Print the SQL that attaches the lake in Athena, Trino, DuckDB or Spark.
    #[command(after_help = LAKE_DDL_EXAMPLES)]
    ExportDdl(LakeDdlArgs),
}

const LAKE_OPTIMIZE_EXAMPLES: &str = "\
Examples:
  agenttrail lake optimize --lake ./lake
  agenttrail lake optimize --lake s3://lake-bucket/agenttrail --target-mib 256

Readers see the old files or the new ones, never both; the old ones stay until `lake vacuum`.";

const LAKE_VACUUM_EXAMPLES: &str = "\
Examples:
  agenttrail lake vacuum --lake ./lake --dry-run
  agenttrail lake vacuum --lake s3://lake-bucket/agenttrail --retention-hours 168

Needs s3:DeleteObject on the lake (the scheduled job's role does not have it).";

const LAKE_DDL_EXAMPLES: &str = "\
Examples:
  agenttrail lake export-ddl --lake s3://lake-bucket/agenttrail --engine athena > attach.sql
  agenttrail lake export-ddl --lake ./lake --engine duckdb | duckdb
  agenttrail lake export-ddl --lake s3://lake-bucket/agenttrail --engine trino --database security";

/// Options of `lake info`.
#[derive(Debug, Args)]
pub struct LakeInfoArgs {
    /// The lake: a folder or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE, default_value = "lake")]
    pub lake: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: LakeInfoFormat,
}

/// Formats of `lake info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LakeInfoFormat {
    /// Aligned text.
    Table,
    /// One JSON document.
    Json,
}

/// Options of `lake optimize`.
#[derive(Debug, Args)]
pub struct LakeOptimizeArgs {
    /// The lake: a folder or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE, default_value = "lake")]
    pub lake: String,
    /// Target size of the compacted files, MiB.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    pub target_mib: u64,
}

/// Options of `lake vacuum`.
#[derive(Debug, Args)]
pub struct LakeVacuumArgs {
    /// The lake: a folder or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE, default_value = "lake")]
    pub lake: String,
    /// Keep files removed (or written by unfinished commits) less than this many hours ago:
    /// readers of older versions and writers still running need them.
    #[arg(long, default_value_t = 168)]
    pub retention_hours: u64,
    /// List what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of `lake export-ddl`.
#[derive(Debug, Args)]
pub struct LakeDdlArgs {
    /// The lake: a folder or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE, default_value = "lake")]
    pub lake: String,
    /// The engine to attach the lake in.
    #[arg(long, value_enum)]
    pub engine: crate::sink::ddl::Engine,
    /// Database (Athena/Glue, Spark) or schema (Trino, DuckDB) to create the tables in.
    #[arg(long, default_value = "agenttrail")]
    pub database: String,
}

/// `agenttrail alarms …`.
#[derive(Debug, Subcommand)]
pub enum AlarmsCommand {
    /// Show what `apply` would create or update.
    Plan(AlarmsArgs),
    /// Create or update the alarms (unchanged ones are left alone).
    Apply(AlarmsArgs),
    /// Print a CloudFormation template for the same alarms.
    Export(AlarmsExportArgs),
}

/// Options of `alarms plan|apply`.
#[derive(Debug, Args)]
pub struct AlarmsArgs {
    /// Folder of alarm definitions.
    #[arg(long, default_value = "alarms")]
    pub alarms: PathBuf,
    /// CloudWatch namespace of the metrics.
    #[arg(long, default_value = "AgentTrail")]
    pub namespace: String,
    /// Values for ${Name} in alarm actions, e.g. --param AlarmTopicArn=arn:aws:sns:…
    #[arg(long = "param", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
}

/// Options of `alarms export`.
#[derive(Debug, Args)]
pub struct AlarmsExportArgs {
    /// Folder of alarm definitions.
    #[arg(long, default_value = "alarms")]
    pub alarms: PathBuf,
    /// CloudWatch namespace of the metrics.
    #[arg(long, default_value = "AgentTrail")]
    pub namespace: String,
    /// Template format.
    #[arg(long, value_parser = ["cloudformation"], default_value = "cloudformation")]
    pub format: String,
}

const VERIFY_EXAMPLES: &str = "\
Examples:
  agenttrail verify --source s3://trail-bucket --lake ./lake
  agenttrail verify --source s3://org-trail --account 111122223333 --region eu-west-1 --since 2026-11-01
  agenttrail verify --source ./sample-logs --public-keys keys.json --all --format csv
  aws cloudtrail list-public-keys --start-time 2026-01-01 > keys.json   # for air-gapped checks

Statuses: valid, missing, modified, not-in-digest, digest-missing, chain-gap, digest-invalid,
signature-invalid, key-unknown. With --lake, results go to the lake's `integrity` table and
digests settled by an earlier check are not checked again.
Exit status: 0, or 1 with --fail-on-problems when anything is not valid; 2 on error.";

/// `agenttrail verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// s3://bucket[/prefix] or a local folder holding the trail (log files and digests).
    #[arg(long, env = env_vars::SOURCE)]
    pub source: String,
    /// Keep the results in this lake (folder or s3://bucket/prefix) and skip settled digests.
    #[arg(long, env = env_vars::LAKE)]
    pub lake: Option<String>,
    /// Only digests and files delivered on or after this date (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub since: Option<NaiveDate>,
    /// Only digests and files delivered on or before this date (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub until: Option<NaiveDate>,
    /// Only these accounts (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub account: Vec<String>,
    /// Only these regions (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub region: Vec<String>,
    /// Public keys (see `ingest --help`).
    #[arg(long, env = env_vars::PUBLIC_KEYS)]
    pub public_keys: Option<PathBuf>,
    /// Print every check, not only the problems.
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit 1 when anything is not valid.
    #[arg(long)]
    pub fail_on_problems: bool,
}

/// `agenttrail deploy …`.
#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Print the CloudFormation template (JSON) of the scheduled job, with the alarms of --alarms.
    #[command(after_help = DEPLOY_EXAMPLES)]
    Template(DeployTemplateArgs),
}

const DEPLOY_EXAMPLES: &str = "\
Examples:
  agenttrail deploy template > agenttrail.template.json
  aws cloudformation deploy --stack-name agenttrail --capabilities CAPABILITY_IAM \\
    --template-file agenttrail.template.json --parameter-overrides \\
    ImageUri=111122223333.dkr.ecr.us-east-1.amazonaws.com/agenttrail:0.1.0 \\
    TrailBucket=my-trail-bucket LakeBucket=my-lake-bucket \\
    VpcId=vpc-0abc SubnetIds=subnet-0abc,subnet-0def

deploy/agenttrail.template.json in the repository is this command's output for alarms/.";

/// Options of `deploy template`.
#[derive(Debug, Args)]
pub struct DeployTemplateArgs {
    /// Folder of alarm definitions to include.
    #[arg(long, default_value = "alarms")]
    pub alarms: PathBuf,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected Name=value, got {s:?}"))
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
    /// Also write signed hourly digests (CloudTrail-Digest/), with a fresh test key whose public
    /// half goes to OUT/public-keys.json (see `synth-digests`).
    #[arg(long)]
    pub digests: bool,
    /// Records per file at most.
    #[arg(long, default_value_t = 2_000)]
    pub records_per_file: usize,
}

const SYNTH_DIGESTS_EXAMPLES: &str = "\
Examples:
  agenttrail synth-digests --trail ./sample-logs --signing-key tests/fixtures/digest-test-key.pk8
  agenttrail synth-digests --trail /tmp/ct --write-signing-key /tmp/key.pk8

Writes one digest per hour, account and Region (empty hours included), chained and signed with
RSA SHA-256 as CloudTrail signs them; each signature in <digest>.metadata.json (the S3 object
metadata a real digest carries), and the public key as TRAIL/public-keys.json in the shape of
`aws cloudtrail list-public-keys`. Existing digests are replaced. The key is a test key: digests
signed with it prove nothing about real CloudTrail logs.";

/// `agenttrail synth-digests`.
#[derive(Debug, Args)]
pub struct SynthDigestsArgs {
    /// The trail folder (holding AWSLogs/…).
    #[arg(long)]
    pub trail: PathBuf,
    /// Sign with this PKCS#8 DER RSA key (default: a fresh key).
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
    /// Keep the (fresh) signing key in this file.
    #[arg(long)]
    pub write_signing_key: Option<PathBuf>,
    /// Bucket name the digests record.
    #[arg(long, default_value = "example-trail-bucket")]
    pub bucket: String,
    /// Trail name.
    #[arg(long, default_value = "example-trail")]
    pub trail_name: String,
    /// The trail's home Region.
    #[arg(long, default_value = "us-east-1")]
    pub home_region: String,
}

const SHELL_EXAMPLES: &str = "\
Examples:
  agenttrail shell --lake ./lake
  echo 'SELECT count(*) FROM ai_events;' | agenttrail shell --lake ./lake --format csv

In the shell: \\d lists tables, \\d events shows columns, \\timing toggles timing, \\q quits.
Statements end with ';'. Read-only unless --allow-writes.";

/// `agenttrail shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Lake folder, or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE)]
    pub lake: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Rows shown in table format (0: all); the count line says how many there are.
    #[arg(long, default_value_t = crate::render::DEFAULT_MAX_ROWS)]
    pub max_rows: usize,
    /// Only events at or after this (30m, 24h, 7d, a date or a timestamp); prunes partitions.
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Since>,
    /// Only events before this.
    #[arg(long, value_parser = parse_since)]
    pub until: Option<Since>,
    /// Allow statements that write (CREATE, INSERT, COPY, SET).
    #[arg(long)]
    pub allow_writes: bool,
    /// Configuration file (default: ./agenttrail.toml when present).
    #[arg(long, env = env_vars::CONFIG)]
    pub config: Option<PathBuf>,
}

/// `agenttrail report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Lake folder, or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE)]
    pub lake: String,
    /// Only events at or after this (30m, 24h, 7d, a date or a timestamp).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Since>,
    /// Only events before this.
    #[arg(long, value_parser = parse_since)]
    pub until: Option<Since>,
    /// The HTML file to write.
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
    /// Folder of detection files.
    #[arg(long, default_value = "queries")]
    pub queries: PathBuf,
    /// Configuration file (default: ./agenttrail.toml when present).
    #[arg(long, env = env_vars::CONFIG)]
    pub config: Option<PathBuf>,
}

const SESSION_EXAMPLES: &str = "\
Examples:
  agenttrail session --lake ./lake ASIAEXAMPLEAGENT0042
  agenttrail session --lake ./lake arn:aws:sts::111122223333:assumed-role/agent-prod-operator/agent-session-42
  agenttrail session --lake ./lake agent-session-42      # every session with that name (people reuse names)";

/// `agenttrail session`.
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// Lake folder, or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE)]
    pub lake: String,
    /// Configuration file (default: ./agenttrail.toml when present).
    #[arg(long, env = env_vars::CONFIG)]
    pub config: Option<PathBuf>,
    /// Access key id, assumed-role ARN, or session name.
    pub id: String,
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
    /// Lake folder, or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE)]
    pub lake: String,
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
  agenttrail ingest --source s3://trail-bucket --lake s3://lake-bucket/agenttrail

S3 is reached through the standard AWS provider chain (AWS_PROFILE, SSO, environment, IMDS) and
endpoint settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3). Re-running is always safe: objects
already in the lake's ledger are skipped. Several ingest processes may write one lake at once
(e.g. one per account or Region prefix); an event delivered twice is stored once.

Exit status: 0 success, 2 error or partial failure (failed objects are listed on stderr).";

const QUERY_EXAMPLES: &str = "\
Examples:
  agenttrail query --lake ./lake \"SELECT event_name, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC\"
  agenttrail query --lake ./lake --format csv \"SELECT event_time, identity_arn, event_name FROM events WHERE error_code IS NOT NULL\"
  agenttrail query --lake ./lake \"SELECT json_get_str(request_parameters, 'bucketName') AS bucket, count(*) FROM events WHERE event_source = 's3.amazonaws.com' GROUP BY 1\"
  agenttrail query --lake ./lake \"SELECT reason, count(*) FROM rejects GROUP BY 1\"

  agenttrail query --lake ./lake --since 24h \"SELECT mcp_tool, mcp_client, downstream FROM mcp_calls\"
  agenttrail query --lake ./lake -f incident.sql --output findings.parquet

Tables: events (one row per event, classified, duplicates removed), ai_events, sessions,
mcp_calls, mcp_links, events_all (every stored row), rejects. JSON helpers for the raw columns:
json_get_str(col, 'key', ...), json_get_int, json_get_json, json_length, ->, ->>.
Statements that write (DDL, DML, SET, COPY) are refused.";

/// `agenttrail ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// s3://bucket[/prefix], a local folder, or one .json.gz file.
    #[arg(long, env = env_vars::SOURCE, help_heading = "Source")]
    pub source: String,
    /// Lake folder (created if missing), or s3://bucket/prefix (read and written in place).
    #[arg(long, env = env_vars::LAKE, help_heading = "Lake")]
    pub lake: String,
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
    /// Objects fetched at once [default: 16 from S3, where each GET waits on the network; the
    /// number of cores from local files, where decoding is the bound and more in flight only
    /// holds more memory].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=512), help_heading = "Performance")]
    pub fetch_concurrency: Option<u16>,
    /// Rows per commit (bounds memory: a commit's encoded pages and its rows' keys are held until
    /// it is written).
    #[arg(long, default_value_t = crate::ingest::DEFAULT_COMMIT_ROWS, help_heading = "Performance")]
    pub commit_rows: usize,
    /// List every key of the source, not only the delivery dates where new objects can be
    /// (the latest ingested date minus --lookback-days, to tomorrow).
    #[arg(long, help_heading = "Source")]
    pub full_scan: bool,
    /// Also scan everything when the lake's last full scan is this many days old (a catch-up for
    /// whatever the dated listings cannot see); 0 scans every run.
    #[arg(long, default_value_t = 7, help_heading = "Source")]
    pub full_scan_days: u32,
    /// Days listed before the latest delivery date already ingested.
    #[arg(long, default_value_t = crate::source::plan::DEFAULT_LOOKBACK_DAYS, help_heading = "Source")]
    pub lookback_days: u32,
    /// Keys per S3 ListObjectsV2 page (1-1000).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=1000), help_heading = "Performance")]
    pub list_page_size: Option<i32>,
    /// Cap on one object's decompressed size, in MiB (a larger object is rejected).
    #[arg(long, default_value_t = crate::decode::DEFAULT_MAX_DECOMPRESSED_MIB, help_heading = "Limits")]
    pub max_decompressed_mib: u64,
    /// Cap on one record's size, in MiB (a larger record is rejected; the rest of its object is
    /// kept).
    #[arg(long, default_value_t = crate::decode::DEFAULT_MAX_RECORD_MIB, help_heading = "Limits")]
    pub max_record_mib: usize,
    /// Digest checking.
    #[command(flatten)]
    pub verify: VerifyOptions,
}

/// Log-file integrity options shared by `ingest`, `run` and `verify`.
#[derive(Debug, Args, Clone, Default)]
pub struct VerifyOptions {
    /// Do not check CloudTrail digests (checked by default when the source has any).
    #[arg(long, help_heading = "Integrity")]
    pub no_verify: bool,
    /// CloudTrail public keys as `aws cloudtrail list-public-keys` prints them [default: the
    /// lake's cache, then `public-keys.json` at the root of a local source, then ListPublicKeys].
    #[arg(long, env = env_vars::PUBLIC_KEYS, help_heading = "Integrity")]
    pub public_keys: Option<PathBuf>,
}

/// `agenttrail query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Lake folder, or s3://bucket/prefix.
    #[arg(long, env = env_vars::LAKE)]
    pub lake: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Rows shown in table format (0: all); the count line says how many there are. CSV, JSON,
    /// NDJSON and --output print every row.
    #[arg(long, default_value_t = crate::render::DEFAULT_MAX_ROWS)]
    pub max_rows: usize,
    /// Configuration file (default: ./agenttrail.toml when present).
    #[arg(long, env = env_vars::CONFIG)]
    pub config: Option<PathBuf>,
    /// Read the SQL from this file instead.
    #[arg(short = 'f', long = "file", conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    /// Write the result to this Parquet file instead of printing it.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Only events at or after this (30m, 24h, 7d, a date or a timestamp); prunes partitions.
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Since>,
    /// Only events before this.
    #[arg(long, value_parser = parse_since)]
    pub until: Option<Since>,
    /// Allow statements that write (CREATE, INSERT, COPY, SET).
    #[arg(long)]
    pub allow_writes: bool,
    /// The SQL statement.
    #[arg(required_unless_present = "file")]
    pub sql: Option<String>,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    s.parse::<NaiveDate>()
        .map_err(|e| format!("expected YYYY-MM-DD: {e}"))
}
