//! `agenttrail ingest`.

use std::io::IsTerminal;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{GlobalArgs, IngestArgs};
use crate::decode::DecodeLimits;
use crate::exit::ExitStatus;
use crate::ingest::{IngestOptions, IngestReporter, ingest};
use crate::render::escape_control;
use crate::sink::Lake;
use crate::source::{KeyFilter, Source};

/// Run `ingest` and print its summary to stderr.
pub async fn run(args: IngestArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let (status, summary, integrity) = run_with_summary(args, global).await?;
    let mut record = super::detect::ingest_summary_json(&summary);
    if let Some(report) = &integrity {
        record["integrity"] = super::verify::report_json(report);
    }
    record["exit_status"] = (status as u8).into();
    crate::logging::summary("ingest", &record);
    Ok(status)
}

/// Run `ingest`, print its summary, and return it. No lease or lock: several ingest processes
/// may write one lake at once (Delta commits are put-if-absent, see `sink`).
pub async fn run_with_summary(
    args: IngestArgs,
    global: &GlobalArgs,
) -> anyhow::Result<(
    ExitStatus,
    crate::ingest::IngestSummary,
    Option<crate::integrity::Report>,
)> {
    let source = Source::open(&args.source, crate::aws::s3_client).await?;
    let lake = Lake::resolve(&args.lake)
        .await
        .with_context(|| format!("cannot open the lake {}", args.lake))?;
    ingest_into(&source, &lake, args, global).await
}

async fn ingest_into(
    source: &Source,
    lake: &Lake,
    args: IngestArgs,
    global: &GlobalArgs,
) -> anyhow::Result<(
    ExitStatus,
    crate::ingest::IngestSummary,
    Option<crate::integrity::Report>,
)> {
    let verify = args.verify.clone();
    let opts = IngestOptions {
        filter: KeyFilter {
            accounts: args.account,
            regions: args.region,
            since: args.since,
            until: args.until,
        },
        fetch_concurrency: match (args.fetch_concurrency, source) {
            (Some(n), _) => usize::from(n),
            (None, Source::S3 { .. }) => 16,
            (None, Source::Local { .. }) => {
                std::thread::available_parallelism().map_or(2, |n| n.get())
            }
        },
        commit_rows: args.commit_rows.max(1),
        limits: DecodeLimits {
            max_decompressed_bytes: args.max_decompressed_mib << 20,
            max_record_bytes: args.max_record_mib << 20,
            ..Default::default()
        },
        list_page_size: args.list_page_size,
        full_scan: args.full_scan,
        lookback_days: args.lookback_days,
        hash_for_digests: !args.verify.no_verify,
        ..Default::default()
    };
    let show = !global.no_progress
        && global.quiet == 0
        && global.verbose == 0
        && std::io::stderr().is_terminal();
    let bar = Bar::new(show);
    // A full scan now and then catches what dated listings cannot see (a key outside CloudTrail's
    // date folders, a date the look-back missed); when it last ran is kept in the lake.
    let mut opts = opts;
    let last_full = lake.read_state(FULL_SCAN_STATE).await?.and_then(|t| {
        chrono::DateTime::parse_from_rfc3339(String::from_utf8_lossy(&t).trim())
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    });
    let started = chrono::Utc::now();
    let due = last_full
        .is_none_or(|t| started - t >= chrono::Duration::days(i64::from(args.full_scan_days)));
    if due && !opts.full_scan {
        tracing::info!(last = ?last_full.map(|t| t.to_rfc3339()), "Listing everything: the periodic full scan is due.");
        opts.full_scan = true;
    }
    let summary = ingest(source, lake, &opts, &bar).await?;
    if opts.full_scan && summary.objects_failed.is_empty() {
        lake.write_state(FULL_SCAN_STATE, started.to_rfc3339().into_bytes())
            .await?;
    }
    if global.quiet < 2 {
        crate::logging::status(&format!("agenttrail ingest: {}", summary.line()));
        for (uri, err) in &summary.objects_failed {
            crate::logging::status(&format!(
                "  failed: {}: {}",
                escape_control(uri),
                escape_control(err)
            ));
        }
    }
    let status = if summary.objects_failed.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    };
    // Digests are checked when the trail has any (they are listed and counted as skipped).
    let has_digests = !summary.listing.digests.is_empty();
    let integrity = if verify.no_verify || !has_digests {
        None
    } else {
        let keys =
            crate::integrity::check::public_keys(verify.public_keys.as_deref(), source, Some(lake))
                .await?;
        let report = crate::integrity::check::check_listing(
            source,
            Some(lake),
            &summary.listing,
            &keys,
            chrono::Utc::now(),
        )
        .await?;
        if global.quiet < 2 {
            crate::logging::status(&format!("agenttrail verify: {}", report.line()));
        }
        Some(report)
    };
    Ok((status, summary, integrity))
}

/// When the lake's source was last listed whole (RFC 3339).
const FULL_SCAN_STATE: &str = "_full_scan";

struct Bar(ProgressBar);

impl Bar {
    fn new(show: bool) -> Bar {
        let target = if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {pos}/{len} objects {bytes} [{elapsed}] {wide_bar}",
        ) {
            bar.set_style(style);
        }
        Bar(bar)
    }
}

impl IngestReporter for Bar {
    fn on_start(&self, objects: u64) {
        self.0.set_length(objects);
    }
    fn on_object_done(&self, _bytes: u64) {
        self.0.inc(1);
    }
    fn on_finish(&self) {
        self.0.finish_and_clear();
    }
}
