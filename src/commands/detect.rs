//! `agenttrail detect` and `agenttrail run`.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::cli::{DetectArgs, DetectOptions, GlobalArgs, IngestArgs, RunArgs};
use crate::detect::{DetectionRun, catalog, run_all};
use crate::exit::ExitStatus;
use crate::publish::datums::{bucket_start, buckets, finding_datums, job_datums};
use crate::publish::{requests, send};
use crate::query::build_context;
use crate::render::write_batches;
use crate::settings::Settings;

async fn detect(
    lake: &str,
    opts: &DetectOptions,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> anyhow::Result<Vec<DetectionRun>> {
    let lake = super::query::open_lake(lake).await?;
    let settings = Settings::load(opts.config.as_deref())?;
    let mut cat = catalog::load(&opts.queries)
        .with_context(|| format!("cannot load detections from {}", opts.queries.display()))?;
    if !opts.only.is_empty() {
        for id in &opts.only {
            if !cat.iter().any(|d| &d.id == id) {
                anyhow::bail!("no detection {id:?} in {}", opts.queries.display());
            }
        }
        cat.retain(|d| opts.only.contains(&d.id));
    }
    let ctx = build_context(&lake, &settings).await?;
    Ok(run_all(&ctx, &cat, since, until).await?)
}

fn print_findings(runs: &[DetectionRun], opts: &DetectOptions) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let fired: Vec<&DetectionRun> = runs.iter().filter(|r| r.rows() > 0).collect();
    match opts.format {
        crate::render::Format::Table => {
            for r in &fired {
                writeln!(
                    out,
                    "== {} ({}): {}",
                    r.detection.id, r.detection.severity, r.detection.summary
                )?;
                write_batches(&mut out, &r.schema, &r.batches, opts.format)?;
                writeln!(out)?;
            }
        }
        f => {
            let schema = runs.first().map(|r| r.schema.clone());
            if let Some(schema) = schema {
                let batches: Vec<_> = fired
                    .iter()
                    .flat_map(|r| r.batches.iter().cloned())
                    .collect();
                write_batches(&mut out, &schema, &batches, f)?;
            }
        }
    }
    out.flush()?;
    let summary: Vec<String> = runs
        .iter()
        .map(|r| format!("{} {}", r.detection.id, r.rows()))
        .collect();
    eprintln!(
        "agenttrail detect: {} detections, {} fired; {}",
        runs.len(),
        fired.len(),
        summary.join(", ")
    );
    Ok(())
}

async fn publish(
    runs: &[DetectionRun],
    window: &[DateTime<Utc>],
    counters: &[(&str, u64)],
    opts: &DetectOptions,
    dry_run: bool,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut datums = finding_datums(runs, window);
    datums.extend(job_datums(now, counters));
    let (reqs, dropped) = requests(&opts.namespace, datums, now);
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "Skipping datums older than CloudWatch accepts (14 days)."
        );
    }
    let total: usize = reqs.iter().map(|r| r.metric_data.len()).sum();
    if dry_run {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        writeln!(out, "== PutMetricData requests (dry run, not sent)")?;
        for r in &reqs {
            serde_json::to_writer_pretty(&mut out, r)?;
            writeln!(out)?;
        }
        eprintln!(
            "agenttrail publish: dry run, {} requests, {total} datums not sent (--publish sends them)",
            reqs.len()
        );
    } else {
        let client = crate::publish::client().await;
        let sent = send(&client, &reqs).await?;
        eprintln!(
            "agenttrail publish: {sent} datums sent in {} requests to namespace {}",
            reqs.len(),
            opts.namespace
        );
    }
    Ok(())
}

fn status(runs: &[DetectionRun], opts: &DetectOptions, ok: bool) -> ExitStatus {
    if !ok {
        ExitStatus::Error
    } else if opts.fail_on_findings && runs.iter().any(|r| r.rows() > 0) {
        ExitStatus::Findings
    } else {
        ExitStatus::Success
    }
}

