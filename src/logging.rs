//! Logs go to stderr through `tracing`; results go to stdout.
//!
//! `AGENTTRAIL_LOG` (EnvFilter syntax) wins; otherwise `-v`/`-q` pick the level. By default
//! agenttrail logs warnings and its own lifecycle lines (`info`), and dependencies only warnings.
//!
//! Two formats. `text` (the default) is for people at a terminal. `json` (`--log-format json` or
//! `AGENTTRAIL_LOG_FORMAT=json`) is for CloudWatch Logs Insights and other log stores: every
//! stderr line is one JSON object `{timestamp, level, target, message, run_id, fields}`, the
//! human status lines (`agenttrail ingest: …`) included, so a query never has to parse prose.
//! The run id is made once per process, so every line of one scheduled run can be selected
//! together (`filter run_id = "…"`). The end-of-run summary is one record whose `fields.summary`
//! is a JSON object (see [`summary`]). We format JSON ourselves rather than use
//! tracing-subscriber's `json` feature: it nests the message under `fields` and cannot embed a
//! structured summary, and the formatter is a few dozen lines.

use std::fmt;
use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::env_vars;

/// The shape of stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for CloudWatch Logs Insights.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();
static RUN_ID: OnceLock<String> = OnceLock::new();

/// The format chosen at start-up.
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// This process's run id: UTC start time and a random suffix, e.g. `20261201T153000Z-3f9a1c2b`.
pub fn run_id() -> &'static str {
    RUN_ID.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        format!(
            "{}-{:08x}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            h.finish() as u32
        )
    })
}

const QUIET_DELTA_ERROR: &str = "error,buoyant_kernel=off,deltalake_core::kernel::transaction=off";
const QUIET_DELTA_WARN: &str =
    "warn,agenttrail=info,buoyant_kernel=off,deltalake_core::kernel::transaction=off";
const QUIET_DELTA_INFO: &str = "info,buoyant_kernel=off,deltalake_core::kernel::transaction=off";

/// Install the global subscriber.
pub fn init(verbose: u8, quiet: u8, format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_env(env_vars::LOG).unwrap_or_else(|_| {
        let level = match (verbose, quiet) {
            (_, q) if q >= 2 => "off",
            // delta-kernel logs an error for every table opened before its first commit, and
            // delta-rs one for every commit conflict: both expected here (a new lake, several
            // writers), and retried; real failures reach the user as agenttrail's own errors.
            (_, 1) => QUIET_DELTA_ERROR,
            (0, _) => QUIET_DELTA_WARN,
            (1, _) => QUIET_DELTA_INFO,
            (2, _) => "info,agenttrail=debug",
            _ => "debug,agenttrail=trace",
        };
        EnvFilter::new(level)
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLine).try_init(),
    };
}

/// A status line for people (`agenttrail ingest: …`): printed as is in text mode, and as an
/// `info` record of target `agenttrail::status` in JSON mode (so stderr stays all JSON).
/// Quiet levels apply as before: the caller decides whether to call it.
pub fn status(line: &str) {
    match format() {
        LogFormat::Text => eprintln!("{line}"),
        LogFormat::Json => tracing::info!(target: "agenttrail::status", "{line}"),
    }
}

/// The fatal error of a command: `agenttrail: error: …` in text mode, an `error` record in JSON.
pub fn fatal(message: &str) {
    match format() {
        LogFormat::Text => eprintln!("agenttrail: error: {message}"),
        LogFormat::Json => tracing::error!(target: "agenttrail::status", "{message}"),
    }
}

/// The end-of-run summary as one structured record (JSON mode only; in text mode the status
/// lines already say it and the text output stays as it was).
pub fn summary(command: &str, summary: &serde_json::Value) {
    if format() == LogFormat::Json {
        tracing::info!(
            target: "agenttrail::summary",
            command,
            summary = %summary,
            "{command} summary"
        );
    }
}

/// One JSON object per event.
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = FieldMap::default();
        event.record(&mut fields);
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "level": meta.level().as_str(),
            "target": meta.target(),
            "message": fields.message.unwrap_or_default(),
            "run_id": run_id(),
            "fields": serde_json::Value::Object(fields.map),
        });
        writeln!(writer, "{line}")
    }
}

#[derive(Default)]
struct FieldMap {
    message: Option<String>,
    map: serde_json::Map<String, serde_json::Value>,
}

impl FieldMap {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        self.map.insert(field.name().to_string(), value);
    }
}

impl Visit for FieldMap {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else if field.name() == "summary" {
            // The summary is recorded with `%` (its JSON text): embed it as an object.
            let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
            self.put(field, v);
        } else {
            self.put(field, serde_json::Value::String(text));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.put(field, value.into());
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, crate::source::error_chain(value).into());
    }
}