/// `agenttrail detect`.
pub async fn run(args: DetectArgs) -> anyhow::Result<ExitStatus> {
    let now = Utc::now();
    let since = args.since.or(args.window).map(|s| s.resolve(now));
    let until = args.until.map(|s| s.resolve(now));
    let runs = detect(&args.lake, &args.opts, since, until).await?;
    print_findings(&runs, &args.opts)?;
    if args.publish || args.opts.dry_run {
        let start = since.context("--publish needs a window: give --since or --window")?;
        let end = until.unwrap_or(now);
        publish(
            &runs,
            &buckets(start, end),
            &[],
            &args.opts,
            !args.publish || args.opts.dry_run,
        )
        .await?;
    }
    Ok(status(&runs, &args.opts, true))
}

/// `agenttrail run`: ingest, then detect over the event-time span of what was ingested, then
/// publish (or print what would be published).
pub async fn run_job(args: RunArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let ingest_args = IngestArgs {
        source: args.source.clone(),
        lake: args.lake.clone(),
        since: None,
        until: None,
        account: vec![],
        region: vec![],
        fetch_concurrency: None,
        commit_rows: crate::ingest::DEFAULT_COMMIT_ROWS,
        list_page_size: None,
        max_decompressed_mib: crate::decode::DEFAULT_MAX_DECOMPRESSED_MIB,
        max_record_mib: crate::decode::DEFAULT_MAX_RECORD_MIB,
    };
    let (ingest_status, summary) = super::ingest::run_with_summary(ingest_args, global).await?;
    // The window: every bucket touched by the events this run added (late events re-publish
    // their bucket with the full count), or the current bucket when nothing new arrived, widened
    // by any window an earlier run failed to publish.
    let now = Utc::now();
    let (mut start, mut end) = match summary.event_time_range {
        Some((lo, hi)) => (
            bucket_start(lo),
            bucket_start(hi) + chrono::Duration::seconds(300),
        ),
        None => (
            bucket_start(now),
            bucket_start(now) + chrono::Duration::seconds(300),
        ),
    };
    let lake = super::query::open_lake(&args.lake).await?;
    let pending_path = lake.root().join("_publish_pending.json");
    let publishing = args.publish && !args.opts.dry_run;
    // Buckets owed: this run's window, plus those of windows earlier runs failed to publish.
    let mut owed: Vec<DateTime<Utc>> = buckets(start, end);
    if publishing {
        for (s, e) in read_pending(&pending_path) {
            tracing::info!(start = %s, end = %e, "Re-publishing a window an earlier run did not publish.");
            owed.extend(buckets(s, e));
            start = start.min(s);
            end = end.max(e);
        }
        owed.sort();
        owed.dedup();
        write_pending(&pending_path, &owed)?;
    }
    let runs = detect(&args.lake, &args.opts, Some(start), Some(end)).await?;
    print_findings(&runs, &args.opts)?;
    let counters = [
        ("RecordsIngested", summary.records_ingested),
        ("RecordsRejected", summary.records_rejected),
        ("ObjectsFailed", summary.objects_failed.len() as u64),
    ];
    publish(&runs, &owed, &counters, &args.opts, !publishing).await?;
    if publishing {
        // Published: nothing is owed any more. (A crash before this line re-publishes the same
        // values next time, which the Maximum-based alarms absorb.)
        let _ = std::fs::remove_file(&pending_path);
    }
    Ok(status(
        &runs,
        &args.opts,
        ingest_status == ExitStatus::Success,
    ))
}

/// Windows earlier runs failed to publish, as (start, end) pairs of contiguous buckets.
fn read_pending(path: &std::path::Path) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<Vec<(String, String)>>(&text) else {
        tracing::warn!(path = %path.display(), "Ignoring an unreadable pending-publish file.");
        return Vec::new();
    };
    v.iter()
        .filter_map(|(s, e)| {
            Some((
                s.parse::<DateTime<Utc>>().ok()?,
                e.parse::<DateTime<Utc>>().ok()?,
            ))
        })
        .collect()
}

/// Record `owed` buckets as contiguous windows (written atomically).
fn write_pending(path: &std::path::Path, owed: &[DateTime<Utc>]) -> anyhow::Result<()> {
    let step = chrono::Duration::seconds(crate::publish::datums::BUCKET_SECONDS);
    let mut windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for b in owed {
        match windows.last_mut() {
            Some((_, e)) if *e == *b => *e = *b + step,
            _ => windows.push((*b, *b + step)),
        }
    }
    let body: Vec<(String, String)> = windows
        .iter()
        .map(|(s, e)| (s.to_rfc3339(), e.to_rfc3339()))
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string(&body)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
